"""BufferedSink: the caller never waits on the target; events wait while it is down and arrive once it is back."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Iterator

import pytest

from schemas.events import AnyEvent
from schemas.parsing import validate_event
from streams.buffered_sink import BufferedSink
from streams.event_sinks import MemorySink, SinkError
from tests.factories import event

PEOPLE = [f"person-{i}@example.com" for i in range(40)]


def events(n: int) -> list[AnyEvent]:
    return [validate_event(event("used", subject_id=PEOPLE[i % len(PEOPLE)], event_id=f"ev-{i}")) for i in range(n)]


class Target:
    """Where the buffered events go: an in-memory sink behind a switch. While ``down`` connecting fails (or, with
    ``fail_flush``, flushing does, after the events were accepted) and takes ``slow`` seconds, as a broker would."""

    def __init__(self, *, slow: float = 0.0) -> None:
        self.down = threading.Event()
        self.fail_flush = False
        self.slow = slow
        self.delivered = MemorySink()
        self.connects = 0

    def connect(self) -> Target:
        self.connects += 1
        if self.down.is_set() and not self.fail_flush:
            time.sleep(self.slow)
            raise SinkError("cannot connect to Kafka at 127.0.0.1:1: NoBrokersAvailable")
        return self

    def send(self, ev: AnyEvent) -> None:
        self.delivered.send(ev)

    def flush(self) -> None:
        if self.down.is_set():
            raise SinkError("1 event(s) were not delivered to 'lineage.events.v1': ev-0: KafkaTimeoutError")

    def close(self) -> None:
        pass

    def ids(self) -> list[str]:
        return [e.event_id for e in self.delivered.events]


@pytest.fixture
def target() -> Target:
    return Target()


@pytest.fixture
def sink(target: Target) -> Iterator[BufferedSink]:
    s = BufferedSink(target.connect, retry_initial=0.02, retry_max=0.05)
    yield s
    s.close(timeout=1)


def test_events_are_delivered_in_order(sink: BufferedSink, target: Target) -> None:
    batch = events(1200)  # more than a delivery batch
    for ev in batch:
        sink.send(ev)
    sink.flush(timeout=10)
    assert target.ids() == [e.event_id for e in batch]
    stats = sink.stats()
    assert (stats.delivered, stats.buffered, stats.dropped, stats.failed_attempts) == (1200, 0, 0, 0)


def test_sending_does_not_wait_for_a_target_that_is_down_and_everything_arrives_when_it_is_back(
    caplog: pytest.LogCaptureFixture,
) -> None:
    target = Target(slow=0.5)  # connecting to a broker that is down takes time
    target.down.set()
    sink = BufferedSink(target.connect, retry_initial=0.02, retry_max=0.05)
    caplog.set_level(logging.INFO, logger="streams.buffered_sink")
    try:
        batch = events(50)
        started = time.monotonic()
        for ev in batch:
            sink.send(ev)
        assert time.monotonic() - started < 0.2  # not 50 x 0.5 s: the caller never meets the target
        with pytest.raises(SinkError, match="not delivered yet"):
            sink.flush(timeout=1.2)
        stats = sink.stats()
        assert stats.buffered == 50 and stats.delivered == 0 and stats.failed_attempts >= 1
        assert stats.last_error is not None and "NoBrokersAvailable" in stats.last_error
        target.down.clear()
        sink.flush(timeout=10)
        assert target.ids() == [e.event_id for e in batch]
        assert sink.stats().last_error is None
    finally:
        sink.close(timeout=1)
    messages = [r.getMessage() for r in caplog.records]
    assert any("cannot deliver" in m and "50 buffered" in m for m in messages), messages
    assert any("delivering again" in m for m in messages), messages
    assert not any("@" in m for m in messages)  # counts and errors, never a person


def test_a_batch_whose_flush_failed_is_sent_again_whole(sink: BufferedSink, target: Target) -> None:
    target.fail_flush = True
    target.down.set()
    batch = events(10)
    for ev in batch:
        sink.send(ev)
    deadline = time.monotonic() + 5
    while sink.stats().failed_attempts < 2 and time.monotonic() < deadline:
        time.sleep(0.01)
    target.down.clear()
    sink.flush(timeout=10)
    delivered = target.ids()
    assert set(delivered) == {e.event_id for e in batch} and len(delivered) > len(batch)  # at least once
    assert delivered[-10:] == [e.event_id for e in batch]  # the last attempt, whole and in order
    assert target.connects >= 3  # a new target after each failure


def test_a_full_buffer_drops_the_oldest_events_and_counts_them(caplog: pytest.LogCaptureFixture) -> None:
    target = Target()
    target.down.set()
    sink = BufferedSink(target.connect, capacity=20, retry_initial=0.5, retry_max=0.5)
    caplog.set_level(logging.WARNING, logger="streams.buffered_sink")
    try:
        batch = events(35)
        sink.send(batch[0])
        deadline = time.monotonic() + 5
        while sink.stats().failed_attempts == 0 and time.monotonic() < deadline:
            time.sleep(0.005)
        for ev in batch[1:]:  # while the thread waits to retry, nothing in flight: the buffer holds the newest 20
            sink.send(ev)
        assert sink.stats().dropped == 15
        target.down.clear()
        sink.flush(timeout=10)
        assert target.ids() == [e.event_id for e in batch[15:]]
    finally:
        sink.close(timeout=1)
    assert any("buffer full (20)" in r.getMessage() for r in caplog.records)


def test_close_delivers_what_is_buffered_and_then_refuses_more(target: Target) -> None:
    sink = BufferedSink(target.connect)
    batch = events(5)
    for ev in batch:
        sink.send(ev)
    sink.close(timeout=5)
    assert target.ids() == [e.event_id for e in batch]
    with pytest.raises(SinkError, match="closed"):
        sink.send(batch[0])


def test_closing_while_the_target_is_down_gives_up_after_the_timeout(caplog: pytest.LogCaptureFixture) -> None:
    target = Target()
    target.down.set()
    sink = BufferedSink(target.connect, retry_initial=0.02, retry_max=0.05)
    sink.send(events(1)[0])
    started = time.monotonic()
    sink.close(timeout=0.5)
    assert time.monotonic() - started < 3
    assert any("closing with 1 event(s) not delivered" in r.getMessage() for r in caplog.records)
