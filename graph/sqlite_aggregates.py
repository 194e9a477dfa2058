"""The SQLite store's flow aggregates (tables ``agg_units``, ``agg_unit_keys``, ``agg_keys``, ``agg_days``,
``agg_people``, ``agg_steps``; graph/aggregates.py and graph/aggregate_steps.py say what they count): a batch's
:class:`Delta` written inside the batch's transaction, what an erasure takes away, the rebuild of an older store,
and the reads ``graph.aggregate_reads`` composes."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Iterator, Mapping, Sequence
from datetime import datetime
from typing import Any

from graph import aggregate_steps as steps
from graph.aggregates import Delta, Unit, facts_delta
from graph.changes import EventFacts
from graph.sqlite_layout import parse_ts, rows_in, ts
from graph.store import AggregateRow

_FULL_YEAR = 0xFFF


def register(cur: sqlite3.Cursor, units: Iterable[Unit]) -> None:
    """Record units (and the keys they count in) that may not be recorded yet."""
    units = sorted(units, key=lambda u: u.id)
    if not units:
        return
    cur.executemany(
        "INSERT OR IGNORE INTO agg_units(unit, kind, fields, events) VALUES (?, ?, ?, 0)",
        [(u.id, u.kind, json.dumps(u.fields)) for u in units],
    )
    cur.executemany(
        "INSERT OR IGNORE INTO agg_unit_keys(unit, ref) VALUES (?, ?)", [(u.id, ref) for u in units for ref in u.keys]
    )
    keys = {ref: k for u in units for ref, k in u.keys.items()}
    cur.executemany(
        "INSERT OR IGNORE INTO agg_keys(ref, rollup, key, people) VALUES (?, ?, ?, 0)",
        [(ref, k[0], json.dumps(k[1])) for ref, k in sorted(keys.items())],
    )


def recorded(
    cur: sqlite3.Cursor, people: Iterable[str], known: Mapping[str, Unit]
) -> tuple[dict[str, dict[str, set[int]]], list[Unit]]:
    """The months recorded per unit for each of these people, and their units not in ``known`` (read with their
    keys)."""
    found: dict[str, dict[str, set[int]]] = {}
    sql = "SELECT person, unit, year, months FROM agg_people WHERE person IN ({marks})"
    for person, unit, year, mask in rows_in(cur, sql, sorted(people)):
        found.setdefault(person, {}).setdefault(unit, set()).update(steps.months_of(year, mask))
    missing = sorted({u for us in found.values() for u in us} - set(known))
    return found, unit_keys(cur, missing)


def unit_keys(cur: sqlite3.Cursor, ids: Sequence[str]) -> list[Unit]:
    """These units as recorded, with their keys."""
    keys: dict[str, dict[str, tuple[str, tuple[str, ...]]]] = {}
    sql = (
        "SELECT uk.unit, k.ref, k.rollup, k.key FROM agg_unit_keys uk JOIN agg_keys k ON k.ref = uk.ref"
        " WHERE uk.unit IN ({marks})"
    )
    for unit, ref, rollup, key in rows_in(cur, sql, ids):
        keys.setdefault(unit, {})[ref] = (rollup, tuple(json.loads(key)))
    return [Unit(unit, "stored", (), refs) for unit, refs in keys.items()]


def write(
    cur: sqlite3.Cursor, delta: Delta, added: Mapping[str, int], changes: Mapping[steps.Step, int] | None = None
) -> None:
    """Add ``delta``: its units' events, days and spans, its new (unit, person) months, ``added`` people per key
    (:meth:`Aggregator.people_added`) and the ``changes`` of the steps, each table in key order."""
    totals = delta.totals()
    cur.executemany(
        "UPDATE agg_units SET events = events + ?, first_day = min(coalesce(first_day, ?), ?),"
        " last_day = max(coalesce(last_day, ?), ?) WHERE unit = ?",
        [(n, first, first, last, last, unit) for unit, (n, first, last) in sorted(totals.items())],
    )
    cur.executemany(
        "INSERT INTO agg_days(unit, day, events) VALUES (?, ?, ?)"
        " ON CONFLICT(unit, day) DO UPDATE SET events = events + excluded.events",
        sorted((unit, day, n) for (unit, day), n in delta.days.items()),
    )
    cur.executemany(
        "UPDATE agg_keys SET people = people + ? WHERE ref = ?", [(n, ref) for ref, n in sorted(added.items())]
    )
    cur.executemany(
        "INSERT INTO agg_people(unit, person, year, months) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(unit, person, year) DO UPDATE SET months = months | excluded.months"
        " WHERE months | excluded.months != months",
        delta.member_rows(),
    )
    if changes:
        write_steps(cur, changes)


def write_steps(cur: sqlite3.Cursor, changes: Mapping[steps.Step, int]) -> None:
    rows = steps.rows(changes)
    cur.executemany(
        "INSERT INTO agg_steps(ref, month, prev, people) VALUES (?, ?, ?, ?)"
        " ON CONFLICT(month, ref, prev) DO UPDATE SET people = people + excluded.people",
        rows,
    )
    cur.executemany(
        "DELETE FROM agg_steps WHERE month = ? AND ref = ? AND prev = ? AND people = 0",
        [(m, ref, p) for ref, m, p, n in rows if n < 0],
    )


_FACTS = (
    "SELECT event_id, kind, occurred_at, subject, coalesce(subject_type, ''), role, categories, source, purpose,"
    " recipient FROM events"
)


def _facts(rows: Iterable[Sequence[object]], alerts: dict[str, list[str]]) -> Iterator[EventFacts]:
    for r in rows:
        event_id = str(r[0])
        yield EventFacts(
            event_id,
            str(r[1]),
            parse_ts(str(r[2])),
            str(r[3]),
            str(r[4]),
            str(r[5]),
            tuple(json.loads(str(r[6]))),
            r[7],  # type: ignore[arg-type]
            r[8],  # type: ignore[arg-type]
            r[9],  # type: ignore[arg-type]
            tuple(alerts.get(event_id, ())),
        )


def person_facts(cur: sqlite3.Cursor, subject: str) -> list[EventFacts]:
    """Every stored data event of one person, with the alerts each triggered."""
    alerts: dict[str, list[str]] = {}
    for aid, event_id in cur.execute("SELECT alert_id, event_id FROM alert_events WHERE subject = ?", (subject,)):
        alerts.setdefault(event_id, []).append(aid)
    rows = cur.execute(_FACTS + " WHERE subject = ? AND categories IS NOT NULL", (subject,)).fetchall()
    return list(_facts(rows, alerts))


def erase(cur: sqlite3.Cursor, subject: str, at: datetime) -> None:
    """Take from the aggregates what an erasure of ``subject`` at ``at`` deletes (before its events go): the erased
    events' counts and spans, and the person's membership, written again from their events after ``at``."""
    facts = person_facts(cur, subject)
    if not facts:
        return
    gone = facts_delta(f for f in facts if f.occurred_at <= at)
    kept = facts_delta(f for f in facts if f.occurred_at > at)
    before = facts_delta(facts)
    cur.executemany(
        "UPDATE agg_days SET events = events - ? WHERE unit = ? AND day = ?",
        sorted((n, unit, day) for (unit, day), n in gone.days.items()),
    )
    cur.executemany("DELETE FROM agg_days WHERE unit = ? AND day = ? AND events <= 0", sorted(gone.days))
    cur.executemany(
        "UPDATE agg_units SET events = events - ?, first_day = (SELECT min(day) FROM agg_days d WHERE d.unit = ?),"
        " last_day = (SELECT max(day) FROM agg_days d WHERE d.unit = ?) WHERE unit = ?",
        [(n, unit, unit, unit) for unit, (n, _, _) in sorted(gone.totals().items())],
    )
    lost = before.refs(u for u, _ in before.members) - kept.refs(u for u, _ in kept.members)
    cur.executemany("UPDATE agg_keys SET people = people - 1 WHERE ref = ?", [(ref,) for ref in sorted(lost)])
    cur.execute("DELETE FROM agg_people WHERE person = ?", (subject,))
    changes: dict[steps.Step, int] = {}
    steps.change(before.units, _by_unit(before), _by_unit(kept), changes)
    write(cur, Delta(kept.units, {}, kept.members), {}, changes)


def _by_unit(delta: Delta) -> dict[str, set[int]]:
    """One person's months per unit in a delta of their events."""
    return {unit: months for (unit, _), months in delta.members.items()}


