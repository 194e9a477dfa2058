"""The audit trail's integrity: every line carries an HMAC-SHA256, under a key kept apart from the file, of itself and
of the line before it (a chain), and a signed head kept apart from the file records how many entries there are and
the last MAC. An edit, a removed line and a rebuilt chain break the MACs (rebuilding needs the key); lines removed
from the end leave the trail shorter than its head."""

from __future__ import annotations

import hashlib
import hmac
import json
import os
import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

GENESIS = "0" * 64
_LINE_LABEL = b"privacy-lineage/audit-line/v2\n"
_HEAD_LABEL = b"privacy-lineage/audit-head/v2\n"
_FINGERPRINT_LABEL = b"privacy-lineage/audit-key-fingerprint/v2"
_MAC = re.compile(r',"mac":"([0-9a-f]{64})"\}$')


class AuditTrailError(Exception):
    """The audit trail cannot be appended to or read as it is; the message says why and what to do (no personal
    data: it names files and line numbers only)."""


class AuditTorn(AuditTrailError):
    """The trail ends in an incomplete line (a write cut short): quarantined until ``lineage audit repair``."""


class AuditBroken(AuditTrailError):
    """The trail or its head does not verify: nothing is appended until someone looks (``lineage audit verify``)."""


def fingerprint(key: bytes) -> str:
    """Names the key without revealing it (kept in the head, so a wrong key is told apart from tampering)."""
    return hmac.new(key, _FINGERPRINT_LABEL, hashlib.sha256).hexdigest()[:16]


def seal(body: str, key: bytes) -> str:
    """The line for ``body`` (a JSON object without ``mac``, ending in ``}``): the same object with its MAC last."""
    return sealed(body, key)[0]


def sealed(body: str, key: bytes) -> tuple[str, str]:
    """:func:`seal`'s line, and the MAC it carries."""
    mac = hmac.new(key, _LINE_LABEL + body.encode("utf-8"), hashlib.sha256).hexdigest()
    return f'{body[:-1]},"mac":"{mac}"}}', mac


def mac_of(line: str, key: bytes) -> tuple[str | None, bool]:
    """The MAC a line states (None for a line written before the trail had a key) and whether it is right.

    The MAC covers the line's exact bytes without its ``"mac"`` member, so nothing is re-serialised to check it.
    """
    found = _MAC.search(line)
    if found is None:
        return None, '"mac":' not in line  # a member named mac, unescaped, can only be the MAC
    body = line[: found.start()] + "}"
    expected = hmac.new(key, _LINE_LABEL + body.encode("utf-8"), hashlib.sha256).hexdigest()
    return found.group(1), hmac.compare_digest(expected, found.group(1))


def unkeyed_hash(line: str) -> str:
    """How a line written before the trail had a key is chained to (the trail's first format: plain SHA-256)."""
    return hashlib.sha256(line.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class Head:
    """The trail as last appended: how many entries, and the last entry's MAC."""

    entries: int
    last_mac: str

    def signature(self, key: bytes) -> str:
        return hmac.new(key, _HEAD_LABEL + f"{self.entries}\n{self.last_mac}".encode(), hashlib.sha256).hexdigest()


_SLOT = 256
"""Bytes of one copy of the head: the head file holds two (see :func:`write_head`)."""


def read_head(path: Path, key: bytes) -> Head | None:
    """The head at ``path`` (None when there is none); AuditBroken when it is unreadable, forged, or signed with
    another key.

    The file holds the head twice (:func:`write_head`); the copy recording more entries wins among those that
    verify, so a crash while one copy was written leaves the other. A head written as one copy (before the file held
    two) is read as it is.
    """
    try:
        raw = path.read_bytes()
    except FileNotFoundError:
        return None
    copies = list(dict.fromkeys([raw[:_SLOT], raw[_SLOT:]])) if len(raw) == 2 * _SLOT else [raw]  # once if alike
    found, problems = [], []
    for copy in copies:
        try:
            found.append(_head_of(copy, key, path))
        except AuditBroken as exc:
            problems.append(exc)
    if found:
        return max(found, key=lambda h: h.entries)  # max keeps the first of equals: the copy written first
    raise problems[0]


def _head_of(raw: bytes, key: bytes, path: Path) -> Head:
    try:
        doc = json.loads(raw.decode("utf-8"))
        head = Head(int(doc["entries"]), str(doc["last_mac"]))
        stated, key_id = str(doc["mac"]), str(doc["key"])
    except (ValueError, KeyError, TypeError):
        raise AuditBroken(f"the audit head {path} is unreadable; restore it from a copy") from None
    if key_id != fingerprint(key):
        raise AuditBroken(
            f"the audit head {path} was signed with another audit key (fingerprint {key_id}, this key's is "
            f"{fingerprint(key)}): use that key (LINEAGE_AUDIT_KEY or LINEAGE_AUDIT_KEY_FILE)"
        )
    if not hmac.compare_digest(stated, head.signature(key)):
        raise AuditBroken(f"the audit head {path} does not verify: it was edited")
    return head


def write_head(path: Path, key: bytes, head: Head) -> None:
    """Record ``head``; a crash leaves the old head or the new one, never neither.

    The file holds two copies of the head, each padded to :data:`_SLOT` bytes; they are overwritten in place one
    after the other, each made durable (``fdatasync``) before the next is touched, so that whatever a crash tears,
    the other copy is whole (:func:`read_head` takes the newer that verifies). Overwriting in place costs no new
    file, rename or directory update per append: with them (the head replaced by a new file) each append of the
    trail spent ~0.25 ms of CPU and ~1.2 ms more on the head. A missing head, or one written as a single copy, is
    replaced atomically by a new two-copy file.
    """
    doc: dict[str, Any] = {
        "entries": head.entries,
        "last_mac": head.last_mac,
        "key": fingerprint(key),
        "mac": head.signature(key),
    }
    text = json.dumps(doc).encode("utf-8")
    if len(text) >= _SLOT:  # pragma: no cover - 64-digit MACs and a count: under 200 bytes
        raise ValueError(f"an audit head of {len(text)} bytes does not fit its {_SLOT}-byte copy")
    copy = text.ljust(_SLOT - 1) + b"\n"
    try:
        fd = os.open(path, os.O_RDWR)
    except FileNotFoundError:
        _replace(path, copy * 2)
        return
    try:
        if os.fstat(fd).st_size != 2 * _SLOT:
            _replace(path, copy * 2)
            return
        for offset in (0, _SLOT):
            os.pwrite(fd, copy, offset)
            os.fdatasync(fd)
    finally:
        os.close(fd)


def _replace(path: Path, data: bytes) -> None:
    """Replace the file at ``path`` atomically with ``data`` (mode 0600, in a directory made 0700 if missing)."""
    path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)


