"""The aggregator: what a batch of newly applied events adds to the flow aggregates (graph/aggregates.py says what
they count), built once for every store, with a memory between batches of what each person has recorded, so that a
person's thousandth event of a month writes no membership and reads nothing."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from graph.aggregates import EPOCH_ORDINAL, Delta, Unit, alert_unit, shape_of
from graph.changes import ChangeSet
from graph.store import alert_id

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


@dataclass(frozen=True, slots=True)
class Handed:
    """What a committed batch taught one aggregator, in a form another one can take (:meth:`Aggregator.absorb`):
    a :class:`Pending`'s memory with its (unit, month) codes naming each unit by its position in ``order``
    instead of the giver's own index, and every unit it names."""

    units: dict[str, Unit]  # by id: every unit named below
    order: tuple[str, ...]  # the unit ids the codes' positions stand for
    tombstones: dict[str, int]
    written: dict[str, tuple[set[str], set[int]]]
    read: dict[str, set[str]]
    months_read: dict[str, dict[str, set[int]]]


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
        shapes, alerts, alert_units, epoch = self._shapes, self._alerts, self._alert_units, EPOCH_ORDINAL
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

    def export(self, pending: Pending) -> Handed:
        """A committed batch's :class:`Pending` for another aggregator on the same store (:meth:`absorb`)."""
        positions: dict[int, int] = {}
        order: list[str] = []
        indexed = self._indexed

        def position(index: int) -> int:
            found = positions.get(index)
            if found is None:
                found = positions[index] = len(order)
                order.append(indexed[index].id)
            return found

        written = {
            person: (units, {position(c >> _MONTH_BITS) << _MONTH_BITS | (c & _MONTH_MASK) for c in codes})
            for person, (units, codes) in pending.written.items()
        }
        named = set(order)  # the units of what was written among them
        for units in pending.read.values():
            named.update(units)
        for months in pending.months_read.values():
            named.update(months)
        return Handed(
            {u: self.units[u] for u in named},
            tuple(order),
            dict(pending.tombstones),
            written,
            pending.read,
            pending.months_read,
        )

    def absorb(self, handed: Handed) -> None:
        """Remember what another aggregator's committed batch recorded (:meth:`export`), as if this one had
        committed it: only for a batch committed right after this object's last one, with nothing written between
        (the store checks that: :meth:`graph.sqlite_store.SQLiteGraphStore.receive_handoff`)."""
        self.add_units(handed.units.values())
        index = [self._index(self.units[u]) for u in handed.order]
        written = {
            person: (units, {index[c >> _MONTH_BITS] << _MONTH_BITS | (c & _MONTH_MASK) for c in codes})
            for person, (units, codes) in handed.written.items()
        }
        self.committed(
            Pending(
                tombstones=dict(handed.tombstones),
                written=written,
                read=handed.read,
                months_read=handed.months_read,
                trusted=True,
            )
        )

    def forget(self) -> None:
        """Forget every person: their next events read and write their membership again."""
        self._people.clear()
        self._size = 0
