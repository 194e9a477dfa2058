"""Kafka and Neo4j plumbing for the benchmarks: topics, preloading, workers, group progress, namespaces."""

from __future__ import annotations

import contextlib
import functools
import os
import re
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TypeVar

from bench.common import KEY
from bench.services import PASSWORD, REPO, Services
from config import Settings
from lineage.simulator import registry_yaml
from streams.event_sinks import partition_key
from streams.topics import TopicNames

T = TypeVar("T")

NODE_LABELS = ("Event", "Subject", "Data", "Source", "Purpose", "Recipient", "Alert", "Consent", "Meta")


def run_id() -> str:
    return uuid.uuid4().hex[:8]


# -- Neo4j -----------------------------------------------------------------------------------------
def neo4j_driver(services: Services) -> Any:
    import neo4j

    return neo4j.GraphDatabase.driver(services.neo4j_uri, auth=("neo4j", PASSWORD))


def threaded_writes(
    services: Services, shares: Sequence[Sequence[T]], write_batch: Callable[[Any, T], int]
) -> list[tuple[float, int]]:
    """Each share's batches written from a thread of its own, one session per thread (``write_batch(session, batch)``
    writes one batch and says how many events it held); (time, done so far) marks. The first failure is re-raised."""
    with neo4j_driver(services) as driver:
        sessions = [driver.session(database="neo4j") for _ in shares]
        try:
            work = [(functools.partial(write_batch, s), share) for s, share in zip(sessions, shares, strict=True)]
            return threaded_calls(work)
        finally:
            for session in sessions:
                session.close()


def threaded_calls(work: Sequence[tuple[Callable[[T], int], Sequence[T]]]) -> list[tuple[float, int]]:
    """Each ``(call, batches)`` from a thread of its own, ``call(batch)`` for each batch in turn (it says how many
    events the batch held), all threads at once; (time, done so far) marks. The first failure is re-raised."""
    marks = [(time.perf_counter(), 0)]
    done = [0]
    lock = threading.Lock()
    failures: list[BaseException] = []

    def writer(call: Callable[[T], int], batches: Sequence[T]) -> None:
        try:
            for batch in batches:
                events = call(batch)
                with lock:
                    done[0] += events
                    marks.append((time.perf_counter(), done[0]))
        except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
            failures.append(exc)

    threads = [threading.Thread(target=writer, args=pair) for pair in work]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    if failures:
        raise failures[0]
    return marks


def neo4j_version(services: Services) -> str:
    with neo4j_driver(services) as driver:
        records, _, _ = driver.execute_query(
            "CALL dbms.components() YIELD name, versions, edition RETURN name, versions[0] AS v, edition",
            database_="neo4j",
        )
    return ", ".join(f"{r['name']} {r['v']} {r['edition']}" for r in records)


def kafka_version() -> str:
    pom = (REPO / "docker" / "local" / "kafka" / "pom.xml").read_text(encoding="utf-8")
    found = re.search(r"<kafka.version>([^<]+)</kafka.version>", pom)
    return os.environ.get("KAFKA_VERSION") or (found.group(1) if found else "unknown")


def store_url(services: Services, namespace: str) -> str:
    return f"{services.neo4j_uri}?namespace={namespace}"


def open_neo4j_store(services: Services, namespace: str) -> Any:
    from graph.neo4j_store import Neo4jGraphStore

    settings = Settings(neo4j_user="neo4j", neo4j_password=PASSWORD, neo4j_max_retry_time=120.0)
    return Neo4jGraphStore.from_url(store_url(services, namespace), settings)


def delete_namespace(services: Services, namespace: str, labels: Sequence[str] = NODE_LABELS) -> None:
    """Delete one namespace's nodes in transactions of 10,000 (a large graph does not fit one transaction)."""
    with neo4j_driver(services) as driver, driver.session(database="neo4j") as session:
        for label in labels:
            session.run(
                f"MATCH (n:{label} {{ns: $ns}}) CALL (n) {{ DETACH DELETE n }} IN TRANSACTIONS OF 10000 ROWS",
                ns=namespace,
            ).consume()


def count_events(services: Services, namespace: str) -> int:
    with neo4j_driver(services) as driver:
        records, _, _ = driver.execute_query(
            "MATCH (e:Event {ns: $ns}) RETURN count(e) AS n", ns=namespace, database_="neo4j"
        )
    return int(records[0]["n"])


# -- Kafka -----------------------------------------------------------------------------------------
def admin(services: Services) -> Any:
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]

    return KafkaAdminClient(bootstrap_servers=services.kafka_bootstrap, request_timeout_ms=30_000)


