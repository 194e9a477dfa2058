"""Measurement 2: embedded ingest (``ingest_lines`` into a SQLite file) against merely parsing and validating."""

from __future__ import annotations

import sqlite3
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Self

from bench.common import KEY, Dataset, Report, Row, timer
from graph.pseudonym import Pseudonymizer, key_from_text
from graph.sqlite_store import SQLiteGraphStore
from policies import default_policy
from schemas.events import parse_event
from streams.deadletter import MemoryDeadLetters
from streams.embedded import BATCH_SIZE, collector_between_batches, ingest_lines
from streams.handler import Handler

TARGET = 0.5


def _parse_all(lines: list[str], taxonomy: object) -> float:
    with timer() as t:
        for line in lines:
            parse_event(line, taxonomy)  # type: ignore[arg-type]
    return t[0]


@contextmanager
def _handler(folder: Path, name: str) -> Iterator[Handler]:
    """A handler on a new SQLite file, closed at the end: time the whole block, since what is written at close is
    part of the ingest."""
    store = SQLiteGraphStore(folder / f"{name}.db")
    try:
        yield Handler(store, default_policy(), Pseudonymizer(key_from_text(KEY)))
    finally:
        store.close()


def _ingest(lines: list[str], folder: Path, name: str) -> tuple[float, int]:
    with timer() as t, _handler(folder, name) as handler:
        report = ingest_lines(lines, handler, MemoryDeadLetters(), origin=name)
    if report.rejected:
        raise RuntimeError(f"{report.rejected} simulated line(s) were rejected")
    return t[0], report.applied


def _apply_parsed(lines: list[str], taxonomy: object, folder: Path, name: str) -> float:
    """The ingest without its parsing: the lines parsed beforehand (not timed), then handled and stored in batches as
    ``ingest_lines`` does, store opened and closed in the timing. However the parsing were spread over other
    processes, the ingest could not take less than this (plus moving the parsed events between processes)."""
    events = [parse_event(line, taxonomy) for line in lines]  # type: ignore[arg-type]
    with timer() as t, _handler(folder, name) as handler, collector_between_batches() as collect:
        for i in range(0, len(events), BATCH_SIZE):
            handler.handle(events[i : i + BATCH_SIZE])
            collect()
    return t[0]


@contextmanager
def sqlite_time() -> Iterator[list[float]]:
    """Meanwhile, connections opened by ``sqlite3.connect`` add the seconds spent in their statements (execute,
    executemany, COMMIT included, from Python's call to its return) to the yielded list's only item."""
    spent = [0.0]

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, params: Any = (), /) -> Self:
            start = time.perf_counter()
            try:
                return super().execute(sql, params)
            finally:
                spent[0] += time.perf_counter() - start

        def executemany(self, sql: str, rows: Any, /) -> Self:
            start = time.perf_counter()
            try:
                return super().executemany(sql, rows)
            finally:
                spent[0] += time.perf_counter() - start

    class Connection(sqlite3.Connection):
        def cursor(self, factory: Any = Cursor) -> Any:
            return super().cursor(factory)

        def execute(self, sql: str, params: Any = (), /) -> sqlite3.Cursor:
            cursor: sqlite3.Cursor = self.cursor()
            return cursor.execute(sql, params)

    connect = sqlite3.connect
    sqlite3.connect = lambda *a, **k: connect(*a, factory=Connection, **k)  # type: ignore[assignment]
    try:
        yield spent
    finally:
        sqlite3.connect = connect


MARKERS = (
    "ingest_lines",
    "parse_event",
    "Handler.consent_for",
    "PolicyEvaluator.evaluate",
    "project",
    "Pseudonymizer.__call__",
    "SQLiteGraphStore.processed",
    "SQLiteGraphStore.apply",
)


def run(data: Dataset, report: Report, *, repeats: int = 3, profile: bool = False) -> None:
    """Best of ``repeats`` for each side after a warm-up, on the same lines, a fresh SQLite file each time."""
    taxonomy = default_policy().taxonomy()
    lines = data.lines
    report.load("embedded: start")
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        folder = Path(tmp)
        warm = lines[: min(len(lines), 2000)]
        _parse_all(warm, taxonomy)
        _ingest(warm, folder, "warmup")
        parse_times, ingest_times = [], []
        for i in range(repeats):
            parse_times.append(_parse_all(lines, taxonomy))
            seconds, applied = _ingest(lines, folder, f"run{i}")
            if applied != len(lines):
                raise RuntimeError(f"applied {applied} of {len(lines)} events")
            ingest_times.append(seconds)
        if profile:
            from bench.profiling import shares

            _, spent = shares(lambda: _ingest(lines, folder, "profiled"), MARKERS)
            whole = spent.pop("ingest_lines")
            report.note(
                f"Embedded ingest profile (pyinstrument, one run of {whole:.2f} s): "
                + ", ".join(f"{m} {100 * s / whole:.0f}%" for m, s in spent.items())
                + " of the time in ingest_lines."
            )

        # where the time goes, without a profiler's overhead: inside SQLite's statements, or in Python
        with sqlite_time() as in_sqlite:
            seconds, _ = _ingest(lines, folder, "timed")
        report.note(
            f"Embedded ingest, one more run of {seconds:.2f} s with its SQLite statements timed: "
            f"{in_sqlite[0]:.2f} s in them (execute/executemany/COMMIT), {seconds - in_sqlite[0]:.2f} s in "
            f"Python, of which parsing (the reference's best run) is {min(parse_times):.2f} s."
        )
        applied_only = [_apply_parsed(lines, taxonomy, folder, f"parsed{i}") for i in range(repeats)]
    report.load("embedded: end")
    parse_rate = len(lines) / min(parse_times)
    ingest_rate = len(lines) / min(ingest_times)
    ratio = ingest_rate / parse_rate
    report.rows.append(
        Row(
            "2. embedded ingest (ingest_lines, SQLite file)",
            f"{ingest_rate:,.0f} events/s",
            f"parse+validate only {parse_rate:,.0f} events/s",
            f"{ratio:.2f}x",
            f">= {TARGET}x",
            ratio >= TARGET,
        )
    )
    bound = len(lines) / min(applied_only)
    report.rows.append(
        Row(
            "2. same, lines parsed beforehand (handler + store only)",
            f"{bound:,.0f} events/s",
            f"parse+validate only {parse_rate:,.0f} events/s",
            f"{bound / parse_rate:.2f}x",
            "(bound for parallel parsing)",
        )
    )
    report.note(
        f"Embedded ingest without its parsing (events parsed beforehand, untimed; best of {repeats}: "
        f"{', '.join(f'{t:.2f}' for t in applied_only)} s): handling and storing alone take "
        f"{min(applied_only) / min(parse_times):.1f}x the parse-only time. Measurement 2's 0.5x allows the whole "
        "ingest 2x, so parsing in other processes could not reach it unless this ratio is well under 2."
    )
    report.note(
        f"Embedded ingest: {data.describe()}, best of {repeats} runs each (after a warm-up of 2,000 lines); "
        f"ingest runs {', '.join(f'{t:.2f}' for t in ingest_times)} s, parse-only runs "
        f"{', '.join(f'{t:.2f}' for t in parse_times)} s; each ingest into a new SQLite file (WAL, synchronous=NORMAL) "
        "with policy evaluation, pseudonyms, dead letters in memory."
    )
