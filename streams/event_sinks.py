"""Event sinks: where the emitter sends validated events (Kafka topic, JSON Lines file, in-memory list)."""

from __future__ import annotations

import functools
import hashlib
import hmac
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any, Protocol, TextIO

from config import Settings
from schemas.events import AnyEvent, event_to_json
from streams.kafka_clients import kafka_client_options

_KEY_LABEL = b"privacy-lineage/partition-key/v1"


class SinkError(RuntimeError):
    """Events could not be delivered (broker unreachable, rejected, timed out)."""


def partition_key(subject_id: str, secret: bytes | None = None) -> bytes:
    """The Kafka message key for a subject: stable (same person, same partition, in order) but not the raw id.

    Kafka keys are shown by tools and written to logs far more often than values. Without ``secret`` this is
    a domain-separated SHA-256 prefix, which hides the id from a casual reader but can be confirmed by
    someone who guesses it (e.g. an email address); with a secret shared by all producers it cannot.
    """
    digest = hmac.new(secret or _KEY_LABEL, subject_id.encode("utf-8"), hashlib.sha256).hexdigest()
    return ("s_" + digest[:32]).encode("ascii")


def key_secret(settings: Settings) -> bytes | None:
    """The secret a deployment's producers key with (``LINEAGE_KAFKA_KEY_SECRET``, UTF-8); None when unset or empty."""
    return settings.kafka_key_secret.encode("utf-8") if settings.kafka_key_secret else None


def subject_keys(secret: bytes | None, cache_size: int = 65_536) -> Callable[[str], bytes]:
    """:func:`partition_key` with ``secret``, each person's key remembered (the most recent ``cache_size`` people):
    a component sends, or a worker checks, many events per person (the HMAC was ~4 us of the ~100 us an event costs
    the emitter). The cache lives in the process's memory only, as the ids it handles do."""
    return functools.lru_cache(maxsize=cache_size)(functools.partial(partition_key, secret=secret))


class EventSink(Protocol):
    """Where validated events go. ``send`` may buffer; ``flush`` returns once every event sent is delivered
    (raising :class:`SinkError` if some were not); ``close`` flushes and releases resources."""

    def send(self, event: AnyEvent) -> None: ...

    def flush(self) -> None: ...

    def close(self) -> None: ...


class MemorySink:
    """Keeps events in a list: for components under test."""

    def __init__(self) -> None:
        self.events: list[AnyEvent] = []
        self.closed = False

    def send(self, event: AnyEvent) -> None:
        if self.closed:
            raise SinkError("the sink is closed")
        self.events.append(event)

    def flush(self) -> None:
        pass

    def close(self) -> None:
        self.closed = True

    def lines(self) -> list[str]:
        """The events in their wire form, as a file or Kafka sink would have written them."""
        return [event_to_json(e) for e in self.events]


class FileSink:
    """Appends events as JSON Lines to a file (created with its folder on the first event) or an open stream."""

    def __init__(self, target: str | Path | TextIO) -> None:
        self._own = isinstance(target, str | Path)
        self.path: Path | None = Path(target) if isinstance(target, str | Path) else None
        self._fh: TextIO | None = None if isinstance(target, str | Path) else target
        self._closed = False
        self.count = 0

    def send(self, event: AnyEvent) -> None:
        if self._closed:
            raise SinkError("the sink is closed")
        if self._fh is None:
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        self._fh.write(event_to_json(event) + "\n")
        self.count += 1

    def flush(self) -> None:
        if self._fh is not None:
            self._fh.flush()

    def close(self) -> None:
        if self._fh is not None:
            self._fh.flush()
            if self._own:
                self._fh.close()
        self._fh = None
        self._closed = True


