"""The embedded runner: batches through the handler, dead letters with line numbers, and the garbage collector
paused only while it runs."""

from __future__ import annotations

import base64
import gc
import io
import json
import stat
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from graph.changes import ChangeSet
from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import ApplyResult, StoreUnavailable
from policies import default_policy
from schemas.parsing import validate_event
from streams.deadletter import DeadLetter, FileDeadLetters, MemoryDeadLetters
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
    assert seen == [2, 3, 4, 5]  # batches of 2 lines, each with an event
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
        def commit(self, prepared, recheck=()):  # type: ignore[no-untyped-def]
            log.append("handle")
            return super().commit(prepared, recheck)

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


# -- isolation: one line never costs another -----------------------------------------------------------------------
def test_lines_end_at_newline_only_and_a_long_line_is_never_held_whole() -> None:
    from streams.embedded import read_lines
    from streams.ingest_chunks import Oversized

    text = "a\u2028b\u0085c\x0cd\re\r\n".encode() + b"x" * 5000 + b"\n" + b"last"
    got = list(read_lines(io.BytesIO(text), limit=100))
    assert got[0] == "a\u2028b\u0085c\x0cd\re\r\n".encode()  # one line: only \n ends a line
    assert got[1] == Oversized(b"x" * 101, 5000)  # what the first read held, at most KEPT_OF_LONG_LINE bytes
    assert got[2] == b"last" and len(got) == 3
    assert list(read_lines(io.BytesIO(b"y" * 101), limit=100)) == [Oversized(b"y" * 101, 101)]
    assert list(read_lines(io.BytesIO(b"y" * 100 + b"\n"), limit=100)) == [b"y" * 100 + b"\n"]


def test_a_dead_letter_is_one_line_for_every_line_splitter() -> None:
    letter = DeadLetter("f", 1, "r", raw="a\u2028b\u2029c\u0085d\x1ce\x0bf")
    text = letter.to_json()
    assert len(text.splitlines()) == 1 and json.loads(text)["raw"] == letter.raw


def test_input_that_is_not_utf8_is_kept_as_base64(handler: Handler) -> None:
    line = json.dumps(event(event_id="u1", subject_id="victim@example.com")).encode().replace(b"victim", b"vic\xfftim")
    dead = MemoryDeadLetters()
    report = ingest_lines([line], handler, dead)
    assert report.rejected == 1 and "not valid UTF-8" in dead.letters[0].reason
    assert dead.letters[0].raw == "" and base64.b64decode(dead.letters[0].raw_base64 or "") == line


class _FailingFor(SQLiteGraphStore):
    """A store whose writes fail, as a bug in writing one event would, whenever a batch holds ``poison``."""

    def __init__(self, poison: str) -> None:
        super().__init__(":memory:")
        self.poison, self.attempts = poison, 0

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        self.attempts += 1
        if any(cs.event.event_id == self.poison for cs in batch):
            raise OverflowError(f"date value out of range in {self.poison} for victim@example.com")
        return super().apply(batch)


def test_an_event_the_store_cannot_take_fails_alone() -> None:
    store = _FailingFor("e5")
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    lines = [json.dumps(event(event_id=f"e{i}")) for i in range(10)]
    dead = MemoryDeadLetters()
    report = ingest_lines(lines, handler, dead, batch_size=10)
    assert store.processed([f"e{i}" for i in range(10)]) == {f"e{i}" for i in range(10)} - {"e5"}
    assert (report.applied, report.failed, report.rejected) == (9, 1, 0)
    (letter,) = dead.letters
    assert letter.line == 6 and letter.event_id == "e5" and json.loads(letter.raw)["event_id"] == "e5"
    assert letter.reason.startswith("could not be stored: internal error (OverflowError")
    assert "victim" not in letter.reason  # the error's text is never repeated: it may quote the event
    assert store.attempts <= 1 + 2 * 4  # halves down to the one event, not one transaction per event


def test_an_event_that_cannot_be_projected_fails_alone(handler: Handler) -> None:
    evaluate = handler.evaluator.evaluate

    def failing(ev, subject, state):  # type: ignore[no-untyped-def]
        if ev.event_id == "p2":
            raise ValueError("victim@example.com")
        return evaluate(ev, subject, state)

    handler.evaluator.evaluate = failing  # type: ignore[method-assign]
    result = handler.handle([validate_event(event(event_id=f"p{i}")) for i in range(4)])
    assert result.applied == 3 and [(f.index, f.event_id) for f in result.failed] == [(2, "p2")]
    assert result.failed[0].reason.startswith("could not be projected into the graph: internal error (ValueError")


def test_a_store_error_is_not_blamed_on_the_events() -> None:
    store = _FailingFor("never")
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))

    def unavailable(batch: Sequence[ChangeSet]) -> ApplyResult:
        raise StoreUnavailable("database is locked")

    store.apply = unavailable  # type: ignore[method-assign]
    with pytest.raises(StoreUnavailable):
        ingest_lines([json.dumps(event())], handler, MemoryDeadLetters())


def test_an_internal_error_reading_one_line_costs_only_that_line(
    handler: Handler, monkeypatch: pytest.MonkeyPatch
) -> None:
    import streams.ingest_chunks as ingest_chunks

    parse = ingest_chunks.parse_event

    def buggy(raw, taxonomy=None, window=None):  # type: ignore[no-untyped-def]
        if b"bug" in raw:
            raise KeyError("victim@example.com")
        return parse(raw, taxonomy, window)

    monkeypatch.setattr(ingest_chunks, "parse_event", buggy)
    lines = [json.dumps(event(event_id=i)).encode() for i in ("a", "bug", "c")]
    dead = MemoryDeadLetters()
    report = ingest_lines(lines, handler, dead)
    assert (report.applied, report.failed, report.rejected) == (2, 1, 0)
    assert dead.letters[0].line == 2 and dead.letters[0].reason == "internal error while reading the line (KeyError)"


def test_dead_letters_that_cannot_be_written_do_not_stop_the_ingest(handler: Handler, tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    dead = FileDeadLetters(tmp_path / "a-file" / "letters.jsonl")  # its folder is a file
    assert dead.problem() is not None
    lines = [json.dumps(event(event_id="v1")), "{bad", json.dumps(event(event_id="v2"))]
    report = ingest_lines(lines, handler, dead)
    assert handler.store.processed(["v1", "v2"]) == {"v1", "v2"}
    assert (report.rejected, report.unwritten) == (1, 1) and report.unwritten_error


def test_dead_letter_files_are_created_owner_only(handler: Handler, tmp_path: Path) -> None:
    dead = FileDeadLetters(tmp_path / "letters.jsonl")
    assert dead.problem() is None
    ingest_lines(["{bad"], handler, dead)
    dead.close()
    assert stat.S_IMODE((tmp_path / "letters.jsonl").stat().st_mode) == 0o600
