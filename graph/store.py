"""The GraphStore seam: apply graph changes, answer named queries. No Cypher or SQL crosses it."""

from __future__ import annotations

import hashlib
from abc import ABC, abstractmethod
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from types import TracebackType
from typing import NamedTuple

from config import Settings
from graph.changes import ChangeSet, EventFacts, Tombstone
from graph.erasure import erasures_first
from policies.consent import ConsentRecord, ConsentState
from schemas.answers import Alert, Flow, FlowSummary, RecipientRef, SourceRef, StoreStats, WhoHas
from schemas.notices import NoticeRecord


class StoreError(RuntimeError):
    """Base class of the errors a GraphStore raises; driver errors are translated into these."""


class StoreUnavailable(StoreError):
    """The database cannot be reached (transient: retry later)."""


class StoreAuthError(StoreError):
    """The database refused the credentials."""


class StoreConfigError(StoreError):
    """The store URL or its settings are wrong, or the store belongs to another pseudonym key."""


class StoreMissing(StoreConfigError):
    """A command that only reads was pointed at a store that does not exist (it is not created)."""


@dataclass(frozen=True, slots=True)
class ApplyResult:
    """What a batch did: events newly applied, events skipped because already processed, the ids of events
    dropped because their person was erased after they occurred (see :meth:`GraphStore.apply`), and the ids of the
    events this batch applied (``applied`` of them; an event id given twice is applied once, the first time)."""

    applied: int
    duplicates: int
    suppressed: tuple[str, ...] = ()
    applied_ids: frozenset[str] = frozenset()
    #: erasures this batch applied whose deleted data may still be in the store's files (see GraphStore.purge)
    erasures_pending: tuple[str, ...] = ()
    #: times the store ran the batch's write transaction again after a transient error (a deadlock between two
    #: writers locking the same nodes, a cluster's leader switch): each re-ran the whole write
    retries: int = 0


@dataclass(frozen=True, slots=True)
class PurgeResult:
    """Whether the data erasures deleted has left the store's files: ``complete``, or what remains and how it
    is removed (``detail``, a sentence for the operator, naming no person)."""

    complete: bool
    detail: str = ""


@dataclass(frozen=True, slots=True)
class ConsentLedger:
    """Everyone's consent withdrawals, opt-outs and tombstones, or those applied since a time, in one answer."""

    consent: tuple[ConsentRecord, ...]  # oldest first (occurred_at, then event id)
    tombstones: tuple[Tombstone, ...]  # oldest first (erased_at, then event id)


class AggregateRow(NamedTuple):
    """One aggregate as a store keeps it (see :mod:`graph.aggregates`): its reference and key, its events, its people
    (0 where a query does not count them), and its first and last days (days since 1970-01-01, UTC)."""

    ref: str
    rollup: str
    fields: tuple[str, ...]
    events: int
    people: int
    first_day: int
    last_day: int


@dataclass(frozen=True, slots=True)
class Catalogue:
    """The sources and recipients a store knows, by id (shared nodes: no personal data)."""

    sources: dict[str, SourceRef]
    recipients: dict[str, RecipientRef]


#: How many of its latest triggering events an alert carries.
ALERT_SAMPLE = 10


def alert_id(rule: str, recipient: str, category: str, purpose: str) -> str:
    """Stable alert id for the dedupe key, the same in every store."""
    raw = "\x1f".join((rule, recipient, category, purpose)).encode("utf-8")
    return "a_" + hashlib.sha256(raw).hexdigest()[:16]


