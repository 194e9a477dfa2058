"""Flows as every store answers them (store-neutral): a flow from its key and counts, and the order of flows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import date

from graph.changes import Rel
from schemas.answers import Flow, RecipientRef, SourceRef

#: A flow's key (graph/aggregates.py): (rel, category, target, purpose, role of the events, subject type, via);
#: ``target`` is the role, source id, purpose key or recipient id the edge points to, ``purpose`` a disclosure's
#: purpose (empty for the others), ``via`` the kind of event behind a USED_FOR (empty for the others).
FlowKey = tuple[str, str, str, str, str, str, str]


def flow(
    ref: str,
    key: Sequence[str],
    sources: Mapping[str, SourceRef],
    recipients: Mapping[str, RecipientRef],
    *,
    subjects: int,
    events: int,
    first: date,
    last: date,
) -> Flow:
    """The flow of one key: its target resolved to a purpose, a source or a recipient by the relationship."""
    rel, category, target, purpose, role, subject_type, via = key
    return Flow(
        ref=ref,
        rel=rel,
        category=category,
        role=role,
        subject_type=subject_type,
        purpose=target if rel == Rel.USED_FOR.value else purpose,
        via=via,
        source=sources.get(target) if rel == Rel.COLLECTED_FROM.value else None,
        recipient=recipients.get(target) if rel == Rel.SHARED_WITH.value else None,
        subjects=subjects,
        events=events,
        first_seen=first,
        last_seen=last,
    )


def flow_order(f: Flow) -> tuple[str, ...]:
    """The order of :meth:`graph.store.GraphStore.flows`: rel, category, purpose, source or recipient, role, type,
    via."""
    target = f.recipient.id if f.recipient else (f"{f.source.type}:{f.source.name or ''}" if f.source else "")
    return (f.rel, f.category, f.purpose, target, f.role, f.subject_type, f.via)
