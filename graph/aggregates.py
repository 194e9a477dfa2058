"""Flow aggregates, kept at write time: what a batch of events adds to the counts that reports read, built here once
for every store (a store only stores and sums what this module hands it; docs/reports.md, "How reports stay fast").

An aggregate is a *key* (a rollup and its fields) with a stable reference (:func:`ref_of`). The rollups, each a
different way of counting the same events:

- ``flow``: one lineage flow, ``(rel, category, target, purpose, role, subject type, via)``: the edges of
  :func:`graph.changes.edge_keys` over people, with the role and data-subject type of the events, and for
  ``USED_FOR`` the kind of event that recorded the use (``via``: a use, a collection with a purpose, or the use a
  disclosure implies);
- ``activity``: ``(role, purpose)``, every event with a purpose (a record of processing counts events per purpose);
- ``category``: ``(role, category)``, every event about a category (people per category, whatever their type);
- ``recipient``: ``(recipient id,)``, every disclosure to a recipient;
- ``alert``: ``(alert id,)``, the events that triggered an alert (its reference is the alert id);
- ``quiet``: a use or disclosure flow's key, counting only its events that raised no alert (the gaps report tells
  from them that a flow no declaration of identified data allows rested on an aggregated-only one).

What is stored is counted per *unit*: an event's **shape** (the fields that decide its keys: kind, role, categories,
source, purpose, recipient, subject type) or an alert. A unit counts in a fixed set of keys (a shape in ten or so,
an alert in itself), and there are far fewer (unit, person) pairs than (key, person) pairs (S Plus traffic: 54
shapes for 301 keys, 23 thousand shape-person pairs for 150 thousand key-person pairs per thousand people), so
writing per unit is what keeps the write path cheap. Per unit a store keeps its events per UTC day and all-time
span, and per (unit, person) the months the person occurred in; per key only its all-time number of people, moved
when a person's first unit of the key appears (:func:`new_people`) or their last one goes. A key's counts in a
period are sums over its units' days; its people in whole months, the sum of its steps there
(graph/aggregate_steps.py, kept from the months per (unit, person)).

Only events a store actually applies reach the aggregator (graph/aggregator.py; repeats, replays and events an
erasure covers are dropped before), so the aggregates equal a recount of the stored events whatever the order or
the batching; an erasure takes away what it deletes (:func:`facts_delta` of the erased events).
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from graph.changes import EventFacts, Shape, edge_keys

FLOW, ACTIVITY, CATEGORY, RECIPIENT, ALERT, QUIET = "flow", "activity", "category", "recipient", "alert", "quiet"
ROLLUPS = (FLOW, ACTIVITY, CATEGORY, RECIPIENT, ALERT, QUIET)

Key = tuple[str, tuple[str, ...]]  # (rollup, fields)

EPOCH_ORDINAL = date(1970, 1, 1).toordinal()


def day_of(at: datetime) -> int:
    """The UTC day of an instant, as days since 1970-01-01."""
    return at.astimezone(UTC).toordinal() - EPOCH_ORDINAL


def day_date(day: int) -> date:
    return date.fromordinal(day + EPOCH_ORDINAL)


def month_of(at: datetime | date) -> int:
    """The UTC month of an instant (or a date), as ``year * 12 + month - 1``."""
    if isinstance(at, datetime):
        at = at.astimezone(UTC)
    return at.year * 12 + at.month - 1


def month_start(month: int) -> date:
    return date(month // 12, month % 12 + 1, 1)


def ref_of(rollup: str, fields: Sequence[str]) -> str:
    """The stable, short reference of a key: the alert id for an alert, else ``f_`` and 16 hex digits of a hash."""
    if rollup == ALERT:
        return fields[0]
    raw = "\x1f".join((rollup, *fields)).encode("utf-8")
    return "f_" + hashlib.sha256(raw).hexdigest()[:16]


def shape_keys(shape: Shape) -> tuple[Key, ...]:
    """Every key an event of this shape counts in."""
    kind, role, categories, source, purpose, recipient, subject_type, alerted = shape
    cats = tuple(sorted(set(categories)))
    keys: list[Key] = []
    for e in edge_keys("", cats, role, source, purpose, recipient):
        via = kind if e.rel == "USED_FOR" else ""
        fields = (e.rel.value, e.category, e.target, e.purpose, role, subject_type, via)
        keys.append((FLOW, fields))
        if not alerted and e.rel.value in ("USED_FOR", "SHARED_WITH"):
            keys.append((QUIET, fields))
    keys.extend((CATEGORY, (role, c)) for c in cats)
    if purpose is not None:
        keys.append((ACTIVITY, (role, purpose)))
        if recipient is not None:
            keys.append((RECIPIENT, (recipient,)))
    return tuple(keys)


def normal_shape(shape: Shape) -> Shape:
    """The shape with its categories sorted and each once (two events naming the same categories in another order
    are one unit)."""
    return (shape[0], shape[1], tuple(sorted(set(shape[2]))), *shape[3:])


def shape_unit(shape: Shape) -> str:
    """The stable id of a shape's unit: ``s_`` and 16 hex digits of a hash of its (normal) fields."""
    raw = json.dumps(normal_shape(shape), separators=(",", ":")).encode("utf-8")
    return "s_" + hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True, eq=False)  # compared and hashed by identity: one object per unit
