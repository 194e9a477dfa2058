"""Against the real broker (docker/local/kafka.sh): emitter -> topic -> `lineage worker` -> graph, topics per test."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from graph.pseudonym import Pseudonymizer, key_from_text
from graph.sqlite_store import SQLiteGraphStore
from lineage.simulator import registry_yaml, simulate, simulated_registry
from policies import default_policy
from policies.transfers import RecipientRules
from streams.deadletter import MemoryDeadLetters
from streams.embedded import ingest_lines
from streams.emitter import Emitter
from streams.event_sinks import KafkaSink, partition_key
from streams.handler import Handler
from streams.topics import TopicNames, create_topics
from tests.factories import event
from tests.rule_cases import (
    REGISTRY_CASES,
    RETENTION,
    RETENTION_CASES,
    SALE,
    SALE_CASES,
    expected,
    registry_file,
    retention_policy,
    stored_rules,
)
from tests.services import read_topic, require

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get("LINEAGE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")
KEY = "6b" * 32
REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def broker() -> str:
    try:
        from kafka import KafkaAdminClient  # type: ignore[import-untyped]
    except ImportError:
        pytest.skip("kafka-python is not installed")
    try:
        admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=3000, bootstrap_timeout_ms=3000)
        admin.list_topics()
        admin.close()
    except Exception as exc:  # kafka-python raises several kinds when nothing listens
        require("Kafka", f"no broker answers on {BOOTSTRAP} ({type(exc).__name__}: {exc})")
    return BOOTSTRAP


@dataclass
class Deployment:
    """One test's topics, consumer group, SQLite store and the workers started on them."""

    settings: Settings
    folder: Path
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    extra: dict[str, str] = field(default_factory=dict)  # more LINEAGE_* settings for the workers

    @property
    def topics(self) -> TopicNames:
        return TopicNames.from_settings(self.settings)

    def env(self) -> dict[str, str]:
        s = self.settings
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
        env.update(
            LINEAGE_STORE=s.store,
            LINEAGE_PSEUDONYM_KEY=KEY,
            LINEAGE_KAFKA_BOOTSTRAP=s.kafka_bootstrap,
            LINEAGE_KAFKA_EVENTS_TOPIC=s.kafka_events_topic,
            LINEAGE_KAFKA_DEADLETTER_TOPIC=s.kafka_deadletter_topic,
            LINEAGE_KAFKA_ALERTS_TOPIC=s.kafka_alerts_topic,
            LINEAGE_KAFKA_GROUP=s.kafka_group,
            LINEAGE_KAFKA_BATCH_SIZE=str(s.kafka_batch_size),
            LINEAGE_KAFKA_BATCH_WAIT=str(s.kafka_batch_wait),
            LINEAGE_KAFKA_SESSION_TIMEOUT=str(s.kafka_session_timeout),
            LINEAGE_ALERT_LOG="0",
            LINEAGE_LOG_LEVEL="WARNING",
            LINEAGE_RECIPIENTS=str(self.registry()),
            PYTHONPATH=str(REPO),
        )
        env.update(self.extra)
        return env

    def registry(self) -> Path:
        """The simulated world's recipient registry, which the workers judge transfers against."""
        path = self.folder / "recipients.yaml"
        if not path.exists():
            path.write_text(registry_yaml(), encoding="utf-8")
        return path

    def start_worker(self, command: str = "worker", *extra: str) -> subprocess.Popen[bytes]:
        log = (self.folder / f"worker-{len(self.workers)}.log").open("wb")
        proc = subprocess.Popen(  # noqa: S603 - our own CLI, fixed arguments
            [sys.executable, "-m", "lineage.cli", command, *extra],
            env=self.env(),
            cwd=self.folder,
            stdout=log,
            stderr=log,
        )
        self.workers.append(proc)
        return proc

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.folder.glob("worker-*.log")))

    def store(self) -> SQLiteGraphStore:
        return SQLiteGraphStore(self.settings.store[len("sqlite:///") :])

    def emitter(self) -> Emitter:
        return Emitter(KafkaSink(self.settings), default_policy().taxonomy(), emitted_by="integration-test")

    def wait_for(self, what: str, condition: Callable[[], bool], timeout: float = 30.0) -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            for proc in self.workers:
                if proc.poll() not in (None, 0, -signal.SIGKILL, -signal.SIGTERM):
                    pytest.fail(f"worker exited with {proc.returncode} while waiting for {what}:\n{self.logs()}")
            if time.monotonic() > deadline:
                pytest.fail(f"timed out after {timeout:.0f} s waiting for {what}; worker logs:\n{self.logs()}")
            time.sleep(0.1)

    def read_topic(self, topic: str, expected: int, timeout: float = 15.0) -> list[Any]:
        return read_topic(self.settings.kafka_bootstrap, topic, expected, timeout)

    def stop_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
        for proc in self.workers:
            try:
                proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()


