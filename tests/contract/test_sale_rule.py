"""The rule sale-after-opt-out on every store: a disclosure that is a sale or sharing under the CCPA, after the
person opted out of sale and sharing (by a request or a Global Privacy Control signal), is a critical finding;
nearby events stay silent, the opt-out is stored with how it was received, and a replay adds nothing."""

from __future__ import annotations

from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.rule_cases import SALE, SALE_CASES, expected, stored_rules

POLICY = default_policy()


def _sale(rules: dict[str, set[str]]) -> dict[str, set[str]]:
    return {e: r & {SALE} for e, r in rules.items()}


def test_the_sale_rule_alerts_and_stays_silent_on_every_store(store: GraphStore) -> None:
    handler = Handler(store, POLICY, Pseudonymizer(TEST_KEY))
    events = [validate_event(e, handler.taxonomy) for c in SALE_CASES for e in c.events]
    result = handler.handle(events)
    assert result.applied == len(events)
    assert _sale(stored_rules(store.alerts(), SALE_CASES)) == expected(SALE_CASES)
    found = [f for f in result.findings if f.rule == SALE]
    assert {(f.event_id, f.rule) for f in found} == {(e, r) for e, rules in expected(SALE_CASES).items() for r in rules}
    assert {f.severity for f in found} == {"critical"}
    by_event = {f.event_id: f for f in found}
    gpc, asked, marked = by_event["sale-001-1"], by_event["sale-002-1"], by_event["sale-004-1"]
    assert "sharing under the CCPA" in gpc.reason and "by a Global Privacy Control signal" in gpc.reason
    assert "a sale under the CCPA" in asked.reason and "by a request" in asked.reason
    # the tracker's flow is sharing because the policy marks the third-party cookie clause so: that clause is quoted
    assert "across other websites and online services" in marked.clause_text
    again = handler.handle(events)
    assert (again.applied, again.findings) == (0, ())


def test_an_opt_out_in_the_store_stops_later_batches_and_keeps_its_signal(store: GraphStore) -> None:
    """Each event in a batch of its own, by a handler of its own: the opt-out is only in the store."""
    pseudonym = Pseudonymizer(TEST_KEY)
    for case in SALE_CASES:
        for e in case.events:
            handler = Handler(store, POLICY, pseudonym)
            handler.handle([validate_event(e, handler.taxonomy)])
    assert _sale(stored_rules(store.alerts(), SALE_CASES)) == expected(SALE_CASES)
    people = {c.events[0]["subject"]["id"]: c.events[0] for c in SALE_CASES}
    state = store.consent_state(sorted(pseudonym(p) for p in people))
    signals = {}
    for person, opt_out in people.items():
        (record,) = state[pseudonym(person)].records
        assert record.event_id == opt_out["event_id"] and record.kind == "opted_out"
        signals[opt_out["event_id"]] = (record.purposes, record.signal)
    assert signals["sale-001-0"] == (("sale_and_sharing",), "gpc")
    assert signals["sale-002-0"] == (("sale_and_sharing",), "user_request")
    assert signals["sale-010-0"] == (("marketing",), "user_request")
    ledger = store.consent_and_erasures()
    assert {r.event_id: r.signal for r in ledger.consent} == {e: s for e, (_, s) in signals.items()}
