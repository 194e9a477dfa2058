"""No personal data in logs or output: the pipeline at DEBUG on simulated traffic never writes an id, email or name.

Two paths: `lineage ingest` (the embedded runner, alerts to the log sink) and the Faust agent (``test_context``,
alerts to the log sink and the alerts topic), each fed simulated S Plus traffic with planted undeclared flows
plus malformed lines built from the same people, with every logger at DEBUG. What the people are called (their
subject ids, emails, the local part "first.last", and each first and last name the simulator used) must not
appear in any log record, in stdout/stderr, or in the commands' own output. Dead-letter files keep the raw
line on purpose (docs/privacy.md) and are not checked here.
"""

from __future__ import annotations

import asyncio
import io
import json
import logging
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from lineage import traffic
from lineage.cli import main
from lineage.simulator import simulate
from policies import default_policy
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.integration.test_kafka_pipeline import broker, deployment  # noqa: F401 - fixtures


def traffic_with_mistakes(people: int = 40, days: int = 10, seed: int = 3) -> list[str]:
    """Simulated events as JSON lines (10% planted undeclared flows), then broken copies of some of them."""
    events = [s.event for s in simulate(people, days, seed, undeclared_rate=0.1)]
    lines = [json.dumps(e) for e in events]
    for i, e in enumerate(events[:: max(1, len(events) // 8)]):
        broken: dict[str, Any] = json.loads(json.dumps(e))
        broken["event_id"] = f"broken-{i}"
        variant = i % 6
        if variant == 0:
            broken["purpose"] = "not.a.purpose"
        elif variant == 1:
            broken["subject"]["id"] = broken["subject"]["id"] + " "  # trailing space: fails the pattern
        elif variant == 2:
            broken["subject"] = broken["subject"]["id"]  # wrong type: a string where an object is expected
        elif variant == 3:
            broken["favourite_colour"] = broken["subject"]["id"]  # an unknown field whose value is the email
        elif variant == 4:
            broken["schema_version"] = 2
        else:
            broken["recipient"] = {"id": broken["subject"]["id"], "name": broken["subject"]["id"], "type": "nope"}
        lines.append(json.dumps(broken))
        lines.append(json.dumps(e)[:-25])  # truncated JSON that still carries the email
    return lines


def personal_data(lines: list[str]) -> tuple[set[str], set[str]]:
    """(strings that must not appear anywhere, names that must not appear as words)."""
    ids: set[str] = set()
    for line in lines:
        found = re.search(r'"subject": \{"id": "([^"]+)"', line)
        if found:
            ids.add(found.group(1).strip())
    assert len(ids) >= 10
    local_parts = {i.split("@")[0] for i in ids}
    names: set[str] = set()
    for local in local_parts:
        first, _, last = local.partition(".")
        names.add(first)
        names.add(re.sub(r"\d+$", "", last))
    assert names <= set(traffic.FIRST_NAMES) | set(traffic.LAST_NAMES)
    return ids | local_parts, names


def leaks(text: str, lines: list[str]) -> list[str]:
    strings, names = personal_data(lines)
    found = [s for s in strings if s in text]
    words = set(re.findall(r"[a-z]+(?:-[a-z]+)*", text.lower()))
    found += [n for n in names if n in words]
    return sorted(found)


@pytest.fixture
def debug_log() -> Iterator[io.StringIO]:
    """Every logger at DEBUG, into one buffer (and the usual capture)."""
    buffer = io.StringIO()
    handler = logging.StreamHandler(buffer)
    handler.setLevel(logging.DEBUG)
    handler.setFormatter(logging.Formatter("%(levelname)s %(name)s %(message)s"))
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    root.setLevel(logging.DEBUG)
    try:
        yield buffer
    finally:
        root.removeHandler(handler)
        root.setLevel(old_level)


def test_embedded_ingest_at_debug_writes_no_personal_data(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capfd: pytest.CaptureFixture[str], debug_log: io.StringIO
) -> None:
    lines = traffic_with_mistakes()
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", TEST_KEY.hex())
    monkeypatch.setenv("LINEAGE_LOG_LEVEL", "DEBUG")
    monkeypatch.setenv("LINEAGE_ALERT_LOG", "1")
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    outputs: list[str] = []
    for argv in (
        ["ingest", str(source), "--store", store, "--progress"],
        ["ingest", str(source), "--store", store],  # the replay too
        ["alerts", "--store", store],
        ["alerts", "--store", store, "--format", "json"],
        ["stats", "--store", store],
    ):
        out, err = io.StringIO(), io.StringIO()
        main(argv, out, err)
        outputs += [out.getvalue(), err.getvalue()]
    captured = capfd.readouterr()
    log = debug_log.getvalue()
    assert "rejected" in outputs[1] and "undeclared" in log.lower() + outputs[1]  # the paths were exercised
    assert "lineage.alerts" in log  # the log sink wrote its lines
    everything = "\n".join([log, captured.out, captured.err, *outputs])
    assert leaks(everything, lines) == []


def test_faust_agent_at_debug_writes_no_personal_data(
    capfd: pytest.CaptureFixture[str], debug_log: io.StringIO
) -> None:
    from streams.agents import AGENT_NAME
    from streams.app import create_worker
    from streams.messages import MemoryCommitter, MemoryPublisher

    lines = traffic_with_mistakes(people=30, days=5, seed=8)
    messages = [line.encode("utf-8") for line in lines] + [b"\xff\xfe binary", b""]
    store = SQLiteGraphStore(":memory:")
    publisher, committer = MemoryPublisher(), MemoryCommitter()
    settings = Settings(
        kafka_events_topic="pii.events",
        kafka_deadletter_topic="pii.deadletter",
        kafka_alerts_topic="pii.alerts",
        kafka_batch_size=50,
        kafka_batch_wait=0.05,
        alert_log=True,
        log_level="DEBUG",
    )

    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    worker = create_worker(settings, handler, publisher=publisher, committer=committer)
    app = worker.app
    app.finalize()
    agent = app.agents[AGENT_NAME]

    async def go() -> None:
        async with agent.test_context() as tested:
            for value in messages:
                await tested.put(value, wait=False)
            loop = asyncio.get_running_loop()
            deadline = loop.time() + 30
            while list(committer.offsets.values()) != [len(messages)] and tested._crash_reason is None:
                assert loop.time() < deadline, "timed out"
                await asyncio.sleep(0.02)

    try:
        asyncio.run(go())
    finally:
        worker.release()  # flushes the alert dispatcher's log sink, closes the store
    captured = capfd.readouterr()
    log = debug_log.getvalue()
    assert publisher.on("pii.alerts") and publisher.on("pii.deadletter")  # the paths were exercised
    assert "lineage.alerts" in log
    alerts_topic = "\n".join(json.dumps(doc) for doc in publisher.on("pii.alerts"))
    assert leaks("\n".join([log, captured.out, captured.err, alerts_topic]), lines) == []


@pytest.mark.integration
def test_emitter_and_worker_on_the_real_broker_at_debug_write_no_personal_data(
    deployment: Any,  # noqa: F811 - the fixture imported above
    capfd: pytest.CaptureFixture[str],
    debug_log: io.StringIO,
) -> None:
    """The Kafka clients log message payloads at DEBUG (kafka-python, aiokafka): the emitter and the worker keep
    them quiet, and the worker's own DEBUG log (dead letters included) names nobody."""
    from kafka import KafkaProducer

    lines = traffic_with_mistakes(people=15, days=3, seed=12)
    good = [line for line in lines if line.endswith("}") and '"broken-' not in line]
    env = deployment.env()
    env["LINEAGE_LOG_LEVEL"] = "DEBUG"
    deployment.env = lambda: env  # the worker subprocess logs at DEBUG
    deployment.start_worker()
    with deployment.emitter() as emitter:
        for line in good:
            emitter.emit(line)
    producer = KafkaProducer(bootstrap_servers=deployment.settings.kafka_bootstrap)
    for line in lines:
        if line not in good:  # the broken ones go straight to the topic, as a faulty component would send them
            producer.send(deployment.settings.kafka_events_topic, value=line.encode())
    producer.flush()
    producer.close()
    store = deployment.store()
    deployment.wait_for("the valid events in the store", lambda: store.stats().events == len(good), timeout=60)
    letters = deployment.read_topic(deployment.topics.deadletter, len(lines) - len(good))
    assert len(letters) == len(lines) - len(good)
    deployment.stop_workers()
    worker_log = "\n".join(p.read_text(errors="replace") for p in sorted(deployment.folder.glob("worker-*.log")))
    assert "DEBUG" in worker_log and len(worker_log) > 10_000  # it did log at DEBUG
    captured = capfd.readouterr()
    assert leaks("\n".join([debug_log.getvalue(), captured.out, captured.err]), lines) == []
    assert leaks(worker_log, lines) == []


def test_kafka_client_payload_records_are_quieted_or_redacted(debug_log: io.StringIO) -> None:
    from streams.client_logs import quiet_kafka_client_logs

    quiet_kafka_client_logs()
    quiet_kafka_client_logs()  # idempotent: one filter
    email = b'{"subject": {"id": "alice.chan@acme-corp.example"}}'
    logging.getLogger("kafka.protocol.parser").debug("%s Send: %r", "conn", email)
    logging.getLogger("aiokafka.producer.producer").debug("Sending (key=%s value=%s) to %s", b"k", email, "tp")
    logging.getLogger("faust.topics").debug("send: topic=%r k=%r v=%r timestamp=%r partition=%r", "t", b"k", email,
                                            None, 0)
    logging.getLogger("faust.topics").debug("Topic %r exists, skipping creation.", "t")  # others untouched
    assert len(logging.getLogger("faust.topics").filters) == 1
    log = debug_log.getvalue()
    assert "alice" not in log
    assert f"v='<{len(email)} bytes>' timestamp=None partition=0" in log and "skipping creation" in log
