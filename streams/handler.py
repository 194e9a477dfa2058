"""The one code path from decoded events to the graph: evaluate, pseudonymise, project, apply."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from graph.changes import ChangeSet
from graph.projection import bounded_nodes, project
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies.compliance import PolicyEvaluator
from policies.consent import ConsentState, consent_record
from policies.findings import Finding
from schemas.events import CONSENT_EVENTS, DATA_EVENTS, AnyEvent
from schemas.policy import Policy


@dataclass(frozen=True)
class HandleResult:
    """What one batch did; ``suppressed`` events were about a person erased after they occurred (not applied)."""

    applied: int
    duplicates: int
    findings: tuple[Finding, ...]
    suppressed: int = 0
    #: erasures applied whose deleted data may still be in the store's files (GraphStore.purge completes them)
    erasures_pending: tuple[str, ...] = ()


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
    """

    def __init__(self, store: GraphStore, policy: Policy, pseudonymizer: Pseudonymizer) -> None:
        self.store = store
        self.policy = policy
        self.taxonomy = policy.taxonomy()
        self.evaluator = PolicyEvaluator(policy)
        self.pseudonym = pseudonymizer
        self._nodes: dict[object, object] = {}  # the projection's memo of people, sources, recipients
        store.bind_key(pseudonymizer.fingerprint)

    def changes(self, events: Sequence[AnyEvent], consent: Mapping[str, ConsentState] | None = None) -> list[ChangeSet]:
        """The graph changes for a batch (pure): one ChangeSet per event, findings included.

        ``consent`` maps pseudonyms to what is known of their withdrawals and opt-outs (see :meth:`consent_for`).
        """
        known = consent or {}
        nodes, pseudonym, evaluate = bounded_nodes(self._nodes), self.pseudonym, self.evaluator.evaluate
        out = []
        for event in events:
            subject = pseudonym(event.subject.id)
            out.append(project(event, pseudonym, evaluate(event, subject, known.get(subject)), nodes, subject))
        return out

    def consent_for(self, events: Sequence[AnyEvent]) -> dict[str, ConsentState]:
        """The consent state of the people in a batch: the store's records plus the batch's own consent events."""
        people = {self.pseudonym(e.subject.id) for e in events if isinstance(e, DATA_EVENTS)}
        if not people:
            return {}
        state = self.store.consent_state(sorted(people))
        for e in events:
            if isinstance(e, CONSENT_EVENTS):
                subject = self.pseudonym(e.subject.id)
                if subject in people:
                    base = state.get(subject) or ConsentState(subject, ())
                    state[subject] = base.merged((consent_record(e, subject),))
        return state

    def handle(self, events: Sequence[AnyEvent]) -> HandleResult:
        """Apply a batch atomically; findings of events already processed are not reported again."""
        if not events:
            return HandleResult(0, 0, ())
        batch = self.changes(events, self.consent_for(events))
        # the store skips events already recorded and repeats within the batch, and says which it applied (in the
        # same transaction): only their findings are reported, once each, even when another worker applied some
        # of the same events meanwhile
        result = self.store.apply(batch)
        applied, reported = result.applied_ids, set[str]()
        findings: list[Finding] = []
        for cs in batch:
            if cs.event.event_id in applied and cs.event.event_id not in reported:
                reported.add(cs.event.event_id)
                findings.extend(cs.findings)
        dropped = result.suppressed
        return HandleResult(
            result.applied,
            len(batch) - result.applied - len(dropped),
            tuple(findings),
            len(dropped),
            result.erasures_pending,
        )
