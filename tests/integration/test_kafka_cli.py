"""`lineage topics create` and `lineage emit` against the real broker (docker/local/kafka.sh)."""

from __future__ import annotations

import io
import json
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from lineage.cli import main
from tests.factories import event
from tests.integration.test_kafka_pipeline import broker  # noqa: F401 - the fixture
from tests.services import read_topic

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


def _retention(bootstrap: str, topic: str) -> int:
    from kafka import KafkaAdminClient
    from kafka.admin import ConfigResource, ConfigResourceType  # type: ignore[import-untyped]

    admin = KafkaAdminClient(bootstrap_servers=bootstrap)
    try:
        found = admin.describe_configs(
            [ConfigResource(ConfigResourceType.TOPIC, topic, {"retention.ms": None})], config_filter="all"
        )
    finally:
        admin.close()
    return int(found["topic"][topic]["retention.ms"]["value"])


def test_topics_create_sets_the_retentions_asked_for(topics: dict[str, str], broker: str) -> None:  # noqa: F811
    code, out, err = _run("topics", "create", "--deadletter-retention", "36h", "--alerts-retention", "forever")
    assert code == 0, err
    assert f"{topics['deadletter']}: created, retention 36 hours" in out
    assert f"{topics['alerts']}: created, retention forever" in out
    assert _retention(broker, topics["deadletter"]) == 36 * 3_600_000
    assert _retention(broker, topics["alerts"]) == -1
    broker_default = _retention(broker, topics["events"])  # not set on the topic: the broker's log.retention
    assert broker_default > 0 and f"{topics['events']}: created" in out

    # an existing topic is left as it is, and the difference is said, with how to change it
    code, out, err = _run("topics", "create", "--deadletter-retention", "2d")
    assert code == 0
    assert f"{topics['deadletter']}: exists, retention 36 hours" in out
    assert f"{topics['deadletter']} already exists and keeps records for 36 hours, not the 2 days asked for" in err
    assert f"--entity-name {topics['deadletter']} --add-config retention.ms=172800000" in err
    assert topics["events"] not in err and topics["alerts"] not in err  # nothing asked of them
    assert _retention(broker, topics["deadletter"]) == 36 * 3_600_000


def test_topics_create_refuses_a_bad_retention_before_creating_anything(
    topics: dict[str, str],
    broker: str,  # noqa: F811
) -> None:
    code, out, err = _run("topics", "create", "--events-retention", "a week")
    assert code == 2 and out == ""
    assert "--events-retention: retention 'a week' is not a duration" in err
    from kafka import KafkaAdminClient

    admin = KafkaAdminClient(bootstrap_servers=broker)
    try:
        assert not set(topics.values()) & set(admin.list_topics())
    finally:
        admin.close()


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
    code, out, err = _run("emit", str(source))
    assert code == 1
    assert f"{source}:2: rejected: not valid JSON" in err and f"{source}:5: rejected: purpose" in err
    assert "3 event(s) published" in out and "2 line(s) rejected" in out  # the summary is the result: stdout
    letters = [json.loads(x) for x in (tmp_path / "events.jsonl.deadletter.jsonl").read_text().splitlines()]
    assert [x["line"] for x in letters] == [2, 5]
    records = read_topic(broker, topics["events"], 3, 15)
    assert sorted(json.loads(r.value)["event_id"] for r in records) == sorted(e["event_id"] for e in good)
    assert all(b"example.com" not in r.key for r in records)
