"""The alert fast path (`lineage alerter`): judge events against the policy straight off the events topic.

A worker publishes a batch's findings after the batch is in the graph, so anything that slows the graph writes (a
backlog at peak load, Neo4j restarting) delays the alerts too. The alerter is a consumer group of its own on the
events topic: it writes nothing to the graph, judges each event with the workers' own
:class:`~policies.compliance.PolicyEvaluator` and pseudonymiser, and publishes the findings to the alerts topic
(the same documents, :func:`streams.messages.finding_document`) within its batch wait of their arrival, however far
behind the graph writers are. Deploy it with ``LINEAGE_WORKER_ALERTS=0`` on the workers, so that the topic gets each
finding from one path. The webhook, Teams, Slack and log notices stay with the workers: they carry the stored
alert's counts, which exist only once the graph has the event.

What the alerter knows when it judges an event:

* **Consent.** Withdrawals and opt-outs recorded in the store (what the workers have written), plus those it has
  read on the stream itself, which the store may not have yet. A person's events share a partition (the emitter
  keys them by person), so the alerter reads a withdrawal before the uses that follow it. Within a batch, as in the
  workers, a withdrawal counts for the batch's uses whatever their order.
* **Erasure.** An event at or before one of the person's erasures (the store's tombstones, or an ``erased`` event
  read on the stream) raises nothing, as the workers would drop it.
* The store is never read per person or per batch: its consent records and tombstones are loaded in one read
  before the first batch (:meth:`graph.store.GraphStore.consent_and_erasures`), and every ``refresh`` seconds
  (default 300) a thread beside the judging reads what was applied since a little before the previous read and
  hands it over between batches, so under load no judgement queues behind the graph writes on the database.
  What it holds from the store grows with the people who withdrew, opted out or were erased (about 330 bytes
  each), not with all people.
* What it read on the stream is kept for the most recent ``memory`` people (default 100,000); older entries are
  forgotten once the store has long had them. A restarted alerter resumes from its committed offsets and knows the
  rest from the store: a withdrawal the workers have not written yet and the alerter read before its restart is
  missed until the workers catch up. Several alerters share the partitions; when one moves, the new owner has
  what the previous one read on it from the store once the workers have written it, and within ``refresh``.

Delivery is at least once: a batch's offsets are committed after its findings are on the alerts topic and the
batches before it are committed (the next batches are judged meanwhile), so a crash can publish a finding twice
(same ``alert_id`` and ``event_id``). Invalid messages are skipped here; the workers put them in the dead-letter
topic.

The alerter consumes with aiokafka (the client under Faust) directly, not through a Faust agent: it keeps no
tables and needs none of Faust's stream machinery, which cost about 150 us of CPU per event here (py-spy: Faust's
consumer thread, per-event stream iteration, sensors), four times the judging itself. An alerter that must keep up
with the whole events topic on a few cores cannot spend that; see bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import deque
from collections.abc import Awaitable, Callable, Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from functools import partial
from typing import TYPE_CHECKING, Any, TypeVar

from graph.store import StoreUnavailable
from policies.findings import Finding
from streams.agents import retrying
from streams.alerts.judge import AlertJudge
from streams.handler import Handler
from streams.kafka_clients import aiokafka_options
from streams.messages import Publisher, RawMessage, parse_messages, publish_findings
from streams.topics import TopicNames

if TYPE_CHECKING:
    from config import Settings
    from streams.health import HealthFile

_log = logging.getLogger(__name__)
_IN_FLIGHT = 4  # batches judged and published but not yet committed, at most

V = TypeVar("V")


@dataclass(frozen=True)
class AlertOutcome:
    """What one batch did: events judged, messages skipped as invalid, findings published."""

    judged: int
    invalid: int
    findings: tuple[Finding, ...]


class AlertProcessor:
    """Parses a batch of raw messages, judges the valid events, publishes the findings; returns once they are out."""

    def __init__(
        self,
        judge: AlertJudge,
        publisher: Publisher,
        topics: TopicNames,
        *,
        executor: Executor | None = None,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
        health: HealthFile | None = None,
    ) -> None:
        self.judge = judge
        self.publisher = publisher
        self.topics = topics
        self.executor = executor
        self.retry_initial = retry_initial
        self.retry_max = retry_max
        self.health = health

    async def __call__(self, messages: Sequence[RawMessage]) -> AlertOutcome:
        outcome = await self.judged(messages)
        await self.publish(outcome)
        return outcome

    async def judged(self, messages: Sequence[RawMessage]) -> AlertOutcome:
        """Parse and judge a batch (the findings are not published yet)."""
        handler = self.judge.handler
        valid, _ = parse_messages(messages, handler.taxonomy, handler.window)  # the workers dead-letter the rest
        findings: list[Finding] = []
        if valid:
            findings = await retrying(
                self.judge.findings,
                valid,
                len(valid),
                executor=self.executor,
                initial=self.retry_initial,
                maximum=self.retry_max,
                health=self.health,
            )
        return AlertOutcome(len(valid), len(messages) - len(valid), tuple(findings))

    async def publish(self, outcome: AlertOutcome) -> None:
        """The batch's findings to the alerts topic; returns once the broker has them all."""
        if outcome.findings:
            await publish_findings(self.publisher, self.topics.alerts, outcome.findings)


async def deliver_in_order(
    previous: asyncio.Future[None] | None, publishing: asyncio.Future[None], commit: Callable[[], Awaitable[None]]
) -> None:
    """Commit a batch's offsets once its findings are on the topic and the batches before it are committed.

    The alerter judges the next batch meanwhile, so neither the broker's acknowledgement nor the commit's round trip
    delays the next alerts; a batch whose findings or predecessor failed is not committed (at least once).
    """
    if previous is not None:
        await previous
    await publishing
    await commit()