@pytest.fixture
def deployment(broker: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Deployment]:
    unique = f"it-{request.node.name.removeprefix('test_')[:24]}-{uuid.uuid4().hex[:8]}".replace("_", "-")
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'lineage.db'}",
        pseudonym_key=KEY,
        kafka_bootstrap=broker,
        kafka_events_topic=f"{unique}.events",
        kafka_deadletter_topic=f"{unique}.deadletter",
        kafka_alerts_topic=f"{unique}.alerts",
        kafka_group=unique,
        kafka_batch_size=50,
        kafka_batch_wait=0.1,
        kafka_session_timeout=6.0,  # the broker's minimum: a killed worker's partitions move on quickly
    )
    create_topics(settings, partitions=3, replication=1)
    dep = Deployment(settings, tmp_path)
    yield dep
    dep.stop_workers()
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker)
    for tidy in (lambda: admin.delete_topics(list(dep.topics.all())), lambda: admin.delete_groups([unique])):
        try:
            tidy()
        except Exception:  # noqa: S112 - tidying up only; unique names never clash
            continue
    admin.close()


def _embedded(events: list[dict[str, Any]]) -> tuple[SQLiteGraphStore, int]:
    """The same events through the embedded runner: the reference answer, and its number of findings."""
    store = SQLiteGraphStore(":memory:")
    rules = RecipientRules(simulated_registry())  # as the workers judge (LINEAGE_RECIPIENTS)
    handler = Handler(store, default_policy(), Pseudonymizer(key_from_text(KEY)), recipients=rules)
    report = ingest_lines((json.dumps(e) for e in events), handler, MemoryDeadLetters())
    assert report.rejected == 0
    return store, len(report.findings)


def _same_graph(store: SQLiteGraphStore, reference: SQLiteGraphStore, subjects: set[str]) -> None:
    key = Pseudonymizer(key_from_text(KEY))
    assert store.stats() == reference.stats()
    for subject in sorted(subjects):
        assert store.who_has(key(subject)) == reference.who_has(key(subject)), subject


def test_events_emitted_through_the_sdk_end_up_in_the_graph(deployment: Deployment) -> None:
    sims = [s.event for s in simulate(12, 3, seed=5, undeclared_rate=0.05)]
    deployment.start_worker()
    with deployment.emitter() as emitter:
        for ev in sims:
            emitter.emit(ev)
    store = deployment.store()
    deployment.wait_for(f"{len(sims)} events in the store", lambda: store.stats().events == len(sims))
    reference, findings = _embedded(sims)
    _same_graph(store, reference, {e["subject"]["id"] for e in sims})
    alerts = deployment.read_topic(deployment.topics.alerts, findings)
    assert findings > 0 and len(alerts) == findings
    assert all(r.key.startswith(b"p_") and b"@" not in r.key for r in alerts)  # pseudonyms, not ids


