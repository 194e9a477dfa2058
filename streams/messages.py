"""Messages in and documents out, shared by the Kafka worker and `lineage alerter`: a raw message as read, its
parse into events or a dead-letter envelope (why, and where it was), the alert document of a finding, and the
producers and offset committers both consumers write through (Faust's, and in-memory ones for tests).

Parsing never raises: a message that fails the contract, or meets an internal error while it is read, becomes a
dead letter with the reason, so no message can stop a consumer.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, cast

from graph.store import alert_id
from policies.findings import Finding
from schemas.events import AnyEvent
from schemas.parsing import EventError, TimeWindow, parse_event
from schemas.taxonomy import Taxonomy
from streams.deadletter import DeadLetter
from streams.handler import describe_error

if TYPE_CHECKING:
    import faust

_log = logging.getLogger(__name__)

MAX_DEAD_LETTER_RAW = 200_000
"""Bytes of an invalid message's value kept in its dead letter."""


@dataclass(frozen=True)
class RawMessage:
    """One message as read from the events topic: its bytes and where it was."""

    value: bytes | None
    topic: str
    partition: int
    offset: int
    key: bytes | None = None


class Publisher(Protocol):
    """Produces messages to Kafka topics; ``publish`` returns once the broker has the message."""

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None: ...


class OffsetCommitter(Protocol):
    """Commits consumer offsets (the next offset to read, per topic partition) for the worker's group."""

    async def commit(self, offsets: Mapping[Any, int]) -> None: ...


class FaustCommitter:
    """Commits through the Faust consumer (revoked partitions are left out; the producer is flushed first)."""

    def __init__(self, app: faust.App) -> None:
        self.app = app

    async def commit(self, offsets: Mapping[Any, int]) -> None:
        # Faust has no public "commit these offsets" call; _commit_offsets is what its own commit() ends in
        await cast(Any, self.app.consumer)._commit_offsets(offsets)


class MemoryCommitter:
    """Keeps the committed offsets in a dict (tests)."""

    def __init__(self) -> None:
        self.offsets: dict[Any, int] = {}
        self.commits = 0

    async def commit(self, offsets: Mapping[Any, int]) -> None:
        self.offsets.update(offsets)
        self.commits += 1


class MemoryPublisher:
    """Keeps published messages in a list (tests)."""

    def __init__(self) -> None:
        self.messages: list[tuple[str, bytes | None, bytes]] = []

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None:
        self.messages.append((topic, key, value))

    def on(self, topic: str) -> list[dict[str, Any]]:
        """The JSON documents published to ``topic``."""
        return [json.loads(value) for name, _, value in self.messages if name == topic]


class FaustPublisher:
    """Produces through the Faust app's own producer and waits for the broker's acknowledgement."""

    def __init__(self, app: faust.App) -> None:
        self.app = app
        self._topics: dict[str, Any] = {}

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None:
        channel = self._topics.get(topic)
        if channel is None:
            channel = self._topics[topic] = self.app.topic(topic, key_serializer="raw", value_serializer="raw")
        pending = await channel.send(key=key, value=value)
        await pending  # delivered (acks=all), or raises


def dead_letter_envelope(
    message: RawMessage, reason: str, problems: list[dict[str, str]] | None = None, event_id: str | None = None
) -> dict[str, Any]:
    """The dead-letter document: the file dead letter's fields, where the message was, and its original bytes.

    ``raw`` holds the original value when it is UTF-8 text; otherwise ``raw_base64`` holds the bytes. A value
    longer than :data:`MAX_DEAD_LETTER_RAW` bytes is cut to that length, and the reason says so; a long or cut
    value, or text that JSON escaping would blow up (control characters take 6 bytes each), goes to
    ``raw_base64``, so that the dead letter always fits in one Kafka message.
    """
    value = message.value or b""
    head = value[:MAX_DEAD_LETTER_RAW]
    try:
        text, raw_b64 = head.decode("utf-8"), None
        if len(head) < len(value) or len(json.dumps(text, ensure_ascii=False)) > 2 * MAX_DEAD_LETTER_RAW:
            raise UnicodeDecodeError("utf-8", head, 0, 0, "too long to keep as text")
    except UnicodeDecodeError:
        text, raw_b64 = "", base64.b64encode(head).decode("ascii")
    if len(head) < len(value):
        reason = f"{reason} (message of {len(value)} bytes: only its first {MAX_DEAD_LETTER_RAW} kept)"
    letter = DeadLetter(
        origin=f"kafka:{message.topic}/{message.partition}@{message.offset}",
        line=None,
        reason=reason,
        problems=problems or [],
        raw=text,
        event_id=event_id,
    )
    envelope = asdict(letter)
    envelope.update(
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key.decode("utf-8", errors="replace") if message.key is not None else None,
        raw_base64=raw_b64,
    )
    return envelope


def parse_messages(
    messages: Sequence[RawMessage], taxonomy: Taxonomy | None, window: TimeWindow | None = None
) -> tuple[list[AnyEvent], list[tuple[RawMessage, dict[str, Any]]]]:
    """The valid events of a batch, and each invalid message with its dead-letter envelope (why, and where).

    Parsing a message never raises: a message that meets an internal error (not the input's fault) is set aside
    with that reason too, so no message can stop the worker.
    """
    valid, _, letters = parse_batch(messages, taxonomy, window)
    return valid, letters


def parse_batch(
    messages: Sequence[RawMessage], taxonomy: Taxonomy | None, window: TimeWindow | None = None
) -> tuple[list[AnyEvent], list[RawMessage], list[tuple[RawMessage, dict[str, Any]]]]:
    """:func:`parse_messages`, with the message of each valid event (same order)."""
    valid: list[AnyEvent] = []
    sources: list[RawMessage] = []
    letters: list[tuple[RawMessage, dict[str, Any]]] = []
    for message in messages:
        if not message.value:
            letters.append((message, dead_letter_envelope(message, "empty message (no value)")))
            continue
        try:
            valid.append(parse_event(message.value, taxonomy, window))
            sources.append(message)
        except EventError as exc:
            problems = [{"field": f, "message": m} for f, m in exc.problems]
            letters.append((message, dead_letter_envelope(message, str(exc), problems, exc.event_id)))
        except Exception as exc:  # a bug, not the message's fault: this message only
            reason = f"internal error while reading the message ({describe_error(exc)})"
            _log.error("%s/%d@%d: %s", message.topic, message.partition, message.offset, reason)
            letters.append((message, dead_letter_envelope(message, reason)))
    return valid, sources, letters


def finding_document(finding: Finding) -> dict[str, Any]:
    """One alert message: the finding, with the store's dedupe id of the alert it belongs to."""
    doc = asdict(finding)
    doc["occurred_at"] = finding.occurred_at.astimezone(UTC).isoformat()
    doc["alert_id"] = alert_id(finding.rule, finding.recipient_id, finding.category, finding.purpose)
    doc["raised_at"] = datetime.now(UTC).isoformat()
    return doc


async def publish_findings(publisher: Publisher, topic: str, findings: Sequence[Finding]) -> None:
    """Each finding to the alerts topic, keyed by the person's pseudonym; returns once the broker has them all."""
    sends = [publisher.publish(topic, f.subject.encode("ascii"), to_json(finding_document(f))) for f in findings]
    await asyncio.gather(*sends)


def to_json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8")
