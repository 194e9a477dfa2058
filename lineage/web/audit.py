"""The audit trail of per-person lookups: an append-only JSON Lines file of who looked up whom, each line MACed and
chained under a key kept apart from it, with a signed head (see lineage/web/audit_chain.py)."""

from __future__ import annotations

import copy
import fcntl
import json
import os
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from pydantic import Field

from lineage.audit_actions import ACTIONS
from lineage.web import audit_chain as chain
from lineage.web.audit_chain import AuditBroken, AuditTorn, AuditTrailError, Head
from lineage.web.tokens import Principal
from schemas.base import Frozen

__all__ = ["AuditBroken", "AuditEntry", "AuditLog", "AuditTorn", "AuditTrailError", "AuditVerification"]

_TAIL = 65_536  # an entry is far shorter; the last line is always within this many bytes of the end
_NEAR = 4_096  # read first: an entry is ~400 bytes


class AuditEntry(Frozen):
    """One recorded lookup or action: who, when, which subject (by pseudonym), what was returned (as counts)."""

    seq: int = Field(description="Position in the trail, from 1.")
    at: datetime = Field(description="When the lookup was answered (UTC).")
    actor: str = Field(description="Name of the API token used.")
    role: str = Field(description="Role of that token (dpo, auditor, service).")
    action: str = Field(
        description="What was done: one of lineage.audit_actions.ACTIONS (who-has, subject-alerts, report:access, "
        "notify-art19, notice-ack, ...; GET /api/vocabulary lists them)."
    )
    endpoint: str = Field(description="Method and route template of the request (no identifiers in it).")
    client: str = Field(description="'page' when the web page asked, 'api' otherwise.")
    subject: str | None = Field(default=None, description="Pseudonym of the person looked up (never the raw id).")
    target: str | None = Field(default=None, description="Non-personal object of an action (e.g. an alert id).")
    returned: dict[str, int] = Field(description="What was returned, as counts (e.g. categories, recipients).")
    prev: str = Field(
        description="MAC of the previous line (for a line written before the trail had a key: SHA-256 of it)."
    )
    mac: str | None = Field(
        default=None,
        description="HMAC-SHA256 of this line (without this member) under the audit key; none on lines written "
        "before the trail had a key.",
    )


class AuditVerification(Frozen):
    """Result of checking the trail: every line's MAC and chain, and the trail against its signed head."""

    ok: bool = Field(description="True when every line verifies and the trail is as long as its head records.")
    entries: int = Field(description="Number of entries that verify, from the first.")
    first_broken: int | None = Field(default=None, description="Line number of the first entry that does not verify.")
    problem: str | None = Field(default=None, description="What is wrong, and what to do (no personal data).")
    legacy_entries: int = Field(
        default=0,
        description="Entries written before the trail had a key, checked by their unkeyed SHA-256 chain only: an edit "
        "made to them before the first keyed entry cannot show.",
    )
    head_entries: int | None = Field(default=None, description="The entry count the signed head records.")
    last_mac: str | None = Field(
        default=None, description="The last entry's MAC: record it elsewhere to detect a rollback of trail and head."
    )


@dataclass
class _Pending:
    """An entry waiting to be appended (:meth:`AuditLog.record`), then what became of it."""

    who: Principal
    action: str
    endpoint: str
    returned: dict[str, int]
    subject: str | None
    target: str | None
    client: str
    at: datetime = datetime.min
    done: bool = False
    entry: AuditEntry | None = None
    error: BaseException | None = None

    def outcome(self) -> AuditEntry:
        """The entry as appended, or the error that kept its group from the trail (raised anew, a copy per
        caller: the group's callers are on different threads)."""
        if self.error is not None:
            raise copy.copy(self.error)
        assert self.entry is not None
        return self.entry


@dataclass(frozen=True)
class RepairResult:
    """What ``lineage audit repair`` did."""

    quarantined: Path | None  # where an incomplete last line was moved
    quarantined_bytes: int
    new_head: bool
    verification: AuditVerification


