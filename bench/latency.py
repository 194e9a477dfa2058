"""Measurements 3 and 5: who-has latency (p50, p95) and RoPA/CCPA report time as the graph grows, on both stores."""

from __future__ import annotations

import random
import tempfile
import time
from collections.abc import Callable, Sequence
from datetime import timedelta
from pathlib import Path
from typing import Any

from bench import graphs
from bench.common import KEY, Report, Row, percentile
from graph.pseudonym import Pseudonymizer, key_from_text
from graph.sqlite_store import SQLiteGraphStore
from graph.store import GraphStore, StoreError
from policies import default_policy
from reports.ccpa import ccpa_report
from reports.ropa import ropa_report

TARGET_P95_MS = 50.0
TARGET_PEOPLE = 1_000_000


def who_has_latency(store: GraphStore, people: int, samples: int, seed: int) -> tuple[float, float]:
    """p50 and p95 in ms of ``store.who_has`` for ``samples`` random people, after ``samples // 10`` warm-up calls."""
    rng = random.Random(seed)  # noqa: S311 - sampling, not security
    for _ in range(max(5, samples // 10)):
        store.who_has(graphs.subject_key(rng.randrange(people)))
    times = []
    for _ in range(samples):
        key = graphs.subject_key(rng.randrange(people))
        start = time.perf_counter()
        answer = store.who_has(key)
        times.append((time.perf_counter() - start) * 1000)
        if answer is None or not answer.recipients:
            raise RuntimeError(f"who_has({key}) found nothing")
    return percentile(times, 50), percentile(times, 95)


def report_times(store: GraphStore) -> tuple[float, float]:
    """Seconds for the RoPA and the CCPA report over the whole period of the synthetic graph."""
    policy = default_policy()
    since, until = graphs.BASE, graphs.BASE + timedelta(seconds=graphs.SPREAD + 7200)
    start = time.perf_counter()
    ropa_report(store, policy, since, until)
    ropa = time.perf_counter() - start
    start = time.perf_counter()
    ccpa_report(store, policy, since, until)
    return ropa, time.perf_counter() - start


def _grow(
    label: str,
    store: GraphStore,
    build: Callable[[int, int], None],
    sizes: Sequence[int],
    report: Report,
    *,
    samples: int,
    build_budget: float,
    report_budget: float,
    who_has: bool,
    reports: bool,
) -> None:
    built = 0
    rate = 0.0  # people per second of the last build step
    report_s = 0.0  # seconds of the last reports
    for size in sizes:
        if rate and (size - built) / rate > build_budget:
            report.note(
                f"who-has {label}: {size:,} people NOT measured: building them would take about "
                f"{(size - built) / rate:,.0f} s at the {rate:,.0f} people/s seen so far (budget {build_budget:g} s)."
            )
            break
        report.load(f"{label} build to {size:,}")
        start = time.perf_counter()
        build(built, size)
        seconds = time.perf_counter() - start
        rate = (size - built) / seconds
        report.note(
            f"who-has {label}: people {built:,} to {size:,} built in {seconds:,.1f} s ({rate:,.0f} people/s, "
            f"{2 * rate:,.0f} events/s)."
        )
        built = size
        report.load(f"{label} at {size:,}")
        if who_has:
            _who_has_row(label, store, size, samples, report)
        if not reports:
            continue
        if report_s * 12 > report_budget:  # about ten times the people: about ten times the evidence to aggregate
            report.note(f"reports {label}: {size:,} people NOT measured (the last took {report_s:.0f} s).")
            continue
        start = time.perf_counter()
        try:
            ropa, ccpa = report_times(store)
        except StoreError as exc:  # e.g. the server's transaction memory limit: a finding, not a crash of the bench
            spent = time.perf_counter() - start
            report.rows.append(Row(f"5. reports, {label}, {size:,} people", f"FAILED after {spent:.0f} s"))
            report.note(f"reports {label} at {size:,} people failed after {spent:.0f} s: {exc}")
            reports = False
            continue
        report_s = ropa + ccpa
        report.rows.append(
            Row(f"5. reports, {label}, {size:,} people", f"RoPA {ropa:.2f} s, CCPA {ccpa:.2f} s", f"{2 * size:,} evts")
        )


def _who_has_row(label: str, store: GraphStore, size: int, samples: int, report: Report) -> None:
    p50, p95 = who_has_latency(store, size, samples, seed=size)
    target = label.startswith("Neo4j") and size >= TARGET_PEOPLE
    report.rows.append(
        Row(
            f"3. who-has, {label}, {size:,} people",
            f"p50 {p50:.1f} ms, p95 {p95:.1f} ms",
            f"{samples} random people",
            "",
            f"p95 < {TARGET_P95_MS:g} ms" if target else "flat",
            p95 < TARGET_P95_MS if target else None,
        )
    )


def run_sqlite(report: Report, sizes: Sequence[int], **kw: Any) -> None:
    with tempfile.TemporaryDirectory(prefix="bench-latency-") as tmp:
        store = SQLiteGraphStore(Path(tmp) / "graph.db")
        store.bind_key(Pseudonymizer(key_from_text(KEY)).fingerprint)
        try:
            _grow(
                "SQLite",
                store,
                lambda lo, hi: graphs.apply_people(store, lo, hi),
                sizes,
                report,
                **kw,
            )
        finally:
            store.close()
    report.note(
        "who-has SQLite graph: built with SQLiteGraphStore.apply() itself, synthetic ChangeSets of 2 events per person "
        "(bench/graphs.py), 10,000 people per apply() call."
    )


def run_neo4j(services: Any, report: Report, sizes: Sequence[int], **kw: Any) -> None:
    from bench.infra import delete_namespace, neo4j_driver, open_neo4j_store, run_id

    graphs.check_neo4j_generator(services)
    namespace = f"bench-latency-{run_id()}"
    store = open_neo4j_store(services, namespace)
    store.bind_key(Pseudonymizer(key_from_text(KEY)).fingerprint)
    try:
        with neo4j_driver(services) as driver:
            _grow(
                "Neo4j",
                store,
                lambda lo, hi: graphs.neo4j_generate(driver, namespace, lo, hi),
                sizes,
                report,
                **kw,
            )
    finally:
        store.close()
        if services.mode == "shared":
            delete_namespace(services, namespace)
    report.note(
        "who-has Neo4j graph: the same 2 events per person CREATEd by a Cypher statement that generates them on the "
        "server (bench/graphs.py GENERATE), 10,000 people per transaction, because the store's full write path is "
        "too slow for 2 million events here; before each run a few people are built both ways (apply() and the "
        "generator) and every who-has answer is required to be identical."
    )
