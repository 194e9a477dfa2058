// The committed schema through ajv: valid events of every kind pass, bad ones are named by field.
import { strict as assert } from "node:assert";
import { test } from "node:test";
import { Contract } from "../src/contract";

const contract = new Contract();
const base = {
  schema_version: 1,
  event_id: "7c1e0f3a-2b4d-4c5e-9f60-1a2b3c4d5e6f",
  occurred_at: "2026-11-27T10:00:00Z",
  emitted_by: "ts-example",
  subject: { id: "alice@example.com", type: "customer" },
};
const data = { data_categories: ["user.contact.email"], role: "controller" };
const VALID = [
  { ...base, ...data, kind: "collected", source: { type: "data_subject", name: "signup-form" } },
  { ...base, ...data, kind: "used", purpose: "essential.service.operations.support" },
  {
    ...base,
    ...data,
    kind: "shared",
    purpose: "essential.service.operations.support",
    recipient: { id: "hk-affiliate", name: "SOS Hong Kong Ltd", type: "affiliate", country: "HK" },
  },
  { ...base, kind: "consent_withdrawn", purposes: ["analytics"] },
  { ...base, kind: "opted_out", scope: "marketing" },
  { ...base, kind: "opted_out", scope: "sale_and_sharing", signal: "gpc" },
  { ...base, kind: "erased", reason: "Art. 17 request" },
];

test("the contract knows every kind", () => {
  assert.deepEqual(contract.kinds.sort(), ["collected", "consent_withdrawn", "erased", "opted_out", "shared", "used"]);
});

test("a valid event of every kind has no problem", () => {
  for (const event of VALID) assert.deepEqual(contract.problems(event), [], event.kind);
});

test("bad events are named by field, never by value", () => {
  const used: Record<string, unknown> = VALID[1];
  assert.deepEqual(contract.problems({ ...used, colour: "blue" }), [
    { field: "/colour", message: "must NOT have additional properties" },
  ]);
  assert.deepEqual(
    contract.problems({ ...used, occurred_at: "2026-11-27T10:00:00" }).map((p) => p.field),
    ["/occurred_at"],
  );
  const { purpose, ...noPurpose } = used;
  assert.equal(typeof purpose, "string");
  assert.deepEqual(contract.problems(noPurpose).map((p) => p.field), ["/purpose"]);
  assert.deepEqual(contract.problems({ ...used, kind: "sold" }).map((p) => p.field), ["/kind"]);
  assert.deepEqual(contract.problems({ ...used, schema_version: 2 }).map((p) => p.field), ["/schema_version"]);
  assert.deepEqual(contract.problems([used]), [{ field: "", message: "an event must be a JSON object" }]);
  const shown = JSON.stringify(contract.problems({ ...used, subject: { id: " alice@example.com ", type: "customer" } }));
  assert.ok(shown.includes("/subject/id") && !shown.includes("alice"), shown);
});
