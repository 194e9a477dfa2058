"""The rules judged against the recipient registry, on every store: each case's judged event raises exactly its
rules (as stored alerts, with the event as evidence), nearby ones stay silent, and a replay adds nothing."""

from __future__ import annotations

from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from policies.transfers import RecipientRules
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.rule_cases import (
    NEW_RECIPIENT_CASES,
    NEWCO,
    PROMOTION,
    REGISTRY,
    REGISTRY_CASES,
    expected,
    shared,
    stored_rules,
)

POLICY = default_policy()


CASES = REGISTRY_CASES


def test_registry_rules_alert_and_stay_silent_on_every_store(store: GraphStore) -> None:
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY), recipients=RecipientRules(REGISTRY))
    events = [validate_event(e, handler.taxonomy) for c in CASES for e in c.events]
    result = handler.handle(events)
    assert result.applied == len(events)
    assert stored_rules(store.alerts(), CASES) == expected(CASES)
    found = {(e, r) for e, rules in expected(CASES).items() for r in rules}
    assert {(f.event_id, f.rule) for f in result.findings} == found
    before = store.alerts()
    again = handler.handle(events)
    assert (again.applied, again.findings) == (0, ())
    assert store.alerts() == before


def test_a_new_recipient_is_new_once_across_batches_and_handlers(store: GraphStore) -> None:
    """One batch at a time, each by a handler of its own (another process): the store says what was seen."""
    cases = NEW_RECIPIENT_CASES
    for case in cases:
        handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY), recipients=RecipientRules(REGISTRY))
        result = handler.handle([validate_event(e, handler.taxonomy) for e in case.events])
        assert {f.rule for f in result.findings} == set(case.rules), case.name
    assert stored_rules(store.alerts(), cases) == expected(cases)


def test_without_a_registry_every_recipient_is_new_at_its_first_disclosure(store: GraphStore) -> None:
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY), recipients=RecipientRules(None))
    first, second = (shared("northwind", PROMOTION), shared("northwind", PROMOTION))
    other = shared("newco", PROMOTION, recipient=NEWCO)
    result = handler.handle([validate_event(e, handler.taxonomy) for e in (first, second, other)])
    new = [(f.event_id, f.recipient_id) for f in result.findings if f.rule == "new-recipient"]
    assert new == [(first["event_id"], "northwind"), (other["event_id"], "newco")]
    (finding,) = [f for f in result.findings if f.event_id == first["event_id"]]
    assert "no recipient registry; not seen before" in finding.reason and "@" not in finding.reason


def test_without_registry_rules_the_handler_judges_by_the_policy_alone(store: GraphStore) -> None:
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY))
    handler.handle([validate_event(e, handler.taxonomy) for c in CASES for e in c.events])
    assert all(not rules for rules in stored_rules(store.alerts(), CASES).values())
