"""The one code path from decoded events to the graph: evaluate, pseudonymise, project, apply."""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from graph.changes import ChangeSet
from graph.erasure import covers
from graph.projection import bounded_nodes, project
from graph.pseudonym import Pseudonymizer
from graph.store import ApplyResult, GraphStore, StoreError
from policies.compliance import PolicyEvaluator
from policies.consent import ConsentState, consent_record
from policies.findings import Finding
from policies.new_recipients import NewRecipients
from policies.retention import RetentionJudge
from policies.rules import NEW_RECIPIENT, RETENTION_EXCEEDED
from policies.transfers import RecipientRules, TransferJudge
from schemas.events import CONSENT_EVENTS, DATA_EVENTS, AnyEvent, DataShared, DataUsed
from schemas.parsing import DEFAULT_TIME_WINDOW, TimeWindow
from schemas.policy import Policy
from streams.notify import Erased, ErasureNotices

_log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Failure:
    """An event of a batch that could not be projected or stored, and why (the error's type: never its text,
    which could quote the event). The rest of its batch is applied without it."""

    index: int  # its position in the batch given to :meth:`Handler.handle`
    event_id: str
    reason: str


@dataclass(frozen=True)
class Prepared:
    """A batch judged and projected but not stored (:meth:`Handler.prepare`); :meth:`Handler.commit` stores it."""

    events: Sequence[AnyEvent]
    batch: list[tuple[int, ChangeSet]]  # (position in ``events``, its changes), for each event that projected
    failed: list[Failure]  # the events that could not be projected
    #: people (pseudonyms) whose records the judgement of a later batch reads and this batch changes: their consent
    #: records (consent and erasure events) and, when the policy has periods in days, when data of theirs under such
    #: a period was first recorded (the retention judgement counts from it)
    touched: frozenset[str]


@dataclass(frozen=True)
class HandleResult:
    """What one batch did (:meth:`Handler.handle`, and a worker's batch): ``suppressed`` events were about a person
    erased after they occurred (not applied); ``failed`` ones could not be handled at all (see :class:`Failure`);
    ``rejected`` input never reached the handler (not an event: a runner dead-lettered it with the reason)."""

    applied: int
    duplicates: int
    findings: tuple[Finding, ...]
    suppressed: int = 0
    #: erasures applied whose deleted data may still be in the store's files (GraphStore.purge completes them)
    erasures_pending: tuple[str, ...] = ()
    failed: tuple[Failure, ...] = ()
    rejected: int = 0
    #: Art. 19 notices of the batch's erasures sent, and not sent (left for `lineage notify art19`), when the
    #: handler sends them (:class:`~streams.notify.ErasureNotices`)
    notices_sent: int = 0
    notices_unsent: int = 0
    #: write transactions the store ran again after a transient error (ApplyResult.retries)
    retries: int = 0


