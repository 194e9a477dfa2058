"""The worker's health as a small JSON file, rewritten atomically whenever it changes and on a heartbeat.

``lineage worker --health-file PATH`` (or ``LINEAGE_WORKER_HEALTH_FILE``) turns it on. A probe reads it::

    {"status": "ok", "since": "...", "updated_at": "...", "pid": 4242, "error": null,
     "batches": 12, "applied": 5400, "duplicates": 0, "rejected": 3, "suppressed": 0, "last_batch_at": "...",
     "retrying_events": 0, "retry_in_seconds": null, "outages": 1, "kafka_error": null, "kafka_outages": 0,
     "misplaced": 0, "write_retries": 0}

``status`` is ``starting`` (the worker is joining its group), ``ok``, ``store_unavailable`` (the graph store
cannot be written: the worker holds the batch, commits nothing, and retries with backoff; ``error`` says why,
``since`` when it began, ``retrying_events`` how many events wait), ``kafka_unavailable`` (the worker cannot reach
the Kafka broker: nothing arrives and nothing is committed; ``kafka_error`` says why, ``kafka_outages`` counts
them; see streams/outages.py) or ``stopped``. When both are down the status is ``store_unavailable``.
``misplaced`` counts the valid records not keyed by their person or not on their key's partition (docs/wire.md;
streams/key_check.py): applied all the same, but a producer to fix. ``write_retries`` counts the batches' write
transactions the store ran again after a transient error (on Neo4j, mostly deadlocks between workers writing the
same nodes): each re-runs a batch's whole write, so a count that climbs with the batches means lost throughput.
``updated_at`` is refreshed at least every heartbeat interval while the worker runs, so a file older than a few
intervals means a hung or dead worker. The file holds no personal data (counts, times, and the errors, which name
servers only).
"""

from __future__ import annotations

import json
import os
import threading
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

HEARTBEAT_SECONDS = 5.0


def _now() -> str:
    return datetime.now(UTC).isoformat()


class HealthFile:
    """Keeps the health state and writes it to ``path`` (write to a temporary file, then rename: never torn)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._state: dict[str, Any] = {
            "status": "starting",
            "since": _now(),
            "updated_at": _now(),
            "pid": os.getpid(),
            "error": None,
            "batches": 0,
            "applied": 0,
            "duplicates": 0,
            "rejected": 0,
            "suppressed": 0,
            "last_batch_at": None,
            "retrying_events": 0,
            "retry_in_seconds": None,
            "outages": 0,
            "kafka_error": None,
            "kafka_outages": 0,
            "misplaced": 0,
            "write_retries": 0,
        }
        self._store_down = self._kafka_down = False
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._write()

    @property
    def state(self) -> dict[str, Any]:
        with self._lock:
            return dict(self._state)

    def _set_status(self, status: str) -> None:
        if self._state["status"] != status:
            self._state["status"], self._state["since"] = status, _now()

    def _running_status(self, *, progress: bool = False) -> None:
        """The status from what is down (the store first: a batch is held); ``progress``: the worker has done
        something (started, or finished a batch), which ends ``starting``."""
        status = self._state["status"]
        if status == "stopped":
            return
        if self._store_down:
            self._set_status("store_unavailable")
        elif self._kafka_down:
            self._set_status("kafka_unavailable")
        elif status != "starting" or progress:
            self._set_status("ok")

    def _write(self) -> None:
        self._state["updated_at"] = _now()
        tmp = self.path.with_name(f".{self.path.name}.{os.getpid()}.tmp")
        tmp.write_text(json.dumps(self._state, indent=2) + "\n", encoding="utf-8")
        os.replace(tmp, self.path)

    def running(self) -> None:
        """The worker has started and waits for events."""
        with self._lock:
            self._running_status(progress=True)
            self._write()

    def store_unavailable(self, error: str, events: int, retry_in: float) -> None:
        """A write failed because the store cannot be reached; the batch is held and retried in ``retry_in`` s."""
        with self._lock:
            if not self._store_down:
                self._state["outages"] += 1
            self._store_down = True
            self._running_status()
            self._state.update(error=error, retrying_events=events, retry_in_seconds=retry_in)
            self._write()

    def kafka_unavailable(self, error: str) -> None:
        """The worker cannot reach the Kafka broker (nothing arrives, nothing can be committed)."""
        with self._lock:
            if not self._kafka_down:
                self._state["kafka_outages"] += 1
            self._kafka_down = True
            self._state["kafka_error"] = error
            self._running_status()
            self._write()

    def kafka_available(self) -> None:
        """The broker answers again."""
        with self._lock:
            self._kafka_down = False
            self._state["kafka_error"] = None
            self._running_status()
            self._write()

    def batch_done(
        self,
        applied: int,
        duplicates: int,
        rejected: int,
        suppressed: int,
        misplaced: int = 0,
        write_retries: int = 0,
    ) -> None:
        """A batch is in the store (and its offsets are about to be committed)."""
        with self._lock:
            self._store_down = False
            self._running_status(progress=True)
            s = self._state
            s.update(error=None, retrying_events=0, retry_in_seconds=None, last_batch_at=_now())
            s["batches"] += 1
            s["applied"] += applied
            s["duplicates"] += duplicates
            s["rejected"] += rejected
            s["suppressed"] += suppressed
            s["misplaced"] += misplaced
            s["write_retries"] += write_retries
            self._write()

    def heartbeat(self) -> None:
        """Refresh ``updated_at`` (the worker is alive), whatever the status."""
        with self._lock:
            self._write()

    def stopped(self) -> None:
        with self._lock:
            self._set_status("stopped")
            self._write()


def read_health(path: Path) -> dict[str, Any]:
    """The health document in ``path`` (for probes and tests)."""
    return json.loads(path.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
