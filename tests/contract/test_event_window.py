"""Every accepted date is within reach on every store: the default (unbounded) read of flows and a person's lineage
include events dated at the very end of the window of event times."""

from __future__ import annotations

from datetime import UTC, datetime

from graph.aggregate_reads import evidence
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from schemas.parsing import TimeWindow, validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import BROKER, event


def test_events_dated_at_the_end_of_the_window_are_in_the_default_reads(store: GraphStore) -> None:
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    late = [
        event("shared", event_id="late-1", recipient=BROKER, occurred_at="2099-12-31T23:59:59.999999Z"),
        event("shared", event_id="late-2", recipient=BROKER, occurred_at="2100-01-01T13:59:59+14:00"),
    ]
    assert handler.handle([validate_event(e, handler.taxonomy) for e in late]).applied == 2
    shared = [f for f in store.flows() if f.rel == "SHARED_WITH"]
    assert {e.event_id for e in evidence(store, [f.ref for f in shared])} == {"late-1", "late-2"}
    assert {(f.events, f.last_seen.isoformat()) for f in shared} == {(2, "2099-12-31")}
    found = store.who_has(handler.pseudonymizer("alice@example.com"))
    assert found is not None and sorted(found.recipients[0].event_ids) == ["late-1", "late-2"]


def test_instants_before_1970_read_back_exactly(store: GraphStore) -> None:
    """A window that reaches before 1970 (configurable): an instant with a fraction of a second before 1970 reads back
    as written, not a second late (Neo4j's epochSeconds rounds towards zero), and in order."""
    window = TimeWindow(datetime(1960, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    times = {
        "t-1": "1969-12-31T23:59:58.250000Z",
        "t-2": "1969-12-31T23:59:59Z",
        "t-3": "1969-12-31T23:59:59.500000Z",
        "t-4": "1970-01-01T00:00:00Z",
        "t-5": "1970-01-01T00:00:00.000001Z",
    }
    raw = [event("collected", event_id=i, occurred_at=at) for i, at in times.items()]
    assert handler.handle([validate_event(e, handler.taxonomy, window) for e in raw]).applied == len(times)
    expected = {i: datetime.fromisoformat(at) for i, at in times.items()}
    assert store.occurred(list(times)) == expected
    facts = list(store.event_facts())
    assert [(f.event_id, f.occurred_at) for f in facts] == sorted(expected.items(), key=lambda x: x[1])
