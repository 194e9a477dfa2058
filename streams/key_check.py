"""Whether each record on the events topic is where docs/wire.md puts it: keyed by its person, on that key's partition.

The worker applies a record whatever its key (docs/wire.md, "The key"). What a wrong key costs is order: one person's
events spread over several partitions are read by several workers, in no order between them, and consent is judged
against the withdrawals and opt-outs known when a use's batch is handled. Nothing in the graph shows it. So the worker
checks each valid record against the key the docs define (with this worker's ``LINEAGE_KAFKA_KEY_SECRET``) and, when
the topic's partition count is known, the partition that key maps to, and counts and reports the records that are
elsewhere: in its health file (``misplaced``) and in a log line at most once a minute. A producer in another language
whose client uses another partitioner (librdkafka's default), another secret, or no key at all shows up at once.

Neither the key nor the person's id is ever logged: a record is named by topic, partition and offset.
"""

from __future__ import annotations

import functools
import logging
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from schemas.events import AnyEvent
from streams.event_sinks import subject_keys
from streams.messages import RawMessage

_log = logging.getLogger(__name__)

WARN_EVERY = 60.0
"""Seconds between two log lines about misplaced records (each says how many since the last)."""


def key_partition(key: bytes, partitions: int) -> int:
    """The partition the Java client's default partitioner (and every producer docs/wire.md names) gives ``key``."""
    from aiokafka.partitioner import murmur2  # type: ignore[import-untyped]  # the worker's client, via Faust

    return int((murmur2(key) & 0x7FFFFFFF) % partitions)


@dataclass
class Misplaced:
    """The records of one or more batches that are not where docs/wire.md puts them, by what is wrong."""

    no_key: int = 0
    other_key: int = 0
    other_partition: int = 0
    first: str | None = None  # "topic/partition@offset" of the first of them

    @property
    def total(self) -> int:
        return self.no_key + self.other_key + self.other_partition

    def add(self, other: Misplaced) -> None:
        self.no_key += other.no_key
        self.other_key += other.other_key
        self.other_partition += other.other_partition
        self.first = self.first or other.first

    def describe(self) -> str:
        parts = [
            f"{n} {what}"
            for n, what in (
                (self.no_key, "without a key"),
                (self.other_key, "with a key other than their person's"),
                (self.other_partition, "on a partition other than their key's"),
            )
            if n
        ]
        return ", ".join(parts) + (f"; the first at {self.first}" if self.first else "")


class KeyCheck:
    """Counts the records a batch holds that are not keyed by their person, or not on their key's partition.

    ``secret``: the deployment's key secret (``LINEAGE_KAFKA_KEY_SECRET``), as the producers use it.
    ``partitions``: the number of partitions of a topic, or None while unknown (then only the key is checked).
    """

    def __init__(
        self,
        secret: bytes | None,
        partitions: Callable[[str], int | None] | None = None,
        *,
        cache_size: int = 65_536,
        warn_every: float = WARN_EVERY,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.secret_set = secret is not None
        self._key = subject_keys(secret, cache_size)
        self._partition = functools.lru_cache(maxsize=cache_size)(key_partition)
        self._partitions = partitions
        self._warn_every, self._clock = warn_every, clock
        self._unreported = Misplaced()
        self._last_warning: float | None = None

    def check(self, events: Sequence[AnyEvent], sources: Sequence[RawMessage]) -> Misplaced:
        """The misplaced records among ``sources`` (``events[i]`` was read from ``sources[i]``)."""
        found = Misplaced()
        counts: dict[str, int | None] = {}
        for event, message in zip(events, sources, strict=True):
            if message.key is None:
                found.no_key += 1
            elif message.key != self._key(event.subject.id):
                found.other_key += 1
            else:
                if message.topic not in counts:
                    counts[message.topic] = self._partition_count(message.topic)
                n = counts[message.topic]
                if not n or message.partition >= n or self._partition(message.key, n) == message.partition:
                    continue  # unknown count (or a partition added since it was read): the key alone is checked
                found.other_partition += 1
            found.first = found.first or f"{message.topic}/{message.partition}@{message.offset}"
        return found

    def _partition_count(self, topic: str) -> int | None:
        if self._partitions is None:
            return None
        try:
            return self._partitions(topic)
        except Exception:  # the count is a hint: a client that cannot give it leaves the partition unchecked
            return None

    def report(self, found: Misplaced) -> None:
        """One warning for the first misplaced records, then at most one every ``warn_every`` seconds."""
        self._unreported.add(found)
        if not self._unreported.total:
            return
        now = self._clock()
        if self._last_warning is not None and now - self._last_warning < self._warn_every:
            return
        since = "" if self._last_warning is None else f" in the last {now - self._last_warning:.0f} s"
        secret = "with" if self.secret_set else "without"
        _log.warning(
            "%d record(s)%s not keyed as docs/wire.md defines (checked %s LINEAGE_KAFKA_KEY_SECRET): %s. They are "
            "applied, but one person's events on several partitions can be applied out of order, and consent is "
            "judged in the order events are handled",
            self._unreported.total,
            since,
            secret,
            self._unreported.describe(),
        )
        self._last_warning, self._unreported = now, Misplaced()
