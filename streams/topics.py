"""The deployment's Kafka topics (their default names are in :mod:`config`) and idempotent topic creation."""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from config import ALERTS_TOPIC, DEADLETTER_TOPIC, EVENTS_TOPIC, Settings
from streams.kafka_clients import kafka_client_options

_TOPIC_ALREADY_EXISTS = 36
#: How long the dead-letter topic keeps a letter when ``lineage topics create`` makes it: letters are rejected input
#: kept verbatim, personal identifiers included, and no record of a topic can be deleted on its own (an erasure
#: does not reach them), so they are kept only as long as it takes to fix and replay them.
DEADLETTER_RETENTION = "7d"
FOREVER = -1  # retention.ms of a topic that keeps its records until they are deleted by hand

_UNITS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000}
_DURATION = re.compile(r"(\d+)(ms|s|m|h|d)")


def parse_retention(text: str) -> int | None:
    """A retention as milliseconds: ``7d``, ``36h``, ``90m``, ``30s``, ``500ms``; ``forever`` is -1 (kept until
    deleted); ``default`` is None (the broker's ``log.retention.*`` decides)."""
    value = text.strip().lower()
    if value == "default":
        return None
    if value == "forever":
        return FOREVER
    match = _DURATION.fullmatch(value)
    if match is None or int(match[1]) == 0:
        raise ValueError(
            f"retention {text!r} is not a duration: use a positive number with ms, s, m, h or d (e.g. 7d or 36h), "
            "'forever' or 'default'"
        )
    return int(match[1]) * _UNITS[match[2]]


def describe_retention(ms: int | None) -> str:
    """``604800000`` -> "7 days"; -1 -> "forever"; None -> "unknown"."""
    if ms is None:
        return "unknown"
    if ms < 0:
        return "forever"
    for unit, size in (("day", 86_400_000), ("hour", 3_600_000), ("minute", 60_000), ("second", 1000)):
        if ms >= size and ms % size == 0:
            n = ms // size
            return f"{n} {unit}{'s' if n != 1 else ''}"
    return f"{ms} ms"


@dataclass(frozen=True)
class TopicState:
    """What ``create_topics`` found or did: ``state`` is "created" or "exists"; ``retention_ms`` is the topic's
    retention.ms as the broker reports it (-1: forever; None: the broker did not say)."""

    state: str
    retention_ms: int | None


class TopicError(RuntimeError):
    """Topics could not be created (broker unreachable, not authorised, bad partition count, ...)."""


@dataclass(frozen=True)
class TopicNames:
    """The three topics one deployment uses (overridable by settings, e.g. one set per test)."""

    events: str = EVENTS_TOPIC
    deadletter: str = DEADLETTER_TOPIC
    alerts: str = ALERTS_TOPIC

    @classmethod
    def from_settings(cls, settings: Settings) -> TopicNames:
        return cls(settings.kafka_events_topic, settings.kafka_deadletter_topic, settings.kafka_alerts_topic)

    def all(self) -> tuple[str, str, str]:
        return (self.events, self.deadletter, self.alerts)


def create_topics(
    settings: Settings,
    partitions: int = 3,
    replication: int = 1,
    *,
    names: TopicNames | None = None,
    retention: Mapping[str, int | None] | None = None,
    timeout_ms: int = 15_000,
) -> dict[str, TopicState]:
    """Create the events, dead-letter and alerts topics when missing, each topic named in ``retention`` with that
    retention.ms (None: the broker's default); say of each whether it was created or exists, and its retention.

    Idempotent: a topic that already exists is left as it is (its partition count is not changed, since
    adding partitions would move subjects to other partitions and break their per-person order; nor is its
    retention): compare the retention returned with the one asked for.
    """
    if partitions < 1 or replication < 1:
        raise TopicError("partitions and replication must be at least 1")
    try:
        from kafka import KafkaAdminClient  # type: ignore[import-untyped]
        from kafka.errors import KafkaError  # type: ignore[import-untyped]
    except ImportError as exc:  # pragma: no cover - depends on the environment
        raise TopicError("creating topics needs kafka-python: pip install 'privacy-lineage[kafka]'") from exc
    wanted = names or TopicNames.from_settings(settings)
    try:
        admin = KafkaAdminClient(
            **kafka_client_options(settings), request_timeout_ms=timeout_ms, bootstrap_timeout_ms=timeout_ms
        )
    except KafkaError as exc:
        raise TopicError(f"cannot reach Kafka at {settings.kafka_bootstrap}: {exc}") from exc
    try:
        spec: dict[str, dict[str, Any]] = {}
        for name in wanted.all():
            spec[name] = {"num_partitions": partitions, "replication_factor": replication}
            ms = (retention or {}).get(name)
            if ms is not None:
                spec[name]["configs"] = {"retention.ms": str(ms)}
        response: dict[str, Any] = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False)
        states: dict[str, str] = {}
        for topic in response.get("topics", []):
            code = topic.get("error_code", 0)
            if code == 0:
                states[topic["name"]] = "created"
            elif code == _TOPIC_ALREADY_EXISTS:
                states[topic["name"]] = "exists"
            else:
                message = topic.get("error_message") or f"error code {code}"
                raise TopicError(f"cannot create topic {topic['name']!r}: {message}")
        admin.wait_for_topics(list(states), timeout_ms=timeout_ms)
        kept = _retentions(admin, list(states))
        return {name: TopicState(state, kept.get(name)) for name, state in states.items()}
    except KafkaError as exc:
        raise TopicError(f"cannot create topics on {settings.kafka_bootstrap}: {exc}") from exc
    finally:
        admin.close()


def _retentions(admin: Any, topics: list[str]) -> dict[str, int]:
    """The retention.ms of these topics, as the broker reports it (topics it says nothing of are left out; none
    when the broker will not describe them, say for want of the DescribeConfigs permission: the topics exist all
    the same, and their retention is then reported unknown)."""
    from kafka.admin import ConfigResource, ConfigResourceType  # type: ignore[import-untyped]
    from kafka.errors import KafkaError

    resources = [ConfigResource(ConfigResourceType.TOPIC, name, {"retention.ms": None}) for name in topics]
    try:
        described: dict[str, Any] = admin.describe_configs(resources, config_filter="all")
    except KafkaError:
        return {}
    out: dict[str, int] = {}
    for name, configs in described.get("topic", {}).items():
        value = (configs.get("retention.ms") or {}).get("value")
        if value is not None and str(value).lstrip("-").isdigit():
            out[name] = int(value)
    return out