def create_bench_topics(
    services: Services, names: TopicNames, partitions: int, *, events_append_time: bool = False
) -> None:
    """The events topic with ``partitions``; dead letters and alerts (and the events if asked) with the broker's
    append time as timestamp."""
    client = admin(services)
    try:
        append_time = {"message.timestamp.type": "LogAppendTime"}
        events: dict[str, Any] = {"num_partitions": partitions, "replication_factor": 1}
        if events_append_time:
            events["configs"] = append_time
        client.create_topics(
            {
                names.events: events,
                names.deadletter: {"num_partitions": 1, "replication_factor": 1, "configs": append_time},
                names.alerts: {"num_partitions": 1, "replication_factor": 1, "configs": append_time},
            },
            wait_for_metadata=True,
        )
    finally:
        client.close()


def delete_bench_topics(services: Services, names: TopicNames, groups: Sequence[str] = ()) -> None:
    client = admin(services)
    try:
        client.delete_topics(list(names.all()))
        if groups:
            # a group that never committed does not exist: nothing to delete
            with contextlib.suppress(Exception):
                client.delete_groups(list(groups))
    finally:
        client.close()


def committed(services: Services, group: str, client: Any | None = None) -> int:
    """How many messages the group has committed, summed over partitions (0 before its first commit)."""
    own = client is None
    client = client or admin(services)
    try:
        offsets = client.list_group_offsets({group: None}).get(group, {})
        return sum(max(o.offset, 0) for o in offsets.values())
    except Exception:  # noqa: BLE001 - before the group exists the broker answers with an error
        return 0
    finally:
        if own:
            client.close()


def producer(services: Services) -> Any:
    from kafka import KafkaProducer

    return KafkaProducer(
        bootstrap_servers=services.kafka_bootstrap,
        acks="all",
        linger_ms=20,
        batch_size=512 * 1024,
        max_request_size=8 * 1024 * 1024,
    )


def preload(services: Services, topic: str, lines: Sequence[str], subjects: Sequence[str]) -> float:
    """Put the lines on the topic, keyed like the emitter keys them; return the seconds it took."""
    start = time.perf_counter()
    p = producer(services)
    try:
        for line, subject in zip(lines, subjects, strict=True):
            p.send(topic, key=partition_key(subject), value=line.encode("utf-8"))
        p.flush()
    finally:
        p.close()
    return time.perf_counter() - start


