"""People per key in any run of whole months, kept at write time as *steps*, so that a period's people cost what
its answer costs, not what its population costs (docs/reports.md, "How reports stay fast").

A person's months in a key (the UTC months of their events counted in it, over all the key's units), in order
m1 < m2 < ... < mk, are the steps ``(m1, NO_MONTH), (m2, m1), ..., (mk, mk-1)``: each month with the month before
it that the person occurred in the same key. Per key a store keeps how many people took each step. The distinct
people of a key in the months [a, b) are those with a month there whose previous month is before a, or none:

    people(key, a, b) = sum of people over the key's steps (m, p) with a <= m < b and p < a

exactly, whatever the order in which events arrive: a month that arrives between two others replaces the later
one's step. Reading it costs the key's steps in the period (about one per key and month for people who come back
every month, one per gap length otherwise), not its people or events; writing it costs a person's first event of a
key in a month, when the membership is written anyway.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from graph.aggregates import Unit

NO_MONTH = -1  # the previous month of a person's first month in a key

Step = tuple[str, int, int]  # (key reference, month, previous month or NO_MONTH)


def steps_of(months: Iterable[int]) -> set[tuple[int, int]]:
    """The steps of one person's months in one key."""
    out: set[tuple[int, int]] = set()
    prev = NO_MONTH
    for m in sorted(set(months)):
        out.add((m, prev))
        prev = m
    return out


def _key_months(units: Mapping[str, Unit], months: Mapping[str, Iterable[int]], refs: set[str]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for unit, ms in months.items():
        for ref in units[unit].keys:
            if ref in refs:
                out.setdefault(ref, set()).update(ms)
    return out


def change(
    units: Mapping[str, Unit],
    before: Mapping[str, Iterable[int]],
    after: Mapping[str, Iterable[int]],
    out: dict[Step, int],
) -> None:
    """Add to ``out`` how one person's steps change when their months per unit go from ``before`` to ``after``
    (``units``: every unit either names, with its keys)."""
    changed = [u for u in before.keys() | after.keys() if set(before.get(u, ())) != set(after.get(u, ()))]
    if not changed:
        return
    refs = {ref for u in changed for ref in units[u].keys}
    old, new = _key_months(units, before, refs), _key_months(units, after, refs)
    for ref in refs:
        was, now = steps_of(old.get(ref, ())), steps_of(new.get(ref, ()))
        for m, p in now - was:
            out[(ref, m, p)] = out.get((ref, m, p), 0) + 1
        for m, p in was - now:
            out[(ref, m, p)] = out.get((ref, m, p), 0) - 1


def batch_changes(
    units: Mapping[str, Unit],
    stored: Mapping[str, Mapping[str, set[int]]],
    members: Mapping[tuple[str, str], set[int]],
) -> dict[Step, int]:
    """How a batch's new (unit, person) months change the steps: each person's recorded months per unit
    (``stored``, read in the writing transaction) against those joined with the batch's. Only additions: a key's
    steps change only where a month is new to the key (not only to the unit), and only those keys are summed."""
    new: dict[str, dict[str, set[int]]] = {}
    for (unit, person), months in members.items():
        new.setdefault(person, {})[unit] = months
    out: dict[Step, int] = {}
    for person, added in new.items():
        before = stored.get(person, {})
        gained: dict[str, set[int]] = {}  # per key, months the batch adds to one of its units
        for unit, months in added.items():
            had = before.get(unit)
            extra = months - had if had else months
            if extra:
                for ref in units[unit].keys:
                    g = gained.get(ref)
                    if g is None:
                        gained[ref] = set(extra)
                    else:
                        g |= extra
        if not gained:
            continue
        old: dict[str, set[int]] = {}
        for unit, months in before.items():
            for ref in units[unit].keys & gained.keys():
                o = old.get(ref)
                if o is None:
                    old[ref] = set(months)
                else:
                    o |= months
        for ref, months in gained.items():
            had = old.get(ref)
            if had is None:  # the person's first months in the key: their steps, nothing replaced
                prev = NO_MONTH
                for m in sorted(months) if len(months) > 1 else months:
                    out[(ref, m, prev)] = out.get((ref, m, prev), 0) + 1
                    prev = m
                continue
            fresh = months - had
            if not fresh:
                continue
            if len(fresh) == 1:
                (m,) = fresh
                last = max(had)
                if m > last:  # a month after all theirs (traffic in order): one step added
                    out[(ref, m, last)] = out.get((ref, m, last), 0) + 1
                    continue
            was, now = steps_of(had), steps_of(had | fresh)
            for m, p in now - was:
                out[(ref, m, p)] = out.get((ref, m, p), 0) + 1
            for m, p in was - now:
                out[(ref, m, p)] = out.get((ref, m, p), 0) - 1
    return out


def rows(changes: Mapping[Step, int]) -> list[tuple[str, int, int, int]]:
    """(ref, month, previous, people to add) for the changes that are not zero, in key order."""
    return sorted((ref, m, p, n) for (ref, m, p), n in changes.items() if n)


def before_bound(first_month: int) -> int:
    """The bound a step's previous month must be under to count a person in a period starting at ``first_month``
    (a period open at the start counts only first months: NO_MONTH is below 0, every real month above)."""
    return max(first_month, 0)


_BITS = [tuple(i for i in range(12) if mask >> i & 1) for mask in range(1 << 12)]


def months_of(year: int, mask: int) -> list[int]:
    """The months a (year, bit per month) membership row holds."""
    base = year * 12
    return [base + i for i in _BITS[mask]]
