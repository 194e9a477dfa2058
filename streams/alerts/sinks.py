"""The alert sinks (the log, a JSON webhook, Microsoft Teams, Slack, the alerts Kafka topic; memory for tests) and
their table, :data:`SINKS`: a sink's name and the factory that makes it when settings turn it on.

A new sink is a class here (or in a module of its own) with ``name``, ``send`` and ``close``, one line in
:data:`SINKS`, and its LINEAGE_ALERT_* settings in :mod:`config`.
"""

from __future__ import annotations

import json
import logging
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol

from config import Settings
from streams.alerts.notices import AlertNotice, alert_document, slack_message, summary_line, teams_message
from streams.kafka_clients import kafka_client_options


class AlertDeliveryError(RuntimeError):
    """A sink could not deliver; ``retryable`` is False when trying again cannot help (e.g. HTTP 400, 404)."""

    def __init__(self, message: str, *, retryable: bool = True) -> None:
        super().__init__(message)
        self.retryable = retryable


class AlertSink(Protocol):
    """Where alert notices go. ``send`` delivers all of them or raises :class:`AlertDeliveryError`."""

    name: str

    def send(self, notices: Sequence[AlertNotice]) -> None: ...

    def close(self) -> None: ...


class LogAlertSink:
    """Writes one line per alert to a logger: ids, keys and counts, never a person's id or pseudonym."""

    def __init__(self, logger: logging.Logger | None = None, *, name: str = "log") -> None:
        self.name = name
        self.logger = logger or logging.getLogger("lineage.alerts")

    def send(self, notices: Sequence[AlertNotice]) -> None:
        for n in notices:
            level = logging.WARNING if n.alert.severity in ("critical", "high") else logging.INFO
            self.logger.log(level, "%s", summary_line(n))

    def close(self) -> None:
        pass


class MemoryAlertSink:
    """Keeps notices in a list (tests, embedding); ``fail_next`` makes the next sends fail, as a real sink can."""

    def __init__(self, *, name: str = "memory") -> None:
        self.name = name
        self.notices: list[AlertNotice] = []
        self.fail_next = 0
        self.attempts = 0

    def send(self, notices: Sequence[AlertNotice]) -> None:
        self.attempts += 1
        if self.fail_next > 0:
            self.fail_next -= 1
            raise AlertDeliveryError("memory sink told to fail")
        self.notices.extend(notices)

    def close(self) -> None:
        pass