@dataclass(frozen=True)
class Walk:
    """What walking the trail from its first line found."""

    entries: int  # complete lines read (up to the first problem)
    legacy: int  # of which written before the trail had a key (checked by the unkeyed chain only)
    last_mac: str | None  # the last keyed line's MAC
    prev: str  # what the next line must state as ``prev``
    last_seq: int
    problem: str | None = None
    first_broken: int | None = None


def walk(lines: Iterable[tuple[str, bool]], key: bytes) -> Walk:
    """Check every line (text, whether it ends with a newline): MACs, the chain, the sequence, format order."""
    prev, n, legacy, last_mac, last_seq = GENESIS, 0, 0, None, 0

    def broken(line_no: int, problem: str) -> Walk:
        return Walk(line_no - 1, legacy, last_mac, prev, last_seq, problem, line_no)

    for line, complete in lines:
        line_no = n + 1
        if not complete:
            return broken(line_no, f"line {line_no} is incomplete (a write cut short): run lineage audit repair")
        try:
            doc = json.loads(line)
            stated_prev, seq = doc["prev"], doc["seq"]
        except (ValueError, KeyError, TypeError):
            return broken(line_no, f"line {line_no} is not an audit entry: it was edited")
        mac, right = mac_of(line, key)
        if mac is None and not right:
            return broken(line_no, f"line {line_no} has a malformed MAC: it was edited")
        if mac is not None and not right:
            return broken(line_no, f"line {line_no} does not match its MAC: it was edited, or forged without the key")
        if mac is None and last_mac is not None:
            return broken(line_no, f"line {line_no} has no MAC after keyed lines: it was added without the key")
        if stated_prev != prev:
            return broken(line_no, f"line {line_no} does not follow line {line_no - 1}: a line was removed or moved")
        if seq != last_seq + 1:
            return broken(line_no, f"line {line_no} has sequence number {seq}, expected {last_seq + 1}")
        n, last_seq = line_no, seq
        if mac is None:
            legacy += 1
            prev = unkeyed_hash(line)
        else:
            prev = last_mac = mac
    return Walk(n, legacy, last_mac, prev, last_seq)


def against_head(found: Walk, head: Head | None, head_path: Path) -> str | None:
    """What is wrong between a (sound) walk and the head, or None."""
    if head is None:
        if found.last_mac is None:  # empty, or all written before the trail had a key: nothing to compare yet
            return None
        return (
            f"the audit head {head_path} is missing, so lines removed from the end would not show: restore it from "
            "a copy, or start a new one from the trail as it is (lineage audit repair --new-head)"
        )
    if found.last_mac is None:
        return f"no line of the trail has a MAC but its head records {head.entries} entries: it was rewritten"
    if head.entries > found.entries:
        missing = head.entries - found.entries
        return (
            f"the trail ends at entry {found.entries} but its head records {head.entries}: "
            f"{missing} {'entry was' if missing == 1 else 'entries were'} removed from the end"
        )
    if head.entries == found.entries and head.last_mac != found.last_mac:
        return f"entry {found.entries} is not the one the head records: the end of the trail was replaced"
    return None  # more entries than the head: appended (with the key) after the head was last written
