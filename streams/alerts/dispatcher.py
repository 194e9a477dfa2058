"""The alert dispatcher: hands the alerts a batch raised or updated to every sink, with retry and backoff.

The store is the record of every alert (deduplicated by rule, recipient, category and purpose); sinks only
notify. After :meth:`streams.handler.Handler.handle`, its caller (the embedded runner's CLI, the Faust agent)
passes the batch's findings to :meth:`AlertDispatcher.publish`, which looks the alerts up in the store and hands
new and updated ones to every sink. Each sink has its own worker thread, retries with exponential backoff, and
keeps what it could not deliver in a backlog that it retries later, so a slow or failing sink delays neither the
ingest nor the other sinks. Delivery is at least once per process; an alert that was never delivered because the
process stopped is still in the store (``lineage alerts``) and :meth:`AlertDispatcher.resend` sends it again.
"""

from __future__ import annotations

import logging
import queue
import threading
import time
from collections import deque
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime

from config import Settings
from graph.store import GraphStore, alert_id
from policies.findings import Finding
from streams.alerts.notices import AlertNotice
from streams.alerts.sinks import AlertDeliveryError, AlertSink, build_sinks

_log = logging.getLogger(__name__)


# -- configuration -------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class RetryPolicy:
    """How often and how patiently a sink is retried: ``attempts`` tries, waits growing by ``factor`` up to a cap."""

    attempts: int = 5
    initial_delay: float = 0.5
    max_delay: float = 30.0
    factor: float = 2.0
    backlog_retry: float = 60.0  # how often a sink with undelivered alerts is tried again when nothing new comes

    def delay(self, retry: int) -> float:
        """The wait before retry number ``retry`` (1-based)."""
        return float(min(self.max_delay, self.initial_delay * self.factor ** (retry - 1)))


@dataclass(frozen=True)
class AlertConfig:
    """How the dispatcher delivers (from LINEAGE_ALERT_* settings): its retry policy and how often an alert that
    keeps gathering evidence is sent again. Which sinks it feeds is the sink table's business (``build_sinks``)."""

    retry: RetryPolicy = field(default_factory=RetryPolicy)
    update_interval: float = 900.0

    @classmethod
    def from_settings(cls, settings: Settings) -> AlertConfig:
        return cls(
            RetryPolicy(attempts=settings.alert_attempts, initial_delay=settings.alert_backoff),
            settings.alert_update_interval,
        )


# -- delivery ------------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class DeliveryFailure:
    """A delivery that failed after all its attempts; the alerts stay in the sink's backlog (and in the store)."""

    sink: str
    alert_ids: tuple[str, ...]
    error: str
    attempts: int
    at: datetime


class _SinkWorker:
    """One sink's queue, backlog and retry loop; runs on its own thread unless the dispatcher is synchronous."""

    def __init__(
        self, sink: AlertSink, retry: RetryPolicy, on_failure: Callable[[DeliveryFailure], None], background: bool
    ) -> None:
        self.sink, self.retry, self.on_failure = sink, retry, on_failure
        self.backlog: dict[str, AlertNotice] = {}  # alert id -> newest undelivered notice; guarded by _lock
        self.delivered = 0
        self._lock = threading.Lock()
        self._queue: queue.Queue[list[AlertNotice] | None] = queue.Queue()
        self._stop = threading.Event()
        self._idle = threading.Condition()
        self._busy = 0
        self._thread: threading.Thread | None = None
        if background:
            self._thread = threading.Thread(target=self._run, name=f"alerts-{sink.name}", daemon=True)
            self._thread.start()

    def submit(self, notices: list[AlertNotice]) -> None:
        if self._thread is None:
            self._deliver(notices)
            return
        with self._idle:
            self._busy += 1
        self._queue.put(notices)

    def _run(self) -> None:
        while True:
            try:
                job = self._queue.get(timeout=self.retry.backlog_retry if self.backlog else None)
            except queue.Empty:
                self._deliver([])  # retry the backlog
                continue
            if job is None:
                return
            try:
                self._deliver(job)
            finally:
                with self._idle:
                    self._busy -= 1
                    self._idle.notify_all()

    def _deliver(self, notices: list[AlertNotice]) -> None:
        with self._lock:
            for n in notices:
                old = self.backlog.get(n.alert.alert_id)
                # an undelivered "new" stays new when a later update of the same alert replaces it
                self.backlog[n.alert.alert_id] = AlertNotice(n.alert, n.new or (old is not None and old.new))
            batch = list(self.backlog.values())
        if not batch:
            return
        error: AlertDeliveryError | None = None
        attempt = 0
        for attempt in range(1, self.retry.attempts + 1):
            try:
                self.sink.send(batch)
            except AlertDeliveryError as exc:
                error = exc
            except Exception as exc:  # a sink bug must not kill the worker; the alert is kept for later
                error = AlertDeliveryError(f"{type(exc).__name__}: {exc}")
            else:
                with self._lock:
                    for n in batch:
                        if self.backlog.get(n.alert.alert_id) is n:
                            del self.backlog[n.alert.alert_id]
                    self.delivered += len(batch)
                return
            if not error.retryable or attempt == self.retry.attempts or self._stop.wait(self.retry.delay(attempt)):
                break
        assert error is not None
        self.on_failure(
            DeliveryFailure(
                self.sink.name, tuple(n.alert.alert_id for n in batch), str(error), attempt, datetime.now(UTC)
            )
        )

    def pending(self) -> list[str]:
        with self._lock:
            return sorted(self.backlog)

    def flush(self, timeout: float | None) -> bool:
        if self._thread is None:
            return not self.pending()
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._idle:
            while self._busy:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    return False
                self._idle.wait(left)
        return not self.pending()

    def close(self, timeout: float | None) -> None:
        self.flush(timeout)
        self._stop.set()
        if self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout)
        self.sink.close()


