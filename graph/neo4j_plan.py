"""Neo4j write path, pure: the write Cypher and the planning of a batch of ChangeSets into its statements' rows.

No driver here: :mod:`graph.neo4j_store` runs these statements in one write transaction per batch (see
docs/graph-model.md, "How a batch is written"). Every statement takes ``$ns`` and ``$rows``; rows are lists,
not maps, because packing the same map keys over and over was most of the driver's work on the worker.

Timestamps travel as epoch seconds and nanoseconds and become DateTimes on the server (the same UTC values the
driver would send): the driver's conversion of Python datetimes cost more than all the rest of a batch's
planning (bench/RESULTS.md); the batch's applied_at travels once, as ``$now``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from collections.abc import Set as AbstractSet
from datetime import UTC, datetime, timedelta
from typing import Any

from graph.changes import ChangeSet, EdgeKey, Rel
from graph.store import ALERT_SAMPLE, alert_id

Statement = tuple[str, list[Any]]


def _dt(seconds: str, nanos: str) -> str:
    return f"datetime({{epochSeconds: {seconds}, nanosecond: {nanos}}})"


def epoch_seconds(instant: str) -> str:
    """Cypher for the whole seconds since 1970 of a stored (UTC) instant, rounded down as :func:`epoch` does: Neo4j's
    ``epochSeconds`` rounds towards zero, one second late for an instant before 1970 with a fraction (its
    ``nanosecond`` is the fraction of the second, counted forwards)."""
    return f"{instant}.epochSeconds - CASE WHEN {instant}.nanosecond > 0 AND {instant}.year < 1970 THEN 1 ELSE 0 END"


# -- Data nodes, events and evidence -----------------------------------------------------------------------
# The Data nodes of the lineage edges a batch writes, once each (rows [data id, subject, category], sorted by id),
# returning their element ids (one record of [id, element id] pairs: a record per row costs the driver more than the
# rest): the edges then reach them directly instead of by an index seek each.
DATA = """
UNWIND $rows AS r
MERGE (d:Data {ns: $ns, id: r[0]}) ON CREATE SET d.subject = r[1], d.category = r[2]
RETURN collect([r[0], elementId(d)]) AS nodes
"""
# One row per event: [event_id, seconds, nanoseconds, props, data]. A data event (``data`` true) carries what its
# lineage edges follow from (categories, source, purpose, recipient: graph.changes.edge_keys) as properties, which
# makes it the evidence of each of those edges, and gets one ABOUT relationship to its person (locked, so present).
# Only events created by this attempt ($batch, a mark removed again in the same statement, so never stored) get
# their relationship; the statement returns their ids (one record).
EVENTS = f"""
UNWIND $rows AS r
MERGE (e:Event {{ns: $ns, event_id: r[0]}})
ON CREATE SET e += r[3], e.occurred_at = {_dt("r[1]", "r[2]")}, e.applied_at = $now, e.batch = $batch
WITH e, r WHERE e.batch = $batch
REMOVE e.batch
WITH e, r
CALL (e, r) {{
  WITH e, r WHERE r[4]
  MATCH (s:Subject {{ns: $ns, key: e.subject}})
  CREATE (e)-[:ABOUT]->(s)
}}
RETURN collect(e.event_id) AS created
"""

# The events of a batch an earlier attempt committed: stamped with the batch's applied_at, which a retry of a batch
# whose commit may have landed unseen reuses (graph.neo4j_store.Neo4jGraphStore.apply). One record.
LANDED = """
UNWIND $ids AS id
MATCH (e:Event {ns: $ns, event_id: id}) WHERE e.applied_at = $now
RETURN collect(e.event_id) AS landed
"""

# -- aggregates of the new events, one row per key ---------------------------------------------------------------
# node properties follow the latest event: subjects by occurred_at, recipients by (occurred_at, event_id)
SUBJECTS = f"""
UNWIND $rows AS r WITH r, {_dt("r[2]", "r[3]")} AS at
MERGE (s:Subject {{ns: $ns, key: r[0]}}) ON CREATE SET s.type = r[1], s.seen_at = at
WITH s, r, at, s.seen_at IS NULL OR at > s.seen_at AS later
FOREACH (_ IN CASE WHEN later THEN [1] ELSE [] END | SET s.type = r[1], s.seen_at = at)
RETURN collect([r[0], elementId(s)]) AS nodes
"""
RECIPIENTS = f"""
UNWIND $rows AS r WITH r, {_dt("r[2]", "r[3]")} AS at
MERGE (x:Recipient {{ns: $ns, id: r[0]}}) ON CREATE SET x += r[1], x.seen_at = at, x.seen_event = r[4]
WITH x, r, at WHERE x.seen_at IS NULL OR at > x.seen_at OR (at = x.seen_at AND r[4] > x.seen_event)
SET x.name = r[1].name, x.type = r[1].type, x.country = r[1].country, x.contact = r[1].contact,
    x.seen_at = at, x.seen_event = r[4]
