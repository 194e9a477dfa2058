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

Only events a store actually applies reach :class:`Aggregator` (repeats, replays and events an erasure covers are
dropped before), so the aggregates equal a recount of the stored events whatever the order or the batching; an
erasure takes away what it deletes (:func:`facts_delta` of the erased events).
"""

from __future__ import annotations

import hashlib
import json
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime

from graph.changes import ChangeSet, EventFacts, Shape, edge_keys
from graph.store import alert_id

FLOW, ACTIVITY, CATEGORY, RECIPIENT, ALERT, QUIET = "flow", "activity", "category", "recipient", "alert", "quiet"
ROLLUPS = (FLOW, ACTIVITY, CATEGORY, RECIPIENT, ALERT, QUIET)

Key = tuple[str, tuple[str, ...]]  # (rollup, fields)

_EPOCH = date(1970, 1, 1).toordinal()


def day_of(at: datetime) -> int:
    """The UTC day of an instant, as days since 1970-01-01."""
    return at.astimezone(UTC).toordinal() - _EPOCH


def day_date(day: int) -> date:
    return date.fromordinal(day + _EPOCH)


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
    record: all of them from :func:`facts_delta`, only those not known to be recorded from :class:`Aggregator`.
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


# The aggregator's memory codes a (unit, month) as one int: the unit's index in the aggregator shifted past the month
# (a month, ``year * 12 + month - 1``, is below 2**17 for every year a datetime holds). A person's memory is then
# one set of ints (which the garbage collector does not traverse element by element as objects) and a batch's new
# memberships are one set difference per person.
_MONTH_BITS = 17
_MONTH_MASK = (1 << _MONTH_BITS) - 1
_DAY_BITS = 22  # a day, as a proleptic ordinal (datetime.toordinal), is below 2**22


@dataclass(slots=True)
class _Person:
    """What a store object knows is recorded for one person: their tombstones when it learnt it, their units (ids),
    the (unit, month) codes recorded, whether those units are all of the person's (read from the store, or
    written only by this object since), and whether those codes are all of theirs (their months read from the
    store, and only this object's writes since). It holds ``len(units) + len(months)`` entries."""

    tombstones: int
    units: set[str] = field(default_factory=set)
    months: set[int] = field(default_factory=set)
    complete: bool = False
    all_months: bool = False


@dataclass(slots=True)
class Pending:
    """A batch's membership as :meth:`Aggregator.delta` saw it: the people whose recorded units the store must read
    before :meth:`Aggregator.people_added` (``unseen``: a unit new to this object, and their units not known to be
    complete), and what to remember once the transaction has committed (:meth:`Aggregator.committed`)."""

    tombstones: dict[str, int] = field(default_factory=dict)
    written: dict[str, tuple[set[str], set[int]]] = field(default_factory=dict)  # per person: units, (unit, month)
    unseen: set[str] = field(default_factory=set)
    new_units: dict[str, set[str]] = field(default_factory=dict)  # per person, units this object has not seen theirs
    read: dict[str, set[str]] = field(default_factory=dict)
    months_read: dict[str, dict[str, set[int]]] = field(default_factory=dict)  # per person: months per unit
    trusted: bool = False


class Aggregator:
    """Builds a batch's :class:`Delta`; one per store object, remembering between batches which (unit, person,
    month) it has seen recorded, so that a person's thousandth event of a month writes no membership, and which
    units each person has, so that a person's first event of a unit tells which keys gain a person.

    That memory must not go stale. Membership is deleted by erasures alone, each of which leaves a tombstone: an
    entry carries the number of tombstones its person had, and a batch whose transaction reads another number for
    them forgets the person. A store whose transaction can tell that nobody else wrote since its last commit (SQLite)
    trusts a person's units as complete once read; otherwise (Neo4j, with concurrent writers) a unit new to this
    object makes the store read the person's units in the transaction. Entries are added only after the transaction
    commits (:meth:`committed`), and all are forgotten past ``limit``.
    """

    def __init__(self, limit: int = 1_000_000) -> None:
        self._shapes: dict[tuple[object, ...], int] = {}  # unit index, by the shape as events carry it
        self._alerts: dict[tuple[str, ...], str] = {}  # alert id by a finding's dedupe key
        self._alert_units: dict[str, int] = {}  # unit index, by alert id
        self._indexed: list[Unit] = []  # the units met in events, by index
        self._indices: dict[str, int] = {}  # and their index by id (shapes unequal as carried can be one unit)
        self.units: dict[str, Unit] = {}  # every unit met or read, by id
        self._people: dict[str, _Person] = {}
        self._size = 0
        self._limit = limit

    def _index(self, unit: Unit) -> int:
        index = self._indices.get(unit.id)
        if index is None:
            index = self._indices[unit.id] = len(self._indexed)
            self._indexed.append(self.units.setdefault(unit.id, unit))
        return index

    def delta(
        self, fresh: Sequence[ChangeSet], tombstones: Mapping[str, int], *, trusted: bool = False
    ) -> tuple[Delta, Pending]:
        """The aggregates of newly applied events (no repeats, none an erasure covers); ``tombstones``: how many
        tombstones each of their people has, read in the writing transaction; ``trusted``: nobody else has written
        since this object's last commit."""
        shapes, alerts, alert_units, epoch = self._shapes, self._alerts, self._alert_units, _EPOCH
        counts: dict[int, int] = defaultdict(int)  # per (unit index, day ordinal) as one int
        months: dict[str, set[int]] = defaultdict(set)  # per person: (unit, month) codes
        dates: dict[int, int] = {}  # month by day ordinal
        for cs in fresh:
            ev, subject, categories, purpose, recipient, source, findings, _, _ = cs
            if not categories:  # consent and erasure events count in no flow
                continue
            _, kind, at, _, person, role, _ = ev
            shape = (
                kind,
                role,
                categories,
                source.id if source is not None else None,
                purpose,
                recipient.id if recipient is not None else None,
                subject.type,
                bool(findings),
            )
            index = shapes.get(shape)
            if index is None:
                index = shapes[shape] = self._index(shape_of(shape))
            day = at.toordinal()  # occurred_at is UTC
            month = dates.get(day)
            if month is None:
                d = at.date()
                month = dates[day] = d.year * 12 + d.month - 1
            counts[index << _DAY_BITS | day] += 1
            mine = months[person]
            mine.add(index << _MONTH_BITS | month)
            if findings:
                seen_here: set[int] = set()
                for f in findings:
                    aid = alerts.get(f.dedupe_key)
                    if aid is None:
                        aid = alerts[f.dedupe_key] = alert_id(*f.dedupe_key)
                    a = alert_units.get(aid)
                    if a is None:
                        a = alert_units[aid] = self._index(alert_unit(aid))
                    if a not in seen_here:  # an alert counts an event once, however many of its findings it covers
                        seen_here.add(a)
                        counts[a << _DAY_BITS | day] += 1
                        mine.add(a << _MONTH_BITS | month)
        indexed = self._indexed
        out = Delta()
        pending = Pending(trusted=trusted)
        day_mask = (1 << _DAY_BITS) - 1
        for k, n in counts.items():
            unit = indexed[k >> _DAY_BITS]
            out.units[unit.id] = unit
            out.days[(unit.id, (k & day_mask) - epoch)] = n
        people, members = self._people, out.members
        for person, codes in months.items():
            n = tombstones.get(person, 0)
            entry = people.get(person)
            if entry is not None and entry.tombstones != n:
                entry = None
            new = codes - entry.months if entry is not None else codes
            if not new:
                continue
            known = entry.units if entry is not None else set()
            pending.tombstones[person] = n
            units: set[str] = set()
            pending.written[person] = (units, new)
            for code in new:
                unit_id = indexed[code >> _MONTH_BITS].id
                if unit_id not in units:
                    units.add(unit_id)
                    if unit_id not in known:
                        pending.new_units.setdefault(person, set()).add(unit_id)
                        if not (trusted and entry is not None and entry.complete):
                            pending.unseen.add(person)
                members.setdefault((unit_id, person), set()).add(code & _MONTH_MASK)
        return out, pending

    def people_added(self, delta: Delta, pending: Pending, read: Mapping[str, set[str]]) -> dict[str, int]:
        """Per key reference, how many people ``delta`` adds: a person whose units in it reach a key that their
        recorded units do not. ``read``: the recorded units of ``pending.unseen``, read by the store in the writing
        transaction (units it does not know yet are added to :attr:`units` first, with their keys); the others' are
        what this object remembers."""
        pending.read = {p: set(units) for p, units in read.items()}
        out: dict[str, int] = {}
        units_of = self.units
        for person, units in pending.new_units.items():
            if person in pending.unseen:
                before: Iterable[str] = read.get(person, ())
            else:  # trusted, and all the person's units known: those this object remembers
                before = self._people[person].units
            new = {ref for u in units for ref in units_of[u].keys}
            for u in before:  # the keys a recorded unit already reaches gain nobody
                known = units_of.get(u)
                if known is not None and not new.isdisjoint(known.keys):
                    new.difference_update(known.keys)
                    if not new:
                        break
            for ref in new:
                out[ref] = out.get(ref, 0) + 1
        return out

    def recorded_months(
        self, pending: Pending, people: Iterable[str], read: Callable[[set[str]], dict[str, dict[str, set[int]]]]
    ) -> dict[str, dict[str, set[int]]]:
        """The months recorded per unit for each of these people (those of a batch's new memberships), before the
        batch: from this object's memory for a person whose months it knows whole (only in a store that trusts it:
        :meth:`delta` said ``trusted``), from ``read`` (the store, in the writing transaction) for the others,
        which are then known whole once the batch commits."""
        out: dict[str, dict[str, set[int]]] = {}
        unknown: set[str] = set()
        indexed = self._indexed
        for person in people:
            entry = self._people.get(person)
            known = entry is not None and entry.all_months and entry.tombstones == pending.tombstones[person]
            if pending.trusted and known:
                assert entry is not None
                mine: dict[str, set[int]] = {}
                for code in entry.months:
                    mine.setdefault(indexed[code >> _MONTH_BITS].id, set()).add(code & _MONTH_MASK)
                out[person] = mine
            else:
                unknown.add(person)
        if unknown:
            found = read(unknown)
            for person in unknown:
                out[person] = pending.months_read[person] = found.get(person, {})
        return out

    def add_units(self, units: Iterable[Unit]) -> None:
        """Units read from the store (written by another process)."""
        for u in units:
            self.units.setdefault(u.id, u)

    def committed(self, pending: Pending) -> None:
        """Remember what a committed batch recorded."""
        for person, n in pending.tombstones.items():
            entry = self._people.get(person)
            if entry is None or entry.tombstones != n:
                if entry is not None:
                    self._size -= len(entry.units) + len(entry.months)
                entry = self._people[person] = _Person(n)
            before = len(entry.units) + len(entry.months)
            if person in pending.read:
                entry.complete = True
                entry.units.update(pending.read[person])
            units, months = pending.written[person]
            entry.units.update(units)
            entry.months.update(months)
            read = pending.months_read.get(person)
            if read is not None:
                entry.all_months = entry.complete = True
                for unit, ms in read.items():
                    entry.units.add(unit)
                    index = self._index(self.units[unit]) << _MONTH_BITS
                    entry.months.update(index | m for m in ms)
            self._size += len(entry.units) + len(entry.months) - before
        if self._size > self._limit:
            self.forget()

    def forget(self) -> None:
        """Forget every person: their next events read and write their membership again."""
        self._people.clear()
        self._size = 0
