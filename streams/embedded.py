"""The in-process runner used when no Kafka is configured: JSON Lines in, batches through the shared handler."""

from __future__ import annotations

import gc
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from types import TracebackType

from graph.changes import Finding
from schemas.events import AnyEvent, EventError, parse_event
from streams.deadletter import DeadLetter, DeadLetterSink
from streams.handler import Handler, HandleResult

MAX_LINE_BYTES = 1_000_000
# Events per store transaction: a commit writes every page the batch dirtied, and evidence for many people touches
# pages all over the B-trees (WAL, then the checkpoint), so larger batches write fewer pages per event. Ingesting the
# bench's 153k events into a new SQLite file wrote 2.6 GB in batches of 5,000, 1.8 GB in 10,000 and 1.1 GB in 20,000,
# for about 10% less CPU from 5,000 to 10,000 and little more beyond. Memory grows with the batch (that process,
# holding all the lines, peaked at 170 MB with 10,000 and 230 MB with 20,000; pipelined, up to three batches are
# alive at once: one being read, one waiting, one being applied); findings reach ``on_progress`` once per batch.
BATCH_SIZE = 10_000


@dataclass
class IngestReport:
    """Counts of one ingest run; ``rejected`` lines went to the dead letters; ``suppressed`` events were about a
    person erased after they occurred, and were dropped."""

    lines: int = 0
    blank: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0


@contextmanager
def collector_between_batches() -> Iterator[Callable[[], object]]:
    """Pause automatic cyclic garbage collection; yield what to call between batches to collect then instead.

    A batch keeps thousands of parsed events and their graph changes alive until it is applied, and the collector,
    triggered by allocations, traverses them again and again while the batch is built: about a fifth of the CPU of
    an ingest on the bench. Collecting the young generations once per batch's worth of lines still reclaims garbage
    in cycles (a rejected line leaves one) as it comes. Trade-off: the pause is process-wide, so other threads of the
    process see no automatic collection while an ingest runs. When the caller had already disabled the collector,
    it stays disabled and nothing is collected.

    With the pipelined :func:`ingest_lines` the pause covers its applying thread too (it is process-wide), and the
    reading thread collects at the moments the applying thread is idle: after each applied batch, while that thread
    waits for the batch's result to be counted (its changes are gone by then, as between two batches of the
    sequential ingest), and once per batch's worth of lines read only when no batch is queued or being applied (so
    that input with few valid lines is still collected as it comes). A collection at another moment would traverse
    the changes of the batch being applied, and hold up that thread's Python work meanwhile: on the bench that
    doubled the time spent collecting.
    """
    if not gc.isenabled():
        yield lambda: None
        return
    gc.disable()
    try:
        yield lambda: gc.collect(1)
    finally:
        gc.enable()