class GraphStore(ABC):
    """Where the lineage graph lives.

    Writes arrive as :class:`ChangeSet` batches, each tagged with its event id; a store applies a batch
    in one transaction and records the processed event ids in that same transaction, so applying the
    same event again changes nothing. Reads are named queries returning :mod:`schemas.answers` models.
    Subjects are addressed by pseudonym (see :mod:`graph.pseudonym`); raw ids never reach a store.

    Erasure (``ChangeSet.erasure``, GDPR Art. 17): applying it at time T for a person deletes everything
    recorded about them that occurred at or before T (events, lineage evidence, edges left without evidence,
    consent records, their pseudonym in alert evidence, and the subject itself when nothing after T remains),
    after noting in a :class:`Tombstone` the recipients that evidence names (Art. 19). Shared nodes (sources,
    purposes, recipients) and alert aggregates stay. Within a batch, erasures are applied before other changes,
    and an event about a person whose latest tombstone is at or after the event's ``occurred_at`` is not
    applied nor recorded (``ApplyResult.suppressed``): a replay of old events does not bring the person back,
    while data that occurred after the erasure is new data and is applied. The outcome does not depend on the
    order in which erasures and events are delivered. After a batch with an erasure the store also removes the
    deleted data from its files where it can (:meth:`purge`), and names in ``ApplyResult.erasures_pending`` the
    erasures whose data may still be there.
    """

    @classmethod
    @abstractmethod
    def from_url(cls, url: str, settings: Settings) -> GraphStore:
        """Open the store ``url`` names (a URL of this store's scheme: see ``graph.registry.STORES``), with its
        options read from ``settings``; raise StoreConfigError for a URL it cannot use."""

    @classmethod
    def missing(cls, url: str) -> str | None:
        """Why there is no store at ``url`` yet (opening it would create one), or None when there is one or a
        server decides. Commands that only read check it first, so that a mistyped path is an error, not an
        empty store."""
        return None

    @abstractmethod
    def bind_key(self, fingerprint: str) -> None:
        """Remember the pseudonym key's fingerprint; raise StoreConfigError if the store has another one."""

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        """Apply the changes of a batch of events atomically, skipping events already processed (recorded, or
        earlier in the batch); the result names the events applied, read in the same transaction as the writes.

        The same for every store: an event given twice in a batch is one event (its first occurrence), erasures go
        first, oldest first (:func:`graph.erasure.erasures_first`), then the store's :meth:`_write_batch` writes
        them in one transaction.
        """
        unique: dict[str, ChangeSet] = {}
        for cs in batch:
            unique.setdefault(cs.event.event_id, cs)
        if not unique:
            return ApplyResult(0, len(batch))
        erasures, others = erasures_first(unique.values())
        result = self._write_batch(erasures, others)
        return replace(result, duplicates=result.duplicates + len(batch) - len(unique))

    @abstractmethod
    def _write_batch(self, erasures: list[ChangeSet], others: list[ChangeSet]) -> ApplyResult:
        """The store's write hook: in one transaction, apply the ``erasures`` (distinct events, oldest first: see the
        class's docstring), then drop the ``others`` (distinct events, in the batch's order) that an erasure covers,
        the batch's or one already recorded (:func:`graph.erasure.covering`, on tombstones read in that
        transaction), and write the rest that is not already recorded, with the processed-event records.
        ``duplicates`` counts the events already recorded (the caller adds the batch's own repeats)."""

    @abstractmethod
    def who_has(self, subject: str) -> WhoHas | None:
        """Everything known of one person's data (by pseudonym), or None when the person is unknown."""

    def flows(self, *, since: datetime | None = None, until: datetime | None = None) -> list[Flow]:
        """Every observed flow with events in [since, until), over people, from the aggregates kept at write time.

        Each flow (see :mod:`graph.aggregates`) has its reference, distinct people and events, and first and last
        days in the period. Sorted by (rel, category, purpose, source/recipient id, role, subject type, via).
        """
        return self.flow_summary(since=since, until=until).flows

    @abstractmethod
    def flow_summary(self, *, since: datetime | None = None, until: datetime | None = None) -> FlowSummary:
        """The flows and the other rollups' counts (per purpose, category, recipient, alert) of [since, until): every
        store composes its aggregate primitives below with ``graph.aggregate_reads.AggregateQueries``."""

    # -- the aggregates' primitives (see graph.aggregate_reads, which composes them) ----------------------------
    @abstractmethod
    def aggregate_totals(self) -> list[AggregateRow]:
        """Every aggregate with at least one event, with its all-time counts."""

    @abstractmethod
    def aggregate_days(self, first_day: int, end_day: int) -> list[AggregateRow]:
        """The aggregates with events on the days in [first_day, end_day): their events and first and last days
        there (people 0: not counted here)."""

    @abstractmethod
    def aggregate_people(
        self, first_month: int, end_month: int, rollups: Sequence[str] | None = None
    ) -> dict[str, int]:
        """Per reference (of these rollups; None: all), the people with an event in a month of
        [first_month, end_month) (months as ``year * 12 + month - 1``)."""

    @abstractmethod
    def aggregate_members(
        self, pairs: Sequence[tuple[str, str]], first_month: int, end_month: int
    ) -> set[tuple[str, str]]:
        """Which of these (reference, person) pairs have an event in a month of [first_month, end_month)."""

    @abstractmethod
    def aggregate_persons(self, first_month: int, end_month: int, refs: Sequence[str] | None = None) -> list[str]:
        """The people (pseudonyms, sorted) with an event in a month of [first_month, end_month), in an aggregate of
        these references (None: any)."""

    @abstractmethod
    def event_facts(
        self, since: datetime | None = None, until: datetime | None = None, people: Sequence[str] | None = None
    ) -> Iterator[EventFacts]:
        """The stored data events of these people (None: everyone) in [since, until) as aggregates see them, person
        by person (each one's oldest first)."""

    @abstractmethod
    def catalogue(self) -> Catalogue:
        """The sources and recipients, by id."""

    @abstractmethod
    def alerts(
        self,
        *,
        status: str | None = None,
        rule: str | None = None,
        since: datetime | None = None,
        subject: str | None = None,
    ) -> list[Alert]:
        """Deduplicated alerts, newest last_seen first, optionally filtered (``subject``: the alerts an event of this
        person triggered). Each carries its latest few events (``ALERT_SAMPLE``) and its count of people, not its whole
        evidence: cheap whatever the history (``lineage evidence ALERT_ID`` lists the rest)."""

    @abstractmethod
    def acknowledge_alert(self, alert_id: str) -> bool:
        """Mark an alert acknowledged; False when no such alert exists."""

    def first_recorded(
        self, subjects: Sequence[str], categories: Mapping[str, Collection[str]] | None = None
    ) -> dict[str, dict[str, datetime]]:
        """For each of these people (by pseudonym), when their data of each category was first recorded: the earliest
        ``occurred_at`` of their stored events holding the category, as :meth:`who_has` gives it (``first_seen`` of
        each category). People with no data recorded are absent.

        ``categories`` names, per person, the only categories asked (the answer leaves the others out, and a person
        with none of them recorded is absent): a store can then stop at the first event holding each instead of
        reading the person's whole history. A person it does not name is asked for every category.

        The handler asks once per batch when the policy declares retention periods in days, for the people whose
        uses or disclosures fall under one and the categories those cover. This default asks :meth:`who_has` person
        by person; a store answers for all of them in one read."""
        out: dict[str, dict[str, datetime]] = {}
        for subject in sorted(set(subjects)):
            found = self.who_has(subject)
            if found is not None and found.categories:
                out[subject] = {c.category: c.first_seen for c in found.categories}
        return only_asked(out, categories)

    @abstractmethod
    def consent_state(self, subjects: Sequence[str]) -> dict[str, ConsentState]:
        """The consent withdrawals and opt-outs recorded for these people (by pseudonym), each oldest first.

        Written by :meth:`apply` from ``ChangeSet.consent``; people with none recorded are absent from the answer.
        The handler asks once per batch, for the people in it, to judge their uses and disclosures.
        """

    @abstractmethod
    def erasures(self, subjects: Sequence[str] | None) -> dict[str, list[Tombstone]]:
        """The tombstones of these people (by pseudonym; None: of everyone), each person's oldest first.

        People never erased are absent from the answer.
        """

    @abstractmethod
    def consent_and_erasures(self, applied_since: datetime | None = None) -> ConsentLedger:
        """Everyone's consent records and tombstones in one read: all of them, or those the store applied at or after
        ``applied_since``.

        For a reader that keeps a copy instead of asking per person (``lineage alerter``): it loads everything once,
        then asks for what was applied since its previous read. ``applied_since`` is compared with the time the
        writer applied the batch (the writer's clock, taken before its transaction commits), so such a reader asks
        from some margin before its previous read. Deletions do not show in an incremental answer: an erasure deletes
        the person's consent records that occurred at or before it, and a reader holding them drops them on reading
        the tombstone.
        """

    # -- Art. 19 notices (see streams/notify.py): kept by pseudonym, apart from the graph; an erasure leaves them -----
    @abstractmethod
    def record_notice(self, notice: NoticeRecord) -> bool:
        """Keep a notice that was sent; False when one with its id is kept already (nothing changes: the id names the
        person, request, recipient and how many notices went before, so a repeated send is the same notice)."""

    @abstractmethod
    def notices(self, subject: str | None = None, *, notice_id: str | None = None) -> list[NoticeRecord]:
        """The notices kept of this person (pseudonym; None: of everyone), or the one with this id, oldest first
        (sent_at, then notice id)."""

    @abstractmethod
    def acknowledge_notice(self, notice_id: str, at: datetime, by: str | None) -> NoticeRecord | None:
        """Record that the recipient acknowledged a notice (the first acknowledgement stays); the notice as it is
        then, or None when no notice has this id."""

    @abstractmethod
    def occurred(self, event_ids: Sequence[str]) -> dict[str, datetime]:
        """When each of these recorded events occurred (UTC); unknown ids are absent."""

    @abstractmethod
    def processed(self, event_ids: Sequence[str]) -> set[str]:
        """Which of these event ids have already been applied."""

    @abstractmethod
    def stats(self) -> StoreStats:
        """Counts of what the store holds (may scan the whole store: see :meth:`has_events` for a cheap check)."""

    @abstractmethod
    def has_events(self) -> bool:
        """Whether any event is recorded; cheap whatever the store's size."""

    @abstractmethod
    def purge(self) -> PurgeResult:
        """Make the data that erasures deleted leave the store's files, as far as the store can while open.

        :meth:`apply` does this after every erasure and reports one it could not complete in
        ``ApplyResult.erasures_pending``; calling it again later completes such erasures (``lineage purge``).
        """

    @abstractmethod
    def close(self) -> None:
        """Release connections."""

    def reopener(self) -> Callable[[], GraphStore] | None:
        """How another process opens this store again, or None when the store cannot be shared that way (None unless
        a store says otherwise). The embedded ingest's second process uses it (streams/ingest_pair.py): it is
        forked while this store is idle (no transaction, no query open) and calls this there; it never uses this
        object's own connections."""
        return None

    def handoff(self) -> object | None:
        """What a writer taking turns with this object on the same store (the embedded ingest's two processes) can
        take to go on from what this object learnt in its last batch (:meth:`receive_handoff`): picklable, or None
        (the default: a store that keeps nothing worth handing over)."""
        return None

    def receive_handoff(self, handoff: object) -> None:
        """Take another object's :meth:`handoff` before this object's next batch; the store decides whether it
        still holds then. The default ignores it."""
        del handoff  # nothing to take

    def __enter__(self) -> GraphStore:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def only_asked(
    answer: dict[str, dict[str, datetime]], categories: Mapping[str, Collection[str]] | None
) -> dict[str, dict[str, datetime]]:
    """A :meth:`GraphStore.first_recorded` answer with, for each person ``categories`` names, only those categories
    (and without a person left with none)."""
    if categories is None:
        return answer
    out: dict[str, dict[str, datetime]] = {}
    for subject, firsts in answer.items():
        asked = categories.get(subject)
        kept = firsts if asked is None else {c: t for c, t in firsts.items() if c in asked}
        if kept:
            out[subject] = kept
    return out
