"""Flows as every store answers them (store-neutral): a flow from its group and counts, and the order of flows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime

from graph.changes import Rel
from schemas.answers import Flow, RecipientRef, SourceRef

#: A flow's group: (rel, category, target, purpose, role of the events, subject type); ``target`` is the source id,
#: purpose key or recipient id the edge points to, ``purpose`` a disclosure's purpose (empty for the others).
FlowKey = tuple[str, str, str, str, str, str]


def flow(
    key: Sequence[str],
    sources: Mapping[str, SourceRef],
    recipients: Mapping[str, RecipientRef],
    *,
    subjects: int,
    events: int,
    first: datetime,
    last: datetime,
    event_ids: list[str],
) -> Flow:
    """The flow of one group: its target resolved to a purpose, a source or a recipient by the relationship."""
    rel, category, target, purpose, role, subject_type = key
    return Flow(
        rel=rel,
        category=category,
        role=role,
        subject_type=subject_type,
        purpose=target if rel == Rel.USED_FOR.value else purpose,
        source=sources.get(target) if rel == Rel.COLLECTED_FROM.value else None,
        recipient=recipients.get(target) if rel == Rel.SHARED_WITH.value else None,
        subjects=subjects,
        events=events,
        first_seen=first,
        last_seen=last,
        event_ids=event_ids,
    )


def flow_order(f: Flow) -> tuple[str, ...]:
    """The order of :meth:`graph.store.GraphStore.flows`: rel, category, purpose, source or recipient, role, type."""
    target = f.recipient.id if f.recipient else (f"{f.source.type}:{f.source.name or ''}" if f.source else "")
    return (f.rel, f.category, f.purpose, target, f.role, f.subject_type)
