"""The embedded runner: batches through the handler, dead letters with line numbers, the garbage collector
paused only while it runs, and the pipelined mode (one applying thread) equal to the sequential one."""

from __future__ import annotations

import gc
import json
import threading
import time
import traceback
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import StoreError
from lineage.simulator import simulate
from policies import default_policy
from schemas.events import AnyEvent
from schemas.policy import Policy
from streams.deadletter import MemoryDeadLetters
from streams.embedded import MAX_LINE_BYTES, IngestReport, ingest_lines
from streams.handler import Handler, HandleResult
from tests.conftest import TEST_KEY
from tests.factories import event


@pytest.fixture
def handler() -> Iterator[Handler]:
    store = SQLiteGraphStore(":memory:")
    yield Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    store.close()


@pytest.mark.parametrize("pipelined", [True, False])
def test_batches_apply_every_valid_line_and_dead_letter_the_others_with_their_line_numbers(
    handler: Handler, pipelined: bool
) -> None:
    lines = [json.dumps(event(event_id=f"e{i}", occurred_at=f"2026-03-01T10:{i:02d}:00Z")) for i in range(7)]
    lines[2] = "{not json"
    lines[5] = json.dumps(event(event_id="bad", kind="collected", data_categories=["no.such.category"]))
    lines.insert(4, "   ")
    dead = MemoryDeadLetters()
    seen: list[int] = []
    progress = lambda r: seen.append(r.applied)  # noqa: E731
    report = ingest_lines(lines, handler, dead, origin="t", batch_size=2, on_progress=progress, pipelined=pipelined)
    assert (report.lines, report.blank, report.applied, report.rejected) == (8, 1, 5, 2)
    assert [(d.origin, d.line) for d in dead.letters] == [("t", 3), ("t", 7)]
    assert seen == [2, 4, 5]
    assert handler.store.processed([f"e{i}" for i in range(7)]) == {"e0", "e1", "e3", "e4", "e6"}
    again = ingest_lines(lines, handler, MemoryDeadLetters(), batch_size=3, pipelined=pipelined)
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


class _Recording(Handler):
    """A handler that records the batches it was given and the threads it ran on, and can fail or hold a batch."""

    def __init__(
        self,
        store: SQLiteGraphStore,
        policy: Policy,
        *,
        fail: tuple[int, BaseException] | None = None,
        hold_first: threading.Event | None = None,
    ) -> None:
        super().__init__(store, policy, Pseudonymizer(TEST_KEY))
        self.batches: list[list[str]] = []
        self.threads: set[threading.Thread] = set()
        self.most_at_once = 0
        self.running = 0
        self.collections: list[int] = []  # how many batches were being handled at each garbage collection
        self._fail = fail
        self._hold_first = hold_first
        self._lock = threading.Lock()

    def handle(self, events: Sequence[AnyEvent]) -> HandleResult:
        with self._lock:
            self.running += 1
            self.most_at_once = max(self.most_at_once, self.running)
        try:
            self.batches.append([e.event_id for e in events])
            self.threads.add(threading.current_thread())
            if self._fail is not None and len(self.batches) == self._fail[0]:
                raise self._fail[1]
            if self._hold_first is not None and len(self.batches) == 1:
                assert self._hold_first.wait(10)
                time.sleep(0.05)  # the reading thread, interrupted meanwhile, stops the applier
            return super().handle(events)
        finally:
            with self._lock:
                self.running -= 1


def _new_threads(before: list[threading.Thread]) -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t not in before]


