"""The Neo4j store's reads: their Cypher, and turning the records into the project's answers (who-has, alerts, the
catalogue, consent records, tombstones), as the SQLite store assembles them; the store runs them in its read
transactions."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import neo4j

from graph.changes import Tombstone, received_pairs
from graph.neo4j_plan import epoch_seconds, from_epoch
from graph.store import Catalogue
from policies.consent import ConsentRecord, stored_signal
from schemas.answers import Alert, CategoryLineage, PersonFlow, RecipientLineage, RecipientRef, SourceRef, WhoHas

# -- erasure reads (the write Cypher is in graph/neo4j_erasure.py) ------------------------------------
TOMBSTONES = """
UNWIND $keys AS key
MATCH (t:Tombstone {ns: $ns, subject: key})
RETURN t {.event_id, .subject, .erased_at, .applied_at, .reason, .recipients, .received} AS t
"""
ALL_TOMBSTONES = """
MATCH (t:Tombstone {ns: $ns})
RETURN t {.event_id, .subject, .erased_at, .applied_at, .reason, .recipients, .received} AS t
"""

# -- reads -----------------------------------------------------------------------------------------
# the person's lineage edges (their counts and spans come from their evidence, below)
WHO_HAS = """
MATCH (d:Data {ns: $ns, subject: $key})
RETURN d.category AS category,
  [(:Subject)-[e:HOLDS]->(d) | e.role] AS roles,
  [(d)-[:COLLECTED_FROM]->(t:Source) | [t.type, t.name]] AS sources,
  [(d)-[:USED_FOR]->(t:Purpose) | t.key] AS uses,
  [(d)-[e:SHARED_WITH]->(t:Recipient) | {purpose: e.purpose, recipient: t {.id, .name, .type, .country, .contact}}]
    AS shares
"""
# the person's data events, each the evidence of the lineage edges its fields give (graph.changes.edge_keys)
EVIDENCE = f"""
MATCH (ev:Event {{ns: $ns, subject: $key}}) WHERE ev.categories IS NOT NULL
RETURN ev.event_id AS id, {epoch_seconds("ev.occurred_at")} AS s, ev.occurred_at.nanosecond AS n, ev.role AS role,
       ev.categories AS categories, ev.purpose AS purpose,
       ev.recipient AS recipient
"""
# per person and category, the earliest of their data events holding it (Store.first_recorded): rows of [key, the
# categories asked, or null for all]; each person's events read once (no index orders them by time here)
FIRST_RECORDED = f"""
UNWIND $asked AS a
MATCH (ev:Event {{ns: $ns, subject: a[0]}}) WHERE ev.categories IS NOT NULL
UNWIND CASE WHEN a[1] IS NULL THEN ev.categories ELSE [c IN ev.categories WHERE c IN a[1]] END AS category
WITH a[0] AS key, category, min(ev.occurred_at) AS first
RETURN key, category, {epoch_seconds("first")} AS s, first.nanosecond AS n
"""
# each alert with its count of people (its flow aggregate) and its latest $sample triggering events, as the alert
# keeps them (graph.neo4j_plan.ALERTS), never all of them
ALERT_LIST = """
MATCH (a:Alert {ns: $ns})
WHERE ($status IS NULL OR a.status = $status) AND ($rule IS NULL OR a.rule = $rule)
  AND ($since IS NULL OR a.last_seen >= $since)
  AND ($subject IS NULL OR EXISTS { (:Event {ns: $ns, subject: $subject})-[:TRIGGERED]->(a) })
OPTIONAL MATCH (k:AggKey {ns: $ns, ref: a.alert_id})
WITH a, k, CASE WHEN a.recent IS NULL  // an alert no write has touched since `recent` came: its relationships, once
  THEN COLLECT { MATCH (e:Event)-[t:TRIGGERED]->(a) WITH e, t ORDER BY e.occurred_at DESC, e.event_id DESC
                 LIMIT $sample RETURN [e.event_id, t.subject] }
  ELSE [x IN a.recent[..$sample] | split(x, ' ')[1..]] END AS evidence
