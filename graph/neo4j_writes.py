"""The Neo4j store's writes, run in the transaction its write hook holds (graph/neo4j_store.py): one batch's whole
transaction (:func:`apply_batch`), the people locked, the events merged (with their evidence) and their Data nodes,
the lineage statements of graph/neo4j_plan.py, erasures (graph/neo4j_erasure.py)."""

from __future__ import annotations

import hashlib
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import neo4j

from graph import aggregate_steps as steps
from graph import neo4j_aggregates as aggregates
from graph import neo4j_erasure as erasure
from graph import neo4j_plan as plan
from graph import neo4j_reads as reads
from graph.aggregator import Aggregator, Pending
from graph.changes import ChangeSet, EdgeKey
from graph.erasure import covering


def batch_key(ids: list[str]) -> str:
    """Names a batch by its events, so that a retry of the same events finds its earlier attempt's stamp."""
    return hashlib.sha256("\x1f".join(sorted(ids)).encode("utf-8")).hexdigest()


def lock_people(tx: neo4j.ManagedTransaction, namespace: str, keys: list[str]) -> None:
    """Take the write locks of these people (sorted keys) for the rest of ``tx``: see :data:`plan.LOCK_PEOPLE`."""
    tx.run(plan.LOCK_PEOPLE, keys=keys, ns=namespace).consume()


def events(tx: neo4j.ManagedTransaction, namespace: str, rows: list[list[Any]], token: str, now: datetime) -> set[str]:
    """Run :data:`plan.EVENTS` on rows of :func:`plan.event_rows`: the ids of the events this attempt (``token``)
    created."""
    return set(tx.run(plan.EVENTS, rows=rows, batch=token, now=now, ns=namespace).single(strict=True)[0])


def write(tx: neo4j.ManagedTransaction, namespace: str, statements: list[plan.Statement]) -> None:
    """Run the statements of :func:`plan.plan` for the events just created: :data:`plan.SUBJECTS` and
    :data:`plan.DATA` first, whose element ids the lineage edges' rows then take."""
    (subjects_query, subject_rows), (data_query, data_rows), rest = statements[0], statements[1], statements[2:]
    assert subjects_query == plan.SUBJECTS and data_query == plan.DATA
    if not subject_rows:  # no new event (each has its subject's row)
        return
    subjects = dict(tx.run(plan.SUBJECTS, rows=subject_rows, ns=namespace).single(strict=True)[0])
    data = dict(tx.run(plan.DATA, rows=data_rows, ns=namespace).single(strict=True)[0]) if data_rows else {}
    for query, rows in plan.resolve(rest, data, subjects):
        if rows:
            tx.run(query, rows=rows, ns=namespace).consume()


def landed(tx: neo4j.ManagedTransaction, namespace: str, ids: list[str], now: datetime) -> list[str]:
    """The events among ``ids`` an earlier attempt of this batch (applied at ``now``) committed."""
    record = tx.run(plan.LANDED, ids=ids, now=now, ns=namespace).single(strict=True)
    return list(record[0])


def erase(tx: neo4j.ManagedTransaction, namespace: str, cs: ChangeSet, token: str, now: datetime) -> bool:
    """Apply one erasure in ``tx``; False when its event was already processed."""
    er = cs.erasure
    assert er is not None
    if not events(tx, namespace, plan.event_rows([cs]), token, now):
        return False
    params = {
        "ns": namespace,
        "key": er.subject,
        "at": er.occurred_at.astimezone(UTC),
        "event_id": er.event_id,
        "now": now,
        "reason": er.reason,
        "known": list(er.recipients),
        "received": None if er.received is None else [erasure.received_pair(r, c) for r, c in er.received],
    }
    aggregates.erase(tx, namespace, er.subject, er.occurred_at)  # while the events it takes away are there
    for statement in erasure.ERASURE_STATEMENTS:
        tx.run(statement, params).consume()
    return True


@dataclass(frozen=True)
class Batch:
    """One batch as :func:`apply_batch` writes it: its erasures and other change sets, the ids of all its events, the
    people it writes about (``keys``: those of the other change sets; ``people``: all), its ``applied_at`` stamp, and
    whether an earlier attempt may have committed (``check``: a retry, or a batch whose commit was not seen)."""

    erasures: list[ChangeSet]
    others: list[ChangeSet]
    ids: list[str]
    keys: list[str]
    people: list[str]
    now: datetime
    check: bool


