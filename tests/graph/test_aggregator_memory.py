"""The aggregator's memory of recorded membership (graph.aggregator.Aggregator) is bounded: it counts what it holds
as entries are added, forgets everyone past its limit, and the store's answers stay exact either way."""

from __future__ import annotations

from graph.aggregator import Aggregator
from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.test_aggregates import PERIODS, alerted, answered, recount
from tests.factories import BROKER, event


def held(aggregator: Aggregator) -> int:
    """Entries held, counted afresh: each (person, unit) and each of its months."""
    people = aggregator._people  # noqa: SLF001 - the accounting under test
    return sum(len(p.units) + len(p.months) for p in people.values())


def batches() -> list[list[dict[str, object]]]:
    out = []
    for month in (1, 2, 3):
        batch = []
        for n in range(4):
            person = f"person-{n}@example.com"
            at = f"2026-0{month}-1{n}T10:00:00Z"
            batch += [
                event("collected", subject_id=person, occurred_at=at, data_categories=["user.name"]),
                event("shared", subject_id=person, occurred_at=at, recipient=BROKER, purpose="marketing.advertising"),
            ]
        out.append(batch)
    return out


def test_the_count_of_held_entries_matches_what_is_held_and_the_limit_forgets() -> None:
    for limit in (1_000_000, 12):
        store = SQLiteGraphStore(":memory:")
        aggregator = store._aggregator = Aggregator(limit=limit)  # noqa: SLF001 - a small bound, to reach it
        handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
        sent: list[dict[str, object]] = []
        sizes = []
        for batch in batches():
            handler.handle([validate_event(e, handler.taxonomy) for e in batch])
            sent += batch
            assert aggregator._size == held(aggregator)  # noqa: SLF001
            assert aggregator._size <= limit  # noqa: SLF001
            sizes.append(aggregator._size)  # noqa: SLF001
        if limit == 12:
            assert 0 in sizes  # forgotten at least once
        else:
            assert sizes == sorted(sizes) and sizes[0] > 12  # never forgotten, growing
        raised = alerted(store)
        for since, until in PERIODS:
            assert answered(store, since, until) == recount(sent, since, until, raised), (limit, since, until)
        store.close()
