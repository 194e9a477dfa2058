"""The Neo4j store's erasure statements (GraphStore: one person, everything that occurred at or before the erasure):
the tombstone with whom to tell and what each received, the person's events, consent records, lineage edges and Data
nodes, the alerts' latest events without them; and the tombstones a batch reads and extends (graph/neo4j_writes.py
runs them in the batch's transaction)."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from graph.changes import ChangeSet
from graph.neo4j_plan import SAMPLE_OF
from graph.store import ALERT_SAMPLE

# -- erasure: one person, everything that occurred at or before $at (see GraphStore) ---------------------
CUTOFFS = """
UNWIND $keys AS key
MATCH (t:Tombstone {ns: $ns, subject: key})
RETURN key, t.erased_at AS at, t.event_id AS event_id
"""
# a share an erasure covers, delivered after it: its recipient must be told too (Art. 19), with the categories it
# received (each pair "recipient category", see _ERASE_TOMBSTONE) unless the tombstone, of an older store, kept none;
# rows: [tombstone, recipient id, [pairs]]
LATE_RECIPIENTS = """
UNWIND $rows AS r
MATCH (t:Tombstone {ns: $ns, event_id: r[0]})
SET t.recipients = CASE WHEN r[1] IN t.recipients THEN t.recipients ELSE t.recipients + r[1] END,
    t.received = CASE WHEN t.received IS NULL THEN null ELSE t.received + [p IN r[2] WHERE NOT p IN t.received] END
"""
# What each recipient received is kept as a list of strings "<recipient id> <category key>" (neither has a space;
# Neo4j has no list of pairs): the notices sent after the evidence is gone name the categories. $received is null
# when the erasure's pairs are not known (a tombstone re-keyed from an older store): the tombstone keeps none then.
_ERASE_TOMBSTONE = """
OPTIONAL MATCH (ev:Event {ns: $ns, subject: $key})
WHERE ev.occurred_at <= $at AND ev.recipient IS NOT NULL AND size(ev.categories) > 0
WITH ev, CASE WHEN ev IS NULL THEN [null] ELSE [c IN ev.categories | ev.recipient + ' ' + c] END AS pairs
UNWIND pairs AS pair
WITH collect(DISTINCT ev.recipient) AS found, collect(DISTINCT pair) AS pairs
CREATE (t:Tombstone {ns: $ns, event_id: $event_id, subject: $key, erased_at: $at, applied_at: $now,
                     recipients: found + [r IN $known WHERE NOT r IN found]})
SET t.reason = $reason,
    t.received = CASE WHEN $received IS NULL THEN null ELSE pairs + [p IN $received WHERE NOT p IN pairs] END
"""
# the catalogue's tie-break between events of the same instant must not keep an erased event's id (as in SQLite)
_ERASE_SEEN_EVENT = """
MATCH (ev:Event {ns: $ns, subject: $key}) WHERE ev.occurred_at <= $at AND ev.kind <> 'erased'
WITH collect(ev.event_id) AS ids
MATCH (x:Recipient {ns: $ns}) WHERE x.seen_event IN ids
SET x.seen_event = ''
"""
# the alerts the erased events triggered keep their latest events without them (taken before the events go)
_ERASE_ALERT_SAMPLES = f"""
MATCH (ev:Event {{ns: $ns, subject: $key}})-[:TRIGGERED]->(a:Alert)
WHERE ev.occurred_at <= $at AND ev.kind <> 'erased'
WITH DISTINCT a
SET a.recent = COLLECT {{
  MATCH (e:Event)-[t:TRIGGERED]->(a) WHERE NOT (e.subject = $key AND e.occurred_at <= $at AND e.kind <> 'erased')
  WITH e, t ORDER BY e.occurred_at DESC, e.event_id DESC LIMIT {ALERT_SAMPLE}
  RETURN {SAMPLE_OF.format(e="e", t="t")}
}}
"""
_ERASE_EVENTS = """
MATCH (ev:Event {ns: $ns, subject: $key}) WHERE ev.occurred_at <= $at AND ev.kind <> 'erased'
DETACH DELETE ev
"""
_ERASE_CONSENTS = """
MATCH (:Subject {ns: $ns, key: $key})-[:RECORDED]->(c:Consent) WHERE c.occurred_at <= $at
DETACH DELETE c
"""
# an edge stays while an event after the erasure is its evidence (usually none: the edge goes)
_ERASE_HOLDS = """
MATCH (:Subject {ns: $ns, key: $key})-[e:HOLDS]->(d:Data)
WHERE NOT EXISTS { MATCH (ev:Event {ns: $ns, subject: $key}) WHERE ev.role = e.role AND d.category IN ev.categories }
DELETE e
"""
_ERASE_EDGES = """
MATCH (d:Data {ns: $ns, subject: $key})-[e:COLLECTED_FROM|USED_FOR|SHARED_WITH]->(t)
WITH d, e, type(e) AS rel, coalesce(t.id, t.key) AS target
WHERE NOT EXISTS {
  MATCH (ev:Event {ns: $ns, subject: $key})
  WHERE d.category IN ev.categories AND CASE rel
    WHEN 'COLLECTED_FROM' THEN ev.source = target
    WHEN 'USED_FOR' THEN ev.purpose = target
    ELSE ev.recipient = target AND ev.purpose = e.purpose END
}
DELETE e
"""
_ERASE_DATA = """
MATCH (d:Data {ns: $ns, subject: $key})
WHERE NOT EXISTS { MATCH (ev:Event {ns: $ns, subject: $key}) WHERE d.category IN ev.categories }
DETACH DELETE d
"""
_ERASE_SUBJECT = """
MATCH (s:Subject {ns: $ns, key: $key})
WHERE NOT EXISTS { MATCH (ev:Event {ns: $ns, subject: $key}) WHERE ev.kind <> 'erased' }
DETACH DELETE s
"""
ERASURE_STATEMENTS = (
    _ERASE_TOMBSTONE,
    _ERASE_SEEN_EVENT,
    _ERASE_ALERT_SAMPLES,
    _ERASE_EVENTS,
    _ERASE_CONSENTS,
    _ERASE_HOLDS,
    _ERASE_EDGES,
    _ERASE_DATA,
    _ERASE_SUBJECT,
)


def received_pair(recipient: str, category: str) -> str:
    """One (recipient, category) pair as a tombstone keeps it (see _ERASE_TOMBSTONE)."""
    return f"{recipient} {category}"


def late_recipients(covered: Iterable[tuple[ChangeSet, str]]) -> list[list[Any]]:
    """The rows of LATE_RECIPIENTS for the disclosures (change set, covering tombstone's event id) an erasure
    covers: per tombstone and recipient, the pairs of the categories it received."""
    pairs: dict[tuple[str, str], set[str]] = {}
    for cs, tombstone in covered:
        if cs.recipient is not None:
            rid = cs.recipient.id
            pairs.setdefault((tombstone, rid), set()).update(received_pair(rid, c) for c in cs.categories)
    return [[t, rid, sorted(p)] for (t, rid), p in sorted(pairs.items())]
