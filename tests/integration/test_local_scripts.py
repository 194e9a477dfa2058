"""docker/local's scripts when a start fails: what a start launched is stopped, so that nothing outlives it (a JVM
left running holds the port and the memory, and a later start finds "something else already listens")."""

from __future__ import annotations

import os
import re
import socket
import subprocess
from pathlib import Path

import pytest

from tests.services import REPO, PrivateKafka, PrivateNeo4j, PrivateServer

pytestmark = pytest.mark.integration


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    status = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[-1].split()[0]
    return status != "Z"  # a zombie is dead: only its exit status is left to collect


def _listening(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1)
        return s.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize(
    ("make", "setting"), [(PrivateNeo4j, "NEO4J_START_TIMEOUT"), (PrivateKafka, "KAFKA_START_TIMEOUT")]
)
def test_a_start_that_gives_up_stops_the_server_it_launched(
    tmp_path: Path, make: type[PrivateServer], setting: str
) -> None:
    server = make(tmp_path)  # type: ignore[call-arg]
    server.env[setting] = "1"  # no JVM answers within a second: the start gives up after launching it
    try:
        done = subprocess.run(  # noqa: S603 - our own script
            ["bash", str(REPO / "docker" / "local" / f"{server.script}.sh"), "start"],  # noqa: S607
            env=server.env, capture_output=True, text=True, timeout=240, check=False,
        )  # fmt: skip
        assert done.returncode == 1, done.stderr
        found = re.search(r"stopping the (?:server|broker) this start launched \(pid (\d+)\)", done.stderr)
        assert found, done.stderr
        pid = int(found.group(1))
        assert not _alive(pid), f"pid {pid} still runs after the start gave up"
        assert not _listening(server.port)  # type: ignore[attr-defined]
        assert not list(tmp_path.glob("*/*.pid")), "the pid file of a stopped server is left"
    finally:
        server.run("clean", check=False)
