"""Erasure (GDPR Art. 17) on every store: the person forgotten up to the erasure, a tombstone, Art. 19 recipients,
replays that do not bring the person back, and the same outcome whatever the delivery order."""

from __future__ import annotations

import itertools
from datetime import UTC, datetime
from typing import Any

from graph.aggregate_reads import evidence
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from reports.art19 import art19_report
from schemas.parsing import validate_event
from streams.handler import Handler, HandleResult
from tests.conftest import TEST_KEY
from tests.contract.conftest import StoreFactory
from tests.factories import AFFILIATE, BROKER, event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)
ALICE, BOB = "alice@example.com", "bob@example.com"


def handle(store: GraphStore, *events: dict[str, Any]) -> HandleResult:
    h = Handler(store, POLICY, KEY)
    return h.handle([validate_event(e, h.taxonomy) for e in events])


def erased(event_id: str, at: str, subject: str = ALICE, reason: str | None = "Art. 17(1)(a)") -> dict[str, Any]:
    ev = {
        "schema_version": 1,
        "event_id": event_id,
        "kind": "erased",
        "occurred_at": at,
        "emitted_by": "privacy-desk",
        "subject": {"id": subject, "type": "customer"},
    }
    return ev | ({"reason": reason} if reason else {})


def alice_before() -> list[dict[str, Any]]:
    """Alice's history up to 2026-03-06: collected, used, shared with the affiliate and (undeclared) a broker;
    a marketing opt-out. Bob shares with the same broker."""
    return [
        event("collected", event_id="a-c1", occurred_at="2026-03-01T09:00:00Z",
              data_categories=["user.contact.email", "user.name"],
              source={"type": "third_party", "name": "office365-sso"}),
        event("used", event_id="a-u1", occurred_at="2026-03-02T09:00:00Z", purpose="analytics.reporting",
              data_categories=["user.contact.email"]),
        event("shared", event_id="a-s1", occurred_at="2026-03-03T09:00:00Z", recipient=AFFILIATE),
        event("shared", event_id="a-s2", occurred_at="2026-03-04T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising"),
        {"schema_version": 1, "event_id": "a-o1", "kind": "opted_out", "occurred_at": "2026-03-05T00:00:00Z",
         "emitted_by": "preference-centre", "subject": {"id": ALICE, "type": "customer"}},
        event("shared", event_id="b-s1", subject_id=BOB, occurred_at="2026-03-04T10:00:00Z", recipient=BROKER,
              purpose="marketing.advertising"),
    ]


ERASURE = erased("erase-1", "2026-03-10T00:00:00Z")


def after() -> list[dict[str, Any]]:
    """Alice signs up again after the erasure: new data."""
    return [
        event("collected", event_id="a-c2", occurred_at="2026-03-12T09:00:00Z", data_categories=["user.name"],
              source={"type": "data_subject", "name": "signup-form"}),
    ]


def snapshot(store: GraphStore) -> dict[str, Any]:
    """What the store answers about Alice, Bob and in aggregate (alert evidence included)."""
    return {
        "alice": store.who_has(KEY(ALICE)),
        "bob": store.who_has(KEY(BOB)),
        "stats": store.stats(),
        "alerts": [(a.alert_id, a.event_ids, a.subjects) for a in store.alerts()],
        "consent": store.consent_state([KEY(ALICE), KEY(BOB)]),
        "tombstones": {k: [(t.event_id, t.erased_at, t.recipients) for t in v]
                       for k, v in store.erasures([KEY(ALICE), KEY(BOB)]).items()},
    }


def test_erasure_forgets_the_person_and_keeps_a_tombstone(store: GraphStore) -> None:
    handle(store, *alice_before())
    before = store.stats()
    bob_before = store.who_has(KEY(BOB))
    result = handle(store, ERASURE)
    assert (result.applied, result.duplicates, result.findings) == (1, 0, ())
    assert store.who_has(KEY(ALICE)) is None
    assert store.who_has(KEY(BOB)) == bob_before  # nobody else is touched
    assert store.consent_state([KEY(ALICE)]) == {}
    assert store.processed(["a-c1", "a-u1", "a-s1", "a-s2", "a-o1"]) == set()
    assert store.processed(["erase-1", "b-s1"]) == {"erase-1", "b-s1"}
    after_stats = store.stats()
    assert after_stats.subjects == before.subjects - 1
    assert after_stats.events == before.events - 5 + 1  # Alice's five events gone, the erasure recorded
    assert after_stats.evidence < before.evidence and after_stats.edges < before.edges
    assert (after_stats.recipients, after_stats.sources, after_stats.alerts) == (
        before.recipients, before.sources, before.alerts)  # shared nodes and alert aggregates stay
    (tomb,) = store.erasures([KEY(ALICE), KEY(BOB)])[KEY(ALICE)]
    assert (tomb.event_id, tomb.subject, tomb.erased_at) == ("erase-1", KEY(ALICE), datetime(2026, 3, 10, tzinfo=UTC))
    assert tomb.reason == "Art. 17(1)(a)"
    assert tomb.recipients == ("brokr", "hk-affiliate")
    assert tomb.applied_at.tzinfo is not None and tomb.applied_at > tomb.erased_at
    assert KEY(BOB) not in store.erasures([KEY(BOB)])