def key_partitioner(cache_size: int = 65_536) -> Any:
    """kafka-python's default partitioner (murmur2 of the key, as the Java client) with each key's hash remembered.

    The pure-Python murmur2 was about 15 % of the emitter's CPU, and a component sends many events per person (one
    key per person). Same partition as the default partitioner for every key; keyless messages go to it unchanged.
    """
    from kafka.partitioner.default import DefaultPartitioner, murmur2  # type: ignore[import-untyped]

    hashed = functools.lru_cache(maxsize=cache_size)(murmur2)

    class CachedKeyPartitioner(DefaultPartitioner):  # type: ignore[misc]
        def partition(
            self, topic: str, key: Any, serialized_key: bytes | None, value: Any, serialized_value: Any, cluster: Any
        ) -> int:
            partitions = cluster.partitions_for_topic(topic) if serialized_key is not None else None
            if not partitions:  # no key, or an unknown topic: the default's behaviour and errors
                return int(super().partition(topic, key, serialized_key, value, serialized_value, cluster))
            ordered = sorted(partitions)
            return int(ordered[(hashed(serialized_key) & 0x7FFFFFFF) % len(ordered)])

    return CachedKeyPartitioner()


class KafkaSink:
    """Publishes events to the events topic with kafka-python's idempotent producer (acks=all).

    Each message is keyed by :func:`partition_key` of the subject, so one person's events land in one
    partition and are consumed in the order they were sent. ``send`` returns once the event is buffered;
    delivery failures are collected and raised by the next ``flush`` or ``close``.
    """

    def __init__(
        self,
        settings: Settings,
        topic: str | None = None,
        *,
        producer_options: dict[str, Any] | None = None,
    ) -> None:
        try:
            from kafka import KafkaProducer  # type: ignore[import-untyped]
            from kafka.errors import KafkaError  # type: ignore[import-untyped]
        except ImportError as exc:  # pragma: no cover - depends on the environment
            raise SinkError("the Kafka sink needs kafka-python: pip install 'privacy-lineage[kafka]'") from exc
        from streams.client_logs import quiet_kafka_client_logs

        quiet_kafka_client_logs()  # kafka-python logs every message it sends at DEBUG, raw subject ids included
        self._kafka_error: type[Exception] = KafkaError
        self.topic = topic or settings.kafka_events_topic
        self._key = subject_keys(key_secret(settings))  # each person's key once
        self._failures: list[str] = []
        self._lock = threading.Lock()
        options: dict[str, Any] = {
            **kafka_client_options(settings),
            "enable_idempotence": True,
            "acks": "all",
            # kafka-python wakes its sender thread for every new batch: with 5 ms and 16 KiB batches an emitter
            # sending 5,000 events/s to 4 partitions woke it ~800 times a second. 25 ms and 64 KiB: ~15 % less CPU
            # per event in the emitting process and fewer, larger requests for the broker, for ~10 ms more
            # between send and the topic (bench/RESULTS.md)
            "linger_ms": 25,
            "batch_size": 65_536,
            "partitioner": key_partitioner(),
            "bootstrap_timeout_ms": 10_000,
            "max_block_ms": 30_000,
        }
        options.update(producer_options or {})
        try:
            self._producer = KafkaProducer(**options)
        except KafkaError as exc:
            raise SinkError(f"cannot connect to Kafka at {settings.kafka_bootstrap}: {exc}") from exc

    def send(self, event: AnyEvent) -> None:
        value = event_to_json(event).encode("utf-8")
        key = self._key(event.subject.id)
        try:
            future = self._producer.send(self.topic, key=key, value=value)
        except self._kafka_error as exc:
            raise SinkError(f"cannot publish event {event.event_id} to {self.topic!r}: {exc}") from exc
        event_id = event.event_id
        future.add_errback(lambda exc: self._failed(event_id, exc))

    def _failed(self, event_id: str, exc: BaseException) -> None:
        with self._lock:
            self._failures.append(f"{event_id}: {exc}")

    def flush(self, timeout: float | None = None) -> None:
        try:
            self._producer.flush(timeout=timeout)
        except self._kafka_error as exc:
            raise SinkError(f"flushing to {self.topic!r} failed: {exc}") from exc
        with self._lock:
            failures, self._failures = self._failures, []
        if failures:
            shown = "; ".join(failures[:5]) + (f"; and {len(failures) - 5} more" if len(failures) > 5 else "")
            raise SinkError(f"{len(failures)} event(s) were not delivered to {self.topic!r}: {shown}")

    def close(self) -> None:
        try:
            self.flush()
        finally:
            self._producer.close()
