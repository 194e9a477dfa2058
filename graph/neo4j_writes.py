"""The Neo4j store's writes, run in the transaction its write hook holds (graph/neo4j_store.py): the people locked,
the events merged (with their evidence) and their Data nodes, the lineage statements of graph/neo4j_plan.py,
erasures."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from datetime import UTC, datetime
from typing import Any

import neo4j

from graph import neo4j_aggregates as aggregates
from graph import neo4j_plan as plan
from graph.changes import ChangeSet


def batch_key(ids: list[str]) -> str:
    """Names a batch by its events, so that a retry of the same events finds its earlier attempt's stamp."""
    return hashlib.sha256("\x1f".join(sorted(ids)).encode("utf-8")).hexdigest()


def lock_people(tx: neo4j.ManagedTransaction, namespace: str, keys: list[str]) -> None:
    """Take the write locks of these people (sorted keys) for the rest of ``tx``: see :data:`plan.LOCK_PEOPLE`."""
    tx.run(plan.LOCK_PEOPLE, keys=keys, ns=namespace).consume()


def events(
    tx: neo4j.ManagedTransaction,
    namespace: str,
    rows: list[list[Any]],
    data_rows: list[list[Any]],
    token: str,
    now: datetime,
) -> tuple[set[str], dict[str, str]]:
    """Run :data:`plan.DATA` and :data:`plan.EVENTS` on rows of :func:`plan.event_rows`: the ids of the events this
    attempt (``token``) created, and the Data nodes' element ids by Data id."""
    nodes = dict(tx.run(plan.DATA, rows=data_rows, ns=namespace).single(strict=True)[0]) if data_rows else {}
    created = set(tx.run(plan.EVENTS, rows=rows, batch=token, now=now, ns=namespace).single(strict=True)[0])
    return created, nodes


def write(tx: neo4j.ManagedTransaction, namespace: str, statements: list[plan.Statement], data: dict[str, str]) -> None:
    """Run the statements of :func:`plan.plan` for the events just created, ``data`` the Data nodes' element ids."""
    (subjects_query, subject_rows), rest = statements[0], statements[1:]
    assert subjects_query == plan.SUBJECTS
    if not subject_rows:  # no new event (each has its subject's row)
        return
    subjects = dict(tx.run(plan.SUBJECTS, rows=subject_rows, ns=namespace).single(strict=True)[0])
    for query, rows in plan.resolve(rest, data, subjects):
        if rows:
            tx.run(query, rows=rows, ns=namespace).consume()


def landed(tx: neo4j.ManagedTransaction, namespace: str, ids: list[str], now: datetime) -> list[str]:
    """The events among ``ids`` an earlier attempt of this batch (applied at ``now``) committed."""
    record = tx.run(plan.LANDED, ids=ids, now=now, ns=namespace).single(strict=True)
    return list(record[0])


def merge_events(
    tx: neo4j.ManagedTransaction, namespace: str, batch: Sequence[ChangeSet], token: str, now: datetime
) -> tuple[set[str], dict[str, str]]:
    """MERGE the events (each data event its own evidence) and their Data nodes: the ids of the events this attempt
    created, and the element ids of the Data nodes (by Data id)."""
    rows, data_rows = plan.event_rows(batch)
    return events(tx, namespace, rows, data_rows, token, now)


def erase(tx: neo4j.ManagedTransaction, namespace: str, cs: ChangeSet, token: str, now: datetime) -> bool:
    """Apply one erasure in ``tx``; False when its event was already processed."""
    er = cs.erasure
    assert er is not None
    if not merge_events(tx, namespace, [cs], token, now)[0]:
        return False
    params = {
        "ns": namespace,
        "key": er.subject,
        "at": er.occurred_at.astimezone(UTC),
        "event_id": er.event_id,
        "now": now,
        "reason": er.reason,
        "known": list(er.recipients),
    }
    aggregates.erase(tx, namespace, er.subject, er.occurred_at)  # while the events it takes away are there
    for statement in plan.ERASURE_STATEMENTS:
        tx.run(statement, params).consume()
    return True
