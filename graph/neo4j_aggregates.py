"""The Neo4j store's flow aggregates (graph/aggregates.py says what they count; docs/graph-model.md shows them):
a batch's :class:`Delta` written inside the batch's transaction, what an erasure takes away, the rebuild of an
older store, and the reads that ``graph.aggregate_reads`` composes. ::

    (:AggUnit {id, kind, fields, events, first_day, last_day})-[:COUNTS_IN]->(:AggKey {ref, rollup, key, people})
    (:AggMonth {id, unit, month, days})          the unit's events on each day of a UTC month (31 counts)
    (:Subject)-[:IN_UNIT {months}]->(:AggUnit)   the months a person occurred in a unit
    (:AggStep {id, ref, month, prev, people})    per key, the people of a month by their previous month there
                                                 (-1: none; graph/aggregate_steps.py)

Days are days since 1970-01-01 and months ``year * 12 + month - 1`` (UTC), as plain integers.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import UTC, datetime
from typing import Any

from graph import aggregate_steps as steps
from graph.aggregates import Delta, Unit, day_date, day_of, facts_delta, month_of, month_start
from graph.changes import EventFacts
from graph.neo4j_plan import epoch_seconds, from_epoch
from graph.store import AggregateRow

_DATA_KINDS = ["collected", "used", "shared"]

# units not recorded yet, with their keys: [unit, kind, fields (JSON), [[ref, rollup, key], ...]], sorted by unit
REGISTER = """
UNWIND $rows AS r
MERGE (u:AggUnit {ns: $ns, id: r[0]}) ON CREATE SET u.kind = r[1], u.fields = r[2], u.events = 0
WITH u, r UNWIND r[3] AS k
MERGE (x:AggKey {ns: $ns, ref: k[0]}) ON CREATE SET x.rollup = k[1], x.key = k[2], x.people = 0
MERGE (u)-[:COUNTS_IN]->(x)
"""
# per unit: [unit, events, first day, last day, [[month, [31 day counts]], ...]], sorted by unit; events may be < 0
UNITS = """
UNWIND $rows AS r
MATCH (u:AggUnit {ns: $ns, id: r[0]})
SET u.events = u.events + r[1],
    u.first_day = CASE WHEN u.first_day IS NULL OR r[2] < u.first_day THEN r[2] ELSE u.first_day END,
    u.last_day = CASE WHEN u.last_day IS NULL OR r[3] > u.last_day THEN r[3] ELSE u.last_day END
WITH r UNWIND r[4] AS m
MERGE (x:AggMonth {ns: $ns, id: r[0] + '|' + toString(m[0])})
ON CREATE SET x.unit = r[0], x.month = m[0], x.days = [i IN range(0, 30) | 0]
SET x.days = [i IN range(0, 30) | x.days[i] + m[1][i]]
"""
# [ref, people to add], sorted by ref
PEOPLE = "UNWIND $rows AS r MATCH (x:AggKey {ns: $ns, ref: r[0]}) SET x.people = x.people + r[1]"
# [subject key, unit, [months]], sorted by unit then subject: the units are shared, the subjects locked already
MEMBERS = """
UNWIND $rows AS r
MATCH (s:Subject {ns: $ns, key: r[0]}) MATCH (u:AggUnit {ns: $ns, id: r[1]})
MERGE (s)-[m:IN_UNIT]->(u) ON CREATE SET m.months = r[2]
ON MATCH SET m.months = m.months + [x IN r[2] WHERE NOT x IN m.months]
"""
# the months recorded per unit for these people: [key, [[unit, [months]], ...]]
RECORDED = """
UNWIND $keys AS key
MATCH (:Subject {ns: $ns, key: key})-[m:IN_UNIT]->(u:AggUnit)
RETURN key, collect([u.id, m.months]) AS units
"""
# [ref, month, previous, people to add], in key order; a step no person takes any more goes
STEPS = """
UNWIND $rows AS r
MERGE (x:AggStep {ns: $ns, id: r[0] + '|' + toString(r[1]) + '|' + toString(r[2])})
ON CREATE SET x.ref = r[0], x.month = r[1], x.prev = r[2], x.people = 0
SET x.people = x.people + r[3]
WITH x WHERE x.people = 0
DELETE x
"""
UNIT_KEYS = """
UNWIND $ids AS id
MATCH (u:AggUnit {ns: $ns, id: id})-[:COUNTS_IN]->(x:AggKey)
RETURN id, collect([x.ref, x.rollup, x.key]) AS keys
"""
# a person's data events (of [since, until), when given), with what aggregates need to count them
FACTS = f"""
UNWIND $keys AS key
MATCH (e:Event {{ns: $ns, subject: key}})
WHERE e.kind IN $kinds AND ($since IS NULL OR e.occurred_at >= $since) AND ($until IS NULL OR e.occurred_at < $until)
RETURN e.event_id AS id, e.kind AS kind, {epoch_seconds("e.occurred_at")} AS s, e.occurred_at.nanosecond AS n,
       key AS subject, coalesce(e.subject_type, '') AS type,
       e.role AS role, coalesce(e.categories, []) AS categories, e.source AS source, e.purpose AS purpose,
       e.recipient AS recipient, [(e)-[:TRIGGERED]->(a:Alert) | a.alert_id] AS alerts
