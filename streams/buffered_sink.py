"""An event sink that never blocks or fails its caller: a bounded buffer drained to the real sink by a thread."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass

from schemas.events import AnyEvent
from streams.event_sinks import EventSink, SinkError

_log = logging.getLogger(__name__)
_REPORT_EVERY = 60.0  # seconds between two log lines about the same outage or overflow


@dataclass(frozen=True)
class BufferStats:
    """Counts of a :class:`BufferedSink` (no event content, no person)."""

    buffered: int  # waiting for delivery, in flight included
    delivered: int
    dropped: int  # the oldest events, pushed out of a full buffer
    failed_attempts: int  # connections or flushes that failed (each retried)
    connected: bool
    last_error: str | None


class BufferedSink:
    """Hands events to a background thread that delivers them to the sink ``connect`` makes, so that ``send`` takes
    microseconds whether the target is up or not.

    While the target cannot be made or its flush fails (a broker down, a network cut), the events wait in a buffer
    of at most ``capacity`` events and the thread tries again, after ``retry_initial`` seconds and doubling up to
    ``retry_max``, with a new sink from ``connect``. A full buffer drops its oldest events, which are counted and
    logged. Delivery is at least once: a batch whose flush failed is sent again whole, and the lineage worker
    applies an event id once. Log lines carry counts and the sink's error, never an event's content.
    """

    def __init__(
        self,
        connect: Callable[[], EventSink],
        *,
        capacity: int = 10_000,
        batch_size: int = 500,
        retry_initial: float = 0.5,
        retry_max: float = 30.0,
    ) -> None:
        if capacity < 1 or batch_size < 1:
            raise ValueError("capacity and batch_size must be at least 1")
        self._connect = connect
        self._capacity, self._batch_size = capacity, batch_size
        self._retry_initial, self._retry_max = retry_initial, retry_max
        self._queue: deque[AnyEvent] = deque()
        self._in_flight = 0
        self._cond = threading.Condition()
        self._closing = False
        self._target: EventSink | None = None
        self._delivered = self._dropped = self._failed = 0
        self._last_error: str | None = None
        self._reported_outage = self._reported_drop = 0.0
        self._thread = threading.Thread(target=self._run, name="lineage-buffered-sink", daemon=True)
        self._thread.start()

    # -- the caller's side: never blocks on the target ------------------------------------------------------------
    def send(self, event: AnyEvent) -> None:
        with self._cond:
            if self._closing:
                raise SinkError("the sink is closed")
            if len(self._queue) + self._in_flight >= self._capacity:
                self._dropped += 1
                self._report_drops()
                if not self._queue:  # all of it in flight: the new event is the one that does not fit
                    return
                self._queue.popleft()
            self._queue.append(event)
            self._cond.notify_all()

    def flush(self, timeout: float | None = None) -> None:
        """Wait until every event sent so far is delivered; :class:`SinkError` if ``timeout`` passes first."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._cond:
            while self._queue or self._in_flight:
                left = None if deadline is None else deadline - time.monotonic()
                if left is not None and left <= 0:
                    waiting = len(self._queue) + self._in_flight
                    raise SinkError(f"{waiting} event(s) not delivered yet: {self._last_error or 'in flight'}")
                self._cond.wait(left)

    def close(self, timeout: float = 10.0) -> None:
        """Deliver what is buffered within ``timeout`` seconds, then stop; what is left is counted and logged."""
        try:
            self.flush(timeout)
        except SinkError as exc:
            _log.warning("lineage events: closing with %s", exc)
        with self._cond:
            self._closing = True
            self._cond.notify_all()
        self._thread.join(timeout=max(timeout, 1.0))

    def stats(self) -> BufferStats:
        with self._cond:
            return BufferStats(
                buffered=len(self._queue) + self._in_flight,
                delivered=self._delivered,
                dropped=self._dropped,
                failed_attempts=self._failed,
                connected=self._target is not None,
                last_error=self._last_error,
            )

    # -- the thread's side -------------------------------------------------------------------------------------------
    def _run(self) -> None:
        delay = self._retry_initial
        while True:
            with self._cond:
                while not self._queue and not self._closing:
                    self._cond.wait()
                if self._closing:
                    break
                batch = [self._queue.popleft() for _ in range(min(self._batch_size, len(self._queue)))]
                self._in_flight = len(batch)
            error = self._deliver(batch)
            with self._cond:
                self._in_flight = 0
                if error is None:
                    self._delivered += len(batch)
                    if self._failed and self._last_error is not None:
                        _log.info("lineage events: delivering again (%d failed attempt(s) so far)", self._failed)
                    self._last_error = None
                    delay = self._retry_initial
                else:
                    self._queue.extendleft(reversed(batch))  # first again, in order
                    while len(self._queue) > self._capacity:
                        self._queue.popleft()
                        self._dropped += 1
                    self._failed += 1
                    self._last_error = error
                    self._report_outage(delay)
                self._cond.notify_all()
                if error is not None:
                    self._cond.wait_for(lambda: self._closing, timeout=delay)
                    delay = min(delay * 2, self._retry_max)
        self._discard()

    def _deliver(self, batch: list[AnyEvent]) -> str | None:
        """Send and flush one batch; the error in words when it was not (all) delivered."""
        try:
            if self._target is None:
                self._target = self._connect()
            for event in batch:
                self._target.send(event)
            self._target.flush()
            return None
        except Exception as exc:  # any failure of the target is retried, never raised to the caller
            self._discard()
            return f"{type(exc).__name__}: {exc}"

    def _discard(self) -> None:
        target, self._target = self._target, None
        if target is not None:
            with contextlib.suppress(Exception):  # the target failed already; a new one is made for the retry
                target.close()

    def _report_outage(self, delay: float) -> None:
        now = time.monotonic()
        if now - self._reported_outage >= _REPORT_EVERY:
            self._reported_outage = now
            waiting = len(self._queue)
            _log.warning(
                "lineage events: cannot deliver (%s); %d buffered, retrying in %.1f s", self._last_error, waiting, delay
            )

    def _report_drops(self) -> None:
        now = time.monotonic()
        if now - self._reported_drop >= _REPORT_EVERY:
            self._reported_drop = now
            _log.warning(
                "lineage events: buffer full (%d); dropped %d oldest event(s) so far", self._capacity, self._dropped
            )
