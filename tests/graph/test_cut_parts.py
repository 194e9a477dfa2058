"""The parts of a period that cut a month (read event by event, and named on the progress line): none on month
boundaries, the cut days otherwise."""

from __future__ import annotations

from datetime import UTC, datetime

from graph.aggregate_reads import cut_parts


def at(*args: int) -> datetime:
    return datetime(*args, tzinfo=UTC)  # type: ignore[misc]


def test_a_period_on_month_boundaries_or_all_time_cuts_nothing() -> None:
    assert cut_parts(None, None) == []
    assert cut_parts(at(2026, 2, 1), at(2026, 4, 1)) == []
    assert cut_parts(at(2026, 2, 1), None) == []
    assert cut_parts(None, at(2026, 4, 1)) == []


def test_the_cut_days_at_either_end_and_inside_one_month() -> None:
    assert cut_parts(at(2026, 2, 8), at(2026, 4, 1)) == [(at(2026, 2, 8), at(2026, 3, 1))]
    assert cut_parts(at(2026, 2, 1), at(2026, 4, 20, 12)) == [(at(2026, 4, 1), at(2026, 4, 20, 12))]
    assert cut_parts(at(2026, 2, 8), at(2026, 4, 20)) == [
        (at(2026, 2, 8), at(2026, 3, 1)),
        (at(2026, 4, 1), at(2026, 4, 20)),
    ]
    assert cut_parts(at(2026, 3, 8), at(2026, 3, 22)) == [(at(2026, 3, 8), at(2026, 3, 22))]
    assert cut_parts(at(2026, 3, 8), None) == [(at(2026, 3, 8), at(2026, 4, 1))]