def test_an_erasure_is_reported_pending_exactly_when_the_store_cannot_purge(store: GraphStore) -> None:
    handle(store, *alice_before())
    result = handle(store, ERASURE)
    purged = store.purge()
    # SQLite (nothing reading meanwhile) rewrites its file; Neo4j's server keeps deleted records in its files
    assert result.erasures_pending == (() if purged.complete else ("erase-1",))
    assert purged.complete == (not purged.detail)
    assert handle(store, ERASURE).erasures_pending == ()  # a redelivered erasure changes nothing


def test_alert_evidence_no_longer_names_the_person(store: GraphStore) -> None:
    handle(store, *alice_before())
    (alert,) = [a for a in store.alerts() if a.recipient == "brokr" and a.rule == "undeclared-recipient-type"]
    assert sorted(alert.subjects) == sorted([KEY(ALICE), KEY(BOB)]) and alert.people == 2
    handle(store, ERASURE)
    (alert,) = [a for a in store.alerts() if a.alert_id == alert.alert_id]
    assert alert.subjects == [KEY(BOB)] and alert.event_ids == ["b-s1"] and alert.people == 1
    assert alert.subject == KEY(BOB)
    assert [e.event_id for e in evidence(store, [alert.alert_id])] == ["b-s1"]
    assert all(KEY(ALICE) not in a.model_dump_json() for a in store.alerts())


def test_flows_no_longer_count_the_person(store: GraphStore) -> None:
    handle(store, *alice_before())
    handle(store, ERASURE)
    flows = store.flows()
    assert {e.event_id for e in evidence(store, [f.ref for f in flows])} == {"b-s1"}
    assert [(f.rel, f.subjects, f.events) for f in flows if f.rel == "SHARED_WITH"] == [("SHARED_WITH", 1, 1)]
    assert sum(r.people for r in store.flow_summary().rollups) == len(store.flow_summary().rollups)  # only Bob


def test_art19_list_is_computed_before_the_evidence_goes(store: GraphStore) -> None:
    handle(store, *alice_before())
    report = art19_report(store, KEY, ALICE, POLICY)
    assert [r.id for r in report.recipients] == ["brokr", "hk-affiliate"]
    handle(store, ERASURE)
    (tomb,) = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert list(tomb.recipients) == [r.id for r in report.recipients]
    assert art19_report(store, KEY, ALICE, POLICY).recipients == []  # afterwards there is nothing left to read


def test_replaying_old_events_does_not_bring_the_person_back(store: GraphStore) -> None:
    handle(store, *alice_before())
    handle(store, ERASURE)
    erased_state = snapshot(store)
    replay = handle(store, *alice_before())
    assert replay.applied == 0 and replay.suppressed == 5 and replay.duplicates == 1  # Bob's share is a duplicate
    assert replay.findings == ()  # no alert is raised again for the erased person's old events
    assert snapshot(store) == erased_state
    assert handle(store, ERASURE).duplicates == 1  # the erasure itself is applied once
    assert snapshot(store) == erased_state


def test_data_after_the_erasure_is_new_data(store: GraphStore) -> None:
    handle(store, *alice_before())
    handle(store, ERASURE)
    assert handle(store, *after()).applied == 1
    answer = store.who_has(KEY(ALICE))
    assert answer is not None
    assert [(c.category, c.event_count, c.first_seen) for c in answer.categories] == [
        ("user.name", 1, datetime(2026, 3, 12, 9, tzinfo=UTC))
    ]
    assert answer.recipients == []
    handle(store, *alice_before())  # a replay of the old stream still adds nothing
    assert store.who_has(KEY(ALICE)) == answer


def test_evidence_after_the_erasure_time_survives_an_erasure_applied_later(store: GraphStore) -> None:
    """Events that occurred after the erasure but were applied before it (a late erasure) are kept, edge by edge."""
    late_share = event("shared", event_id="a-s9", occurred_at="2026-03-11T09:00:00Z", recipient=AFFILIATE)
    handle(store, *alice_before(), *after(), late_share)
    handle(store, ERASURE)
    answer = store.who_has(KEY(ALICE))
    assert answer is not None
    by_category = {c.category: c for c in answer.categories}
    assert set(by_category) == {"user.name", "user.contact.email"}
    assert by_category["user.name"].event_count == 1
    assert by_category["user.contact.email"].first_seen == datetime(2026, 3, 11, 9, tzinfo=UTC)
    assert [(r.id, r.event_ids, r.first_shared_at) for r in answer.recipients] == [
        ("hk-affiliate", ["a-s9"], datetime(2026, 3, 11, 9, tzinfo=UTC))
    ]
    (tomb,) = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert tomb.recipients == ("brokr", "hk-affiliate")  # what was disclosed up to the erasure


