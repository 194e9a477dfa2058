"""Measurement 6: per-person lookups through the HTTP API, audited, against the API's cheapest answer.

`lineage serve` runs as a process of its own on a SQLite store of simulated people (ingested beforehand, not timed);
a client in the bench process keeps ``concurrency`` requests in flight on keep-alive connections (aiohttp) for a
fixed time, alternately on ``GET /api/health`` (a token check and a constant answer) and on
``GET /api/subjects/{id}`` (a DPO's who-has: the token, the pseudonym, the store's answer, an entry in the audit
trail before the answer). Both share everything but the lookup and its audit entry, so their ratio is what a lookup
costs beyond serving a request at all.
"""

from __future__ import annotations

import asyncio
import os
import random
import socket
import statistics
import subprocess
import sys
import time
import urllib.parse
from pathlib import Path

from bench.common import KEY, Dataset, Report, Row, percentile
from bench.profiling import tree_cpu_seconds
from bench.services import REPO

TARGET_RATIO = 0.7
TARGET_P99_MS = 50.0


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _store(data: Dataset, path: Path) -> None:
    from graph.pseudonym import Pseudonymizer, key_from_text
    from graph.sqlite_store import SQLiteGraphStore
    from policies import default_policy
    from streams.deadletter import MemoryDeadLetters
    from streams.embedded import ingest_lines
    from streams.handler import Handler

    store = SQLiteGraphStore(path)
    try:
        handler = Handler(store, default_policy(), Pseudonymizer(key_from_text(KEY)))
        report = ingest_lines(data.lines, handler, MemoryDeadLetters())
        if report.applied != len(data.lines):
            raise RuntimeError(f"applied {report.applied} of {len(data.lines)} events")
    finally:
        store.close()


async def _load(
    base: str, token: str, paths: list[str], concurrency: int, seconds: float
) -> tuple[int, list[float], float]:
    """``concurrency`` clients requesting random ``paths`` for ``seconds``: (answers, latencies in s, elapsed s)."""
    import aiohttp

    latencies: list[float] = []
    rng = random.Random(7)  # noqa: S311 - sampling, not security
    headers = {"Authorization": f"Bearer {token}"}
    connector = aiohttp.TCPConnector(limit=concurrency, force_close=False)
    async with aiohttp.ClientSession(base, connector=connector, headers=headers) as session:
        start = time.perf_counter()
        end = start + seconds

        async def client() -> None:
            while (now := time.perf_counter()) < end:
                async with session.get(rng.choice(paths)) as answer:
                    await answer.read()
                    if answer.status != 200:
                        raise RuntimeError(f"HTTP {answer.status} from {answer.url.path.split('/')[2]}")
                latencies.append(time.perf_counter() - now)

        await asyncio.gather(*(client() for _ in range(concurrency)))
        elapsed = time.perf_counter() - start
    return len(latencies), latencies, elapsed


