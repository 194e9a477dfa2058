"""The in-process runner used when no Kafka is configured: JSON Lines in, batches through the shared handler."""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from typing import BinaryIO

from policies.findings import Finding
from streams.collector import collector_between_batches
from streams.deadletter import DeadLetterSink
from streams.handler import Handler
from streams.ingest_chunks import (
    KEPT_OF_LONG_LINE,
    MAX_LINE_BYTES,
    ChunkOutcome,
    Oversized,
    chunks,
    commit_chunk,
    prepare_chunk,
)

_log = logging.getLogger(__name__)

# Events per store transaction: a commit writes every page the batch dirtied, and evidence for many people touches
# pages all over the B-trees (WAL, then the checkpoint), so larger batches write fewer pages per event. With the
# store's version 1 layout (edges stored), ingesting the bench's 153k events into a new SQLite file wrote 2.6 GB in
# batches of 5,000, 1.8 GB in 10,000 and 1.1 GB in 20,000, for about 10% less CPU from 5,000 to 10,000 and little
# more beyond (not measured again with version 2, which writes one row per event). Memory grows with the batch
# (that process, holding all the lines, peaked at 170 MB with 10,000 and 230 MB with 20,000); findings reach
# ``on_progress`` once per batch.
BATCH_SIZE = 10_000


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
    events: int = 0  # lines parsed into events
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    findings: list[Finding] = field(default_factory=list)
    suppressed: int = 0
    failed: int = 0
    unwritten: int = 0
    unwritten_error: str = ""
    notices_sent: int = 0  # Art. 19 notices of the erasures applied (LINEAGE_NOTIFY_ERASURES)
    notices_unsent: int = 0


def ingest_lines(
    lines: Iterable[str | bytes | Oversized],
    handler: Handler,
    dead_letters: DeadLetterSink,
    *,
    origin: str = "-",
    batch_size: int = BATCH_SIZE,
    on_progress: Callable[[IngestReport], None] | None = None,
    processes: int = 1,
) -> IngestReport:
    """Validate each line, apply the valid ones in batches of the events of ``batch_size`` lines, send each bad one
    to the dead letters with its line number.

    One line never costs another: a line that cannot be parsed, validated, projected or stored goes to the dead
    letters with the reason, and every other line is applied; so does a line that meets an unexpected internal
    error (counted in ``failed``). A dead letter that cannot be written is counted in ``unwritten`` and the ingest
    goes on. Only a store error (unavailable, misconfigured) stops it. The garbage collector runs after each batch
    rather than all along (see :func:`collector_between_batches`).

    ``processes=2`` uses a second process when the input has more than one batch and the store can be opened
    from another process (:meth:`GraphStore.reopen`): the two take the batches in turn and store them in order
    (:mod:`streams.ingest_pair`), with the same outcome as one process.
    """
    report = IngestReport()

    def deliver(out: ChunkOutcome) -> None:
        """A chunk's outcome into the report and its dead letters out, in input order."""
        for letter in out.letters:
            try:
                dead_letters.put(letter)
            except OSError as exc:
                report.unwritten += 1
                report.unwritten_error = exc.strerror or type(exc).__name__
        report.lines += out.lines
        report.blank += out.blank
        report.applied += out.applied
        report.duplicates += out.duplicates
        report.rejected += out.rejected
        report.suppressed += out.suppressed
        report.failed += out.failed
        report.notices_sent += out.notices_sent
        report.notices_unsent += out.notices_unsent
        report.findings.extend(out.findings)
        if on_progress is not None and out.events:
            on_progress(report)

    with collector_between_batches() as collect:
        pieces = chunks(lines, batch_size)
        if processes > 1:
            from streams.ingest_pair import ingest_in_pair

            ingest_in_pair(pieces, handler, origin, deliver, collect)
        else:
            for chunk in pieces:
                read = prepare_chunk(chunk, handler, origin)
                deliver(commit_chunk(read, handler, origin))
                del read, chunk  # let go of the batch's events and changes before collecting: held, they would
                collect()  # be traversed (~12 % of an ingest's CPU); gone, little is left to traverse
    return report