"""
SOURCES = "UNWIND $rows AS r MERGE (x:Source {ns: $ns, id: r[0]}) ON CREATE SET x.type = r[1], x.name = r[2]"
# The lineage edges say that a flow exists; how often and when come from their evidence, the events (who-has reads
# the person's events), so an edge is written once and never updated: MERGE, nothing set. HOLDS rows: [Data element
# id, Subject element id, role]; the other edges' rows, one per target: [target key, [[Data element id, purpose]]]


def _to_target(label: str, key: str, rel: str) -> str:
    return (
        f"UNWIND $rows AS g MERGE (t:{label} {{ns: $ns, {key}: g[0]}}) WITH t, g UNWIND g[1] AS r\n"
        f"MATCH (d:Data) WHERE elementId(d) = r[0] MERGE (d)-[:{rel}]->(t)"
    )


EDGES = {
    Rel.HOLDS: "UNWIND $rows AS r\n"
    "MATCH (d:Data) WHERE elementId(d) = r[0] MATCH (s:Subject) WHERE elementId(s) = r[1]\n"
    "MERGE (s)-[:HOLDS {role: r[2]}]->(d)",
    Rel.COLLECTED_FROM: _to_target("Source", "id", "COLLECTED_FROM"),
    Rel.USED_FOR: _to_target("Purpose", "key", "USED_FOR"),
    Rel.SHARED_WITH: _to_target("Recipient", "id", "SHARED_WITH {purpose: r[1]}"),
}
_TARGETED = frozenset(EDGES[rel] for rel in (Rel.COLLECTED_FROM, Rel.USED_FOR, Rel.SHARED_WITH))
# An alert keeps its latest ALERT_SAMPLE triggering events in ``recent``, newest first, each as one sortable string
# (:func:`sample_entry`: time, event id, pseudonym), so that listing alerts reads ten entries per alert instead of
# sorting all its TRIGGERED relationships (which grew with the events: 1.5 s for 93 alerts of 84,077 triggering
# events, measured). An alert written before ``recent`` existed has it computed from its relationships once.
SAMPLE_OF = (
    "right('0000000000000' + toString(" + epoch_seconds("{e}.occurred_at") + " + 100000000000), 13) + '.' +"
    " right('000000000' + toString({e}.occurred_at.nanosecond), 9) + ' ' + {e}.event_id + ' ' + {t}.subject"
)
_SCANNED_SAMPLE = (
    "COLLECT { MATCH (e:Event)-[t:TRIGGERED]->(a) WITH e, t ORDER BY e.occurred_at DESC, e.event_id DESC"
    f" LIMIT {ALERT_SAMPLE} RETURN {SAMPLE_OF.format(e='e', t='t')} }}"
)
ALERTS = f"""
UNWIND $rows AS r WITH r, {_dt("r[3]", "r[4]")} AS first, {_dt("r[5]", "r[6]")} AS last
MERGE (a:Alert {{ns: $ns, alert_id: r[0]}})
ON CREATE SET a += r[1], a.status = 'open', a.count = r[2], a.first_seen = first, a.last_seen = last,
              a.policy_version = r[7], a.recent = []
ON MATCH SET a.count = a.count + r[2], a.policy_version = r[7],
             a.first_seen = CASE WHEN first < a.first_seen THEN first ELSE a.first_seen END,
             a.last_seen = CASE WHEN last > a.last_seen THEN last ELSE a.last_seen END
