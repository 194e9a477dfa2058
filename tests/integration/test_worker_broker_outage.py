"""A Kafka broker outage as the worker lives it, on a private broker this test starts and stops (docker/local/kafka.sh
with its own ports and state directory; the shared broker is not touched): the health file says
``kafka_unavailable`` while it lasts and ``ok`` after, the worker logs one line when the broker goes and one when it
comes back (not one per retry), and a SIGTERM afterwards stops it cleanly (exit 0, no crash report)."""

from __future__ import annotations

import signal
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from config import Settings
from streams.health import read_health
from streams.topics import create_topics
from tests.factories import event
from tests.integration.test_kafka_pipeline import KEY, Deployment
from tests.services import PrivateKafka

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def private_kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateKafka]:
    kafka = PrivateKafka(tmp_path_factory.mktemp("private-kafka"))
    with kafka.running():
        yield kafka


def _lines_after(log: Path, mark: int) -> list[str]:
    return [line for line in log.read_text(errors="replace").splitlines()[mark:] if line.strip()]


def test_a_broker_outage_shows_in_the_health_file_and_in_two_log_lines(
    private_kafka: PrivateKafka, tmp_path: Path
) -> None:
    unique = f"it-outage-{uuid.uuid4().hex[:8]}"
    health = tmp_path / "health.json"
    settings = Settings(
        store=f"sqlite:///{tmp_path / 'lineage.db'}",
        pseudonym_key=KEY,
        kafka_bootstrap=private_kafka.bootstrap,
        kafka_events_topic=f"{unique}.events",
        kafka_deadletter_topic=f"{unique}.deadletter",
        kafka_alerts_topic=f"{unique}.alerts",
        kafka_group=unique,
        kafka_batch_size=50,
        kafka_batch_wait=0.1,
        kafka_session_timeout=6.0,
    )
    create_topics(settings, partitions=1, replication=1)
    dep = Deployment(settings, tmp_path)
    base_env = dep.env

    def env() -> dict[str, str]:
        e = base_env()
        e.update(LINEAGE_WORKER_HEALTH_FILE=str(health))
        return e

    dep.env = env  # type: ignore[method-assign]
    worker = dep.start_worker()
    store = dep.store()
    log = tmp_path / "worker-0.log"
    try:
        with dep.emitter() as emitter:
            for _ in range(20):
                emitter.emit(event())
        dep.wait_for("20 events applied", lambda: store.stats().events == 20, 60)
        dep.wait_for("the health file to say ok", lambda: read_health(health)["status"] == "ok", 15)
        mark = len(log.read_text(errors="replace").splitlines())
        before = read_health(health)["kafka_outages"]  # a fresh broker's group coordinator can take a moment

        private_kafka.run("stop")
        dep.wait_for(
            "the health file to say the broker is gone",
            lambda: read_health(health)["status"] == "kafka_unavailable",
            30,
        )
        during = read_health(health)
        assert during["kafka_outages"] == before + 1
        assert str(private_kafka.port) in during["kafka_error"]
        time.sleep(8)  # the client keeps retrying (about 70 log records a second before)
        lines = _lines_after(log, mark)
        assert len(lines) == 1 and "Kafka broker unreachable" in lines[0], lines[:20]

        private_kafka.run("start")
        with dep.emitter() as emitter:
            for _ in range(20):
                emitter.emit(event())
        dep.wait_for("the 20 events sent after the outage", lambda: store.stats().events == 40, 90)
        dep.wait_for("the health file to say ok again", lambda: read_health(health)["status"] == "ok", 30)
        lines = _lines_after(log, mark)
        assert len(lines) == 2 and "Kafka broker reachable again" in lines[1], lines[:20]
        assert read_health(health)["kafka_error"] is None

        worker.send_signal(signal.SIGTERM)
        assert worker.wait(timeout=30) == 0
        text = log.read_text(errors="replace")
        assert "We experienced a crash" not in text and "Traceback" not in text, text[-3000:]
        assert read_health(health)["status"] == "stopped"
    finally:
        store.close()
        dep.stop_workers()
