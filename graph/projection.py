"""Project a validated event into graph changes: pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC

from graph.changes import (
    ChangeSet,
    ConsentRecord,
    ErasureRecord,
    EventRecord,
    Finding,
    RecipientNode,
    SourceNode,
    SubjectNode,
)
from schemas.events import AnyEvent, ConsentEvent, ConsentWithdrawn, DataErased, DataShared, OptedOut, Source


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
    """The graph changes one event causes: its subject's categories, and their source, purpose and recipient
    (the edges follow from them: :func:`graph.changes.edge_keys`).

    A consent withdrawal or opt-out changes no edge: it is recorded (``ChangeSet.consent``) for later judgement.
    An erasure (``ChangeSet.erasure``) adds nothing but its tombstone: the store deletes what it covers.
    """
    subject = pseudonym(event.subject.id)
    occurred = event.occurred_at.astimezone(UTC)
    if isinstance(event, DataErased):
        return ChangeSet(
            event=EventRecord(event.event_id, event.kind, occurred, event.emitted_by, subject, role="", customer=None),
            subject=SubjectNode(subject, event.subject.type),
            erasure=ErasureRecord(event.event_id, subject, occurred, event.reason),
        )
    if isinstance(event, ConsentWithdrawn | OptedOut):
        return ChangeSet(
            event=EventRecord(event.event_id, event.kind, occurred, event.emitted_by, subject, role="", customer=None),
            subject=SubjectNode(subject, event.subject.type),
            consent=consent_record(event, subject),
        )
    source = SourceNode(source_id(event.source), event.source.type.value, event.source.name) if event.source else None
    recipient = None
    if isinstance(event, DataShared):
        r = event.recipient
        recipient = RecipientNode(r.id, r.name, r.type.value, r.country, r.contact)
    # positional: a named tuple is built faster without keywords, and the ingest builds these for every event
    return ChangeSet(
        EventRecord(
            event.event_id, event.kind, occurred, event.emitted_by, subject, str(event.role), event.customer
        ),  # str(): a StrEnum's value (cheaper than .value)
        SubjectNode(subject, event.subject.type),
        tuple(event.data_categories),
        event.purpose,
        recipient,
        source,
        findings,
    )
