"""The one code path from decoded events to the graph: evaluate, pseudonymise, project, apply."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from graph.compliance import PolicyEvaluator
from graph.changes import ChangeSet, Finding
from graph.projection import project
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from schemas.events import AnyEvent
from schemas.policy import Policy


@dataclass(frozen=True)
class HandleResult:
    """What one batch did."""

    applied: int
    duplicates: int
    findings: tuple[Finding, ...]


class Handler:
    """Applies batches of validated events to a GraphStore, with policy findings, idempotently.

    Both the embedded runner and the Faust agents call :meth:`handle`; nothing else writes events.
    """

    def __init__(self, store: GraphStore, policy: Policy, pseudonymizer: Pseudonymizer) -> None:
        self.store = store
        self.policy = policy
        self.taxonomy = policy.taxonomy()
        self.evaluator = PolicyEvaluator(policy)
        self.pseudonym = pseudonymizer
        store.bind_key(pseudonymizer.fingerprint)

    def changes(self, events: Sequence[AnyEvent]) -> list[ChangeSet]:
        """The graph changes for a batch (pure): one ChangeSet per event, findings included."""
        out = []
        for event in events:
            subject = self.pseudonym(event.subject.id)
            out.append(project(event, self.pseudonym, self.evaluator.evaluate(event, subject)))
        return out

    def handle(self, events: Sequence[AnyEvent]) -> HandleResult:
        """Apply a batch atomically; findings of events already processed are not reported again."""
        if not events:
            return HandleResult(0, 0, ())
        batch = self.changes(events)
        already = self.store.processed([cs.event.event_id for cs in batch])
        # the same event id twice within one batch is also one event
        seen: set[str] = set()
        fresh: list[ChangeSet] = []
        for cs in batch:
            if cs.event.event_id not in already and cs.event.event_id not in seen:
                seen.add(cs.event.event_id)
                fresh.append(cs)
        result = self.store.apply(fresh)
        findings = tuple(f for cs in fresh for f in cs.findings)
        return HandleResult(result.applied, len(batch) - result.applied, findings)
