"""The emitter validates before it sends; sinks share one protocol; Kafka keys are pseudonymous."""

from __future__ import annotations

import io
import json
import uuid
from datetime import UTC, datetime
from pathlib import Path

import pytest

from config import Settings
from schemas.events import DataShared
from schemas.parsing import EventError, validate_event
from streams.emitter import Emitter
from streams.event_sinks import FileSink, MemorySink, SinkError, partition_key
from streams.kafka_clients import kafka_client_options
from tests.factories import AFFILIATE, event


def test_helpers_fill_version_id_and_time() -> None:
    sink = MemorySink()
    emitter = Emitter(sink, emitted_by="teams-bot")
    before = datetime.now(UTC)
    sent = emitter.collected(
        subject_id="alice@example.com",
        subject_type="customer",
        data_categories=["user.contact.email"],
        source_type="data_subject",
        source_name="signup-form",
    )
    assert sink.events == [sent]
    assert sent.schema_version == 1
    assert uuid.UUID(sent.event_id).version == 4
    assert before <= sent.occurred_at <= datetime.now(UTC)
    assert sent.emitted_by == "teams-bot"


def test_used_and_shared_helpers() -> None:
    sink = MemorySink()
    emitter = Emitter(sink, emitted_by="billing")
    emitter.used(
        subject_id="bob@example.com",
        subject_type="customer",
        data_categories=["user.contact.email"],
        purpose="essential.service.operations.support",
    )
    shared = emitter.shared(
        subject_id="bob@example.com",
        subject_type="customer",
        data_categories=["user.contact.email"],
        purpose="essential.service.operations.support",
        recipient=AFFILIATE,
        role="processor",
        customer="acme",
        event_id="ev-fixed-1",
    )
    assert [e.kind for e in sink.events] == ["used", "shared"]
    assert isinstance(shared, DataShared) and shared.recipient.country == "HK" and shared.event_id == "ev-fixed-1"


def test_a_bad_event_raises_in_the_caller_and_never_reaches_the_sink() -> None:
    sink = MemorySink()
    emitter = Emitter(sink, emitted_by="teams-bot")
    with pytest.raises(EventError) as info:
        emitter.used(
            subject_id="alice@example.com",
            subject_type="customer",
            data_categories=["user.contact.no_such_thing"],
            purpose="essential.service.operations.support",
        )
    assert info.value.problems[0][0] == "data_categories[0]"
    with pytest.raises(EventError, match="customer"):
        emitter.emit(event("used", role="processor"))  # processor without the customer
    with pytest.raises(EventError, match="not valid JSON"):
        emitter.emit("{oops")
    with pytest.raises(EventError):
        emitter.emit(event(emitted_by=None))
    assert sink.events == []


def test_missing_emitted_by_is_reported_by_field() -> None:
    with pytest.raises(EventError) as info:
        Emitter(MemorySink()).used(
            subject_id="a", subject_type="customer", data_categories=["user"], purpose="essential"
        )
    assert [f for f, _ in info.value.problems] == ["emitted_by"]


def test_emit_accepts_dicts_json_and_models() -> None:
    sink = MemorySink()
    emitter = Emitter(sink)
    raw = event("shared")
    emitter.emit(raw)
    emitter.emit(json.dumps(event("used")))
    emitter.emit(json.dumps(event()).encode())
    emitter.emit(validate_event(event("collected")))
    assert [e.kind for e in sink.events] == ["shared", "used", "collected", "collected"]
    assert json.loads(sink.lines()[0])["recipient"]["id"] == "hk-affiliate"


def test_naive_time_is_refused() -> None:
    with pytest.raises(EventError, match="timezone"):
        Emitter(MemorySink(), emitted_by="x").used(
            subject_id="a",
            subject_type="customer",
            data_categories=["user"],
            purpose="essential",
            occurred_at=datetime(2026, 1, 1, 12, 0),  # noqa: DTZ001 - the point of the test
        )


@pytest.mark.parametrize(
    "line",
    [
        json.dumps(event(occurred_at="9999-12-31T23:59:59-14:00")),
        json.dumps(event(occurred_at="0001-01-01T00:00:00+14:00")),
        json.dumps(event())[:-1] + ', "subject": {"id": "bob@example.com", "type": "customer"}}',
        json.dumps(event()).replace("alice", "al\\udc80ice").encode(),
        json.dumps(event()).encode().replace(b"alice", b"al\xffice"),
        "[" * 100_000 + "]" * 100_000,
    ],
)
def test_what_the_worker_would_refuse_is_never_sent(line: str | bytes) -> None:
    sink = MemorySink()
    with pytest.raises(EventError):
        Emitter(sink).emit(line)
    assert sink.events == []


def test_the_emitter_takes_the_readers_window() -> None:
    from schemas.parsing import TimeWindow

    window = TimeWindow(datetime(2020, 1, 1, tzinfo=UTC), datetime(2027, 1, 1, tzinfo=UTC))
    with pytest.raises(EventError, match="outside the accepted window"):
        Emitter(MemorySink(), window=window).emit(event(occurred_at="2028-01-01T00:00:00Z"))
    assert Emitter(MemorySink()).emit(event(occurred_at="2028-01-01T00:00:00Z")).occurred_at.year == 2028


