"""The Faust agent alone (agent.test_context, no broker): batches applied, poison dead-lettered, commit after write."""

from __future__ import annotations

import asyncio
import base64
import gc
import json
import threading
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import replace
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import Any, cast

import faust
import pytest

from config import Settings
from graph.changes import ChangeSet
from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import ApplyResult, StoreError, StoreUnavailable
from policies import default_policy
from policies.transfers import RecipientRules
from schemas.policy import Policy
from streams.agents import AGENT_NAME
from streams.app import create_worker
from streams.handler import Handler
from streams.messages import MemoryCommitter, MemoryPublisher
from tests.conftest import TEST_KEY
from tests.factories import BROKER, event
from tests.rule_cases import (
    REGISTRY,
    REGISTRY_CASES,
    RETENTION,
    RETENTION_CASES,
    SALE,
    SALE_CASES,
    expected,
    retention_policy,
    stored_rules,
)

DLQ, ALERTS = "t.deadletter", "t.alerts"


class FlakyStore(SQLiteGraphStore):
    """A SQLite store whose next ``failures`` writes raise ``error``."""

    def __init__(self, error: Exception, failures: int) -> None:
        super().__init__(":memory:")
        self.error, self.failures, self.attempts = error, failures, 0

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        self.attempts += 1
        if self.failures > 0:
            self.failures -= 1
            raise self.error
        return super().apply(batch)


def _settings() -> Settings:
    return Settings(
        kafka_events_topic="t.events",
        kafka_deadletter_topic=DLQ,
        kafka_alerts_topic=ALERTS,
        kafka_batch_size=3,
        kafka_batch_wait=0.05,
    )


def _run(
    messages: Sequence[bytes | None],
    store: SQLiteGraphStore | None = None,
    check: Callable[[Any], Awaitable[None]] | None = None,
    settings: Settings | None = None,
    recipients: RecipientRules | None = None,
    policy: Policy | None = None,
) -> tuple[SQLiteGraphStore, MemoryPublisher, MemoryCommitter]:
    """Put ``messages`` through the agent in a test context (one partition, offsets 0, 1, ...)."""
    the_store = store or SQLiteGraphStore(":memory:")
    publisher, committer = MemoryPublisher(), MemoryCommitter()

    handler = Handler(the_store, policy or default_policy(), Pseudonymizer(TEST_KEY), recipients=recipients)
    worker = create_worker(settings or _settings(), handler, publisher=publisher, committer=committer)
    app = worker.app
    app.finalize()
    agent = app.agents[AGENT_NAME]

    def done(tested: Any) -> bool:
        return tested._crash_reason is not None or list(committer.offsets.values()) == [len(messages)]

    async def go() -> None:
        async with agent.test_context() as tested:
            for value in messages:
                await tested.put(value, wait=False)
            await _until(lambda: done(tested))
            if check is not None:
                await check(tested)

    try:
        asyncio.run(go())
    finally:
        worker.executor.shutdown(wait=True)
    return the_store, publisher, committer


async def _until(condition: Callable[[], bool], timeout: float = 5.0) -> None:
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    while not condition():
        if loop.time() > deadline:
            raise AssertionError("timed out")
        await asyncio.sleep(0.01)


def _json(ev: dict[str, Any]) -> bytes:
    return json.dumps(ev).encode()


def test_events_are_applied_in_batches_and_committed() -> None:
    sent = [event(subject_id=f"p{i}@example.com") for i in range(7)]
    store, publisher, committer = _run([_json(e) for e in sent])
    assert store.stats().events == 7
    assert list(committer.offsets.values()) == [7] and committer.commits == 3  # batches of 3, 3, 1
    assert publisher.messages == []


def test_a_replayed_event_is_applied_once() -> None:
    one = _json(event(event_id="ev-replayed"))
    store, _, committer = _run([one, one, _json(event()), one])
    assert store.stats().events == 2
    assert list(committer.offsets.values()) == [4]


