"""The worker's health file and its resilience to an unavailable store (agent.test_context, no broker)."""

from __future__ import annotations

import base64
import json
from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from graph.sqlite_store import SQLiteGraphStore
from graph.store import StoreUnavailable
from streams.health import HealthFile, read_health
from streams.messages import MAX_DEAD_LETTER_RAW, RawMessage, dead_letter_envelope
from tests.factories import BROKER, event
from tests.streams.test_agents import FlakyStore, _json, _run, _settings


def test_health_reports_an_outage_while_it_lasts_then_ok(tmp_path: Path) -> None:
    path = tmp_path / "health.json"
    store = FlakyStore(StoreUnavailable("cannot write to Neo4j at bolt://db:7687: connection refused"), failures=3)
    seen: list[dict[str, Any]] = []
    original = store.apply

    def watching(batch: Sequence[Any]) -> Any:
        if path.exists():
            seen.append(read_health(path))
        return original(batch)

    store.apply = watching  # type: ignore[method-assign]
    settings = replace(_settings(), worker_health_file=path, worker_retry_max=0.2)
    _, _, committer = _run([_json(event()), _json(event())], store=store, settings=settings)
    assert store.attempts == 4 and list(committer.offsets.values()) == [2]
    # while the store was down (the 2nd to 4th attempts), the file said so, naming the error and the held events
    down = [s for s in seen if s["status"] == "store_unavailable"]
    assert len(down) == 3 and down[0]["outages"] == 1 and down[0]["retrying_events"] == 2
    assert "connection refused" in down[0]["error"] and down[0]["retry_in_seconds"] == 0.5
    assert [d["retry_in_seconds"] for d in down] == [0.5, 0.2, 0.2]  # backoff, capped by worker_retry_max
    final = read_health(path)
    assert (final["status"], final["error"], final["batches"], final["applied"]) == ("ok", None, 1, 2)
    assert final["outages"] == 1 and final["last_batch_at"] and final["pid"]


def test_health_file_lifecycle_is_written_atomically(tmp_path: Path) -> None:
    health = HealthFile(tmp_path / "sub" / "health.json")
    assert read_health(health.path)["status"] == "starting"
    health.running()
    assert read_health(health.path)["status"] == "ok"
    health.store_unavailable("down", 5, 1.0)
    health.store_unavailable("still down", 5, 2.0)
    state = read_health(health.path)
    assert (state["status"], state["outages"], state["error"]) == ("store_unavailable", 1, "still down")
    health.batch_done(3, 1, 2, 0)
    health.heartbeat()
    health.stopped()
    state = read_health(health.path)
    assert (state["status"], state["applied"], state["duplicates"], state["rejected"]) == ("stopped", 3, 1, 2)
    assert sorted(p.name for p in health.path.parent.iterdir()) == ["health.json"]  # no temporary file left


def test_the_alert_dispatch_after_a_write_is_retried_when_the_store_goes_away() -> None:
    """The store can vanish between the write and the dispatcher's read of the alerts: retried, not a crash."""

    class ReadFails(SQLiteGraphStore):
        def __init__(self) -> None:
            super().__init__(":memory:")
            self.reads = 0

        def alerts(self, **kwargs: Any) -> Any:
            self.reads += 1
            if self.reads <= 2:
                raise StoreUnavailable("gone for a moment")
            return super().alerts(**kwargs)

    store = ReadFails()
    settings = replace(_settings(), alert_log=True, worker_retry_max=0.05)
    _, publisher, committer = _run(
        [_json(event("shared", recipient=dict(BROKER), event_id="to-broker"))], store=store, settings=settings
    )
    assert store.reads == 3 and list(committer.offsets.values()) == [1]
    assert [a["event_id"] for a in publisher.on("t.alerts")] == ["to-broker"]


def test_a_dead_letter_always_fits_in_one_kafka_message() -> None:
    for value in (b'"' * (MAX_DEAD_LETTER_RAW * 3), b"\xff" * (MAX_DEAD_LETTER_RAW + 10), b"\x00" * 150_000,
                  "\u2028".encode() * 300_000):
        letter = dead_letter_envelope(RawMessage(value, "t", 0, 7), "not valid JSON")
        assert len(json.dumps(letter, ensure_ascii=False).encode()) < 1_000_000, value[:5]
        kept = base64.b64decode(letter["raw_base64"]) if letter["raw_base64"] else letter["raw"].encode()
        assert value.startswith(kept) and len(kept) == min(len(value), MAX_DEAD_LETTER_RAW)
        assert ("only its first" in letter["reason"]) == (len(value) > MAX_DEAD_LETTER_RAW)
    small = dead_letter_envelope(RawMessage(b'{"not": "an event"}', "t", 0, 9), "bad")
    assert small["raw"] == '{"not": "an event"}' and small["raw_base64"] is None and small["reason"] == "bad"
