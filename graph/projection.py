"""Project a validated event into graph changes: pure, no I/O."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC
from typing import Any

from graph.changes import ChangeSet, ErasureRecord, EventRecord, RecipientNode, SourceNode, SubjectNode
from policies.consent import consent_record
from policies.findings import Finding
from schemas.events import CONSENT_EVENTS, AnyEvent, DataErased, DataShared, Source


def source_id(source: Source) -> str:
    return f"{source.type.value}:{source.name or ''}"


def project(
    event: AnyEvent,
    pseudonym: Callable[[str], str],
    findings: tuple[Finding, ...] = (),
    nodes: dict[Any, Any] | None = None,
    subject: str | None = None,
) -> ChangeSet:
    """The graph changes one event causes: its subject's categories, and their source, purpose and recipient
    (the edges follow from them: :func:`graph.changes.edge_keys`).

    ``nodes``, when given, is a memo the caller keeps from event to event: equal subject, source and recipient
    nodes are then built once and shared (they are immutable); the caller bounds it (see :func:`bounded_nodes`).
    ``subject``, when given, is ``pseudonym(event.subject.id)``, already computed by the caller.

    A consent withdrawal or opt-out changes no edge: it is recorded (``ChangeSet.consent``) for later judgement.
    An erasure (``ChangeSet.erasure``) adds nothing but its tombstone: the store deletes what it covers.
    """
    if subject is None:
        subject = pseudonym(event.subject.id)
    occurred = event.occurred_at.astimezone(UTC)
    if isinstance(event, DataErased):
        return ChangeSet(
            event=EventRecord(event.event_id, event.kind, occurred, event.emitted_by, subject, role="", customer=None),
            subject=SubjectNode(subject, event.subject.type),
            erasure=ErasureRecord(event.event_id, subject, occurred, event.reason),
        )
    if isinstance(event, CONSENT_EVENTS):  # a tuple: `A | B` would build a union object per call
        return ChangeSet(
            event=EventRecord(event.event_id, event.kind, occurred, event.emitted_by, subject, role="", customer=None),
            subject=SubjectNode(subject, event.subject.type),
            consent=consent_record(event, subject),
        )
    memo = {} if nodes is None else nodes
    source = None
    if event.source is not None:
        src = event.source
        source = memo.get((1, src.type, src.name))
        if source is None:
            source = memo[(1, src.type, src.name)] = SourceNode(source_id(src), src.type.value, src.name)
    recipient = None
    if isinstance(event, DataShared):
        r = event.recipient
        recipient = memo.get((2, r.id, r.name, r.type, r.country, r.contact))
        if recipient is None:
            recipient = memo[(2, r.id, r.name, r.type, r.country, r.contact)] = RecipientNode(
                r.id, r.name, r.type.value, r.country, r.contact
            )
    node = memo.get(subject)  # people by pseudonym (a str: no clash with the tuple keys above)
    if node is None or node.type != event.subject.type:
        node = memo[subject] = SubjectNode(subject, event.subject.type)
    # positional: a named tuple is built faster without keywords, and the ingest builds these for every event
    return ChangeSet(
        EventRecord(
            event.event_id, event.kind, occurred, event.emitted_by, subject, str(event.role), event.customer
        ),  # str(): a StrEnum's value (cheaper than .value)
        node,
        tuple(event.data_categories),
        event.purpose,
        recipient,
        source,
        findings,
    )


def bounded_nodes(nodes: dict[Any, Any], limit: int = 65_536) -> dict[Any, Any]:
    """``nodes`` (a memo for :func:`project`), emptied when it holds more than ``limit`` nodes."""
    if len(nodes) > limit:
        nodes.clear()
    return nodes
