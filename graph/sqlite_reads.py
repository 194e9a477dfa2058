"""The SQLite store's reads: a person's lineage, the alerts and the counts, answered from its rows (the store
holds the lock and the snapshot around them: ``SQLiteGraphStore``)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from graph.changes import Rel, Tombstone, received_pairs
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

# the relationship names as plain strings: an enum member's .value is a descriptor call, ~4 per evidence row
_HOLDS, _COLLECTED_FROM, _USED_FOR, _SHARED_WITH = (
    Rel.HOLDS.value,
    Rel.COLLECTED_FROM.value,
    Rel.USED_FOR.value,
    Rel.SHARED_WITH.value,
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


def who_has(db: sqlite3.Connection, subject: str) -> WhoHas | None:
    """Everything known of one person's data (by pseudonym), or None when the person is unknown."""
    row = db.execute("SELECT type FROM subjects WHERE key = ?", (subject,)).fetchone()
    if row is None:
        return None
    mine = EDGES.format(events="events", where="e.subject = ?")
    evidence = db.execute(
        f"SELECT rel, category, target, purpose, event_id, occurred_at FROM ({mine})",  # noqa: S608 - fixed
        (subject,),
    ).fetchall()
    source_ids = sorted({r[2] for r in evidence if r[0] == _COLLECTED_FROM})
    recipient_ids = sorted({r[2] for r in evidence if r[0] == _SHARED_WITH})
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
    return _assemble(subject, row[0], evidence, sources, recipients)


def _assemble(
    subject: str,
    subject_type: str,
    evidence: list[tuple[str, str, str, str, str, str]],
    sources: dict[str, SourceRef],
    recipients: dict[str, tuple[str, str, str, str | None, str | None]],
) -> WhoHas:
    """The answer from one person's evidence rows (rel, category, target, purpose, event id, occurred_at)."""
    cats: dict[str, dict[str, set[str]]] = {}
    span: dict[str, tuple[str, str]] = {}
    recs: dict[str, dict[str, set[str]]] = {}
    rspan: dict[str, tuple[str, str]] = {}
    flows: dict[tuple[str, str, str], tuple[str, str, set[str]]] = {}  # (category, purpose, recipient or '')

    def flow(key: tuple[str, str, str], event_id: str, at: str) -> None:
        lo, hi, ids = flows.get(key, (at, at, set()))
        ids.add(event_id)
        flows[key] = (min(lo, at), max(hi, at), ids)

    for rel, category, target, purpose, event_id, at in evidence:
        c = cats.setdefault(category, {"roles": set(), "sources": set(), "purposes": set(), "events": set()})
        if rel == _HOLDS:
            c["roles"].add(target)
            c["events"].add(event_id)
            lo, hi = span.get(category, (at, at))
            span[category] = (min(lo, at), max(hi, at))
        elif rel == _COLLECTED_FROM:
            c["sources"].add(target)
        elif rel == _USED_FOR:
            c["purposes"].add(target)
            flow((category, target, ""), event_id, at)
        elif rel == _SHARED_WITH:
            c["purposes"].add(purpose)
            flow((category, purpose, target), event_id, at)
            r = recs.setdefault(target, {"categories": set(), "purposes": set(), "events": set()})
            r["categories"].add(category)
            r["purposes"].add(purpose)
            r["events"].add(event_id)
            lo, hi = rspan.get(target, (at, at))
            rspan[target] = (min(lo, at), max(hi, at))
    categories = [
        CategoryLineage(
            category=key,
            roles=sorted(c["roles"]),
            sources=sorted((sources[s] for s in c["sources"] if s in sources), key=lambda s: (s.type, s.name or "")),
            purposes=sorted(c["purposes"]),
            first_seen=parse_ts(span[key][0]),
            last_seen=parse_ts(span[key][1]),
            event_count=len(c["events"]),
        )
        for key, c in sorted(cats.items())
    ]
    out_recipients = []
    for rid, r in sorted(recs.items()):
        _, name, rtype, country, contact = recipients[rid]
        out_recipients.append(
            RecipientLineage(
                id=rid,
                name=name,
                type=rtype,
                country=country,
                contact=contact,
                categories=sorted(r["categories"]),
                purposes=sorted(r["purposes"]),
                first_shared_at=parse_ts(rspan[rid][0]),
                last_shared_at=parse_ts(rspan[rid][1]),
                event_ids=sorted(r["events"]),
            )
        )
    person_flows = [
        PersonFlow(
            category=c, purpose=p, recipient=r or None, first_seen=parse_ts(lo), last_seen=parse_ts(hi), events=len(ids)
        )
        for (c, p, r), (lo, hi, ids) in sorted(flows.items())
    ]
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
