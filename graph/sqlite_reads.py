"""The SQLite store's reads: a person's lineage, the alerts and the counts, answered from its rows (the store
holds the lock and the snapshot around them: ``SQLiteGraphStore``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Iterator, Sequence
from datetime import datetime
from typing import Any

from graph.changes import Tombstone, received_pairs
from graph.sqlite_layout import BY_PERSON, EDGES, parse_ts, ts
from graph.store import ALERT_SAMPLE
from policies.consent import ConsentRecord, stored_signal
from schemas.answers import (
    Alert,
    CategoryLineage,
    PersonFlow,
    RecipientLineage,
    SourceRef,
    StoreStats,
    WhoHas,
)


def consent_record(row: Sequence[Any]) -> ConsentRecord:
    """A ConsentRecord from a row of (event_id, subject, kind, occurred_at, purposes, categories, signal)."""
    event_id, subject, kind, at, purposes, categories, signal = row
    return ConsentRecord(
        event_id,
        kind,
        subject,
        parse_ts(at),
        tuple(json.loads(purposes)),
        tuple(json.loads(categories)),
        stored_signal(kind, signal),
    )


def tombstone(row: Sequence[Any]) -> Tombstone:
    """A Tombstone from a row of its columns (sqlite_layout.TOMBSTONE_COLUMNS)."""
    event_id, subject, erased, applied, reason, recipients, received = row
    pairs = received_pairs(json.loads(received)) if received is not None else None
    return Tombstone(
        event_id, subject, parse_ts(erased), parse_ts(applied), reason, tuple(json.loads(recipients)), pairs
    )


# A person's data events grouped by everything their edges follow from (graph.changes.edge_keys: a HOLDS per listed
# category with the role, COLLECTED_FROM the source, USED_FOR the purpose, SHARED_WITH the recipient when there is a
# purpose): one row per group with its span and count, the categories expanded per group in Python, so that who-has
# costs the person's distinct flows rather than their events times their categories. An event is in one group, so
# the groups' counts add up per category and per flow. Measured (CPU per person, 200 people, SQLite file): 2.63 ->
# 1.91 ms at ~216 events a person, 9.03 -> 4.09 ms at ~684, against expanding every event into its edges here.
_GROUPS = """
SELECT e.categories, e.role, e.source, e.purpose, iif(e.purpose IS NULL, NULL, e.recipient),
       min(e.occurred_at), max(e.occurred_at), count(*)
FROM events e
WHERE e.subject = ? AND e.categories IS NOT NULL
GROUP BY 1, 2, 3, 4, 5
"""
# Per person (an IN list) and category, the earliest of their data events holding it (GraphStore.first_recorded):
# each person's whole history, read once.
FIRST_RECORDED = (
    "SELECT e.subject, c.value, min(e.occurred_at) FROM events e CROSS JOIN json_each(e.categories) c"
    " WHERE e.subject IN ({marks}) AND e.categories IS NOT NULL GROUP BY e.subject, c.value"
)
# The same for asked (person, category) pairs (a JSON list of [subject, category]): each walks the person's events in
# time order (events_person) and stops at the first holding the category, NULL when none does. Measured on 63,080
# events of 300 people (~210 each): 900 pairs of categories the people had, 3.6 ms; the whole-history read of the
# same people, 112 ms. A category the person never had reads their whole history, as before.
FIRST_RECORDED_ASKED = """
SELECT json_extract(w.value, '$[0]'), json_extract(w.value, '$[1]'),
       (SELECT e.occurred_at FROM events e
        WHERE e.subject = json_extract(w.value, '$[0]') AND e.categories IS NOT NULL
          AND EXISTS (SELECT 1 FROM json_each(e.categories) c WHERE c.value = json_extract(w.value, '$[1]'))
        ORDER BY e.occurred_at LIMIT 1)
FROM json_each(?) w
"""
# the disclosures' event ids, the only ids who-has lists (a recipient's evidence)
_SHARE_IDS = """
SELECT DISTINCT e.recipient, e.event_id FROM events e
WHERE e.subject = ? AND e.categories IS NOT NULL AND e.recipient IS NOT NULL AND e.purpose IS NOT NULL
  AND json_array_length(e.categories) > 0
