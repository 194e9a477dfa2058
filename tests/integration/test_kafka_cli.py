"""`lineage topics create` and `lineage emit` against the real broker (docker/local/kafka.sh)."""

from __future__ import annotations

import io
import json
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from lineage.cli import main
from tests.factories import event
from tests.integration.test_kafka_pipeline import broker  # noqa: F401 - the fixture

pytestmark = pytest.mark.integration


@pytest.fixture
def topics(broker: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[dict[str, str]]:  # noqa: F811
    unique = f"it-cli-{uuid.uuid4().hex[:8]}"
    names = {"events": f"{unique}.events", "deadletter": f"{unique}.deadletter", "alerts": f"{unique}.alerts"}
    monkeypatch.setenv("LINEAGE_KAFKA_BOOTSTRAP", broker)
    monkeypatch.setenv("LINEAGE_KAFKA_EVENTS_TOPIC", names["events"])
    monkeypatch.setenv("LINEAGE_KAFKA_DEADLETTER_TOPIC", names["deadletter"])
    monkeypatch.setenv("LINEAGE_KAFKA_ALERTS_TOPIC", names["alerts"])
    yield names
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]

    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        admin.delete_topics(list(names.values()))
    except Exception:  # noqa: S110 - tidying up only
        pass
    finally:
        admin.close()


def _run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    return code, out.getvalue(), err.getvalue()


def _read(bootstrap: str, topic: str, expected: int) -> list[Any]:
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(topic, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
    records: list[Any] = []
    deadline = time.monotonic() + 15
    try:
        while len(records) < expected and time.monotonic() < deadline:
            for batch in consumer.poll(timeout_ms=200).values():
                records.extend(batch)
    finally:
        consumer.close()
    return records


def test_topics_create_is_idempotent(topics: dict[str, str], broker: str) -> None:  # noqa: F811
    code, out, _ = _run("topics", "create", "--partitions", "2")
    assert code == 0 and out.count(": created") == 3 and topics["events"] in out
    code, out, _ = _run("topics", "create", "--partitions", "2")
    assert code == 0 and out.count(": exists") == 3
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        described = admin.describe_topics([topics["events"]])
    finally:
        admin.close()
    assert len(described[0]["partitions"]) == 2


def test_emit_publishes_valid_lines_and_reports_the_rest(
    topics: dict[str, str],
    broker: str,  # noqa: F811
    tmp_path: Path,
) -> None:
    assert _run("topics", "create")[0] == 0
    good = [event(subject_id=f"cli-{i}@example.com") for i in range(3)]
    lines = [json.dumps(good[0]), "{oops", "", json.dumps(good[1]), json.dumps(event(kind="used", purpose="nope"))]
    lines.append(json.dumps(good[2]))
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(lines) + "\n", encoding="utf-8")
    code, _, err = _run("emit", str(source))
    assert code == 1
    assert f"{source}:2: rejected: not valid JSON" in err and f"{source}:5: rejected: purpose" in err
    assert "3 event(s) published" in err and "2 line(s) rejected" in err
    letters = [json.loads(x) for x in (tmp_path / "events.jsonl.deadletter.jsonl").read_text().splitlines()]
    assert [x["line"] for x in letters] == [2, 5]
    records = _read(broker, topics["events"], 3)
    assert sorted(json.loads(r.value)["event_id"] for r in records) == sorted(e["event_id"] for e in good)
    assert all(b"example.com" not in r.key for r in records)
