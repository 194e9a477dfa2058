"""The retention rule on every store: a use or disclosure past the period the policy declares for its category (and
purpose) is a finding, counted from when the person's data of that category was first recorded, whether that was in
the same batch or long before; nearby events stay silent, and a replay adds nothing."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from datetime import datetime

import pytest

from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.rule_cases import RETENTION, RETENTION_CASES, expected, retention_policy, stored_rules

POLICY = retention_policy()


def _retention(rules: dict[str, set[str]]) -> dict[str, set[str]]:
    return {e: r & {RETENTION} for e, r in rules.items()}


def test_the_retention_rule_alerts_and_stays_silent_on_every_store(store: GraphStore) -> None:
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY))
    events = [validate_event(e, handler.taxonomy) for c in RETENTION_CASES for e in c.events]
    result = handler.handle(events)
    assert result.applied == len(events)
    assert _retention(stored_rules(store.alerts(), RETENTION_CASES)) == expected(RETENTION_CASES)
    found = {(f.event_id, f.rule) for f in result.findings if f.rule == RETENTION}
    assert found == {(e, r) for e, rules in expected(RETENTION_CASES).items() for r in rules}
    (one,) = [f for f in result.findings if f.rule == RETENTION and f.category == "user.contact.email"]
    assert "counted from 2026-01-01" in one.reason and "(30 days, contact-30-days)" in one.reason
    again = handler.handle(events)
    assert (again.applied, again.findings) == (0, ())


def test_the_period_counts_from_what_the_store_holds_across_batches(store: GraphStore) -> None:
    """Each event in a batch of its own, by a handler of its own: the collection is only in the store."""
    for case in RETENTION_CASES:
        for e in case.events:
            handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY))
            handler.handle([validate_event(e, handler.taxonomy)])
    assert _retention(stored_rules(store.alerts(), RETENTION_CASES)) == expected(RETENTION_CASES)


def test_a_policy_without_periods_raises_nothing_and_reads_nothing(store: GraphStore) -> None:
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    events = [validate_event(e, handler.taxonomy) for c in RETENTION_CASES for e in c.events]
    assert handler.held_since(events) == {}
    assert not [f for f in handler.handle(events).findings if f.rule == RETENTION]


def test_the_first_recordings_are_read_once_per_batch_not_per_person(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A batch's people under a period in days are read in one store call (``first_recorded``), never by who-has."""
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY))
    events = [validate_event(e, handler.taxonomy) for c in RETENTION_CASES for e in c.events]
    handler.handle(events)  # recorded: the second batch reads what the first wrote
    calls: list[list[str]] = []
    asked: list[Mapping[str, Collection[str]] | None] = []
    first_recorded = store.first_recorded

    def counted(
        subjects: Sequence[str], categories: Mapping[str, Collection[str]] | None = None
    ) -> dict[str, dict[str, datetime]]:
        calls.append(list(subjects))
        asked.append(categories)
        return first_recorded(subjects, categories)

    monkeypatch.setattr(store, "first_recorded", counted)
    monkeypatch.setattr(store, "who_has", lambda subject: pytest.fail("who_has read for the retention rule"))
    held = handler.held_since(events)
    assert len(calls) == 1 and sorted(calls[0]) == sorted(held) and len(held) >= 2
    # only the categories a period in days covers in the people's uses and disclosures are asked of the store
    timed: dict[str, set[str]] = {}
    for e in events:
        if e.kind in ("used", "shared"):
            covered = {c for c in e.data_categories if handler.retention.limits(c, e.purpose)}
            if covered:
                timed.setdefault(handler.pseudonymizer(e.subject.id), set()).update(covered)
    assert asked == [timed]
    # the batch was recorded before: what the store says is already the earliest
    assert held == {p: first_recorded([p]).get(p, {}) for p in held}
