"""streams/key_check.py: records not keyed by their person, or not on their key's partition, are counted and reported
(never refused), with nothing personal in the log."""

from __future__ import annotations

import asyncio
import json
import logging
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from policies import default_policy
from schemas.events import AnyEvent
from streams.agents import BatchProcessor
from streams.event_sinks import partition_key
from streams.handler import Handler
from streams.health import HealthFile, read_health
from streams.key_check import KeyCheck, Misplaced, key_partition
from streams.messages import MemoryPublisher, RawMessage, parse_batch
from streams.topics import TopicNames
from tests.conftest import TEST_KEY
from tests.factories import event

REPO = Path(__file__).resolve().parents[2]
SECRET = b"shared producers' secret"
TOPIC = "lineage.events.v1"


Placed = tuple[str, bytes | None, int]


def _messages(placed: list[Placed]) -> list[RawMessage]:
    """(subject id, key, partition) each: a message with one valid event of that person, on that key and partition."""
    return [
        RawMessage(json.dumps(event(subject_id=who)).encode(), TOPIC, partition, offset, key)
        for offset, (who, key, partition) in enumerate(placed)
    ]


def _batch(*placed: Placed) -> tuple[list[AnyEvent], list[RawMessage]]:
    """The valid events of :func:`_messages` and their messages, as the worker's batch has them."""
    valid, sources, letters = parse_batch(_messages(list(placed)), None)
    assert not letters
    return valid, sources


def _right(who: str, partitions: int = 3, secret: bytes | None = SECRET) -> tuple[str, bytes, int]:
    key = partition_key(who, secret)
    return who, key, key_partition(key, partitions)


def test_the_partition_is_the_one_docs_wire_md_gives_for_every_vector() -> None:
    vectors = json.loads((REPO / "schemas" / "partition-key-vectors.json").read_text(encoding="utf-8"))["vectors"]
    assert len(vectors) >= 5
    for v in vectors:
        key = v["key"].encode("ascii")
        assert {str(n): key_partition(key, n) for n in (3, 12)} == v["partitions"], v["subject_id"]


def test_records_keyed_and_partitioned_as_the_emitter_does_are_not_misplaced() -> None:
    check = KeyCheck(SECRET, lambda topic: 3)
    found = check.check(*_batch(*(_right(f"p{i}@example.com") for i in range(40))))
    assert found == Misplaced()


def test_each_kind_of_misplaced_record_is_counted_and_the_first_is_named_by_place() -> None:
    alice, bob = "alice@example.com", "bob@example.com"
    a_key, a_part = partition_key(alice, SECRET), key_partition(partition_key(alice, SECRET), 3)
    check = KeyCheck(SECRET, lambda topic: 3 if topic == TOPIC else None)
    found = check.check(
        *_batch(
            _right(bob),  # offset 0: in place
            (alice, None, a_part),  # 1: no key
            (alice, partition_key(alice, None), a_part),  # 2: the key without the deployment's secret
            (alice, alice.encode(), a_part),  # 3: the raw id as key
            (alice, partition_key(bob, SECRET), a_part),  # 4: another person's key
            (alice, a_key, (a_part + 1) % 3),  # 5: the right key on another partition (another partitioner)
            (alice, a_key, a_part),  # 6: in place
        )
    )
    assert found == Misplaced(no_key=1, other_key=3, other_partition=1, first=f"{TOPIC}/{a_part}@1")
    assert found.total == 5


def test_while_the_partition_count_is_unknown_only_the_key_is_checked() -> None:
    alice = "alice@example.com"
    key = partition_key(alice, SECRET)
    wrong = (key_partition(key, 3) + 1) % 3
    assert KeyCheck(SECRET, lambda topic: None).check(*_batch((alice, key, wrong))) == Misplaced()
    assert KeyCheck(SECRET).check(*_batch((alice, key, wrong))) == Misplaced()

    def failing(topic: str) -> int | None:
        raise RuntimeError("no metadata yet")

    assert KeyCheck(SECRET, failing).check(*_batch((alice, key, wrong))) == Misplaced()
    # a partition beyond the known count: partitions were added since the count was read
    assert KeyCheck(SECRET, lambda topic: 3).check(*_batch((alice, key, 7))) == Misplaced()


def test_a_worker_without_the_producers_secret_counts_their_records_as_misplaced() -> None:
    records = _batch(*(_right(f"p{i}@example.com", secret=SECRET) for i in range(5)))
    assert KeyCheck(None, lambda topic: 3).check(*records).other_key == 5
    assert KeyCheck(SECRET, lambda topic: 3).check(*records).total == 0


def test_the_first_misplaced_records_are_logged_at_once_then_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    now = [1000.0]
    check = KeyCheck(SECRET, lambda topic: 3, clock=lambda: now[0])
    alice = "alice@example.com"
    unkeyed = _batch((alice, None, 0), (alice, None, 1))
    caplog.set_level(logging.WARNING, logger="streams.key_check")

    check.report(check.check(*_batch(_right(alice))))
    assert caplog.records == []  # nothing misplaced, nothing said

    check.report(check.check(*unkeyed))
    assert len(caplog.records) == 1
    first = caplog.records[0].getMessage()
    assert first.startswith("2 record(s) not keyed as docs/wire.md defines (checked with LINEAGE_KAFKA_KEY_SECRET)")
    assert f"2 without a key; the first at {TOPIC}/0@0" in first

    for step in (10.0, 20.0, 29.0):  # 59 s after the first line: counted, not said
        now[0] += step
        check.report(check.check(*unkeyed))
    assert len(caplog.records) == 1
    now[0] += 2.0
    check.report(check.check(*_batch((alice, alice.encode(), 0))))
    assert len(caplog.records) == 2
    second = caplog.records[1].getMessage()
    assert second.startswith("7 record(s) in the last 61 s not keyed")
    assert "6 without a key, 1 with a key other than their person's" in second

    key = partition_key(alice, SECRET)
    said = " ".join(r.getMessage() for r in caplog.records)
    assert alice not in said and key.decode() not in said and "alice" not in said


def test_the_worker_counts_misplaced_records_in_its_health_file_and_applies_them(tmp_path: Path) -> None:
    store = SQLiteGraphStore(":memory:")
    health = HealthFile(tmp_path / "health.json")
    processor = BatchProcessor(
        Handler(store, default_policy(), Pseudonymizer(TEST_KEY)),
        MemoryPublisher(),
        TopicNames(TOPIC, "t.deadletter", "t.alerts"),
        health=health,
        keys=KeyCheck(SECRET, lambda topic: 3),
    )
    alice = "alice@example.com"
    placed = [_right(f"p{i}@example.com") for i in range(4)] + [(alice, None, 0), (alice, alice.encode(), 1)]
    messages = _messages(placed)
    outcome = asyncio.run(processor(messages))
    assert outcome.applied == 6 and store.stats().events == 6  # applied all the same
    assert read_health(tmp_path / "health.json")["misplaced"] == 2
    asyncio.run(processor(messages[4:]))  # the same records again: duplicates, and still misplaced
    assert read_health(tmp_path / "health.json")["misplaced"] == 4
