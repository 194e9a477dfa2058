"""The Kafka subcommands of `lineage`: worker (the Faust worker), topics create, emit (JSON Lines to the topic)."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import TextIO

from config import Settings
from lineage.cli_common import (
    EXIT_FAILED,
    EXIT_INTERNAL,
    EXIT_OK,
    UsageError,
    open_events_and_dead_letters,
    positive_float,
    positive_int,
    with_store,
)
from streams.topics import DEADLETTER_RETENTION


# -- worker ---------------------------------------------------------------------------------------
def cmd_worker(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from dataclasses import replace

    from lineage.wiring import build_handler
    from streams.app import create_worker, run_worker, service_settings

    if args.health_file:
        settings = replace(settings, worker_health_file=Path(args.health_file))
    if args.batch_size or args.batch_wait:
        settings = replace(
            settings,
            kafka_batch_size=args.batch_size or settings.kafka_batch_size,
            kafka_batch_wait=args.batch_wait or settings.kafka_batch_wait,
        )
    if args.no_alerts_topic:
        settings = replace(settings, worker_alerts=False)
    settings = service_settings(settings)
    handler = build_handler(settings, notify=True)
    worker = create_worker(settings, handler)
    alerts = "alerts left to `lineage alerter`"
    if settings.worker_alerts:
        alerts = f"alerts to {settings.kafka_alerts_topic}"
    err.write(
        f"lineage worker: {settings.kafka_events_topic} on {settings.kafka_bootstrap} (group {settings.kafka_group}) "
        f"-> {settings.store}; batches of {settings.kafka_batch_size} or {settings.kafka_batch_wait:g} s; "
        f"dead letters to {settings.kafka_deadletter_topic}, {alerts}"
        + (f"; Art. 19 notices of erasures via the {handler.notices.sink.name} sink" if handler.notices else "")
        + "\n"
    )
    err.flush()
    return run_worker(worker, loglevel=settings.log_level)


def cmd_alerter(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    import asyncio
    import contextlib
    import signal
    from dataclasses import replace

    from lineage.wiring import build_handler
    from streams.alerts.alerter import run_alerter
    from streams.app import service_settings

    if args.health_file:
        settings = replace(settings, worker_health_file=Path(args.health_file))
    settings = replace(
        settings,
        alerter_batch_size=args.batch_size or settings.alerter_batch_size,
        alerter_batch_wait=args.batch_wait or settings.alerter_batch_wait,
    )
    settings = service_settings(settings)
    handler = build_handler(settings)  # a bad store URL or another pseudonym key fails here, before joining
    err.write(
        f"lineage alerter: {settings.kafka_events_topic} on {settings.kafka_bootstrap} "
        f"(group {settings.alerter_group_id}) -> {settings.kafka_alerts_topic}; consent and erasures read from "
        f"{settings.store}; batches of {settings.alerter_batch_size} or {settings.alerter_batch_wait:g} s\n"
    )
    err.flush()

    async def main() -> None:
        stop = asyncio.Event()
        loop = asyncio.get_running_loop()
        for sig in (signal.SIGINT, signal.SIGTERM):
            loop.add_signal_handler(sig, stop.set)
        running = asyncio.create_task(run_alerter(settings, handler, stop))
        stopped = asyncio.create_task(stop.wait())
        await asyncio.wait({running, stopped}, return_when=asyncio.FIRST_COMPLETED)
        if not running.done():
            # a batch held by an unavailable store would keep it waiting: 10 s, then the batch is dropped
            # uncommitted (judged again on the next start)
            done, _ = await asyncio.wait({running}, timeout=10)
            if not done:
                running.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await running
                return
        stopped.cancel()
        running.result()  # the alerter's own error, if it ended with one

    try:
        asyncio.run(main())
    finally:
        handler.store.close()
    return EXIT_OK


# -- topics ---------------------------------------------------------------------------------------
def cmd_topics_create(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from streams.topics import TopicError, TopicNames, create_topics, describe_retention, parse_retention

    names = TopicNames.from_settings(settings)
    asked: dict[str, int | None] = {}
    for name, option, value in (
        (names.events, "--events-retention", args.events_retention),
        (names.deadletter, "--deadletter-retention", args.deadletter_retention),
        (names.alerts, "--alerts-retention", args.alerts_retention),
    ):
        try:
            asked[name] = parse_retention(value)
        except ValueError as exc:
            raise UsageError(f"{option}: {exc}") from None
    try:
        outcome = create_topics(settings, args.partitions, args.replication, names=names, retention=asked)
    except TopicError as exc:
        raise UsageError(str(exc)) from None
    for name, topic in outcome.items():
        out.write(f"{name}: {topic.state}, retention {describe_retention(topic.retention_ms)}\n")
        wanted = asked.get(name)
        known = topic.retention_ms is not None  # unknown: the broker would not describe the topic
        if topic.state == "exists" and wanted is not None and known and topic.retention_ms != wanted:
            err.write(
                f"lineage topics create: {name} already exists and keeps records for "
                f"{describe_retention(topic.retention_ms)}, not the {describe_retention(wanted)} asked for; existing "
                "topics are left as they are (change it with kafka-configs.sh --alter --entity-type topics "
                f"--entity-name {name} --add-config retention.ms={wanted})\n"
            )
    return EXIT_OK


# -- emit -----------------------------------------------------------------------------------------
def cmd_emit(args: argparse.Namespace, settings: Settings, out: TextIO, err: TextIO) -> int:
    from lineage.wiring import event_window, load_configured_policy
    from schemas.parsing import EventError
    from streams.deadletter import DeadLetter, raw_fields
    from streams.embedded import read_lines
    from streams.emitter import Emitter
    from streams.event_sinks import KafkaSink, SinkError
    from streams.handler import describe_error
    from streams.ingest_chunks import MAX_LINE_BYTES, Oversized

    fh, origin, _, dead = open_events_and_dead_letters(args.file, args.dead_letters)
    dlq_path = dead.path
    taxonomy = load_configured_policy(settings).taxonomy()
    sent = rejected = failed = unwritten = 0
    try:
        try:
            sink = KafkaSink(settings)
        except SinkError as exc:
            raise UsageError(str(exc)) from None
        # the same checks as the worker's (taxonomy, time window): what the worker would refuse is never published
        with Emitter(sink, taxonomy, window=event_window(settings)) as emitter:
            for number, line in enumerate(read_lines(fh), start=1):
                letter: DeadLetter | None = None
                if isinstance(line, Oversized):
                    reason = f"line of {line.size} bytes, longer than the limit of {MAX_LINE_BYTES}"
                    letter = DeadLetter(origin, number, reason, raw=raw_fields(line.head)[0])
                elif not line.strip():
                    continue
                else:
                    try:
                        emitter.emit(line)
                        sent += 1
                    except EventError as exc:
                        problems = [{"field": f, "message": m} for f, m in exc.problems]
                        text, encoded = raw_fields(line)
                        letter = DeadLetter(origin, number, str(exc), problems, text, exc.event_id, raw_base64=encoded)
                    except SinkError:
                        raise
                    except Exception as exc:  # a bug, not the line's fault: this line only
                        text, encoded = raw_fields(line)
                        reason = f"internal error while checking the line ({describe_error(exc)})"
                        letter = DeadLetter(origin, number, reason, raw=text, raw_base64=encoded)
                        failed += 1
                if letter is not None:
                    try:
                        dead.put(letter)
                    except OSError:
                        unwritten += 1
                    rejected += 1
                    if rejected <= 50:
                        err.write(f"{origin}:{number}: rejected: {letter.reason}\n")
    except SinkError as exc:
        raise UsageError(f"{exc} ({sent} event(s) were handed to the producer before the failure)") from None
    finally:
        dead.close()
        if args.file != "-":
            fh.close()
    out.write(
        f"{sent} event(s) published to {settings.kafka_events_topic} on {settings.kafka_bootstrap}, "
        f"{rejected} line(s) rejected" + (f" (see {dlq_path})" if rejected else "") + "\n"
    )
    if unwritten:
        err.write(f"lineage emit: {unwritten} rejected line(s) could not be written to {dlq_path}\n")
    if failed or unwritten:
        return EXIT_INTERNAL
    return EXIT_FAILED if rejected else EXIT_OK


# -- registration ---------------------------------------------------------------------------------
def register(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add ``worker``, ``alerter``, ``topics create`` and ``emit`` to the `lineage` parser."""

    def with_bootstrap(sp: argparse.ArgumentParser) -> argparse.ArgumentParser:
        sp.add_argument(
            "--bootstrap", help="Kafka bootstrap servers (default: $LINEAGE_KAFKA_BOOTSTRAP or 127.0.0.1:9092)"
        )
        return sp

    sp = with_bootstrap(
        with_store(
            sub.add_parser("worker", help="run the Faust worker: apply the events topic to the store until interrupted")
        )
    )
    sp.add_argument(
        "--batch-size", type=positive_int, help="events per batch (default: $LINEAGE_KAFKA_BATCH_SIZE or 5000)"
    )
    sp.add_argument(
        "--batch-wait", type=positive_float, metavar="SECONDS", help="seconds to wait for a full batch (default: 1)"
    )
    sp.add_argument(
        "--health-file",
        help="keep the worker's health (ok, store_unavailable, ...) in this JSON file (default: "
        "$LINEAGE_WORKER_HEALTH_FILE, else none); see docs/reliability.md",
    )
    sp.add_argument(
        "--no-alerts-topic",
        action="store_true",
        help="do not publish findings to the alerts topic: `lineage alerter` does (same as LINEAGE_WORKER_ALERTS=0)",
    )
    sp.set_defaults(func=cmd_worker)

    sp = with_bootstrap(
        with_store(
            sub.add_parser(
                "alerter",
                help="run the alert fast path: judge the events topic against the policy and publish findings to the "
                "alerts topic without waiting for the graph (run workers with --no-alerts-topic); see docs/alerts.md",
            )
        )
    )
    sp.add_argument(
        "--batch-size", type=positive_int, help="events per batch (default: $LINEAGE_ALERTER_BATCH_SIZE or 500)"
    )
    sp.add_argument(
        "--batch-wait",
        type=positive_float,
        metavar="SECONDS",
        help="seconds to wait for a full batch (default: $LINEAGE_ALERTER_BATCH_WAIT or 0.05)",
    )
    sp.add_argument("--health-file", help="keep the alerter's health in this JSON file (see docs/reliability.md)")
    sp.set_defaults(func=cmd_alerter)

    topics = sub.add_parser("topics", help="Kafka topics").add_subparsers(dest="topics_command", required=True)
    sp = with_bootstrap(
        topics.add_parser(
            "create", help="create the events, dead-letter and alerts topics (existing ones are left as they are)"
        )
    )
    sp.add_argument("--partitions", type=positive_int, default=3, help="partitions of each new topic")
    sp.add_argument("--replication", type=positive_int, default=1, help="replication factor of each new topic")
    sp.add_argument(
        "--deadletter-retention",
        default=DEADLETTER_RETENTION,
        help="how long the dead-letter topic keeps rejected input (raw, personal identifiers included; no record can "
        f"be erased on its own): 7d, 36h, 90m, 'forever' or 'default' (the broker's); default {DEADLETTER_RETENTION}",
    )
    for topic in ("events", "alerts"):
        help_text = f"the {topic} topic's retention (default: the broker's)"
        sp.add_argument(f"--{topic}-retention", default="default", help=help_text)
    sp.set_defaults(func=cmd_topics_create)

    sp = with_bootstrap(
        sub.add_parser(
            "emit", help="validate JSON Lines events from FILE or - (stdin) and publish them to the events topic"
        )
    )
    sp.add_argument("file", metavar="FILE|-", help="a JSON Lines file of events, or - for standard input")
    sp.add_argument(
        "--policy",
        metavar="FILE",
        help="policy file whose custom taxonomy keys are accepted (default: $LINEAGE_POLICY)",
    )
    sp.add_argument("--dead-letters", metavar="FILE", help="where rejected lines go (default: FILE.deadletter.jsonl)")
    sp.set_defaults(func=cmd_emit)
