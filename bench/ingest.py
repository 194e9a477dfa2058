"""Measurement 1: Kafka -> `lineage worker` -> Neo4j against Neo4j's raw per-person write and a naive consumer.

All four take the same simulated events and write to the same Neo4j server, each into a namespace of its own:

* *pipeline*: the events are put on a topic first (untimed); then ``workers`` `lineage worker` processes consume
  it (parse and validate, policy, pseudonyms, batched write, offset commit after the write). Progress is the
  consumer group's committed offsets, which the worker commits only once a batch is in the store.
* *raw per-person write*: :mod:`bench.raw`, the least a per-person graph with idempotent events needs (``MERGE`` the
  person, ``CREATE`` the event node and its relationship), pre-built rows in batches of ``ceiling_batch`` events from
  as many threads as workers: the reference of the target.
* *naive*: :mod:`bench.naive`, one write transaction per event, from the same topic.
* *ceiling*: the graph changes and their statement rows built in memory first (untimed, with the store's own
  planning, which remembers across a writer's batches the lineage edges it wrote), then written with the store's
  own statements in batches of ``ceiling_batch`` events, one write
  transaction per batch: no Kafka, no validation, no policy, no Python planning in the timed part except what the
  store's statements need at write time (the Data and Subject element ids their first statements return, put into
  the later statements' rows, as the store does: :func:`graph.neo4j_writes.lock_people`,
  :func:`~graph.neo4j_writes.events` and :func:`~graph.neo4j_writes.write`).

Each figure is the sustained rate between 10 % and 90 % of the events done (see :func:`bench.common.sustained_rate`).
"""

from __future__ import annotations

import contextlib
import gc
import os
import uuid
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from statistics import median
from typing import Any

from bench import naive, raw
from bench.common import KEY, Dataset, Report, Row, batches, sustained_rate, sustained_window, writer_of
from bench.embedded import spread
from bench.infra import (
    Deployment,
    create_bench_topics,
    delete_namespace,
    open_neo4j_store,
    preload,
    run_id,
    threaded_calls,
    threaded_writes,
)
from bench.profiling import CpuTrace, cpu_seconds, pin, spy_shares
from bench.services import Services
from config import Settings
from graph.pseudonym import Pseudonymizer, key_from_text
from policies import default_policy
from schemas.parsing import parse_event
from streams.collector import collector_paused
from streams.handler import Handler

NAIVE_TARGET, RAW_TARGET = 20.0, 0.5
WORKER_MARKERS = (
    "parse_event",
    "consent_for",
    "evaluate (policies/compliance.py",
    "project (graph/projection.py",
    "event_rows (graph/neo4j_plan.py",
    "plan (graph/neo4j_plan.py",
    "apply (graph/neo4j_store.py",
    "aiokafka",
    "publish (streams/agents.py",
)


# per writer: its batches of (people, event rows, statements; the Data nodes' rows are among the statements)
Planned = list[list[tuple[list[str], list[Any], list[Any]]]]


def _shares(data: Dataset, services: Services, namespace: str, writers: int) -> list[list[Any]]:
    """The data set's ChangeSets as the store's handler makes them, split between ``writers`` by person, as Kafka
    partitions split them between workers."""
    policy = default_policy()
    taxonomy = policy.taxonomy()
    events = [parse_event(line, taxonomy) for line in data.lines]
    store = open_neo4j_store(services, namespace)  # creates the constraints, binds the key as a real store would
    try:
        changes = Handler(store, policy, Pseudonymizer(key_from_text(KEY))).changes(events)
    finally:
        store.close()
    shares: list[list[Any]] = [[] for _ in range(writers)]
    for cs in changes:
        shares[writer_of(cs.subject.key, writers)].append(cs)
    return shares


def _planned(shares: list[list[Any]], batch: int) -> Planned:
    """The store's own statement rows for every batch of each writer's share, built in memory."""
    from graph import neo4j_plan

    out = []
    for share in shares:
        written = neo4j_plan.Written()  # a writer's memory of its edges, as the store keeps it across batches
        planned = []
        for c in batches(share, batch):
            known = {p: written.known(p) for p in {cs.subject.key for cs in c}}
            new: dict[str, Any] = {}
            people = sorted({cs.event.subject for cs in c})
            planned.append((people, neo4j_plan.event_rows(c), neo4j_plan.plan(c, known, new)))
            written.add(new)
        out.append(planned)
    return out


