"""The Faust worker (no global app): its app, with broker and security from settings and the events agent, and the
service holding what the agent works with (the handler, the writer thread, the alert dispatcher, health)."""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
from concurrent.futures import ThreadPoolExecutor
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import faust

from streams.agents import BatchProcessor, register_agents
from streams.alerts.dispatcher import AlertDispatcher
from streams.event_sinks import key_secret
from streams.handler import Handler
from streams.health import HEARTBEAT_SECONDS, HealthFile
from streams.kafka_clients import broker_credentials, broker_urls
from streams.key_check import KeyCheck
from streams.messages import FaustCommitter, FaustPublisher, OffsetCommitter, Publisher
from streams.outages import Outages
from streams.topics import TopicNames

if TYPE_CHECKING:
    from config import Settings

_log = logging.getLogger(__name__)


def service_settings(settings: Settings) -> Settings:
    """Settings for a long-running consumer (worker, alerter): the Neo4j driver retries a transaction for 5 s
    unless told otherwise, since its own retries would hide an outage for 30 s and the service's backoff and
    health file take over sooner."""
    if settings.neo4j_max_retry_time is None:
        return replace(settings, neo4j_max_retry_time=5.0)
    return settings


class WorkerService(faust.Service):
    """What the worker's agent works with beside its Faust app: the handler (and with it the store), the one writer
    thread, the alert dispatcher, the health file and the watch on outages.

    The app starts and stops it as a dependency of its own (added before its consumer and agents, so it is stopped
    after them): on start it reports the worker running; on stop it waits for a batch still being written, then
    closes the dispatcher and the store. :meth:`release` does the same for an app that never ran (a test context).
    """

    def __init__(
        self,
        app: faust.App,
        handler: Handler,
        executor: ThreadPoolExecutor,
        dispatcher: AlertDispatcher,
        health: HealthFile | None,
        outages: Outages,
    ) -> None:
        super().__init__()
        self.app, self.handler, self.executor = app, handler, executor
        self.dispatcher, self.health, self.outages = dispatcher, health, outages
        self._released = False

    async def on_start(self) -> None:
        if self.health is not None:
            self.health.running()

    @faust.Service.timer(HEARTBEAT_SECONDS)
    async def _heartbeat(self) -> None:
        """Keep the health file's ``updated_at`` fresh and notice the broker answering again (streams/outages.py)."""
        self.outages.tick()
        if self.health is not None:
            self.health.heartbeat()

    async def on_stop(self) -> None:
        self.release()

    def release(self) -> None:
        """Wait for a batch still being written, then close what the worker opened (once; later calls do nothing)."""
        if self._released:
            return
        self._released = True
        self.executor.shutdown(wait=True)
        if self.health is not None:
            self.health.stopped()
        self.outages.uninstall()
        self.dispatcher.close()
        self.handler.store.close()
        shutil.rmtree(self.app.conf.datadir, ignore_errors=True)  # nothing in it: the tables are in memory