ORDER BY key, s, n, id
"""


def _months(delta: Delta) -> dict[str, dict[int, list[int]]]:
    """Per unit, per month, its 31 day counts."""
    out: dict[str, dict[int, list[int]]] = {}
    for (unit, day), n in delta.days.items():
        d = day_date(day)
        counts = out.setdefault(unit, {}).setdefault(d.year * 12 + d.month - 1, [0] * 31)
        counts[d.day - 1] += n
    return out


_FIRST_DAY, _LAST_DAY = day_of(datetime(1, 1, 2, tzinfo=UTC)), day_of(datetime(9999, 12, 30, tzinfo=UTC))


def _first_day(month: int) -> int:
    """The day (since 1970-01-01) a month starts on."""
    return day_of(datetime.combine(month_start(month), datetime.min.time(), UTC))


def register(tx: Any, ns: str, units: Iterable[Unit]) -> None:
    rows = [
        [u.id, u.kind, json.dumps(u.fields), [[ref, k[0], list(k[1])] for ref, k in sorted(u.keys.items())]]
        for u in sorted(units, key=lambda u: u.id)
    ]
    if rows:
        tx.run(REGISTER, rows=rows, ns=ns).consume()


def recorded(
    tx: Any, ns: str, people: Iterable[str], known: Mapping[str, Unit]
) -> tuple[dict[str, dict[str, set[int]]], list[Unit]]:
    """The months recorded per unit for each of these people, and their units not in ``known`` (read with their
    keys)."""
    keys = sorted(people)
    found: dict[str, dict[str, set[int]]] = {}
    for r in tx.run(RECORDED, keys=keys, ns=ns) if keys else ():
        found[r["key"]] = {unit: set(months) for unit, months in r["units"]}
    missing = sorted({u for us in found.values() for u in us} - set(known))
    units = []
    for r in tx.run(UNIT_KEYS, ids=missing, ns=ns) if missing else ():
        units.append(Unit(r["id"], "stored", (), {k[0]: (k[1], tuple(k[2])) for k in r["keys"]}))
    return found, units


def write_steps(tx: Any, ns: str, changes: Mapping[steps.Step, int]) -> None:
    rows = [list(r) for r in steps.rows(changes)]
    if rows:
        tx.run(STEPS, rows=rows, ns=ns).consume()


def write(
    tx: Any,
    ns: str,
    delta: Delta,
    added: Mapping[str, int],
    sign: int = 1,
    changes: Mapping[steps.Step, int] | None = None,
) -> None:
    """Add ``delta`` (``sign`` -1: take its events away; members are then left to the caller): units' events, spans
    and months, the people ``added`` per key, the new (person, unit) months and the ``changes`` of the steps;
    shared nodes in key order."""
    totals = delta.totals()
    months = _months(delta)
    rows = [
        [
            unit,
            sign * n,
            first,
            last,
            [[m, [sign * c for c in counts]] for m, counts in sorted(months[unit].items())],
        ]
        for unit, (n, first, last) in sorted(totals.items())
    ]
    if rows:
        tx.run(UNITS, rows=rows, ns=ns).consume()
    if added:
        tx.run(PEOPLE, rows=[[ref, n] for ref, n in sorted(added.items())], ns=ns).consume()
    if sign > 0 and delta.members:
        rows = sorted([person, unit, sorted(m)] for (unit, person), m in delta.members.items())
        rows.sort(key=lambda r: (r[1], r[0]))
        tx.run(MEMBERS, rows=rows, ns=ns).consume()
    if changes:
        write_steps(tx, ns, changes)


def _facts(records: Iterable[Any]) -> list[EventFacts]:
    out = []
    for r in records:
        categories = r["categories"]
        out.append(
            EventFacts(
                r["id"],
                r["kind"],
                from_epoch(r["s"], r["n"]),
                r["subject"],
                r["type"],
                r["role"],
                tuple(sorted(set(categories))),
                r["source"],
                r["purpose"],
                r["recipient"],
                tuple(sorted(r["alerts"])),
            )
        )
    return out


def facts(
    tx: Any, ns: str, people: Sequence[str], since: datetime | None = None, until: datetime | None = None
) -> list[EventFacts]:
    """The data events of these people in [since, until), each person's oldest first."""
    if not people:
        return []
    params = {"keys": list(people), "ns": ns, "kinds": _DATA_KINDS, "since": since, "until": until}
    return _facts(tx.run(FACTS, params))


