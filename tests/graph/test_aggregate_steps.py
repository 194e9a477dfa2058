"""Steps (graph/aggregate_steps.py): a batch's changes, with their shortcuts for traffic in order, equal the
difference of the steps recounted from each person's months per key before and after; and summing steps answers
the distinct people of any run of whole months."""

from __future__ import annotations

from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from graph.aggregate_steps import NO_MONTH, batch_changes, before_bound, change, steps_of
from graph.aggregates import Unit

# four units over five keys, overlapping as shapes do (a key reached by several units)
UNITS = {
    "u1": Unit("u1", "shape", (), {"k1": ("flow", ("a",)), "k2": ("flow", ("b",))}),
    "u2": Unit("u2", "shape", (), {"k2": ("flow", ("b",)), "k3": ("flow", ("c",))}),
    "u3": Unit("u3", "shape", (), {"k3": ("flow", ("c",)), "k4": ("flow", ("d",))}),
    "u4": Unit("u4", "alert", (), {"k5": ("alert", ("e",))}),
}
MONTHS = st.sets(st.integers(24_312, 24_324), max_size=5)  # 2026-01 to 2027-01
PERSON_MONTHS = st.dictionaries(st.sampled_from(sorted(UNITS)), MONTHS.filter(bool), max_size=4)


def key_months(months: dict[str, set[int]]) -> dict[str, set[int]]:
    out: dict[str, set[int]] = {}
    for unit, ms in months.items():
        for ref in UNITS[unit].keys:
            out.setdefault(ref, set()).update(ms)
    return out


def recount(people: dict[str, dict[str, set[int]]]) -> Counter[tuple[str, int, int]]:
    out: Counter[tuple[str, int, int]] = Counter()
    for months in people.values():
        for ref, ms in key_months(months).items():
            out.update((ref, m, p) for m, p in steps_of(ms))
    return out


@settings(max_examples=300, deadline=None)
@given(
    stored=st.dictionaries(st.sampled_from(["p1", "p2", "p3"]), PERSON_MONTHS, max_size=3),
    added=st.dictionaries(st.tuples(st.sampled_from(sorted(UNITS)), st.sampled_from(["p1", "p2", "p3"])),
                          MONTHS.filter(bool), max_size=6),
)  # fmt: skip
def test_a_batch_changes_the_steps_by_the_difference_of_their_recounts(
    stored: dict[str, dict[str, set[int]]], added: dict[tuple[str, str], set[int]]
) -> None:
    after = {p: {u: set(ms) for u, ms in units.items()} for p, units in stored.items()}
    for (unit, person), months in added.items():
        after.setdefault(person, {}).setdefault(unit, set()).update(months)
    want = recount(after)
    want.subtract(recount(stored))
    got = batch_changes(UNITS, stored, added)
    assert {k: n for k, n in got.items() if n} == {k: n for k, n in want.items() if n}
    # the general form (an erasure's) agrees
    general: dict[tuple[str, int, int], int] = {}
    for person in after:
        change(UNITS, stored.get(person, {}), after[person], general)
    assert {k: n for k, n in general.items() if n} == {k: n for k, n in got.items() if n}


@settings(max_examples=200, deadline=None)
@given(people=st.lists(MONTHS, max_size=6), a=st.integers(24_310, 24_326), length=st.integers(0, 8))
def test_summed_steps_are_the_distinct_people_of_any_run_of_months(people: list[set[int]], a: int, length: int) -> None:
    b = a + length
    steps: Counter[tuple[int, int]] = Counter()
    for months in people:
        steps.update(steps_of(months))
    counted = sum(n for (m, p), n in steps.items() if a <= m < b and p < before_bound(a))
    assert counted == sum(1 for months in people if any(a <= m < b for m in months))
    # open at the start: every person's first month
    assert sum(n for (m, p), n in steps.items() if m < b and p < before_bound(-(10**7))) == sum(
        1 for months in people if any(m < b for m in months)
    )
    assert all(p == NO_MONTH or p < m for m, p in steps)
