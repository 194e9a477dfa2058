"""The embedded ingest's unit of work: a chunk of input lines, parsed and prepared (nothing written), then stored.

One process does both steps in turn (:func:`streams.embedded.ingest_lines`), or two processes take turns
(:mod:`streams.ingest_pair`): each prepares a chunk while the other stores the one before.
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Iterable, Iterator
from dataclasses import dataclass, field

from graph.store import StoreError
from policies.findings import Finding
from schemas.events import AnyEvent
from schemas.parsing import EventError, parse_event
from streams.deadletter import DeadLetter, raw_fields
from streams.handler import Handler, Prepared

_log = logging.getLogger(__name__)

MAX_LINE_BYTES = 1_000_000
KEPT_OF_LONG_LINE = 1000
"""Bytes of a line longer than :data:`MAX_LINE_BYTES` kept in its dead letter (the rest is never even held)."""


@dataclass(frozen=True)
class Oversized:
    """A line longer than the limit, as :func:`read_lines` yields it: its first bytes and its length."""

    head: bytes
    size: int


@dataclass
class Chunk:
    """``batch_size`` consecutive input lines (the last chunk fewer), the first one numbered ``first``."""

    first: int
    lines: list[str | bytes | Oversized]


def chunks(lines: Iterable[str | bytes | Oversized], size: int) -> Iterator[Chunk]:
    """The input in chunks of ``size`` lines, blank and rejected lines included."""
    number, held = 1, []
    for raw in lines:
        held.append(raw)
        if len(held) >= size:
            yield Chunk(number, held)
            number, held = number + len(held), []
    if held:
        yield Chunk(number, held)


@dataclass
class ChunkOutcome:
    """What one chunk did: counts, findings, the dead letters in line order, and the people whose consent records
    it changed (see :meth:`Handler.commit`). It crosses from a second process (:mod:`streams.ingest_pair`), so it
    holds plain values only."""

    lines: int = 0
    blank: int = 0
    events: int = 0  # lines parsed into events
    applied: int = 0
    duplicates: int = 0
    rejected: int = 0
    suppressed: int = 0
    failed: int = 0
    notices_sent: int = 0
    notices_unsent: int = 0
    findings: list[Finding] = field(default_factory=list)
    letters: list[DeadLetter] = field(default_factory=list)
    touched: frozenset[str] = frozenset()


@dataclass
class ReadChunk:
    """A chunk parsed and prepared (:meth:`Handler.prepare`): what :func:`commit_chunk` stores."""

    prepared: Prepared
    held: list[tuple[int, str | bytes]]  # the line number and text of each event, in the order of the events
    outcome: ChunkOutcome  # so far: the lines that were read, and the rejected ones


def prepare_chunk(chunk: Chunk, handler: Handler, origin: str) -> ReadChunk:
    """Parse a chunk's lines (each bad one becomes a dead letter with its line number), then judge and project its
    events. Nothing is written."""
    out = ChunkOutcome(lines=len(chunk.lines))
    taxonomy, window = handler.taxonomy, handler.window
    events: list[AnyEvent] = []
    held: list[tuple[int, str | bytes]] = []
    letters = out.letters

    def dead_letter(
        number: int,
        raw: str | bytes,
        reason: str,
        problems: list[dict[str, str]] | None = None,
        event_id: str | None = None,
    ) -> None:
        text, encoded = raw_fields(raw)
        letters.append(DeadLetter(origin, number, reason, problems or [], text, event_id, raw_base64=encoded))

    for number, raw in enumerate(chunk.lines, start=chunk.first):
        if isinstance(raw, Oversized):
            reason = f"line of {raw.size} bytes, longer than the limit of {MAX_LINE_BYTES} (only its start is kept)"
            dead_letter(number, raw.head, reason)
            out.rejected += 1
            continue
        if not raw or raw.isspace():  # no copy of the line, unlike strip()
            out.blank += 1
            continue
        if len(raw) > MAX_LINE_BYTES:
            dead_letter(number, raw[:KEPT_OF_LONG_LINE], f"line longer than {MAX_LINE_BYTES} bytes")
            out.rejected += 1
            continue
        try:
            events.append(parse_event(raw, taxonomy, window))
        except EventError as exc:
            problems = [{"field": f, "message": m} for f, m in exc.problems]
            dead_letter(number, raw, str(exc), problems, exc.event_id)
            out.rejected += 1
            continue
        except Exception as exc:  # a bug, not the input's fault: this line only
            _log.error("line %d: internal error %s while reading it", number, type(exc).__name__)
            dead_letter(number, raw, f"internal error while reading the line ({type(exc).__name__})")
            out.failed += 1
            continue
        held.append((number, raw))
    prepared = handler.prepare(events)
    out.events, out.touched = len(events), prepared.touched
    return ReadChunk(prepared, held, out)


def commit_chunk(read: ReadChunk, handler: Handler, origin: str, recheck: Collection[str] = ()) -> ChunkOutcome:
    """Store a prepared chunk (see :meth:`Handler.commit` for ``recheck``); its outcome gets the counts, the findings
    and a dead letter for each event that could not be handled. A store error propagates."""
    out, held = read.outcome, read.held
    if not read.prepared.events:
        return out
    try:
        result = handler.commit(read.prepared, recheck)
    except StoreError:
        raise
    except Exception as exc:  # not one event's fault (the handler isolates those): keep the lines
        _log.error("a batch of %d event(s) failed: internal error %s", len(held), type(exc).__name__)
        for number, raw in held:
            text, encoded = raw_fields(raw)
            reason = f"internal error while applying its batch ({type(exc).__name__})"
            out.letters.append(DeadLetter(origin, number, reason, [], text, None, raw_base64=encoded))
        out.failed += len(held)
        return out
    out.applied += result.applied
    out.duplicates += result.duplicates
    out.suppressed += result.suppressed
    out.notices_sent += result.notices_sent
    out.notices_unsent += result.notices_unsent
    out.findings.extend(result.findings)
    for failure in result.failed:
        number, raw = held[failure.index]
        text, encoded = raw_fields(raw)
        out.letters.append(DeadLetter(origin, number, failure.reason, [], text, failure.event_id, raw_base64=encoded))
    out.failed += len(result.failed)
    out.letters.sort(key=lambda letter: letter.line or 0)
    return out
