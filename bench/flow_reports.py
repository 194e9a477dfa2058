"""Measurement 5 on realistic traffic: the regulator reports and the console's aggregate views over a store that
simulated S Plus traffic filled (``lineage simulate`` then ``lineage ingest``), at any volume, on either store.

    python -m bench.flow_reports STORE_URL [--runs 3] [--requests 20]

It times, in the process (what `lineage report` and the console spend, without the interpreter's start-up): the
RoPA, CCPA and gaps reports built and written as JSON, and the RoPA written as PDF, ``--runs`` times each (median,
min, max; wall and CPU seconds); then ``--requests`` requests to each of the console's aggregate endpoints through
its ASGI application (recipients, one recipient, alerts, the three reports as JSON) after one warm-up request each
(p50, p95, max in ms). The pseudonym key is the one the store was written with (``LINEAGE_PSEUDONYM_KEY``).
"""

from __future__ import annotations

import argparse
import io
import os
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path

from bench.common import percentile
from config import Settings
from lineage.wiring import load_configured_policy, open_configured_store
from reports.formats import render
from reports.registry import REPORTS, ReportRequest

CASES = (("ropa", "json"), ("ccpa", "json"), ("gaps", "json"), ("ropa", "pdf"))


def report_times(settings: Settings, runs: int, periods: list[tuple[datetime, datetime]]) -> None:
    policy = load_configured_policy(settings)
    with open_configured_store(settings, existing=True) as store:
        stats = store.stats()
        print(f"store: {stats.events:,} events, {stats.subjects:,} people", flush=True)
        cases: list[tuple[str, str, tuple[datetime, datetime] | None]] = [(k, f, None) for k, f in CASES]
        # periods that leave history out: whole months count people from the steps; a period that cuts a month
        # reads the events of the part it cuts
        cases += [("ccpa", "json", period) for period in periods]
        for kind, fmt, within in cases:
            walls, cpus, pages = [], [], ""
            since, until = within or (None, None)
            for _ in range(runs):
                wall, cpu = time.perf_counter(), time.process_time()
                body = render(
                    REPORTS[kind].build(ReportRequest(store, policy, since=since, until=until)), fmt, None, None
                )
                walls.append(time.perf_counter() - wall)
                cpus.append(time.process_time() - cpu)
            if fmt == "pdf":
                from pypdf import PdfReader

                assert isinstance(body, bytes)  # noqa: S101 - a PDF is bytes
                pages = f", {len(PdfReader(io.BytesIO(body)).pages)} pages"
            label = f" {since:%Y-%m-%d} to {until:%Y-%m-%d}" if since and until else ""
            print(
                f"{kind} {fmt}{label}: wall {statistics.median(walls):.3f} s ({min(walls):.3f}-{max(walls):.3f}), "
                f"cpu {statistics.median(cpus):.3f} s ({min(cpus):.3f}-{max(cpus):.3f}){pages}",
                flush=True,
            )


def endpoint_times(settings: Settings, requests: int) -> None:
    from fastapi.testclient import TestClient

    from lineage.web.app import create_app
    from lineage.web.console import WebSettings, open_console

    with tempfile.TemporaryDirectory() as tmp:
        env = {"LINEAGE_TOKENS_FILE": f"{tmp}/tokens.json", "LINEAGE_AUDIT_LOG": f"{tmp}/audit.jsonl"}
        web = WebSettings.from_env(settings, env | {"LINEAGE_AUDIT_KEY": "ab" * 32, "LINEAGE_AUDIT_HEAD": f"{tmp}/h"})
        console = open_console(settings, web)
        token = console.tokens.add("bench", "auditor")
        try:
            client = TestClient(create_app(console), headers={"Authorization": f"Bearer {token}"})
            first = client.get("/api/recipients").json()
            paths = ["/api/recipients", f"/api/recipients/{first[0]['recipient']['id']}", "/api/alerts"]
            paths += [f"/api/reports/{kind}" for kind in ("ropa", "ccpa", "gaps")]
            for path in paths:
                client.get(path).raise_for_status()  # warm-up
                times, cpus = [], []
                for _ in range(requests):
                    start, cpu = time.perf_counter(), time.process_time()
                    client.get(path).raise_for_status()
                    times.append((time.perf_counter() - start) * 1000)
                    cpus.append((time.process_time() - cpu) * 1000)  # the app runs in this process's threads
                print(
                    f"GET {path}: p50 {percentile(times, 50):.1f} ms, p95 {percentile(times, 95):.1f} ms, "
                    f"max {max(times):.1f} ms; CPU p50 {percentile(cpus, 50):.1f} ms, p95 {percentile(cpus, 95):.1f} ms"
                    f" ({requests} requests)",
                    flush=True,
                )
        finally:
            console.close()


def main() -> None:
    p = argparse.ArgumentParser(prog="python -m bench.flow_reports", description=__doc__.split("\n\n")[0])
    p.add_argument("store", help="store URL (sqlite:///path.db, bolt://host:7687?namespace=NAME)")
    p.add_argument("--runs", type=int, default=3, help="runs of each report (default 3)")
    p.add_argument("--requests", type=int, default=20, help="requests to each endpoint (default 20)")
    p.add_argument("--skip-reports", action="store_true", help="only the console's endpoints")
    p.add_argument(
        "--period",
        metavar="SINCE,UNTIL",
        action="append",
        default=[],
        help="also the CCPA over this period (ISO 8601 dates); repeatable",
    )
    args = p.parse_args()
    os.environ["LINEAGE_STORE"] = args.store
    settings = Settings.from_env()
    print(f"load average at start: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)
    if not args.skip_reports:
        periods = []
        for text in args.period:
            a, b = (datetime.fromisoformat(x).replace(tzinfo=UTC) for x in text.split(","))
            periods.append((a, b))
        report_times(settings, args.runs, periods)
    endpoint_times(settings, args.requests)
    print(f"load average at end: {' '.join(Path('/proc/loadavg').read_text().split()[:3])}", flush=True)


if __name__ == "__main__":
    main()
