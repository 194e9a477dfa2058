"""`python -m bench MEASUREMENT [--quick]`: run the benchmarks, print a table, append it to bench/RESULTS.md."""

from __future__ import annotations

import argparse
import contextlib
import functools
import sys
import tempfile
import time
import traceback
from collections.abc import Callable
from pathlib import Path

from bench.common import RESULTS, Report, Row, command_line, dataset
from bench.services import Services
from config import Settings

SERVER_MEASUREMENTS = {"ingest", "alerts"}


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    p.add_argument(
        "measurement",
        choices=["all", "ingest", "embedded", "who-has", "reports", "alerts", "http"],
        help="ingest: Kafka -> worker -> Neo4j vs naive and ceiling; embedded: ingest_lines on SQLite vs its serial "
        "ceiling; who-has / reports: latency and report time as the graph grows (both stores); alerts: alert latency "
        "under load; http: audited who-has through the API vs /api/health",
    )
    p.add_argument("--quick", action="store_true", help="a small smoke run (seconds, not minutes)")
    p.add_argument(
        "--services",
        choices=["own", "shared"],
        default="own",
        help="own: start Kafka and Neo4j of the bench's own (other ports, temp state, deleted afterwards; default); "
        "shared: the default local servers (started only if not running, and then stopped)",
    )
    p.add_argument("--stores", default="sqlite,neo4j", help="stores for who-has and reports (default: both)")
    p.add_argument("--no-record", action="store_true", help=f"do not append to {RESULTS.name}")
    p.add_argument("--results", type=Path, default=RESULTS, help="where to append the results")
    p.add_argument("--seed", type=int, default=1)
    p.add_argument("--people", type=int, help="simulated people for ingest/embedded (default 1,500; quick 30)")
    p.add_argument("--days", type=int, help="simulated days (default 14; quick 3)")
    p.add_argument("--workers", type=int, default=2, help="`lineage worker` processes (default 2)")
    p.add_argument("--partitions", type=int, default=4, help="partitions of the events topic (default 4)")
    p.add_argument(
        "--batch-size",
        type=int,
        default=Settings.kafka_batch_size,
        help=f"ingest, alerts: worker batch size (default {Settings.kafka_batch_size:,}, the worker's own)",
    )
    p.add_argument(
        "--batch-wait",
        type=float,
        default=Settings.kafka_batch_wait,
        help=f"ingest, alerts: seconds a worker waits to fill a batch (default {Settings.kafka_batch_wait:g}, the "
        "worker's own)",
    )
    p.add_argument("--naive-seconds", type=float, help="time cap of the naive consumer (default 90; quick 5)")
    p.add_argument("--max-people", type=int, help="largest graph for who-has/reports (default 1,000,000)")
    p.add_argument("--build-budget", type=float, default=1500.0, help="seconds one graph-growing step may take")
    p.add_argument("--report-budget", type=float, default=300.0, help="seconds the reports may take at one size")
    p.add_argument("--alert-rate", type=float, default=5000.0, help="offered events/s for alert latency")
    p.add_argument(
        "--alert-low-rate",
        type=float,
        help="alerts: the second offered rate, below capacity (default: half the measured ingest rate, else 500; "
        "0: skip it)",
    )
    p.add_argument(
        "--no-alerter",
        action="store_true",
        help="alerts: measure the workers' own alerts (published after each write) instead of `lineage alerter`",
    )
    p.add_argument(
        "--nice-workers",
        type=int,
        default=0,
        help="alerts: the graph workers at this nice value, so the alert path (emitter, broker, alerter) comes first",
    )
    p.add_argument(
        "--nice-graph",
        type=int,
        default=10,
        help="alerts: also measure --alert-rate with the graph writes (the workers and every thread of Neo4j) at "
        "this nice value, as a deployment that gives the alert path the CPU first would (default 10; 0: skip)",
    )
    p.add_argument(
        "--one-session",
        action="store_true",
        help="start the workers and the alerter in the bench's own session (one scheduling group with the emitter "
        "under the kernel's autogroup scheduling) rather than each in a session of its own",
    )
    p.add_argument("--alert-seconds", type=float, help="seconds of load per alert run (default 20; quick 3)")
    p.add_argument("--concurrency", type=int, default=20, help="http: requests in flight (default 20)")
    p.add_argument("--http-seconds", type=float, help="http: seconds per round and endpoint (default 10; quick 2)")
    p.add_argument("--http-people", type=int, help="http: simulated people in the store (default 300; quick 20)")
    p.add_argument(
        "--split-cores",
        action="store_true",
        help="ingest: Neo4j pinned to CPU 0, Kafka, the bench and the workers to the others (Linux), so that the "
        "pipeline and the store's statements get the same CPU for the database",
    )
    p.add_argument("--profile", action="store_true", help="profile (pyinstrument in-process, py-spy on a worker)")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    quick = args.quick
    which = {"all": ["embedded", "ingest", "alerts", "http", "who-has"]}.get(args.measurement, [args.measurement])
    report = Report(command_line())
    services = Services(mode=args.services)
    people = args.people or (30 if quick else 1500)
    days = args.days or (3 if quick else 14)
    stores = [s.strip() for s in args.stores.split(",") if s.strip()]
    needs_servers = bool(SERVER_MEASUREMENTS & set(which)) or (
        "neo4j" in stores and {"who-has", "reports"} & set(which)
    )
    begun = time.perf_counter()
    pipeline_rate: float | None = None

    def guarded(name: str, measure: Callable[[], object]) -> object:
        """Run one measurement; a failure is recorded as a row and a note, and the others still run."""
        try:
            return measure()
        except Exception as exc:  # noqa: BLE001 - reported in the table, and the exit status
            report.rows.append(Row(name, f"FAILED: {type(exc).__name__}"))
            report.note(f"{name} failed: {type(exc).__name__}: {str(exc)[:1500]}")
            traceback.print_exc()
            failures.append(name)
            return None

    failures: list[str] = []
    try:
        if needs_servers:
            from bench.infra import kafka_version, neo4j_version

            services.ensure("kafka")
            services.ensure("neo4j")
            report.servers = {"Kafka": kafka_version(), "Neo4j": neo4j_version(services)}
            report.note("Servers: " + services.describe() + "; " + "; ".join(services.log) + ".")
        with tempfile.TemporaryDirectory(prefix="bench-") as tmp:
            folder = Path(tmp)
            data = dataset(people, days, args.seed) if {"embedded", "ingest"} & set(which) else None
            if "embedded" in which and data is not None:
                from bench import embedded

                guarded(
                    "2. embedded ingest",
                    lambda: embedded.run(data, report, repeats=1 if quick else 3, profile=args.profile),
                )
            if "ingest" in which and data is not None:
                from bench import ingest

                def measure_ingest() -> float:
                    with ingest.split_cores(services, report) if args.split_cores else contextlib.nullcontext():
                        return ingest.run(
                            data,
                            services,
                            report,
                            folder,
                            workers=1 if quick else args.workers,
                            partitions=args.partitions,
                            batch_size=args.batch_size,
                            batch_wait=args.batch_wait,
                            rounds=1 if quick else 3,
                            naive_seconds=args.naive_seconds or (5.0 if quick else 90.0),
                            profile_dir=folder if args.profile else None,
                        )

                measured = guarded("1. ingest", measure_ingest)
                pipeline_rate = measured if isinstance(measured, float) else None
            if "alerts" in which:
                from bench import alerts

                seconds = args.alert_seconds or (3.0 if quick else 20.0)
                low = alerts.sustainable(pipeline_rate) if args.alert_low_rate is None else args.alert_low_rate
                rates = [500.0] if quick else [r for r in (args.alert_rate, low) if r > 0]
                # about 7 events per person-day: enough for the runs and the warm-up (15 s at the lowest rate)
                load = dataset(max(50, int((sum(rates) * seconds + min(rates) * 15) / 35)), 6, args.seed + 1)
                # (name, offered rates, nice values): at equal priority, then the same offered rate with the graph
                # writes niced so that the alert path comes first
                alert_runs: list[tuple[str, list[float], dict[str, int]]] = [
                    ("4. alert latency", rates, {"worker_nice": args.nice_workers})
                ]
                if args.nice_graph and not quick:
                    alert_runs.append(
                        ("4. alert latency, graph writes niced", [args.alert_rate], {"graph_nice": args.nice_graph})
                    )
                for name, run_rates, nice in alert_runs:
                    guarded(
                        name,
                        functools.partial(
                            alerts.run,
                            load,
                            services,
                            report,
                            folder,
                            rates=run_rates,
                            seconds=seconds,
                            workers=1 if quick else args.workers,
                            partitions=args.partitions,
                            batch_size=args.batch_size,
                            batch_wait=args.batch_wait,
                            alerter=not args.no_alerter,
                            own_sessions=not args.one_session,
                            **nice,
                        ),
                    )
            if "http" in which:
                from bench import http

                guarded(
                    "6. who-has over HTTP",
                    lambda: http.run(
                        dataset(args.http_people or (20 if quick else 300), days, args.seed + 2),
                        report,
                        folder,
                        concurrency=args.concurrency,
                        seconds=args.http_seconds or (2.0 if quick else 10.0),
                        rounds=1 if quick else 3,
                        warmup=0.5 if quick else 2.0,
                    ),
                )
            if {"who-has", "reports"} & set(which):
                from bench import latency

                top = args.max_people or (3_000 if quick else 1_000_000)
                sizes = [1_000, 3_000] if quick else [n for n in (10_000, 100_000, 1_000_000) if n <= top]
                kw = {
                    "samples": 20 if quick else 200,
                    "build_budget": args.build_budget,
                    "report_budget": args.report_budget,
                    "who_has": "who-has" in which or args.measurement == "all",
                    "reports": "reports" in which or args.measurement == "all",
                }
                if "sqlite" in stores:
                    guarded("3./5. SQLite graphs", lambda: latency.run_sqlite(report, sizes, **kw))
                if "neo4j" in stores:
                    guarded("3./5. Neo4j graphs", lambda: latency.run_neo4j(services, report, sizes, **kw))
    finally:
        services.stop_started()
        report.note(f"Whole run: {time.perf_counter() - begun:,.0f} s.")
        print(report.table())
        for n in report.notes:
            print("- " + n)
        if not args.no_record:
            report.append_to(args.results)
            print(f"appended to {args.results}", file=sys.stderr)
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
