"""Purging a person's dead letters: only theirs go, the others stay byte for byte, an appender loses nothing."""

from __future__ import annotations

import json
import os
import threading
from pathlib import Path

import pytest

from streams.deadletter import DeadLetter, FileDeadLetters, purge_dead_letters
from tests.factories import event


def letter(raw: str, line: int) -> DeadLetter:
    return DeadLetter("events.jsonl", line, "bad", [{"field": "x", "message": "bad"}], raw)


def write_letters(path: Path, raws: list[str]) -> list[str]:
    sink = FileDeadLetters(path)
    for i, raw in enumerate(raws, 1):
        sink.put(letter(raw, i))
    sink.close()
    return path.read_text(encoding="utf-8").splitlines(keepends=True)


def alice(**overrides: object) -> str:
    return json.dumps(event("collected", **overrides))  # subject alice@example.com


def test_only_the_named_persons_letters_are_removed(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    raws = [
        alice(event_id="a1"),
        json.dumps(event("collected", subject_id="bob@example.com", event_id="b1")),
        '{"subject": {"id": "alice@example.com"', # truncated JSON still names her
        json.dumps(event("collected", subject_id="malice@example.com")),  # contains her id, not as a whole string
        json.dumps(event("collected", subject_id="alice@example.co")),  # a prefix of her id
        "not json at all",
    ]
    lines = write_letters(path, raws)
    result = purge_dead_letters(path, ["alice@example.com"])
    assert (result.removed, result.kept) == (2, 4)
    assert path.read_text(encoding="utf-8").splitlines(keepends=True) == [lines[1], lines[3], lines[4], lines[5]]


def test_non_ascii_ids_match_escaped_or_not(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    sid = "zoë@example.com"
    raws = [
        json.dumps(event("collected", subject_id=sid)),  # \u00eb
        json.dumps(event("collected", subject_id=sid), ensure_ascii=False),
        alice(),
    ]
    lines = write_letters(path, raws)
    assert purge_dead_letters(path, [sid]).removed == 2
    assert path.read_text(encoding="utf-8").splitlines(keepends=True) == [lines[2]]


def test_nothing_matched_leaves_the_file_alone(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    write_letters(path, [alice()])
    os.chmod(path, 0o600)
    before = path.stat()
    result = purge_dead_letters(path, ["bob@example.com"])
    after = path.stat()
    assert (result.removed, result.kept) == (0, 1)
    assert (after.st_ino, after.st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".purge")]


def test_the_rewritten_file_keeps_its_mode_and_no_temporary_is_left(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    write_letters(path, [alice(), json.dumps(event("collected", subject_id="bob@example.com"))])
    os.chmod(path, 0o600)
    assert purge_dead_letters(path, ["alice@example.com"]).removed == 1
    assert path.stat().st_mode & 0o777 == 0o600
    assert [p.name for p in tmp_path.iterdir()] == ["dl.jsonl"]


def test_an_empty_id_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    write_letters(path, [alice()])
    with pytest.raises(ValueError, match="empty subject id"):
        purge_dead_letters(path, [""])


def test_an_appender_running_beside_purges_loses_no_letter(tmp_path: Path) -> None:
    path = tmp_path / "dl.jsonl"
    write_letters(path, [alice(event_id="first")])
    sink = FileDeadLetters(path)
    bob = [json.dumps(event("collected", subject_id="bob@example.com", event_id=f"b{i}")) for i in range(400)]

    def append() -> None:
        for i, raw in enumerate(bob):
            sink.put(letter(raw, i))
            if i % 3 == 0:
                sink.put(letter(alice(event_id=f"a{i}"), i))

    writer = threading.Thread(target=append)
    writer.start()
    purges = 0
    while writer.is_alive() or purges < 3:
        purge_dead_letters(path, ["alice@example.com"])
        purges += 1
    writer.join()
    sink.close()
    purge_dead_letters(path, ["alice@example.com"])
    kept = [json.loads(line)["raw"] for line in path.read_text(encoding="utf-8").splitlines()]
    assert kept == bob
