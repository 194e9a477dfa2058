"""The rules judged against the recipient registry, on every store: each case's judged event raises exactly its
rules (as stored alerts, with the event as evidence), nearby ones stay silent, and a replay adds nothing."""

from __future__ import annotations

from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from policies.transfers import RecipientRules
from schemas.events import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.rule_cases import REGISTRY, TRANSFER_CASES, expected, stored_rules

POLICY = default_policy()


def test_transfer_rules_alert_and_stay_silent_on_every_store(store: GraphStore) -> None:
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY), recipients=RecipientRules(REGISTRY))
    events = [validate_event(e, handler.taxonomy) for c in TRANSFER_CASES for e in c.events]
    result = handler.handle(events)
    assert result.applied == len(events)
    assert stored_rules(store.alerts(), TRANSFER_CASES) == expected(TRANSFER_CASES)
    found = {(e, r) for e, rules in expected(TRANSFER_CASES).items() for r in rules}
    assert {(f.event_id, f.rule) for f in result.findings} == found
    before = store.alerts()
    again = handler.handle(events)
    assert (again.applied, again.findings) == (0, ())
    assert store.alerts() == before


def test_without_registry_rules_the_handler_judges_by_the_policy_alone(store: GraphStore) -> None:
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY))
    handler.handle([validate_event(e, handler.taxonomy) for c in TRANSFER_CASES for e in c.events])
    assert all(not rules for rules in stored_rules(store.alerts(), TRANSFER_CASES).values())
