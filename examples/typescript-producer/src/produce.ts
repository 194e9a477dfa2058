// Command line: send a JSON Lines file of events (or stdin) to the events topic.
//   node dist/src/produce.js [FILE|-]
//   LINEAGE_KAFKA_BOOTSTRAP (127.0.0.1:9092), LINEAGE_KAFKA_EVENTS_TOPIC, LINEAGE_KAFKA_KEY_SECRET
// Exit 0: every line sent; 1: some lines rejected (reported on stderr by line and field; the valid ones were sent);
// 2: usage or connection error.
import { createReadStream } from "node:fs";
import { createInterface } from "node:readline";
import { Contract } from "./contract";
import { LineageProducer } from "./producer";

const BATCH = 500;

async function main(argv: string[]): Promise<number> {
  if (argv.length > 1 || argv[0] === "-h" || argv[0] === "--help") {
    process.stderr.write("usage: produce.js [FILE|-]  (JSON Lines, one event per line)\n");
    return 2;
  }
  const source = !argv[0] || argv[0] === "-" ? process.stdin : createReadStream(argv[0], "utf8");
  const contract = new Contract();
  const producer = new LineageProducer({
    brokers: (process.env.LINEAGE_KAFKA_BOOTSTRAP || "127.0.0.1:9092").split(",").map((s) => s.trim()),
    topic: process.env.LINEAGE_KAFKA_EVENTS_TOPIC,
    keySecret: process.env.LINEAGE_KAFKA_KEY_SECRET,
    contract,
  });
  await producer.connect();
  let sent = 0;
  let rejected = 0;
  let line = 0;
  let batch: unknown[] = [];
  try {
    for await (const text of createInterface({ input: source, crlfDelay: Infinity })) {
      line += 1;
      if (!text.trim()) continue;
      let event: unknown;
      try {
        event = JSON.parse(text);
      } catch {
        rejected += 1;
        process.stderr.write(`line ${line}: not valid JSON\n`);
        continue;
      }
      const problems = contract.problems(event);
      if (problems.length > 0) {
        rejected += 1;
        for (const p of problems) process.stderr.write(`line ${line}: ${p.field || "(event)"}: ${p.message}\n`);
        continue;
      }
      batch.push(event);
      if (batch.length >= BATCH) {
        await producer.send(batch);
        sent += batch.length;
        batch = [];
      }
    }
    await producer.send(batch);
    sent += batch.length;
  } finally {
    await producer.disconnect();
  }
  process.stdout.write(`sent ${sent} event(s) to ${producer.topic}; ${rejected} line(s) rejected\n`);
  return rejected > 0 ? 1 : 0;
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (error: Error) => {
    process.stderr.write(`produce: ${error.message}\n`);
    process.exit(2);
  },
);