WITH a, r
SET a.recent = COLLECT {{
  UNWIND coalesce(a.recent, {_SCANNED_SAMPLE}) + r[8] AS x
  WITH DISTINCT x ORDER BY x DESC LIMIT {ALERT_SAMPLE} RETURN x
}}
"""
TRIGGERS = """
UNWIND $rows AS r
MATCH (e:Event {ns: $ns, event_id: r[1]}) MATCH (a:Alert {ns: $ns, alert_id: r[0]})
MERGE (e)-[t:TRIGGERED]->(a) ON CREATE SET t.subject = r[2]
"""
CONSENTS = f"""
UNWIND $rows AS r
MERGE (s:Subject {{ns: $ns, key: r[1]}})
MERGE (c:Consent {{ns: $ns, event_id: r[0]}}) ON CREATE SET c += r[4], c.occurred_at = {_dt("r[2]", "r[3]")}
MERGE (s)-[:RECORDED]->(c)
"""

# -- the people of a batch: locked first, so that batches (and erasures) about one person take turns ------------
# Setting a property takes each person's write lock until the transaction ends, before the tombstones are read:
# an erasure another writer applies meanwhile is then either committed before (and read) or waits for this
# batch (and deletes what it wrote). Sorted keys: concurrent writers lock in one order. A person not yet in the
# store gets a bare Subject node; FORGET_BARE deletes it again if the batch left nothing about them.
LOCK_PEOPLE = """
UNWIND $keys AS key
MERGE (s:Subject {ns: $ns, key: key})
SET s.lock = true REMOVE s.lock
"""
FORGET_BARE = """
UNWIND $keys AS key
MATCH (s:Subject {ns: $ns, key: key}) WHERE s.type IS NULL AND NOT EXISTS { (s)--() }
DELETE s
"""

# -- planning ----------------------------------------------------------------------------------------------------
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def epoch(value: datetime) -> tuple[int, int]:
    """An aware datetime as (epoch seconds, nanoseconds), for :func:`_dt` on the server."""
    seconds, micros = divmod((value - _EPOCH) // _MICROSECOND, 1_000_000)
    return seconds, micros * 1000


def from_epoch(seconds: int, nanos: int) -> datetime:
    """An instant read as (epoch seconds, nanosecond of the second), as an aware UTC datetime (microseconds, as
    :func:`epoch` writes it). Reads of many events return instants this way: the driver's own DateTime
    costs ~0.09 ms of client CPU a value (a person's 214 events read for who-has: 26.7 ms of client CPU against
    7.5 ms this way, measured)."""
    return _EPOCH + timedelta(seconds=seconds, microseconds=nanos // 1000)


def sample_entry(at: datetime, event_id: str, subject: str) -> str:
    """One of an alert's latest events as ``recent`` keeps it: sortable as text in the order of (time, event id),
    then the pseudonym (the Cypher of :data:`ALERTS` writes the same string from a TRIGGERED relationship). Event
    ids hold no space, the separator, which sorts before every character they may hold."""
    seconds, nanos = epoch(at)
    return f"{seconds + 100_000_000_000:013d}.{nanos:09d} {event_id} {subject}"


def event_rows(batch: Iterable[ChangeSet]) -> list[list[Any]]:
    """The :data:`EVENTS` rows of these events (applied_at is the statement's ``$now``, the same for the batch)."""
    out = []
    for cs in batch:
        ev = cs.event
        props: dict[str, Any] = {"kind": ev.kind, "emitted_by": ev.emitted_by, "subject": ev.subject, "role": ev.role}
        if ev.customer is not None:
            props["customer"] = ev.customer
        if cs.categories:  # a data event: its evidence, and the data-subject type it gave its person
            props["categories"] = list(dict.fromkeys(cs.categories))
            props["subject_type"] = cs.subject.type
            if cs.source is not None:
                props["source"] = cs.source.id
            if cs.purpose is not None:
                props["purpose"] = cs.purpose
                if cs.recipient is not None:
                    props["recipient"] = cs.recipient.id
        out.append([ev.event_id, *epoch(ev.occurred_at), props, bool(cs.categories)])
    return out


class Written:
    """The lineage edges a store object has seen committed, per person (a bounded memory), so that a batch MERGEs
    only the edges it may be the first to write, and the Data nodes of those.

    Only an erasure deletes lineage edges, and an erasure leaves a tombstone that every batch reads for its people
    before it plans (graph/neo4j_writes.py): a person with a tombstone is planned in full, whatever this memory says,
    so an erasure by another process never leaves an edge missing here. Past ``limit`` edges, the people written
    least recently are forgotten: their next batch MERGEs their edges again, which is what every batch did before.
    """

    def __init__(self, limit: int = 400_000) -> None:
        self.limit = limit
        self._people: dict[str, set[EdgeKey]] = {}
        self._size = 0

    def __len__(self) -> int:
        return self._size

    def known(self, person: str) -> AbstractSet[EdgeKey]:
        return self._people.get(person, frozenset())

    def add(self, new: Mapping[str, set[EdgeKey]]) -> None:
        """Remember edges a committed batch wrote (``new``, per person, from :func:`plan`)."""
        for person, keys in new.items():
            mine = self._people.pop(person, None)  # re-inserted last: the most recently written
            if mine is None:
                mine = set()
            self._size += len(keys - mine)
            mine |= keys
            self._people[person] = mine
        while self._size > self.limit and self._people:
            self._size -= len(self._people.pop(next(iter(self._people))))

    def forget(self, people: Iterable[str]) -> None:
        for person in people:
            self._size -= len(self._people.pop(person, ()))


def resolve(statements: Sequence[Statement], data: Mapping[str, str], subjects: Mapping[str, str]) -> list[Statement]:
    """The lineage-edge statements of :func:`plan` with Data ids and subject keys replaced by the element ids that
    :data:`DATA` (``data``) and :data:`SUBJECTS` (``subjects``) returned; other statements as they are."""
    out: list[Statement] = []
    for query, rows in statements:
        if query == EDGES[Rel.HOLDS]:
            rows = [[data[r[0]], subjects[r[1]], *r[2:]] for r in rows]
        elif query in _TARGETED:
            rows = [[g[0], [[data[x[0]], *x[1:]] for x in g[1]]] for g in rows]
        out.append((query, rows))
    return out


def plan(
    batch: Sequence[ChangeSet],
    known: Mapping[str, AbstractSet[EdgeKey]] | None = None,
    new: dict[str, set[EdgeKey]] | None = None,
) -> list[Statement]:
    """The statements (in order) and their rows for the events :data:`EVENTS` created, aggregated per key: one MERGE
    per distinct node or lineage edge of the batch (alerts' counts added up), and none for an edge in ``known`` (per
    person: written before, see :class:`Written`); the edges planned are added to ``new`` per person, and their
    Data nodes are :data:`DATA`'s rows.

    Statements that lock shared nodes (sources, purposes, recipients, alerts) come last, each sorted by the node's
    key, so that concurrent writers take those locks in one order and hold them for the shortest time.
    :data:`SUBJECTS` and :data:`DATA` come first: the element ids they return go into the lineage-edge rows (see
    :func:`resolve`).
    """
    known = known or {}
    new = {} if new is None else new
    data: dict[str, list[Any]] = {}
    subjects: dict[str, list[Any]] = {}
    recipients: dict[str, list[Any]] = {}
    sources: dict[str, list[Any]] = {}
    edges: dict[Rel, dict[tuple[str, ...], list[Any]]] = {rel: {} for rel in Rel}
    alerts: dict[str, list[Any]] = {}
    triggers: dict[tuple[str, str], list[Any]] = {}
    samples: dict[str, list[str]] = {}  # per alert: its events in this batch, as sample_entry writes them
    consents: dict[str, list[Any]] = {}
    for cs in batch:
        at, eid = cs.event.occurred_at.astimezone(UTC), cs.event.event_id
        s = subjects.get(cs.subject.key)
        if s is None or at > s[2]:
            subjects[cs.subject.key] = [cs.subject.key, cs.subject.type, at]
        if (rc := cs.recipient) is not None:
            r = recipients.get(rc.id)
            if r is None or (at, eid) > (r[2], r[3]):
                props = {"name": rc.name, "type": rc.type, "country": rc.country, "contact": rc.contact}
                recipients[rc.id] = [rc.id, props, at, eid]
        if cs.source is not None and cs.source.id not in sources:
            sources[cs.source.id] = [cs.source.id, cs.source.type, cs.source.name]
        seen = known.get(cs.subject.key, ())
        for e in cs.edges:
            if e in seen:
                continue
            # shared targets first in the key: the order in which writers lock them
            key = (e.target, e.purpose, e.subject, e.category)
            if key not in edges[e.rel]:
                data_id = f"{e.subject}|{e.category}"
                edges[e.rel][key] = [data_id, e.subject, e.target, e.purpose]
                new.setdefault(e.subject, set()).add(e)
                if data_id not in data:
                    data[data_id] = [data_id, e.subject, e.category]
        for f in cs.findings:
            aid = alert_id(*f.dedupe_key)
            a = alerts.get(aid)
            if a is None:
                props = {
                    "rule": f.rule,
                    "severity": f.severity,
                    "category": f.category,
                    "purpose": f.purpose,
                    "recipient": f.recipient_id,
                    "recipient_type": f.recipient_type,
                    "reason": f.reason,
                    "clause_section": f.clause_section,
                    "clause_text": f.clause_text,
                }
                alerts[aid] = [aid, props, 1, at, at, f.policy_version]
            else:
                a[2] += 1
                a[3], a[4], a[5] = min(a[3], at), max(a[4], at), f.policy_version
            if (aid, f.event_id) not in triggers:
                triggers[(aid, f.event_id)] = [aid, f.event_id, f.subject]
                samples.setdefault(aid, []).append(sample_entry(at, f.event_id, f.subject))
        if (c := cs.consent) is not None and c.event_id not in consents:
            record = {
                "kind": c.kind,
                "subject": c.subject,
                "purposes": list(c.purposes),
                "categories": list(c.categories),
                "signal": c.signal or None,
            }
            consents[c.event_id] = [c.event_id, c.subject, c.occurred_at, record]

    def by_key(rows: Mapping[Any, list[Any]]) -> list[list[Any]]:
        return [rows[k] for k in sorted(rows)]

    def timed(rows: list[list[Any]], at: int) -> list[list[Any]]:
        """The datetime at index ``at`` replaced by its seconds and nanoseconds (compared above as datetimes)."""
        return [[*r[:at], *epoch(r[at]), *r[at + 1 :]] for r in rows]

    def spans(rows: list[list[Any]], at: int) -> list[list[Any]]:
        return [[*r[:at], *epoch(r[at]), *epoch(r[at + 1]), *r[at + 2 :]] for r in rows]

    def holds() -> list[list[Any]]:
        return [[d, who, role] for d, who, role, _ in by_key(edges[Rel.HOLDS])]

    def by_target(rel: Rel) -> list[list[Any]]:
        """One row per target (in key order): [target, [[data id, purpose], ...]]."""
        out: list[list[Any]] = []
        for d, _, target, purpose in by_key(edges[rel]):
            if not out or out[-1][0] != target:
                out.append([target, []])
            out[-1][1].append([d, purpose])
        return out

    return [
        (SUBJECTS, timed(by_key(subjects), 2)),
        (DATA, by_key(data)),
        (EDGES[Rel.HOLDS], holds()),
        (CONSENTS, timed(by_key(consents), 2)),
        (SOURCES, by_key(sources)),
        (EDGES[Rel.COLLECTED_FROM], by_target(Rel.COLLECTED_FROM)),
        (EDGES[Rel.USED_FOR], by_target(Rel.USED_FOR)),
        (EDGES[Rel.SHARED_WITH], by_target(Rel.SHARED_WITH)),
        (RECIPIENTS, timed(by_key(recipients), 2)),
        (ALERTS, [[*row, sorted(samples[row[0]], reverse=True)[:ALERT_SAMPLE]] for row in spans(by_key(alerts), 3)]),
        (TRIGGERS, by_key(triggers)),
    ]


def catalogue(batch: Sequence[ChangeSet]) -> list[Statement]:
    """Only the source and recipient statements of :func:`plan`: what events an erasure covers still leave behind
    (a recipient row without the event's id, as the erasure leaves the ones it deletes)."""
    out: list[Statement] = []
    for q, rows in plan(batch):
        if q == RECIPIENTS:
            out.append((q, [[*row[:4], ""] for row in rows]))
        elif q == SOURCES:
            out.append((q, rows))
    return out
