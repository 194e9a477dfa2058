"""Graph changes: what one event adds to the lineage graph, tagged with the event that caused it."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum


class Rel(StrEnum):
    """Relationship types from a person's data (subject + category) to what it touched."""

    HOLDS = "HOLDS"  # target: role ("controller" | "processor")
    COLLECTED_FROM = "COLLECTED_FROM"  # target: source id ("<type>:<name>")
    USED_FOR = "USED_FOR"  # target: purpose key
    SHARED_WITH = "SHARED_WITH"  # target: recipient id; purpose: purpose key


@dataclass(frozen=True, slots=True)
class EdgeKey:
    """Identity of one lineage edge; all evidence for the same key is merged into one edge."""

    rel: Rel
    subject: str
    category: str
    target: str
    purpose: str = ""


@dataclass(frozen=True, slots=True)
class SubjectNode:
    key: str  # pseudonym
    type: str


@dataclass(frozen=True, slots=True)
class RecipientNode:
    id: str
    name: str
    type: str
    country: str | None
    contact: str | None


@dataclass(frozen=True, slots=True)
class SourceNode:
    id: str
    type: str
    name: str | None


@dataclass(frozen=True, slots=True)
class EventRecord:
    """The processed-event record: written with the changes, it makes re-delivery a no-op."""

    event_id: str
    kind: str
    occurred_at: datetime  # UTC
    emitted_by: str
    subject: str  # pseudonym
    role: str
    customer: str | None


@dataclass(frozen=True, slots=True)
class Finding:
    """A flow the policy does not declare (or breaks), with the evidence and the clause concerned."""

    rule: str
    severity: str
    event_id: str
    occurred_at: datetime
    subject: str  # pseudonym
    category: str
    purpose: str
    recipient_id: str
    recipient_type: str
    reason: str
    clause_section: str
    clause_text: str
    policy_version: str

    @property
    def dedupe_key(self) -> tuple[str, str, str, str]:
        return (self.rule, self.recipient_id, self.category, self.purpose)


@dataclass(frozen=True, slots=True)
class ChangeSet:
    """Everything one event changes in the graph; applied atomically and at most once per event id."""

    event: EventRecord
    subject: SubjectNode
    edges: tuple[EdgeKey, ...]
    recipient: RecipientNode | None = None
    source: SourceNode | None = None
    findings: tuple[Finding, ...] = ()
