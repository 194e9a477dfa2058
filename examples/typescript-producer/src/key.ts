// The Kafka message key of an event, as docs/wire.md ("The key") defines it.
import { createHmac } from "node:crypto";

/** The HMAC key when the deployment has no shared secret (LINEAGE_KAFKA_KEY_SECRET unset or empty). */
export const KEY_LABEL = "privacy-lineage/partition-key/v1";

/**
 * "s_" + the first 32 hex digits of HMAC-SHA256(K, UTF-8 bytes of subject.id), K being the UTF-8 bytes of the
 * shared secret, or of KEY_LABEL without one. The id is taken exactly as it is in the event: no trimming, no case
 * folding, no Unicode normalisation. Same person, same key, same partition: their events are read in order.
 */
export function partitionKey(subjectId: string, secret?: string | null): string {
  const key = Buffer.from(secret ? secret : KEY_LABEL, "utf8");
  return "s_" + createHmac("sha256", key).update(Buffer.from(subjectId, "utf8")).digest("hex").slice(0, 32);
}
