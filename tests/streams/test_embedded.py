"""The embedded runner: batches through the handler, dead letters with line numbers, and the garbage collector
paused only while it runs."""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from policies import default_policy
from streams.deadletter import MemoryDeadLetters
from streams.embedded import ingest_lines
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import event


@pytest.fixture
def handler() -> Iterator[Handler]:
    store = SQLiteGraphStore(":memory:")
    yield Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    store.close()


def test_batches_apply_every_valid_line_and_dead_letter_the_others_with_their_line_numbers(handler: Handler) -> None:
    lines = [json.dumps(event(event_id=f"e{i}", occurred_at=f"2026-03-01T10:{i:02d}:00Z")) for i in range(7)]
    lines[2] = "{not json"
    lines[5] = json.dumps(event(event_id="bad", kind="collected", data_categories=["no.such.category"]))
    lines.insert(4, "   ")
    dead = MemoryDeadLetters()
    seen: list[int] = []
    report = ingest_lines(lines, handler, dead, origin="t", batch_size=2, on_progress=lambda r: seen.append(r.applied))
    assert (report.lines, report.blank, report.applied, report.rejected) == (8, 1, 5, 2)
    assert [(d.origin, d.line) for d in dead.letters] == [("t", 3), ("t", 7)]
    assert seen == [2, 4, 5]
    assert handler.store.processed([f"e{i}" for i in range(7)]) == {"e0", "e1", "e3", "e4", "e6"}
    again = ingest_lines(lines, handler, MemoryDeadLetters(), batch_size=3)
    assert (again.applied, again.duplicates) == (0, 5)


def test_the_collector_is_restored_and_rejected_lines_leave_no_garbage_behind(handler: Handler) -> None:
    assert gc.isenabled()
    gc.collect()
    ingest_lines(["{not json"] * 5000, handler, MemoryDeadLetters(), batch_size=100)
    assert gc.isenabled()
    assert gc.collect() < 100 * 10  # collected as it came (each rejection leaves a few objects in a cycle)
    gc.disable()
    try:
        ingest_lines(["{not json"] * 10, handler, MemoryDeadLetters(), batch_size=3)
        assert not gc.isenabled()  # the caller's choice is kept
    finally:
        gc.enable()


def test_the_collector_runs_right_after_each_batch_not_while_one_is_held(handler: Handler) -> None:
    log: list[str] = []

    class Logging(Handler):
        def handle(self, events):  # type: ignore[no-untyped-def]
            log.append("handle")
            return super().handle(events)

    def lines() -> Iterator[str]:
        for i in range(50):
            log.append("read")
            yield json.dumps(event(event_id=f"g{i}"))

    def on_collect(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            log.append("gc")

    logging = Logging(handler.store, default_policy(), Pseudonymizer(TEST_KEY))
    gc.callbacks.append(on_collect)
    try:
        ingest_lines(lines(), logging, MemoryDeadLetters(), batch_size=10)
    finally:
        gc.callbacks.remove(on_collect)
    assert log.count("handle") == 5
    # every collection comes straight after a batch was applied, before the next line is read
    assert [log[i - 1] for i, step in enumerate(log) if step == "gc"] == ["handle"] * 5