class AIOKafkaPublisher:
    """Produces with an aiokafka producer and waits for the broker's acknowledgement (acks=all)."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None:
        await self.producer.send_and_wait(topic, value=value, key=key)


async def refresh_store_view(
    judge: AlertJudge, executor: Executor, reader: Executor, stop: asyncio.Event, *, retry: float = 30.0
) -> None:
    """Every ``judge.refresh`` seconds until ``stop``: read what the store applied since the previous read (on
    ``reader``) and merge it into the judge (on ``executor``, the thread that judges, between batches).

    A batch never waits for the read; while the store is unavailable the judge keeps what it holds and the read is
    tried again every ``retry`` seconds.
    """
    loop = asyncio.get_running_loop()
    delay = judge.refresh
    while not stop.is_set():
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(stop.wait(), timeout=delay)
        if stop.is_set():
            return
        try:
            load = await loop.run_in_executor(reader, judge.fetch)
        except StoreUnavailable as exc:
            delay = min(judge.refresh, retry)
            _log.warning(
                "alerter: graph store unavailable for the consent refresh (%s); retrying in %.0f s", exc, delay
            )
            continue
        await loop.run_in_executor(executor, judge.absorb, load)
        delay = judge.refresh


async def run_alerter(settings: Settings, handler: Handler, stop: asyncio.Event) -> None:
    """Judge the events topic until ``stop`` is set: fetch a batch, publish its findings, commit its offsets.

    Raises what the store raises other than :class:`~graph.store.StoreUnavailable` (retried), so that a supervisor
    restarts the alerter from its last commit.
    """
    from aiokafka import AIOKafkaConsumer, AIOKafkaProducer  # type: ignore[import-untyped]
    from aiokafka.errors import CommitFailedError  # type: ignore[import-untyped]

    from streams.client_logs import quiet_kafka_client_logs
    from streams.health import HEARTBEAT_SECONDS, HealthFile

    quiet_kafka_client_logs()
    options = aiokafka_options(settings)
    consumer = AIOKafkaConsumer(
        settings.kafka_events_topic,
        group_id=settings.alerter_group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",  # a new alerter judges what is on the topic: nothing emitted before it is lost
        session_timeout_ms=int(settings.kafka_session_timeout * 1000),
        heartbeat_interval_ms=int(min(3.0, settings.kafka_session_timeout / 3) * 1000),
        **options,
    )
    producer = AIOKafkaProducer(acks="all", enable_idempotence=True, **options)
    health = HealthFile(settings.worker_health_file) if settings.worker_health_file else None
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-judge")
    reader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-consent")
    judge = AlertJudge(handler, inline_refresh=False)
    processor = AlertProcessor(
        judge,
        AIOKafkaPublisher(producer),
        TopicNames.from_settings(settings),
        executor=executor,
        retry_max=settings.worker_retry_max,
        health=health,
    )
    wait_ms = max(1, int(settings.alerter_batch_wait * 1000))
    # everything the store records of consent and erasures, before the first batch (then refreshed beside them)
    await retrying(lambda _: judge.load(), None, 0, executor=executor, initial=0.5, maximum=settings.worker_retry_max)
    consenting, erased = judge.held
    _log.info("alerter: consent records of %d people and erasures of %d people loaded", consenting, erased)
    refresher = asyncio.create_task(refresh_store_view(judge, executor, reader, stop))
    in_flight: deque[asyncio.Future[None]] = deque()
    await producer.start()
    try:
        await consumer.start()
        if health is not None:
            health.running()
        beat = time.monotonic()

        async def commit(offsets: dict[Any, int]) -> None:
            try:
                await consumer.commit(offsets)
            except CommitFailedError:
                # the group rebalanced meanwhile: the partitions' new owner judges the batch again (at least once)
                _log.warning("alerter: offsets not committed (the group rebalanced); the batch will be judged again")

        while not stop.is_set():
            if refresher.done():
                refresher.result()  # raises what stopped it (anything but an unavailable store)
            fetched = await consumer.getmany(timeout_ms=wait_ms, max_records=settings.alerter_batch_size)
            if health is not None and time.monotonic() - beat > HEARTBEAT_SECONDS:
                health.heartbeat()
                beat = time.monotonic()
            if not fetched:
                continue
            messages = [
                RawMessage(r.value, r.topic, r.partition, r.offset, r.key)
                for records in fetched.values()
                for r in records
            ]
            outcome = await processor.judged(messages)
            # publish now (sends go out in batch order), commit once the broker has them, judge the next batch
            # meanwhile; at most ``_IN_FLIGHT`` batches are between judging and their commit
            publishing = asyncio.ensure_future(processor.publish(outcome))
            offsets = {tp: records[-1].offset + 1 for tp, records in fetched.items()}
            in_flight.append(
                asyncio.ensure_future(
                    deliver_in_order(in_flight[-1] if in_flight else None, publishing, partial(commit, offsets))
                )
            )
            while in_flight and (in_flight[0].done() or len(in_flight) > _IN_FLIGHT):
                await in_flight.popleft()  # raises what failed a delivery: the alerter stops uncommitted
        while in_flight:
            await in_flight.popleft()
    finally:
        for task in in_flight:
            task.cancel()
        refresher.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await refresher
        await consumer.stop()
        await producer.stop()
        executor.shutdown(wait=True)
        reader.shutdown(wait=True)
        if health is not None:
            health.stopped()