def test_poison_messages_go_to_the_dead_letter_topic_and_the_rest_is_applied() -> None:
    bad_contract = event("used", purpose="not.a.purpose", event_id="ev-bad")
    binary = b"\xff\xfe\x00garbage"
    messages = [_json(event()), b"{not json", _json(bad_contract), binary, None, _json(event())]
    store, publisher, committer = _run(messages)
    assert store.stats().events == 2
    letters = publisher.on(DLQ)
    assert [(x["offset"], x["topic"], x["partition"]) for x in letters] == [
        (1, "t.events", 0), (2, "t.events", 0), (3, "t.events", 0), (4, "t.events", 0)
    ]  # fmt: skip
    assert "not valid JSON" in letters[0]["reason"] and letters[0]["raw"] == "{not json"
    assert letters[1]["event_id"] == "ev-bad" and letters[1]["problems"][0]["field"] == "purpose"
    assert json.loads(letters[1]["raw"]) == bad_contract
    assert letters[2]["raw"] == "" and base64.b64decode(letters[2]["raw_base64"]) == binary
    assert letters[3]["reason"].startswith("empty message")
    assert all(x["origin"].startswith("kafka:t.events/0@") for x in letters)
    assert list(committer.offsets.values()) == [6]  # the poison is dealt with: the stream goes on


def test_findings_are_published_to_the_alerts_topic() -> None:
    _, publisher, _ = _run([_json(event("shared", recipient=dict(BROKER), event_id="ev-to-broker"))])
    (alert,) = publisher.on(ALERTS)
    assert alert["event_id"] == "ev-to-broker" and alert["recipient_id"] == "brokr"
    assert alert["alert_id"].startswith("a_") and alert["subject"].startswith("p_")
    (key,) = [k for topic, k, _ in publisher.messages if topic == ALERTS]
    assert key is not None and b"example.com" not in key


def test_with_an_alerter_deployed_the_worker_stores_findings_but_leaves_the_topic_to_it() -> None:
    shared = _json(event("shared", recipient=dict(BROKER), event_id="ev-to-broker"))
    store, publisher, _ = _run([shared], settings=replace(_settings(), worker_alerts=False))
    assert publisher.on(ALERTS) == []
    assert [a.recipient for a in store.alerts()] == ["brokr"]