def run(
    data: Dataset,
    report: Report,
    folder: Path,
    *,
    concurrency: int = 20,
    seconds: float = 10.0,
    rounds: int = 3,
    warmup: float = 2.0,
) -> None:
    from lineage.web.tokens import Role, TokenFile

    report.load("http: start")
    store = folder / "http.db"
    _store(data, store)
    token = TokenFile(folder / "http-tokens.json").add("bench", Role.DPO)
    audit = folder / "http-audit.jsonl"
    port = _free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    env.update(
        LINEAGE_PSEUDONYM_KEY=KEY,
        LINEAGE_TOKENS_FILE=str(folder / "http-tokens.json"),
        LINEAGE_AUDIT_LOG=str(audit),
        LINEAGE_AUDIT_KEY_FILE=str(folder / "http-audit.key"),
        LINEAGE_AUDIT_HEAD=str(folder / "http-audit.head"),
        PYTHONPATH=str(REPO),
    )
    cmd = [sys.executable, "-m", "lineage.cli", "serve", "--store", f"sqlite:///{store}", "--port", str(port)]
    log = (folder / "http-serve.log").open("wb")
    server = subprocess.Popen(  # noqa: S603
        [*cmd, "--quiet"], env=env, cwd=folder, stdout=log, stderr=log, start_new_session=True
    )
    base = f"http://127.0.0.1:{port}"
    people = sorted(set(data.subjects))
    lookups = [f"/api/subjects/{urllib.parse.quote(p, safe='')}" for p in people]
    health = ["/api/health"]
    try:
        _wait_up(base, server, folder / "http-serve.log")
        asyncio.run(_load(base, token, health, concurrency, warmup))
        asyncio.run(_load(base, token, lookups, concurrency, warmup))
        figures: dict[str, list[tuple[float, float, float, float]]] = {"health": [], "who-has": []}
        for _ in range(rounds):
            for name, paths in (("health", health), ("who-has", lookups)):
                cpu0 = tree_cpu_seconds(server.pid)
                count, latencies, elapsed = asyncio.run(_load(base, token, paths, concurrency, seconds))
                cpu = tree_cpu_seconds(server.pid) - cpu0
                ms = [1000 * x for x in latencies]
                figures[name].append((count / elapsed, percentile(ms, 50), percentile(ms, 99), cpu / count))
    finally:
        server.terminate()
        try:
            server.wait(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        log.close()
    report.load("http: end")
    audited = sum(1 for line in audit.read_text(encoding="utf-8").splitlines() if '"who-has"' in line)

    def med(name: str, k: int) -> float:
        return statistics.median(f[k] for f in figures[name])

    def span(name: str, k: int, fmt: str) -> str:
        values = [f[k] for f in figures[name]]
        return f"{fmt.format(statistics.median(values))} ({fmt.format(min(values))}-{fmt.format(max(values))})"

    ratio = med("who-has", 0) / med("health", 0)
    p99 = med("who-has", 2)
    report.rows.append(
        Row(
            f"6. who-has over HTTP, audited, concurrency {concurrency}",
            f"{med('who-has', 0):,.0f} req/s, p50 {med('who-has', 1):.0f} ms, p99 {p99:.0f} ms",
            f"/api/health {med('health', 0):,.0f} req/s, p99 {med('health', 2):.0f} ms",
            f"{ratio:.2f}x",
            f">= {TARGET_RATIO}x, p99 < {TARGET_P99_MS:g} ms",
            ratio >= TARGET_RATIO and p99 < TARGET_P99_MS,
        )
    )
    report.note(
        f"HTTP: `lineage serve --quiet` (one uvicorn process) on a SQLite store of {data.describe()}, {len(people):,} "
        f"people looked up at random by their ids; {concurrency} requests in flight from the bench process (aiohttp, "
        f"keep-alive), {rounds} rounds of {seconds:g} s on each endpoint in turn after {warmup:g} s of warm-up each; "
        f"medians (min-max): /api/health {span('health', 0, '{:,.0f}')} req/s, p50 {span('health', 1, '{:.1f}')} ms, "
        f"p99 {span('health', 2, '{:.1f}')} ms, server CPU {span('health', 3, '{:.6f}')} s/request; who-has "
        f"{span('who-has', 0, '{:,.0f}')} req/s, p50 {span('who-has', 1, '{:.1f}')} ms, p99 "
        f"{span('who-has', 2, '{:.1f}')} ms, server CPU {span('who-has', 3, '{:.6f}')} s/request; {audited:,} who-has "
        "entries in the audit trail."
    )


def _wait_up(base: str, server: subprocess.Popen[bytes], log: Path, timeout: float = 60.0) -> None:
    import urllib.request

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if server.poll() is not None:
            raise RuntimeError(f"lineage serve exited with {server.returncode}: {log.read_text()[-2000:]}")
        try:
            with urllib.request.urlopen(base + "/", timeout=1):  # noqa: S310 - our own local server
                return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"lineage serve did not answer within {timeout:g} s: {log.read_text()[-2000:]}")