class Handler:
    """Applies batches of validated events to a GraphStore, with policy findings, idempotently.

    Both the embedded runner and the Faust agents call :meth:`handle`; nothing else writes events.

    Consent: a use or disclosure is judged against the person's withdrawals and opt-outs that occurred before
    it and are known when its batch is handled: those already in the store plus those in the same batch
    (whatever their order within it). A withdrawal delivered in a later batch than a use it predates does not
    flag that use retroactively; the use stays recorded with its evidence, and reports can find it.

    Erasure: an ``erased`` event makes the store forget the person up to its time and keep a tombstone; the
    store then drops (``suppressed``) events about the person that occurred at or before it, whenever they
    arrive, and no finding is reported for them. Events that occurred after it are new data and are applied.
    With ``notices``, the recipients on each applied erasure's Art. 19 list are sent their notices once its batch
    is committed (an erasure replayed is a duplicate: nothing is sent again).
    """

    def __init__(
        self,
        store: GraphStore,
        policy: Policy,
        pseudonymizer: Pseudonymizer,
        window: TimeWindow = DEFAULT_TIME_WINDOW,
        recipients: RecipientRules | None = None,
        notices: ErasureNotices | None = None,
    ) -> None:
        self.store = store
        #: sends the Art. 19 notices of the erasures this handler applies (None: they wait for `notify art19`)
        self.notices = notices
        self.policy = policy
        #: the rules judged against the recipient registry (None: off, the policy alone judges)
        self.recipients = recipients
        self.taxonomy = policy.taxonomy()
        #: the event times accepted: readers pass it to parse_event with the taxonomy
        self.window = window
        self.evaluator = PolicyEvaluator(policy)
        self.transfers = TransferJudge(recipients.registry, policy.version) if recipients is not None else None
        #: the first disclosure to a recipient outside the registry (None: off, as the transfer rules)
        self.new_recipients = NewRecipients(recipients.registry, policy.version) if recipients is not None else None
        self._seen_recipients: set[str] = set()  # recipients the store has had a disclosure to (grows, never shrinks)
        #: the policy's retention periods (a use or disclosure past its period is a finding)
        self.retention = RetentionJudge(policy)
        self.pseudonymizer = pseudonymizer
        self._nodes: dict[object, object] = {}  # the projection's memo of people, sources, recipients
        store.bind_key(pseudonymizer.fingerprint)

    def for_store(self, store: GraphStore) -> Handler:
        """This handler (policy and its judgement, key, window) writing to ``store`` instead."""
        twin = copy.copy(self)
        twin.store = store
        twin._nodes = {}
        store.bind_key(self.pseudonymizer.fingerprint)
        return twin

    def judge(self, event: AnyEvent, subject: str, consent: ConsentState | None = None) -> tuple[Finding, ...]:
        """Every finding one event raises on its own: the policy's rules, then the transfer rules for a disclosure
        (``subject`` is the person's pseudonym; ``consent`` as for :meth:`PolicyEvaluator.evaluate`)."""
        found = self.evaluator.evaluate(event, subject, consent)
        if type(event) is DataShared and self.transfers is not None:
            transfers = self.transfers.judge(event, subject)
            if transfers:
                return found + transfers
        return found

    def _judge(self) -> Callable[[AnyEvent, str, ConsentState | None], tuple[Finding, ...]]:
        """:meth:`judge`, or the policy's evaluation alone when no registry rules are on (a call less per event)."""
        return self.judge if self.transfers is not None else self.evaluator.evaluate

    def first_disclosures(self, events: Sequence[AnyEvent]) -> dict[int, DataShared]:
        """The disclosures of a batch that are the first ever observed to a recipient outside the registry (by
        position): the first in the batch to each recipient the store has never had a disclosure to. Reads the
        store's recipients only when the batch names one this handler has not seen yet."""
        new = self.new_recipients
        if new is None or not new.candidates(events) - self._seen_recipients:
            return {}
        self._seen_recipients.update(self.store.catalogue().recipients)
        unseen = new.candidates(events) - self._seen_recipients
        if not unseen:
            return {}
        # a disclosure about a person erased after it is dropped by the store (not recorded): it is not the first
        shared = (e for e in events if type(e) is DataShared and e.recipient.id in unseen)
        people = {self.pseudonymizer(e.subject.id) for e in shared}
        tombstones = self.store.erasures(sorted(people))

        def dropped(e: DataShared) -> bool:
            return any(covers(t.erased_at, e.occurred_at) for t in tombstones.get(self.pseudonymizer(e.subject.id), ()))

        return new.firsts(events, self._seen_recipients, dropped if tombstones else None)

    def held_since(self, events: Sequence[AnyEvent]) -> dict[str, dict[str, datetime]]:
        """When each person of the batch whose use or disclosure falls under a declared period in days had each
        category of their data first recorded (by pseudonym, then category): the store's answer for the categories
        such periods cover in their uses and disclosures, or earlier in the batch. Reads the store only when the
        policy declares such a period: once for all such people of the batch, and only for those categories (the
        store stops at each one's first event instead of reading the person's whole history)."""
        judge = self.retention
        if not judge.active:
            return {}
        asked: dict[str, set[str]] = {}
        for e in events:
            if type(e) is DataUsed or type(e) is DataShared:
                timed = [c for c in e.data_categories if judge.limits(c, e.purpose)]
                if timed:
                    asked.setdefault(self.pseudonymizer(e.subject.id), set()).update(timed)
        recorded = self.store.first_recorded(sorted(asked), asked) if asked else {}
        out: dict[str, dict[str, datetime]] = {subject: recorded.get(subject, {}) for subject in asked}
        for e in events:
            if isinstance(e, DATA_EVENTS) and (subject := self.pseudonymizer(e.subject.id)) in out:
                seen, at = out[subject], e.occurred_at.astimezone(UTC)
                for c in e.data_categories:
                    if c not in seen or at < seen[c]:
                        seen[c] = at
        return out

    def _new_recipient(self, found: tuple[Finding, ...], first: DataShared, subject: str) -> tuple[Finding, ...]:
        assert self.new_recipients is not None  # firsts are only found when the rule is on
        return (*found, self.new_recipients.finding(first, subject))

    def changes(self, events: Sequence[AnyEvent], consent: Mapping[str, ConsentState] | None = None) -> list[ChangeSet]:
        """The graph changes for a batch: one ChangeSet per event, findings included (pure but for the store's
        recipients, read when a new-recipient finding may be due).

        ``consent`` maps pseudonyms to what is known of their withdrawals and opt-outs (see :meth:`consent_for`).
        """
        known = consent or {}
        nodes, pseudonym, evaluate = bounded_nodes(self._nodes), self.pseudonymizer, self._judge()
        firsts, held = self.first_disclosures(events), self.held_since(events)
        out = []
        for i, event in enumerate(events):
            subject = pseudonym(event.subject.id)
            found = evaluate(event, subject, known.get(subject))
            if firsts and i in firsts:
                found = self._new_recipient(found, firsts[i], subject)
            if held and subject in held:
                found += self.retention.judge(event, subject, held[subject])
            out.append(project(event, pseudonym, found, nodes, subject))
        return out

    def consent_for(self, events: Sequence[AnyEvent]) -> dict[str, ConsentState]:
        """The consent state of the people in a batch: the store's records plus the batch's own consent events."""
        people = {self.pseudonymizer(e.subject.id) for e in events if isinstance(e, DATA_EVENTS)}
        if not people:
            return {}
        state = self.store.consent_state(sorted(people))
        for e in events:
            if isinstance(e, CONSENT_EVENTS):
                subject = self.pseudonymizer(e.subject.id)
                if subject in people:
                    base = state.get(subject) or ConsentState(subject, ())
                    state[subject] = base.merged((consent_record(e, subject),))
        return state

    def handle(self, events: Sequence[AnyEvent]) -> HandleResult:
        """Apply a batch atomically; findings of events already processed are not reported again.

        One event that cannot be projected or stored fails alone (:attr:`HandleResult.failed`): the others are
        applied. A store error (:class:`~graph.store.StoreError`: unavailable, misconfigured) is about the store,
        not the event, and propagates with nothing applied.
        """
        return self.commit(self.prepare(events))

    def prepare(self, events: Sequence[AnyEvent]) -> Prepared:
        """The first half of :meth:`handle`: the batch judged and projected, nothing written (a read of the people's
        consent records aside)."""
        if not events:
            return Prepared(events, [], [], frozenset())
        consent = self.consent_for(events)
        nodes, pseudonym, evaluate = bounded_nodes(self._nodes), self.pseudonymizer, self._judge()
        firsts, held = self.first_disclosures(events), self.held_since(events)
        batch: list[tuple[int, ChangeSet]] = []
        failed: list[Failure] = []
        for index, event in enumerate(events):
            try:
                subject = pseudonym(event.subject.id)
                found = evaluate(event, subject, consent.get(subject))
                if firsts and index in firsts:
                    found = self._new_recipient(found, firsts[index], subject)
                if held and subject in held:
                    found += self.retention.judge(event, subject, held[subject])
                batch.append((index, project(event, pseudonym, found, nodes, subject)))
            except Exception as exc:  # one event's fault must not cost the batch
                failed.append(_failure(index, event, "could not be projected into the graph", exc))
        return Prepared(events, batch, failed, self._touched(batch))

    def _touched(self, batch: list[tuple[int, ChangeSet]]) -> frozenset[str]:
        """:attr:`Prepared.touched` of a projected batch."""
        timed = self.retention.timed if self.retention.active else None
        return frozenset(
            cs.subject.key
            for _, cs in batch
            if cs.consent is not None
            or cs.erasure is not None
            or (timed is not None and any(timed(c) for c in cs.categories))
        )

    def commit(self, prepared: Prepared, recheck: Collection[str] = ()) -> HandleResult:
        """The second half of :meth:`handle`: store the prepared batch and say what it did.

        ``recheck`` names people whose records the judgement reads may have changed in the store since the batch was
        prepared (another process's batch, committed meanwhile, held consent or erasure events about them, or their
        first data under a retention period: its :attr:`Prepared.touched`): their events are judged again first,
        against the store as it is now, so that the findings are those :meth:`handle` would have reported had the
        batch been prepared here.
        """
        if not prepared.events:
            return HandleResult(0, 0, ())
        batch, failed = prepared.batch, list(prepared.failed)
        again = [k for k, (_, cs) in enumerate(batch) if cs.event.subject in recheck] if recheck else []
        if again:
            batch = list(batch)
            events = prepared.events
            people = {batch[k][1].event.subject for k in again}
            theirs = [events[i] for i, cs in batch if cs.event.subject in people]
            consent, held = self.consent_for(theirs), self.held_since(theirs)
            nodes, pseudonym, evaluate = bounded_nodes(self._nodes), self.pseudonymizer, self._judge()
            for k in again:
                index, cs = batch[k]
                event, subject = events[index], cs.event.subject
                # judged again for consent and retention; a first disclosure to a new recipient stays one
                kept = tuple(f for f in cs.findings if f.rule == NEW_RECIPIENT.id)
                found = evaluate(event, subject, consent.get(subject)) + kept
                if held and subject in held:
                    found += self.retention.judge(event, subject, held[subject])
                batch[k] = (index, project(event, pseudonym, found, nodes, subject))
        if self.new_recipients is not None:
            if any(type(prepared.events[batch[k][0]]) is DataShared for k in again):
                batch = self._firsts_again(prepared.events, batch)  # reads the store's recipients as they are now
            else:
                batch = self._still_new(batch)
        results = self._apply(batch, failed)
        # the store skips events already recorded and repeats within the batch, and says which it applied (in the
        # same transaction): only their findings are reported, once each, even when another worker applied some
        # of the same events meanwhile
        applied = frozenset[str]().union(*(r.applied_ids for _, r in results))
        reported = set[str]()
        findings: list[Finding] = []
        for _, cs in batch:
            if cs.event.event_id in applied and cs.event.event_id not in reported:
                reported.add(cs.event.event_id)
                findings.extend(cs.findings)
        if self.new_recipients is not None:  # the store now has these recipients' disclosures
            for index, cs in batch:
                shared = prepared.events[index]
                if type(shared) is DataShared and cs.event.event_id in applied:
                    self._seen_recipients.add(shared.recipient.id)
        count = sum(r.applied for _, r in results)
        dropped = sum(len(r.suppressed) for _, r in results)
        stored = sum(size for size, _ in results)
        pending = tuple(e for _, r in results for e in r.erasures_pending)
        sent, unsent = self._notify(prepared.events, batch, applied) if self.notices is not None else (0, 0)
        return HandleResult(
            count, stored - count - dropped, tuple(findings), dropped, pending, tuple(failed),
            notices_sent=sent, notices_unsent=unsent, retries=sum(r.retries for _, r in results),
        )  # fmt: skip

    def _notify(
        self, events: Sequence[AnyEvent], batch: list[tuple[int, ChangeSet]], applied: frozenset[str]
    ) -> tuple[int, int]:
        """Send the Art. 19 notices of the erasures the batch applied (a duplicate erasure sends nothing)."""
        assert self.notices is not None
        erased = [
            Erased(cs.event.event_id, cs.event.subject, events[index].subject.id)
            for index, cs in batch
            if cs.erasure is not None and cs.event.event_id in applied
        ]
        return self.notices.send(self.store, self.policy, erased) if erased else (0, 0)

    def _firsts_again(
        self, events: Sequence[AnyEvent], batch: list[tuple[int, ChangeSet]]
    ) -> list[tuple[int, ChangeSet]]:
        """The batch with its new-recipient findings found again against the store as it is now: an erasure committed
        since the batch was prepared may drop a disclosure that was the first to a recipient, and make the next one
        to it the first."""
        assert self.new_recipients is not None  # called only when the rule is on
        firsts = self.first_disclosures(events)
        out = list(batch)
        for k, (index, cs) in enumerate(batch):
            had = any(f.rule == NEW_RECIPIENT.id for f in cs.findings)
            first = firsts.get(index)
            if had == (first is not None):
                continue
            others = [f for f in cs.findings if f.rule != NEW_RECIPIENT.id]
            if first is not None:  # where prepare puts it: after the policy's findings, before the retention ones
                at = next((j for j, f in enumerate(others) if f.rule == RETENTION_EXCEEDED.id), len(others))
                others.insert(at, self.new_recipients.finding(first, cs.event.subject))
            out[k] = (index, cs._replace(findings=tuple(others)))
        return out

    def _still_new(self, batch: list[tuple[int, ChangeSet]]) -> list[tuple[int, ChangeSet]]:
        """The batch without the new-recipient findings of recipients the store has met since it was prepared (another
        process committed a disclosure to them meanwhile): one store read, only when the batch has such a finding."""
        flagged = [k for k, (_, cs) in enumerate(batch) if any(f.rule == NEW_RECIPIENT.id for f in cs.findings)]
        if not flagged:
            return batch
        known = set(self.store.catalogue().recipients)
        self._seen_recipients.update(known)
        out = list(batch)
        for k in flagged:
            index, cs = out[k]
            kept = tuple(f for f in cs.findings if f.rule != NEW_RECIPIENT.id or f.recipient_id not in known)
            if len(kept) < len(cs.findings):
                out[k] = (index, cs._replace(findings=kept))
        return out

    def _apply(self, batch: list[tuple[int, ChangeSet]], failed: list[Failure]) -> list[tuple[int, ApplyResult]]:
        """``store.apply`` the batch (with its size); when it fails for a reason other than the store, apply each
        half alone, down to the one event at fault (each attempt is one transaction, rolled back when it fails)."""
        if not batch:
            return []
        try:
            return [(len(batch), self.store.apply([cs for _, cs in batch]))]
        except StoreError:
            raise
        except Exception as exc:
            if len(batch) == 1:
                index, cs = batch[0]
                failed.append(_failure(index, cs.event, "could not be stored", exc))
                return []
        middle = len(batch) // 2
        return self._apply(batch[:middle], failed) + self._apply(batch[middle:], failed)


def describe_error(exc: BaseException) -> str:
    """An exception's type and the place it was raised (file and line), never its text: the text of an error met
    while handling an event may quote the event."""
    where = exc.__traceback__
    while where is not None and where.tb_next is not None:
        where = where.tb_next
    if where is None:
        return type(exc).__name__
    return f"{type(exc).__name__} at {where.tb_frame.f_code.co_filename.rsplit('/', 1)[-1]}:{where.tb_lineno}"


def _failure(index: int, event: object, what: str, exc: Exception) -> Failure:
    event_id = str(getattr(event, "event_id", ""))
    _log.error("event %s %s: internal error %s", event_id, what, describe_error(exc))
    return Failure(index, event_id, f"{what}: internal error ({describe_error(exc)})")