def test_the_worker_feeds_the_same_alert_sinks_as_ingest() -> None:
    """One code path for alerts: the worker hands its findings to the AlertDispatcher (here a real webhook)."""
    received: list[dict[str, Any]] = []

    class Hook(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            received.append(json.loads(self.rfile.read(int(self.headers["Content-Length"]))))
            self.send_response(204)
            self.end_headers()

        def log_message(self, *args: Any) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        hook = f"http://127.0.0.1:{server.server_port}/hook"
        settings = replace(_settings(), alert_webhook_url=hook, alert_log=False)
        _run([_json(event("shared", recipient=dict(BROKER), event_id="hooked"))], settings=settings)
        deadline = time.monotonic() + 10
        while not received and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        server.shutdown()
    (body,) = received
    assert "hooked" in json.dumps(body)
    assert "alice@example.com" not in json.dumps(body)


def test_an_unavailable_store_is_retried_and_the_batch_committed_only_after_the_write() -> None:
    store = FlakyStore(StoreUnavailable("database is locked"), failures=2)

    async def check(tested: Any) -> None:
        assert store.attempts == 3

    _, _, committer = _run([_json(event()), _json(event())], store=store, check=check)
    assert store.stats().events == 2
    assert list(committer.offsets.values()) == [2] and committer.commits == 1


def test_a_failing_write_crashes_the_agent_and_commits_nothing() -> None:
    # a store reports its own failures (a full disk, a corrupt file) as StoreError: the store's fault, not the
    # events', so nothing is dead-lettered and the worker stops (to be restarted) without committing
    store = FlakyStore(StoreError("disk full (SQLITE_FULL; not transient, retrying will not help)"), failures=1_000)

    async def check(tested: Any) -> None:
        assert isinstance(tested._crash_reason, StoreError)
        await asyncio.sleep(0.2)  # time for anything that would (wrongly) go on after the crash

    _, publisher, committer = _run([_json(event()), _json(event()), b"{bad"], store=store, check=check)
    assert store.attempts == 1
    assert committer.offsets == {} and committer.commits == 0
    assert store.stats().events == 0 and publisher.messages == []


class CyclingStore(SQLiteGraphStore):
    """A SQLite store that logs each write and leaves garbage in cycles behind it (enough to set off the collector
    many times over, were it running), and whose first ``failures`` writes raise StoreUnavailable."""

    def __init__(self, log: list[str], failures: int = 0) -> None:
        super().__init__(":memory:")
        self.log, self.failures = log, failures

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        self.log.append("write")
        for _ in range(5000):
            cycle: list[Any] = []
            cycle.append(cycle)
        self.log.append("written")
        if self.failures > 0:
            self.failures -= 1
            raise StoreUnavailable("database is locked")
        return super().apply(batch)


def _collections(log: list[str]) -> Callable[[str, dict[str, int]], None]:
    def on_collect(phase: str, info: dict[str, int]) -> None:
        if phase == "start":
            log.append(f"gc{info['generation']}")

    return on_collect


def test_the_collector_is_paused_while_a_batch_is_written_and_runs_once_it_is_done() -> None:
    log: list[str] = []
    on_collect = _collections(log)
    gc.callbacks.append(on_collect)
    try:
        store, _, committer = _run([_json(event(event_id=f"c{i}")) for i in range(9)], store=CyclingStore(log))
    finally:
        gc.callbacks.remove(on_collect)
    assert gc.isenabled()
    assert store.stats().events == 9 and committer.commits == 3
    writes = [i for i, step in enumerate(log) if step == "write"]
    assert len(writes) == 3
    for i in writes:  # 5,000 cycles made, and no collection until the write is over
        assert log[i + 1] == "written"
    # each batch's garbage is collected after it, before the next batch is written
    for a, b in zip(writes, [*writes[1:], len(log)], strict=True):
        assert "gc1" in log[a:b] or "gc2" in log[a:b]


def test_a_batch_held_through_an_outage_has_each_failed_try_collected() -> None:
    log: list[str] = []
    on_collect = _collections(log)
    gc.callbacks.append(on_collect)
    try:
        store, _, _ = _run([_json(event())], store=CyclingStore(log, failures=2))
    finally:
        gc.callbacks.remove(on_collect)
    assert store.stats().events == 1
    writes = [i for i, step in enumerate(log) if step == "write"]
    assert len(writes) == 3  # two failed tries, then the write
    for a, b in zip(writes, writes[1:], strict=False):  # the collector is paused, yet each try's garbage is collected
        assert any(step.startswith("gc") for step in log[a:b])


def test_a_collector_the_caller_disabled_stays_disabled() -> None:
    gc.disable()
    try:
        store, _, _ = _run([_json(event(event_id=f"d{i}")) for i in range(4)])
        assert not gc.isenabled()
    finally:
        gc.enable()
    assert store.stats().events == 4


class PoisonStore(SQLiteGraphStore):
    """A SQLite store whose write of one event raises, as a bug in writing that one event would."""

    def __init__(self, poison: str) -> None:
        super().__init__(":memory:")
        self.poison = poison

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        if any(cs.event.event_id == self.poison for cs in batch):
            raise OverflowError("date value out of range")
        return super().apply(batch)


def test_a_poison_event_is_dead_lettered_alone_and_its_batch_goes_on() -> None:
    sent = [event(event_id=f"k{i}") for i in range(7)]
    store, publisher, committer = _run([_json(e) for e in sent], store=PoisonStore("k4"))
    assert store.processed([e["event_id"] for e in sent]) == {f"k{i}" for i in range(7)} - {"k4"}
    (letter,) = publisher.on(DLQ)
    assert (letter["offset"], letter["event_id"]) == (4, "k4")
    assert letter["reason"].startswith("could not be stored: internal error (OverflowError")
    assert json.loads(letter["raw"])["event_id"] == "k4"
    assert list(committer.offsets.values()) == [7]  # the partition moves on


def test_app_factory_has_no_global_state_and_honours_settings() -> None:
    def handler() -> Handler:
        return Handler(SQLiteGraphStore(":memory:"), default_policy(), Pseudonymizer(TEST_KEY))

    worker_a = create_worker(_settings(), handler())
    worker_b = create_worker(Settings(kafka_group="other", kafka_bootstrap="h1:9092,h2:9092"), handler())
    a, b = worker_a.app, worker_b.app
    assert isinstance(a, faust.App) and a is not b
    assert a.conf.id == "privacy-lineage" and b.conf.id == "other"
    assert [str(u) for u in b.conf.broker] == ["kafka://h1:9092", "kafka://h2:9092"]
    assert a.conf.web_enabled is False
    assert a.conf.consumer_auto_offset_reset == "earliest"
    worker_a.release()
    worker_b.release()


class RetriedStore(SQLiteGraphStore):
    """A SQLite store each of whose writes reports that it ran once more (as Neo4j's driver does after a deadlock)."""

    def apply(self, batch: Sequence[ChangeSet]) -> ApplyResult:
        return replace(super().apply(batch), retries=1)


def test_the_stores_write_retries_are_counted_in_the_health_file(tmp_path: Path) -> None:
    from streams.health import read_health

    health = tmp_path / "health.json"
    sent = [event(subject_id=f"p{i}@example.com") for i in range(7)]
    settings = replace(_settings(), worker_health_file=health)
    store, _, committer = _run([_json(e) for e in sent], store=RetriedStore(":memory:"), settings=settings)
    assert store.stats().events == 7
    assert read_health(health)["write_retries"] == committer.commits == 3  # batches of 3, 3, 1


def test_the_worker_service_reports_running_and_releases_what_it_holds_when_stopped(tmp_path: Path) -> None:
    """The app starts and stops the service with itself; here it is started and stopped alone (no broker)."""
    store = SQLiteGraphStore(tmp_path / "lineage.db")
    health_file = tmp_path / "health.json"
    settings = replace(_settings(), worker_health_file=health_file)
    worker = create_worker(settings, Handler(store, default_policy(), Pseudonymizer(TEST_KEY)))

    async def run() -> str:
        await worker.start()
        running = json.loads(health_file.read_text())["status"]
        await worker.stop()
        return str(running)

    assert asyncio.run(run()) == "ok"
    assert json.loads(health_file.read_text())["status"] == "stopped"
    with pytest.raises(RuntimeError):  # the writer thread is gone
        worker.executor.submit(print)
    with pytest.raises(StoreError):  # and the store is closed
        store.stats()
    worker.release()  # a second release does nothing


@pytest.mark.parametrize("protocol", ["SASL_PLAINTEXT", "SSL"])
def test_security_settings_become_faust_credentials(protocol: str) -> None:
    from streams.kafka_clients import broker_credentials

    settings = Settings(kafka_security_protocol=protocol, kafka_sasl_username="u", kafka_sasl_password="p")  # noqa: S106
    credentials = broker_credentials(settings)
    assert credentials.protocol.value == protocol
    assert broker_credentials(Settings()) is None


class _QueueChannel:
    """What channel_batches needs of a Faust topic: iterating it gives a channel with a queue."""

    def __init__(self) -> None:
        self.queue: asyncio.Queue[int] = asyncio.Queue()

    def __aiter__(self) -> _QueueChannel:
        return self

    async def __anext__(self) -> int:
        return await self.queue.get()


def test_channel_batches_fill_up_to_the_size_or_close_after_the_wait() -> None:
    from streams.agents import channel_batches

    async def scenario() -> list[tuple[list[int], float]]:
        channel = _QueueChannel()
        for i in range(7):
            channel.queue.put_nowait(i)
        batches = channel_batches(channel, 3, 0.2)
        out = []
        for _ in range(2):
            start = time.monotonic()
            out.append((await anext(batches), time.monotonic() - start))
        # a batch that does not fill waits for more, here for one that comes later
        asyncio.get_running_loop().call_later(0.05, channel.queue.put_nowait, 7)
        start = time.monotonic()
        out.append((await anext(batches), time.monotonic() - start))
        await cast(Any, batches).aclose()
        return out

    got = asyncio.run(scenario())
    assert [batch for batch, _ in got] == [[0, 1, 2], [3, 4, 5], [6, 7]]
    assert got[0][1] < 0.1 and got[1][1] < 0.1  # full batches do not wait
    assert 0.15 < got[2][1] < 0.5  # [6] waited for the batch's 0.2 s and took 7 on the way


def test_the_fetch_consumer_is_used_only_with_the_faust_loop_it_was_adapted_from(
    caplog: pytest.LogCaptureFixture,
) -> None:
    from streams.faust_consumer import ADAPTED_FROM, FetchConsumer, faust_loop_fingerprint, use_fetch_consumer

    # the installed Faust is the one the adaptation was made from (when this fails, re-read Faust's loop and
    # re-adapt streams/faust_consumer.py before moving ADAPTED_FROM)
    assert faust_loop_fingerprint() == ADAPTED_FROM

    handler = Handler(SQLiteGraphStore(":memory:"), default_policy(), Pseudonymizer(TEST_KEY))
    worker = create_worker(_settings(), handler)
    app = worker.app
    assert app.transport.Consumer is FetchConsumer
    worker.release()

    other = faust.App("other-faust", broker="kafka://127.0.0.1:9092", autodiscover=False, web_enabled=False)
    assert use_fetch_consumer(other, fingerprint="0" * 64) is False
    assert other.transport.Consumer is not FetchConsumer
    assert "uses Faust's own consumer" in caplog.text


def test_the_fetch_loop_gives_way_to_fausts_when_a_topic_has_acks() -> None:
    """The adapted loop leaves out Faust's ack bookkeeping: it runs only while no consumed topic acks."""
    from streams.faust_consumer import acking

    app = faust.App("acks-faust", broker="kafka://127.0.0.1:9092", autodiscover=False, web_enabled=False)
    app.topics.add(app.topic("t.events", acks=False))  # the worker's events topic: it commits by itself
    assert acking(app) is False
    app.topics.add(app.topic("t.other"))  # Faust's default: acks on
    assert acking(app) is True


def test_the_worker_raises_exactly_the_registry_rules_and_publishes_them() -> None:
    sent = [_json(e) for c in REGISTRY_CASES for e in c.events]
    store, publisher, _ = _run(sent, recipients=RecipientRules(REGISTRY))
    assert stored_rules(store.alerts(), REGISTRY_CASES) == expected(REGISTRY_CASES)
    published = {(m["event_id"], m["rule"]) for m in publisher.on(ALERTS)}
    assert published == {(e, r) for e, rules in expected(REGISTRY_CASES).items() for r in rules}


def test_the_worker_raises_exactly_the_retention_findings_and_publishes_them() -> None:
    sent = [_json(e) for c in RETENTION_CASES for e in c.events]
    store, publisher, _ = _run(sent, policy=retention_policy())
    rules = {e: r & {RETENTION} for e, r in stored_rules(store.alerts(), RETENTION_CASES).items()}
    assert rules == expected(RETENTION_CASES)
    published = {(m["event_id"], m["rule"]) for m in publisher.on(ALERTS) if m["rule"] == RETENTION}
    assert published == {(e, r) for e, rules in expected(RETENTION_CASES).items() for r in rules}


def test_the_worker_raises_exactly_the_sale_findings_and_publishes_them() -> None:
    sent = [_json(e) for c in SALE_CASES for e in c.events]
    store, publisher, _ = _run(sent)
    rules = {e: r & {SALE} for e, r in stored_rules(store.alerts(), SALE_CASES).items()}
    assert rules == expected(SALE_CASES)
    published = {(m["event_id"], m["rule"], m["severity"]) for m in publisher.on(ALERTS) if m["rule"] == SALE}
    assert published == {(e, r, "critical") for e, rules in expected(SALE_CASES).items() for r in rules}