"""


def who_has(db: sqlite3.Connection, subject: str) -> WhoHas | None:
    """Everything known of one person's data (by pseudonym), or None when the person is unknown."""
    row = db.execute("SELECT type FROM subjects WHERE key = ?", (subject,)).fetchone()
    if row is None:
        return None
    groups = db.execute(_GROUPS, (subject,)).fetchall()
    source_ids = sorted({g[2] for g in groups if g[2] is not None})
    recipient_ids = sorted({g[4] for g in groups if g[4] is not None})
    sources = {
        r[0]: SourceRef(type=r[1], name=r[2])
        for r in db.execute(
            f"SELECT id, type, name FROM sources WHERE id IN ({','.join('?' * len(source_ids))})",  # noqa: S608 - placeholders only
            source_ids,
        )
    }
    recipients = {
        r[0]: r
        for r in db.execute(
            "SELECT id, name, type, country, contact FROM recipients"  # noqa: S608 - placeholders only
            f" WHERE id IN ({','.join('?' * len(recipient_ids))})",
            recipient_ids,
        )
    }
    share_ids: dict[str, list[str]] = {}
    if recipient_ids:
        for rid, event_id in db.execute(_SHARE_IDS, (subject,)):
            share_ids.setdefault(rid, []).append(event_id)
    return _assemble(subject, row[0], groups, sources, recipients, share_ids)


def _span(spans: dict[Any, tuple[str, str]], key: Any, lo: str, hi: str) -> None:
    old = spans.get(key)
    spans[key] = (lo, hi) if old is None else (min(old[0], lo), max(old[1], hi))


Group = tuple[str, str, str | None, str | None, str | None, str, str, int]


def _per_category(groups: list[Group]) -> Iterator[Group]:
    """Each group once per category its events list (as a JSON array; once each, if one is listed twice)."""
    lists: dict[str, list[str]] = {}
    for categories, *rest in groups:
        listed = lists.get(categories)
        if listed is None:
            listed = lists[categories] = list(dict.fromkeys(json.loads(categories)))
        for category in listed:
            yield (category, *rest)  # type: ignore[misc]


def _assemble(
    subject: str,
    subject_type: str,
    groups: list[Group],
    sources: dict[str, SourceRef],
    recipients: dict[str, tuple[str, str, str, str | None, str | None]],
    share_ids: dict[str, list[str]],
) -> WhoHas:
    """The answer from one person's groups of events (see :data:`_GROUPS`)."""
    cats: dict[str, tuple[set[str], set[str], set[str]]] = {}  # roles, sources, purposes
    count: dict[str, int] = {}
    span: dict[str, tuple[str, str]] = {}
    recs: dict[str, tuple[set[str], set[str]]] = {}  # categories, purposes
    rspan: dict[str, tuple[str, str]] = {}
    flows: dict[tuple[str, str, str], int] = {}  # (category, purpose, recipient or '') -> events
    fspan: dict[tuple[str, str, str], tuple[str, str]] = {}
    for category, role, source, purpose, recipient, lo, hi, n in _per_category(groups):
        roles, srcs, purposes = cats.setdefault(category, (set(), set(), set()))
        roles.add(role)
        count[category] = count.get(category, 0) + n
        _span(span, category, lo, hi)
        if source is not None:
            srcs.add(source)
        if purpose is None:
            continue
        purposes.add(purpose)
        use = (category, purpose, "")
        flows[use] = flows.get(use, 0) + n
        _span(fspan, use, lo, hi)
        if recipient is None:
            continue
        share = (category, purpose, recipient)
        flows[share] = flows.get(share, 0) + n
        _span(fspan, share, lo, hi)
        r_cats, r_purposes = recs.setdefault(recipient, (set(), set()))
        r_cats.add(category)
        r_purposes.add(purpose)
        _span(rspan, recipient, lo, hi)
    categories = [
        CategoryLineage(
            category=key,
            roles=sorted(roles),
            sources=sorted((sources[s] for s in srcs if s in sources), key=lambda s: (s.type, s.name or "")),
            purposes=sorted(purposes),
            first_seen=parse_ts(span[key][0]),
            last_seen=parse_ts(span[key][1]),
            event_count=count[key],
        )
        for key, (roles, srcs, purposes) in sorted(cats.items())
    ]
    out_recipients = []
    for rid, (r_cats, r_purposes) in sorted(recs.items()):
        _, name, rtype, country, contact = recipients[rid]
        out_recipients.append(
            RecipientLineage(
                id=rid,
                name=name,
                type=rtype,
                country=country,
                contact=contact,
                categories=sorted(r_cats),
                purposes=sorted(r_purposes),
                first_shared_at=parse_ts(rspan[rid][0]),
                last_shared_at=parse_ts(rspan[rid][1]),
                event_ids=sorted(share_ids.get(rid, ())),
            )
        )
    person_flows = [
        PersonFlow(
            category=c, purpose=p, recipient=r or None, first_seen=parse_ts(fspan[c, p, r][0]),
            last_seen=parse_ts(fspan[c, p, r][1]), events=n,
        )
        for (c, p, r), n in sorted(flows.items())
    ]  # fmt: skip
    return WhoHas(
        subject=subject,
        subject_type=subject_type,
        categories=categories,
        recipients=out_recipients,
        flows=person_flows,
    )