def _raw_rows(shares: list[list[Any]], batch: int) -> list[list[list[list[Any]]]]:
    """The raw per-person write's rows for every batch of each writer's share."""
    return [[raw.rows(c) for c in batches(share, batch)] for share in shares]


def ceiling(services: Services, namespace: str, planned: Planned) -> list[tuple[float, int]]:
    """Write pre-planned batches with the store's statements, one write transaction per batch, one thread per
    writer; (time, done so far) marks."""
    from graph import neo4j_writes

    now = datetime.now(UTC)

    def batch(session: Any, planned_batch: tuple[list[str], list[Any], list[Any]]) -> int:
        people, event_rows, statements = planned_batch

        def work(tx: Any) -> None:
            neo4j_writes.lock_people(tx, namespace, people)
            neo4j_writes.events(tx, namespace, event_rows, uuid.uuid4().hex, now)
            neo4j_writes.write(tx, namespace, statements)

        session.execute_write(work)
        return len(event_rows)

    return threaded_writes(services, planned, batch)


def store_apply(services: Services, namespace: str, shares: list[list[Any]], batch: int) -> list[tuple[float, int]]:
    """The store's whole write on pre-built ChangeSets: ``Neo4jGraphStore.apply`` per batch of ``batch`` events, one
    store per writer thread (its statements, the tombstones' read, the flow aggregates and the store's Python in the
    transaction: what a worker's write is, without Kafka, parsing, judging or projecting); (time, done) marks."""
    stores = [open_neo4j_store(services, namespace) for _ in shares]

    def applying(store: Any) -> Callable[[list[Any]], int]:
        def call(changes: list[Any]) -> int:
            with collector_paused():  # as a worker's batch is
                store.apply(changes)
            return len(changes)

        return call

    try:
        return threaded_calls([(applying(s), batches(sh, batch)) for s, sh in zip(stores, shares, strict=True)])
    finally:
        for s in stores:
            s.close()


def pipeline(
    data: Dataset,
    services: Services,
    folder: Path,
    *,
    workers: int,
    partitions: int,
    batch_size: int,
    batch_wait: float,
    timeout: float,
    profile: Path | None = None,
) -> tuple[list[tuple[float, int]], Deployment, float]:
    """Preload a topic, run the workers until every event is committed; return marks, the deployment, preload s."""
    dep = Deployment.new(services, "ingest", folder, batch_size=batch_size, batch_wait=batch_wait)
    create_bench_topics(services, dep.names, partitions)
    loaded = preload(services, dep.names.events, data.lines, data.subjects)
    dep.start_workers(workers, profile=profile)
    try:
        marks = dep.wait_committed(len(data.lines), timeout)
    finally:
        dep.stop_workers()
    return marks, dep, loaded


@contextlib.contextmanager
def split_cores(services: Services, report: Report) -> Iterator[None]:
    """Meanwhile, Neo4j on CPU 0 and everything else (Kafka, this process and its threads, the workers it starts) on
    the other CPUs, so that the pipeline and the store's statements are compared with the same CPU for the database
    and the pipeline's clients do not take it; unpinned after."""
    everything = os.sched_getaffinity(0)
    if len(everything) < 2 or 0 not in everything:
        raise RuntimeError(f"--split-cores needs CPU 0 and another one; this process may use {sorted(everything)}")
    rest = everything - {0}
    pids = services.server_pids()
    if "neo4j" not in pids or "kafka" not in pids:
        raise RuntimeError(f"--split-cores needs the servers' pids (found {sorted(pids)})")
    threads = pin(pids["neo4j"], {0}), pin(pids["kafka"], rest), pin(os.getpid(), rest)
    report.note(
        f"Cores split: Neo4j ({threads[0]} threads) on CPU 0; Kafka ({threads[1]} threads), the bench process (its "
        f"writer threads included) and the workers it starts on CPU {','.join(map(str, sorted(rest)))}, for the whole "
        "measurement (warm-up included)."
    )
    try:
        yield
    finally:
        for pid in (pids["neo4j"], pids["kafka"], os.getpid()):
            with contextlib.suppress(OSError):
                pin(pid, everything)


