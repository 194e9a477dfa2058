"""Thin Faust agents: decode and validate raw event messages, apply each batch through the shared handler, commit.

Delivery is at least once, and the graph makes it exactly once in effect:

* A batch's offsets are committed only after :meth:`Handler.handle` returned, i.e. after the store committed
  the batch, and after its dead letters and alerts were delivered. The commit is explicit (one per batch).
  Faust's own ack bookkeeping is switched off for the events topic (``acks=False``): Faust acks messages it
  *skips* while stopping or rebalancing, re-enables acks on the stream when a ``take`` loop exits with an
  error, and commits an acked offset past unacked ones when the partition has no committed offset yet (or
  when the hole is one message long). Measured here with faust-streaming 0.15.3: a worker whose store write
  failed committed offsets past the failed batch. With ``acks=False`` Faust commits nothing for this topic.
* The store records processed event ids in the same transaction as the changes, so a message delivered again
  (after a crash between the write and the offset commit, a rebalance, or a stop) is applied once.
* :class:`~graph.store.StoreUnavailable` (transient) is retried with exponential backoff, holding the batch
  (and with it the partitions' progress). Any other store error (:class:`~graph.store.StoreError`: the store's
  fault, not the events') propagates: the agent runs under a crashing supervisor, so the worker exits (status 1)
  without committing the batch, and a restarted worker receives it again.
* One message never stops the others: a message that fails the contract, or meets an internal error while it is
  read, projected or written (any error but a ``StoreError``: the handler applies the rest of the batch without
  it), is set aside in the dead-letter topic with the reason, and the batch's offsets move on. Nothing is skipped
  silently.
* If the worker dies after the write but before the commit, redelivery re-publishes that batch's dead letters
  (duplicates are possible there) but not its alerts: the handler reports findings only for events it applies
  for the first time. The alerts themselves are in the store (``lineage alerts``); the topic is a notification.
"""

from __future__ import annotations

import asyncio
import base64
import json
import logging
from collections.abc import AsyncGenerator, Callable, Mapping, Sequence
from concurrent.futures import Executor
from dataclasses import asdict, dataclass, replace
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Protocol, TypeVar, cast

from graph.store import StoreUnavailable, alert_id
from policies.findings import Finding
from schemas.events import AnyEvent, EventError, TimeWindow, parse_event
from schemas.taxonomy import Taxonomy
from streams.deadletter import DeadLetter
from streams.handler import Handler, HandleResult, describe_error
from streams.topics import TopicNames

if TYPE_CHECKING:
    import faust

    from streams.alerts.dispatcher import AlertDispatcher
    from streams.health import HealthFile

_log = logging.getLogger(__name__)

AGENT_NAME = "lineage-apply-events"
MAX_DEAD_LETTER_RAW = 200_000
"""Bytes of an oversized message kept in its dead letter (escaped, it must still fit in one Kafka message)."""
BATCH_POLL = 0.005
"""Seconds between looks at the events queue while a batch fills (what a batch may close late, at most)."""
T = TypeVar("T")


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


class BatchProcessor:
    """Validates a batch of raw messages, applies the valid events, publishes dead letters and alerts.

    Returns only once all of that is durable; the caller acks the batch afterwards.
    """

    def __init__(
        self,
        handler: Handler,
        publisher: Publisher,
        topics: TopicNames,
        *,
        executor: Executor | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        dispatcher: AlertDispatcher | None = None,
        health: HealthFile | None = None,
        publish_findings: bool = True,
    ) -> None:
        self.handler = handler
        #: False when `lineage alerter` publishes the findings to the alerts topic (see streams/alerts/alerter.py)
        self.publish_findings = publish_findings
        #: where the worker reports its health (``lineage worker --health-file``), if anywhere
        self.health = health
        #: the alert sinks (webhook, Teams, Slack, log), fed exactly as `lineage ingest` feeds them
        self.dispatcher = dispatcher
        self.publisher = publisher
        self.topics = topics
        self.executor = executor
        self.retry_initial = retry_initial
        self.retry_max = retry_max

    async def __call__(self, messages: Sequence[RawMessage]) -> HandleResult:
        valid, sources, letters = parse_batch(messages, self.handler.taxonomy, self.handler.window)
        result = await self._apply(valid) if valid else HandleResult(0, 0, ())
        for failure in result.failed:  # an event that could not be projected or stored: set aside, not lost
            message = sources[failure.index]
            letters.append((message, dead_letter_envelope(message, failure.reason, event_id=failure.event_id)))
        for message, envelope in letters:
            await self.publisher.publish(self.topics.deadletter, message.key, _json(envelope))
        outcome = replace(result, rejected=len(letters))
        if self.publish_findings:
            await publish_findings(self.publisher, self.topics.alerts, outcome.findings)
        if self.dispatcher is not None and outcome.findings:
            # same thread as the store writes: the dispatcher reads the stored alerts it notifies about (and the
            # store can become unavailable between the write and this read: retried like the write)
            await self._retrying(self.dispatcher.publish, list(outcome.findings), len(outcome.findings))
        if self.health is not None:
            self.health.batch_done(outcome.applied, outcome.duplicates, outcome.rejected, outcome.suppressed)
        return outcome

    async def _apply(self, events: list[AnyEvent]) -> HandleResult:
        """``handler.handle`` off the event loop (it is synchronous I/O), retrying while the store is unavailable."""
        return await self._retrying(self.handler.handle, events, len(events))

    async def _retrying(self, work: Callable[[Any], T], arg: Any, events: int) -> T:
        return await retrying(
            work,
            arg,
            events,
            executor=self.executor,
            initial=self.retry_initial,
            maximum=self.retry_max,
            health=self.health,
        )


