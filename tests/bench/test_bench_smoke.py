"""The benchmark entry point still runs: `python -m bench ... --quick` on SQLite, and on the servers when up."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.services import require

REPO = Path(__file__).resolve().parents[2]


def bench(*args: str, results: Path, timeout: float = 120) -> str:
    done = subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "bench", *args, "--quick", "--results", str(results)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return done.stdout


def test_embedded_measurements_run_and_are_recorded(tmp_path: Path) -> None:
    results = tmp_path / "RESULTS.md"
    out = bench("embedded", results=results)
    out += bench("who-has", "--stores", "sqlite", results=results)
    assert "2. embedded ingest" in out
    assert "3. who-has, SQLite, 3,000 people" in out
    recorded = results.read_text()
    assert recorded.count("`python -m bench ") == 2
    assert "CPUs" in recorded and "Load average" in recorded and "serial ceiling" in recorded
    assert "s in them (execute/executemany/COMMIT)" in recorded
    assert "2. embedded ingest, 2 processes" in recorded and "2. same, one process" in recorded
    assert "the store's statements replayed" in recorded and "cores busy on average" in recorded


def test_the_http_measurement_runs(tmp_path: Path) -> None:
    out = bench("http", "--no-record", results=tmp_path / "RESULTS.md")
    assert "6. who-has over HTTP, audited, concurrency 20" in out
    assert "/api/health" in out and "who-has entries in the audit trail" in out


def test_the_in_process_judge_measurement_runs_and_its_passes_agree() -> None:
    done = subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "bench.judge", "--people", "20", "--days", "2", "--repeats", "2", "--registry"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]  # 1: two passes gave other findings
    assert "judge us/event:" in done.stdout and "parse us/event:" in done.stdout
    assert "registry: simulated" in done.stdout and "digest: " in done.stdout


@pytest.mark.integration
def test_server_measurements_run(tmp_path: Path) -> None:
    from bench.services import Services

    services = Services(mode="shared")
    for name in ("kafka", "neo4j"):
        if not services.up(name):
            require(name.capitalize() if name == "kafka" else "Neo4j", f"no {name} answers on the default port")
    out = bench("ingest", "--services", "shared", "--no-record", results=tmp_path / "RESULTS.md", timeout=180)
    assert "1. ingest Kafka -> worker -> Neo4j vs naive" in out
    assert "1. ingest Kafka -> worker -> Neo4j vs raw write" in out and "raw per-person write" in out
    assert "Neo4j CPU per event: the pipeline" in out
    assert "kafka: already running (shared mode), left running" in out


@pytest.mark.integration
def test_the_write_profile_runs_and_names_every_statement() -> None:
    from bench.services import Services

    if not Services(mode="shared").up("neo4j"):
        require("Neo4j", "no neo4j answers on the default port")
    done = subprocess.run(  # noqa: S603 - our own entry point
        [sys.executable, "-m", "bench.write_profile", "--people", "6", "--days", "3", "--batch", "40"],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    rows = [line.split(" | ")[0].lstrip("| ") for line in done.stdout.splitlines() if line.startswith("| ")]
    names = rows[2:-2]  # the header, its rule, then one row per statement, then the Python and the commit
    assert "EVENTS" in names and "EDGES[HOLDS]" in names and "aggregates.STEPS" in names, names
    unnamed = [name for name in names if " " in name]  # a statement the profile does not know by its text
    assert not unnamed, unnamed


def test_niced_lowers_every_thread_of_a_process_and_restores_it() -> None:
    from bench.alerts import niced

    if os.geteuid() != 0:
        pytest.skip("restoring a lower nice value needs root (CAP_SYS_NICE)")
    code = (
        "import threading, time\n"
        "for _ in range(3): threading.Thread(target=time.sleep, args=(30,), daemon=True).start()\n"
        "time.sleep(30)"
    )
    child = subprocess.Popen([sys.executable, "-c", code])  # noqa: S603
    try:
        deadline = time.monotonic() + 10
        while len(os.listdir(f"/proc/{child.pid}/task")) < 4 and time.monotonic() < deadline:
            time.sleep(0.05)
        tids = [int(t) for t in os.listdir(f"/proc/{child.pid}/task")]
        assert len(tids) == 4
        with niced(child.pid, 7):
            assert {os.getpriority(os.PRIO_PROCESS, t) for t in tids} == {7}
        assert {os.getpriority(os.PRIO_PROCESS, t) for t in tids} == {0}
    finally:
        child.kill()
        child.wait()
