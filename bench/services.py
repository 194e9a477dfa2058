"""The local Kafka and Neo4j the benchmarks run against, started and stopped with the project's docker/local scripts.

By default the bench runs servers of its own (other ports, a state folder in the temp dir, deleted afterwards), so
that its large graphs and its load neither disturb nor are disturbed by test suites using the default servers.
``shared`` mode uses the default servers instead (the ports the scripts use: KAFKA_PORT, KAFKA_CONTROLLER_PORT and
NEO4J_BOLT_PORT, else 9092, 9093 and 7687): it starts a server only if none answers, and stops only what it
started; its data then lives in namespaces and topics of its own, deleted at the end.
"""

from __future__ import annotations

import os
import subprocess
import tempfile
from dataclasses import dataclass, field
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
PASSWORD = "lineage-local"  # noqa: S105 - the local servers' documented development password


def _default_state() -> Path:
    return Path(tempfile.gettempdir()) / f"privacy-lineage-bench-{os.getuid()}"


def _port(variable: str, default: int) -> int:
    """The port the docker/local scripts take from ``variable`` (else ``default``), so that the bench connects
    where the scripts' ``status`` looked."""
    value = os.environ.get(variable, "").strip()
    if not value:
        return default
    if not value.isdigit() or not 0 < int(value) < 65536:
        raise ValueError(f"{variable}={value!r} is not a port number (1-65535)")
    return int(value)


@dataclass
class Services:
    """Where the servers are and which of them this run started (and so must stop)."""

    mode: str = "own"  # "own" | "shared"
    kafka_port: int = 19092
    kafka_controller_port: int = 19093
    neo4j_port: int = 17687
    neo4j_heap: str = "1g"
    neo4j_pagecache: str = "1g"
    neo4j_java_opts: str = "-XX:TieredStopAtLevel=4"  # full JIT: the scripts' C1-only default favours start time
    state_dir: Path = field(default_factory=lambda: _default_state())
    started: list[str] = field(default_factory=list)
    log: list[str] = field(default_factory=list)

    def __post_init__(self) -> None:
        if self.mode == "shared":  # the ports the docker/local scripts use (their variables, else their defaults)
            self.kafka_port = _port("KAFKA_PORT", 9092)
            self.kafka_controller_port = _port("KAFKA_CONTROLLER_PORT", 9093)
            self.neo4j_port = _port("NEO4J_BOLT_PORT", 7687)

    @property
    def kafka_bootstrap(self) -> str:
        return f"127.0.0.1:{self.kafka_port}"

    @property
    def neo4j_uri(self) -> str:
        return f"bolt://127.0.0.1:{self.neo4j_port}"

    def _env(self) -> dict[str, str]:
        env = dict(os.environ)
        if self.mode == "own":
            env.update(
                KAFKA_PORT=str(self.kafka_port),
                KAFKA_CONTROLLER_PORT=str(self.kafka_controller_port),
                KAFKA_HEAP_OPTS="-Xms512m -Xmx1g",
                NEO4J_BOLT_PORT=str(self.neo4j_port),
                NEO4J_HEAP=self.neo4j_heap,
                NEO4J_PAGECACHE=self.neo4j_pagecache,
                NEO4J_JAVA_OPTS=self.neo4j_java_opts,
                LINEAGE_STATE_DIR=str(self.state_dir),
                LINEAGE_CACHE_DIR=str(REPO / ".cache"),
            )
        env["NEO4J_PASSWORD"] = PASSWORD
        return env

    def _script(self, name: str, action: str, *, check: bool = False) -> subprocess.CompletedProcess[str]:
        return subprocess.run(  # noqa: S603 - fixed script path and action
            ["bash", str(REPO / "docker" / "local" / f"{name}.sh"), action],  # noqa: S607
            env=self._env(),
            capture_output=True,
            text=True,
            check=check,
        )

    def up(self, name: str) -> bool:
        return self._script(name, "status").returncode == 0

    def ensure(self, name: str) -> None:
        """Start ``name`` ("kafka" or "neo4j") unless it already answers; remember that this run started it."""
        if self.up(name):
            self.log.append(f"{name}: already running ({self.mode} mode), left running")
            return
        if self.mode == "own":
            self._script(name, "clean")  # a fresh server: no data left from an earlier run
        done = self._script(name, "start")
        if done.returncode != 0:
            raise RuntimeError(f"cannot start {name}: {done.stderr.strip()[-2000:]}")
        self.started.append(name)
        self.log.append(f"{name}: started by the bench ({self.mode} mode)")

    def stop_started(self) -> None:
        """Stop what this run started (own mode: and delete its data, which can be gigabytes)."""
        for name in reversed(self.started):
            self._script(name, "clean" if self.mode == "own" else "stop")
        self.started.clear()

    def server_pids(self) -> dict[str, int]:
        """The JVMs' pids, from the scripts' pid files (for CPU accounting)."""
        from bench.profiling import pid_file

        shared_root = os.environ.get("LINEAGE_STATE_DIR") or REPO / ".local-services"  # as the scripts find it
        root = self.state_dir if self.mode == "own" else Path(shared_root)
        found = {name: pid_file(root / name / f"{name}.pid") for name in ("kafka", "neo4j")}
        return {name: pid for name, pid in found.items() if pid is not None}

    def describe(self) -> str:
        if self.mode == "own":
            return (
                f"servers of the bench's own (docker/local scripts): Kafka on {self.kafka_bootstrap}, "
                f"Neo4j on {self.neo4j_uri} (heap {self.neo4j_heap}, page cache {self.neo4j_pagecache}, "
                f"JVM opts {self.neo4j_java_opts!r})"
            )
        return f"the default local servers: Kafka on {self.kafka_bootstrap}, Neo4j on {self.neo4j_uri}"
