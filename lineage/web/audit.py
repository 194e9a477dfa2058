"""The audit trail of per-person lookups: an append-only, hash-chained JSON Lines file of who looked up whom."""

from __future__ import annotations

import fcntl
import hashlib
import json
import os
import threading
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from pathlib import Path

from pydantic import BaseModel, ConfigDict, Field

from lineage.web.tokens import Principal
from reports.escaping import csv_text

GENESIS = "0" * 64
_TAIL = 65_536  # an entry is far shorter; the last line is always within this many bytes of the end


class AuditEntry(BaseModel):
    """One recorded lookup or action: who, when, which subject (by pseudonym), what was returned (as counts)."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    seq: int = Field(description="Position in the trail, from 1.")
    at: datetime = Field(description="When the lookup was answered (UTC).")
    actor: str = Field(description="Name of the API token used.")
    role: str = Field(description="Role of that token (dpo, auditor, service).")
    action: str = Field(
        description="What was done: who-has, subject-alerts, report:access, report:art19, alert-ack, audit-query."
    )
    endpoint: str = Field(description="Method and route template of the request (no identifiers in it).")
    client: str = Field(description="'page' when the web page asked, 'api' otherwise.")
    subject: str | None = Field(default=None, description="Pseudonym of the person looked up (never the raw id).")
    target: str | None = Field(default=None, description="Non-personal object of an action (e.g. an alert id).")
    returned: dict[str, int] = Field(description="What was returned, as counts (e.g. categories, recipients).")
    prev: str = Field(description="SHA-256 of the previous line of the file (a chain: edits and deletions show).")


class AuditVerification(BaseModel):
    """Result of checking the hash chain of the trail."""

    model_config = ConfigDict(frozen=True, extra="forbid")
    ok: bool = Field(description="True when every line chains to the one before it.")
    entries: int = Field(description="Number of entries read.")
    first_broken: int | None = Field(default=None, description="Line number of the first entry whose chain breaks.")


def _line_hash(line: str) -> str:
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


class AuditLog:
    """Append-only JSON Lines file; safe for several threads and processes (an exclusive lock around each append).

    Each line stores the SHA-256 of the line before it, so removing or editing a line breaks the chain
    (:meth:`verify`). The file is created with mode 0600.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(
        self,
        who: Principal,
        *,
        action: str,
        endpoint: str,
        returned: dict[str, int],
        subject: str | None = None,
        target: str | None = None,
        client: str = "api",
    ) -> AuditEntry:
        """Append one entry; return it. Raises OSError if the trail cannot be written (then nothing is answered)."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                last = _last_line(fd)
                seq = json.loads(last)["seq"] + 1 if last else 1
                entry = AuditEntry(
                    seq=seq,
                    at=datetime.now(UTC),
                    actor=who.name,
                    role=who.role.value,
                    action=action,
                    endpoint=endpoint,
                    client=client,
                    subject=subject,
                    target=target,
                    returned=returned,
                    prev=_line_hash(last) if last else GENESIS,
                )
                os.write(fd, (entry.model_dump_json() + "\n").encode("utf-8"))
                os.fsync(fd)
            finally:
                os.close(fd)  # also releases the lock
        return entry

    def _lines(self) -> Iterator[str]:
        try:
            fh = self.path.open(encoding="utf-8")
        except FileNotFoundError:
            return
        with fh:
            for line in fh:
                if line.strip():
                    yield line.rstrip("\n")

    def entries(
        self,
        *,
        subject: str | None = None,
        actor: str | None = None,
        action: str | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        limit: int | None = None,
    ) -> list[AuditEntry]:
        """Matching entries, newest first (at most ``limit``)."""
        out: list[AuditEntry] = []
        for line in self._lines():
            e = AuditEntry.model_validate_json(line)
            if subject is not None and e.subject != subject:
                continue
            if actor is not None and e.actor != actor:
                continue
            if action is not None and e.action != action:
                continue
            if since is not None and e.at < since:
                continue
            if until is not None and e.at >= until:
                continue
            out.append(e)
        out.reverse()
        return out[:limit] if limit is not None else out

    def verify(self) -> AuditVerification:
        """Walk the chain from the first line."""
        prev, n = GENESIS, 0
        for n, line in enumerate(self._lines(), start=1):
            try:
                stated = json.loads(line)["prev"]
            except (ValueError, KeyError, TypeError):
                return AuditVerification(ok=False, entries=n, first_broken=n)
            if stated != prev:
                return AuditVerification(ok=False, entries=n, first_broken=n)
            prev = _line_hash(line)
        return AuditVerification(ok=True, entries=n)


def _last_line(fd: int) -> str | None:
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    start = max(0, size - _TAIL)
    chunk = os.pread(fd, size - start, start).decode("utf-8", errors="replace")
    lines = [x for x in chunk.split("\n") if x.strip()]
    return lines[-1] if lines else None


CSV_COLUMNS = ("seq", "at", "actor", "role", "action", "endpoint", "client", "subject", "target", "returned", "prev")


def to_csv(entries: Iterable[AuditEntry]) -> str:
    """Entries as CSV; ``returned`` as ``key=count`` pairs separated by ';'; a cell that starts like a spreadsheet
    formula is made text (a target, an alert id, is whatever was asked for)."""
    return csv_text(
        CSV_COLUMNS,
        (
            [
                e.seq,
                e.at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"),
                e.actor,
                e.role,
                e.action,
                e.endpoint,
                e.client,
                e.subject or "",
                e.target or "",
                ";".join(f"{k}={v}" for k, v in sorted(e.returned.items())),
                e.prev,
            ]
            for e in entries
        ),
        lineterminator="\n",
    )


def to_jsonl(entries: Iterable[AuditEntry]) -> str:
    """Entries as JSON Lines, one entry per line."""
    return "".join(e.model_dump_json() + "\n" for e in entries)