async def retrying(
    work: Callable[[Any], T],
    arg: Any,
    events: int,
    *,
    executor: Executor | None,
    initial: float,
    maximum: float,
    health: HealthFile | None = None,
) -> T:
    """``work(arg)`` in the executor, retried with exponential backoff (capped) while the store is unavailable.

    The batch is held meanwhile, so nothing is committed and the partitions keep their position.
    """
    loop = asyncio.get_running_loop()
    delay, tries, down_since = initial, 0, 0.0
    while True:
        try:
            result = await loop.run_in_executor(executor, work, arg)
        except StoreUnavailable as exc:
            tries += 1
            if tries == 1:  # one line when the outage begins and one when it ends, not one per try
                down_since = loop.time()
                _log.warning(
                    "graph store unavailable (%s); holding %d event(s) and retrying, at most %.0f s apart",
                    exc,
                    events,
                    maximum,
                )
            if health is not None:
                health.store_unavailable(str(exc), events, delay)
            await asyncio.sleep(delay)
            delay = min(delay * 2, maximum)
            continue
        if tries:
            _log.warning(
                "graph store available again after %.1f s and %d failed tries", loop.time() - down_since, tries
            )
        return result


async def publish_findings(publisher: Publisher, topic: str, findings: Sequence[Finding]) -> None:
    """Each finding to the alerts topic, keyed by the person's pseudonym; returns once the broker has them all."""
    sends = [publisher.publish(topic, f.subject.encode("ascii"), _json(finding_document(f))) for f in findings]
    await asyncio.gather(*sends)


def _json(doc: dict[str, Any]) -> bytes:
    return json.dumps(doc, ensure_ascii=False, default=str).encode("utf-8")


def batch_offsets(events: Sequence[Any]) -> dict[Any, int]:
    """The offsets to commit after a batch: one past the highest offset seen, per topic partition."""
    offsets: dict[Any, int] = {}
    for ev in events:
        tp, offset = ev.message.tp, ev.message.offset
        offsets[tp] = max(offsets.get(tp, 0), offset + 1)
    return offsets


def register_agents(
    app: faust.App,
    processor: BatchProcessor,
    committer: OffsetCommitter,
    *,
    batch_size: int,
    batch_wait: float,
) -> faust.types.AgentT[Any]:
    """Attach the events agent to ``app``: raw bytes in, batches of ``batch_size`` or what came in ``batch_wait``."""
    from mode import CrashingSupervisor

    # acks=False: Faust must not commit this topic's offsets by itself (see the module docstring)
    source = app.topic(
        processor.topics.events,
        key_type=bytes,
        value_type=bytes,
        key_serializer="raw",
        value_serializer="raw",
        acks=False,
    )

    @app.agent(source, name=AGENT_NAME, supervisor_strategy=CrashingSupervisor)
    async def apply_events(stream: faust.StreamT[Any]) -> Any:
        async for events in channel_batches(stream.channel, batch_size, batch_wait):
            outcome = await processor([_raw(ev) for ev in events])
            await committer.commit(batch_offsets(events))  # only now: the batch is in the store
            yield outcome

    return apply_events


async def channel_batches(channel: Any, size: int, wait: float) -> AsyncGenerator[list[Any], None]:
    """The events of ``channel`` (a Faust topic) in batches: up to ``size`` events, or what came within ``wait``
    seconds of the batch's first event.

    Reads the channel's queue directly, where Faust's conductor puts each decoded event, instead of going through a
    :class:`faust.Stream`: the stream's per-event machinery (its processors, sensors and ack bookkeeping, and for
    ``take`` a background drainer handing each event over) cost more CPU than the rest of the worker's Faust path
    (see bench/RESULTS.md). Nothing here acks: offsets are committed explicitly after each batch.
    """
    loop = asyncio.get_running_loop()
    queue = aiter(channel).queue  # iterating a topic subscribes the consumer to it
    get, get_nowait, empty = queue.get, queue.get_nowait, queue.empty
    poll = min(wait, BATCH_POLL)
    while True:
        try:
            batch = [await get()]
        except StopAsyncIteration:  # the channel is closed: the worker stops (raised on, it would read as a crash)
            return
        deadline = loop.time() + wait
        while True:
            while len(batch) < size and not empty():
                batch.append(get_nowait())
            remaining = deadline - loop.time()
            if len(batch) >= size or remaining <= 0:
                break
            # the conductor hands events over one at a time: waking up for each would cost more than the batch
            await asyncio.sleep(min(remaining, poll))
        yield batch


def _raw(event: Any) -> RawMessage:
    message = event.message
    value = event.value
    return RawMessage(
        value=value if isinstance(value, bytes) or value is None else str(value).encode("utf-8"),
        topic=message.topic,
        partition=message.partition,
        offset=message.offset,
        key=message.key if isinstance(message.key, bytes) else None,
    )
