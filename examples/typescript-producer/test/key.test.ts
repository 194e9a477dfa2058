// The key derivation against the vectors the Python tests check too (schemas/partition-key-vectors.json).
import { strict as assert } from "node:assert";
import { readFileSync } from "node:fs";
import { resolve } from "node:path";
import { test } from "node:test";
import { Partitioners } from "kafkajs";
import { KEY_LABEL, partitionKey } from "../src/key";

interface Vector {
  subject_id: string;
  secret: string | null;
  key: string;
  partitions: Record<string, number>;
}

const VECTORS = resolve(__dirname, "../../../../schemas/partition-key-vectors.json");
const doc = JSON.parse(readFileSync(VECTORS, "utf8")) as { label: string; vectors: Vector[] };

test("the label is the one the vectors were made with", () => {
  assert.equal(KEY_LABEL, doc.label);
});

test("every vector's key", () => {
  assert.ok(doc.vectors.length >= 10);
  for (const v of doc.vectors) {
    assert.equal(partitionKey(v.subject_id, v.secret), v.key, JSON.stringify(v));
  }
});

test("every vector's partition under kafkajs's default partitioner (murmur2, as the Java client)", () => {
  const partition = Partitioners.DefaultPartitioner();
  for (const v of doc.vectors) {
    for (const [count, expected] of Object.entries(v.partitions)) {
      const partitionMetadata = Array.from({ length: Number(count) }, (_, i) => ({
        partitionId: i,
        leader: 0,
        partitionErrorCode: 0,
        replicas: [0],
        isr: [0],
      }));
      const got = partition({ topic: "lineage.events.v1", partitionMetadata, message: { key: v.key, value: "" } });
      assert.equal(got, expected, `${v.key} over ${count} partitions`);
    }
  }
});