def rebuild(cur: sqlite3.Cursor, people_per_pass: int = 2_000) -> None:
    """Compute every aggregate from the stored events (a store converted from an older version): people a few
    thousand at a time, so that each pass holds its people's whole membership (additive over disjoint people)."""
    for table in ("agg_steps", "agg_people", "agg_days", "agg_keys", "agg_unit_keys", "agg_units"):
        cur.execute(f"DELETE FROM {table}")  # noqa: S608 - fixed table names
    people = [r[0] for r in cur.execute("SELECT DISTINCT subject FROM events WHERE categories IS NOT NULL ORDER BY 1")]
    for i in range(0, len(people), people_per_pass):
        chunk = people[i : i + people_per_pass]
        alerts: dict[str, list[str]] = {}
        sql = "SELECT alert_id, event_id FROM alert_events WHERE subject IN ({marks})"
        for aid, event_id in rows_in(cur, sql, chunk):
            alerts.setdefault(event_id, []).append(aid)
        rows = list(rows_in(cur, _FACTS + " WHERE categories IS NOT NULL AND subject IN ({marks})", chunk))
        delta = facts_delta(_facts(rows, alerts))
        register(cur, delta.units.values())
        added: dict[str, int] = {}
        for ref, _ in delta.by_key().members:  # each pass's people are new to every key they reach
            added[ref] = added.get(ref, 0) + 1
        write(cur, delta, added, steps.batch_changes(delta.units, {}, delta.members))


