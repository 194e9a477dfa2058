"""What the alert fast path judges with: the policy, what is known of each person's consent and erasures, and the
recipients disclosed to so far (for new recipients).

The rules are the workers' own: the policy judgement (:mod:`policies.compliance`), the grouping of consent records
(:func:`policies.consent.consent_by_person`) and the erasure rule the stores follow (:func:`graph.erasure.covers`:
an event at or before one of its person's erasures raises nothing).
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from graph.erasure import covers
from graph.store import ConsentLedger
from policies.consent import ConsentState, consent_by_person, consent_record
from policies.findings import Finding
from schemas.events import CONSENT_EVENTS, DATA_EVENTS, AnyEvent, DataErased, DataShared
from streams.handler import Handler, describe_error

_log = logging.getLogger(__name__)

V = TypeVar("V")


class AlertJudge:
    """Findings for batches of events, from the policy and what is known of each person's consent and erasures (and
    of the recipients disclosed to, for new recipients).

    What the store records of consent and erasures is held in memory, loaded in bulk (:meth:`fetch` then
    :meth:`absorb`, or :meth:`load`): everything on the first load, then what was applied since a little before the
    previous load (``overlap`` seconds: batches committed after the time they stamped). Judging never reads the
    store. :meth:`findings` loads inline on its first call and, when ``inline_refresh`` is set, whenever
    ``refresh`` seconds have passed; ``lineage alerter`` refreshes from another thread instead, so that a batch
    never waits on the database.
    """

    def __init__(
        self,
        handler: Handler,
        *,
        memory: int = 100_000,
        refresh: float = 300.0,
        overlap: float | None = None,
        inline_refresh: bool = True,
    ) -> None:
        self.handler = handler
        self.memory = memory
        self.refresh = refresh
        self.overlap = refresh if overlap is None else overlap
        self.inline_refresh = inline_refresh
        self.store_loads = 0  # bulk reads of the store (the tests read it)
        self._consent: OrderedDict[str, ConsentState] = OrderedDict()  # read on the stream, bounded by memory
        self._erased: OrderedDict[str, tuple[datetime, ...]] = OrderedDict()
        self._stored_consent: dict[str, ConsentState] = {}  # the store's, for every withdrawn or opted-out person
        self._stored_erased: dict[str, tuple[datetime, ...]] = {}  # the store's, for every erased person
        # the two merged, for people known to both (_merged), with the two it was merged from
        self._both: OrderedDict[str, tuple[ConsentState, ConsentState, ConsentState]] = OrderedDict()
        self._recipients: set[str] = set()  # recipients disclosed to: the store's, then those of the stream
        self._since: datetime | None = None  # ask the store for what was applied from then on (None: everything)
        self._loaded_at: float | None = None  # time.monotonic() of the last load's start

    def refresh_due(self) -> bool:
        return self._loaded_at is None or time.monotonic() - self._loaded_at >= self.refresh

    def fetch(self) -> StoreLoad:
        """Read the store's consent records and tombstones: all of them at first, then those applied since a little
        before the previous load. Only reads the store, so it may run on another thread than :meth:`findings`."""
        started, started_at = datetime.now(UTC), time.monotonic()
        store = self.handler.store
        recipients = frozenset(store.catalogue().recipients) if self.handler.new_recipients is not None else frozenset()
        return StoreLoad(store.consent_and_erasures(self._since), started, started_at, recipients)

    def absorb(self, load: StoreLoad) -> None:
        """Merge a :meth:`fetch` into what is held; run it on the thread that calls :meth:`findings`."""
        self._recipients.update(load.recipients)
        for t in load.ledger.tombstones:
            times = self._stored_erased.get(t.subject, ())
            if t.erased_at not in times:
                self._stored_erased[t.subject] = tuple(sorted((*times, t.erased_at)))
        for subject, read in consent_by_person(load.ledger.consent).items():
            known = self._stored_consent.get(subject)
            self._stored_consent[subject] = read if known is None else known.merged(read.records)
        # an erasure deleted the person's records that occurred at or before it; an incremental read cannot say so
        for t in load.ledger.tombstones:
            state = self._stored_consent.get(t.subject)
            if state is not None:
                kept = tuple(r for r in state.records if not covers(t.erased_at, r.occurred_at))
                if not kept:
                    del self._stored_consent[t.subject]
                elif len(kept) < len(state.records):
                    self._stored_consent[t.subject] = ConsentState(t.subject, kept)
        self._since = load.started - timedelta(seconds=self.overlap)
        self._loaded_at = load.started_at
        self.store_loads += 1

    def load(self) -> None:
        """:meth:`fetch` and :meth:`absorb` on this thread."""
        self.absorb(self.fetch())

    @property
    def held(self) -> tuple[int, int]:
        """People whose store records are held in memory: (with consent records, with tombstones)."""
        return len(self._stored_consent), len(self._stored_erased)

    def findings(self, events: Sequence[AnyEvent]) -> list[Finding]:
        if self._loaded_at is None or (self.inline_refresh and self.refresh_due()):
            self.load()
        pseudonym = self.handler.pseudonymizer
        for event in events:  # the batch's consent and erasure events count for the whole batch
            if isinstance(event, CONSENT_EVENTS):
                subject = pseudonym(event.subject.id)
                known = self._consent.get(subject) or ConsentState(subject, ())
                self._remember(self._consent, subject, known.merged((consent_record(event, subject),)))
            elif isinstance(event, DataErased):
                subject = pseudonym(event.subject.id)
                self._remember(self._erased, subject, (*self._erased.get(subject, ()), event.occurred_at))
        out: list[Finding] = []
        # per event, only dictionary lookups unless the person withdrew, opted out or was erased
        judge, new = self.handler.judge, self.handler.new_recipients
        stored_erased, erased, stored_consent, consent = (
            self._stored_erased,
            self._erased,
            self._stored_consent,
            self._consent,
        )
        for event in events:
            if not isinstance(event, DATA_EVENTS):
                continue
            subject = pseudonym(event.subject.id)
            if subject in stored_erased or subject in erased:
                cutoffs = (*stored_erased.get(subject, ()), *erased.get(subject, ()))
                if any(covers(at, event.occurred_at) for at in cutoffs):
                    continue  # as the stores drop it (graph.erasure)
            state = stored_consent.get(subject)
            seen = consent.get(subject)
            if seen is not None:
                state = seen if state is None else self._merged(subject, state, seen)
            try:
                out.extend(judge(event, subject, state))
            except Exception as exc:  # one event's fault: the workers dead-letter it; the alerter goes on
                _log.error("event %s could not be judged: internal error %s", event.event_id, describe_error(exc))
            if (
                new is not None
                and type(event) is DataShared
                and event.recipient.id not in new.registered
                and event.recipient.id not in self._recipients  # the first disclosure to it the alerter sees
            ):
                self._recipients.add(event.recipient.id)
                out.append(new.finding(event, subject))
        return out

    def _merged(self, subject: str, stored: ConsentState, seen: ConsentState) -> ConsentState:
        """What the store and the stream know of a person's consent together: merged (and sorted) once, and again
        only when either side is replaced (a refresh, a record read on the stream), not for each of their events."""
        held = self._both.get(subject)
        if held is not None and held[0] is stored and held[1] is seen:
            return held[2]
        merged = stored.merged(seen.records)
        self._remember(self._both, subject, (stored, seen, merged))
        return merged

    def _remember(self, table: OrderedDict[str, V], subject: str, value: V) -> None:
        table[subject] = value
        table.move_to_end(subject)
        while len(table) > self.memory:
            table.popitem(last=False)


@dataclass(frozen=True, slots=True)
class StoreLoad:
    """One bulk read of the store (:meth:`AlertJudge.fetch`): what it answered and when the read started."""

    ledger: ConsentLedger
    started: datetime  # wall clock (UTC), compared with the writers' applied_at
    started_at: float  # time.monotonic()
    recipients: frozenset[str] = frozenset()  # the recipients the store has had disclosures to