def _in_window(trace: CpuTrace, marks: list[tuple[float, int]], total: int) -> tuple[float, float]:
    """(Neo4j CPU us per event, its busy share) between the moments 10 % and 90 % of ``total`` were done."""
    t_a, t_b = sustained_window(marks, total)
    cpu = trace.between(t_a, t_b)
    return 1e6 * cpu / (0.8 * total), (cpu / (t_b - t_a) if t_b > t_a else float("nan"))


def _us_busy(window: tuple[float, float]) -> str:
    return f"{window[0]:.0f} us at {100 * window[1]:.0f} %"


def run(
    data: Dataset,
    services: Services,
    report: Report,
    folder: Path,
    *,
    workers: int = 2,
    partitions: int = 4,
    batch_size: int = Settings.kafka_batch_size,
    batch_wait: float = Settings.kafka_batch_wait,
    ceiling_batch: int = 5000,
    rounds: int = 3,
    naive_seconds: float = 60.0,
    timeout: float = 1800.0,
    profile_dir: Path | None = None,
) -> float:
    """Run the three on ``data``; add rows and notes to ``report``; return the pipeline's sustained events/s."""
    total = len(data.lines)
    rid = run_id()
    ns_ceiling, ns_warm, ns_naive = f"bench-ceiling-{rid}", f"bench-warm-{rid}", f"bench-naive-{rid}"
    ns_raw, ns_apply = f"bench-raw-{rid}", f"bench-apply-{rid}"
    report.load("ingest: start")

    # warm-up: the server's JIT and query caches, on the first events, in namespaces thrown away
    warm = Dataset(data.lines[: min(total, 5000)], [], [], [], data.people, data.days, data.seed)
    warm_shares = _shares(warm, services, ns_warm, workers)
    ceiling(services, ns_warm, _planned(warm_shares, ceiling_batch))
    raw.write(services, ns_warm, _raw_rows(warm_shares, ceiling_batch))
    delete_namespace(services, ns_warm)
    store_apply(services, ns_warm, warm_shares, ceiling_batch)
    delete_namespace(services, ns_warm)
    raw.drop(services, ns_warm)

    shares = _shares(data, services, ns_ceiling, workers)
    delete_namespace(services, ns_ceiling)  # what opening the store there wrote; each round writes its own namespace
    planned = _planned(shares, ceiling_batch)
    raw_rows = _raw_rows(shares, ceiling_batch)
    # the references' pre-built data (every event's changes and rows) is this process's, not what a worker holds:
    # kept out of the collector's traversals, which would otherwise slow the store's Python in apply() by its size
    gc.freeze()
    server_pids = services.server_pids()

    Round = tuple[float, float, float, tuple[float, float]]  # events/s, s for all, Neo4j CPU-s, in its window

    def measured(label: str, write: Callable[..., list[tuple[float, int]]], *args: Any) -> Round:
        """One round of a reference, ``write(*args)``: its sustained rate, its time for all, Neo4j's CPU over it and
        inside its sustained window."""
        report.load(label)
        with CpuTrace(server_pids.get("neo4j")) as trace:
            marks = write(*args)
        return sustained_rate(marks, total), marks[-1][0] - marks[0][0], trace.spent(), _in_window(trace, marks, total)

    # the store's statements, the raw write and the store's apply() in turns, each round into new namespaces: the
    # server's JIT warms up over the first rounds (a single ceiling run right after the short warm-up ran at about
    # half its warm rate)
    ceil_runs: list[Round] = []
    raw_runs: list[Round] = []
    apply_runs: list[Round] = []
    for turn in range(rounds):
        ns = f"{ns_ceiling}-{turn}"
        ceil_runs.append(measured(f"ingest: ceiling, round {turn + 1}", ceiling, services, ns, planned))
        delete_namespace(services, ns)
        ns = f"{ns_raw}-{turn}"
        raw_runs.append(measured(f"ingest: raw per-person write, round {turn + 1}", raw.write, services, ns, raw_rows))
        raw.drop(services, ns)
        ns = f"{ns_apply}-{turn}"
        label = f"ingest: the store's apply(), round {turn + 1}"
        apply_runs.append(measured(label, store_apply, services, ns, shares, ceiling_batch))
        delete_namespace(services, ns)
    del planned, raw_rows, shares
    gc.unfreeze()
    ceil_rate, raw_rate = median(r[0] for r in ceil_runs), median(r[0] for r in raw_runs)
    ceil_cpu, raw_cpu = median(r[2] for r in ceil_runs), median(r[2] for r in raw_runs)
    ceil_window = median(r[3][0] for r in ceil_runs), median(r[3][1] for r in ceil_runs)
    apply_rate, apply_cpu = median(r[0] for r in apply_runs), median(r[2] for r in apply_runs)
    apply_window = median(r[3][0] for r in apply_runs), median(r[3][1] for r in apply_runs)
    pair_ratio = median(c[0] / r[0] for c, r in zip(ceil_runs, raw_runs, strict=True))

    report.load("ingest: pipeline")
    cpu_before = {name: cpu_seconds(pid) for name, pid in server_pids.items()}
    with CpuTrace(server_pids.get("neo4j")) as pipe_trace:
        pipe_marks, dep, preload_s = pipeline(
            data,
            services,
            folder,
            workers=workers,
            partitions=partitions,
            batch_size=batch_size,
            batch_wait=batch_wait,
            timeout=timeout,
            profile=profile_dir / "worker.spy" if profile_dir else None,
        )
    pipe_rate = sustained_rate(pipe_marks, total)
    pipe_window = _in_window(pipe_trace, pipe_marks, total)
    cpu = {name: cpu_seconds(pid) - cpu_before[name] for name, pid in server_pids.items()}
    cpu["workers"] = dep.worker_cpu
    from bench.infra import count_events

    stored = count_events(services, dep.namespace)
    if stored != total:
        raise RuntimeError(f"the pipeline stored {stored} of {total} events")
    stored_batches, in_batches, retried = dep.worker_batches()

    report.load("ingest: naive")
    naive_marks = naive.consume(services, dep.names.events, ns_naive, total, naive_seconds)
    naive_done = naive_marks[-1][1]
    naive_rate = sustained_rate(naive_marks, naive_done)
    report.load("ingest: end")

    dep.cleanup()
    naive.drop(services, ns_naive)

    report.rows.append(
        Row(
            "1. ingest Kafka -> worker -> Neo4j vs raw write",
            f"{pipe_rate:,.0f} events/s",
            f"raw per-person write {raw_rate:,.0f} events/s",
            f"{pipe_rate / raw_rate:.2f}x",
            f">= {RAW_TARGET:g}x",
            pipe_rate / raw_rate >= RAW_TARGET,
        )
    )
    report.rows.append(
        Row(
            "1. ingest Kafka -> worker -> Neo4j vs naive",
            f"{pipe_rate:,.0f} events/s",
            f"naive consumer {naive_rate:,.0f} events/s",
            f"{pipe_rate / naive_rate:.1f}x",
            f">= {NAIVE_TARGET:g}x",
            pipe_rate / naive_rate >= NAIVE_TARGET,
        )
    )
    report.rows.append(
        Row(
            "1. the store's statements (pre-built rows) vs raw write",
            f"{spread([r[0] for r in ceil_runs], '{:,.0f}')} events/s",
            f"raw per-person write {spread([r[0] for r in raw_runs], '{:,.0f}')} events/s",
            f"{pair_ratio:.2f}x",
        )
    )
    report.rows.append(
        Row(
            "1. ingest Kafka -> worker -> Neo4j vs the store's statements",
            f"{pipe_rate:,.0f} events/s",
            f"pre-built UNWIND batches {ceil_rate:,.0f} events/s",
            f"{pipe_rate / ceil_rate:.2f}x",
        )
    )
    report.rows.append(
        Row(
            "1. ingest Kafka -> worker -> Neo4j vs the store's apply()",
            f"{pipe_rate:,.0f} events/s",
            f"apply() on pre-built ChangeSets {spread([r[0] for r in apply_runs], '{:,.0f}')} events/s",
            f"{pipe_rate / apply_rate:.2f}x",
        )
    )
    pipe_span = pipe_marks[-1][0] - pipe_marks[0][0]
    report.note(
        f"Ingest: {data.describe()} on a topic of {partitions} partitions (preloaded in {preload_s:.1f} s, untimed); "
        f"{workers} `lineage worker` process(es), batches of up to {batch_size} ({batch_wait:g} s wait), policy "
        f"evaluation on; the workers stored {stored_batches:,} batch(es) of "
        f"{in_batches / max(stored_batches, 1):,.0f} events on average and ran {retried:,} write transaction(s) "
        "again after a transient error such as a deadlock between them (their health files); "
        f"all {total:,} events in Neo4j after {pipe_span:.1f} s from the workers' start (group join included). "
        f"Ceiling: {workers} writer thread(s) (people split between them as partitions split them between "
        f"workers), batches of {ceiling_batch} events, {' / '.join(f'{r[1]:.1f}' for r in ceil_runs)} s for all "
        f"in {rounds} round(s). Raw per-person write: the same threads and batches, "
        f"{' / '.join(f'{r[1]:.1f}' for r in raw_runs)} s for all, each round right after the ceiling's (the rates "
        "above: medians of the rounds, (min-max); the ratio: the median of the rounds' ratios). The store's apply(): "
        "`Neo4jGraphStore.apply` on the same ChangeSets, the same threads and batches (its statements with the "
        "erasures' tombstones read and the flow aggregates, which the pre-built rows leave out, and the store's Python "
        f"in the transaction), {' / '.join(f'{r[1]:.1f}' for r in apply_runs)} s for all, after the raw write. "
        f"Naive: {naive_done:,} events in {naive_marks[-1][0] - naive_marks[0][0]:.1f} s (capped at "
        f"{naive_seconds:g} s), one write transaction per event. Rates are sustained rates between 10% and 90% of "
        "the events each one processed; a warm-up of 5,000 events through the ceiling and the raw write ran first."
    )
    report.note(
        f"Ingest pipeline CPU over its {pipe_span:.1f} s (2 cores = {2 * pipe_span:.0f} CPU-s available, shared with "
        "whatever else runs): " + ", ".join(f"{k} {v:.1f} CPU-s" for k, v in cpu.items()) + "."
    )
    pipe_neo4j = cpu.get("neo4j", float("nan"))
    report.note(
        f"Neo4j CPU per event: the pipeline {1e6 * pipe_neo4j / total:.0f} us, the store's statements on "
        f"pre-built rows {1e6 * ceil_cpu / total:.0f} us, the raw per-person write {1e6 * raw_cpu / total:.0f} us"
        f" (medians of the rounds; by round {' / '.join(f'{1e6 * r[2] / total:.0f}' for r in ceil_runs)} and "
        f"{' / '.join(f'{1e6 * r[2] / total:.0f}' for r in raw_runs)} us); the workers "
        f"{1e6 * cpu['workers'] / total:.0f} us; the store's apply() {1e6 * apply_cpu / total:.0f} us. Inside each "
        "one's sustained window (10-90 % of the events: the start, the group join and the tail left out), Neo4j's "
        "CPU per event and its core's busy share: the pipeline "
        f"{_us_busy(pipe_window)}, the store's statements {_us_busy(ceil_window)} (by round "
        f"{' / '.join(_us_busy(r[3]) for r in ceil_runs)}), the store's apply() {_us_busy(apply_window)} (by round "
        f"{' / '.join(_us_busy(r[3]) for r in apply_runs)}), the raw write by round "
        f"{' / '.join(_us_busy(r[3]) for r in raw_runs)}."
    )
    if profile_dir is not None:
        samples, spy = spy_shares(profile_dir / "worker.spy", WORKER_MARKERS)
        report.note(
            f"Worker profile (py-spy, first worker, {samples} on-CPU samples): "
            + ", ".join(f"{m} {100 * v:.0f}%" for m, v in spy.items())
            + " of its CPU samples."
        )
    return pipe_rate
