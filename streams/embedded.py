"""The in-process runner used when no Kafka is configured: JSON Lines in, batches through the shared handler."""

from __future__ import annotations

import gc
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field

from policies.findings import Finding
from schemas.events import AnyEvent, EventError, parse_event
from streams.deadletter import DeadLetter, DeadLetterSink
from streams.handler import Handler

MAX_LINE_BYTES = 1_000_000
# Events per store transaction: a commit writes every page the batch dirtied, and evidence for many people touches
# pages all over the B-trees (WAL, then the checkpoint), so larger batches write fewer pages per event. With the
# store's version 1 layout (edges stored), ingesting the bench's 153k events into a new SQLite file wrote 2.6 GB in
# batches of 5,000, 1.8 GB in 10,000 and 1.1 GB in 20,000, for about 10% less CPU from 5,000 to 10,000 and little
# more beyond (not measured again with version 2, which writes one row per event). Memory grows with the batch
# (that process, holding all the lines, peaked at 170 MB with 10,000 and 230 MB with 20,000); findings reach
# ``on_progress`` once per batch.
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
    an ingest on the bench. :func:`ingest_lines` collects the young generations right after each batch is applied,
    when its events and changes are gone (collecting while a batch is held traverses all of it: on the bench that
    was ~0.4 s of a ~7 s ingest), and after every batch's worth of rejected lines (each leaves garbage in a
    cycle), so that input that is mostly rejected is collected as it comes. Trade-off: the pause is process-wide,
    so other threads of the process (there are none in ``lineage ingest``) see no automatic collection while an
    ingest runs. When the caller had already disabled the collector, it stays disabled and nothing is collected.
    """
    if not gc.isenabled():
        yield lambda: None
        return
    gc.disable()
    try:
        yield lambda: gc.collect(1)
    finally:
        gc.enable()


def ingest_lines(
    lines: Iterable[str | bytes],
    handler: Handler,
    dead_letters: DeadLetterSink,
    *,
    origin: str = "-",
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Validate each line, apply the valid ones in batches, send each bad one to the dead letters with its line number.

    The garbage collector runs after each batch rather than all along (see :func:`collector_between_batches`).
    """
    report = IngestReport()
    batch: list[AnyEvent] = []
    rejected_since = 0  # lines rejected since the collector last ran

    with collector_between_batches() as collect:

        def flush() -> None:
            nonlocal rejected_since
            if not batch:
                return
            result = handler.handle(batch)
            report.applied += result.applied
            report.duplicates += result.duplicates
            report.suppressed += result.suppressed
            report.findings.extend(result.findings)
            batch.clear()
            collect()  # the batch's events and changes are gone: little is left to traverse
            rejected_since = 0
            if on_progress is not None:
                on_progress(report)

        for number, raw in enumerate(lines, start=1):
            report.lines += 1
            if rejected_since >= batch_size:  # each rejected line leaves garbage in a cycle
                collect()
                rejected_since = 0
            text = raw.decode("utf-8", errors="replace") if isinstance(raw, bytes) else raw
            if not text or text.isspace():  # no copy of the line, unlike strip()
                report.blank += 1
                continue
            if len(text) > MAX_LINE_BYTES:
                dead_letters.put(
                    DeadLetter(origin, number, f"line longer than {MAX_LINE_BYTES} bytes", raw=text[:1000])
                )
                report.rejected += 1
                rejected_since += 1
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
                rejected_since += 1
                continue
            if len(batch) >= batch_size:
                flush()
        flush()
    return report
