"""The Neo4j store's Art. 19 notices: one ``Art19Notice`` node per notice sent, by pseudonym, in the store's
namespace and apart from the graph (an erasure does not touch it); its constraint is in graph/neo4j_schema.py."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import neo4j

from graph.neo4j_reads import utc
from schemas.notices import NoticeRecord, RequestKind

_FIELDS = "{.notice_id, .subject, .request, .kind, .recipient, .channel, .sent_at, .acknowledged_at, .acknowledged_by}"

RECORD = """
MERGE (n:Art19Notice {ns: $ns, notice_id: $notice_id})
ON CREATE SET n.subject = $subject, n.request = $request, n.kind = $kind, n.recipient = $recipient,
  n.channel = $channel, n.sent_at = $sent_at, n.acknowledged_at = $acknowledged_at,
  n.acknowledged_by = $acknowledged_by, n.created = true
WITH n, coalesce(n.created, false) AS created
REMOVE n.created
RETURN created
"""
READ = (
    "MATCH (n:Art19Notice {ns: $ns}) WHERE ($subject IS NULL OR n.subject = $subject)"
    " AND ($notice_id IS NULL OR n.notice_id = $notice_id)"
    f" RETURN n {_FIELDS} AS n ORDER BY n.sent_at, n.notice_id"
)
ACKNOWLEDGE = (
    "MATCH (n:Art19Notice {ns: $ns, notice_id: $notice_id}) WITH n, n.acknowledged_at IS NULL AS first"
    " SET n.acknowledged_at = CASE WHEN first THEN $at ELSE n.acknowledged_at END,"
    " n.acknowledged_by = CASE WHEN first THEN $by ELSE n.acknowledged_by END"
    f" RETURN n {_FIELDS} AS n"
)


def _notice(n: dict[str, Any]) -> NoticeRecord:
    return NoticeRecord(
        notice_id=n["notice_id"],
        subject=n["subject"],
        request=n["request"],
        kind=RequestKind(n["kind"]),
        recipient=n["recipient"],
        channel=n["channel"],
        sent_at=utc(n["sent_at"]),
        acknowledged_at=utc(n["acknowledged_at"]) if n["acknowledged_at"] is not None else None,
        acknowledged_by=n["acknowledged_by"],
    )


def record(tx: neo4j.ManagedTransaction, namespace: str, notice: NoticeRecord) -> bool:
    """MERGE the notice by id; whether this call created it."""
    params = notice.model_dump(mode="python")
    params["kind"] = notice.kind.value
    params["sent_at"] = notice.sent_at.astimezone(UTC)
    if notice.acknowledged_at is not None:
        params["acknowledged_at"] = notice.acknowledged_at.astimezone(UTC)
    return bool(tx.run(RECORD, params, ns=namespace).single(strict=True)["created"])


def read(
    tx: neo4j.ManagedTransaction, namespace: str, subject: str | None, notice_id: str | None
) -> list[NoticeRecord]:
    result = tx.run(READ, ns=namespace, subject=subject, notice_id=notice_id)
    return [_notice(r["n"]) for r in result]


def acknowledge(
    tx: neo4j.ManagedTransaction, namespace: str, notice_id: str, at: datetime, by: str | None
) -> NoticeRecord | None:
    record = tx.run(ACKNOWLEDGE, ns=namespace, notice_id=notice_id, at=at.astimezone(UTC), by=by).single()
    return _notice(record["n"]) if record is not None else None