class Unit:
    """A unit as stored: its id, ``shape`` or ``alert``, its fields (a shape's, or the alert id), and the keys
    it counts in, by reference."""

    id: str
    kind: str
    fields: tuple[object, ...]
    keys: Mapping[str, Key]


def shape_of(shape: Shape) -> Unit:
    normal = normal_shape(shape)
    return Unit(shape_unit(normal), "shape", normal, {ref_of(*k): k for k in shape_keys(normal)})


def alert_unit(aid: str) -> Unit:
    return Unit(aid, ALERT, (aid,), {aid: (ALERT, (aid,))})


@dataclass(slots=True)
class Delta:
    """What some events add to (or, for an erasure, take from) the aggregates, per unit.

    ``units``: every unit touched; ``days``: events per (unit, day); ``members``: months per (unit, person) to
    record: all of them from :func:`facts_delta`, only those not known to be recorded from the aggregator
    (graph/aggregator.py).
    """

    units: dict[str, Unit] = field(default_factory=dict)
    days: dict[tuple[str, int], int] = field(default_factory=dict)
    members: dict[tuple[str, str], set[int]] = field(default_factory=dict)

    def totals(self) -> dict[str, tuple[int, int, int]]:
        """Per unit: (events, first day, last day) of ``days``."""
        out: dict[str, tuple[int, int, int]] = {}
        for (unit, day), n in self.days.items():
            t = out.get(unit)
            out[unit] = (n, day, day) if t is None else (t[0] + n, min(t[1], day), max(t[2], day))
        return out

    def member_rows(self) -> list[tuple[str, str, int, int]]:
        """(unit, person, year, months of that year as a bit each) in key order."""
        rows = []
        for (unit, person), months in self.members.items():
            if len(months) == 1:
                (m,) = months
                rows.append((unit, person, m // 12, 1 << (m % 12)))
                continue
            masks: dict[int, int] = {}
            for m in months:
                masks[m // 12] = masks.get(m // 12, 0) | (1 << (m % 12))
            rows.extend((unit, person, year, mask) for year, mask in masks.items())
        rows.sort()
        return rows

    def people(self) -> dict[str, set[str]]:
        """The units of each person in ``members``."""
        out: dict[str, set[str]] = {}
        for unit, person in self.members:
            out.setdefault(person, set()).add(unit)
        return out

    def refs(self, units: Iterable[str]) -> set[str]:
        return {ref for u in units for ref in self.units[u].keys}

    def by_key(self) -> KeyCounts:
        """The same counts per key (reference) instead of per unit."""
        out = KeyCounts()
        for (unit, day), n in self.days.items():
            for ref, k in self.units[unit].keys.items():
                out.keys[ref] = k
                out.days[(ref, day)] = out.days.get((ref, day), 0) + n
        for unit, person in self.members:
            for ref in self.units[unit].keys:
                out.members.add((ref, person))
        return out


@dataclass(slots=True)
class KeyCounts:
    """Counts per key: each reference's key, events per (ref, day), and the (ref, person) pairs."""

    keys: dict[str, Key] = field(default_factory=dict)
    days: dict[tuple[str, int], int] = field(default_factory=dict)
    members: set[tuple[str, str]] = field(default_factory=set)

    def totals(self) -> dict[str, tuple[int, int, int, int]]:
        """Per reference: (events, people, first day, last day)."""
        people: dict[str, int] = {}
        for ref, _ in self.members:
            people[ref] = people.get(ref, 0) + 1
        out: dict[str, tuple[int, int, int, int]] = {}
        for (ref, day), n in self.days.items():
            t = out.get(ref)
            out[ref] = (
                (n, people.get(ref, 0), day, day) if t is None else (t[0] + n, t[1], min(t[2], day), max(t[3], day))
            )
        return out


def facts_delta(facts: Iterable[EventFacts]) -> Delta:
    """The aggregates of these stored events, all of them (an erasure takes it away; a rebuild writes it)."""
    shapes: dict[Shape, Unit] = {}
    out = Delta()
    for f in facts:
        shape = f.shape
        unit = shapes.get(shape)
        if unit is None:
            unit = shapes[shape] = shape_of(shape)
        day, month = day_of(f.occurred_at), month_of(f.occurred_at)
        for u in (unit, *(alert_unit(a) for a in dict.fromkeys(f.alerts))):
            out.units[u.id] = u
            out.days[(u.id, day)] = out.days.get((u.id, day), 0) + 1
            out.members.setdefault((u.id, f.subject), set()).add(month)
    return out
