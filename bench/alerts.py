"""Measurement 4: alert latency, from the emitter's send to the alert on the alerts topic, under load.

The workers run on topics of their own; the alerts topic stamps each message with the broker's append time
(``message.timestamp.type=LogAppendTime``), so "on the topic" is the broker's clock, read afterwards. The bench emits
simulated traffic through :class:`streams.emitter.Emitter` and a :class:`streams.event_sinks.KafkaSink` (validation
included) at a steady offered rate and notes the send time of every planted undeclared event; each such event
must raise at least one alert, and its latency is append time minus send time (same machine, same clock).
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import threading
import time
from collections.abc import Iterator, Sequence
from pathlib import Path

from bench.common import Dataset, Report, Row, percentile, sustained_rate
from bench.infra import Deployment, create_bench_topics
from bench.profiling import cpu_seconds, tree_cpu_seconds
from bench.services import Services
from config import Settings
from policies import default_policy
from streams.emitter import Emitter
from streams.event_sinks import KafkaSink

TARGET_P99_S = 1.0


def _emit(emitter: Emitter, data: Dataset, lo: int, hi: int, rate: float) -> tuple[dict[str, float], float]:
    """Emit lines [lo, hi) at ``rate`` per second; return send times of planted events and the achieved rate."""
    sent: dict[str, float] = {}
    start = time.perf_counter()
    for k in range(lo, hi):
        due = start + (k - lo) / rate
        wait = due - time.perf_counter()
        if wait > 0.001:
            time.sleep(wait)
        if data.undeclared[k]:
            sent[data.event_ids[k]] = time.time()
        emitter.emit(data.lines[k])
    emitter.flush()
    return sent, (hi - lo) / (time.perf_counter() - start)


def _alert_times(services: Services, topic: str, wanted: set[str], timeout: float) -> dict[str, float]:
    """First append time (epoch s) of a message per wanted event id (an alert, or the event itself on the events
    topic), reading the topic from its start."""
    from kafka import KafkaConsumer  # type: ignore[import-untyped]

    consumer = KafkaConsumer(
        topic, bootstrap_servers=services.kafka_bootstrap, group_id=None, auto_offset_reset="earliest"
    )
    seen: dict[str, float] = {}
    deadline = time.monotonic() + timeout
    try:
        while wanted - seen.keys() and time.monotonic() < deadline:
            for records in consumer.poll(timeout_ms=500).values():
                for m in records:
                    eid = json.loads(m.value)["event_id"]
                    if eid in wanted and eid not in seen:
                        seen[eid] = m.timestamp / 1000
    finally:
        consumer.close()
    return seen


def _cpu(dep: Deployment, services: Services, workers: int) -> dict[str, float]:
    """CPU seconds so far of the emitter (this process's own threads: the bench loop and kafka-python's sender),
    the broker, Neo4j, the graph workers and the alerter."""
    usage = resource.getrusage(resource.RUSAGE_SELF)
    out = {"emitter": usage.ru_utime + usage.ru_stime}
    out |= {name: cpu_seconds(pid) for name, pid in services.server_pids().items()}
    out["workers"] = sum(tree_cpu_seconds(p.pid) for p in dep.workers[:workers])
    if len(dep.workers) > workers:
        out["alerter"] = sum(tree_cpu_seconds(p.pid) for p in dep.workers[workers:])
    return out


@contextlib.contextmanager
def niced(pid: int | None, value: int) -> Iterator[None]:
    """Every thread of process ``pid`` at nice ``value`` (Linux niceness is per thread), restored on exit."""
    before: dict[int, int] = {}
    if pid is not None and value:
        for task in Path(f"/proc/{pid}/task").iterdir():
            tid = int(task.name)
            with contextlib.suppress(ProcessLookupError):
                before[tid] = os.getpriority(os.PRIO_PROCESS, tid)
                os.setpriority(os.PRIO_PROCESS, tid, value)
    try:
        yield
    finally:
        for tid, old in before.items():
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.setpriority(os.PRIO_PROCESS, tid, old)


def _watch(dep: Deployment, total: int, timeout: float, marks: list[tuple[float, int]]) -> None:
    """Poll the group's committed offsets (into ``marks``) until ``total`` or ``timeout``."""
    with contextlib.suppress(TimeoutError):
        dep.wait_committed(total, timeout=timeout, on_mark=lambda t, n: marks.append((t, n)), poll=0.1)


