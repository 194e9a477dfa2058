"""The GraphStore contract: every store must give these answers (SQLite now, Neo4j too)."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from graph.aggregate_reads import evidence
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore, StoreConfigError
from policies import default_policy
from schemas.answers import Flow
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import ADVERTISER, AFFILIATE, BROKER, event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)


def handler(store: GraphStore) -> Handler:
    return Handler(store, POLICY, KEY)


def apply(store: GraphStore, *events: dict) -> Handler:
    h = handler(store)
    h.handle([validate_event(e, h.taxonomy) for e in events])
    return h


def stream() -> list[dict]:
    """Alice: collected, used, shared twice with the affiliate, once with a broker; Bob: one collection."""
    return [
        event("collected", event_id="c1", occurred_at="2026-03-01T09:00:00Z",
              data_categories=["user.contact.email", "user.name"],
              source={"type": "third_party", "name": "office365-sso"}),
        event("collected", event_id="c2", occurred_at="2026-03-02T09:00:00Z",
              data_categories=["user.device.ip_address"], source={"type": "automatic"}),
        event("used", event_id="u1", occurred_at="2026-03-03T09:00:00Z", purpose="analytics.reporting",
              data_categories=["user.device.ip_address"]),
        event("shared", event_id="s1", occurred_at="2026-03-04T09:00:00Z", recipient=AFFILIATE,
              purpose="essential.service.operations.support"),
        event("shared", event_id="s2", occurred_at="2026-03-06T09:00:00+02:00", recipient=AFFILIATE,
              purpose="essential.service.operations.support", data_categories=["user.contact.email", "user.name"]),
        event("shared", event_id="s3", occurred_at="2026-03-05T09:00:00Z", recipient=BROKER,
              purpose="marketing.advertising", data_categories=["user.contact.email"]),
        event("collected", event_id="b1", subject_id="bob@example.com", occurred_at="2026-03-01T12:00:00Z",
              data_categories=["user.name"], source={"type": "customer", "name": "acme-hr"}),
    ]


def test_unknown_subject_is_none(store: GraphStore) -> None:
    apply(store, *stream())
    assert store.who_has(KEY("nobody@example.com")) is None


def test_who_has_names_categories_sources_purposes_and_recipients(store: GraphStore) -> None:
    apply(store, *stream())
    answer = store.who_has(KEY("alice@example.com"))
    assert answer is not None
    assert answer.subject_type == "customer"
    cats = {c.category: c for c in answer.categories}
    assert sorted(cats) == ["user.contact.email", "user.device.ip_address", "user.name"]
    email = cats["user.contact.email"]
    assert [(s.type, s.name) for s in email.sources] == [("third_party", "office365-sso")]
    assert email.purposes == ["essential.service.operations.support", "marketing.advertising"]
    assert email.roles == ["controller"]
    assert email.event_count == 4  # c1, s1, s2, s3
    assert email.first_seen == datetime(2026, 3, 1, 9, tzinfo=UTC)
    assert email.last_seen == datetime(2026, 3, 6, 7, tzinfo=UTC)  # 09:00+02:00
    ip = cats["user.device.ip_address"]
    assert [(s.type, s.name) for s in ip.sources] == [("automatic", None)]
    assert ip.purposes == ["analytics.reporting"]

    recs = {r.id: r for r in answer.recipients}
    assert sorted(recs) == ["brokr", "hk-affiliate"]
    hk = recs["hk-affiliate"]
    assert (hk.name, hk.type, hk.country) == ("SOS Hong Kong Ltd", "affiliate", "HK")
    assert hk.categories == ["user.contact.email", "user.name"]
    assert hk.purposes == ["essential.service.operations.support"]
    assert hk.event_ids == ["s1", "s2"]
    assert hk.first_shared_at == datetime(2026, 3, 4, 9, tzinfo=UTC)
    assert hk.last_shared_at == datetime(2026, 3, 6, 7, tzinfo=UTC)
    assert recs["brokr"].event_ids == ["s3"]

    bob = store.who_has(KEY("bob@example.com"))
    assert bob is not None and [c.category for c in bob.categories] == ["user.name"] and bob.recipients == []
    assert bob.flows == []


def test_who_has_gives_each_flow_its_own_span(store: GraphStore) -> None:
    apply(store, *stream())
    answer = store.who_has(KEY("alice@example.com"))
    assert answer is not None

    def day(d: int, hour: int = 9) -> datetime:
        return datetime(2026, 3, d, hour, tzinfo=UTC)

    support = "essential.service.operations.support"
    assert [(f.category, f.purpose, f.recipient, f.first_seen, f.last_seen, f.events) for f in answer.flows] == [
        ("user.contact.email", support, None, day(4), day(6, 7), 2),  # a disclosure uses the data for its purpose
        ("user.contact.email", support, "hk-affiliate", day(4), day(6, 7), 2),
        ("user.contact.email", "marketing.advertising", None, day(5), day(5), 1),
        ("user.contact.email", "marketing.advertising", "brokr", day(5), day(5), 1),
        ("user.device.ip_address", "analytics.reporting", None, day(3), day(3), 1),
        ("user.name", support, None, day(6, 7), day(6, 7), 1),
        ("user.name", support, "hk-affiliate", day(6, 7), day(6, 7), 1),
    ]


def test_replaying_changes_nothing(store: GraphStore) -> None:
    h = apply(store, *stream())
    before = store.stats()
    answer = store.who_has(KEY("alice@example.com"))
    result = h.handle([validate_event(e) for e in stream()])
    assert (result.applied, result.duplicates) == (0, len(stream()))
    assert result.findings == ()
    assert store.stats() == before
    assert store.who_has(KEY("alice@example.com")) == answer
    assert before.events == len(stream())


def test_out_of_order_delivery_converges(make_store) -> None:  # type: ignore[no-untyped-def]
    first = make_store()
    apply(first, *stream())
    expected = (first.who_has(KEY("alice@example.com")), first.stats(), first.alerts())
    second = make_store()
    apply(second, *reversed(stream()))
    got = (second.who_has(KEY("alice@example.com")), second.stats(), second.alerts())
    assert got[0] == expected[0]
    assert got[1] == expected[1]
    assert [a.model_dump(exclude={"status"}) for a in got[2]] == [a.model_dump(exclude={"status"}) for a in expected[2]]


def test_recipient_properties_follow_the_latest_event_whatever_the_order(store: GraphStore) -> None:
    renamed = dict(AFFILIATE, name="SOS Asia Pacific Ltd", contact="privacy@sos.example")
    late = event("shared", event_id="late", occurred_at="2026-05-01T00:00:00Z", recipient=renamed)
    early = event("shared", event_id="early", occurred_at="2026-04-01T00:00:00Z", recipient=AFFILIATE)
    apply(store, late)
    apply(store, early)
    answer = store.who_has(KEY("alice@example.com"))
    assert answer is not None
    (hk,) = answer.recipients
    assert (hk.name, hk.contact) == ("SOS Asia Pacific Ltd", "privacy@sos.example")


def test_processor_and_controller_roles_are_both_kept(store: GraphStore) -> None:
    apply(
        store,
        event("collected", data_categories=["user.contact.email"], role="processor", customer="acme-corp",
              occurred_at="2026-03-01T00:00:00Z"),
        event("collected", data_categories=["user.contact.email"], occurred_at="2026-03-09T00:00:00Z"),
    )
    answer = store.who_has(KEY("alice@example.com"))
    assert answer is not None and answer.categories[0].roles == ["controller", "processor"]
    # the category's span covers both roles' events
    assert answer.categories[0].first_seen == datetime(2026, 3, 1, tzinfo=UTC)
    assert answer.categories[0].last_seen == datetime(2026, 3, 9, tzinfo=UTC)
    assert answer.categories[0].event_count == 2


def test_has_events_says_whether_anything_is_recorded(store: GraphStore) -> None:
    assert store.has_events() is False
    apply(store, stream()[0])
    assert store.has_events() is True


def test_processed_reports_applied_event_ids(store: GraphStore) -> None:
    apply(store, *stream())
    assert store.processed(["c1", "s3", "never"]) == {"c1", "s3"}


def test_apply_names_the_events_it_applied_once_each(store: GraphStore) -> None:
    h = handler(store)
    first = h.changes([validate_event(e, h.taxonomy) for e in stream()[:3]])
    result = store.apply(first + first[:1])  # c1 twice in the batch
    assert (result.applied, result.duplicates, result.applied_ids) == (3, 1, {"c1", "c2", "u1"})
    everything = h.changes([validate_event(e, h.taxonomy) for e in stream()])
    again = store.apply(everything)  # the first three are recorded already
    assert (again.applied, again.duplicates, again.applied_ids) == (4, 3, {"s1", "s2", "s3", "b1"})


def test_findings_of_an_event_repeated_or_replayed_are_reported_once(store: GraphStore) -> None:
    h = handler(store)
    undeclared = event("shared", event_id="x1", recipient=BROKER, purpose="marketing.advertising")
    batch = [validate_event(e, h.taxonomy) for e in (undeclared, undeclared)]
    result = h.handle(batch)
    assert (result.applied, result.duplicates) == (1, 1)
    assert result.findings and {f.event_id for f in result.findings} == {"x1"}
    assert len(result.findings) == len(h.changes(batch[:1])[0].findings)
    assert h.handle(batch).findings == ()  # a replay reports nothing


def test_alerts_are_deduplicated_with_their_latest_evidence_and_counts(store: GraphStore) -> None:
    flood = [
        event("shared", event_id=f"flood-{i}", subject_id=f"p{i % 3}@example.com", recipient=BROKER,
              purpose="marketing.advertising", occurred_at=f"2026-03-{i + 1:02d}T00:00:00Z")
        for i in range(12)
    ]
    apply(store, *flood)
    apply(store, *flood)  # a replay adds no evidence
    (alert,) = store.alerts()
    assert alert.rule == "undeclared-recipient-type"
    assert (alert.recipient, alert.recipient_type, alert.category, alert.purpose) == (
        "brokr", "data_broker", "user.contact.email", "marketing.advertising")
    assert (alert.count, alert.people) == (12, 3)
    # the latest ten, newest first, and their people; every event is behind its reference
    assert alert.event_ids == [f"flood-{i}" for i in range(11, 1, -1)]
    assert alert.subjects == [KEY(f"p{i % 3}@example.com") for i in (11, 10, 9)]
    assert sorted(e.event_id for e in evidence(store, [alert.alert_id])) == sorted(e["event_id"] for e in flood)
    assert not any("@" in s for s in alert.subjects)
    assert alert.subject is None  # several people (`people`)
    assert alert.first_seen == datetime(2026, 3, 1, tzinfo=UTC)
    assert alert.last_seen == datetime(2026, 3, 12, tzinfo=UTC)
    assert alert.policy_version == POLICY.version
    assert alert.status == "open"


def test_alert_filters_and_acknowledge(store: GraphStore) -> None:
    apply(
        store,
        event("shared", event_id="x1", recipient=BROKER, purpose="marketing.advertising"),
        event("shared", event_id="x2", recipient=ADVERTISER, purpose="personalize.profiling",
              occurred_at="2026-06-01T00:00:00Z"),
    )
    alerts = store.alerts()
    assert {a.rule for a in alerts} == {"undeclared-recipient-type", "undeclared-disclosure-purpose"}
    assert [a.event_ids for a in store.alerts(rule="undeclared-disclosure-purpose")] == [["x2"]]
    assert [a.event_ids for a in store.alerts(since=datetime(2026, 5, 1, tzinfo=UTC))] == [["x2"]]
    target = store.alerts(rule="undeclared-recipient-type")[0].alert_id
    assert store.acknowledge_alert(target) is True
    assert store.acknowledge_alert("a_missing") is False
    assert [a.alert_id for a in store.alerts(status="acknowledged")] == [target]
    assert [a.event_ids for a in store.alerts(status="open")] == [["x2"]]


def test_store_refuses_a_different_pseudonym_key(store: GraphStore) -> None:
    store.bind_key(KEY.fingerprint)
    store.bind_key(KEY.fingerprint)  # same key: fine
    with pytest.raises(StoreConfigError, match="another pseudonym key"):
        store.bind_key(Pseudonymizer(b"another key of sufficient length").fingerprint)


def test_no_raw_subject_id_is_stored(store: GraphStore) -> None:
    apply(store, *stream())
    answer = store.who_has(KEY("alice@example.com"))
    assert answer is not None and answer.subject == KEY("alice@example.com")
    for alert in store.alerts():
        assert "alice@example.com" not in alert.model_dump_json()


def test_flows_aggregate_over_people_with_evidence(store: GraphStore) -> None:
    apply(
        store,
        *stream(),
        event("shared", event_id="bob-s", subject_id="bob@example.com", occurred_at="2026-03-07T00:00:00Z",
              recipient=AFFILIATE, purpose="essential.service.operations.support"),
        event("used", event_id="proc-u", role="processor", customer="acme-corp", data_categories=["user.content"],
              purpose="essential.service", occurred_at="2026-03-08T00:00:00Z"),
    )
    flows = store.flows()
    shares = [f for f in flows if f.rel == "SHARED_WITH" and f.category == "user.contact.email"]

    def ids(f: Flow) -> list[str]:
        return sorted(e.event_id for e in evidence(store, [f.ref]))

    got = [(f.recipient.id if f.recipient else None, f.purpose, f.subjects, f.events, ids(f)) for f in shares]
    assert got == [
        ("hk-affiliate", "essential.service.operations.support", 2, 3, ["bob-s", "s1", "s2"]),
        ("brokr", "marketing.advertising", 1, 1, ["s3"]),
    ]
    hk = next(f for f in shares if f.recipient and f.recipient.id == "hk-affiliate")
    assert hk.recipient is not None and (hk.recipient.name, hk.recipient.type, hk.recipient.country) == (
        "SOS Hong Kong Ltd", "affiliate", "HK")
    assert (hk.first_seen, hk.last_seen) == (date(2026, 3, 4), date(2026, 3, 7))  # UTC days (s2 is 07:00 UTC)
    sources = [f for f in flows if f.rel == "COLLECTED_FROM"]
    sourced = {(f.category, f.source.type if f.source else None, f.source.name if f.source else None) for f in sources}
    assert sourced == {
        ("user.contact.email", "third_party", "office365-sso"),
        ("user.name", "third_party", "office365-sso"),
        ("user.device.ip_address", "automatic", None),
        ("user.name", "customer", "acme-hr"),
    }
    used = [f for f in flows if f.rel == "USED_FOR"]
    assert {(f.category, f.purpose, f.role) for f in used} >= {
        ("user.device.ip_address", "analytics.reporting", "controller"),
        ("user.content", "essential.service", "processor"),
    }
    holds = {(f.category, f.role): f.subjects for f in flows if f.rel == "HOLDS"}
    assert holds[("user.name", "controller")] == 2
    assert holds[("user.content", "processor")] == 1
    assert [(f.rel, f.category, f.purpose) for f in flows] == sorted((f.rel, f.category, f.purpose) for f in flows)


def test_flows_respect_the_period(store: GraphStore) -> None:
    apply(store, *stream())
    march5 = datetime(2026, 3, 5, tzinfo=UTC)
    later = store.flows(since=march5)
    earlier = store.flows(until=march5)
    assert {e.event_id for e in evidence(store, [f.ref for f in later], since=march5)} == {"s2", "s3"}
    before = {e.event_id for e in evidence(store, [f.ref for f in earlier], until=march5)}
    assert before == {"c1", "c2", "u1", "s1", "b1"}
    assert sum(f.events for f in later if f.rel == "HOLDS") == 3  # s2 holds two categories, s3 one
    assert store.flows(since=datetime(2030, 1, 1, tzinfo=UTC)) == []


def test_first_recorded_gives_who_has_first_seen_for_many_people_in_one_answer(store: GraphStore) -> None:
    """The retention rule's read (once per batch): when each person's data of each category was first recorded, as
    who-has gives it, to the microsecond; people unknown, or erased, are absent."""
    from lineage.simulator import simulate
    from tests.contract.test_erasure import erased

    sims = [s.event for s in simulate(12, 4, seed=5)]
    ids = sorted({e["subject"]["id"] for e in sims})
    early = event("collected", event_id="early-1", subject_id=ids[1], occurred_at="2025-12-31T23:59:59.250001Z",
                  data_categories=["user.contact.email"], source={"type": "automatic"})  # fmt: skip
    apply(store, *sims, early)
    apply(store, erased("erase-first", "2027-01-01T00:00:00Z", subject=ids[0]))
    people = [KEY(i) for i in ids]
    answers = {p: store.who_has(p) for p in people}
    expected = {p: {c.category: c.first_seen for c in w.categories} for p, w in answers.items() if w and w.categories}
    found = store.first_recorded([*people, KEY("nobody@example.com")])
    assert found == expected and len(found) == len(ids) - 1 and people[0] not in found
    assert found[people[1]]["user.contact.email"] == datetime(2025, 12, 31, 23, 59, 59, 250001, tzinfo=UTC)
    assert store.first_recorded([]) == {}

    # asked for some categories per person: those of them recorded, to the microsecond; the others left out; a
    # person with none of them recorded absent; a person not named in the question, every category
    two, three, four = people[1], people[2], people[3]
    some = sorted(expected[three])[::2]
    question = {
        two: {"user.contact.email", "user.never.recorded"},
        three: set(some),
        four: {"user.never.recorded"},
        people[0]: {"user.contact.email"},  # erased
    }
    narrowed = store.first_recorded([two, three, four, people[0], people[5]], question)
    assert narrowed == {
        two: {"user.contact.email": datetime(2025, 12, 31, 23, 59, 59, 250001, tzinfo=UTC)},
        three: {c: expected[three][c] for c in some},
        people[5]: expected[people[5]],
    }
    assert len(expected[three]) > len(some) >= 1
