"""Settings read once from the environment (and CLI flags): store URL, policy file, pseudonym key, service options.

The ground floor: imports nothing of the project. Each component builds its own options from :class:`Settings` (a
store in ``from_url``, the alert sinks in ``streams.alerts.sinks``, the Kafka clients in ``streams.kafka_clients``).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

DEFAULT_STORE = "sqlite:///lineage.db"

#: Collection, use and share events, JSON in the wire contract, keyed by a pseudonymous subject key.
EVENTS_TOPIC = "lineage.events.v1"
#: Messages the worker could not accept: a JSON envelope with the reason, problems and original bytes.
DEADLETTER_TOPIC = "lineage.events.deadletter.v1"
#: Undeclared-flow findings, one JSON document per finding.
ALERTS_TOPIC = "lineage.alerts.v1"


class SettingsError(ValueError):
    """A LINEAGE_* variable holds a value that cannot be used; the message names the variable."""


def _default_key_file() -> Path:
    base = os.environ.get("XDG_DATA_HOME") or str(Path.home() / ".local" / "share")
    return Path(base) / "privacy-lineage" / "pseudonym.key"


@dataclass(frozen=True)
class Settings:
    """Everything configurable, read once; factories take this instead of reading the environment."""

    store: str = DEFAULT_STORE
    policy_file: Path | None = None
    # LINEAGE_NAMES_FILE: YAML `systems: {internal-name: description}` adding to or overriding the policy's `systems`
    names_file: Path | None = None
    # LINEAGE_RECIPIENTS: the recipient registry (YAML or CSV): safeguards for transfers, known recipients, notices
    recipients_file: Path | None = None
    pseudonym_key: str | None = field(default=None, repr=False)
    pseudonym_key_file: Path = field(default_factory=_default_key_file)
    neo4j_user: str = "neo4j"
    neo4j_password: str = field(default="lineage-local", repr=False)
    neo4j_database: str = "neo4j"
    # LINEAGE_NEO4J_NAMESPACE: the lineage graph's namespace within the database (a `?namespace=` in the URL wins)
    neo4j_namespace: str | None = None
    # how long the Neo4j driver retries a transaction before the store reports StoreUnavailable (None: 30 s, and
    # 5 s in the worker, whose own backoff then takes over and whose health file reports the outage)
    neo4j_max_retry_time: float | None = None
    # TLS to Neo4j beyond the URL's +s/+ssc scheme: a private CA (with bolt:// or neo4j://), a client certificate
    neo4j_trusted_ca: Path | None = None
    neo4j_client_cert: Path | None = None
    neo4j_client_key: Path | None = None
    neo4j_connection_timeout: float = 10.0  # seconds to wait for the server when connecting (not read from the env)
    kafka_bootstrap: str = "127.0.0.1:9092"
    # Kafka streams (LINEAGE_KAFKA_*): topics, consumer group, batching; security options go to every client
    kafka_events_topic: str = EVENTS_TOPIC
    kafka_deadletter_topic: str = DEADLETTER_TOPIC
    kafka_alerts_topic: str = ALERTS_TOPIC
    kafka_group: str = "privacy-lineage"
    kafka_client_id: str = "privacy-lineage"
    # at a backlog a batch closes on its size: 5,000 costs Neo4j ~0.8x the CPU per event of 500 (bench/RESULTS.md,
    # 2026-12-04 17:15 UTC); when the topic is quiet a batch closes on its wait, whatever the size
    kafka_batch_size: int = 5000
    kafka_batch_wait: float = 1.0
    kafka_session_timeout: float = 30.0
    kafka_key_secret: str | None = field(default=None, repr=False)
    kafka_security_protocol: str = "PLAINTEXT"
    kafka_sasl_mechanism: str | None = None
    kafka_sasl_username: str | None = None
    kafka_sasl_password: str | None = field(default=None, repr=False)
    kafka_ssl_cafile: Path | None = None
    kafka_ssl_certfile: Path | None = None
    kafka_ssl_keyfile: Path | None = None
    kafka_ssl_key_password: str | None = field(default=None, repr=False)
    kafka_web_port: int | None = None
    worker_health_file: Path | None = None  # LINEAGE_WORKER_HEALTH_FILE: see streams/health.py
    worker_retry_max: float = 10.0  # LINEAGE_WORKER_RETRY_MAX: longest wait between retries of an unavailable store
    # LINEAGE_WORKER_ALERTS: workers publish their findings to the alerts topic; turn off when `lineage alerter` runs
    worker_alerts: bool = True
    alerter_group: str | None = None  # LINEAGE_ALERTER_GROUP: the alerter's consumer group (default: <group>-alerter)
    alerter_batch_size: int = 500  # LINEAGE_ALERTER_BATCH_SIZE
    alerter_batch_wait: float = 0.05  # LINEAGE_ALERTER_BATCH_WAIT: seconds; the alerts' latency floor
    log_level: str = "WARNING"
    # LINEAGE_EVENT_TIME_MIN / _MAX: the occurred_at window every reader (ingest, worker, API, emit) accepts; None:
    # the contract's default bound (schemas.parsing.DEFAULT_TIME_WINDOW); lineage.wiring.event_window builds it
    event_time_min: datetime | None = None
    event_time_max: datetime | None = None
    # alert sinks (LINEAGE_ALERT_*); webhook URLs carry their secret in the path, so they are kept out of repr
    alert_log: bool = True
    alert_webhook_url: str | None = field(default=None, repr=False)
    alert_webhook_token: str | None = field(default=None, repr=False)
    alert_teams_url: str | None = field(default=None, repr=False)
    alert_slack_url: str | None = field(default=None, repr=False)
    alert_kafka: bool = False
    alert_kafka_topic: str | None = None  # default: kafka_alerts_topic
    alert_timeout: float = 5.0
    # Art. 19 notices (LINEAGE_NOTICE_*, streams/notice_sinks.py): files for a mail system to pick up, a JSON
    # webhook, a Teams webhook; the controller's contact a notice gives recipients to answer to
    notice_dir: Path | None = None
    notice_webhook_url: str | None = field(default=None, repr=False)
    notice_webhook_token: str | None = field(default=None, repr=False)
    notice_teams_url: str | None = field(default=None, repr=False)
    notice_contact: str | None = None
    # LINEAGE_NOTIFY_ERASURES: send the Art. 19 notices of each erasure that arrives as an `erased` event (ingest, the
    # worker, POST /api/events) once it is applied: None off, "" through the first configured sink, else a sink name
    notify_erasures: str | None = None
    alert_attempts: int = 5
    alert_backoff: float = 0.5
    alert_update_interval: float = 900.0

    @classmethod
    def from_env(cls, env: Mapping[str, str] | None = None, **overrides: object) -> Settings:
        e = os.environ if env is None else env
        values: dict[str, object] = {
            "store": e.get("LINEAGE_STORE") or DEFAULT_STORE,
            "policy_file": Path(e["LINEAGE_POLICY"]) if e.get("LINEAGE_POLICY") else None,
            "names_file": Path(e["LINEAGE_NAMES_FILE"]) if e.get("LINEAGE_NAMES_FILE") else None,
            "recipients_file": Path(e["LINEAGE_RECIPIENTS"]) if e.get("LINEAGE_RECIPIENTS") else None,
            "pseudonym_key": e.get("LINEAGE_PSEUDONYM_KEY") or None,
            "neo4j_user": e.get("LINEAGE_NEO4J_USER") or e.get("NEO4J_USER") or "neo4j",
            "neo4j_password": e.get("LINEAGE_NEO4J_PASSWORD") or e.get("NEO4J_PASSWORD") or "lineage-local",
            "neo4j_database": e.get("LINEAGE_NEO4J_DATABASE") or "neo4j",
            "kafka_bootstrap": e.get("LINEAGE_KAFKA_BOOTSTRAP") or "127.0.0.1:9092",
            "log_level": (e.get("LINEAGE_LOG_LEVEL") or "WARNING").upper(),
            "alert_log": _flag(e, "LINEAGE_ALERT_LOG", True),
            "alert_webhook_url": e.get("LINEAGE_ALERT_WEBHOOK_URL") or None,
            "alert_webhook_token": e.get("LINEAGE_ALERT_WEBHOOK_TOKEN") or None,
            "alert_teams_url": e.get("LINEAGE_ALERT_TEAMS_URL") or None,
            "alert_slack_url": e.get("LINEAGE_ALERT_SLACK_URL") or None,
            "alert_kafka": _flag(e, "LINEAGE_ALERT_KAFKA", False),
            "alert_kafka_topic": e.get("LINEAGE_ALERT_KAFKA_TOPIC") or None,
            "alert_timeout": _number(e, "LINEAGE_ALERT_TIMEOUT", 5.0),
            "notice_dir": Path(e["LINEAGE_NOTICE_DIR"]) if e.get("LINEAGE_NOTICE_DIR") else None,
            "notice_webhook_url": e.get("LINEAGE_NOTICE_WEBHOOK_URL") or None,
            "notice_webhook_token": e.get("LINEAGE_NOTICE_WEBHOOK_TOKEN") or None,
            "notice_teams_url": e.get("LINEAGE_NOTICE_TEAMS_URL") or None,
            "notice_contact": e.get("LINEAGE_NOTICE_CONTACT") or None,
            "notify_erasures": _sink_choice(e, "LINEAGE_NOTIFY_ERASURES"),
            "alert_attempts": int(_number(e, "LINEAGE_ALERT_ATTEMPTS", 5, minimum=1)),
            "alert_backoff": _number(e, "LINEAGE_ALERT_BACKOFF", 0.5),
            "alert_update_interval": _number(e, "LINEAGE_ALERT_UPDATE_INTERVAL", 900.0),
        }
        if e.get("LINEAGE_NEO4J_NAMESPACE"):
            values["neo4j_namespace"] = e["LINEAGE_NEO4J_NAMESPACE"].strip()
        if e.get("LINEAGE_NEO4J_MAX_RETRY_TIME"):
            values["neo4j_max_retry_time"] = _number(e, "LINEAGE_NEO4J_MAX_RETRY_TIME", 30.0)
        for name in ("trusted_ca", "client_cert", "client_key"):
            if e.get(f"LINEAGE_NEO4J_{name.upper()}"):
                values[f"neo4j_{name}"] = Path(e[f"LINEAGE_NEO4J_{name.upper()}"])
        if e.get("LINEAGE_WORKER_HEALTH_FILE"):
            values["worker_health_file"] = Path(e["LINEAGE_WORKER_HEALTH_FILE"])
        if e.get("LINEAGE_WORKER_RETRY_MAX"):
            values["worker_retry_max"] = _number(e, "LINEAGE_WORKER_RETRY_MAX", 10.0, minimum=0.1)
        values["worker_alerts"] = _flag(e, "LINEAGE_WORKER_ALERTS", True)
        if e.get("LINEAGE_ALERTER_GROUP"):
            values["alerter_group"] = e["LINEAGE_ALERTER_GROUP"]
        if e.get("LINEAGE_ALERTER_BATCH_SIZE"):
            values["alerter_batch_size"] = int(_number(e, "LINEAGE_ALERTER_BATCH_SIZE", 500, minimum=1))
        if e.get("LINEAGE_ALERTER_BATCH_WAIT"):
            values["alerter_batch_wait"] = _number(e, "LINEAGE_ALERTER_BATCH_WAIT", 0.05, minimum=0.001)
        for bound in ("MIN", "MAX"):
            if (e.get(f"LINEAGE_EVENT_TIME_{bound}") or "").strip():
                values[f"event_time_{bound.lower()}"] = _instant(e, f"LINEAGE_EVENT_TIME_{bound}")
        if e.get("LINEAGE_PSEUDONYM_KEY_FILE"):
            values["pseudonym_key_file"] = Path(e["LINEAGE_PSEUDONYM_KEY_FILE"])
        values.update(_kafka_env(e))
        values.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**values)  # type: ignore[arg-type]

    @property
    def alerter_group_id(self) -> str:
        """The consumer group of `lineage alerter`: its own, so it reads the events topic at its own pace."""
        return self.alerter_group or f"{self.kafka_group}-alerter"


def _flag(env: Mapping[str, str], name: str, default: bool) -> bool:
    value = (env.get(name) or "").strip().lower()
    if not value:
        return default
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise SettingsError(f"{name}={env[name]!r}: expected 1/0, true/false, yes/no or on/off")


def _sink_choice(env: Mapping[str, str], name: str) -> str | None:
    """A switch that may name a sink: off (unset, 0/false/no/off: None), on (1/true/yes/on: "", the first configured
    sink) or a sink's name (checked against the sinks where the sink is chosen)."""
    value = (env.get(name) or "").strip().lower()
    if value in ("", "0", "false", "no", "off"):
        return None
    if value in ("1", "true", "yes", "on"):
        return ""
    return value