def apply_batch(
    tx: neo4j.ManagedTransaction,
    ns: str,
    batch: Batch,
    agg: Aggregator,
    registered: set[str],
    attempt: list[tuple[Pending, set[str]]],
    written: plan.Written,
    new: dict[str, set[EdgeKey]],
) -> tuple[list[str], list[str]]:
    """One attempt at a batch's transaction: the ids of the events applied and of those an erasure suppressed. What
    the flow aggregates need once the transaction commits is appended to ``attempt`` (``registered``: aggregate
    units known to be recorded), the lineage edges it wrote to ``new`` (to remember in ``written`` once it
    commits)."""
    now, people, others = batch.now, batch.people, batch.others
    token = uuid.uuid4().hex  # per attempt: a retry after a commit that did land finds its events present
    done = landed(tx, ns, batch.ids, now) if batch.check else []
    if not done:
        lock_people(tx, ns, people)  # before their tombstones are read
    tombstones: dict[str, list[tuple[datetime, str]]] = {}
    for r in tx.run(erasure.CUTOFFS, keys=batch.keys, ns=ns) if batch.keys else ():
        tombstones.setdefault(r["key"], []).append((reads.utc(r["at"]), r["event_id"]))
    if done:  # the earlier attempt committed: report what it did, write nothing
        found = set(done)
        return done, [
            cs.event.event_id
            for cs in others
            if cs.event.event_id not in found
            and covering(tombstones.get(cs.event.subject, ()), cs.event.occurred_at.astimezone(UTC)) is not None
        ]
    applied: list[str] = []
    for cs in batch.erasures:
        assert cs.erasure is not None
        if erase(tx, ns, cs, token, now):
            applied.append(cs.event.event_id)
            er = cs.erasure
            tombstones.setdefault(er.subject, []).append((er.occurred_at.astimezone(UTC), er.event_id))
    kept, covered = [], []
    for cs in others:
        tombstone = covering(tombstones.get(cs.event.subject, ()), cs.event.occurred_at.astimezone(UTC))
        if tombstone is None:
            kept.append(cs)
        else:
            covered.append((cs, tombstone))
    if covered:  # the catalogue as in-order delivery leaves it; late disclosures added to Art. 19 lists
        for query, statement_rows in plan.catalogue([cs for cs, _ in covered]):
            if statement_rows:
                tx.run(query, rows=statement_rows, ns=ns).consume()
        tx.run(erasure.LATE_RECIPIENTS, rows=erasure.late_recipients(covered), ns=ns).consume()
    suppressed = [cs.event.event_id for cs, _ in covered]
    fresh: list[ChangeSet] = []
    if kept:
        # the events with their evidence; only those this attempt created are new
        created = events(tx, ns, plan.event_rows(kept), token, now)
        fresh = [cs for cs in kept if cs.event.event_id in created]
        # their lineage edges, but those remembered as written for a person without a tombstone (only an erasure,
        # which leaves one, deletes edges: read above for every person of the batch, after their locks)
        known = {p: written.known(p) for p in {cs.subject.key for cs in fresh} if p not in tombstones}
        write(tx, ns, plan.plan(fresh, known, new))
        for person in tombstones:  # planned in full every time: nothing to remember
            new.pop(person, None)
        # the flow aggregates of the new events, last: they lock shared nodes (units, keys), in key order
        delta, pending = agg.delta(fresh, {k: len(t) for k, t in tombstones.items()})
        aggregates.register(tx, ns, [u for u in delta.units.values() if u.id not in registered])

        # the months recorded for the people of the batch's new memberships: whom a key gains, and the steps
        def recorded(people: set[str]) -> dict[str, dict[str, set[int]]]:
            found, units = aggregates.recorded(tx, ns, people, agg.units)
            agg.add_units(units)
            return found

        mine = agg.recorded_months(pending, {p for _, p in delta.members}, recorded)  # read: Neo4j trusts none
        read = {p: set(mine[p]) for p in pending.unseen}
        changes = steps.batch_changes(agg.units, mine, delta.members)
        aggregates.write(tx, ns, delta, agg.people_added(delta, pending, read), changes=changes)
        attempt.append((pending, set(delta.units)))
    about = {cs.subject.key for cs in fresh}
    bare = [key for key in people if key not in about]  # locked, but nothing new about them
    if bare:
        tx.run(plan.FORGET_BARE, keys=bare, ns=ns).consume()
    return applied + [cs.event.event_id for cs in fresh], suppressed
