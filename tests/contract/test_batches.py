"""Batches on every store: one batch gives the same graph as its events applied one at a time, in any order, and
``apply`` itself counts an event id once however often a batch carries it."""

from __future__ import annotations

from typing import Any

from graph.changes import ChangeSet
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.conftest import StoreFactory
from tests.factories import AFFILIATE, BROKER, event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)
PEOPLE = ("alice@example.com", "bob@example.com", "carol@example.com")


def stream() -> list[dict[str, Any]]:
    """Three people; edges, recipients and alerts each named by several events, some at the same time."""
    out: list[dict[str, Any]] = []
    for i in range(18):
        who = PEOPLE[i % 3]
        day = f"2026-03-{(i * 7) % 20 + 1:02d}T{i % 2 + 9:02d}:00:00Z"
        if i % 3 == 0:
            out.append(event("collected", event_id=f"b{i:02d}", subject_id=who, occurred_at=day,
                             data_categories=["user.contact.email", "user.name"],
                             source={"type": "third_party", "name": "office365-sso"}))
        elif i % 3 == 1:
            renamed = dict(AFFILIATE, name=f"SOS Hong Kong {i}")  # the latest event's name must win
            out.append(event("shared", event_id=f"b{i:02d}", subject_id=who, occurred_at=day, recipient=renamed))
        else:
            out.append(event("shared", event_id=f"b{i:02d}", subject_id=who, occurred_at=day, recipient=BROKER,
                             purpose="marketing.advertising"))
    return out


def state(store: GraphStore) -> tuple[Any, ...]:
    alerts = [a.model_dump(exclude={"status"}) for a in store.alerts()]
    return store.stats(), [store.who_has(KEY(p)) for p in PEOPLE], store.flows(), alerts


def changes(store: GraphStore, events: list[dict[str, Any]]) -> list[ChangeSet]:
    h = Handler(store, POLICY, KEY)
    return h.changes([validate_event(e, h.taxonomy) for e in events])


def test_one_batch_equals_one_event_at_a_time_in_any_order(make_store: StoreFactory) -> None:
    events = stream()
    one_by_one = make_store()
    for e in events:
        Handler(one_by_one, POLICY, KEY).handle([validate_event(e)])
    batched = make_store()
    Handler(batched, POLICY, KEY).handle([validate_event(e) for e in reversed(events)])
    halves = make_store()
    h = Handler(halves, POLICY, KEY)
    h.handle([validate_event(e) for e in events[1::2]])
    h.handle([validate_event(e) for e in events[::2]])
    expected = state(one_by_one)
    assert expected[0].events == len(events) and expected[0].alerts > 0
    assert state(batched) == expected
    assert state(halves) == expected


def test_apply_counts_an_event_id_once_within_a_batch_and_across_batches(store: GraphStore) -> None:
    batch = changes(store, stream()[:6])
    result = store.apply([*batch, batch[0], batch[3]])
    assert (result.applied, result.duplicates, result.suppressed) == (6, 2, ())
    once = state(store)
    result = store.apply(batch + batch)
    assert (result.applied, result.duplicates) == (0, 12)
    assert state(store) == once