def _mixed_lines() -> list[str | bytes]:
    """Simulated traffic with undeclared flows, an erasure midway (later lines about the person that occurred
    before it are suppressed), bad lines, blank lines, bytes, and duplicates within and across batches."""
    sims = [s.event for s in simulate(12, 4, seed=5, undeclared_rate=0.1)]
    lines: list[str | bytes] = [json.dumps(e) for e in sims]
    half, later = len(sims) // 2, sims[3 * len(sims) // 4]
    erased = next(e for e in sims[half:] if e["subject"]["id"] == sims[0]["subject"]["id"])
    erasure = {
        "schema_version": 1,
        "event_id": "erasure-1",
        "kind": "erased",
        "occurred_at": later["occurred_at"],
        "emitted_by": "privacy-desk",
        "subject": erased["subject"],
    }
    lines.insert(half, json.dumps(erasure))
    lines.insert(10, lines[10])  # the same event twice in a batch
    lines.append(next(json.dumps(e) for e in sims if e["subject"] != erased["subject"]))  # and one again much later
    lines.insert(20, "{not json")
    lines.insert(40, json.dumps(event(event_id="bad", data_categories=["no.such.category"])))
    lines.insert(60, "x" * (MAX_LINE_BYTES + 1))
    lines.insert(80, "")
    lines.insert(81, "   \n")
    lines[90] = str(lines[90]).encode()
    return lines


