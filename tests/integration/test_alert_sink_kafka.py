"""The Kafka alert sink against the real broker (docker/local/kafka.sh), on a topic of its own."""

from __future__ import annotations

import json
import os
import uuid
from datetime import UTC, datetime

import pytest

from schemas.answers import Alert
from streams.alerts.notices import AlertNotice
from streams.alerts.sinks import AlertDeliveryError, KafkaAlertSink
from tests.services import read_topic, require

pytestmark = pytest.mark.integration

BOOTSTRAP = os.environ.get("LINEAGE_KAFKA_BOOTSTRAP", "127.0.0.1:9092")


@pytest.fixture(scope="module")
def broker() -> str:
    try:
        from kafka import KafkaAdminClient  # type: ignore[import-untyped]
    except ImportError:
        pytest.skip("kafka-python is not installed")
    try:
        admin = KafkaAdminClient(bootstrap_servers=BOOTSTRAP, request_timeout_ms=3000, bootstrap_timeout_ms=3000)
        admin.list_topics()
        admin.close()
    except Exception as exc:  # kafka-python raises several kinds when nothing listens
        require("Kafka", f"no broker answers on {BOOTSTRAP} ({type(exc).__name__}: {exc})")
    return BOOTSTRAP


def notice(alert_id: str, count: int) -> AlertNotice:
    at = datetime(2026, 3, 1, tzinfo=UTC)
    alert = Alert(
        alert_id=alert_id,
        rule="undeclared-recipient-type",
        severity="critical",
        status="open",
        category="user.contact.email",
        purpose="marketing",
        recipient="brokr",
        recipient_type="data_broker",
        subjects=["p_" + "a" * 40],
        event_ids=[f"e{i}" for i in range(min(count, 10))],
        people=1,
        count=count,
        first_seen=at,
        last_seen=at,
        policy_version="2024.1",
        reason="test",
        clause_section="",
        clause_text="",
    )
    return AlertNotice(alert, new=count == 1)


def test_alerts_reach_the_topic_keyed_by_alert_id_in_order(broker: str) -> None:
    topic = f"lineage.alerts.test-{uuid.uuid4().hex[:8]}"
    sink = KafkaAlertSink(topic, bootstrap=broker, client_options={"client_id": "alert-sink-test"})
    try:
        sink.send([notice("a_0000000000000001", 1)])
        sink.send([notice("a_0000000000000001", 3), notice("a_0000000000000002", 1)])
    finally:
        sink.close()
    # the three notices, and anything more the topic held 3 s later (nothing, or the test fails below)
    received = [(m.key.decode(), json.loads(m.value)) for m in read_topic(broker, topic, 4, timeout=3)]
    by_key: dict[str, list[int]] = {}
    for key, doc in received:
        assert doc["alert_id"] == key and doc["rule"] == "undeclared-recipient-type"
        by_key.setdefault(key, []).append(doc["count"])
    assert by_key == {"a_0000000000000001": [1, 3], "a_0000000000000002": [1]}


def test_an_unreachable_broker_is_a_delivery_error() -> None:
    sink = KafkaAlertSink(
        "x", bootstrap="127.0.0.1:1", client_options={"request_timeout_ms": 2000, "api_version_auto_timeout_ms": 2000}
    )
    with pytest.raises(AlertDeliveryError):
        sink.send([notice("a_0000000000000003", 1)])