def _instant(env: Mapping[str, str], name: str) -> datetime:
    """An ISO 8601 date or time (UTC when it has no zone)."""
    raw = env[name].strip()
    try:
        value = datetime.fromisoformat(raw.replace("Z", "+00:00"))
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected an ISO 8601 date or time, e.g. 2100-01-01") from None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def _number(env: Mapping[str, str], name: str, default: float, *, minimum: float = 0.0) -> float:
    raw = (env.get(name) or "").strip()
    if not raw:
        return default
    try:
        value = float(raw)
    except ValueError:
        raise SettingsError(f"{name}={raw!r}: expected a number") from None
    if value < minimum:
        raise SettingsError(f"{name}={raw!r}: must be at least {minimum:g}")
    return value


_SECURITY_PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")


def _kafka_env(e: Mapping[str, str]) -> dict[str, object]:
    """The LINEAGE_KAFKA_* settings present in the environment (absent ones keep their defaults)."""
    names = {
        "kafka_events_topic": "EVENTS_TOPIC", "kafka_deadletter_topic": "DEADLETTER_TOPIC",
        "kafka_alerts_topic": "ALERTS_TOPIC", "kafka_group": "GROUP", "kafka_client_id": "CLIENT_ID",
        "kafka_key_secret": "KEY_SECRET", "kafka_sasl_mechanism": "SASL_MECHANISM",
        "kafka_sasl_username": "SASL_USERNAME", "kafka_sasl_password": "SASL_PASSWORD",
        "kafka_ssl_key_password": "SSL_KEY_PASSWORD",
    }
    out: dict[str, object] = {f: e["LINEAGE_KAFKA_" + n] for f, n in names.items() if e.get("LINEAGE_KAFKA_" + n)}
    for f in ("ssl_cafile", "ssl_certfile", "ssl_keyfile"):
        if e.get("LINEAGE_KAFKA_" + f.upper()):
            out["kafka_" + f] = Path(e["LINEAGE_KAFKA_" + f.upper()])
    if e.get("LINEAGE_KAFKA_SECURITY_PROTOCOL"):
        protocol = e["LINEAGE_KAFKA_SECURITY_PROTOCOL"].strip().upper()
        if protocol not in _SECURITY_PROTOCOLS:
            expected = ", ".join(_SECURITY_PROTOCOLS)
            raise SettingsError(f"LINEAGE_KAFKA_SECURITY_PROTOCOL={protocol!r}: expected one of {expected}")
        out["kafka_security_protocol"] = protocol
    for f, n, kind, low in (
        ("kafka_batch_size", "BATCH_SIZE", int, 1),
        ("kafka_batch_wait", "BATCH_WAIT", float, 0.001),
        ("kafka_session_timeout", "SESSION_TIMEOUT", float, 1.0),
        ("kafka_web_port", "WEB_PORT", int, 1),
    ):
        raw = (e.get("LINEAGE_KAFKA_" + n) or "").strip()
        if raw:
            try:
                value = kind(raw)
            except ValueError:
                expected = "an integer" if kind is int else "a number"
                raise SettingsError(f"LINEAGE_KAFKA_{n}={raw!r}: expected {expected}") from None
            if value < low:
                raise SettingsError(f"LINEAGE_KAFKA_{n}={raw!r}: must be at least {low:g}")
            out[f] = value
    return out