def test_the_alerter_alerts_before_the_graph_has_the_events_and_the_worker_does_not_repeat_them(
    deployment: Deployment,
) -> None:
    sims = [s.event for s in simulate(12, 3, seed=5, undeclared_rate=0.05)]
    _, findings = _embedded(sims)
    deployment.start_worker("alerter")  # no worker yet: nothing reaches the graph
    with deployment.emitter() as emitter:
        for ev in sims:
            emitter.emit(ev)
    alerts = deployment.read_topic(deployment.topics.alerts, findings, timeout=60)
    assert findings > 0 and len(alerts) == findings
    store = deployment.store()
    assert store.stats().events == 0
    deployment.start_worker("worker", "--no-alerts-topic")
    deployment.wait_for(f"{len(sims)} events in the store", lambda: store.stats().events == len(sims))
    assert len(store.alerts()) > 0
    assert len(deployment.read_topic(deployment.topics.alerts, findings + 1, timeout=3)) == findings


def test_records_not_keyed_by_their_person_are_applied_counted_and_said_once(
    deployment: Deployment, tmp_path: Path
) -> None:
    """docs/wire.md: a record without its person's key, or on a partition other than its key's (another client's
    partitioner), is applied all the same; the worker counts it in its health file and says so in one log line that
    names places, never ids or keys."""
    from kafka import KafkaProducer

    from streams.health import read_health
    from streams.key_check import key_partition

    health = tmp_path / "health.json"
    base_env = deployment.env
    deployment.env = lambda: {**base_env(), "LINEAGE_WORKER_HEALTH_FILE": str(health)}  # type: ignore[method-assign]
    topic = deployment.settings.kafka_events_topic
    keyed = [event(subject_id=f"in-place-{i}@example.com") for i in range(12)]
    with deployment.emitter() as emitter:
        for ev in keyed:
            emitter.emit(ev)
    who = "misplaced@example.com"
    key = partition_key(who)
    misplaced = [
        (None, 0),  # no key
        (None, 2),
        (who.encode(), key_partition(who.encode(), 3)),  # the raw id as the key
        (key, (key_partition(key, 3) + 1) % 3),  # the right key, another partitioner's partition
    ]
    raw = [event(subject_id=who) for _ in misplaced]
    producer = KafkaProducer(bootstrap_servers=deployment.settings.kafka_bootstrap)
    for ev, (k, partition) in zip(raw, misplaced, strict=True):
        producer.send(topic, key=k, value=json.dumps(ev).encode(), partition=partition)
    producer.flush()
    producer.close()

    deployment.start_worker()
    store = deployment.store()
    everything = [e["event_id"] for e in keyed + raw]
    deployment.wait_for("every event applied", lambda: store.processed(everything) == set(everything))
    deployment.wait_for("the health file's count", lambda: read_health(health)["misplaced"] == len(misplaced), 10)
    said = [line for line in deployment.logs().splitlines() if "not keyed as docs/wire.md defines" in line]
    assert len(said) == 1, deployment.logs()
    assert f"{topic}/" in said[0] and "without a key" in said[0]
    logs = deployment.logs()
    assert who not in logs and key.decode() not in logs and "in-place-" not in logs