# -- the worker --------------------------------------------------------------------------------------
@dataclass
class Deployment:
    """A bench deployment: its own topics, consumer group and Neo4j namespace, and the workers run on them."""

    services: Services
    namespace: str
    names: TopicNames
    group: str
    folder: Path
    batch_size: int = Settings.kafka_batch_size  # the worker's own defaults
    batch_wait: float = Settings.kafka_batch_wait
    workers: list[subprocess.Popen[bytes]] = field(default_factory=list)
    worker_cpu: float = 0.0  # CPU seconds the stopped workers had used
    alerter: bool = False  # a `lineage alerter` publishes the findings; the workers run with LINEAGE_WORKER_ALERTS=0
    worker_nice: int = 0  # the graph workers' CPU priority (nice value); the alerter keeps the default
    alerter_batch_wait: float = 0.05
    # each process in a session of its own, as a deployment runs each service in a cgroup of its own: with the
    # kernel's autogroup scheduling a session is one scheduling group, so processes started in the bench's session
    # would share one share of the CPU between them (False: the bench's session, as before)
    own_sessions: bool = True

    @classmethod
    def new(cls, services: Services, label: str, folder: Path, **kw: Any) -> Deployment:
        rid = run_id()
        prefix = f"bench.{label}.{rid}"
        names = TopicNames(f"{prefix}.events", f"{prefix}.deadletter", f"{prefix}.alerts")
        return cls(services, f"bench-{label}-{rid}", names, f"bench-{label}-{rid}", folder, **kw)

    def settings(self) -> Settings:
        return Settings(
            store=store_url(self.services, self.namespace),
            pseudonym_key=KEY,
            neo4j_password=PASSWORD,
            kafka_bootstrap=self.services.kafka_bootstrap,
            kafka_events_topic=self.names.events,
            kafka_deadletter_topic=self.names.deadletter,
            kafka_alerts_topic=self.names.alerts,
            kafka_group=self.group,
            kafka_batch_size=self.batch_size,
            kafka_batch_wait=self.batch_wait,
        )

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
        # the simulated world's recipient registry, as its deployment would have one: without it every disclosure
        # outside the EEA is a transfer without a safeguard, a finding per event for the alerter to publish (its
        # CPU per event 82-84 us against 57 and 45 us with it, measured in one window)
        registry = self.folder / "recipients.yaml"
        if not registry.exists():
            self.folder.mkdir(parents=True, exist_ok=True)
            registry.write_text(registry_yaml(), encoding="utf-8")
        env.update(
            LINEAGE_RECIPIENTS=str(registry),
            LINEAGE_STORE=store_url(self.services, self.namespace),
            LINEAGE_NEO4J_PASSWORD=PASSWORD,
            LINEAGE_PSEUDONYM_KEY=KEY,
            LINEAGE_KAFKA_BOOTSTRAP=self.services.kafka_bootstrap,
            LINEAGE_KAFKA_EVENTS_TOPIC=self.names.events,
            LINEAGE_KAFKA_DEADLETTER_TOPIC=self.names.deadletter,
            LINEAGE_KAFKA_ALERTS_TOPIC=self.names.alerts,
            LINEAGE_KAFKA_GROUP=self.group,
            LINEAGE_KAFKA_BATCH_SIZE=str(self.batch_size),
            LINEAGE_KAFKA_BATCH_WAIT=str(self.batch_wait),
            LINEAGE_LOG_LEVEL="WARNING",
            LINEAGE_WORKER_ALERTS="0" if self.alerter else "1",
            LINEAGE_ALERTER_BATCH_WAIT=str(self.alerter_batch_wait),
            PYTHONPATH=str(REPO),
        )
        return env

    @property
    def groups(self) -> list[str]:
        return [self.group, f"{self.group}-alerter"] if self.alerter else [self.group]

    def start_alerter(self) -> None:
        """One `lineage alerter` (the alert fast path, consumer group ``<group>-alerter``)."""
        log = (self.folder / f"{self.group}-alerter.log").open("wb")
        cmd = [sys.executable, "-m", "lineage.cli", "alerter"]
        self.workers.append(
            subprocess.Popen(  # noqa: S603
                cmd, env=self.env(), cwd=self.folder, stdout=log, stderr=log, start_new_session=self.own_sessions
            )
        )

    def start_workers(self, count: int, *, profile: Path | None = None) -> None:
        """``count`` `lineage worker` processes (the product's own entry point); the first one under py-spy if asked."""
        for i in range(count):
            log = (self.folder / f"{self.group}-worker-{i}.log").open("wb")
            health = self.folder / f"{self.group}-worker-{i}.health.json"
            cmd = [sys.executable, "-m", "lineage.cli", "worker", "--health-file", str(health)]
            if self.worker_nice:
                cmd = ["nice", "-n", str(self.worker_nice), *cmd]
            if profile is not None and i == 0:
                spy = Path(sys.executable).with_name("py-spy")
                cmd = [str(spy), "record", "--format", "raw", "--rate", "50", "-o", str(profile), "--", *cmd]
            self.workers.append(
                subprocess.Popen(  # noqa: S603
                    cmd, env=self.env(), cwd=self.folder, stdout=log, stderr=log, start_new_session=self.own_sessions
                )
            )

    def worker_batches(self) -> tuple[int, int, int]:
        """The batches the workers stored, the events in them, and the write transactions their store ran again after
        a transient error (a deadlock between the workers), from their health files, summed over the workers."""
        from streams.health import read_health

        batches = events = retries = 0
        for path in self.folder.glob(f"{self.group}-worker-*.health.json"):
            state = read_health(path)
            batches += int(state.get("batches", 0))
            events += sum(int(state.get(k, 0)) for k in ("applied", "duplicates", "suppressed", "rejected"))
            retries += int(state.get("write_retries", 0))
        return batches, events, retries

    def check_workers(self) -> None:
        for proc in self.workers:
            if proc.poll() not in (None, 0, -signal.SIGINT, -signal.SIGTERM):
                raise RuntimeError(f"a worker exited with {proc.returncode}:\n{self.logs()}")

    def logs(self) -> str:
        return "\n".join(p.read_text(errors="replace")[-3000:] for p in sorted(self.folder.glob(f"{self.group}-*.log")))

    def wait_committed(
        self, total: int, timeout: float, on_mark: Callable[[float, int], None] | None = None, poll: float = 0.2
    ) -> list[tuple[float, int]]:
        """Poll the group's committed offsets until ``total``; return (time, committed) marks."""
        client = admin(self.services)
        marks: list[tuple[float, int]] = []
        deadline = time.monotonic() + timeout
        try:
            while True:
                n = committed(self.services, self.group, client)
                now = time.perf_counter()
                marks.append((now, n))
                if on_mark is not None:
                    on_mark(now, n)
                if n >= total:
                    return marks
                self.check_workers()
                if time.monotonic() > deadline:
                    raise TimeoutError(f"{n} of {total} events committed after {timeout:.0f} s:\n{self.logs()}")
                time.sleep(poll)
        finally:
            client.close()

    def stop_workers(self) -> None:
        from bench.profiling import tree_cpu_seconds

        self.worker_cpu += sum(tree_cpu_seconds(p.pid) for p in self.workers if p.poll() is None)
        for proc in self.workers:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)  # py-spy passes it on and writes its profile
        for proc in self.workers:
            try:
                proc.wait(timeout=60)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        self.workers.clear()

    def cleanup(self) -> None:
        self.stop_workers()
        delete_bench_topics(self.services, self.names, self.groups)
        delete_namespace(self.services, self.namespace)
