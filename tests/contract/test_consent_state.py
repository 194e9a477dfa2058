"""GraphStore.consent_state on every store, and consent judged through the handler, including out-of-order delivery."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)
ALICE, BOB = "alice@example.com", "bob@example.com"


def consent(kind: str, event_id: str, at: str, subject: str = ALICE, **fields: Any) -> dict[str, Any]:
    return {
        "schema_version": 1,
        "event_id": event_id,
        "kind": kind,
        "occurred_at": at,
        "emitted_by": "preference-centre",
        "subject": {"id": subject, "type": "customer"},
        **fields,
    }


def newsletter(event_id: str, at: str, subject: str = ALICE) -> dict[str, Any]:
    return event(
        "used",
        event_id=event_id,
        occurred_at=at,
        subject_id=subject,
        purpose="marketing.communications.email",
        data_categories=["user.contact.email"],
    )


def handle(h: Handler, *events: dict[str, Any]) -> list[tuple[str, str]]:
    result = h.handle([validate_event(e, h.taxonomy) for e in events])
    return sorted((f.rule, f.event_id) for f in result.findings)


def test_consent_state_returns_each_persons_records_oldest_first(store: GraphStore) -> None:
    h = Handler(store, POLICY, KEY)
    handle(
        h,
        consent("opted_out", "o2", "2026-03-05T00:00:00Z", scope="marketing.communications.email"),
        consent(
            "consent_withdrawn",
            "w1",
            "2026-03-02T00:00:00+02:00",
            purposes=["analytics"],
            data_categories=["user.behavior"],
        ),
        consent("opted_out", "o1", "2026-03-03T00:00:00Z"),
        consent("consent_withdrawn", "wb", "2026-03-04T00:00:00Z", subject=BOB),
        event("collected", event_id="c-carol", subject_id="carol@example.com"),
    )
    state = store.consent_state([KEY(ALICE), KEY(BOB), KEY("carol@example.com"), KEY("nobody@example.com")])
    assert set(state) == {KEY(ALICE), KEY(BOB)}  # people with nothing recorded are absent
    alice = state[KEY(ALICE)]
    assert alice.subject == KEY(ALICE)
    assert [(r.event_id, r.kind) for r in alice.records] == [
        ("w1", "consent_withdrawn"),
        ("o1", "opted_out"),
        ("o2", "opted_out"),
    ]
    w1, o1, o2 = alice.records
    assert w1.occurred_at == datetime(2026, 3, 1, 22, tzinfo=UTC)
    assert (w1.purposes, w1.categories, w1.subject) == (("analytics",), ("user.behavior",), KEY(ALICE))
    assert (o1.purposes, o1.categories) == (("marketing",), ())
    assert o2.purposes == ("marketing.communications.email",)
    (bob,) = state[KEY(BOB)].records
    assert (bob.event_id, bob.purposes, bob.categories) == ("wb", (), ())
    assert store.consent_state([]) == {}


def test_consent_events_are_recorded_once(store: GraphStore) -> None:
    h = Handler(store, POLICY, KEY)
    withdrawn = consent("consent_withdrawn", "w1", "2026-03-02T00:00:00Z")
    handle(h, withdrawn)
    handle(h, withdrawn, withdrawn)
    assert [r.event_id for r in store.consent_state([KEY(ALICE)])[KEY(ALICE)].records] == ["w1"]
    assert store.processed(["w1"]) == {"w1"}


def test_consent_state_for_many_people(store: GraphStore) -> None:
    h = Handler(store, POLICY, KEY)
    people = [f"p{i}@example.com" for i in range(1200)]
    handle(h, *(consent("opted_out", f"o{i}", "2026-03-01T00:00:00Z", subject=p) for i, p in enumerate(people)))
    state = store.consent_state([KEY(p) for p in people])
    assert len(state) == 1200 and all(len(s.records) == 1 for s in state.values())


def test_marketing_after_an_opt_out_in_an_earlier_batch(store: GraphStore) -> None:
    h = Handler(store, POLICY, KEY)
    assert handle(h, newsletter("n0", "2026-03-01T09:00:00Z")) == []
    assert handle(h, consent("opted_out", "o1", "2026-03-01T10:00:00Z")) == []
    assert handle(h, newsletter("n1", "2026-03-01T11:00:00Z"), newsletter("nb", "2026-03-01T11:00:00Z", BOB)) == [
        ("marketing-after-opt-out", "n1")
    ]
    (alert,) = store.alerts(rule="marketing-after-opt-out")
    assert alert.event_ids == ["n1"] and alert.subjects == [KEY(ALICE)] and alert.policy_version == POLICY.version


def test_within_a_batch_time_decides_not_arrival_order(store: GraphStore) -> None:
    h = Handler(store, POLICY, KEY)
    found = handle(
        h,
        newsletter("n-after", "2026-03-01T11:00:00Z"),  # arrives before the opt-out it follows
        newsletter("n-before", "2026-03-01T09:00:00Z"),
        consent("opted_out", "o1", "2026-03-01T10:00:00Z"),
    )
    assert found == [("marketing-after-opt-out", "n-after")]


def test_a_late_withdrawal_does_not_flag_processing_judged_before_it_arrived(store: GraphStore) -> None:
    h = Handler(store, POLICY, KEY)
    assert handle(h, newsletter("n1", "2026-03-01T11:00:00Z")) == []
    assert handle(h, consent("consent_withdrawn", "w1", "2026-03-01T10:00:00Z")) == []  # delivered late
    assert store.alerts() == []
    # processing that is judged after the withdrawal arrived is flagged, even if it happened earlier than now
    assert handle(h, newsletter("n2", "2026-03-01T12:00:00Z")) == [("disclosure-after-withdrawal", "n2")]
