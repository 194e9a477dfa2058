"""One log line per outage, not per retry: the Kafka client's and the Neo4j driver's connectivity records are taken by
streams/outages.py, which says once when the broker goes and once when it is back, and tells the health file. (The
real broker outage is in tests/integration/test_worker_broker_outage.py.)"""

from __future__ import annotations

import logging
from dataclasses import replace
from pathlib import Path

import pytest

from graph.store import StoreUnavailable
from streams.health import HealthFile, read_health
from streams.outages import Outages
from tests.factories import event
from tests.streams.test_agents import FlakyStore, _json, _run, _settings


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def outages(tmp_path: Path) -> tuple[Outages, HealthFile, Clock]:
    health = HealthFile(tmp_path / "health.json")
    health.running()
    clock = Clock()
    return Outages(health, quiet=6.0, clock=clock), health, clock


def _record(name: str, message: str, level: int = logging.ERROR) -> logging.LogRecord:
    return logging.LogRecord(name, level, __file__, 1, message, None, None)


def test_a_broker_outage_is_one_line_down_and_one_line_up(
    outages: tuple[Outages, HealthFile, Clock], caplog: pytest.LogCaptureFixture
) -> None:
    watch, health, clock = outages
    caplog.set_level(logging.WARNING, logger="streams.outages")
    refused = "Unable connect to node with id 1: [Errno 111] Connect call failed ('127.0.0.1', 9092)"
    assert watch.filter(_record("aiokafka.conn", refused)) is False
    assert read_health(health.path)["status"] == "kafka_unavailable"
    assert "9092" in read_health(health.path)["kafka_error"]
    for i in range(500):  # what the client logs while the broker is down: all taken
        clock.now += 0.01
        assert watch.filter(_record("aiokafka.cluster", "Unable to update metadata from [1]")) is False
        assert (
            watch.filter(_record("aiokafka.consumer.group_coordinator", f"Heartbeat failed {i}", logging.WARNING))
            is False
        )
    watch.tick()
    assert read_health(health.path)["status"] == "kafka_unavailable"  # not quiet for long enough yet
    clock.now += 6.5
    watch.tick()
    state = read_health(health.path)
    assert (state["status"], state["kafka_error"], state["kafka_outages"]) == ("ok", None, 1)
    lines = [r.getMessage() for r in caplog.records if r.name == "streams.outages"]
    assert len(lines) == 2
    assert lines[0].startswith("Kafka broker unreachable (Unable connect to node")
    assert lines[1].startswith("Kafka broker reachable again") and "1000 client log records" in lines[1]


def test_other_records_pass(outages: tuple[Outages, HealthFile, Clock]) -> None:
    watch, health, _ = outages
    assert (
        watch.filter(
            _record("aiokafka.consumer.group_coordinator", "Heartbeat failed: group is rebalancing", logging.WARNING)
        )
        is True
    )
    assert watch.filter(_record("aiokafka.conn", "Unable connect to node", logging.INFO)) is True  # below WARNING
    assert watch.filter(_record("streams.agents", "Connect call failed")) is True  # not a client library
    assert watch.filter(_record("neo4j.io", "some other driver warning", logging.WARNING)) is True
    assert read_health(health.path)["status"] == "ok"


def test_the_neo4j_drivers_connectivity_records_are_taken(outages: tuple[Outages, HealthFile, Clock]) -> None:
    watch, health, _ = outages
    lost = "[#8FBE]  _: <CONNECTION> error: Failed to read from defunct connection IPv4Address(('127.0.0.1', 7687))"
    assert watch.filter(_record("neo4j.io", lost)) is False
    assert (
        watch.filter(_record("neo4j.pool", "Transaction failed and will be retried in 1.1s", logging.WARNING)) is False
    )
    assert read_health(health.path)["status"] == "ok"  # the store's state is the worker's retries' to tell


def test_the_store_outage_is_one_line_down_and_one_line_up(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store = FlakyStore(StoreUnavailable("cannot write to Neo4j at bolt://db:7687: connection refused"), failures=4)
    settings = replace(_settings(), worker_health_file=tmp_path / "health.json", worker_retry_max=0.1)
    with caplog.at_level(logging.WARNING, logger="streams.agents"):
        _, _, committer = _run([_json(event()), _json(event())], store=store, settings=settings)
    assert store.attempts == 5 and list(committer.offsets.values()) == [2]
    lines = [r.getMessage() for r in caplog.records if r.name == "streams.agents"]
    assert len(lines) == 2, lines
    assert lines[0].startswith("graph store unavailable (cannot write to Neo4j at bolt://db:7687: connection refused)")
    assert lines[1].startswith("graph store available again after ") and lines[1].endswith("and 4 failed tries")


def test_install_reaches_the_libraries_child_loggers() -> None:
    child = logging.getLogger("aiokafka.consumer.fetcher")
    watch = Outages()
    watch.install()
    try:
        assert watch in child.filters and watch in logging.getLogger("neo4j").filters
        watch.install()
        assert child.filters.count(watch) == 1
        another = Outages()
        another.install()  # a new worker's watch replaces the old one
        assert watch not in child.filters and another in child.filters
        another.uninstall()
        assert not [f for f in child.filters if isinstance(f, Outages)]
    finally:
        watch.uninstall()