def run(
    data: Dataset,
    services: Services,
    report: Report,
    folder: Path,
    *,
    rates: Sequence[float] = (5000.0,),
    seconds: float = 20.0,
    workers: int = 2,
    partitions: int = 4,
    batch_size: int = Settings.kafka_batch_size,
    batch_wait: float = Settings.kafka_batch_wait,
    drain_timeout: float = 600.0,
    warmup_seconds: float = 15.0,
    alerter: bool = True,
    worker_nice: int = 0,
    graph_nice: int = 0,
    own_sessions: bool = True,
) -> None:
    worker_nice = max(worker_nice, graph_nice)
    dep = Deployment.new(
        services,
        "alerts",
        folder,
        batch_size=batch_size,
        batch_wait=batch_wait,
        alerter=alerter,
        worker_nice=worker_nice,
        own_sessions=own_sessions,
    )
    create_bench_topics(services, dep.names, partitions, events_append_time=True)
    emitter = Emitter(KafkaSink(dep.settings()), default_policy().taxonomy(), emitted_by="bench")
    # warm-up, not measured: the workers join and the server's JIT sees the statements (a fresh server is slow)
    warm_rate = min(rates)
    warm = min(int(warm_rate * warmup_seconds), len(data.lines) // 4)
    try:
        dep.start_workers(workers)
        if alerter:
            dep.start_alerter()
        _emit(emitter, data, 0, warm, warm_rate)
        dep.wait_committed(warm, timeout=300)
        done = warm
        for rate in rates:
            count = min(int(rate * seconds), len(data.lines) - done)
            if count <= 0:
                report.note(f"alerts: no simulated events left for the run at {rate:,.0f} events/s")
                continue
            report.load(f"alerts at {rate:,.0f}/s")
            marks: list[tuple[float, int]] = []
            watcher = threading.Thread(target=_watch, args=(dep, done + count, drain_timeout, marks), daemon=True)
            watcher.start()
            cpu0 = _cpu(dep, services, workers)
            t0 = time.perf_counter()
            with niced(services.server_pids().get("neo4j") if graph_nice else None, graph_nice):
                sent, achieved = _emit(emitter, data, done, done + count, rate)
            send_s = time.perf_counter() - t0
            cpu = {k: v - cpu0.get(k, 0.0) for k, v in _cpu(dep, services, workers).items()}
            watcher.join()
            # how far behind the graph workers were when the emitter finished, and how long they took to catch up
            at_end = [n for t, n in marks if t <= t0 + send_s]
            behind = done + count - (at_end[-1] if at_end else done)
            caught_up = next((t for t, n in marks if n >= done + count), None)
            drained = bool(marks) and marks[-1][1] >= done + count
            processed = sustained_rate([(t, max(n - done, 0)) for t, n in marks], count)
            arrived = _alert_times(services, dep.names.alerts, set(sent), timeout=60 if drained else 5)
            latencies = [arrived[e] - sent[e] for e in sent if e in arrived]
            # where the wait is: send -> on the events topic (the producer and the broker) -> alert on the topic
            on_topic = _alert_times(services, dep.names.events, set(arrived), timeout=30)
            to_topic = [on_topic[e] - sent[e] for e in arrived if e in on_topic]
            to_alert = [arrived[e] - on_topic[e] for e in arrived if e in on_topic]
            missing = len(sent) - len(latencies)
            # an alert that never came counts as the longest wait, not as no wait
            latencies += [float("inf")] * missing
            p50, p99 = percentile(latencies, 50), percentile(latencies, 99)
            report.rows.append(
                Row(
                    f"4. alert latency, {rate:,.0f} events/s offered"
                    + (
                        f", workers and Neo4j at nice {graph_nice}"
                        if graph_nice
                        else f", workers at nice {worker_nice}"
                        if worker_nice
                        else ""
                    ),
                    f"p50 {p50:.2f} s, p99 {p99:.2f} s",
                    f"sent {achieved:,.0f}/s, pipeline {processed:,.0f}/s",
                    "",
                    f"p99 < {TARGET_P99_S:g} s",
                    p99 < TARGET_P99_S,
                )
            )
            report.note(
                f"alerts at {rate:,.0f} events/s offered: {count:,} simulated events emitted in {send_s:.1f} s "
                f"through Emitter + KafkaSink (achieved {achieved:,.0f}/s), {workers} worker(s) on {partitions} "
                f"partitions, batches of up to {batch_size} or {batch_wait:g} s; "
                + (
                    "workers and alerter each in a session of their own; "
                    if own_sessions
                    else "workers and alerter in the bench's session; "
                )
                + (
                    f"alerts from one `lineage alerter` (own consumer group, batches of up to 500 or "
                    f"{dep.alerter_batch_wait:g} s; workers with LINEAGE_WORKER_ALERTS=0); "
                    if alerter
                    else "alerts published by the workers after each batch's write; "
                )
                + (f"the graph workers at nice {worker_nice} (the alert path first); " if worker_nice else "")
                + (f"every Neo4j thread at nice {graph_nice} while the emitter ran; " if graph_nice else "")
                + f"{len(sent):,} planted undeclared "
                f"events, {len(sent) - missing:,} of them alerted; after a warm-up of {warm:,} events at "
                f"{warm_rate:,.0f}/s"
                + ("" if drained else f"; the workers had not caught up after {drain_timeout:g} s")
                + f"; of the latency, send -> event on the events topic (broker append time): p50 "
                f"{percentile(to_topic, 50):.2f} s, p99 {percentile(to_topic, 99):.2f} s; event on the topic -> alert "
                f"on the alerts topic: p50 {percentile(to_alert, 50):.2f} s, p99 {percentile(to_alert, 99):.2f} s"
                + f"; the pipeline's sustained rate during the run: {processed:,.0f} events/s; when the emitter "
                f"finished the graph workers were {behind:,} events behind"
                + (f" and caught up {caught_up - t0 - send_s:.1f} s later" if caught_up is not None else "")
                + f". CPU over the {send_s:.1f} s of emission (2 cores = {2 * send_s:.0f} CPU-s available): "
                + ", ".join(f"{k} {v:.1f}" for k, v in cpu.items())
                + f" CPU-s; emitter {1e6 * cpu['emitter'] / count:.0f} us/event"
                + (f", alerter {1e6 * cpu['alerter'] / count:.0f} us/event" if "alerter" in cpu else "")
                + "."
            )
            done += count
    finally:
        emitter.close()
        dep.cleanup()


def sustainable(measured: float | None, default: float = 500.0) -> float:
    """A rate the pipeline keeps up with while the emitter shares the CPUs: half its measured ingest rate."""
    return round(0.5 * measured, -1) if measured else default
