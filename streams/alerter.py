"""The alert fast path (`lineage alerter`): judge events against the policy straight off the events topic.

A worker publishes a batch's findings after the batch is in the graph, so anything that slows the graph writes (a
backlog at peak load, Neo4j restarting) delays the alerts too. The alerter is a consumer group of its own on the
events topic: it writes nothing to the graph, judges each event with the workers' own
:class:`~graph.compliance.PolicyEvaluator` and pseudonymiser, and publishes the findings to the alerts topic
(the same documents, :func:`streams.agents.finding_document`) within its batch wait of their arrival, however far
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
* The store is read once per person and then every ``refresh`` seconds (default 300), not per batch: after the
  first read, what changes a person's consent or erasures arrives on their partition, so under load the alerter
  does not queue behind the graph writes on the database.
* What it read on the stream is kept for the most recent ``memory`` people (default 100,000); older entries are
  forgotten once the store has long had them. A restarted alerter resumes from its committed offsets and knows the
  rest from the store: a withdrawal the workers have not written yet and the alerter read before its restart is
  missed until the workers catch up. Several alerters share the partitions; when one moves, the new owner has
  what the previous one read on it from the store once the workers have written it, and within ``refresh``.

Delivery is at least once: offsets are committed after the batch's findings are on the alerts topic, so a crash
can publish a finding twice (same ``alert_id`` and ``event_id``). Invalid messages are skipped here; the workers
put them in the dead-letter topic.

The alerter consumes with aiokafka (the client under Faust) directly, not through a Faust agent: it keeps no
tables and needs none of Faust's stream machinery, which cost about 150 us of CPU per event here (py-spy: Faust's
consumer thread, per-event stream iteration, sensors), four times the judging itself. An alerter that must keep up
with the whole events topic on a few cores cannot spend that; see bench/RESULTS.md.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor, ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from graph.changes import ConsentState, Finding
from graph.projection import consent_record
from schemas.events import CONSENT_EVENTS, DATA_EVENTS, AnyEvent, DataErased
from streams.agents import Publisher, RawMessage, parse_messages, publish_findings, retrying
from streams.handler import Handler
from streams.topics import TopicNames

if TYPE_CHECKING:
    from lineage.settings import Settings
    from streams.health import HealthFile

_log = logging.getLogger(__name__)

V = TypeVar("V")


class AlertJudge:
    """Findings for batches of events, from the policy and what is known of each person's consent and erasures.

    Synchronous (it reads the store); :class:`AlertProcessor` runs it off the event loop.
    """

    def __init__(self, handler: Handler, *, memory: int = 100_000, refresh: float = 300.0) -> None:
        self.handler = handler
        self.memory = memory
        self.refresh = refresh
        self.store_reads = 0  # people looked up in the store (tests and the bench read it)
        self._consent: OrderedDict[str, ConsentState] = OrderedDict()
        self._erased: OrderedDict[str, tuple[datetime, ...]] = OrderedDict()
        self._stored: OrderedDict[str, _StoreView] = OrderedDict()

    def findings(self, events: Sequence[AnyEvent]) -> list[Finding]:
        pseudonym = self.handler.pseudonym
        for event in events:  # the batch's consent and erasure events count for the whole batch
            if isinstance(event, CONSENT_EVENTS):
                subject = pseudonym(event.subject.id)
                known = self._consent.get(subject) or ConsentState(subject, ())
                self._remember(self._consent, subject, known.merged((consent_record(event, subject),)))
            elif isinstance(event, DataErased):
                subject = pseudonym(event.subject.id)
                self._remember(self._erased, subject, (*self._erased.get(subject, ()), event.occurred_at))
        judged = [(event, pseudonym(event.subject.id)) for event in events if isinstance(event, DATA_EVENTS)]
        if not judged:
            return []
        stored = self._store_view({subject for _, subject in judged})
        out: list[Finding] = []
        for event, subject in judged:
            view = stored[subject]
            cutoffs = (*view.erased, *self._erased.get(subject, ()))
            if any(at >= event.occurred_at for at in cutoffs):
                continue
            state = view.consent
            seen = self._consent.get(subject)
            if seen is not None:
                state = seen if state is None else state.merged(seen.records)
            out.extend(self.handler.evaluator.evaluate(event, subject, state))
        return out

    def _store_view(self, people: set[str]) -> dict[str, _StoreView]:
        """What the store records of these people's consent and erasures, read at most every ``refresh`` seconds.

        Between reads, what changes it are consent and erasure events, which reach the alerter on the person's
        partition too (kept in ``_consent`` and ``_erased``); the refresh covers what another alerter read while it
        held the partition, and records written by other means (re-keying).
        """
        now = time.monotonic()
        views = {p: v for p in people if (v := self._stored.get(p)) is not None and now - v.read_at < self.refresh}
        missing = sorted(people - views.keys())
        if missing:
            store = self.handler.store
            consent = store.consent_state(missing)
            erasures = store.erasures(missing)
            self.store_reads += len(missing)
            for subject in missing:
                erased = tuple(t.erased_at for t in erasures.get(subject, ()))
                views[subject] = _StoreView(consent.get(subject), erased, now)
                self._remember(self._stored, subject, views[subject])
        return views

    def _remember(self, table: OrderedDict[str, V], subject: str, value: V) -> None:
        table[subject] = value
        table.move_to_end(subject)
        while len(table) > self.memory:
            table.popitem(last=False)


@dataclass(frozen=True, slots=True)
class _StoreView:
    consent: ConsentState | None
    erased: tuple[datetime, ...]
    read_at: float  # time.monotonic()


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
        valid, _ = parse_messages(messages, self.judge.handler.taxonomy)  # the workers dead-letter the rest
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
            await publish_findings(self.publisher, self.topics.alerts, findings)
        return AlertOutcome(len(valid), len(messages) - len(valid), tuple(findings))


class AIOKafkaPublisher:
    """Produces with an aiokafka producer and waits for the broker's acknowledgement (acks=all)."""

    def __init__(self, producer: Any) -> None:
        self.producer = producer

    async def publish(self, topic: str, key: bytes | None, value: bytes) -> None:
        await self.producer.send_and_wait(topic, value=value, key=key)