def test_a_poison_message_goes_to_the_dead_letter_topic_and_the_stream_goes_on(deployment: Deployment) -> None:
    from kafka import KafkaProducer

    subject = "poison-neighbour@example.com"
    good = [event("used", subject_id=subject, event_id=f"ev-around-{uuid.uuid4().hex[:8]}-{i}") for i in range(4)]
    bad_contract = event("shared", subject_id=subject, recipient={"id": "x"}, event_id="ev-poison-contract")
    key = partition_key(subject)  # all on one partition, in this order
    producer = KafkaProducer(bootstrap_servers=deployment.settings.kafka_bootstrap)
    for value in [good[0], b"{not json at all", good[1], bad_contract, good[2], b"\xff\xfe binary", good[3]]:
        raw = value if isinstance(value, bytes) else json.dumps(value).encode()
        producer.send(deployment.settings.kafka_events_topic, key=key, value=raw)
    producer.flush()
    producer.close()
    deployment.start_worker()
    store = deployment.store()
    deployment.wait_for("the 4 good events", lambda: store.stats().events == 4)
    letters = [json.loads(r.value) for r in deployment.read_topic(deployment.topics.deadletter, 3)]
    assert len(letters) == 3
    assert [x["offset"] for x in letters] == [1, 3, 5]
    assert "not valid JSON" in letters[0]["reason"] and letters[0]["raw"] == "{not json at all"
    assert letters[1]["event_id"] == "ev-poison-contract"
    assert {p["field"] for p in letters[1]["problems"]} >= {"recipient.name", "recipient.type"}
    assert json.loads(letters[1]["raw"]) == bad_contract
    assert letters[2]["raw_base64"] and letters[2]["topic"] == deployment.settings.kafka_events_topic
    assert store.processed([e["event_id"] for e in good]) == {e["event_id"] for e in good}


def test_the_worker_raises_exactly_the_registry_rules(deployment: Deployment) -> None:
    """The registry rules' must-alert and must-stay-silent cases (tests/rule_cases.py: transfers, country mismatches,
    new recipients) through `lineage worker` on the real broker, in order on one partition, judged against the cases'
    registry: the stored alerts and the alerts topic name exactly the expected rules for exactly those events."""
    from kafka import KafkaProducer

    registry_file(deployment.folder)  # the cases' registry, where the workers' LINEAGE_RECIPIENTS points
    events = [e for c in REGISTRY_CASES for e in c.events]
    producer = KafkaProducer(bootstrap_servers=deployment.settings.kafka_bootstrap)
    for e in events:
        producer.send(deployment.settings.kafka_events_topic, key=b"rule-cases", value=json.dumps(e).encode())
    producer.flush()
    producer.close()
    deployment.start_worker()
    store = deployment.store()
    deployment.wait_for(f"the {len(events)} events", lambda: store.stats().events == len(events))
    assert stored_rules(store.alerts(), REGISTRY_CASES) == expected(REGISTRY_CASES)
    want = {(e, r) for e, rules in expected(REGISTRY_CASES).items() for r in rules}
    records = deployment.read_topic(deployment.topics.alerts, len(want))
    assert {(json.loads(r.value)["event_id"], json.loads(r.value)["rule"]) for r in records} == want
    assert len(records) == len(want)