def rebuild_steps(cur: sqlite3.Cursor) -> None:
    """Compute the steps from the months kept per (unit, person) (a store converted from version 3 to 5)."""
    cur.execute("DELETE FROM agg_steps")
    units = {u.id: u for u in unit_keys(cur, [r[0] for r in cur.execute("SELECT unit FROM agg_units")])}
    changes: dict[steps.Step, int] = {}
    person, mine = None, {}  # type: ignore[var-annotated]
    for who, unit, year, mask in cur.execute("SELECT person, unit, year, months FROM agg_people ORDER BY person"):
        if who != person:
            if mine:
                steps.change(units, {}, mine, changes)
            person, mine = who, {}
        mine.setdefault(unit, set()).update(steps.months_of(year, mask))
    if mine:
        steps.change(units, {}, mine, changes)
    write_steps(cur, changes)


# -- reads -------------------------------------------------------------------------------------------------------
def _row(r: Sequence[Any]) -> AggregateRow:
    return AggregateRow(str(r[0]), str(r[1]), tuple(json.loads(str(r[2]))), int(r[3]), int(r[4]), int(r[5]), int(r[6]))


def totals(db: sqlite3.Connection) -> list[AggregateRow]:
    sql = (
        "SELECT k.ref, k.rollup, k.key, u.events, k.people, u.first, u.last FROM (SELECT uk.ref, sum(u.events) AS"
        " events, min(u.first_day) AS first, max(u.last_day) AS last FROM agg_units u JOIN agg_unit_keys uk"
        " ON uk.unit = u.unit WHERE u.events > 0 GROUP BY uk.ref) u JOIN agg_keys k ON k.ref = u.ref"
    )
    return [_row(r) for r in db.execute(sql)]


def days(db: sqlite3.Connection, first_day: int, end_day: int) -> list[AggregateRow]:
    sql = (
        "SELECT k.ref, k.rollup, k.key, sum(d.events), 0, min(d.first), max(d.last) FROM (SELECT unit,"
        " sum(events) AS events, min(day) AS first, max(day) AS last FROM agg_days WHERE day >= ? AND day < ?"
        " AND events > 0 GROUP BY unit) d JOIN agg_unit_keys uk ON uk.unit = d.unit JOIN agg_keys k ON k.ref = uk.ref"
        " GROUP BY k.ref"
    )
    return [_row(r) for r in db.execute(sql, (first_day, end_day))]