class AuditLog:
    """Append-only JSON Lines file; safe for several threads and processes (an exclusive lock around each append).

    Each line carries the MAC of the line before it and its own MAC under ``key``; ``head`` (a file kept apart from
    the trail) records the number of entries and the last MAC, signed with the same key. Editing or removing a line,
    rebuilding the chain without the key, or cutting lines off the end all show in :meth:`verify`, and
    :meth:`record` refuses to append to such a trail (AuditBroken) or to one ending in an incomplete line
    (AuditTorn). A trail written before it had a key is continued after its unkeyed chain is checked. The files are
    created with mode 0600.
    """

    def __init__(self, path: Path, key: bytes, head: Path) -> None:
        self.path = path
        self.head_path = head
        self._key = key
        self._lock = threading.Lock()  # one writer of this process at a time (flock keeps out other processes)
        self._queue = threading.Condition()  # guards _waiting and _writing
        self._waiting: list[_Pending] = []
        self._writing = False

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
        """Append one entry; return it once it is on disk. Raises OSError if the trail cannot be written and
        AuditTrailError if it does not verify (then nothing is answered).

        Group commit: entries recorded by several threads at once are appended together, each still chained to the
        one before it, with one write, one fsync and one new head for the group; a caller returns only once the
        group holding its entry is on disk, and a failure is every caller's of that group.
        """
        if action not in ACTIONS:  # a new action belongs in the one table of them, which the console's filter offers
            raise ValueError(f"unknown audit action {action!r}: add it to lineage.audit_actions.ACTIONS")
        mine = _Pending(who, action, endpoint, returned, subject, target, client)
        with self._queue:
            mine.at = datetime.now(UTC)  # taken in queue order: the trail's order is the order of its times
            self._waiting.append(mine)
            while not mine.done and self._writing:
                self._queue.wait()
            if mine.done:
                return mine.outcome()
            group, self._waiting, self._writing = self._waiting, [], True
        try:
            self._append(group)
        except BaseException as exc:
            for pending in group:
                pending.error = exc
            raise
        finally:
            with self._queue:
                for pending in group:
                    pending.done = True
                self._writing = False
                self._queue.notify_all()
        return mine.outcome()

    def _append(self, group: list[_Pending]) -> None:
        """Append a group of entries, chained in order, with one write, one fsync and one head."""
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                prev, seq = self._tail(fd)
                lines = []
                for pending in group:
                    entry = AuditEntry(
                        seq=seq,
                        at=pending.at,
                        actor=pending.who.name,
                        role=pending.who.role.value,
                        action=pending.action,
                        endpoint=pending.endpoint,
                        client=pending.client,
                        subject=pending.subject,
                        target=pending.target,
                        returned=pending.returned,
                        prev=prev,
                    )
                    line, mac = chain.sealed(entry.model_dump_json(exclude={"mac"}), self._key)
                    lines.append(line)
                    pending.entry = entry.model_copy(update={"mac": mac})
                    prev, seq = mac, seq + 1
                data = ("\n".join(lines) + "\n").encode("utf-8")
                while data:
                    data = data[os.write(fd, data) :]
                os.fsync(fd)
                chain.write_head(self.head_path, self._key, Head(seq - 1, prev))
            finally:
                os.close(fd)  # also releases the lock

    def _tail(self, fd: int) -> tuple[str, int]:
        """The ``prev`` and ``seq`` of the next entry, once the trail's end agrees with its head."""
        last = _last_line(fd)
        if last is None:
            if chain.read_head(self.head_path, self._key) is not None:
                raise AuditBroken(
                    f"the audit trail {self.path} is empty but its head {self.head_path} records entries: it was "
                    "emptied, or that head is another trail's (two trails need two heads: LINEAGE_AUDIT_HEAD)"
                )
            return chain.GENESIS, 1
        line, complete = last
        if not complete:
            raise AuditTorn(
                f"the audit trail {self.path} ends in an incomplete line (a write cut short); lookups are refused "
                "until it is repaired: lineage audit repair"
            )
        mac, right = chain.mac_of(line, self._key)
        head = chain.read_head(self.head_path, self._key)
        if mac is not None and right and head is not None and head.last_mac == mac:
            try:
                return mac, int(json.loads(line)["seq"]) + 1
            except (ValueError, KeyError, TypeError):  # pragma: no cover - a right MAC is on a line we wrote
                pass
        # anything else (the first keyed entry after unkeyed ones, a crash between a line and its head, tampering)
        # takes the whole walk, which says what is wrong
        found = self._verify()  # this writer holds the trail's lock already
        if not found.ok:
            raise AuditBroken(f"the audit trail {self.path} does not verify: {found.problem}")
        walked = chain.walk(self._raw_lines(), self._key)
        return walked.prev, walked.last_seq + 1

    def _raw_lines(self) -> Iterator[tuple[str, bool]]:
        """Each non-blank line and whether it ends with a newline (only the last one may not)."""
        try:
            data = self.path.read_bytes()
        except FileNotFoundError:
            return
        pieces = data.split(b"\n")
        for i, piece in enumerate(pieces):
            text = piece.decode("utf-8", errors="replace")
            if text.strip():
                yield text, i < len(pieces) - 1

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
        """Matching entries, newest first (at most ``limit``). AuditTorn when the trail ends in an incomplete line,
        AuditBroken when a line is not an entry."""
        out: list[AuditEntry] = []
        for n, (line, complete) in enumerate(self._raw_lines(), start=1):
            if not complete:
                raise AuditTorn(
                    f"the audit trail {self.path} ends in an incomplete line (a write cut short); it is not read until "
                    "it is repaired: lineage audit repair"
                )
            try:
                e = AuditEntry.model_validate_json(line)
            except ValueError:
                where = f"line {n} of the audit trail {self.path}"
                raise AuditBroken(f"{where} is not an entry: lineage audit verify") from None
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
        """Walk the trail from the first line, then compare it with its head: both read under a shared lock on the
        trail, which a writer holds exclusively from its lines to its head (a write landing between the two reads
        would otherwise look like entries removed)."""
        fd = os.open(self.path, os.O_RDONLY) if self.path.exists() else None
        try:
            if fd is not None:
                fcntl.flock(fd, fcntl.LOCK_SH)
            return self._verify()
        finally:
            if fd is not None:
                os.close(fd)  # also releases the lock

    def _verify(self) -> AuditVerification:
        """:meth:`verify` for a caller that holds the trail's lock (a writer checking the trail it appends to: a
        shared lock asked for beside its own exclusive one would wait for ever)."""
        found = chain.walk(self._raw_lines(), self._key)
        try:
            head = chain.read_head(self.head_path, self._key)
        except AuditBroken as exc:
            return self._verification(found, None, found.problem or str(exc), found.first_broken)
        problem = found.problem or chain.against_head(found, head, self.head_path)
        first_broken = found.first_broken
        if problem is not None and first_broken is None:
            if found.last_mac is None and head is not None:
                first_broken = 1
            elif head is None or head.entries > found.entries:
                first_broken = found.entries + 1
            else:
                first_broken = found.entries
        return self._verification(found, head, problem, first_broken)

    @staticmethod
    def _verification(
        found: chain.Walk, head: Head | None, problem: str | None, first_broken: int | None
    ) -> AuditVerification:
        return AuditVerification(
            ok=problem is None,
            entries=found.entries,
            first_broken=first_broken,
            problem=problem,
            legacy_entries=found.legacy,
            head_entries=head.entries if head is not None else None,
            last_mac=found.last_mac,
        )

    def repair(self, *, new_head: bool = False) -> RepairResult:
        """Move an incomplete last line to a quarantine file beside the trail (``<trail>.torn-<UTC time>``, 0600)
        and, with ``new_head``, sign a head for the trail as it is when the head is missing or unreadable. Nothing
        else is changed: a trail that still does not verify is evidence, for a person to look at."""
        quarantined, size, wrote_head = None, 0, False
        with self._lock:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
                data = os.pread(fd, os.fstat(fd).st_size, 0)
                keep = data.rfind(b"\n") + 1
                if data[keep:].strip():
                    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
                    quarantined = self.path.with_name(f"{self.path.name}.torn-{stamp}")
                    qfd = os.open(quarantined, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                    try:
                        os.write(qfd, data[keep:])
                        os.fsync(qfd)
                    finally:
                        os.close(qfd)
                    size = len(data) - keep
                    os.ftruncate(fd, keep)
                    os.fsync(fd)
                if new_head:
                    try:
                        head = chain.read_head(self.head_path, self._key)
                    except AuditBroken:
                        head = None
                    found = chain.walk(self._raw_lines(), self._key)
                    if head is None and found.problem is None and found.last_mac is not None:
                        chain.write_head(self.head_path, self._key, Head(found.last_seq, found.last_mac))
                        wrote_head = True
            finally:
                os.close(fd)
        return RepairResult(quarantined, size, wrote_head, self.verify())


def _last_line(fd: int) -> tuple[str, bool] | None:
    """The last non-blank line and whether it ends with a newline.

    Reads the last :data:`_NEAR` bytes first, and the last :data:`_TAIL` only when no whole line is in them.
    """
    size = os.fstat(fd).st_size
    if size == 0:
        return None
    start = max(0, size - _NEAR)
    found = _last_piece(os.pread(fd, size - start, start), whole=start > 0)
    if found is None and start > 0:
        start = max(0, size - _TAIL)
        found = _last_piece(os.pread(fd, size - start, start), whole=False)
    return found


def _last_piece(data: bytes, *, whole: bool) -> tuple[str, bool] | None:
    """The last non-blank piece of ``data`` between newlines and whether a newline follows it; with ``whole``, the
    first piece (which may be the end of a line that began before ``data``) does not count."""
    pieces = data.decode("utf-8", errors="replace").split("\n")
    for i in range(len(pieces) - 1, 0 if whole else -1, -1):
        if pieces[i].strip():
            return pieces[i], i < len(pieces) - 1  # a newline follows it
    return None