class _Applier:
    """One thread that hands batches to ``handler.handle`` in the order they were put, one at a time; the
    reading thread counts the results with ``count``.

    :meth:`flush` blocks while ``waiting`` batches are already queued, so memory stays bounded. After handling a
    batch the thread waits until the reading thread has counted its result (:meth:`take`) before it takes the
    next batch: the reading thread's ``on_progress`` thus sees the store as that batch left it, as in the
    sequential ingest. The first exception of ``handle`` ends the thread; :meth:`take` raises it in the reading
    thread, after counting the results of the batches before it. Leaving the ``with`` block makes the thread end
    after the batch it is on (no further batch), and joins it.
    """

    def __init__(
        self,
        handler: Handler,
        count: Callable[[list[HandleResult]], None],
        collect: Callable[[], object],
        *,
        waiting: int = 1,
    ) -> None:
        self._handler = handler
        self._count = count
        self._collect = collect
        self._waiting = waiting
        self._cond = threading.Condition(threading.Lock())
        self._queue: list[list[AnyEvent]] = []
        self._done: list[HandleResult] = []
        self._uncounted = 0  # results handed over whose counting is not finished
        self._error: BaseException | None = None
        self._closed = False  # no more batches will be put
        self._stopping = False  # handle no further batch
        self._ended = False
        self._handling = False  # a batch is being handled
        # results or the end of the thread await the reading thread: set under the lock, read without it, as a
        # hint, once per line
        self.news = False
        self._thread = threading.Thread(target=self._run, name="ingest-apply")

    def __enter__(self) -> _Applier:
        self._thread.start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        with self._cond:
            self._stopping = True
            self._cond.notify_all()
        self._thread.join()

    # -- the applying thread
    def _next(self) -> list[AnyEvent] | None:
        with self._cond:
            while not self._stopping and (self._uncounted or (not self._queue and not self._closed)):
                self._cond.wait()
            if self._stopping or not self._queue:
                return None
            batch = self._queue.pop(0)
            self._handling = True
            self._cond.notify_all()  # room for the next one
            return batch

    def _run(self) -> None:
        try:
            while (batch := self._next()) is not None:
                result = self._handler.handle(batch)
                del batch  # not kept alive while waiting for the next one
                with self._cond:
                    self._handling = False
                    self._done.append(result)
                    self._uncounted += 1
                    self.news = True
                    self._cond.notify_all()
        except BaseException as exc:  # handed to the reading thread, which raises it
            with self._cond:
                self._error = exc
        finally:
            with self._cond:
                self._ended = True
                self.news = True
                self._cond.notify_all()

    # -- the reading thread
    def take(self, *, wait: bool = False) -> bool:
        """Count the results handed over so far (with ``wait``, first wait for one or for the end of the thread);
        raise the exception that ended the thread, if any; return whether the thread has ended."""
        with self._cond:
            while wait and not self.news:
                self._cond.wait()
            done, self._done = self._done, []
            self.news = self._ended  # an ended thread stays news
            error, ended = self._error, self._ended
        if done:
            self._count(done)  # if this raises, the thread handles no further batch (it waits for the count)
            self._collect()  # between batches: the thread is idle
            with self._cond:
                self._uncounted -= len(done)
                self._cond.notify_all()
        if error is not None:
            raise error
        return ended

    def flush(self, batch: list[AnyEvent]) -> None:
        """Queue a batch, waiting for room, counting the results that come meanwhile."""
        while True:
            with self._cond:
                while len(self._queue) >= self._waiting and not self.news:
                    self._cond.wait()
                if not self.news:
                    self._queue.append(batch)
                    self._cond.notify_all()
                    return
            if self.take():
                raise RuntimeError("the applying thread of the ingest ended before its input did")

    def collect(self) -> None:
        """Collect garbage now if no batch is queued or being handled (a batch's worth of lines was read)."""
        with self._cond:
            idle = not self._queue and not self._handling
        if idle:
            self._collect()

    def finish(self) -> None:
        """No more batches: count the results of the queued ones as they come, until the thread ends."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
        while not self.take(wait=True):
            pass


class _Sequential:
    """Applies each batch in the reading thread (``ingest_lines(..., pipelined=False)``)."""

    news = False

    def __init__(
        self, handler: Handler, count: Callable[[list[HandleResult]], None], collect: Callable[[], object]
    ) -> None:
        self._handler = handler
        self._count = count
        self.collect = collect

    def take(self) -> bool:
        return False

    def flush(self, batch: list[AnyEvent]) -> None:
        self._count([self._handler.handle(batch)])


def ingest_lines(
    lines: Iterable[str | bytes],
    handler: Handler,
    dead_letters: DeadLetterSink,
    *,
    origin: str = "-",
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[IngestReport], None] | None = None,
    pipelined: bool = True,
) -> IngestReport:
    """Validate each line, apply the valid ones in batches, send each bad one to the dead letters with its line number.

    Pipelined (the default), the calling thread reads, validates and dead-letters the lines while one other
    thread applies the previous batch (``handler.handle``), so that the store's work in SQLite, which releases
    the GIL, can overlap the parsing; at most one full batch waits between them. Batches are handled one at a
    time, in order, and the report is the same as the sequential one's (``pipelined=False``: each batch is
    applied by the calling thread as soon as it is full). Measured on the bench's 153k events (2 CPUs, CPython
    3.11), this has not paid so far: the process used under one CPU in both modes, and the pipelined one was 0 to
    10% slower. The reading thread, several times faster than the applying one, parses in a burst each time a batch
    is taken off the queue, i.e. while the handler does its Python work (consent, policy, projection), not while
    SQLite runs without the GIL (``executemany`` takes the GIL back for each row; the COMMIT is a small part).

    ``on_progress(report)`` is called from the calling thread once per applied batch, after that batch's counts
    and findings are in the report, and before the next batch is handled, so it sees the store as that batch left
    it. Pipelined, it runs when the calling thread next looks (after each line read, while it waits for room in the
    queue, and at the end); the report's ``lines``, ``blank`` and ``rejected`` may then already count lines of
    later batches. With input that arrives slowly, a batch's ``on_progress`` (and the handling of the next batch)
    waits for the next line or the end of the input.

    If ``handle`` raises, no later batch is handled, reading stops, and that exception is raised here, after
    ``on_progress`` was called for the batches before it. If the calling thread gets an exception (from
    ``lines``, ``on_progress``, the dead letters, or an interrupt), the applying thread stops after the batch it is
    on and is joined before the exception propagates. No thread is left running when this returns or raises.

    The garbage collector runs between batches rather than all along (see :func:`collector_between_batches`).
    """
    report = IngestReport()

    def count(results: list[HandleResult]) -> None:
        for result in results:
            report.applied += result.applied
            report.duplicates += result.duplicates
            report.suppressed += result.suppressed
            report.findings.extend(result.findings)
            if on_progress is not None:
                on_progress(report)

    with collector_between_batches() as collect:
        if not pipelined:
            _read(lines, handler, dead_letters, origin, batch_size, report, _Sequential(handler, count, collect))
            return report
        with _Applier(handler, count, collect) as applier:
            _read(lines, handler, dead_letters, origin, batch_size, report, applier)
            applier.finish()
    return report


def _read(
    lines: Iterable[str | bytes],
    handler: Handler,
    dead_letters: DeadLetterSink,
    origin: str,
    batch_size: int,
    report: IngestReport,
    to: _Applier | _Sequential,
) -> None:
    """Read and validate the lines, counting them in ``report``; hand each full batch and the last one ``to`` the
    applier, and take what it has to say as each line is read."""
    batch: list[AnyEvent] = []
    for number, raw in enumerate(lines, start=1):
        if to.news:
            to.take()
        report.lines += 1
        if number % batch_size == 0:  # also when every line is rejected (each rejection leaves a cycle)
            to.collect()
        text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
        if not text.strip():
            report.blank += 1
            continue
        if len(text) > MAX_LINE_BYTES:
            dead_letters.put(DeadLetter(origin, number, f"line longer than {MAX_LINE_BYTES} bytes", raw=text[:1000]))
            report.rejected += 1
            continue
        try:
            batch.append(parse_event(text, handler.taxonomy))
        except EventError as exc:
            dead_letters.put(
                DeadLetter(
                    origin,
                    number,
                    str(exc),
                    problems=[{"field": f, "message": m} for f, m in exc.problems],
                    raw=text.rstrip("\n"),
                    event_id=exc.event_id,
                )
            )
            report.rejected += 1
            continue
        if len(batch) >= batch_size:
            to.flush(batch)
            batch = []
    if batch:
        to.flush(batch)