_UNIT_MONTHS = """
UNWIND $ids AS id
MATCH (x:AggMonth {ns: $ns, unit: id})
RETURN id, x.month AS month, x.days AS days
"""
_SPANS = """
UNWIND $rows AS r
MATCH (u:AggUnit {ns: $ns, id: r[0]}) SET u.first_day = r[1], u.last_day = r[2]
"""
_DROP_EMPTY_MONTHS = """
UNWIND $ids AS id
MATCH (x:AggMonth {ns: $ns, unit: id}) WHERE all(d IN x.days WHERE d = 0)
DELETE x
"""
_DROP_MEMBERSHIP = "MATCH (:Subject {ns: $ns, key: $key})-[m:IN_UNIT]->() DELETE m"


def erase(tx: Any, ns: str, subject: str, at: datetime) -> None:
    """Take from the aggregates what an erasure of ``subject`` at ``at`` deletes (before its events go): the erased
    events' counts and spans, and the person's membership, written again from their events after ``at``."""
    mine = facts(tx, ns, [subject])
    if not mine:
        return
    at = at.astimezone(UTC)
    gone = facts_delta(f for f in mine if f.occurred_at <= at)
    kept = facts_delta(f for f in mine if f.occurred_at > at)
    before = facts_delta(mine)
    write(tx, ns, gone, {}, sign=-1)
    ids = sorted(gone.units)
    tx.run(_DROP_EMPTY_MONTHS, ids=ids, ns=ns).consume()
    spans: dict[str, tuple[int, int]] = {}
    for r in tx.run(_UNIT_MONTHS, ids=ids, ns=ns):
        days = [i for i, n in enumerate(r["days"]) if n > 0]
        if not days:
            continue
        start = _first_day(r["month"])
        lo, hi = start + days[0], start + days[-1]
        old = spans.get(r["id"])
        spans[r["id"]] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))
    tx.run(_SPANS, rows=[[u, *spans.get(u, (None, None))] for u in ids], ns=ns).consume()
    lost = before.refs(u for u, _ in before.members) - kept.refs(u for u, _ in kept.members)
    if lost:
        tx.run(PEOPLE, rows=[[ref, -1] for ref in sorted(lost)], ns=ns).consume()
    tx.run(_DROP_MEMBERSHIP, key=subject, ns=ns).consume()
    changes: dict[steps.Step, int] = {}
    steps.change(before.units, _by_unit(before), _by_unit(kept), changes)
    write_steps(tx, ns, changes)
    if kept.members:
        write(tx, ns, Delta(kept.units, {}, kept.members), {})


def _by_unit(delta: Delta) -> dict[str, set[int]]:
    """One person's months per unit in a delta of their events."""
    return {unit: months for (unit, _), months in delta.members.items()}