def test_file_sink_writes_json_lines(tmp_path: Path) -> None:
    path = tmp_path / "out" / "events.jsonl"
    with Emitter(FileSink(path)) as emitter:
        emitter.emit(event())
        emitter.emit(event("used"))
    lines = path.read_text(encoding="utf-8").splitlines()
    assert [json.loads(line)["kind"] for line in lines] == ["collected", "used"]
    assert all(validate_event(json.loads(line)) for line in lines)


def test_file_sink_on_an_open_stream_does_not_close_it() -> None:
    buffer = io.StringIO()
    sink = FileSink(buffer)
    sink.send(validate_event(event()))
    sink.close()
    assert not buffer.closed and buffer.getvalue().count("\n") == 1
    with pytest.raises(SinkError):
        sink.send(validate_event(event()))


def test_memory_sink_refuses_after_close() -> None:
    sink = MemorySink()
    sink.close()
    with pytest.raises(SinkError):
        sink.send(validate_event(event()))


def test_partition_key_is_stable_and_not_the_subject_id() -> None:
    key = partition_key("alice@example.com")
    assert key == partition_key("alice@example.com") != partition_key("bob@example.com")
    assert b"alice" not in key and key.startswith(b"s_")
    assert partition_key("alice@example.com", b"a shared secret") != key


def test_security_options_pass_through_to_kafka_python(tmp_path: Path) -> None:
    settings = Settings.from_env(
        {
            "LINEAGE_KAFKA_BOOTSTRAP": "k1:9093, k2:9093",
            "LINEAGE_KAFKA_SECURITY_PROTOCOL": "sasl_ssl",
            "LINEAGE_KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
            "LINEAGE_KAFKA_SASL_USERNAME": "lineage",
            "LINEAGE_KAFKA_SASL_PASSWORD": "s3cret",
            "LINEAGE_KAFKA_SSL_CAFILE": str(tmp_path / "ca.pem"),
        }
    )
    options = kafka_client_options(settings)
    assert options["bootstrap_servers"] == ["k1:9093", "k2:9093"]
    assert options["security_protocol"] == "SASL_SSL"
    assert options["sasl_mechanism"] == "SCRAM-SHA-512"
    assert (options["sasl_plain_username"], options["sasl_plain_password"]) == ("lineage", "s3cret")
    assert options["ssl_cafile"] == str(tmp_path / "ca.pem")
    assert "s3cret" not in repr(settings)


def test_kafka_settings_from_the_environment() -> None:
    settings = Settings.from_env(
        {
            "LINEAGE_KAFKA_EVENTS_TOPIC": "t.events",
            "LINEAGE_KAFKA_GROUP": "g1",
            "LINEAGE_KAFKA_BATCH_SIZE": "50",
            "LINEAGE_KAFKA_BATCH_WAIT": "0.25",
        }
    )
    assert (settings.kafka_events_topic, settings.kafka_group) == ("t.events", "g1")
    assert (settings.kafka_batch_size, settings.kafka_batch_wait) == (50, 0.25)
    assert settings.kafka_deadletter_topic == "lineage.events.deadletter.v1"
    with pytest.raises(ValueError, match="LINEAGE_KAFKA_BATCH_SIZE"):
        Settings.from_env({"LINEAGE_KAFKA_BATCH_SIZE": "many"})
    with pytest.raises(ValueError, match="LINEAGE_KAFKA_SECURITY_PROTOCOL"):
        Settings.from_env({"LINEAGE_KAFKA_SECURITY_PROTOCOL": "TLS"})


def test_the_cached_key_partitioner_places_every_key_where_kafkas_default_does() -> None:
    from kafka.partitioner.default import DefaultPartitioner  # type: ignore[import-untyped]

    from streams.event_sinks import key_partitioner

    class Cluster:  # the two questions a partitioner asks of kafka-python's cluster metadata
        def __init__(self, partitions: int) -> None:
            self.partitions = set(range(partitions))

        def topics(self) -> set[str]:
            return {"t"}

        def partitions_for_topic(self, topic: str) -> set[int] | None:
            return self.partitions if topic == "t" else None

        def available_partitions_for_topic(self, topic: str) -> set[int]:
            return self.partitions

    cached, default = key_partitioner(cache_size=100), DefaultPartitioner()
    for n in (1, 3, 4, 7, 12):
        cluster = Cluster(n)
        for i in range(500):
            key = partition_key(f"person-{i}@example.com")
            for _ in range(2):  # the second time from the cache
                assert cached.partition("t", None, key, None, b"v", cluster) == default.partition(
                    "t", None, key, None, b"v", cluster
                )
    assert cached.partition("t", None, None, None, b"v", Cluster(4)) in range(4)  # keyless: the default's choice
    with pytest.raises(ValueError, match="not found"):
        cached.partition("other", None, b"k", None, b"v", Cluster(4))