def aiokafka_options(settings: Settings) -> dict[str, Any]:
    """Connection and security options for aiokafka clients, from the same settings as the other clients."""
    from streams.app import ssl_context

    options: dict[str, Any] = {
        "bootstrap_servers": [s.strip() for s in settings.kafka_bootstrap.split(",") if s.strip()],
        "client_id": settings.kafka_client_id,
        "security_protocol": settings.kafka_security_protocol.upper(),
    }
    context = ssl_context(settings)
    if context is not None:
        options["ssl_context"] = context
    if options["security_protocol"].startswith("SASL"):
        options["sasl_mechanism"] = settings.kafka_sasl_mechanism or "PLAIN"
        options["sasl_plain_username"] = settings.kafka_sasl_username
        options["sasl_plain_password"] = settings.kafka_sasl_password
    return options


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
    processor = AlertProcessor(
        AlertJudge(handler),
        AIOKafkaPublisher(producer),
        TopicNames.from_settings(settings),
        executor=executor,
        retry_max=settings.worker_retry_max,
        health=health,
    )
    wait_ms = max(1, int(settings.alerter_batch_wait * 1000))
    await producer.start()
    try:
        await consumer.start()
        if health is not None:
            health.running()
        beat = time.monotonic()
        while not stop.is_set():
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
            await processor(messages)
            try:
                await consumer.commit({tp: records[-1].offset + 1 for tp, records in fetched.items()})
            except CommitFailedError:
                # the group rebalanced meanwhile: the partitions' new owner judges the batch again (at least once)
                _log.warning("alerter: offsets not committed (the group rebalanced); the batch will be judged again")
    finally:
        await consumer.stop()
        await producer.stop()
        executor.shutdown(wait=True)
        if health is not None:
            health.stopped()
