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
import gc
import logging
from collections.abc import AsyncGenerator, Callable, Sequence
from concurrent.futures import Executor
from dataclasses import replace
from typing import TYPE_CHECKING, Any, TypeVar

from graph.store import StoreUnavailable
from schemas.events import AnyEvent
from streams.collector import collector_paused
from streams.handler import Handler, HandleResult
from streams.key_check import KeyCheck, Misplaced
from streams.messages import (
    OffsetCommitter,
    Publisher,
    RawMessage,
    dead_letter_envelope,
    parse_batch,
    publish_findings,
    to_json,
)
from streams.topics import TopicNames

if TYPE_CHECKING:
    import faust

    from streams.alerts.dispatcher import AlertDispatcher
    from streams.health import HealthFile

_log = logging.getLogger(__name__)

AGENT_NAME = "lineage-apply-events"
"""Bytes of an oversized message kept in its dead letter (escaped, it must still fit in one Kafka message)."""
BATCH_POLL = 0.005
"""Seconds between looks at the events queue while a batch fills (what a batch may close late, at most)."""
T = TypeVar("T")


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
        keys: KeyCheck | None = None,
    ) -> None:
        self.handler = handler
        #: checks that each record is keyed by its person and on its key's partition (counted, never refused)
        self.keys = keys
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
        with collector_paused():  # collected once the batch is done, not again and again while it is held
            return await self._process(messages)

    async def _process(self, messages: Sequence[RawMessage]) -> HandleResult:
        valid, sources, letters = parse_batch(messages, self.handler.taxonomy, self.handler.window)
        misplaced = self.keys.check(valid, sources) if self.keys is not None else Misplaced()
        result = await self._apply(valid) if valid else HandleResult(0, 0, ())
        for failure in result.failed:  # an event that could not be projected or stored: set aside, not lost
            message = sources[failure.index]
            letters.append((message, dead_letter_envelope(message, failure.reason, event_id=failure.event_id)))
        for message, envelope in letters:
            await self.publisher.publish(self.topics.deadletter, message.key, to_json(envelope))
        outcome = replace(result, rejected=len(letters))
        if self.publish_findings:
            await publish_findings(self.publisher, self.topics.alerts, outcome.findings)
        if self.dispatcher is not None and outcome.findings:
            # same thread as the store writes: the dispatcher reads the stored alerts it notifies about (and the
            # store can become unavailable between the write and this read: retried like the write)
            await self._retrying(self.dispatcher.publish, list(outcome.findings), len(outcome.findings))
        if self.keys is not None:
            self.keys.report(misplaced)
        if self.health is not None:
            self.health.batch_done(
                outcome.applied,
                outcome.duplicates,
                outcome.rejected,
                outcome.suppressed,
                misplaced.total,
                outcome.retries,
            )
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
            gc.collect(1)  # the failed try's garbage, which a batch's paused collector would keep until it ends
            await asyncio.sleep(delay)
            delay = min(delay * 2, maximum)
            continue
        if tries:
            _log.warning(
                "graph store available again after %.1f s and %d failed tries", loop.time() - down_since, tries
            )
        return result


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
