"""Real servers for integration tests: skip locally when absent, fail under CI (CI=true)."""

from __future__ import annotations

import contextlib
import os
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any, Self

import pytest

REPO = Path(__file__).resolve().parents[1]


def require(name: str, reason: str) -> None:
    """Skip (locally) or fail (under CI) because a real server is not available."""
    message = f"{name} is not available: {reason}. Start it with docker/local/{name.lower()}.sh start"
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(message + " (CI=true: a missing server is a failure, not a skip)")
    pytest.skip(message)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on at the time of asking."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def read_topic(bootstrap: str, topic: str, expected: int, timeout: float = 30.0) -> list[Any]:
    """The records on ``topic`` from its beginning: until ``expected`` are read or ``timeout`` seconds pass, and at
    the deadline every record the topic held then (a short timeout with a huge ``expected`` reads what is there).

    Each partition is assigned by hand and read from its first offset. A consumer that subscribes without a group
    assigns itself only when a metadata update reaches its coordinator; once, in CI, a reader read nothing in 30 s
    from a topic that held 256 records (stop 32)."""
    from kafka import KafkaConsumer, TopicPartition  # type: ignore[import-untyped]

    consumer = KafkaConsumer(bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False)
    records: list[Any] = []
    deadline = time.monotonic() + timeout
    try:
        numbers = consumer.partitions_for_topic(topic)
        while not numbers and time.monotonic() < deadline:  # a topic just created: its metadata may lag
            time.sleep(0.2)
            consumer.topics()  # asks the broker again
            numbers = consumer.partitions_for_topic(topic)
        if not numbers:
            raise AssertionError(f"topic {topic!r} has no partitions on {bootstrap} after {timeout:g} s")
        partitions = [TopicPartition(topic, n) for n in sorted(numbers)]
        consumer.assign(partitions)
        consumer.seek_to_beginning(*partitions)
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
        if len(records) < expected:  # what was on the topic at the deadline is read whole, however slow the reader
            ends = consumer.end_offsets(partitions)
            late = time.monotonic() + 30
            while any(consumer.position(p) < ends[p] for p in partitions) and time.monotonic() < late:
                for batch in consumer.poll(timeout_ms=200).values():
                    records.extend(batch)
    finally:
        consumer.close()
    return records


class PrivateServer:
    """A server of the project's own scripts (docker/local/NAME.sh) with its own ports and state directory, for a
    test that stops, restarts or inspects the files of a server: the shared one is never touched."""

    script = ""
    timeout = 240

    def __init__(self, state: Path, env: dict[str, str]) -> None:
        self.state = state
        self.env = dict(os.environ, LINEAGE_STATE_DIR=str(state), **env)

    def run(self, action: str, *, check: bool = True) -> None:
        """``docker/local/<script>.sh ACTION``; a failure fails the test with the script's own words (if ``check``)."""
        done = subprocess.run(  # noqa: S603 - our own script
            ["bash", str(REPO / "docker" / "local" / f"{self.script}.sh"), action],  # noqa: S607
            env=self.env,
            capture_output=True,
            text=True,
            timeout=self.timeout,
            check=False,
        )
        if check and done.returncode != 0:
            pytest.fail(f"docker/local/{self.script}.sh {action} (private server) failed:\n{done.stderr[-3000:]}")

    @contextlib.contextmanager
    def running(self) -> Iterator[Self]:
        """Started for the block and cleaned after it, also when the start failed half way: a JVM that came up
        before the script gave up would otherwise outlive the test run."""
        try:
            self.run("start")
            yield self
        finally:
            self.run("clean", check=False)


class PrivateNeo4j(PrivateServer):
    """Neo4j on its own Bolt port, with a small heap and page cache."""

    script = "neo4j"

    def __init__(self, state: Path) -> None:
        self.port = free_port()
        self.data = state / "neo4j" / "home" / "data"
        super().__init__(state, {"NEO4J_BOLT_PORT": str(self.port), "NEO4J_HEAP": "384m", "NEO4J_PAGECACHE": "64m"})

    @property
    def url(self) -> str:
        return f"bolt://127.0.0.1:{self.port}"


class PrivateKafka(PrivateServer):
    """A single-node KRaft broker on its own broker and controller ports, with a small heap."""

    script = "kafka"
    timeout = 180

    def __init__(self, state: Path) -> None:
        self.port, self.controller = free_port(), free_port()
        super().__init__(
            state,
            {
                "KAFKA_PORT": str(self.port),
                "KAFKA_CONTROLLER_PORT": str(self.controller),
                "KAFKA_HEAP_OPTS": "-Xms128m -Xmx256m",
            },
        )

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"
