"""Concurrent lookups share the audit trail's appends (group commit): each entry still chained to the one before it,
each caller answered only once its own entry is on disk, a failed append refused to every caller of its group."""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path

import pytest

from lineage.web.audit import AuditEntry, AuditLog
from lineage.web.tokens import Principal, Role
from tests.conftest import TEST_AUDIT_KEY

DPO = Principal("alice", Role.DPO)
THREADS = 16


def _log(tmp_path: Path) -> AuditLog:
    return AuditLog(tmp_path / "logs" / "audit.jsonl", TEST_AUDIT_KEY, tmp_path / "keys" / "audit.head")


def _record(trail: AuditLog, i: int) -> AuditEntry:
    return trail.record(
        DPO, action="who-has", endpoint="GET /api/subjects/{subject_id:path}", returned={"n": i}, subject=f"p_{i:040x}"
    )


def _together(trail: AuditLog, count: int) -> tuple[dict[int, AuditEntry], dict[int, BaseException]]:
    """``count`` threads recording at once (released together): what each got back or raised."""
    entries: dict[int, AuditEntry] = {}
    errors: dict[int, BaseException] = {}
    gate = threading.Barrier(count)

    def one(i: int) -> None:
        gate.wait()
        try:
            entries[i] = _record(trail, i)
        except BaseException as exc:  # noqa: BLE001 - collected for the assertions
            errors[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(count)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    return entries, errors


def test_concurrent_lookups_are_appended_in_groups_and_chain(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trail = _log(tmp_path)
    _record(trail, -1)  # the trail and its head exist
    syncs = []
    real_fsync = os.fsync

    def slow_fsync(fd: int) -> None:  # a disk that takes its time: callers arrive while a group is written
        syncs.append(fd)
        time.sleep(0.02)
        real_fsync(fd)

    monkeypatch.setattr(os, "fsync", slow_fsync)
    entries, errors = _together(trail, THREADS)
    assert errors == {}
    found = trail.verify()
    assert (found.ok, found.entries, found.head_entries) == (True, THREADS + 1, THREADS + 1)
    lines = [json.loads(line) for line in trail.path.read_text(encoding="utf-8").splitlines()]
    assert [d["seq"] for d in lines] == list(range(1, THREADS + 2))
    # each caller got its own entry, as it stands in the trail
    by_n = {d["returned"]["n"]: d for d in lines}
    for i, entry in entries.items():
        assert json.loads(entry.model_dump_json()) == by_n[i]
    # the trail's order is the order of its times
    times = [AuditEntry.model_validate(d).at for d in lines]
    assert times == sorted(times)
    # one append (one fsync of the trail; the head's two copies are made durable with fdatasync) per group, not per
    # entry: 16 callers at once make a few groups
    assert len(syncs) <= THREADS // 2


def test_a_failed_append_is_every_caller_s_of_its_group(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trail = _log(tmp_path)
    _record(trail, -1)
    real_write = os.write
    failing = threading.Event()
    failing.set()

    def full_disk(fd: int, data: bytes) -> int:
        if failing.is_set() and b'"who-has"' in data:
            time.sleep(0.05)  # the others queue up behind this group meanwhile
            raise OSError(28, "No space left on device")
        return real_write(fd, data)

    monkeypatch.setattr(os, "write", full_disk)
    entries, errors = _together(trail, THREADS)
    assert entries == {}  # not one caller answered without its entry on disk
    assert len(errors) == THREADS and all(isinstance(e, OSError) for e in errors.values())
    found = trail.verify()
    assert (found.ok, found.entries) == (True, 1)  # nothing half-written
    failing.clear()
    assert _record(trail, 99).seq == 2
    assert trail.verify().ok