def alerts(
    db: sqlite3.Connection,
    *,
    status: str | None = None,
    rule: str | None = None,
    since: datetime | None = None,
    subject: str | None = None,
) -> list[Alert]:
    """The alerts, newest last_seen first, filtered, each with its latest ALERT_SAMPLE events (see GraphStore)."""
    where, args = ["1 = 1"], []
    if status:
        where.append("a.status = ?")
        args.append(status)
    if rule:
        where.append("a.rule = ?")
        args.append(rule)
    if since:
        where.append("a.last_seen >= ?")
        args.append(ts(since))
    if subject:
        where.append("a.alert_id IN (SELECT alert_id FROM alert_events WHERE subject = ?)")
        args.append(subject)
    sql = (
        "SELECT a.alert_id, rule, severity, status, category, purpose, recipient, recipient_type, count,"  # noqa: S608
        " first_seen, last_seen, policy_version, reason, clause_section, clause_text, coalesce(k.people, 0)"
        " FROM alerts a LEFT JOIN agg_keys k ON k.ref = a.alert_id"
        f" WHERE {' AND '.join(where)} ORDER BY last_seen DESC, a.alert_id"
    )
    latest = (
        "SELECT event_id, subject FROM alert_events WHERE alert_id = ? ORDER BY occurred_at DESC, event_id DESC LIMIT ?"
    )
    rows = db.execute(sql, args).fetchall()
    # only the latest few events of each alert (the dispatcher asks often; the evidence can be huge)
    evidence = {r[0]: db.execute(latest, (r[0], ALERT_SAMPLE)).fetchall() for r in rows}
    out = []
    for r in rows:
        ev = evidence[r[0]]
        out.append(
            Alert(
                alert_id=r[0],
                rule=r[1],
                severity=r[2],
                status=r[3],
                category=r[4],
                purpose=r[5],
                recipient=r[6],
                recipient_type=r[7],
                count=r[8],
                first_seen=parse_ts(r[9]),
                last_seen=parse_ts(r[10]),
                policy_version=r[11],
                reason=r[12],
                clause_section=r[13],
                clause_text=r[14],
                event_ids=[e for e, _ in ev],
                subjects=list(dict.fromkeys(s for _, s in ev)),
                people=r[15],
            )
        )
    return out


def count(db: sqlite3.Connection) -> StoreStats:
    """The counts of ``stats()``, read in the caller's snapshot (and with its lock held)."""
    count = {
        t: db.execute(f"SELECT count(*) FROM {t}").fetchone()[0]  # noqa: S608 - fixed table names
        for t in ("events", "subjects", "recipients", "sources", "alerts")
    }
    # distinct edges: counted person by person (events in the order of the per-person index), so that only
    # one person's edges are kept apart at a time; evidence, the (edge, event) pairs: per data event and
    # category, HOLDS plus one per source, purpose and recipient with a purpose (the rule of EDGES,
    # counted without expanding; a row's categories are stored once each)
    (edges,) = db.execute(
        "SELECT coalesce(sum(n), 0) FROM (SELECT count(DISTINCT rel || char(31) || category || char(31)"  # noqa: S608 - fixed fragments
        " || target || char(31) || purpose) AS n"
        f" FROM ({EDGES.format(events=BY_PERSON, where='1 = 1')}) GROUP BY subject)"
    ).fetchone()
    (evidence,) = db.execute(
        "SELECT coalesce(sum(json_array_length(categories) * (1 + (source IS NOT NULL)"
        " + (purpose IS NOT NULL) + (recipient IS NOT NULL AND purpose IS NOT NULL))), 0)"
        " FROM events WHERE categories IS NOT NULL"
    ).fetchone()
    return StoreStats(
        events=count["events"],
        subjects=count["subjects"],
        recipients=count["recipients"],
        sources=count["sources"],
        edges=edges,
        evidence=evidence,
        alerts=count["alerts"],
    )