# -- reads -------------------------------------------------------------------------------------------------------
_UNITS_AND_KEYS = """
MATCH (u:AggUnit {ns: $ns})-[:COUNTS_IN]->(x:AggKey)
RETURN u.id AS unit, u.events AS events, u.first_day AS first, u.last_day AS last,
       collect([x.ref, x.rollup, x.key, x.people]) AS keys
"""


def _units(tx: Any, ns: str) -> dict[str, tuple[int, int | None, int | None, list[Any]]]:
    return {r["unit"]: (r["events"], r["first"], r["last"], r["keys"]) for r in tx.run(_UNITS_AND_KEYS, ns=ns)}


def totals(tx: Any, ns: str) -> list[AggregateRow]:
    """Every key's all-time counts, summed over its units."""
    acc: dict[str, list[Any]] = {}
    for events, first, last, keys in _units(tx, ns).values():
        if events <= 0:
            continue
        for ref, rollup, key, people in keys:
            a = acc.get(ref)
            if a is None:
                acc[ref] = [rollup, tuple(key), events, people, first, last]
            else:
                a[2] += events
                a[4], a[5] = min(a[4], first), max(a[5], last)
    return [AggregateRow(ref, a[0], a[1], a[2], a[3], a[4], a[5]) for ref, a in acc.items()]


_MONTHS_BETWEEN = """
MATCH (x:AggMonth {ns: $ns}) WHERE x.month >= $lo AND x.month <= $hi
RETURN x.unit AS unit, x.month AS month, x.days AS days
"""


def days(tx: Any, ns: str, first_day: int, end_day: int) -> list[AggregateRow]:
    """Per key, its events and first and last days within [first_day, end_day)."""
    lo, hi = max(first_day, _FIRST_DAY), min(end_day, _LAST_DAY)  # the range of dates
    lo_month, hi_month = month_of(day_date(lo)), month_of(day_date(hi - 1))
    per_unit: dict[str, list[int]] = {}
    for r in tx.run(_MONTHS_BETWEEN, lo=lo_month, hi=hi_month, ns=ns):
        start = _first_day(r["month"])
        for i, n in enumerate(r["days"]):
            day = start + i
            if n and lo <= day < hi:
                u = per_unit.get(r["unit"])
                if u is None:
                    per_unit[r["unit"]] = [n, day, day]
                else:
                    u[0] += n
                    u[1], u[2] = min(u[1], day), max(u[2], day)
    units = _units(tx, ns)
    acc: dict[str, list[Any]] = {}
    for unit, (n, first, last) in per_unit.items():
        for ref, rollup, key, _ in units.get(unit, (0, None, None, []))[3]:
            a = acc.get(ref)
            if a is None:
                acc[ref] = [rollup, tuple(key), n, first, last]
            else:
                a[2] += n
                a[3], a[4] = min(a[3], first), max(a[4], last)
    return [AggregateRow(ref, a[0], a[1], a[2], 0, a[3], a[4]) for ref, a in acc.items()]


_PEOPLE = """
MATCH (x:AggStep {ns: $ns}) WHERE x.month >= $lo AND x.month < $hi AND x.prev < $before
WITH x.ref AS ref, sum(x.people) AS people WHERE people > 0
MATCH (k:AggKey {ns: $ns, ref: ref}) WHERE $rollups IS NULL OR k.rollup IN $rollups
RETURN ref, people
"""


def people(tx: Any, ns: str, first_month: int, end_month: int, rollups: Sequence[str] | None) -> dict[str, int]:
    """Distinct people per key with a month in [first_month, end_month), from the steps (graph/aggregate_steps.py):
    what it reads grows with the keys and months of the period, not with its people."""
    params = {
        "ns": ns,
        "lo": first_month,
        "hi": end_month,
        "before": steps.before_bound(first_month),
        "rollups": list(rollups) if rollups is not None else None,
    }
    return {r["ref"]: r["people"] for r in tx.run(_PEOPLE, params)}


