"""The SQLite store's Art. 19 notices: one row per notice sent, by pseudonym, in a table apart from the graph (an
erasure does not touch it). The table is made by the first notice kept, so that no store needs a migration for it
(nor a new schema version); a store without it has no notice."""

from __future__ import annotations

import sqlite3
from datetime import datetime
from typing import Any

from graph.sqlite_layout import parse_ts, ts
from schemas.notices import NoticeRecord, RequestKind

TABLE = """
CREATE TABLE IF NOT EXISTS art19_notices (
  notice_id TEXT PRIMARY KEY, subject TEXT NOT NULL, request TEXT NOT NULL, kind TEXT NOT NULL,
  recipient TEXT NOT NULL, channel TEXT NOT NULL, sent_at TEXT NOT NULL, acknowledged_at TEXT, acknowledged_by TEXT
);
CREATE INDEX IF NOT EXISTS art19_notices_subject ON art19_notices(subject, sent_at);
"""
_COLUMNS = "notice_id, subject, request, kind, recipient, channel, sent_at, acknowledged_at, acknowledged_by"


def _exists(db: sqlite3.Connection) -> bool:
    row = db.execute("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'art19_notices'").fetchone()
    return row is not None


def _record(row: Any) -> NoticeRecord:
    notice_id, subject, request, kind, recipient, channel, sent, acked, by = row
    return NoticeRecord(
        notice_id=notice_id,
        subject=subject,
        request=request,
        kind=RequestKind(kind),
        recipient=recipient,
        channel=channel,
        sent_at=parse_ts(sent),
        acknowledged_at=parse_ts(acked) if acked else None,
        acknowledged_by=by,
    )


def record(db: sqlite3.Connection, notice: NoticeRecord) -> bool:
    """Insert the notice unless its id is kept already (autocommit: one statement)."""
    if not _exists(db):
        db.executescript(TABLE)
    cur = db.execute(
        f"INSERT OR IGNORE INTO art19_notices({_COLUMNS}) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",  # noqa: S608
        (
            notice.notice_id, notice.subject, notice.request, notice.kind.value, notice.recipient, notice.channel,
            ts(notice.sent_at), ts(notice.acknowledged_at) if notice.acknowledged_at else None,
            notice.acknowledged_by,
        ),
    )  # fmt: skip
    return cur.rowcount > 0


def read(db: sqlite3.Connection, subject: str | None, notice_id: str | None) -> list[NoticeRecord]:
    """The notices of one person, or the one with this id, or all of them; oldest first."""
    if not _exists(db):
        return []
    sql = f"SELECT {_COLUMNS} FROM art19_notices WHERE 1 = 1"  # noqa: S608 - fixed fragments
    params: list[str] = []
    if subject is not None:
        sql, params = sql + " AND subject = ?", [*params, subject]
    if notice_id is not None:
        sql, params = sql + " AND notice_id = ?", [*params, notice_id]
    return [_record(row) for row in db.execute(sql + " ORDER BY sent_at, notice_id", params)]


def acknowledge(db: sqlite3.Connection, notice_id: str, at: datetime, by: str | None) -> NoticeRecord | None:
    """Set the acknowledgement when there is none yet; the notice as it is then."""
    if not _exists(db):
        return None
    db.execute(
        "UPDATE art19_notices SET acknowledged_at = ?, acknowledged_by = ?"
        " WHERE notice_id = ? AND acknowledged_at IS NULL",
        (ts(at), by, notice_id),
    )
    found = read(db, None, notice_id)
    return found[0] if found else None
