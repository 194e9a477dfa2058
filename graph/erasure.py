"""The erasure rules every store and the alerter follow (store-neutral).

An erasure at time T forgets everything about its person that occurred at or before T. So within a batch the
erasures go first, oldest first, and an event about a person is dropped when one of the person's erasures is at or
after the time it occurred, whenever it arrives: a replay of old events does not bring the person back, while data
that occurred after the erasure is new data.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any, Protocol, TypeVar

from graph.changes import ChangeSet, Tombstone


class _Instant(Protocol):
    def __lt__(self, other: Any, /) -> bool: ...

    def __le__(self, other: Any, /) -> bool: ...


T = TypeVar("T", bound=_Instant)


def erasures_first(batch: Iterable[ChangeSet]) -> tuple[list[ChangeSet], list[ChangeSet]]:
    """A batch's erasures, oldest first (then by event id), and its other changes in their order."""
    erasures: list[ChangeSet] = []
    others: list[ChangeSet] = []
    for cs in batch:
        (erasures if cs.erasure is not None else others).append(cs)
    erasures.sort(key=lambda cs: (cs.event.occurred_at, cs.event.event_id))
    return erasures, others


def covers(erased_at: T, occurred: T) -> bool:
    """The rule: an erasure at ``erased_at`` covers what occurred at or before it (datetimes, or a store's
    sortable timestamps)."""
    return occurred <= erased_at


def covering(cutoffs: Iterable[tuple[T, str]], occurred: T) -> str | None:
    """The event id of the oldest erasure at or after ``occurred`` among a person's (time, event id) cut-offs, or
    None when none covers it (the times compare: datetimes, or a store's sortable timestamps)."""
    best: tuple[T, str] | None = None
    for at, event_id in cutoffs:
        if covers(at, occurred) and (best is None or at < best[0] or (at == best[0] and event_id < best[1])):
            best = (at, event_id)
    return None if best is None else best[1]


def tombstones_by_person(tombstones: Sequence[Tombstone]) -> dict[str, list[Tombstone]]:
    """Tombstones grouped by person (pseudonym), each person's oldest first (by erased_at, then event id)."""
    out: dict[str, list[Tombstone]] = {}
    for t in sorted(tombstones, key=lambda t: (t.erased_at, t.event_id)):
        out.setdefault(t.subject, []).append(t)
    return out