def create_worker(
    settings: Settings,
    handler: Handler,
    *,
    publisher: Publisher | None = None,
    committer: OffsetCommitter | None = None,
) -> WorkerService:
    """The worker: a Faust app that applies the events topic to the graph store through the shared handler, and the
    service holding what its agent works with (``.app`` is the app; no global app).

    The caller builds the handler (and with it the store connection and pseudonym key) from
    :func:`service_settings`, so a bad store URL or a mismatched key fails before the worker joins the consumer
    group. The consumer group is ``settings.kafka_group``; tables are in memory (the agents keep no state of their
    own); the web server runs only when ``kafka_web_port`` is set.
    """
    from streams.client_logs import quiet_kafka_client_logs

    quiet_kafka_client_logs()  # aiokafka logs every message it sends (dead letters hold raw events) at DEBUG
    app = _faust_app(settings, settings.kafka_group)
    # one writer thread: the store sees one batch at a time, and the event loop keeps heartbeating meanwhile
    executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lineage-store")
    # The worker publishes every finding to the alerts topic itself, durably, before it commits a batch (unless
    # `lineage alerter` does: settings.worker_alerts); the dispatcher adds the other sinks (webhook, Teams, Slack,
    # log) through the same code path as `lineage ingest`.
    dispatcher = AlertDispatcher.from_settings(handler.store, settings, leave_out=("kafka",))
    health = HealthFile(settings.worker_health_file) if settings.worker_health_file else None
    processor = BatchProcessor(
        handler,
        publisher or FaustPublisher(app),
        TopicNames.from_settings(settings),
        executor=executor,
        retry_max=settings.worker_retry_max,
        dispatcher=dispatcher,
        health=health,
        publish_findings=settings.worker_alerts,
        keys=KeyCheck(
            key_secret(settings),
            # from the group's metadata, None until the worker has joined (app.consumer is made on first use)
            lambda topic: app.consumer.topic_partitions(topic),
        ),
    )
    # one log line per outage of the broker or the store, and the broker's state in the health file
    outages = Outages(health)
    outages.install()
    worker = WorkerService(app, handler, executor, dispatcher, health, outages)
    app.add_dependency(worker)
    register_agents(
        app,
        processor,
        committer or FaustCommitter(app),
        batch_size=settings.kafka_batch_size,
        batch_wait=settings.kafka_batch_wait,
    )
    return worker


def _faust_app(settings: Settings, group: str) -> faust.App:
    """The Faust app of a worker: consumer group ``group``, broker and security from settings."""
    from streams.faust_consumer import use_fetch_consumer

    web_port = settings.kafka_web_port
    app = faust.App(
        group,
        broker=broker_urls(settings),
        broker_credentials=broker_credentials(settings),
        broker_client_id=settings.kafka_client_id,
        store="memory://",
        # Faust makes a data folder (empty with memory tables) in the working directory unless told otherwise
        datadir=_datadir(group),
        autodiscover=False,
        web_enabled=web_port is not None,
        web_port=web_port or 6066,
        # a new consumer group reads the topic from the start: nothing emitted before the first worker is lost
        consumer_auto_offset_reset="earliest",
        producer_acks=-1,
        # no leader-election topic: one fewer topic to create and to grant in a secured cluster
        topic_disable_leader=True,
        # On shutdown, do not wait for buffered batches (which could wait forever while the store is down):
        # what was not committed is delivered again, and the graph is idempotent.
        stream_wait_empty=False,
        # how soon a crashed worker's partitions go to another (the broker's floor is 6 s by default)
        broker_session_timeout=settings.kafka_session_timeout,
        broker_heartbeat_interval=min(3.0, settings.kafka_session_timeout / 3),
        # Faust would otherwise read its settings from the process environment (WEB_PORT, STORE, ...);
        # ours come from LINEAGE_* settings only
        env={},
    )
    use_fetch_consumer(app)
    return app


def _datadir(group: str) -> Path:
    owner = str(os.getuid()) if hasattr(os, "getuid") else "user"
    safe = "".join(c if c.isalnum() or c in "-_." else "_" for c in group)
    return Path(tempfile.gettempdir()) / f"privacy-lineage-faust-{owner}-{safe}"


def run_worker(worker: WorkerService, *, loglevel: str = "WARNING") -> int:
    """Run the Faust worker in this (main) thread until interrupted or crashed; return its exit status."""
    runner = faust.Worker(worker.app, loglevel=loglevel, quiet=True, override_logging=True)
    runner.spinner = None  # a service: no terminal spinner and cursor codes in its logs
    try:
        runner.execute_from_commandline()
    except SystemExit as exc:
        return int(exc.code or 0) if isinstance(exc.code, int | None) else 1
    finally:
        worker.release()  # stopping the app released it; an app that failed to start did not
    return 0  # pragma: no cover - execute_from_commandline always raises SystemExit
