"""The in-process runner used when no Kafka is configured: JSON Lines in, batches through the shared handler."""

from __future__ import annotations

import gc
import logging
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import BinaryIO

from graph.store import StoreError
from policies.findings import Finding
from schemas.events import AnyEvent, EventError, parse_event
from streams.deadletter import DeadLetter, DeadLetterSink, raw_fields
from streams.handler import Handler

_log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1_000_000
KEPT_OF_LONG_LINE = 1000
"""Bytes of a line longer than :data:`MAX_LINE_BYTES` kept in its dead letter (the rest is never even held)."""
# Events per store transaction: a commit writes every page the batch dirtied, and evidence for many people touches
# pages all over the B-trees (WAL, then the checkpoint), so larger batches write fewer pages per event. With the
# store's version 1 layout (edges stored), ingesting the bench's 153k events into a new SQLite file wrote 2.6 GB in
# batches of 5,000, 1.8 GB in 10,000 and 1.1 GB in 20,000, for about 10% less CPU from 5,000 to 10,000 and little
# more beyond (not measured again with version 2, which writes one row per event). Memory grows with the batch
# (that process, holding all the lines, peaked at 170 MB with 10,000 and 230 MB with 20,000); findings reach
# ``on_progress`` once per batch.
BATCH_SIZE = 10_000


@dataclass(frozen=True)
class Oversized:
    """A line longer than the limit, as :func:`read_lines` yields it: its first bytes and its length."""

    head: bytes
    size: int


def read_lines(fh: BinaryIO, limit: int = MAX_LINE_BYTES) -> Iterator[bytes | Oversized]:
    """The lines of a JSON Lines file opened in binary mode, each with its line ending.

    Lines end at ``\\n`` only (JSON Lines): a U+2028, U+0085, form feed or lone ``\\r`` inside a line does not
    split it, so line numbers are the file's. A line longer than ``limit`` bytes comes as :class:`Oversized`, read
    past in pieces, never held whole in memory. Bytes are not decoded here: the parser decides what is UTF-8.
    """
    readline = fh.readline
    while True:
        line = readline(limit + 1)
        if not line:
            return
        if len(line) <= limit or line.endswith(b"\n"):
            yield line
            continue
        head, size = line[:KEPT_OF_LONG_LINE], len(line)
        while not line.endswith(b"\n"):
            line = readline(1 << 16)
            if not line:
                break
            size += len(line)
        yield Oversized(head, size - (1 if line.endswith(b"\n") else 0))


@dataclass
class IngestReport:
    """Counts of one ingest run; ``rejected`` lines went to the dead letters; ``suppressed`` events were about a
    person erased after they occurred, and were dropped; ``failed`` lines met an internal error (not the input's
    fault: they went to the dead letters too, with that reason); ``unwritten`` dead letters could not be written
    (``unwritten_error`` says why)."""

    lines: int = 0
    blank: int = 0
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0
    failed: int = 0
    unwritten: int = 0
    unwritten_error: str = ""


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
    lines: Iterable[str | bytes | Oversized],
    handler: Handler,
    dead_letters: DeadLetterSink,
    *,
    origin: str = "-",
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[IngestReport], None] | None = None,
) -> IngestReport:
    """Validate each line, apply the valid ones in batches, send each bad one to the dead letters with its line number.

    One line never costs another: a line that cannot be parsed, validated, projected or stored goes to the dead
    letters with the reason, and every other line is applied; so does a line that meets an unexpected internal
    error (counted in ``failed``). A dead letter that cannot be written is counted in ``unwritten`` and the ingest
    goes on. Only a store error (unavailable, misconfigured) stops it. The garbage collector runs after each batch
    rather than all along (see :func:`collector_between_batches`).
    """
    report = IngestReport()
    batch: list[AnyEvent] = []
    held: list[tuple[int, str | bytes]] = []  # the line number and text of each event of the batch
    rejected_since = 0  # lines rejected since the collector last ran
    taxonomy, window = handler.taxonomy, handler.window

    def dead_letter(
        number: int,
        raw: str | bytes,
        reason: str,
        problems: list[dict[str, str]] | None = None,
        event_id: str | None = None,
    ) -> None:
        text, encoded = raw_fields(raw)
        letter = DeadLetter(origin, number, reason, problems or [], text, event_id, raw_base64=encoded)
        try:
            dead_letters.put(letter)
        except OSError as exc:
            report.unwritten += 1
            report.unwritten_error = exc.strerror or type(exc).__name__

    with collector_between_batches() as collect:

        def flush() -> None:
            nonlocal rejected_since
            if not batch:
                return
            try:
                result = handler.handle(batch)
            except StoreError:
                raise
            except Exception as exc:  # not one event's fault (the handler isolates those): keep the lines
                _log.error("a batch of %d event(s) failed: internal error %s", len(batch), type(exc).__name__)
                for number, raw in held:
                    dead_letter(number, raw, f"internal error while applying its batch ({type(exc).__name__})")
                report.failed += len(held)
            else:
                report.applied += result.applied
                report.duplicates += result.duplicates
                report.suppressed += result.suppressed
                report.findings.extend(result.findings)
                for failure in result.failed:
                    number, raw = held[failure.index]
                    dead_letter(number, raw, failure.reason, event_id=failure.event_id)
                report.failed += len(result.failed)
            batch.clear()
            held.clear()
            collect()  # the batch's events and changes are gone: little is left to traverse
            rejected_since = 0
            if on_progress is not None:
                on_progress(report)

        for number, raw in enumerate(lines, start=1):
            report.lines += 1
            if rejected_since >= batch_size:  # each rejected line leaves garbage in a cycle
                collect()
                rejected_since = 0
            if isinstance(raw, Oversized):
                reason = f"line of {raw.size} bytes, longer than the limit of {MAX_LINE_BYTES} (only its start is kept)"
                dead_letter(number, raw.head, reason)
                report.rejected += 1
                rejected_since += 1
                continue
            if not raw or raw.isspace():  # no copy of the line, unlike strip()
                report.blank += 1
                continue
            if len(raw) > MAX_LINE_BYTES:
                dead_letter(number, raw[:KEPT_OF_LONG_LINE], f"line longer than {MAX_LINE_BYTES} bytes")
                report.rejected += 1
                rejected_since += 1
                continue
            try:
                batch.append(parse_event(raw, taxonomy, window))
            except EventError as exc:
                problems = [{"field": f, "message": m} for f, m in exc.problems]
                dead_letter(number, raw, str(exc), problems, exc.event_id)
                report.rejected += 1
                rejected_since += 1
                continue
            except Exception as exc:  # a bug, not the input's fault: this line only
                _log.error("line %d: internal error %s while reading it", number, type(exc).__name__)
                dead_letter(number, raw, f"internal error while reading the line ({type(exc).__name__})")
                report.failed += 1
                continue
            held.append((number, raw))
            if len(batch) >= batch_size:
                flush()
        flush()
    return report
