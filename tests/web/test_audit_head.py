"""The audit trail's signed head: two copies in one file, overwritten in place one after the other, so that a crash
tearing one leaves the other whole; a head both of whose copies fail is refused, and a head written as a single copy
(as earlier versions did) is read, then replaced by two at the next append."""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path

import pytest

from lineage.web.audit import AuditBroken, AuditLog
from lineage.web.audit_chain import Head, fingerprint, read_head
from lineage.web.tokens import Principal, Role
from tests.conftest import TEST_AUDIT_KEY

DPO = Principal("alice", Role.DPO)
SLOT = 256  # bytes of one copy


def _record(trail: AuditLog) -> int:
    return trail.record(DPO, action="who-has", endpoint="GET /api/subjects/{subject_id:path}", returned={"n": 1}).seq


def _trail(tmp_path: Path, entries: int) -> AuditLog:
    trail = AuditLog(tmp_path / "logs" / "audit.jsonl", TEST_AUDIT_KEY, tmp_path / "keys" / "audit.head")
    for _ in range(entries):
        _record(trail)
    return trail


def _entries(raw: bytes) -> int:
    return int(json.loads(raw)["entries"])


def test_the_head_is_two_copies_overwritten_in_place(tmp_path: Path) -> None:
    trail = _trail(tmp_path, 3)
    raw = trail.head_path.read_bytes()
    assert len(raw) == 2 * SLOT and raw[:SLOT] == raw[SLOT:] and _entries(raw[:SLOT]) == 3
    inode = trail.head_path.stat().st_ino
    _record(trail)
    raw = trail.head_path.read_bytes()
    assert trail.head_path.stat().st_ino == inode  # the same file: no new file, rename or directory entry per append
    assert (_entries(raw[:SLOT]), _entries(raw[SLOT:])) == (4, 4)
    assert oct(trail.head_path.stat().st_mode & 0o777) == "0o600"
    found = trail.verify()
    assert (found.ok, found.entries, found.head_entries) == (True, 4, 4)


@pytest.mark.parametrize("torn", [0, 1])
def test_a_crash_tearing_one_copy_leaves_the_other(tmp_path: Path, torn: int) -> None:
    trail = _trail(tmp_path, 3)
    old = trail.head_path.read_bytes()
    _record(trail)
    new = trail.head_path.read_bytes()
    half = new[:100] + old[100:SLOT]  # a write cut short: the copy's first bytes new, the rest old
    # copy 0 is written first: torn while it was written, copy 1 is still the old head; torn while copy 1 was
    # written, copy 0 is already the new one
    trail.head_path.write_bytes(half + old[SLOT:] if torn == 0 else new[:SLOT] + half)
    lone = tmp_path / "lone.head"
    lone.write_bytes(half)
    with pytest.raises(AuditBroken):  # the torn copy alone does not verify
        read_head(lone, TEST_AUDIT_KEY)
    head = read_head(trail.head_path, TEST_AUDIT_KEY)
    assert head is not None and head.entries == (3 if torn == 0 else 4)
    found = trail.verify()  # an older head: the trail's last entry was appended after it, which is allowed
    assert (found.ok, found.entries) == (True, 4)
    assert _record(trail) == 5
    assert (trail.verify().ok, trail.verify().head_entries) == (True, 5)


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda raw: b"x" * len(raw), "is unreadable"),
        (lambda raw: raw.replace(b'"entries": 3', b'"entries": 2'), "does not verify: it was edited"),
    ],
)
def test_a_head_with_no_sound_copy_is_refused(tmp_path: Path, damage: Callable[[bytes], bytes], message: str) -> None:
    trail = _trail(tmp_path, 3)
    raw = trail.head_path.read_bytes()
    trail.head_path.write_bytes(damage(raw))
    with pytest.raises(AuditBroken, match=message):
        _record(trail)
    found = trail.verify()
    assert not found.ok and message in (found.problem or "")
    assert len(trail.path.read_text(encoding="utf-8").splitlines()) == 3  # nothing appended


def test_a_head_signed_with_another_key_names_both_fingerprints(tmp_path: Path) -> None:
    trail = _trail(tmp_path, 2)
    other = AuditLog(trail.path, b"k" * 32, trail.head_path)
    with pytest.raises(AuditBroken, match=f"fingerprint {fingerprint(TEST_AUDIT_KEY)}, this key's is"):
        _record(other)


def test_a_head_of_one_copy_is_read_then_replaced_by_two(tmp_path: Path) -> None:
    trail = _trail(tmp_path, 3)
    head = read_head(trail.head_path, TEST_AUDIT_KEY)
    assert head is not None
    one = {"entries": 3, "last_mac": head.last_mac, "key": fingerprint(TEST_AUDIT_KEY)}
    trail.head_path.write_text(json.dumps(one | {"mac": Head(3, head.last_mac).signature(TEST_AUDIT_KEY)}) + "\n")
    assert trail.verify().ok and trail.verify().head_entries == 3
    assert _record(trail) == 4
    raw = trail.head_path.read_bytes()
    assert len(raw) == 2 * SLOT and (_entries(raw[:SLOT]), _entries(raw[SLOT:])) == (4, 4)
    assert trail.verify().ok