def _ingest(
    lines: list[str | bytes], folder: Path, policy: Policy, *, pipelined: bool
) -> tuple[IngestReport, list[tuple[object, ...]], _Recording, list[tuple[int, int, int, int]]]:
    store = SQLiteGraphStore(folder / f"pipelined-{pipelined}.db")
    handler = _Recording(store, policy)
    dead = MemoryDeadLetters()
    progress: list[tuple[int, int, int, int]] = []

    def collecting(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            handler.collections.append(handler.running)

    gc.callbacks.append(collecting)
    try:
        report = ingest_lines(
            lines,
            handler,
            dead,
            origin="mixed",
            batch_size=37,
            on_progress=lambda r: progress.append((r.applied, r.duplicates, r.suppressed, len(r.findings))),
            pipelined=pipelined,
        )
    finally:
        gc.callbacks.remove(collecting)
        store.close()
    letters = [(d.origin, d.line, d.reason, d.problems, d.raw, d.event_id) for d in dead.letters]
    return report, letters, handler, progress


def test_the_pipelined_ingest_reports_exactly_what_the_sequential_one_does(tmp_path: Path, policy: Policy) -> None:
    lines = _mixed_lines()
    sequential = _ingest(lines, tmp_path, policy, pipelined=False)
    before = threading.enumerate()
    pipelined = _ingest(lines, tmp_path, policy, pipelined=True)
    assert _new_threads(before) == []
    report, letters, handler, progress = pipelined
    assert report == sequential[0]  # counts, and the findings in the same order
    assert letters == sequential[1]
    assert handler.batches == sequential[2].batches  # the same batches, in the same order
    assert progress == sequential[3]
    assert report.findings and report.suppressed and report.duplicates >= 2
    assert (report.rejected, report.blank, len(progress)) == (3, 2, len(handler.batches))
    assert [line for _, line, *_ in letters] == [21, 41, 61]
    # one other thread applied every batch, one at a time
    assert len(handler.threads) == 1 and threading.current_thread() not in handler.threads
    assert handler.most_at_once == 1
    assert sequential[2].threads == {threading.current_thread()}
    # the collector ran between batches (never while one was being applied), about once per batch
    assert handler.collections == [0] * len(handler.collections)
    assert len(handler.batches) <= len(handler.collections) <= len(lines) // 37 + len(handler.batches)


@pytest.mark.parametrize("pipelined", [True, False])
def test_an_error_of_a_batch_is_raised_in_the_caller_and_no_later_batch_is_handled(
    tmp_path: Path, policy: Policy, pipelined: bool
) -> None:
    boom = StoreError("SQLite write failed: disk I/O error")
    handler = _Recording(SQLiteGraphStore(tmp_path / "x.db"), policy, fail=(2, boom))
    read = 0

    def lines() -> Iterator[str]:
        nonlocal read
        for i in range(1000):
            read += 1
            yield json.dumps(event(event_id=f"e{i}"))

    progress: list[int] = []
    before = threading.enumerate()
    with pytest.raises(StoreError) as raised:
        ingest_lines(
            lines(),
            handler,
            MemoryDeadLetters(),
            batch_size=10,
            on_progress=lambda r: progress.append(r.applied),
            pipelined=pipelined,
        )
    assert raised.value is boom
    assert "handle" in [frame.name for frame in traceback.extract_tb(raised.value.__traceback__)]
    assert len(handler.batches) == 2  # the third batch was never handled
    assert progress == [10]
    assert read <= 4 * 10 + 1  # reading stopped: at most one batch queued and one being read meanwhile
    assert _new_threads(before) == []
    assert handler.store.processed([f"e{i}" for i in range(30)]) == {f"e{i}" for i in range(10)}
    handler.store.close()


@pytest.mark.parametrize("pipelined", [True, False])
def test_an_input_that_fails_midway_propagates_and_leaves_no_thread(
    tmp_path: Path, policy: Policy, pipelined: bool
) -> None:
    gone = OSError("input went away")

    def lines() -> Iterator[str]:
        for i in range(25):
            yield json.dumps(event(event_id=f"e{i}"))
        raise gone

    handler = _Recording(SQLiteGraphStore(tmp_path / "x.db"), policy)
    before = threading.enumerate()
    with pytest.raises(OSError) as raised:
        ingest_lines(lines(), handler, MemoryDeadLetters(), batch_size=10, pipelined=pipelined)
    assert raised.value is gone
    assert _new_threads(before) == []
    first, second = [f"e{i}" for i in range(10)], [f"e{i}" for i in range(10, 20)]
    assert handler.batches in ([first], [first, second])  # whole batches, in order, none after the second
    assert handler.store.processed(first + second) == {i for b in handler.batches for i in b}
    handler.store.close()


def test_an_interrupt_while_reading_stops_the_applier_after_the_batch_it_is_on(tmp_path: Path, policy: Policy) -> None:
    interrupted = threading.Event()

    def lines() -> Iterator[str]:
        for i in range(25):
            yield json.dumps(event(event_id=f"e{i}"))
        interrupted.set()
        raise KeyboardInterrupt

    # the first batch is still being applied when the interrupt comes; the second is waiting in the queue
    handler = _Recording(SQLiteGraphStore(tmp_path / "x.db"), policy, hold_first=interrupted)
    before = threading.enumerate()
    with pytest.raises(KeyboardInterrupt):
        ingest_lines(lines(), handler, MemoryDeadLetters(), batch_size=10)
    assert _new_threads(before) == []
    first = [f"e{i}" for i in range(10)]
    assert handler.batches == [first]
    assert handler.store.processed([f"e{i}" for i in range(25)]) == set(first)  # that batch was committed
    handler.store.close()


def test_on_progress_runs_in_the_caller_once_per_batch_and_sees_the_store_as_that_batch_left_it(
    tmp_path: Path, policy: Policy
) -> None:
    store = SQLiteGraphStore(tmp_path / "x.db")
    handler = Handler(store, policy, Pseudonymizer(TEST_KEY))
    ids = [f"e{i}" for i in range(95)]
    calls: list[tuple[threading.Thread, int, int]] = []

    def on_progress(report: IngestReport) -> None:
        time.sleep(0.01)  # a slow callback: the applier must not run ahead of it
        calls.append((threading.current_thread(), report.applied, len(store.processed(ids))))

    lines = [json.dumps(event(event_id=i)) for i in ids]
    report = ingest_lines(lines, handler, MemoryDeadLetters(), batch_size=10, on_progress=on_progress)
    assert report.applied == 95
    assert [applied for _, applied, _ in calls] == [10, 20, 30, 40, 50, 60, 70, 80, 90, 95]
    assert [in_store for *_, in_store in calls] == [applied for _, applied, _ in calls]
    assert {thread for thread, *_ in calls} == {threading.current_thread()}
    store.close()