def test_the_worker_raises_exactly_the_retention_findings(deployment: Deployment) -> None:
    """The retention cases (tests/rule_cases.py) through `lineage worker` on the real broker under a policy declaring
    periods (LINEAGE_POLICY): the findings stored and on the alerts topic are exactly the expected ones."""
    import yaml
    from kafka import KafkaProducer

    policy = deployment.folder / "policy.yaml"
    policy.write_text(yaml.safe_dump(retention_policy().model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    base = deployment.env
    deployment.env = lambda: {**base(), "LINEAGE_POLICY": str(policy)}  # type: ignore[method-assign]
    events = [e for c in RETENTION_CASES for e in c.events]
    producer = KafkaProducer(bootstrap_servers=deployment.settings.kafka_bootstrap)
    for e in events:  # one person's events in order on one partition, as their producer would send them
        producer.send(
            deployment.settings.kafka_events_topic, key=e["subject"]["id"].encode(), value=json.dumps(e).encode()
        )
    producer.flush()
    producer.close()
    deployment.start_worker()
    store = deployment.store()
    deployment.wait_for(f"the {len(events)} events", lambda: store.stats().events == len(events))
    rules = {e: r & {RETENTION} for e, r in stored_rules(store.alerts(), RETENTION_CASES).items()}
    assert rules == expected(RETENTION_CASES)
    want = {(e, r) for e, rs in expected(RETENTION_CASES).items() for r in rs}
    deadline = time.monotonic() + 20  # the alerts topic may hold other rules' findings too: wait for these
    found: set[tuple[str, str]] = set()
    while found != want and time.monotonic() < deadline:
        records = [json.loads(r.value) for r in deployment.read_topic(deployment.topics.alerts, 10**6, 2)]
        found = {(d["event_id"], d["rule"]) for d in records if d["rule"] == RETENTION}
    assert found == want


def test_the_worker_raises_exactly_the_sale_findings(deployment: Deployment) -> None:
    """The sale-and-sharing cases (tests/rule_cases.py) through `lineage worker` on the real broker, each person's
    events in order on one partition: the critical findings stored and on the alerts topic are exactly the expected
    ones, and the opt-outs are stored with their signal."""
    from kafka import KafkaProducer

    events = [e for c in SALE_CASES for e in c.events]
    producer = KafkaProducer(bootstrap_servers=deployment.settings.kafka_bootstrap)
    for e in events:
        producer.send(
            deployment.settings.kafka_events_topic, key=e["subject"]["id"].encode(), value=json.dumps(e).encode()
        )
    producer.flush()
    producer.close()
    deployment.start_worker()
    store = deployment.store()
    deployment.wait_for(f"the {len(events)} events", lambda: store.stats().events == len(events))
    rules = {e: r & {SALE} for e, r in stored_rules(store.alerts(), SALE_CASES).items()}
    assert rules == expected(SALE_CASES)
    assert {r.signal for r in store.consent_and_erasures().consent} == {"gpc", "user_request"}
    want = {(e, r) for e, rs in expected(SALE_CASES).items() for r in rs}
    deadline = time.monotonic() + 20  # the alerts topic holds other rules' findings too: wait for these
    found: set[tuple[str, str]] = set()
    while found != want and time.monotonic() < deadline:
        records = [json.loads(r.value) for r in deployment.read_topic(deployment.topics.alerts, 10**6, 2)]
        found = {(d["event_id"], d["rule"]) for d in records if d["rule"] == SALE}
    assert found == want


def _produce_steadily(
    deployment: Deployment, events: list[dict[str, Any]], *, pause: float
) -> tuple[threading.Event, list[BaseException]]:
    """Emit ``events`` from a thread, 25 at a time with ``pause`` seconds between; set the event when done."""
    produced = threading.Event()
    failures: list[BaseException] = []

    def produce() -> None:
        try:
            with deployment.emitter() as emitter:
                for i, ev in enumerate(events):
                    emitter.emit(ev)
                    if i % 25 == 24:
                        emitter.flush()
                        time.sleep(pause)
        except BaseException as exc:  # noqa: BLE001 - reported by the test thread
            failures.append(exc)
        finally:
            produced.set()

    threading.Thread(target=produce, daemon=True).start()
    return produced, failures


def test_stopping_the_worker_mid_stream_neither_loses_nor_doubles(deployment: Deployment) -> None:
    sims = [s.event for s in simulate(20, 4, seed=11)]
    store = deployment.store()
    first = deployment.start_worker()
    produced, failures = _produce_steadily(deployment, sims, pause=0.05)  # a steady stream over a few seconds
    deployment.wait_for("the first worker to apply some events", lambda: store.stats().events >= len(sims) // 5)
    first.send_signal(signal.SIGKILL)  # a crash, mid-stream: no clean shutdown, no final commit
    first.wait(timeout=10)
    at_kill = store.stats().events
    deployment.start_worker()
    assert produced.wait(timeout=60) and not failures, failures
    deployment.wait_for(f"all {len(sims)} events", lambda: store.stats().events >= len(sims), timeout=45)
    time.sleep(0.5)  # anything doubled would show up now
    assert 0 < at_kill < len(sims), "the worker was not stopped mid-stream"
    assert store.stats().events == len(sims)
    reference, _ = _embedded(sims)
    _same_graph(store, reference, {e["subject"]["id"] for e in sims})


def test_a_worker_joining_mid_stream_takes_partitions_over_without_losing_or_doubling(deployment: Deployment) -> None:
    """A rebalance under load: the first worker's flow is suspended mid-fetch (streams/faust_consumer.py) while a
    second joins; every event lands once, and the group's committed offsets reach the end of every partition."""

    sims = [s.event for s in simulate(40, 4, seed=13)]
    store = deployment.store()
    deployment.start_worker()
    # a steady stream for several seconds: the second worker joins during it
    produced, failures = _produce_steadily(deployment, sims, pause=0.15)
    deployment.wait_for("the first worker to apply some events", lambda: store.stats().events >= len(sims) // 5)
    at_join = store.stats().events
    deployment.start_worker()
    assert produced.wait(timeout=60) and not failures, failures
    deployment.wait_for(f"all {len(sims)} events", lambda: store.stats().events >= len(sims), timeout=60)
    assert all(w.poll() is None for w in deployment.workers), deployment.logs()
    assert at_join < len(sims), "the second worker joined after the stream"
    assert store.stats().events == len(sims)
    reference, _ = _embedded(sims)
    _same_graph(store, reference, {e["subject"]["id"] for e in sims})

    _wait_until_consumed(deployment)


def _wait_until_consumed(deployment: Deployment) -> None:
    """Until the group's committed offsets reach the end of every partition of the events topic."""
    from kafka import KafkaConsumer, TopicPartition

    topic = deployment.settings.kafka_events_topic
    probe = KafkaConsumer(
        bootstrap_servers=deployment.settings.kafka_bootstrap, group_id=deployment.settings.kafka_group
    )
    try:
        partitions = [TopicPartition(topic, p) for p in sorted(probe.partitions_for_topic(topic) or ())]
        ends = probe.end_offsets(partitions)

        def all_committed() -> bool:
            return all((probe.committed(tp) or 0) >= ends[tp] for tp in partitions)

        deployment.wait_for("the group's offsets at the end of every partition", all_committed, timeout=15)
    finally:
        probe.close()


def test_the_worker_sends_the_notices_of_an_erasure_event_once(deployment: Deployment) -> None:
    """LINEAGE_NOTIFY_ERASURES: an `erased` event on the topic, applied by `lineage worker`, sends each recipient of
    the person's data its Art. 19 notice through the configured sink, recorded in the store; the same erasure
    produced again is a duplicate and sends nothing more."""
    from kafka import KafkaProducer

    from tests.contract.test_erasure import ALICE, ERASURE, alice_before

    outbox = deployment.folder / "outbox"
    deployment.extra = {"LINEAGE_NOTIFY_ERASURES": "file", "LINEAGE_NOTICE_DIR": str(outbox)}
    producer = KafkaProducer(bootstrap_servers=deployment.settings.kafka_bootstrap)
    for e in [*alice_before(), ERASURE]:  # one key: in order on one partition
        producer.send(deployment.settings.kafka_events_topic, key=b"alice", value=json.dumps(e).encode())
    producer.flush()
    deployment.start_worker()
    store = deployment.store()
    pseudonym = Pseudonymizer(key_from_text(KEY))(ALICE)
    deployment.wait_for("the notices", lambda: len(store.notices(pseudonym)) == 2)
    producer.send(deployment.settings.kafka_events_topic, key=b"alice", value=json.dumps(ERASURE).encode())
    producer.flush()  # the erasure again, in a batch of its own: a duplicate
    producer.close()
    _wait_until_consumed(deployment)
    assert sorted(r.recipient for r in store.notices(pseudonym)) == ["brokr", "hk-affiliate"]
    assert {r.channel for r in store.notices(pseudonym)} == {"file"}
    assert store.who_has(pseudonym) is None
    files = sorted(outbox.glob("n_*.json"))
    assert len(files) == 2 and all(ALICE not in f.read_text() for f in files)
    assert "Art. 19 notices of erasures via the file sink" in deployment.logs()