RETURN a {.*} AS alert, coalesce(k.people, 0) AS people, evidence
ORDER BY a.last_seen DESC, a.alert_id
"""
CONSENT_STATE = """
UNWIND $keys AS key
MATCH (:Subject {ns: $ns, key: key})-[:RECORDED]->(c:Consent)
RETURN c {.event_id, .kind, .subject, .occurred_at, .purposes, .categories, .signal} AS c
"""
# the alerter's bulk read (consent_and_erasures): everyone's, or what batches applied since $since wrote (a consent
# record is written with its event, which carries the batch's applied_at)
ALL_CONSENT = """
MATCH (c:Consent {ns: $ns})
RETURN c {.event_id, .kind, .subject, .occurred_at, .purposes, .categories, .signal} AS c
"""
CONSENT_SINCE = """
MATCH (c:Consent {ns: $ns})
MATCH (e:Event {ns: $ns, event_id: c.event_id}) WHERE e.applied_at >= $since
RETURN c {.event_id, .kind, .subject, .occurred_at, .purposes, .categories, .signal} AS c
"""
TOMBSTONES_SINCE = """
MATCH (t:Tombstone {ns: $ns}) WHERE t.applied_at >= $since
RETURN t {.event_id, .subject, .erased_at, .applied_at, .reason, .recipients, .received} AS t
"""
STATS = """
RETURN COUNT { (:Event {ns: $ns}) } AS events, COUNT { (:Subject {ns: $ns}) } AS subjects,
  COUNT { (:Recipient {ns: $ns}) } AS recipients, COUNT { (:Source {ns: $ns}) } AS sources,
  COUNT { (:Subject {ns: $ns})-[:HOLDS]->() } + COUNT { (:Data {ns: $ns})-[:COLLECTED_FROM|USED_FOR|SHARED_WITH]->() }
    AS edges,
  COLLECT { MATCH (e:Event {ns: $ns}) WHERE e.categories IS NOT NULL
            RETURN sum(size(e.categories) * (1 + CASE WHEN e.source IS NULL THEN 0 ELSE 1 END
              + CASE WHEN e.purpose IS NULL THEN 0 ELSE 1 END + CASE WHEN e.recipient IS NULL THEN 0 ELSE 1 END)) }[0]
    AS evidence,
  COUNT { (:Alert {ns: $ns}) } AS alerts
"""


def occurred(tx: neo4j.ManagedTransaction, ns: str, ids: list[str]) -> dict[str, datetime]:
    """When each of these recorded events occurred (UTC)."""
    query = (
        "UNWIND $ids AS id MATCH (e:Event {ns: $ns, event_id: id})"
        f" RETURN id, {epoch_seconds('e.occurred_at')} AS s, e.occurred_at.nanosecond AS n"
    )
    return {r["id"]: from_epoch(r["s"], r["n"]) for r in tx.run(query, ids=ids, ns=ns)}


def first_recorded(tx: neo4j.ManagedTransaction, ns: str, asked: list[list[Any]]) -> dict[str, dict[str, datetime]]:
    """Per person (rows of [pseudonym, the categories asked or None for all]), when their data of each category was
    first recorded (UTC)."""
    out: dict[str, dict[str, datetime]] = {}
    for r in tx.run(FIRST_RECORDED, asked=asked, ns=ns):
        out.setdefault(r["key"], {})[r["category"]] = from_epoch(r["s"], r["n"])
    return out


def processed(tx: neo4j.ManagedTransaction, ns: str, ids: list[str]) -> set[str]:
    """Which of these event ids are recorded."""
    query = "UNWIND $ids AS id MATCH (e:Event {ns: $ns, event_id: id}) RETURN e.event_id AS id"
    return {r["id"] for r in tx.run(query, ids=ids, ns=ns)}


def who_has(tx: neo4j.ManagedTransaction, ns: str, subject: str) -> WhoHas | None:
    """One person's lineage (by pseudonym), or None when the person is unknown."""
    found = tx.run("MATCH (s:Subject {ns: $ns, key: $key}) RETURN s.type AS type", key=subject, ns=ns).single()
    if found is None:
        return None
    rows = [r.data() for r in tx.run(WHO_HAS, key=subject, ns=ns)]
    # each edge's evidence: its events' times and ids, by (rel, category, target, purpose) as edge_keys gives them
    evidence: dict[tuple[str, str, str, str], list[tuple[datetime, str]]] = {}
    counts: dict[str, int] = {}
    for r in tx.run(EVIDENCE, key=subject, ns=ns):
        seen = (from_epoch(r["s"], r["n"]), r["id"])
        for category in r["categories"]:
            counts[category] = counts.get(category, 0) + 1
            evidence.setdefault(("HOLDS", category, r["role"], ""), []).append(seen)
            if r["purpose"] is not None:
                evidence.setdefault(("USED_FOR", category, r["purpose"], ""), []).append(seen)
                if r["recipient"] is not None:
                    evidence.setdefault(("SHARED_WITH", category, r["recipient"], r["purpose"]), []).append(seen)

    def span(key: tuple[str, str, str, str]) -> tuple[datetime, datetime, list[str]]:
        found = evidence[key]
        return min(at for at, _ in found), max(at for at, _ in found), [event for _, event in found]

    for row in rows:
        category = row["category"]
        row["holds"] = [[role, *span(("HOLDS", category, role, ""))[:2]] for role in row.pop("roles")]
        uses = []
        for purpose in row["uses"]:
            first, last, events = span(("USED_FOR", category, purpose, ""))
            uses.append([purpose, first, last, len(events)])
        row["uses"] = uses
        for share in row["shares"]:
            share["first"], share["last"], share["events"] = span(
                ("SHARED_WITH", category, share["recipient"]["id"], share["purpose"])
            )
    return assemble(subject, found["type"], rows, counts)


