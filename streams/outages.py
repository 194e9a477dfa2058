"""The worker's view of its brokers' and store's outages: one log line when one becomes unreachable and one when it
answers again, instead of a line per retry, and the health file told (streams/health.py).

The Kafka client (aiokafka) logs every failed connection, metadata update, fetch and heartbeat while the broker is
down, about 70 lines a second (measured: 2,900 ERROR and WARNING lines in a 22 s outage), and the Neo4j driver
every failed try. A filter on those libraries' loggers takes their connectivity records instead: the first one
marks the broker unreachable (a line of ours, and ``kafka_unavailable`` in the health file), the rest are counted.
aiokafka says nothing when it reconnects, so the broker counts as reachable again once none of those records came
for ``quiet`` seconds, checked on the worker's heartbeat (:meth:`Outages.tick`). The store's outages are told by
the worker's own retries (streams/agents.py ``retrying``), which see StoreUnavailable: the driver's records about
them are only counted. Records hold no personal data (servers and error kinds), and other records pass untouched.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from streams.health import HealthFile

_log = logging.getLogger(__name__)

KAFKA_LOGGERS = ("aiokafka", "kafka")
STORE_LOGGERS = ("neo4j",)
#: what the Kafka client says when it cannot reach a broker (aiokafka 0.12-0.14, kafka-python 2-3)
KAFKA_TROUBLE = (
    "Unable connect to node",
    "Connect call failed",
    "Unable to update metadata",
    "NodeNotReadyError",
    "KafkaConnectionError",
    "Connection at ",
    "coordinator dead",
    "GroupCoordinatorNotAvailable",
    "Heartbeat session expired",
    "Heartbeat send request failed",
    "Error sending HeartbeatRequest",
    "RequestTimedOutError",
    "Failed fetch messages",
    "Group Coordinator Request failed",
)
#: what the Neo4j driver says about a connection it lost or cannot make
STORE_TROUBLE = (
    "defunct connection",
    "Failed to establish",
    "Connection refused",
    "Unable to retrieve routing",
    "Transaction failed and will be retried",
    "ServiceUnavailable",
    "SessionExpired",
    "Failed to read",
    "Failed to write",
    "Couldn't connect",
)
QUIET_SECONDS = 6.0


class Outages(logging.Filter):
    """Takes the client libraries' connectivity records (see the module docstring) and keeps the Kafka state."""

    def __init__(
        self,
        health: HealthFile | None = None,
        *,
        quiet: float = QUIET_SECONDS,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        super().__init__()
        self.health = health
        self.quiet = quiet
        self.clock = clock
        self._lock = threading.Lock()
        self.kafka_down_since: float | None = None
        self._kafka_last_trouble = 0.0
        self.suppressed = 0  # records taken since the last state change (reported then)

    def install(self) -> None:
        """Attach to the client libraries' loggers, those that exist now (they are made when their modules are
        imported, which creating the worker does) and their parents, in place of another watch; idempotent."""
        for logger in _library_loggers():
            for other in [f for f in logger.filters if isinstance(f, Outages) and f is not self]:
                logger.removeFilter(other)
            if self not in logger.filters:
                logger.addFilter(self)

    def uninstall(self) -> None:
        for logger in _library_loggers():
            if self in logger.filters:
                logger.removeFilter(self)

    def filter(self, record: logging.LogRecord) -> bool:
        if record.levelno < logging.WARNING:
            return True
        root = record.name.split(".")[0]
        message = record.getMessage()
        if root in KAFKA_LOGGERS:
            if any(t in message for t in KAFKA_TROUBLE):
                self._kafka_trouble(message)
                return False
            with self._lock:
                if self.kafka_down_since is not None:  # a consequence of the outage
                    self.suppressed += 1
                    return False
            return True
        if root in STORE_LOGGERS and any(t in message for t in STORE_TROUBLE):
            with self._lock:
                self.suppressed += 1
            return False  # the worker's retries say it once (streams/agents.py)
        return True

    def _kafka_trouble(self, message: str) -> None:
        with self._lock:
            self._kafka_last_trouble = self.clock()
            if self.kafka_down_since is not None:
                self.suppressed += 1
                return
            self.kafka_down_since = self._kafka_last_trouble
            self.suppressed = 0
        _log.warning("Kafka broker unreachable (%s); the worker waits for it, retrying", message.strip())
        if self.health is not None:
            self.health.kafka_unavailable(message.strip())

    def tick(self) -> None:
        """Called on the worker's heartbeat: the broker is reachable again once its trouble went quiet."""
        with self._lock:
            since = self.kafka_down_since
            if since is None or self.clock() - self._kafka_last_trouble < self.quiet:
                return
            self.kafka_down_since = None
            took, taken = self._kafka_last_trouble - since, self.suppressed
            self.suppressed = 0
        _log.warning(
            "Kafka broker reachable again (unreachable for about %.0f s; %d client log records about it not shown)",
            took + self.quiet,
            taken,
        )
        if self.health is not None:
            self.health.kafka_available()


def _library_loggers() -> list[logging.Logger]:
    prefixes = KAFKA_LOGGERS + STORE_LOGGERS
    names = [n for n in list(logging.root.manager.loggerDict) if n.split(".")[0] in prefixes]
    return [logging.getLogger(n) for n in [*names, *prefixes]]
