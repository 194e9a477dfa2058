// Sends validated events to the events topic: keyed per docs/wire.md, with kafkajs's idempotent producer.
import { Kafka, logLevel, Partitioners, Producer } from "kafkajs";
import { Contract, LineageEvent, Problem } from "./contract";
import { partitionKey } from "./key";

export const EVENTS_TOPIC = "lineage.events.v1";

export interface ProducerOptions {
  brokers: string[];
  topic?: string;
  /** LINEAGE_KAFKA_KEY_SECRET: the same on every producer of a deployment, or none anywhere. */
  keySecret?: string | null;
  clientId?: string;
  contract?: Contract;
}

export class InvalidEvent extends Error {
  constructor(readonly problems: Problem[]) {
    super("invalid event: " + problems.map((p) => `${p.field || "(event)"}: ${p.message}`).join("; "));
  }
}

export class LineageProducer {
  readonly topic: string;
  private readonly producer: Producer;
  private readonly secret: string | null;
  private readonly contract: Contract;

  constructor(options: ProducerOptions) {
    this.topic = options.topic || EVENTS_TOPIC;
    this.secret = options.keySecret || null;
    this.contract = options.contract ?? new Contract();
    const kafka = new Kafka({
      clientId: options.clientId ?? "lineage-ts-producer",
      brokers: options.brokers,
      logLevel: logLevel.WARN,
    });
    this.producer = kafka.producer({
      idempotent: true, // the broker drops a retried batch it already has: no duplicates from retries
      maxInFlightRequests: 1, // and keeps each partition's order
      createPartitioner: Partitioners.DefaultPartitioner, // murmur2 of the key, as the Java client and the emitter
    });
  }

  connect(): Promise<void> {
    return this.producer.connect();
  }

  /** Throws InvalidEvent (nothing sent) when one of the events does not satisfy the schema. */
  check(event: unknown): LineageEvent {
    const problems = this.contract.problems(event);
    if (problems.length > 0) throw new InvalidEvent(problems);
    return event as LineageEvent;
  }

  /** Validate every event, then send them all; resolves once the broker has them (acks from all replicas). */
  async send(events: unknown[]): Promise<void> {
    const checked = events.map((e) => this.check(e));
    if (checked.length === 0) return;
    await this.producer.send({
      topic: this.topic,
      acks: -1,
      messages: checked.map((e) => ({
        key: partitionKey(e.subject.id, this.secret),
        value: JSON.stringify(e), // UTF-8 JSON, one event per record, no headers
      })),
    });
  }

  disconnect(): Promise<void> {
    return this.producer.disconnect();
  }
}
