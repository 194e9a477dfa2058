"""Flow aggregates on every store: after any kind of write (batches of any size in any order, replays, duplicates
within and across batches, erasures, consent), the counts every period reads equal a recount of the events.

The recount here is written apart from ``graph.aggregates`` (from the documented keys, over the events as sent),
so a mistake in the write path's keys, in a store's sums or in the period arithmetic shows; a second check recounts
the events the store holds (``event_facts``) with the write path's own builder.
"""

from __future__ import annotations

import random
from collections.abc import Iterable
from datetime import UTC, date, datetime, timedelta
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.aggregate_reads import evidence
from graph.aggregates import day_date, day_of, facts_delta, ref_of
from graph.pseudonym import Pseudonymizer
from graph.store import GraphStore
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.conftest import StoreFactory
from tests.factories import ADVERTISER, AFFILIATE, BROKER, event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)
PEOPLE = ("alice@example.com", "bob@example.com", "carol@example.com")
Counts = dict[str, tuple[int, int, date, date]]  # ref -> (events, people, first day, last day)


def _at(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def kept(events: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The data events a store keeps: each id once, none about a person erased at or after it occurred."""
    once = list({e["event_id"]: e for e in reversed(events)}.values())
    erasures: dict[str, list[datetime]] = {}
    for e in once:
        if e["kind"] == "erased":
            erasures.setdefault(e["subject"]["id"], []).append(_at(e["occurred_at"]))
    return [
        e
        for e in once
        if e["kind"] in ("collected", "used", "shared")
        and not any(t >= _at(e["occurred_at"]) for t in erasures.get(e["subject"]["id"], []))
    ]


def keys(e: dict[str, Any], alerted: set[str] = frozenset()) -> set[tuple[str, tuple[str, ...]]]:  # type: ignore[assignment]
    """The keys of one event, from docs/reports.md: a flow per lineage edge, and the other rollups (``alerted``: the
    ids of the events that raised an alert, for the quiet rollup)."""
    role, stype, kind = e["role"], e["subject"]["type"], e["kind"]
    purpose = e.get("purpose")
    recipient = e.get("recipient", {}).get("id")
    source = f"{e['source']['type']}:{e['source'].get('name') or ''}" if e.get("source") else None
    out: set[tuple[str, tuple[str, ...]]] = set()
    for c in set(e["data_categories"]):
        out.add(("flow", ("HOLDS", c, role, "", role, stype, "")))
        out.add(("category", (role, c)))
        if source:
            out.add(("flow", ("COLLECTED_FROM", c, source, "", role, stype, "")))
        if purpose:
            out.add(("flow", ("USED_FOR", c, purpose, "", role, stype, kind)))
            if recipient:
                out.add(("flow", ("SHARED_WITH", c, recipient, purpose, role, stype, "")))
    if e["event_id"] not in alerted:
        out |= {("quiet", f) for rollup, f in list(out) if rollup == "flow" and f[0] in ("USED_FOR", "SHARED_WITH")}
    if purpose:
        out.add(("activity", (role, purpose)))
        if recipient:
            out.add(("recipient", (recipient,)))
    return out


def recount(
    events: list[dict[str, Any]],
    since: datetime | None,
    until: datetime | None,
    alerted: set[str] = frozenset(),  # type: ignore[assignment]
) -> Counts:
    per: dict[str, list[tuple[str, date]]] = {}
    for e in kept(events):
        at = _at(e["occurred_at"])
        if (since is None or at >= since) and (until is None or at < until):
            for k in keys(e, alerted):
                per.setdefault(ref_of(*k), []).append((e["subject"]["id"], at.date()))
    return {
        ref: (len(xs), len({p for p, _ in xs}), min(d for _, d in xs), max(d for _, d in xs)) for ref, xs in per.items()
    }


def answered(store: GraphStore, since: datetime | None = None, until: datetime | None = None) -> Counts:
    """What the store's aggregates say of [since, until), alerts left out (see test_alert_aggregates)."""
    s = store.flow_summary(since=since, until=until)
    out = {f.ref: (f.events, f.subjects, f.first_seen, f.last_seen) for f in s.flows}
    out.update({r.ref: (r.events, r.people, r.first_seen, r.last_seen) for r in s.rollups if r.rollup != "alert"})
    return out


def stored(store: GraphStore, since: datetime | None = None, until: datetime | None = None) -> Counts:
    """The write path's own builder run over the events the store holds (alerts included)."""
    totals = facts_delta(store.event_facts(since, until)).by_key().totals()
    return {ref: (n, p, day_date(a), day_date(b)) for ref, (n, p, a, b) in totals.items()}


PERIODS = (
    (None, None),
    (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 4, 1, tzinfo=UTC)),  # a whole month: no event read
    (datetime(2026, 2, 28, 12, tzinfo=UTC), datetime(2026, 3, 2, 6, tzinfo=UTC)),  # across a month, inside days
    (datetime(2026, 3, 15, tzinfo=UTC), None),
    (None, datetime(2026, 3, 31, 23, tzinfo=UTC)),
    (datetime(2026, 1, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),  # the whole history: the totals
    (datetime(2026, 2, 27, 12, tzinfo=UTC), datetime(2026, 4, 30, 13, tzinfo=UTC)),  # the same, partial days
    # whole months that leave history out on either side: people from the steps, none read
    (datetime(2026, 3, 1, tzinfo=UTC), datetime(2026, 5, 1, tzinfo=UTC)),
    (datetime(2026, 2, 1, tzinfo=UTC), datetime(2026, 3, 1, tzinfo=UTC)),
    (datetime(2026, 4, 1, tzinfo=UTC), None),
    (None, datetime(2026, 3, 1, tzinfo=UTC)),
    (datetime(2026, 4, 1, tzinfo=UTC), datetime(2026, 4, 15, tzinfo=UTC)),  # inside one month
)


def alerted(store: GraphStore) -> set[str]:
    """The events that raised an alert (what the store's alerts rest on)."""
    return {e.event_id for e in evidence(store, [a.alert_id for a in store.alerts()])}


def check(store: GraphStore, events: list[dict[str, Any]]) -> None:
    raised = alerted(store)
    for since, until in PERIODS:
        want = recount(events, since, until, raised)
        assert answered(store, since, until) == want, (since, until)
        assert {r: c for r, c in stored(store, since, until).items() if not r.startswith("a_")} == want


def handle(store: GraphStore, *batches: Iterable[dict[str, Any]]) -> None:
    h = Handler(store, POLICY, KEY)
    for batch in batches:
        h.handle([validate_event(e, h.taxonomy) for e in batch])


def history() -> list[dict[str, Any]]:
    """Three people over February to April, across month and day edges, in three roles and kinds."""
    out: list[dict[str, Any]] = []
    times = [
        "2026-02-27T23:30:00Z",
        "2026-02-28T13:00:00Z",
        "2026-03-01T00:00:00Z",
        "2026-03-01T05:59:59Z",
        "2026-03-14T23:59:59Z",
        "2026-03-15T00:00:00Z",
        "2026-03-31T23:30:00Z",
        "2026-04-02T10:00:00Z",
    ]
    for i, at in enumerate(times * 2):
        who = PEOPLE[i % 3]
        if i % 4 == 0:
            out.append(
                event(
                    "collected",
                    event_id=f"h{i:02d}",
                    subject_id=who,
                    occurred_at=at,
                    data_categories=["user.contact.email", "user.name"],
                    source={"type": "third_party", "name": "office365-sso"},
                )
            )
        elif i % 4 == 1:
            out.append(
                event(
                    "used",
                    event_id=f"h{i:02d}",
                    subject_id=who,
                    occurred_at=at,
                    purpose="analytics.reporting",
                    data_categories=["user.device.ip_address"],
                )
            )
        elif i % 4 == 2:
            out.append(
                event(
                    "shared",
                    event_id=f"h{i:02d}",
                    subject_id=who,
                    occurred_at=at,
                    recipient=AFFILIATE if i % 3 else BROKER,
                    purpose="essential.service.operations.support" if i % 3 else "marketing.advertising",
                )
            )
        else:
            out.append(
                event(
                    "used",
                    event_id=f"h{i:02d}",
                    subject_id=who,
                    occurred_at=at,
                    role="processor",
                    customer="acme-corp",
                    data_categories=["user.content"],
                    purpose="essential.service",
                )
            )
    return out  # fmt: skip


def test_aggregates_equal_a_recount_in_every_period(store: GraphStore) -> None:
    events = history()
    handle(store, events)
    check(store, events)
    # the flows name their recipients and sources from the catalogue, with their references
    shares = [f for f in store.flows() if f.rel == "SHARED_WITH"]
    assert {(f.recipient.id if f.recipient else None) for f in shares} == {"hk-affiliate", "brokr"}
    assert all(f.ref == ref_of("flow", ("SHARED_WITH", f.category, f.recipient.id, f.purpose, f.role,  # type: ignore[union-attr]
                                        f.subject_type, "")) for f in shares)  # fmt: skip


def test_replays_duplicates_and_any_batching_change_nothing(make_store: StoreFactory) -> None:
    events = history()
    store = make_store()
    shuffled = random.Random(7).sample(events, len(events))  # noqa: S311 - a reproducible shuffle
    # out of order, a repeat inside a batch, repeats across batches, a replay of everything
    handle(store, shuffled[:9] + shuffled[:2], shuffled[5:], events, events[::-1])
    check(store, events)
    one = make_store()
    handle(one, *([e] for e in events))
    assert answered(one) == answered(store)


def test_erasure_takes_away_its_events_and_its_person(make_store: StoreFactory) -> None:
    events = history()
    store = make_store()
    handle(store, events)
    alice, bob = PEOPLE[0], PEOPLE[1]
    erasures = [
        {"schema_version": 1, "event_id": "x-alice", "kind": "erased", "occurred_at": "2026-03-15T00:00:00Z",
         "emitted_by": "privacy-desk", "subject": {"id": alice, "type": "customer"}},  # partial: later events stay
        {"schema_version": 1, "event_id": "x-bob", "kind": "erased", "occurred_at": "2026-05-01T00:00:00Z",
         "emitted_by": "privacy-desk", "subject": {"id": bob, "type": "customer"}},  # everything
    ]  # fmt: skip
    handle(store, erasures)
    after = events + erasures
    check(store, after)
    # bob is in no flow any more; alice only where events after her erasure put her
    people = {f.ref: f.subjects for f in store.flows()}
    assert people == {r: c[1] for r, c in recount(after, None, None, alerted(store)).items() if r in people}
    # a replay of the erased events brings nobody back, and new events after the erasure count again
    late = event(
        "used",
        event_id="late",
        subject_id=bob,
        occurred_at="2026-05-02T00:00:00Z",
        purpose="analytics.reporting",
        data_categories=["user.device.ip_address"],
    )
    handle(store, events, [late])
    check(store, after + [late])
    # the same on a store that got the erasures first (delivery order does not matter)
    first = make_store()
    handle(first, erasures, events)
    check(first, after)


def test_consent_events_count_in_no_flow(store: GraphStore) -> None:
    events = history() + [
        {"schema_version": 1, "event_id": "w1", "kind": "consent_withdrawn", "occurred_at": "2026-03-02T00:00:00Z",
         "emitted_by": "preference-centre", "subject": {"id": PEOPLE[0], "type": "customer"},
         "purposes": ["analytics"]},
        {"schema_version": 1, "event_id": "o1", "kind": "opted_out", "occurred_at": "2026-03-03T00:00:00Z",
         "emitted_by": "preference-centre", "subject": {"id": PEOPLE[1], "type": "customer"},
         "scope": "marketing.communications.email"},
    ]  # fmt: skip
    handle(store, events[:5], events[5:])
    check(store, events)


def test_alert_aggregates_count_their_triggering_events(store: GraphStore) -> None:
    events = [
        event("shared", event_id=f"b{i}", subject_id=PEOPLE[i % 2], recipient=BROKER, purpose="marketing.advertising",
              occurred_at=f"2026-03-{i + 1:02d}T12:00:00Z")
        for i in range(6)
    ] + [event("shared", event_id="ad", recipient=ADVERTISER, purpose="personalize.profiling",
               occurred_at="2026-04-02T12:00:00Z")]  # fmt: skip
    handle(store, events[:3], events[2:])
    alerts = {a.rule: a for a in store.alerts()}
    broker = alerts["undeclared-recipient-type"].alert_id
    counts = store.flow_summary().counts("alert")
    assert (counts[(broker,)].events, counts[(broker,)].people) == (6, 2)
    march = store.flow_summary(since=datetime(2026, 3, 3, tzinfo=UTC), until=datetime(2026, 3, 5, 6, tzinfo=UTC))
    c = march.counts("alert")[(broker,)]
    assert (c.events, c.people, c.first_seen, c.last_seen) == (2, 2, date(2026, 3, 3), date(2026, 3, 4))
    assert [e.event_id for e in evidence(store, [broker], datetime(2026, 3, 3, tzinfo=UTC))] == sorted(
        ["b2", "b3", "b4", "b5"], key=lambda e: (KEY(PEOPLE[int(e[1]) % 2]), e)
    )
    handle(store, [{"schema_version": 1, "event_id": "x", "kind": "erased", "occurred_at": "2026-03-31T00:00:00Z",
                    "emitted_by": "privacy-desk", "subject": {"id": PEOPLE[1], "type": "customer"}}])  # fmt: skip
    c = store.flow_summary().counts("alert")[(broker,)]
    assert (c.events, c.people) == (3, 1)
    assert {r: v for r, v in stored(store).items() if r.startswith("a_")} == {
        r.ref: (r.events, r.people, r.first_seen, r.last_seen)
        for r in store.flow_summary().rollups
        if r.rollup == "alert"
    }


def test_evidence_lists_the_events_of_a_reference(store: GraphStore) -> None:
    events = history()
    handle(store, events)
    for f in store.flows():
        got = [e.event_id for e in evidence(store, [f.ref])]
        want = [e["event_id"] for e in kept(events) if ("flow", _flow_key(f)) in keys(e)]
        assert sorted(got) == sorted(want) and len(got) == f.events
    since = datetime(2026, 3, 1, 3, tzinfo=UTC)
    f = next(f for f in store.flows() if f.rel == "HOLDS" and f.category == "user.name")
    got = {e.event_id for e in evidence(store, [f.ref], since)}
    assert got == {
        e["event_id"] for e in kept(events) if ("flow", _flow_key(f)) in keys(e) and _at(e["occurred_at"]) >= since
    }


def _flow_key(f: Any) -> tuple[str, ...]:
    target = {"HOLDS": f.role, "USED_FOR": f.purpose}.get(f.rel) or (
        f.recipient.id if f.recipient else f"{f.source.type}:{f.source.name or ''}"
    )
    purpose = f.purpose if f.rel == "SHARED_WITH" else ""
    return (f.rel, f.category, target, purpose, f.role, f.subject_type, f.via)


# -- generated histories: any mix of events, erasures and consent, in any batching ----------------------------
_BASE = datetime(2026, 2, 26, tzinfo=UTC)
_moments = st.integers(min_value=0, max_value=24 * 100).map(lambda h: _BASE + timedelta(hours=h, minutes=h % 7 * 9))
_data = st.fixed_dictionaries(
    {
        "kind": st.sampled_from(["collected", "used", "shared"]),
        "who": st.integers(0, 2),
        "at": _moments,
        "cats": st.sets(st.sampled_from(["user.contact.email", "user.name", "user.device.ip_address"]), min_size=1),
        "purpose": st.sampled_from(
            ["analytics.reporting", "essential.service.operations.support", "marketing.advertising"]
        ),
        "recipient": st.sampled_from([AFFILIATE, BROKER]),
        "stype": st.sampled_from(["customer", "prospect"]),
    }
)


def _event(i: int, d: dict[str, Any]) -> dict[str, Any]:
    extra: dict[str, Any] = {}
    if d["kind"] != "collected":
        extra["purpose"] = d["purpose"]
    if d["kind"] == "shared":
        extra["recipient"] = d["recipient"]
    e = event(d["kind"], event_id=f"g{i:03d}", subject_id=PEOPLE[d["who"]], occurred_at=d["at"].isoformat(),
              data_categories=sorted(d["cats"]), **extra)  # fmt: skip
    e["subject"]["type"] = d["stype"]
    return e


@settings(max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])  # fmt: skip
@given(
    data=st.lists(_data, min_size=1, max_size=24),
    erase=st.lists(st.tuples(st.integers(0, 2), _moments), max_size=2),
    cuts=st.lists(st.integers(0, 30), max_size=3),
    seed=st.integers(0, 1000),
)
def test_generated_histories(
    make_store: StoreFactory, data: list[dict[str, Any]], erase: list[tuple[int, datetime]], cuts: list[int], seed: int
) -> None:
    events = [_event(i, d) for i, d in enumerate(data)]
    events += [
        {"schema_version": 1, "event_id": f"x{i}", "kind": "erased", "occurred_at": at.isoformat(),
         "emitted_by": "privacy-desk", "subject": {"id": PEOPLE[who], "type": "customer"}}
        for i, (who, at) in enumerate(erase)
    ]  # fmt: skip
    delivered = random.Random(seed).sample(events, len(events))  # noqa: S311 - a reproducible shuffle
    delivered += delivered[: seed % 4]  # some repeats
    bounds = sorted({0, len(delivered), *(c % (len(delivered) + 1) for c in cuts)})
    store = make_store()
    handle(store, *(delivered[a:b] for a, b in zip(bounds, bounds[1:], strict=False)))
    check(store, events)
    # a day-aligned period inside the months
    since = datetime(2026, 3, 3, tzinfo=UTC)
    nine = since + timedelta(days=9)
    assert answered(store, since, nine) == recount(events, since, nine, alerted(store))
    assert day_of(since) == day_of(since + timedelta(hours=23))
