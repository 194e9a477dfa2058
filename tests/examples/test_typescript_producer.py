"""examples/typescript-producer, written from docs/wire.md: its own tests (key vectors, schema), and against the real
broker and worker into Neo4j, the same keys, partitions and who-has answers as the Python emitter for the same events.
"""

from __future__ import annotations

import json
import os
import uuid
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from config import Settings
from graph.pseudonym import Pseudonymizer, key_from_text
from lineage.simulator import simulate
from policies import default_policy
from streams.emitter import Emitter
from streams.event_sinks import KafkaSink, partition_key
from streams.topics import create_topics
from tests.contract.neo4j_backend import delete_namespace, new_namespace, options, server_settings
from tests.examples.node import installed, require_node, run
from tests.integration.test_kafka_pipeline import KEY, Deployment, broker
from tests.services import require

SHARED_FIXTURES = (broker,)
SECRET = "key secret shared by every producer"  # noqa: S105 - a test value; the keyed derivation end to end; the vectors test both


def test_the_example_passes_its_own_tests() -> None:
    """node --test: the key of every vector in schemas/partition-key-vectors.json (and its partition under kafkajs's
    partitioner), and the committed schema through ajv: every kind valid, bad events named by field."""
    folder = installed("typescript-producer")
    node, _ = require_node()
    done = run([node, "--test", "dist/test/"], folder)
    assert "# fail 0" in done.stdout and "# pass 6" in done.stdout, done.stdout


@pytest.fixture
def two(broker: str, tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[tuple[Deployment, Deployment]]:
    """Two deployments on the real broker and Neo4j (topics, group and namespace each): one per producer."""
    pytest.importorskip("neo4j")
    from graph.neo4j_store import Neo4jGraphStore
    from graph.store import StoreUnavailable

    s = server_settings()
    probe = new_namespace()
    try:
        Neo4jGraphStore.from_url(s["uri"], options(probe)).close()  # a server to write to (skip or fail without)
    except StoreUnavailable as exc:
        require("Neo4j", str(exc))
    delete_namespace(probe)
    deployments = []
    for side in ("py", "ts"):
        unique = f"it-ts-producer-{side}-{uuid.uuid4().hex[:8]}"
        namespace = new_namespace()
        host = s["uri"].split("://", 1)[1]
        settings = Settings(
            store=f"neo4j://{s['user']}:{s['password']}@{host}/{s['database']}?namespace={namespace}",
            pseudonym_key=KEY,
            kafka_bootstrap=broker,
            kafka_events_topic=f"{unique}.events",
            kafka_deadletter_topic=f"{unique}.deadletter",
            kafka_alerts_topic=f"{unique}.alerts",
            kafka_group=unique,
            kafka_batch_size=200,
            kafka_batch_wait=0.1,
            kafka_session_timeout=6.0,
        )
        create_topics(settings, partitions=3, replication=1)
        folder = tmp_path / side
        folder.mkdir()
        deployments.append(Deployment(settings, folder))
    yield deployments[0], deployments[1]
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]

    admin = KafkaAdminClient(bootstrap_servers=broker)
    for dep in deployments:
        dep.stop_workers()
        delete_namespace(dep.settings.store.rsplit("namespace=", 1)[1])
        try:
            admin.delete_topics(list(dep.topics.all()))
            admin.delete_groups([dep.settings.kafka_group])
        except Exception:  # noqa: S110 - tidying up only; unique names never clash
            pass
    admin.close()


def _keys(dep: Deployment, expected: int) -> dict[str, tuple[bytes, int]]:
    """event_id -> (message key, partition) of what is on the deployment's events topic."""
    records = dep.read_topic(dep.topics.events, expected, timeout=30)
    return {json.loads(r.value)["event_id"]: (r.key, r.partition) for r in records}


@pytest.mark.integration
def test_the_typescript_producer_gets_the_same_keys_and_answers_as_the_python_emitter(
    two: tuple[Deployment, Deployment], tmp_path: Path
) -> None:
    from graph.neo4j_store import Neo4jGraphStore

    py, ts = two
    folder = installed("typescript-producer")
    node, _ = require_node()
    events = [s.event for s in simulate(10, 3, seed=19, undeclared_rate=0.05)]
    people = {e["subject"]["id"] for e in events}
    assert len(events) > 100 and len(people) == 10

    # the Python emitter, keyed with the shared secret
    with Emitter(KafkaSink(replace(py.settings, kafka_key_secret=SECRET)), default_policy().taxonomy()) as emitter:
        for ev in events:
            emitter.emit(ev)
    # the TypeScript producer, the same events as JSON Lines, plus two lines it must refuse without sending
    lines = [json.dumps(e, ensure_ascii=False) for e in events]
    lines.insert(3, json.dumps({**events[0], "event_id": "bad-1", "colour": "blue"}))
    lines.insert(7, lines[6][:40])
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    env.update(
        LINEAGE_KAFKA_BOOTSTRAP=ts.settings.kafka_bootstrap,
        LINEAGE_KAFKA_EVENTS_TOPIC=ts.settings.kafka_events_topic,
        LINEAGE_KAFKA_KEY_SECRET=SECRET,
    )
    done = run([node, "dist/src/produce.js", str(source)], folder, env=env, ok=False, timeout=120)
    assert done.returncode == 1, done.stderr
    assert done.stdout.strip() == f"sent {len(events)} event(s) to {ts.settings.kafka_events_topic}; 2 line(s) rejected"
    refused = ["line 4: /colour: must NOT have additional properties", "line 8: not valid JSON"]
    assert done.stderr.splitlines() == refused  # by line and field, never by value

    # the same key and partition for every event, and the key is the one docs/wire.md defines
    py_keys, ts_keys = _keys(py, len(events)), _keys(ts, len(events))
    assert len(ts_keys) == len(events) and ts_keys == py_keys
    for ev in events:
        assert ts_keys[ev["event_id"]][0] == partition_key(ev["subject"]["id"], SECRET.encode())

    # the real worker into Neo4j on each side: the same graph
    for dep in (py, ts):
        dep.start_worker()
    stores = [Neo4jGraphStore.from_url(dep.settings.store, dep.settings) for dep in (py, ts)]
    try:
        for dep, store in zip((py, ts), stores, strict=True):
            dep.wait_for(f"{len(events)} events in Neo4j", lambda s=store: s.stats().events == len(events), timeout=90)
        py_store, ts_store = stores
        assert ts_store.stats() == py_store.stats()
        key = Pseudonymizer(key_from_text(KEY))
        for person in sorted(people):
            answer = ts_store.who_has(key(person))
            assert answer is not None and answer == py_store.who_has(key(person)), person
        assert ts_store.alerts() and ts_store.alerts() == py_store.alerts()
        for dep in (py, ts):  # nor did the driver's notifications reach the workers' logs (fresh namespaces)
            assert "notification" not in dep.logs().lower()
    finally:
        for store in stores:
            store.close()
