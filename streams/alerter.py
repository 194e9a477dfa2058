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
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from concurrent.futures import Executor
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, TypeVar

from graph.changes import ConsentState, Finding
from graph.projection import consent_record
from schemas.events import CONSENT_EVENTS, DATA_EVENTS, AnyEvent, DataErased, EventError, parse_event
from streams.agents import Publisher, RawMessage, publish_findings, retrying
from streams.handler import Handler
from streams.topics import TopicNames

if TYPE_CHECKING:
    from streams.health import HealthFile

_log = logging.getLogger(__name__)

ALERTER_AGENT_NAME = "lineage-judge-events"
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
        taxonomy = self.judge.handler.taxonomy
        valid: list[AnyEvent] = []
        for message in messages:
            if not message.value:
                continue
            try:
                valid.append(parse_event(message.value, taxonomy))
            except EventError:
                continue  # the workers dead-letter it, with the reason
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
