"""The hostile corpus (tests/hostile.py) on the real broker: two workers and the alerter, poison in every partition,
valid events around each. No worker crashes, no partition stalls, every valid event is applied, every bad record is
dead-lettered.

Before the isolation work, two of these records (deep nesting, a year 9999 with offset -14:00) crashed every worker
that took their partitions, and no partition's offset moved while they stayed on the topic.
"""

from __future__ import annotations

import json

import pytest

from tests.hostile import MARKER, hostile_lines, valid_event
from tests.integration.test_faults import committed
from tests.integration.test_kafka_pipeline import Deployment, broker, deployment

pytestmark = pytest.mark.integration
SHARED_FIXTURES = (broker, deployment)
PARTITIONS = 3
MAX_RECORD = 900_000  # the broker's message.max.bytes is about 1 MB: a larger record is refused at the producer


def test_the_hostile_corpus_never_stops_a_worker_nor_a_partition(deployment: Deployment) -> None:
    from kafka import KafkaProducer  # type: ignore[import-untyped]

    workers = [deployment.start_worker(), deployment.start_worker(), deployment.start_worker("alerter")]
    producer = KafkaProducer(
        bootstrap_servers=deployment.settings.kafka_bootstrap, acks="all", max_request_size=1_000_000
    )
    topic = deployment.settings.kafka_events_topic
    valid_ids: list[str] = []
    subjects: list[str] = []
    bad: set[tuple[int, int]] = set()  # (partition, offset) of each hostile record
    sent = 0
    try:
        for i, (_, line) in enumerate(hostile_lines()):
            if len(line) > MAX_RECORD:
                continue
            partition = i % PARTITIONS  # poison in every partition, between valid events of the same partition
            for event in (valid_event(2 * i), valid_event(2 * i + 1)):
                valid_ids.append(event["event_id"])
                subjects.append(event["subject"]["id"])
                producer.send(topic, value=json.dumps(event).encode(), partition=partition).get(timeout=20)
            meta = producer.send(topic, value=line, partition=partition).get(timeout=20)
            bad.add((meta.partition, meta.offset))
            sent += 3
    finally:
        producer.close()
    assert len(bad) >= 60

    # every partition's committed offset reaches its end: none stalls behind a poison record
    deployment.wait_for("the workers to commit every record", lambda: committed(deployment) == sent, timeout=120)
    assert all(w.poll() is None for w in workers), deployment.logs()  # no worker (nor the alerter) crashed

    with deployment.store() as store:
        assert store.processed(valid_ids) == set(valid_ids)  # every valid event applied
    letters = [json.loads(r.value) for r in deployment.read_topic(deployment.topics.deadletter, len(bad), 60)]
    assert {(x["partition"], x["offset"]) for x in letters} == bad  # each bad record, with its place
    assert all(x["reason"] and MARKER not in x["reason"] for x in letters)
    logs = deployment.logs()
    assert "Traceback" not in logs and MARKER not in logs and not any(s in logs for s in subjects)