def _month_condition(first_month: int, end_month: int) -> tuple[str, list[int]]:
    """A condition on (p.year, p.months) for rows with a month in [first_month, end_month), and its parameters."""
    y1, y2 = first_month // 12, (end_month - 1) // 12
    m1 = _FULL_YEAR & ~((1 << (first_month % 12)) - 1)
    m2 = (1 << ((end_month - 1) % 12 + 1)) - 1
    if y1 == y2:
        return "p.year = ? AND p.months & ? != 0", [y1, m1 & m2]
    return (
        "p.year >= ? AND p.year <= ? AND p.months & (CASE p.year WHEN ? THEN ? WHEN ? THEN ? ELSE 4095 END) != 0",
        [y1, y2, y1, m1, y2, m2],
    )


def people(db: sqlite3.Connection, first_month: int, end_month: int, rollups: Sequence[str] | None) -> dict[str, int]:
    """Distinct people per key with a month in [first_month, end_month), from the steps (graph/aggregate_steps.py):
    what it reads grows with the keys and months of the period, not with its people."""
    sql = "SELECT s.ref, sum(s.people) FROM agg_steps s"
    args: list[object] = []
    if rollups is not None:
        sql += f" JOIN agg_keys k ON k.ref = s.ref AND k.rollup IN ({','.join('?' * len(rollups))})"
        args += list(rollups)
    sql += " WHERE s.month >= ? AND s.month < ? AND s.prev < ? GROUP BY s.ref HAVING sum(s.people) > 0"
    args += [first_month, end_month, steps.before_bound(first_month)]
    return {str(ref): int(n) for ref, n in db.execute(sql, args)}  # noqa: S608 - placeholders only


def members(
    db: sqlite3.Connection, pairs: Sequence[tuple[str, str]], first_month: int, end_month: int
) -> set[tuple[str, str]]:
    wanted = set(pairs)
    where, params = _month_condition(first_month, end_month)
    sql = (
        "SELECT DISTINCT uk.ref, p.person FROM agg_people p JOIN agg_unit_keys uk ON uk.unit = p.unit"  # noqa: S608
        f" WHERE {where} AND p.person IN ({{marks}})"
    )
    people = sorted({p for _, p in pairs})
    out: set[tuple[str, str]] = set()
    for i in range(0, len(people), 400):
        chunk = people[i : i + 400]
        sql_chunk = sql.format(marks=",".join("?" * len(chunk)))
        out.update(
            pair
            for pair in ((str(r[0]), str(r[1])) for r in db.execute(sql_chunk, [*params, *chunk]))
            if pair in wanted
        )
    return out


def persons(db: sqlite3.Connection, first_month: int, end_month: int, refs: Sequence[str] | None) -> list[str]:
    """The people with an event in a month of [first_month, end_month) (in a unit of these keys; None: any)."""
    where, params = _month_condition(first_month, end_month)
    args: list[object] = list(params)
    if refs is not None:
        where += f" AND p.unit IN (SELECT unit FROM agg_unit_keys WHERE ref IN ({','.join('?' * len(refs))}))"  # noqa: S608
        args += list(refs)
    sql = f"SELECT DISTINCT p.person FROM agg_people p WHERE {where} ORDER BY 1"  # noqa: S608 - fixed fragments
    return [str(r[0]) for r in db.execute(sql, args)]


def facts_of(
    db: sqlite3.Connection, people: Sequence[str], since: datetime | None, until: datetime | None, chunk: int = 200
) -> Iterator[list[EventFacts]]:
    """The data events of these people in [since, until), a chunk of people at a time (each person's oldest first),
    through the (subject, occurred_at) index."""
    lo, hi = ts(since) if since else "", ts(until) if until else "9999"
    for i in range(0, len(people), chunk):
        part = people[i : i + chunk]
        marks = ",".join("?" * len(part))
        alerts: dict[str, list[str]] = {}
        for aid, event_id in db.execute(
            f"SELECT alert_id, event_id FROM alert_events WHERE subject IN ({marks})"  # noqa: S608 - placeholders
            " AND occurred_at >= ? AND occurred_at < ?",
            (*part, lo, hi),
        ):
            alerts.setdefault(event_id, []).append(aid)
        rows = db.execute(
            _FACTS + f" WHERE subject IN ({marks}) AND occurred_at >= ? AND occurred_at < ?"  # noqa: S608
            " AND categories IS NOT NULL ORDER BY subject, occurred_at, event_id",
            (*part, lo, hi),
        ).fetchall()
        yield list(_facts(rows, alerts))