def test_the_outcome_does_not_depend_on_delivery_order(make_store: StoreFactory) -> None:
    reference = make_store()
    for ev in (*alice_before(), ERASURE, *after()):
        handle(reference, ev)
    expected = snapshot(reference)
    everything = [*alice_before(), ERASURE, *after()]
    orders = [list(reversed(everything)), everything[3:] + everything[:3]]
    batchings = [[everything], [[e] for e in orders[0]], [orders[1][:4], orders[1][4:]]]
    for batches in batchings:
        s = make_store()
        for batch in batches:
            handle(s, *batch)
        got = snapshot(s)
        # applied_at differs; the rest must be equal
        assert got == expected, batches


def test_an_older_erasure_delivered_late_does_not_erase_newer_data(store: GraphStore) -> None:
    newer = erased("erase-2", "2026-03-11T00:00:00Z")
    handle(store, *alice_before(), newer, *after())
    kept = store.who_has(KEY(ALICE))
    assert kept is not None
    handle(store, ERASURE)  # older than erase-2: covers nothing that is still there
    assert store.who_has(KEY(ALICE)) == kept
    tombs = store.erasures([KEY(ALICE)])[KEY(ALICE)]
    assert [(t.event_id, t.recipients) for t in tombs] == [("erase-1", ()), ("erase-2", ("brokr", "hk-affiliate"))]


def test_erasing_someone_unknown_records_a_tombstone_only(store: GraphStore) -> None:
    before = store.stats()
    assert handle(store, erased("erase-x", "2026-03-10T00:00:00Z", subject="nobody@example.com", reason=None)).applied
    assert store.who_has(KEY("nobody@example.com")) is None
    (tomb,) = store.erasures([KEY("nobody@example.com")])[KEY("nobody@example.com")]
    assert (tomb.recipients, tomb.reason) == ((), None)
    assert store.stats().subjects == before.subjects
    replayed = handle(store, event("collected", event_id="n-1", subject_id="nobody@example.com"))
    assert replayed.suppressed == 1 and store.who_has(KEY("nobody@example.com")) is None


def test_many_people_erased_in_one_batch(store: GraphStore) -> None:
    people = [f"p{i}@example.com" for i in range(40)]
    handle(store, *(event("shared", event_id=f"s-{i}", subject_id=p, recipient=AFFILIATE,
                          occurred_at="2026-03-01T00:00:00Z") for i, p in enumerate(people)))
    handle(store, *(erased(f"e-{i}", "2026-03-02T00:00:00Z", subject=p) for i, p in enumerate(people[:30])))
    assert store.stats().subjects == 10
    tombs = store.erasures([KEY(p) for p in people])
    assert len(tombs) == 30 and all(t[0].recipients == ("hk-affiliate",) for t in tombs.values())
    assert all(store.who_has(KEY(p)) is None for p in people[:30])
    assert all(store.who_has(KEY(p)) is not None for p in people[30:])
    assert store.erasures([]) == {}


def test_nothing_identifying_remains_in_the_answers(store: GraphStore) -> None:
    handle(store, *alice_before())
    handle(store, ERASURE)
    dumped = [a.model_dump_json() for a in store.alerts()] + [f.model_dump_json() for f in store.flows()]
    for text in dumped:
        for what in (KEY(ALICE), ALICE, "a-c1", "a-u1", "a-s1", "a-s2", "a-o1"):
            assert what not in text


def test_every_permutation_of_a_small_stream_converges(make_store: StoreFactory) -> None:
    small = [alice_before()[0], alice_before()[2], ERASURE, after()[0]]
    reference = make_store()
    for ev in small:
        handle(reference, ev)
    expected = snapshot(reference)
    for order in itertools.islice(itertools.permutations(small), 1, None, 5):  # 5 of the 24 orders
        s = make_store()
        for ev in order:
            handle(s, ev)
        assert snapshot(s) == expected, [e["event_id"] for e in order]


def test_an_alerts_latest_events_stay_the_latest_across_batches_out_of_order_and_erasures(store: GraphStore) -> None:
    """An alert lists its ten latest triggering events, newest first: a later batch of older events does not push
    newer ones out, and erasing the person whose events were the newest brings the older ones of others back."""

    def flood(i: int, who: str) -> dict[str, Any]:
        return event("shared", event_id=f"f-{i:02d}", subject_id=who, recipient=BROKER,
                     purpose="marketing.advertising", occurred_at=f"2026-03-{i:02d}T00:00:00Z")  # fmt: skip

    handle(store, *[flood(i, ALICE) for i in range(15, 21)])  # Alice's six, the newest
    handle(store, *[flood(i, BOB) for i in range(1, 15)])  # then Bob's fourteen, all older
    (alert,) = [a for a in store.alerts() if a.recipient == "brokr" and a.rule == "undeclared-recipient-type"]
    assert alert.event_ids == [f"f-{i:02d}" for i in range(20, 10, -1)]
    assert alert.subjects == [KEY(ALICE), KEY(BOB)] and alert.count == 20
    handle(store, erased("erase-alice", "2026-03-31T00:00:00Z"))
    (alert,) = [a for a in store.alerts() if a.alert_id == alert.alert_id]
    assert alert.event_ids == [f"f-{i:02d}" for i in range(14, 4, -1)]
    assert alert.subjects == [KEY(BOB)]
