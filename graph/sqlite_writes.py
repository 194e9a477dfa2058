"""The SQLite store's writes, inside the transaction ``SQLiteGraphStore.apply`` holds: a batch's events as rows,
erasures with their tombstones, events an erasure covers, the people, recipient and source catalogue, and alerts."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterable, Sequence
from typing import Any

from graph import sqlite_aggregates as aggregates
from graph.changes import ChangeSet, RecipientNode, Rel, SourceNode, received_pairs
from graph.sqlite_layout import EDGES, rows_in, ts
from graph.store import alert_id


def cutoffs(cur: sqlite3.Cursor, subjects: Iterable[str]) -> dict[str, list[tuple[str, str]]]:
    """The (erased_at, event_id) of the tombstones of these people, oldest first."""
    out: dict[str, list[tuple[str, str]]] = {}
    sql = "SELECT subject, erased_at, event_id FROM tombstones WHERE subject IN ({marks}) ORDER BY erased_at, event_id"
    for subject, at, event_id in rows_in(cur, sql, sorted(subjects)):
        out.setdefault(subject, []).append((at, event_id))
    return out


def suppress(cur: sqlite3.Cursor, cs: ChangeSet, tombstone: str) -> None:
    """An event an erasure covers: nothing about the person is kept, but the recipient it names is added to
    the erasure's Art. 19 list with the categories it received (a disclosure learnt of late must be notified too;
    a tombstone of an older file, which kept no categories, keeps none), and the recipient and source catalogue
    (no personal data) is kept as in-order delivery would have left it."""
    upsert_catalogue(cur, [(cs, ts(cs.event.occurred_at))], seen_event="")  # as erase() leaves it
    if cs.recipient is None:
        return
    rid = cs.recipient.id
    current, kept = cur.execute(
        "SELECT recipients, received FROM tombstones WHERE event_id = ?", (tombstone,)
    ).fetchone()
    recipients = set(json.loads(current))
    if rid not in recipients:
        updated = json.dumps(sorted(recipients | {rid}))
        cur.execute("UPDATE tombstones SET recipients = ? WHERE event_id = ?", (updated, tombstone))
    if kept is not None:
        pairs = {(r, c) for r, c in json.loads(kept)}
        more = pairs | {(rid, c) for c in cs.categories}
        if more != pairs:
            received = json.dumps([list(p) for p in received_pairs(more)])
            cur.execute("UPDATE tombstones SET received = ? WHERE event_id = ?", (received, tombstone))


def erase(cur: sqlite3.Cursor, cs: ChangeSet, now: str) -> bool:
    """Apply one erasure (see GraphStore): the tombstone with its Art. 19 recipients, then the deletions."""
    ev, er = cs.event, cs.erasure
    assert er is not None
    subject, at = er.subject, ts(er.occurred_at)
    cur.execute(
        "INSERT OR IGNORE INTO events(event_id, kind, occurred_at, emitted_by, subject, role, customer, applied_at)"
        " VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
        (ev.event_id, ev.kind, at, ev.emitted_by, subject, ev.role, ev.customer, now),
    )
    if cur.rowcount == 0:
        return False
    aggregates.erase(cur, subject, er.occurred_at)  # while the events it takes away are still there
    covered = EDGES.format(events="events", where="e.subject = ? AND e.occurred_at <= ?")
    shared = cur.execute(
        f"SELECT DISTINCT target, category FROM ({covered}) WHERE rel = ?",  # noqa: S608 - fixed fragments
        (subject, at, Rel.SHARED_WITH.value),
    ).fetchall()
    recipients = sorted(set(er.recipients) | {r for r, _ in shared})
    # what each recipient received, for the notices sent after the evidence is gone (unknown stays unknown)
    received = None if er.received is None else [list(p) for p in received_pairs([*shared, *er.received])]
    cur.execute(
        "INSERT INTO tombstones(event_id, subject, erased_at, applied_at, reason, recipients, received)"
        " VALUES (?, ?, ?, ?, ?, ?, ?)",
        (
            ev.event_id,
            subject,
            at,
            now,
            er.reason,
            json.dumps(recipients),
            None if received is None else json.dumps(received),
        ),
    )
    # the catalogue's tie-break between events of the same instant must not keep an erased event's id
    cur.execute(
        "UPDATE recipients SET seen_event = '' WHERE seen_event IN"
        " (SELECT event_id FROM events WHERE subject = ? AND occurred_at <= ? AND kind != 'erased')",
        (subject, at),
    )
    cur.execute("DELETE FROM alert_events WHERE subject = ? AND occurred_at <= ?", (subject, at))
    cur.execute("DELETE FROM consents WHERE subject = ? AND occurred_at <= ?", (subject, at))
    cur.execute("DELETE FROM events WHERE subject = ? AND occurred_at <= ? AND kind != 'erased'", (subject, at))
    cur.execute(
        "DELETE FROM subjects WHERE key = ? AND NOT EXISTS"
        " (SELECT 1 FROM events WHERE subject = ? AND kind != 'erased')",
        (subject, subject),
    )
    return True


def upsert_catalogue(
    cur: sqlite3.Cursor, named: Iterable[tuple[ChangeSet, str]], *, seen_event: str | None = None
) -> None:
    """The recipients and sources these events (with their timestamps) name: shared nodes, no personal data.

    A recipient's properties come from the latest event naming it (by occurred_at, then event id), whatever
    the order of delivery; a source's id determines its properties. ``seen_event`` replaces the event id kept
    for that order (an erased person's events leave ``""``, as :func:`erase` does).
    """
    recipients: dict[str, tuple[str, str, RecipientNode]] = {}
    sources: dict[str, SourceNode] = {}
    for cs, at in named:
        r = cs.recipient
        if r is not None:
            known = recipients.get(r.id)
            if known is None or (at, cs.event.event_id) > known[:2]:
                recipients[r.id] = (at, cs.event.event_id, r)
        if cs.source is not None:
            sources.setdefault(cs.source.id, cs.source)
    if recipients:
        cur.executemany(
            "INSERT INTO recipients(id, name, type, country, contact, seen_at, seen_event)"
            " VALUES (?, ?, ?, ?, ?, ?, ?) ON CONFLICT(id) DO UPDATE SET name = excluded.name,"
            " type = excluded.type, country = excluded.country, contact = excluded.contact,"
            " seen_at = excluded.seen_at, seen_event = excluded.seen_event"
            " WHERE (excluded.seen_at, excluded.seen_event) > (recipients.seen_at, recipients.seen_event)",
            [
                (r.id, r.name, r.type, r.country, r.contact, at, event_id if seen_event is None else seen_event)
                for at, event_id, r in recipients.values()
            ],
        )
    if sources:
        cur.executemany(
            "INSERT OR IGNORE INTO sources(id, type, name) VALUES (?, ?, ?)",
            [(s.id, s.type, s.name) for s in sources.values()],
        )


def known(cur: sqlite3.Cursor, event_ids: Sequence[str]) -> set[str]:
    """Which of these event ids are recorded (with ``cur``, so inside the caller's transaction)."""
    return {r[0] for r in rows_in(cur, "SELECT event_id FROM events WHERE event_id IN ({marks})", event_ids)}


class CategoriesText:
    """An event's categories as stored: a JSON array, each once, sorted; remembered, since few distinct tuples
    occur (at most ``limit`` kept)."""

    def __init__(self, limit: int = 4096) -> None:
        self._known: dict[tuple[str, ...], str] = {}
        self._limit = limit

    def __call__(self, categories: tuple[str, ...]) -> str:
        found = self._known.get(categories)
        if found is None:
            if len(self._known) >= self._limit:
                self._known.clear()
            found = self._known[categories] = json.dumps(sorted(set(categories)))
        return found


def write(
    cur: sqlite3.Cursor, fresh: Sequence[tuple[ChangeSet, str]], now: str, categories_json: CategoriesText
) -> None:
    """Record new events (distinct ids, none stored yet, none erased) and their changes, set-wise.

    Each event is one row holding what its edges follow from (see ``EDGES``); the people, recipients,
    sources and alerts of the batch are aggregated first, one row each, so each table takes one
    ``executemany``: the same outcome as applying the events one by one, in any order. Alerts merge their span
    (min first_seen, max last_seen) and add one to their count per finding; a subject's type comes from its
    latest event (the first of equally late ones).
    """
    if not fresh:
        return
    events: list[tuple[Any, ...]] = []
    subjects: dict[str, tuple[str, str]] = {}
    consents: list[tuple[str, str, str, str, str, str, str | None]] = []
    alerts: dict[str, list[Any]] = {}
    alert_evidence: list[tuple[str, str, str, str]] = []
    for cs, at in fresh:
        ev = cs.event
        if cs.consent is None:  # a data event: what its edges follow from (see EDGES)
            source, recipient = cs.source, cs.recipient
            lineage: tuple[str | None, ...] = (
                categories_json(cs.categories),
                source.id if source is not None else None,
                cs.purpose,
                recipient.id if recipient is not None else None,
                cs.subject.type,
            )
        else:
            lineage = (None, None, None, None, None)
            c = cs.consent
            consents.append(
                (
                    c.event_id,
                    c.subject,
                    c.kind,
                    ts(c.occurred_at),
                    json.dumps(c.purposes),
                    json.dumps(c.categories),
                    c.signal or None,
                )
            )
        events.append((ev.event_id, ev.kind, at, ev.emitted_by, ev.subject, ev.role, ev.customer, now, *lineage))
        # the latest event (by occurred_at) decides a subject's type: order-independent
        known = subjects.get(cs.subject.key)
        if known is None or at > known[1]:
            subjects[cs.subject.key] = (cs.subject.type, at)
        for f in cs.findings:
            aid = alert_id(*f.dedupe_key)
            row = alerts.get(aid)
            if row is None:
                alerts[aid] = [
                    aid,
                    f.rule,
                    f.severity,
                    f.category,
                    f.purpose,
                    f.recipient_id,
                    f.recipient_type,
                    1,
                    at,
                    at,
                    f.policy_version,
                    f.reason,
                    f.clause_section,
                    f.clause_text,
                ]
            else:  # as one by one: the first finding's text stays, the last one's policy version is kept
                row[7], row[8], row[9], row[10] = row[7] + 1, min(row[8], at), max(row[9], at), f.policy_version
            alert_evidence.append((aid, f.event_id, f.subject, at))
    events.sort()  # in key order: the event-id B-tree is walked forwards once instead of being hit at random
    cur.executemany(
        "INSERT INTO events(event_id, kind, occurred_at, emitted_by, subject, role, customer, applied_at,"
        " categories, source, purpose, recipient, subject_type) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)",
        events,
    )
    cur.executemany(
        "INSERT INTO subjects(key, type, seen_at) VALUES (?, ?, ?) ON CONFLICT(key) DO UPDATE SET"
        " type = excluded.type, seen_at = excluded.seen_at WHERE excluded.seen_at > subjects.seen_at",
        [(key, stype, at) for key, (stype, at) in subjects.items()],
    )
    upsert_catalogue(cur, fresh)
    if consents:
        cur.executemany(
            "INSERT OR IGNORE INTO consents(event_id, subject, kind, occurred_at, purposes, categories, signal)"
            " VALUES (?, ?, ?, ?, ?, ?, ?)",
            consents,
        )
    if alerts:
        cur.executemany(
            "INSERT INTO alerts(alert_id, rule, severity, status, category, purpose, recipient, recipient_type,"
            " count, first_seen, last_seen, policy_version, reason, clause_section, clause_text)"
            " VALUES (?, ?, ?, 'open', ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
            " ON CONFLICT(alert_id) DO UPDATE SET count = count + excluded.count,"
            " first_seen = min(first_seen, excluded.first_seen), last_seen = max(last_seen, excluded.last_seen),"
            " policy_version = excluded.policy_version",
            alerts.values(),
        )
        cur.executemany(
            "INSERT OR IGNORE INTO alert_events(alert_id, event_id, subject, occurred_at) VALUES (?, ?, ?, ?)",
            alert_evidence,
        )


def count_write(cur: sqlite3.Cursor) -> int:
    """Count one more write transaction in the store (meta ``writes``, in the transaction); return the count before
    it (0 for a store that counted none yet). Every batch the store writes counts, so that a writer can tell that
    exactly one other batch was committed since its own last one, and which (see
    :meth:`graph.sqlite_store.SQLiteGraphStore.receive_handoff`)."""
    row = cur.execute("SELECT v FROM meta WHERE k = 'writes'").fetchone()
    before = int(row[0]) if row is not None else 0
    cur.execute(
        "INSERT INTO meta(k, v) VALUES ('writes', ?) ON CONFLICT(k) DO UPDATE SET v = excluded.v", (str(before + 1),)
    )
    return before
