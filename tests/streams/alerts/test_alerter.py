"""The alert fast path (streams/alerts/alerter.py): findings judged off the stream without writing the graph."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from typing import Any

import pytest

from config import Settings
from graph.changes import Tombstone
from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import ConsentLedger, StoreUnavailable
from lineage.simulator import simulate
from policies import default_policy
from policies.consent import ConsentState
from schemas.parsing import validate_event
from streams.alerts.alerter import AlertProcessor, deliver_in_order, refresh_store_view
from streams.alerts.judge import AlertJudge
from streams.handler import Handler
from streams.kafka_clients import aiokafka_options
from streams.messages import MemoryPublisher, RawMessage
from streams.topics import TopicNames
from tests.conftest import TEST_KEY
from tests.factories import ADVERTISER, BROKER, event

ALERTS = "t.alerts"
TOPICS = TopicNames("t.events", "t.deadletter", ALERTS)
ANALYTICS_SHARE = {"recipient": ADVERTISER, "purpose": "analytics.reporting"}  # declared, unless consent is gone
BROKER_SHARE = {"recipient": BROKER, "purpose": "analytics.reporting"}  # undeclared: always a finding


def _handler(store: SQLiteGraphStore | None = None) -> Handler:
    return Handler(store or SQLiteGraphStore(":memory:"), default_policy(), Pseudonymizer(TEST_KEY))


def _messages(events: Sequence[dict[str, Any] | bytes], start: int = 0) -> list[RawMessage]:
    return [
        RawMessage(e if isinstance(e, bytes) else json.dumps(e).encode(), "t.events", 0, start + i)
        for i, e in enumerate(events)
    ]


def _judge(processor: AlertProcessor, *batches: Sequence[dict[str, Any] | bytes]) -> list[Any]:
    offset, outcomes = 0, []
    for batch in batches:
        outcomes.append(asyncio.run(processor(_messages(batch, offset))))
        offset += len(batch)
    return outcomes


def _withdrawal(event_id: str, at: str, subject: str = "alice@example.com") -> dict[str, Any]:
    used = event("used", subject_id=subject)
    keep = ("schema_version", "emitted_by", "subject")
    return {**{k: used[k] for k in keep}, "event_id": event_id, "occurred_at": at, "kind": "consent_withdrawn"}


def _erasure(event_id: str, at: str, subject: str = "alice@example.com") -> dict[str, Any]:
    return {**_withdrawal(event_id, at, subject), "kind": "erased"}


def test_the_alerter_publishes_the_workers_findings_and_writes_nothing_to_the_graph() -> None:
    sims = [s.event for s in simulate(25, 6, seed=3, undeclared_rate=0.05)]
    reference = _handler()
    expected: list[tuple[str, str]] = []
    for i in range(0, len(sims), 40):
        batch = [validate_event(e, reference.taxonomy) for e in sims[i : i + 40]]
        expected += [(f.event_id, f.rule) for f in reference.handle(batch).findings]
    store, publisher = SQLiteGraphStore(":memory:"), MemoryPublisher()
    processor = AlertProcessor(AlertJudge(_handler(store)), publisher, TOPICS)
    _judge(processor, *(sims[i : i + 40] for i in range(0, len(sims), 40)))
    published = publisher.on(ALERTS)
    assert len(expected) > 10
    assert sorted((d["event_id"], d["rule"]) for d in published) == sorted(expected)
    assert {d["alert_id"] for d in published} <= {a.alert_id for a in reference.store.alerts()}
    assert all(d["subject"].startswith("p_") and "@" not in json.dumps(d) for d in published)
    assert store.stats().events == 0  # judged, not written


def test_a_withdrawal_read_on_the_stream_counts_before_the_graph_has_it() -> None:
    publisher = MemoryPublisher()
    processor = AlertProcessor(AlertJudge(_handler()), publisher, TOPICS)
    share = event("shared", occurred_at="2026-03-02T10:00:00Z", **ANALYTICS_SHARE)
    earlier = event("shared", occurred_at="2026-02-27T10:00:00Z", **ANALYTICS_SHARE)
    _judge(processor, [_withdrawal("ev-w", "2026-03-01T10:00:00Z")], [share, earlier])
    rules = {(d["event_id"], d["rule"]) for d in publisher.on(ALERTS)}
    assert (share["event_id"], "disclosure-after-withdrawal") in rules
    assert not any(eid == earlier["event_id"] and rule == "disclosure-after-withdrawal" for eid, rule in rules)


def test_consent_and_erasures_the_store_already_has_count_after_a_restart() -> None:
    store = SQLiteGraphStore(":memory:")
    writer = _handler(store)
    recorded = [_withdrawal("ev-w", "2026-03-01T10:00:00Z"), _erasure("ev-x", "2026-03-05T00:00:00Z", "bob@x.org")]
    writer.handle([validate_event(e, writer.taxonomy) for e in recorded])
    publisher = MemoryPublisher()
    processor = AlertProcessor(AlertJudge(_handler(store)), publisher, TOPICS)  # a fresh alerter: no memory
    alice = event("shared", occurred_at="2026-03-02T10:00:00Z", **ANALYTICS_SHARE)
    bob_old = event("shared", subject_id="bob@x.org", occurred_at="2026-03-04T10:00:00Z", **BROKER_SHARE)
    bob_new = event("shared", subject_id="bob@x.org", occurred_at="2026-03-06T10:00:00Z", **BROKER_SHARE)
    _judge(processor, [alice, bob_old, bob_new])
    by_event = {d["event_id"] for d in publisher.on(ALERTS)}
    rules = {d["rule"] for d in publisher.on(ALERTS) if d["event_id"] == alice["event_id"]}
    assert "disclosure-after-withdrawal" in rules
    assert bob_old["event_id"] not in by_event  # erased afterwards: the workers drop it, no alert
    assert bob_new["event_id"] in by_event  # after the erasure: new data, judged


def test_an_erasure_read_on_the_stream_silences_older_events_in_the_same_batch() -> None:
    publisher = MemoryPublisher()
    processor = AlertProcessor(AlertJudge(_handler()), publisher, TOPICS)
    old = event("shared", occurred_at="2026-03-04T10:00:00Z", **BROKER_SHARE)
    new = event("shared", occurred_at="2026-03-06T10:00:00Z", **BROKER_SHARE)
    _judge(processor, [old, _erasure("ev-x", "2026-03-05T00:00:00Z"), new])
    assert {d["event_id"] for d in publisher.on(ALERTS)} == {new["event_id"]}


def test_invalid_messages_are_skipped_and_their_neighbours_judged() -> None:
    publisher = MemoryPublisher()
    processor = AlertProcessor(AlertJudge(_handler()), publisher, TOPICS)
    share = event("shared", **BROKER_SHARE)
    (outcome,) = _judge(processor, [b"{not json", share, b""])
    assert (outcome.judged, outcome.invalid) == (1, 2)
    assert {d["event_id"] for d in publisher.on(ALERTS)} == {share["event_id"]}


def test_the_memory_of_the_stream_is_bounded() -> None:
    judge = AlertJudge(_handler(), memory=3)
    for i in range(5):
        judge.findings([validate_event(_withdrawal(f"ev-w{i}", "2026-03-01T10:00:00Z", f"p{i}@x.org"))])
    assert len(judge._consent) == 3


def test_the_alerter_connects_with_the_workers_security_settings() -> None:
    assert aiokafka_options(Settings())["security_protocol"] == "PLAINTEXT"
    assert "ssl_context" not in aiokafka_options(Settings())
    settings = Settings.from_env(
        {
            "LINEAGE_KAFKA_BOOTSTRAP": "k1:9093, k2:9093",
            "LINEAGE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "LINEAGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "LINEAGE_KAFKA_SASL_USERNAME": "lineage",
            "LINEAGE_KAFKA_SASL_PASSWORD": "s3cret",
        }
    )
    options = aiokafka_options(settings)
    assert options["bootstrap_servers"] == ["k1:9093", "k2:9093"] and options["security_protocol"] == "SASL_SSL"
    assert (options["sasl_mechanism"], options["sasl_plain_username"]) == ("SCRAM-SHA-512", "lineage")
    assert options["sasl_plain_password"] == "s3cret" and options["ssl_context"] is not None  # noqa: S105 - a test value


def test_alerter_settings_from_the_environment() -> None:
    default = Settings.from_env({"LINEAGE_KAFKA_GROUP": "g1"})
    assert default.worker_alerts and default.alerter_group_id == "g1-alerter" and default.alerter_batch_wait == 0.05
    env = {"LINEAGE_WORKER_ALERTS": "0", "LINEAGE_ALERTER_GROUP": "judges", "LINEAGE_ALERTER_BATCH_WAIT": "0.02"}
    settings = Settings.from_env(env)
    assert (settings.worker_alerts, settings.alerter_group_id, settings.alerter_batch_wait) == (False, "judges", 0.02)
    with pytest.raises(ValueError, match="LINEAGE_ALERTER_BATCH_WAIT"):
        Settings.from_env({"LINEAGE_ALERTER_BATCH_WAIT": "soon"})
    with pytest.raises(ValueError, match="LINEAGE_WORKER_ALERTS"):
        Settings.from_env({"LINEAGE_WORKER_ALERTS": "maybe"})


class CountingStore(SQLiteGraphStore):
    """Counts the bulk reads; the per-person reads fail, since judging must never wait on them."""

    def __init__(self) -> None:
        super().__init__(":memory:")
        self.bulk_reads: list[datetime | None] = []

    def consent_and_erasures(self, applied_since: datetime | None = None) -> ConsentLedger:
        self.bulk_reads.append(applied_since)
        return super().consent_and_erasures(applied_since)

    def consent_state(self, subjects: Sequence[str]) -> dict[str, ConsentState]:
        raise AssertionError("the alerter read one person's consent")

    def erasures(self, subjects: Sequence[str] | None) -> dict[str, list[Tombstone]]:
        raise AssertionError("the alerter read one person's erasures")


def test_the_store_is_read_in_bulk_once_then_incrementally_at_each_refresh() -> None:
    store = CountingStore()
    writer = _handler(store)
    judge = AlertJudge(_handler(store))
    shares = [event("shared", occurred_at="2026-03-02T10:00:00Z", **ANALYTICS_SHARE) for _ in range(3)]
    others = [event("shared", subject_id=f"p{i}@x.org", **ANALYTICS_SHARE) for i in range(50)]
    for share in shares:
        assert judge.findings([validate_event(share), *(validate_event(o) for o in others)]) == []
    assert store.bulk_reads == [None] and judge.store_loads == 1  # one read for everyone, not one per person
    # a withdrawal written to the store by other means (not read on this alerter's stream) counts after a refresh
    writer.handle([validate_event(_withdrawal("ev-w", "2026-03-01T10:00:00Z"))])
    assert judge.findings([validate_event(shares[0])]) == []
    judge.refresh = 0.0
    assert [f.rule for f in judge.findings([validate_event(shares[0])])] == ["disclosure-after-withdrawal"]
    assert len(store.bulk_reads) == 2 and store.bulk_reads[1] is not None  # only what was applied since
    assert judge.held == (1, 0)


def test_what_the_store_and_the_stream_know_of_a_person_is_merged_again_when_either_changes() -> None:
    """The alerter merges a person's consent records from the store with those it read on the stream once, not for
    each event: a record that reaches either side later (a refresh, the stream) still counts from then on."""
    store = SQLiteGraphStore(":memory:")
    writer = _handler(store)
    marketing_only = {**_withdrawal("ev-w1", "2026-03-01T10:00:00Z"), "purposes": ["marketing"]}
    writer.handle([validate_event(marketing_only)])
    judge = AlertJudge(_handler(store), refresh=3600.0)
    judge.load()
    share = event("shared", occurred_at="2026-03-06T10:00:00Z", **ANALYTICS_SHARE)
    also_marketing = {**_withdrawal("ev-w2", "2026-03-02T10:00:00Z"), "purposes": ["marketing"]}
    # read on the stream too: the person is known to both sides; neither withdrawal covers analytics
    assert judge.findings([validate_event(also_marketing), validate_event(share)]) == []
    assert judge.findings([validate_event(share)]) == []
    writer.handle([validate_event(_withdrawal("ev-w3", "2026-03-03T10:00:00Z"))])  # every purpose, in the store
    judge.load()  # the refresh
    assert [f.rule for f in judge.findings([validate_event(share)])] == ["disclosure-after-withdrawal"]
    # and on the stream side: a person whose store records cover nothing here withdraws on the stream
    writer.handle(
        [validate_event({**marketing_only, "event_id": "ev-b1", "subject": {**share["subject"], "id": "b@x.org"}})]
    )
    judge.load()
    bob_share = {**share, "subject": {**share["subject"], "id": "b@x.org"}}
    bob_marketing = {**also_marketing, "event_id": "ev-b2", "subject": bob_share["subject"]}
    assert judge.findings([validate_event(bob_marketing), validate_event(bob_share)]) == []
    bob_all = {**_withdrawal("ev-b3", "2026-03-03T10:00:00Z"), "subject": bob_share["subject"]}
    assert [f.rule for f in judge.findings([validate_event(bob_all), validate_event(bob_share)])] == [
        "disclosure-after-withdrawal"
    ]


def test_an_erasure_read_at_a_refresh_drops_the_consent_records_it_deleted() -> None:
    store = SQLiteGraphStore(":memory:")
    writer = _handler(store)
    writer.handle([validate_event(_withdrawal("ev-w", "2026-03-01T10:00:00Z"))])
    judge = AlertJudge(_handler(store), refresh=0.0)
    judge.load()
    assert judge.held == (1, 0)
    writer.handle([validate_event(_erasure("ev-x", "2026-03-05T00:00:00Z"))])
    share = event("shared", occurred_at="2026-03-06T10:00:00Z", **ANALYTICS_SHARE)  # new data, after the erasure
    assert judge.findings([validate_event(share)]) == []  # as the workers: the withdrawal went with the erasure
    assert judge.held == (0, 1)
    old = event("shared", occurred_at="2026-03-04T10:00:00Z", **BROKER_SHARE)
    assert judge.findings([validate_event(old)]) == []  # erased afterwards: no alert


def test_the_alerter_refreshes_beside_the_batches_and_keeps_what_it_holds_while_the_store_is_down() -> None:
    store = SQLiteGraphStore(":memory:")
    judge = AlertJudge(_handler(store), refresh=0.01, inline_refresh=False)
    judge.load()
    _handler(store).handle([validate_event(_withdrawal("ev-w", "2026-03-01T10:00:00Z"))])
    fetch, failures = judge.fetch, [0]

    def flaky_fetch() -> Any:
        if failures[0] < 2:
            failures[0] += 1
            raise StoreUnavailable("down")
        return fetch()

    judge.fetch = flaky_fetch  # type: ignore[method-assign]

    async def scenario() -> None:
        stop = asyncio.Event()
        with ThreadPoolExecutor(1) as executor, ThreadPoolExecutor(1) as reader:
            task = asyncio.create_task(refresh_store_view(judge, executor, reader, stop, retry=0.01))
            for _ in range(500):
                if judge.held == (1, 0):
                    break
                await asyncio.sleep(0.01)
            stop.set()
            await asyncio.wait_for(task, timeout=5)

    asyncio.run(scenario())
    assert failures[0] == 2 and judge.held == (1, 0) and judge.store_loads >= 2


def test_offsets_are_committed_in_batch_order_and_never_past_a_failed_publish() -> None:
    async def scenario() -> tuple[list[int], BaseException | None]:
        loop = asyncio.get_running_loop()
        published = [loop.create_future() for _ in range(4)]
        committed: list[int] = []

        def commit(n: int) -> Any:
            async def done() -> None:
                committed.append(n)

            return done

        chain: list[asyncio.Future[None]] = []
        for n in range(4):
            chain.append(asyncio.ensure_future(deliver_in_order(chain[-1] if chain else None, published[n], commit(n))))
        published[1].set_result(None)  # batch 1's findings are out first: it still waits for batch 0
        await asyncio.sleep(0)
        assert committed == []
        published[0].set_result(None)
        await asyncio.wait_for(asyncio.gather(chain[0], chain[1]), timeout=5)
        published[3].set_result(None)
        published[2].set_exception(ConnectionError("broker gone"))
        results = await asyncio.gather(*chain, return_exceptions=True)
        failure = results[3]
        return committed, failure if isinstance(failure, BaseException) else None

    committed, failure = asyncio.run(scenario())
    assert committed == [0, 1]  # 2 failed, so neither 2 nor 3 (whose findings were out) is committed
    assert isinstance(failure, ConnectionError)


def test_the_alerter_raises_exactly_the_sale_findings_from_opt_outs_it_read_on_the_stream() -> None:
    """The sale-and-sharing cases (tests/rule_cases.py), each event in a batch of its own: the opt-outs are known
    to the alerter from the stream only (it writes nothing), and the sales after them are critical findings."""
    from tests.rule_cases import SALE, SALE_CASES, expected

    publisher = MemoryPublisher()
    processor = AlertProcessor(AlertJudge(_handler()), publisher, TOPICS)
    _judge(processor, *([e] for c in SALE_CASES for e in c.events))
    found = {(d["event_id"], d["rule"], d["severity"]) for d in publisher.on(ALERTS) if d["rule"] == SALE}
    assert found == {(e, r, "critical") for e, rules in expected(SALE_CASES).items() for r in rules}