class AlertDispatcher:
    """Hands the alerts a batch raised or updated to every sink, off the ingest path, with retry and backoff.

    An alert is sent when a batch first raises it and again, with its new count and evidence, when later
    evidence arrives at least ``update_interval`` seconds after it was last sent, so a flood of identical
    events is one notification, not thousands. Acknowledged alerts are not sent.
    """

    def __init__(
        self,
        store: GraphStore,
        sinks: Sequence[AlertSink],
        *,
        retry: RetryPolicy | None = None,
        update_interval: float = 900.0,
        background: bool = True,
        clock: Callable[[], float] = time.monotonic,
        max_failures: int = 100,
    ) -> None:
        self.store = store
        self.update_interval = update_interval
        self.clock = clock
        self.failures: deque[DeliveryFailure] = deque(maxlen=max_failures)
        self._last_sent: dict[str, float] = {}
        self._lock = threading.Lock()
        self._workers = [_SinkWorker(s, retry or RetryPolicy(), self._failed, background) for s in sinks]

    @classmethod
    def from_settings(
        cls, store: GraphStore, settings: Settings, *, leave_out: Sequence[str] = (), background: bool = True
    ) -> AlertDispatcher:
        """A dispatcher feeding the sinks that settings turn on, but those named in ``leave_out``."""
        config = AlertConfig.from_settings(settings)
        return cls(
            store,
            build_sinks(settings, leave_out=leave_out),
            retry=config.retry,
            update_interval=config.update_interval,
            background=background,
        )

    @property
    def sinks(self) -> list[AlertSink]:
        return [w.sink for w in self._workers]

    def _failed(self, failure: DeliveryFailure) -> None:
        self.failures.append(failure)
        _log.warning(
            "alert sink %s failed after %d attempt(s): %s; %d alert(s) kept for a later retry (they are in the store)",
            failure.sink,
            failure.attempts,
            failure.error,
            len(failure.alert_ids),
        )

    def publish(self, findings: Iterable[Finding]) -> int:
        """Queue the alerts these findings raised or updated for every sink; returns how many were queued."""
        found = list(findings)
        if not found or not self._workers:
            return 0
        per_alert: dict[str, set[str]] = {}
        for f in found:
            per_alert.setdefault(alert_id(*f.dedupe_key), set()).add(f.event_id)
        now = self.clock()
        with self._lock:
            due = {a for a in per_alert if a not in self._last_sent or now - self._last_sent[a] >= self.update_interval}
            if not due:
                return 0
            # every finding's alert has last_seen >= the finding's time: this bounds the read
            since = min(f.occurred_at for f in found if alert_id(*f.dedupe_key) in due)
            notices = [
                AlertNotice(a, new=a.count <= len(per_alert[a.alert_id]))
                for a in self.store.alerts(since=since)
                if a.alert_id in due and a.status == "open"
            ]
            for a in due:
                self._last_sent[a] = now
        return self._submit(notices)

    def resend(self, *, since: datetime | None = None, rule: str | None = None) -> int:
        """Send the open alerts seen since ``since`` again (e.g. after an outage that outlived the process)."""
        notices = [AlertNotice(a, new=False) for a in self.store.alerts(status="open", rule=rule, since=since)]
        return self._submit(notices)

    def _submit(self, notices: list[AlertNotice]) -> int:
        if notices:
            for w in self._workers:
                w.submit(list(notices))
        return len(notices)

    def retry_backlog(self) -> None:
        """Try every sink's undelivered alerts again now (the workers also do so every ``backlog_retry`` seconds)."""
        for w in self._workers:
            w.submit([])

    def backlog(self) -> dict[str, list[str]]:
        """Alert ids each sink has not delivered yet."""
        return {w.sink.name: w.pending() for w in self._workers}

    def delivered(self) -> dict[str, int]:
        """How many alert notices each sink has delivered."""
        return {w.sink.name: w.delivered for w in self._workers}

    def flush(self, timeout: float | None = None) -> bool:
        """Wait until every queued notice was handled; True when nothing is left undelivered."""
        return all([w.flush(timeout) for w in self._workers])

    def close(self, timeout: float | None = 10.0) -> None:
        """Deliver what is queued (waiting at most ``timeout`` per sink), then stop the workers and close the sinks."""
        for w in self._workers:
            w.close(timeout)
        for sink, ids in self.backlog().items():
            if ids:
                _log.warning(
                    "alert sink %s: %d alert(s) undelivered at shutdown; they stay in the store (lineage alerts)",
                    sink,
                    len(ids),
                )