_MEMBERS = """
UNWIND $pairs AS p
MATCH (:AggKey {ns: $ns, ref: p[0]})<-[:COUNTS_IN]-(:AggUnit)<-[m:IN_UNIT]-(:Subject {ns: $ns, key: p[1]})
WHERE any(v IN m.months WHERE $lo <= v < $hi)
RETURN DISTINCT p[0] AS ref, p[1] AS person
"""


def members(
    tx: Any, ns: str, pairs: Sequence[tuple[str, str]], first_month: int, end_month: int
) -> set[tuple[str, str]]:
    rows = [list(p) for p in pairs]
    params = {"ns": ns, "lo": first_month, "hi": end_month, "pairs": rows}
    return {(r["ref"], r["person"]) for r in tx.run(_MEMBERS, params)} if rows else set()


_PERSONS = """
MATCH (s:Subject {ns: $ns})-[m:IN_UNIT]->(u:AggUnit)
WHERE any(v IN m.months WHERE $lo <= v < $hi)
  AND ($refs IS NULL OR EXISTS { (u)-[:COUNTS_IN]->(x:AggKey) WHERE x.ref IN $refs })
RETURN DISTINCT s.key AS key ORDER BY key
"""


def persons(tx: Any, ns: str, first_month: int, end_month: int, refs: Sequence[str] | None) -> list[str]:
    params = {"ns": ns, "lo": first_month, "hi": end_month, "refs": list(refs) if refs is not None else None}
    return [r["key"] for r in tx.run(_PERSONS, params)]


# -- rebuild (a store migrated from an older version) --------------------------------------------------------------
DROP_AGGREGATES = """
MATCH (n) WHERE n.ns = $ns AND (n:AggUnit OR n:AggKey OR n:AggMonth OR n:AggStep)
CALL (n) { DETACH DELETE n } IN TRANSACTIONS OF 5000 ROWS
"""
SET_SUBJECT_TYPES = """
MATCH (e:Event) WHERE e.ns = $ns AND e.subject_type IS NULL AND e.kind IN ['collected', 'used', 'shared']
CALL (e) {
  OPTIONAL MATCH (s:Subject {ns: e.ns, key: e.subject})
  SET e.subject_type = coalesce(s.type, '')
} IN TRANSACTIONS OF 10000 ROWS
"""
_ALL_PEOPLE = "MATCH (s:Subject {ns: $ns}) RETURN s.key AS key ORDER BY key"


def rebuild_page(tx: Any, ns: str, people: Sequence[str]) -> None:
    """The aggregates of these people's events, added (a rebuild's pass over disjoint people)."""
    delta = facts_delta(facts(tx, ns, people))
    register(tx, ns, delta.units.values())
    added: dict[str, int] = {}
    for ref, _ in delta.by_key().members:
        added[ref] = added.get(ref, 0) + 1
    write(tx, ns, delta, added, changes=steps.batch_changes(delta.units, {}, delta.members))


def all_people(tx: Any, ns: str) -> list[str]:
    return [r["key"] for r in tx.run(_ALL_PEOPLE, ns=ns)]


_ALL_UNITS = "MATCH (u:AggUnit {ns: $ns}) RETURN u.id AS id ORDER BY id"
DROP_STEPS = """
MATCH (x:AggStep) WHERE x.ns = $ns
CALL (x) { DELETE x } IN TRANSACTIONS OF 5000 ROWS
"""


def all_units(tx: Any, ns: str) -> dict[str, Unit]:
    """Every recorded unit, with its keys."""
    ids = [r["id"] for r in tx.run(_ALL_UNITS, ns=ns)]
    rows = tx.run(UNIT_KEYS, ids=ids, ns=ns) if ids else ()
    return {r["id"]: Unit(r["id"], "stored", (), {k[0]: (k[1], tuple(k[2])) for k in r["keys"]}) for r in rows}


def rebuild_steps_page(tx: Any, ns: str, people: Sequence[str], units: Mapping[str, Unit]) -> None:
    """Add the steps of these people, from the months recorded per (person, unit) (a pass of a rebuild over
    disjoint people)."""
    found, _ = recorded(tx, ns, people, units)
    changes: dict[steps.Step, int] = {}
    for months in found.values():
        steps.change(units, {}, months, changes)
    write_steps(tx, ns, changes)
