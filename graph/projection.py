"""Project a validated event into graph changes: pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from graph.changes import (
    ChangeSet,
    ConsentRecord,
    EdgeKey,
    ErasureRecord,
    EventRecord,
    Finding,
    RecipientNode,
    Rel,
    SourceNode,
    SubjectNode,
)
from schemas.events import AnyEvent, ConsentEvent, ConsentWithdrawn, DataErased, DataShared, OptedOut, Source

# Looking up an enum member costs a descriptor call on Python 3.11; these run several times per event.
_HOLDS, _COLLECTED_FROM, _USED_FOR, _SHARED_WITH = Rel.HOLDS, Rel.COLLECTED_FROM, Rel.USED_FOR, Rel.SHARED_WITH


def source_id(source: Source) -> str:
    return f"{source.type.value}:{source.name or ''}"


def consent_record(event: ConsentEvent, subject: str) -> ConsentRecord:
    """What a consent withdrawal or opt-out records for ``subject`` (the pseudonym)."""
    if isinstance(event, ConsentWithdrawn):
        purposes, categories = tuple(event.purposes or ()), tuple(event.data_categories or ())
    else:
        purposes, categories = (event.scope,), ()
    return ConsentRecord(event.event_id, event.kind, subject, event.occurred_at.astimezone(UTC), purposes, categories)


def project(
    event: AnyEvent, pseudonym: Callable[[str], str], findings: tuple[Finding, ...] = ()
) -> ChangeSet:
    """The graph changes one event causes: its subject's categories, and their sources, purposes and recipients.

    A consent withdrawal or opt-out changes no edge: it is recorded (``ChangeSet.consent``) for later judgement.
    An erasure (``ChangeSet.erasure``) adds nothing but its tombstone: the store deletes what it covers.
    """
    subject = pseudonym(event.subject.id)
    occurred = event.occurred_at.astimezone(UTC)
    if isinstance(event, DataErased):
        return ChangeSet(
            event=EventRecord(event.event_id, event.kind, occurred, event.emitted_by, subject, role="", customer=None),
            subject=SubjectNode(subject, event.subject.type),
            edges=(),
            erasure=ErasureRecord(event.event_id, subject, occurred, event.reason),
        )
    if isinstance(event, ConsentWithdrawn | OptedOut):
        return ChangeSet(
            event=EventRecord(event.event_id, event.kind, occurred, event.emitted_by, subject, role="", customer=None),
            subject=SubjectNode(subject, event.subject.type),
            edges=(),
            consent=consent_record(event, subject),
        )
    edges: list[EdgeKey] = []
    source = SourceNode(source_id(event.source), event.source.type.value, event.source.name) if event.source else None
    recipient = None
    if isinstance(event, DataShared):
        r = event.recipient
        recipient = RecipientNode(r.id, r.name, r.type.value, r.country, r.contact)
    role, purpose = str(event.role), event.purpose  # str(): a StrEnum's value (cheaper than .value, per edge)
    for category in event.data_categories:
        edges.append(EdgeKey(_HOLDS, subject, category, role))
        if source is not None:
            edges.append(EdgeKey(_COLLECTED_FROM, subject, category, source.id))
        if purpose is not None:
            edges.append(EdgeKey(_USED_FOR, subject, category, purpose))
            if recipient is not None:
                edges.append(EdgeKey(_SHARED_WITH, subject, category, recipient.id, purpose))
    return ChangeSet(
        event=EventRecord(
            event_id=event.event_id,
            kind=event.kind,
            occurred_at=occurred,
            emitted_by=event.emitted_by,
            subject=subject,
            role=role,
            customer=event.customer,
        ),
        subject=SubjectNode(subject, event.subject.type),
        edges=tuple(edges),
        recipient=recipient,
        source=source,
        findings=findings,
    )
