// The event contract: the committed JSON Schema (schemas/event.schema.json), checked with ajv before sending.
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import Ajv2020, { ErrorObject, ValidateFunction } from "ajv/dist/2020";
import addFormats from "ajv-formats";

/** The schema in the repository (the example's dist/src is four levels below its root); LINEAGE_EVENT_SCHEMA wins. */
export const SCHEMA_PATH = process.env.LINEAGE_EVENT_SCHEMA || resolve(__dirname, "../../../../schemas/event.schema.json");

export interface Subject {
  id: string;
  type: string;
}

/** The fields every event kind has; the schema holds the rest. */
export interface LineageEvent {
  schema_version: 1;
  event_id: string;
  kind: string;
  occurred_at: string;
  emitted_by: string;
  subject: Subject;
  [field: string]: unknown;
}

/** What is wrong with one event: the field (a JSON pointer) and why; never the value, which may be personal data. */
export interface Problem {
  field: string;
  message: string;
}

export class Contract {
  private readonly byKind = new Map<string, ValidateFunction>();

  constructor(schemaPath: string = SCHEMA_PATH) {
    const schema = JSON.parse(readFileSync(schemaPath, "utf8"));
    // the schema picks an event's branch by its `kind` (an OpenAPI-style discriminator, which ajv does not read):
    // the branch is picked here by the same mapping, so that the problems are those of the event's own kind
    const ajv = new Ajv2020({ allErrors: true, strict: true });
    ajv.addKeyword({ keyword: "discriminator" });
    addFormats(ajv);
    ajv.addSchema(schema, "event");
    const mapping: Record<string, string> = schema.discriminator.mapping;
    for (const [kind, ref] of Object.entries(mapping)) {
      const validate = ajv.getSchema("event" + ref);
      if (!validate) throw new Error(`the schema ${schemaPath} has no ${ref} for kind ${kind}`);
      this.byKind.set(kind, validate);
    }
  }

  get kinds(): string[] {
    return [...this.byKind.keys()];
  }

  /** The problems of a decoded event (none: it is valid as far as the schema can tell). */
  problems(event: unknown): Problem[] {
    if (typeof event !== "object" || event === null || Array.isArray(event)) {
      return [{ field: "", message: "an event must be a JSON object" }];
    }
    const kind = (event as { kind?: unknown }).kind;
    const validate = typeof kind === "string" ? this.byKind.get(kind) : undefined;
    if (!validate) {
      return [{ field: "/kind", message: `must be one of ${this.kinds.join(", ")}` }];
    }
    return validate(event) ? [] : (validate.errors ?? []).map(describe);
  }
}

function describe(error: ErrorObject): Problem {
  const extra = error.params as { additionalProperty?: string; missingProperty?: string };
  const name = extra.additionalProperty ?? extra.missingProperty;
  return { field: error.instancePath + (name ? "/" + name : ""), message: error.message ?? error.keyword };
}