def catalogue(tx: neo4j.ManagedTransaction, ns: str) -> Catalogue:
    """The sources and recipients, by id."""
    sources = {
        r["x"]["id"]: SourceRef(type=r["x"]["type"], name=r["x"]["name"])
        for r in tx.run("MATCH (x:Source {ns: $ns}) RETURN x {.id, .type, .name} AS x", ns=ns)
    }
    recipients = {
        r["x"]["id"]: RecipientRef(**r["x"])
        for r in tx.run("MATCH (x:Recipient {ns: $ns}) RETURN x {.id, .name, .type, .country, .contact} AS x", ns=ns)
    }
    return Catalogue(sources, recipients)


def alerts(tx: neo4j.ManagedTransaction, params: dict[str, Any]) -> list[Alert]:
    """The alerts :data:`ALERT_LIST` finds with these parameters, each with its latest events."""
    out = []
    for r in tx.run(ALERT_LIST, params):
        a = {k: v for k, v in r["alert"].items() if k not in ("ns", "recent")}
        a["first_seen"], a["last_seen"] = utc(a["first_seen"]), utc(a["last_seen"])
        a["event_ids"] = [e for e, _ in r["evidence"]]
        a["subjects"] = list(dict.fromkeys(s for _, s in r["evidence"]))
        a["people"] = r["people"]
        out.append(Alert(**a))
    return out


def consent_record(c: dict[str, Any]) -> ConsentRecord:
    return ConsentRecord(
        c["event_id"],
        c["kind"],
        c["subject"],
        utc(c["occurred_at"]),
        tuple(c["purposes"] or ()),
        tuple(c["categories"] or ()),
        stored_signal(c["kind"], c["signal"]),
    )


def tombstone(t: dict[str, Any]) -> Tombstone:
    return Tombstone(
        t["event_id"],
        t["subject"],
        utc(t["erased_at"]),
        utc(t["applied_at"]),
        t["reason"],
        tuple(sorted(t["recipients"] or ())),
        None
        if t["received"] is None
        else received_pairs((r, c) for r, _, c in (p.partition(" ") for p in t["received"])),
    )


def utc(value: Any) -> datetime:
    """A Neo4j DateTime (or Python datetime) as an aware UTC datetime."""
    native = value.to_native() if hasattr(value, "to_native") else value
    return native.astimezone(UTC)  # type: ignore[no-any-return]


def param_ts(value: datetime | None) -> datetime | None:
    return value.astimezone(UTC) if value is not None else None


# -- answers ---------------------------------------------------------------------------------------
def assemble(subject: str, subject_type: str, rows: list[dict[str, Any]], counts: Mapping[str, int]) -> WhoHas:
    """The who-has answer from one row per (:Data) node of the person, as the SQLite store assembles it."""
    categories = []
    recs: dict[str, dict[str, Any]] = {}
    flows: list[PersonFlow] = []
    for row in sorted(rows, key=lambda r: str(r["category"])):
        # every event adds a HOLDS edge per category, so the HOLDS edges span all events about the category
        spans = [(utc(first), utc(last)) for _, first, last in row["holds"]]
        purposes = {key for key, _, _, _ in row["uses"]}
        for key, first, last, n in row["uses"]:
            flows.append(
                PersonFlow(
                    category=row["category"], purpose=key, first_seen=utc(first), last_seen=utc(last), events=int(n)
                )
            )
        for share in row["shares"]:
            first, last = utc(share["first"]), utc(share["last"])
            flows.append(
                PersonFlow(
                    category=row["category"],
                    purpose=share["purpose"],
                    recipient=share["recipient"]["id"],
                    first_seen=first,
                    last_seen=last,
                    events=len(set(share["events"])),
                )
            )
            purposes.add(share["purpose"])
            r = recs.setdefault(
                share["recipient"]["id"],
                {
                    "info": share["recipient"],
                    "categories": set(),
                    "purposes": set(),
                    "events": set(),
                    "first": first,
                    "last": last,
                },
            )
            r["categories"].add(row["category"])
            r["purposes"].add(share["purpose"])
            r["events"].update(share["events"])
            r["first"], r["last"] = min(r["first"], first), max(r["last"], last)
        sources = sorted({(t, n) for t, n in row["sources"]}, key=lambda s: (s[0], s[1] or ""))
        categories.append(
            CategoryLineage(
                category=row["category"],
                roles=sorted({role for role, _, _ in row["holds"]}),
                sources=[SourceRef(type=t, name=n) for t, n in sources],
                purposes=sorted(purposes),
                first_seen=min(f for f, _ in spans),
                last_seen=max(last for _, last in spans),
                event_count=int(counts.get(row["category"], 0)),
            )
        )
    recipients = [
        RecipientLineage(
            **r["info"],
            categories=sorted(r["categories"]),
            purposes=sorted(r["purposes"]),
            first_shared_at=r["first"],
            last_shared_at=r["last"],
            event_ids=sorted(r["events"]),
        )
        for _, r in sorted(recs.items())
    ]
    flows.sort(key=lambda f: (f.category, f.purpose, f.recipient or ""))
    return WhoHas(subject=subject, subject_type=subject_type, categories=categories, recipients=recipients, flows=flows)
