"""Graph changes: what one event adds to the lineage graph, tagged with the event that caused it."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import NamedTuple

from policies.consent import ConsentRecord
from policies.findings import Finding


class Rel(StrEnum):
    """Relationship types from a person's data (subject + category) to what it touched."""

    HOLDS = "HOLDS"  # target: role ("controller" | "processor")
    COLLECTED_FROM = "COLLECTED_FROM"  # target: source id ("<type>:<name>")
    USED_FOR = "USED_FOR"  # target: purpose key
    SHARED_WITH = "SHARED_WITH"  # target: recipient id; purpose: purpose key


class EdgeKey(NamedTuple):
    """Identity of one lineage edge; all evidence for the same key is merged into one edge.

    A named tuple rather than a frozen dataclass: every event makes several (one per category and relationship),
    and a tuple is built and hashed in C, several times faster.
    """

    rel: Rel
    subject: str
    category: str
    target: str
    purpose: str = ""


class SubjectNode(NamedTuple):
    key: str  # pseudonym
    type: str


class RecipientNode(NamedTuple):
    id: str
    name: str
    type: str
    country: str | None
    contact: str | None


class SourceNode(NamedTuple):
    id: str
    type: str
    name: str | None


class EventRecord(NamedTuple):
    """The processed-event record: written with the changes, it makes re-delivery a no-op.

    This record, the nodes and ChangeSet are named tuples rather than frozen dataclasses: immutable as well, and
    built several times faster (a frozen dataclass sets each field through ``object.__setattr__``); the ingest
    builds several per event.
    """

    event_id: str
    kind: str
    occurred_at: datetime  # UTC
    emitted_by: str
    subject: str  # pseudonym
    role: str
    customer: str | None


@dataclass(frozen=True, slots=True)
class ErasureRecord:
    """An erasure to apply: forget everything about ``subject`` that occurred at or before ``occurred_at``."""

    event_id: str
    subject: str  # pseudonym
    occurred_at: datetime  # UTC
    reason: str | None = None
    recipients: tuple[str, ...] = ()  # known to have to be told besides what the evidence shows (re-keying)
    # (recipient id, category) pairs known to have been disclosed besides what the evidence shows (re-keying); None
    # when they are not known (a tombstone carried from a store that did not keep them): the new one keeps none
    received: tuple[tuple[str, str], ...] | None = ()


@dataclass(frozen=True, slots=True)
class Tombstone:
    """What a store keeps of an erasure: whose (pseudonym), when, by which event, and whom to tell (Art. 19).

    ``recipients`` are the ids of the recipients the erased data had been disclosed to, computed by the store
    before it deleted the evidence; ``received`` the (recipient id, category key) pairs of what each of them had
    received, sorted, computed likewise, so that a notice sent after the erasure can name the categories (None: a
    tombstone written before stores kept them, SQLite layout 4 and Neo4j schema 5 or older); ``applied_at`` is when
    the store applied the erasure.
    """

    event_id: str
    subject: str  # pseudonym
    erased_at: datetime  # UTC: the erasure event's occurred_at
    applied_at: datetime  # UTC
    reason: str | None
    recipients: tuple[str, ...]
    received: tuple[tuple[str, str], ...] | None = None

    def categories_received(self, recipient: str) -> tuple[str, ...] | None:
        """The categories ``recipient`` had received, sorted; None when this tombstone does not say (an older store,
        or a recipient known only from a re-keyed tombstone without them)."""
        if self.received is None:
            return None
        found = tuple(sorted({c for r, c in self.received if r == recipient}))
        return found or None


def received_pairs(pairs: Iterable[tuple[str, str]]) -> tuple[tuple[str, str], ...]:
    """(recipient id, category) pairs as a tombstone keeps them: each once, sorted."""
    return tuple(sorted({(str(r), str(c)) for r, c in pairs}))


class ChangeSet(NamedTuple):
    """Everything one event changes in the graph; applied atomically and at most once per event id.

    A data event's edges follow from its categories, role, source, purpose and recipient (:func:`edge_keys`), so
    those are what it carries; :attr:`edges` derives them. Consent and erasure events carry no categories.
    """

    event: EventRecord
    subject: SubjectNode
    categories: tuple[str, ...] = ()
    purpose: str | None = None
    recipient: RecipientNode | None = None
    source: SourceNode | None = None
    findings: tuple[Finding, ...] = ()
    consent: ConsentRecord | None = None  # set by consent_withdrawn and opted_out events, which have no edges
    erasure: ErasureRecord | None = None  # set by erased events, which have no edges and add no subject

    @property
    def edges(self) -> tuple[EdgeKey, ...]:
        """The lineage edges this event is evidence for (computed on each access)."""
        return edge_keys(
            self.event.subject,
            self.categories,
            self.event.role,
            self.source.id if self.source is not None else None,
            self.purpose,
            self.recipient.id if self.recipient is not None else None,
        )


# Looking up an enum member costs a descriptor call on Python 3.11; these run several times per event.
_HOLDS, _COLLECTED_FROM, _USED_FOR, _SHARED_WITH = Rel.HOLDS, Rel.COLLECTED_FROM, Rel.USED_FOR, Rel.SHARED_WITH


def edge_keys(
    subject: str,
    categories: tuple[str, ...],
    role: str,
    source: str | None,
    purpose: str | None,
    recipient: str | None,
) -> tuple[EdgeKey, ...]:
    """The edges a data event is evidence for, per category: the role holding it (HOLDS), where it came from
    (COLLECTED_FROM, with a source), what it served (USED_FOR, with a purpose) and who received it for that
    purpose (SHARED_WITH, with a recipient and a purpose).

    The one definition of the graph's shape from an event's fields. The SQLite store keeps those fields per event
    and expands them the same way in SQL (``EDGES`` in ``graph/sqlite_layout.py``); the contract suite holds the two
    to the same answers.
    """
    edges: list[EdgeKey] = []
    for category in categories:
        edges.append(EdgeKey(_HOLDS, subject, category, role))
        if source is not None:
            edges.append(EdgeKey(_COLLECTED_FROM, subject, category, source))
        if purpose is not None:
            edges.append(EdgeKey(_USED_FOR, subject, category, purpose))
            if recipient is not None:
                edges.append(EdgeKey(_SHARED_WITH, subject, category, recipient, purpose))
    return tuple(edges)


Shape = tuple[str, str, tuple[str, ...], "str | None", "str | None", "str | None", str, bool]
"""(kind, role, categories, source id, purpose, recipient id, subject type, whether it raised an alert) of a data
event."""


class EventFacts(NamedTuple):
    """A stored data event as aggregates see it (what a store reads back for erasures, period edges, evidence)."""

    event_id: str
    kind: str
    occurred_at: datetime  # UTC
    subject: str  # pseudonym
    subject_type: str
    role: str
    categories: tuple[str, ...]
    source: str | None
    purpose: str | None
    recipient: str | None
    alerts: tuple[str, ...] = ()  # ids of the alerts it triggered

    @property
    def shape(self) -> Shape:
        fields = (self.kind, self.role, self.categories, self.source, self.purpose, self.recipient, self.subject_type)
        return (*fields, bool(self.alerts))