def post_json(url: str, body: Any, *, headers: Mapping[str, str] | None = None, timeout: float = 5.0) -> int:
    """POST ``body`` as JSON; return the status, or raise AlertDeliveryError (retryable for 5xx, 408, 429, I/O)."""
    data = json.dumps(body, ensure_ascii=False).encode("utf-8")
    request = urllib.request.Request(  # noqa: S310 - the URL is the operator's configured webhook (http or https)
        url, data=data, method="POST", headers={"Content-Type": "application/json", **(headers or {})}
    )
    try:
        with urllib.request.urlopen(request, timeout=timeout) as response:  # noqa: S310 - see above
            response.read()
            return int(response.status)
    except urllib.error.HTTPError as exc:
        retryable = exc.code >= 500 or exc.code in (408, 425, 429)
        raise AlertDeliveryError(f"HTTP {exc.code} {exc.reason}", retryable=retryable) from None
    except (urllib.error.URLError, TimeoutError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise AlertDeliveryError(f"cannot reach the webhook: {reason}") from None


def _host(url: str) -> str:
    """The URL without path or query, which carry webhook secrets (Teams, Slack): safe to log."""
    scheme, _, rest = url.partition("://")
    return f"{scheme}://{rest.split('/', 1)[0]}"


class WebhookAlertSink:
    """POSTs ``{"source": "privacy-lineage", "alerts": [...]}`` (one request per batch) to a JSON webhook."""

    def __init__(
        self,
        url: str,
        *,
        headers: Mapping[str, str] | None = None,
        timeout: float = 5.0,
        name: str = "webhook",
        max_batch: int = 100,
    ) -> None:
        self.url, self.headers, self.timeout, self.name, self.max_batch = (
            url,
            dict(headers or {}),
            timeout,
            name,
            max_batch,
        )

    def send(self, notices: Sequence[AlertNotice]) -> None:
        for i in range(0, len(notices), self.max_batch):
            body = {"source": "privacy-lineage", "alerts": [alert_document(n) for n in notices[i : i + self.max_batch]]}
            post_json(self.url, body, headers=self.headers, timeout=self.timeout)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"WebhookAlertSink({_host(self.url)!r})"


class TeamsAlertSink:
    """Posts one Adaptive Card message per alert to a Microsoft Teams incoming webhook (or Workflows webhook)."""

    def __init__(self, url: str, *, timeout: float = 5.0, name: str = "teams") -> None:
        self.url, self.timeout, self.name = url, timeout, name

    def send(self, notices: Sequence[AlertNotice]) -> None:
        for n in notices:
            post_json(self.url, teams_message(n), timeout=self.timeout)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"TeamsAlertSink({_host(self.url)!r})"


class SlackAlertSink:
    """Posts one Block Kit message per alert to a Slack incoming webhook."""

    def __init__(self, url: str, *, timeout: float = 5.0, name: str = "slack") -> None:
        self.url, self.timeout, self.name = url, timeout, name

    def send(self, notices: Sequence[AlertNotice]) -> None:
        for n in notices:
            post_json(self.url, slack_message(n), timeout=self.timeout)

    def close(self) -> None:
        pass

    def __repr__(self) -> str:
        return f"SlackAlertSink({_host(self.url)!r})"


class KafkaAlertSink:
    """Publishes each alert as JSON to the alerts topic, keyed by alert id (so one alert's updates stay in order)."""

    def __init__(
        self,
        topic: str,
        *,
        bootstrap: str = "127.0.0.1:9092",
        timeout: float = 10.0,
        producer: Any = None,
        client_options: Mapping[str, Any] | None = None,
        name: str = "kafka",
    ) -> None:
        self.topic, self.bootstrap, self.timeout, self.name = topic, bootstrap, timeout, name
        # security and client options (SASL, TLS, client id), as streams.kafka_clients.kafka_client_options gives them
        self.client_options = {"bootstrap_servers": bootstrap, **(client_options or {})}
        self._producer = producer

    def _get_producer(self) -> Any:
        if self._producer is None:
            try:
                from kafka import KafkaProducer  # type: ignore[import-untyped]
            except ImportError as exc:  # pragma: no cover - depends on the environment
                raise AlertDeliveryError(
                    "the Kafka alert sink needs kafka-python: pip install 'privacy-lineage[kafka]'", retryable=False
                ) from exc
            try:
                self._producer = KafkaProducer(**self.client_options, acks="all", linger_ms=5)
            except Exception as exc:  # kafka-python raises NoBrokersAvailable and others
                raise AlertDeliveryError(f"cannot connect to Kafka at {self.bootstrap}: {exc}") from None
        return self._producer

    def send(self, notices: Sequence[AlertNotice]) -> None:
        producer = self._get_producer()
        try:
            futures = [
                producer.send(
                    self.topic,
                    key=n.alert.alert_id.encode("utf-8"),
                    value=json.dumps(alert_document(n), ensure_ascii=False).encode("utf-8"),
                )
                for n in notices
            ]
            for f in futures:
                f.get(timeout=self.timeout)
        except AlertDeliveryError:
            raise
        except Exception as exc:  # kafka-python's KafkaError family and timeouts
            raise AlertDeliveryError(f"Kafka publish to {self.topic!r} failed: {exc}") from None

    def close(self) -> None:
        if self._producer is not None:
            try:
                self._producer.close(timeout=self.timeout)
            finally:
                self._producer = None


# -- the table -----------------------------------------------------------------------------------------------------
SinkFactory = Callable[[Settings], AlertSink | None]


def _webhook(s: Settings) -> AlertSink | None:
    if not s.alert_webhook_url:
        return None
    headers = {"Authorization": f"Bearer {s.alert_webhook_token}"} if s.alert_webhook_token else {}
    return WebhookAlertSink(s.alert_webhook_url, headers=headers, timeout=s.alert_timeout)


def _kafka(s: Settings) -> AlertSink | None:
    if not s.alert_kafka:
        return None
    topic = s.alert_kafka_topic or s.kafka_alerts_topic
    return KafkaAlertSink(topic, bootstrap=s.kafka_bootstrap, client_options=kafka_client_options(s))


#: Every alert sink by name, in the order they are fed: the factory returns the sink when settings turn it on.
SINKS: dict[str, SinkFactory] = {
    "log": lambda s: LogAlertSink() if s.alert_log else None,
    "webhook": _webhook,
    "teams": lambda s: TeamsAlertSink(s.alert_teams_url, timeout=s.alert_timeout) if s.alert_teams_url else None,
    "slack": lambda s: SlackAlertSink(s.alert_slack_url, timeout=s.alert_timeout) if s.alert_slack_url else None,
    "kafka": _kafka,
}


def build_sinks(settings: Settings, *, leave_out: Sequence[str] = ()) -> list[AlertSink]:
    """The sinks settings turn on (but those named in ``leave_out``); drivers are imported only when one sends."""
    made = (make(settings) for name, make in SINKS.items() if name not in leave_out)
    return [sink for sink in made if sink is not None]
