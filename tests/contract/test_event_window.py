"""Every accepted date is within reach on every store: the default (unbounded) read of flows and a person's lineage
include events dated at the very end of the window of event times."""

from __future__ import annotations

from graph.aggregate_reads import evidence
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from schemas.parsing import validate_event
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
