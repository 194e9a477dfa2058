"""Measurement 2: embedded ingest (``ingest_lines`` into a SQLite file) against its serial ceiling: parsing the lines
plus the store's own statements on rows built beforehand."""

from __future__ import annotations

import os
import sqlite3
import statistics
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
from schemas.parsing import parse_event
from streams.deadletter import MemoryDeadLetters
from streams.embedded import ingest_lines
from streams.handler import Handler

TARGET = 1.0


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


def _ingest(lines: list[str], folder: Path, name: str, processes: int = 1) -> tuple[float, int]:
    with timer() as t, _handler(folder, name) as handler:
        report = ingest_lines(lines, handler, MemoryDeadLetters(), origin=name, processes=processes)
    if report.rejected:
        raise RuntimeError(f"{report.rejected} simulated line(s) were rejected")
    return t[0], report.applied


@contextmanager
def sqlite_time(record: list[tuple[str, str, Any]] | None = None) -> Iterator[list[float]]:
    """Meanwhile, connections opened by ``sqlite3.connect`` add the seconds spent in their statements (execute,
    executemany, executescript, COMMIT included, from Python's call to its return) to the yielded list's only item;
    with ``record``, each statement is also appended to it as (method, SQL, parameters: the rows as a list)."""
    spent = [0.0]

    class Cursor(sqlite3.Cursor):
        def execute(self, sql: str, params: Any = (), /) -> Self:
            if record is not None:
                record.append(("execute", sql, params))
            start = time.perf_counter()
            try:
                return super().execute(sql, params)
            finally:
                spent[0] += time.perf_counter() - start

        def executemany(self, sql: str, rows: Any, /) -> Self:
            if record is not None:
                rows = list(rows)
                record.append(("executemany", sql, rows))
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

        def executescript(self, script: str, /) -> sqlite3.Cursor:
            if record is not None:
                record.append(("executescript", script, None))
            start = time.perf_counter()
            try:
                return super().executescript(script)
            finally:
                spent[0] += time.perf_counter() - start

    connect = sqlite3.connect
    sqlite3.connect = lambda *a, **k: connect(*a, factory=Connection, **k)  # type: ignore[assignment]
    try:
        yield spent
    finally:
        sqlite3.connect = connect


def replay(statements: list[tuple[str, str, Any]], path: Path) -> float:
    """Seconds to run recorded statements, in their order, on a new connection to a new file (reading every row a
    query returns, as the store reads them): the store's own work inside SQLite, on rows already built."""
    with timer() as t:
        db = sqlite3.connect(path, isolation_level=None)
        try:
            for method, sql, params in statements:
                if method == "executescript":
                    db.executescript(sql)
                elif method == "executemany":
                    db.executemany(sql, params)
                else:
                    db.execute(sql, params).fetchall()
        finally:
            db.close()
    return t[0]


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


def spread(values: list[float], fmt: str = "{:.2f}") -> str:
    """``median (min-max)`` of the values."""
    return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"


def run(data: Dataset, report: Report, *, repeats: int = 3, profile: bool = False) -> None:
    """``repeats`` rounds after a warm-up, each timing, on the same lines: parsing alone, the store's statements
    replayed on rows built beforehand, the ingest on two processes and on one (a new SQLite file each time)."""
    taxonomy = default_policy().taxonomy()
    lines = data.lines
    report.load("embedded: start")
    with tempfile.TemporaryDirectory(prefix="bench-embedded-") as tmp:
        folder = Path(tmp)
        warm = lines[: min(len(lines), 2000)]
        _parse_all(warm, taxonomy)
        _ingest(warm, folder, "warmup")
        # the statements the store sends SQLite for these lines (one ingest, recorded, not timed)
        statements: list[tuple[str, str, Any]] = []
        with sqlite_time(statements):
            _ingest(lines, folder, "recorded")
        parse_times, replay_times, pair_times, serial_times, pair_cpu = [], [], [], [], []
        for i in range(repeats):
            parse_times.append(_parse_all(lines, taxonomy))
            replay_times.append(replay(statements, folder / f"replay{i}.db"))
            cpu0 = _cpu()
            seconds, applied = _ingest(lines, folder, f"pair{i}", processes=2)
            pair_cpu.append(_cpu() - cpu0)
            if applied != len(lines):
                raise RuntimeError(f"applied {applied} of {len(lines)} events")
            pair_times.append(seconds)
            serial_times.append(_ingest(lines, folder, f"serial{i}")[0])
        if profile:
            from bench.profiling import shares

            _, spent = shares(lambda: _ingest(lines, folder, "profiled"), MARKERS)
            whole = spent.pop("ingest_lines")
            report.note(
                f"Embedded ingest profile (one process, pyinstrument, one run of {whole:.2f} s): "
                + ", ".join(f"{m} {100 * s / whole:.0f}%" for m, s in spent.items())
                + " of the time in ingest_lines."
            )
        # where the time goes, without a profiler's overhead: inside SQLite's statements, or in Python
        with sqlite_time() as in_sqlite:
            seconds, _ = _ingest(lines, folder, "timed")
    report.load("embedded: end")
    n = len(lines)
    parse_s, replay_s = statistics.median(parse_times), statistics.median(replay_times)
    ceiling_s = parse_s + replay_s
    pair_s, serial_s = statistics.median(pair_times), statistics.median(serial_times)
    reference = f"serial ceiling {n / ceiling_s:,.0f} events/s (parse {parse_s:.2f} s + statements {replay_s:.2f} s)"
    report.rows.append(
        Row(
            "2. embedded ingest, 2 processes (ingest_lines, SQLite file)",
            f"{n / pair_s:,.0f} events/s",
            reference,
            f"{ceiling_s / pair_s:.2f}x",
            f">= {TARGET}x",
            ceiling_s / pair_s >= TARGET,
        )
    )
    report.rows.append(
        Row(
            "2. same, one process",
            f"{n / serial_s:,.0f} events/s",
            reference,
            f"{ceiling_s / serial_s:.2f}x",
        )
    )
    report.note(
        f"Embedded ingest: {data.describe()}, {repeats} rounds after a warm-up of 2,000 lines, each into a new SQLite "
        "file (WAL, synchronous=NORMAL) with policy evaluation, pseudonyms, dead letters in memory; seconds as median "
        f"(min-max): two processes {spread(pair_times)}, one process {spread(serial_times)}, parse_event alone "
        f"{spread(parse_times)}, the store's statements replayed {spread(replay_times)}. The ceiling is the least one "
        "process could take: parsing the lines plus the statements the store sent SQLite for them (recorded in one "
        f"ingest: {len(statements):,} calls, the rows of each executemany included), replayed in order on a new file "
        "with the rows built beforehand."
    )
    report.note(
        f"Embedded ingest on two processes: {spread(pair_cpu)} CPU-s for both together "
        f"({1e6 * statistics.median(pair_cpu) / n:.0f} us/event) over {pair_s:.2f} s: "
        f"{statistics.median(pair_cpu) / pair_s:.2f} cores busy on average."
    )
    report.note(
        f"Embedded ingest on one process, one more run of {seconds:.2f} s with its SQLite statements timed: "
        f"{in_sqlite[0]:.2f} s in them (execute/executemany/COMMIT), {seconds - in_sqlite[0]:.2f} s in "
        f"Python, of which parsing (the median above) is {parse_s:.2f} s."
    )


def _cpu() -> float:
    """CPU seconds of this process and of its children that have ended."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system
