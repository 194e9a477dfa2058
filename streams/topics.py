"""Kafka topic names (one place for them) and idempotent topic creation with kafka-python's admin client."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from lineage.settings import Settings

#: Collection, use and share events, JSON in the wire contract, keyed by a pseudonymous subject key.
EVENTS_TOPIC = "lineage.events.v1"
#: Messages the worker could not accept: a JSON envelope with the reason, problems and original bytes.
DEADLETTER_TOPIC = "lineage.events.deadletter.v1"
#: Undeclared-flow findings, one JSON document per finding.
ALERTS_TOPIC = "lineage.alerts.v1"

_TOPIC_ALREADY_EXISTS = 36


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
    timeout_ms: int = 15_000,
) -> dict[str, str]:
    """Create the events, dead-letter and alerts topics when missing; ``{name: "created" | "exists"}``.

    Idempotent: a topic that already exists is left as it is (its partition count is not changed, since
    adding partitions would move subjects to other partitions and break their per-person order).
    """
    if partitions < 1 or replication < 1:
        raise TopicError("partitions and replication must be at least 1")
    from streams.sinks import kafka_client_options

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
        spec = {name: {"num_partitions": partitions, "replication_factor": replication} for name in wanted.all()}
        response: dict[str, Any] = admin.create_topics(spec, timeout_ms=timeout_ms, raise_errors=False)
        outcome: dict[str, str] = {}
        for topic in response.get("topics", []):
            code = topic.get("error_code", 0)
            if code == 0:
                outcome[topic["name"]] = "created"
            elif code == _TOPIC_ALREADY_EXISTS:
                outcome[topic["name"]] = "exists"
            else:
                message = topic.get("error_message") or f"error code {code}"
                raise TopicError(f"cannot create topic {topic['name']!r}: {message}")
        admin.wait_for_topics(list(outcome), timeout_ms=timeout_ms)
        return outcome
    except KafkaError as exc:
        raise TopicError(f"cannot create topics on {settings.kafka_bootstrap}: {exc}") from exc
    finally:
        admin.close()
