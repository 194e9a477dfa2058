"""Alerts: dedupe under a flood, the dispatcher's retry and backlog, and each sink against what receives it."""

from __future__ import annotations

import json
import logging
import threading
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import pytest

from config import Settings
from graph.aggregate_reads import evidence
from graph.sqlite_store import SQLiteGraphStore
from graph.store import GraphStore
from policies.transfers import RecipientRules
from schemas.answers import Alert
from schemas.parsing import validate_event
from streams.alerts.dispatcher import AlertConfig, AlertDispatcher, RetryPolicy
from streams.alerts.notices import ADAPTIVE_CARD_CONTENT_TYPE, AlertNotice, adaptive_card, slack_message
from streams.alerts.sinks import (
    KafkaAlertSink,
    LogAlertSink,
    MemoryAlertSink,
    SlackAlertSink,
    TeamsAlertSink,
    WebhookAlertSink,
    build_sinks,
)
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import BROKER, event
from tests.streams.adaptive import adaptive_card_validator, card_errors

FAST = RetryPolicy(attempts=3, initial_delay=0.01, max_delay=0.05, backlog_retry=0.05)


# -- a real local HTTP server --------------------------------------------------------------------------------------


@dataclass
class Receiver:
    """What a local webhook server received; ``statuses`` scripts its answers (then 200)."""

    url: str
    requests: list[dict[str, Any]] = field(default_factory=list)
    statuses: list[int] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def bodies(self) -> list[Any]:
        with self.lock:
            return [r["body"] for r in self.requests if r["status"] < 300]


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    box: list[Receiver] = []

    class Handle(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - http.server's naming
            rec = box[0]
            body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
            with rec.lock:
                status = rec.statuses.pop(0) if rec.statuses else 200
                rec.requests.append({"path": self.path, "headers": dict(self.headers), "body": body, "status": status})
            self.send_response(status)
            self.send_header("Content-Length", "2")
            self.end_headers()
            self.wfile.write(b"ok")

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handle)
    box.append(Receiver(f"http://127.0.0.1:{server.server_address[1]}/hooks/secret-token"))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield box[0]
    server.shutdown()
    server.server_close()


# -- helpers -------------------------------------------------------------------------------------------------------


@pytest.fixture
def store() -> Iterator[GraphStore]:
    s = SQLiteGraphStore(":memory:")
    yield s
    s.close()


def make_handler(store: GraphStore, recipients: RecipientRules | None = None) -> Handler:
    from graph.pseudonym import Pseudonymizer
    from policies import default_policy

    return Handler(store, default_policy(), Pseudonymizer(TEST_KEY), recipients=recipients)


def broker_share(n: int, *, people: int = 1, at: datetime | None = None) -> dict[str, Any]:
    when = (at or datetime(2026, 3, 1, tzinfo=UTC)) + timedelta(seconds=n)
    return event(
        "shared",
        event_id=f"flood-{n:06d}",
        subject_id=f"person{n % people}@example.com",
        recipient=BROKER,
        purpose="marketing.advertising",
        occurred_at=when.isoformat(),
    )


def ingest(
    handler: Handler, dispatcher: AlertDispatcher | None, events: list[dict[str, Any]], batch: int = 500
) -> None:
    for i in range(0, len(events), batch):
        result = handler.handle([validate_event(e, handler.taxonomy) for e in events[i : i + batch]])
        if dispatcher is not None:
            dispatcher.publish(result.findings)


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def sample_notice(**changes: Any) -> AlertNotice:
    alert = Alert(
        alert_id="a_0123456789abcdef",
        rule="undeclared-recipient-type",
        severity="critical",
        status="open",
        category="user.contact.email",
        purpose="marketing.advertising",
        recipient="brokr",
        recipient_type="data_broker",
        subjects=["p_" + "1" * 40, "p_" + "2" * 40],
        event_ids=[f"ev-{i}" for i in range(10)],
        people=2,
        count=12,
        first_seen=datetime(2026, 3, 1, 9, tzinfo=UTC),
        last_seen=datetime(2026, 3, 2, 9, tzinfo=UTC),
        policy_version="2024.1",
        reason="'user.contact.email' disclosed to a data_broker; <the policy> & names no such recipient",
        clause_section="",
        clause_text="",
    )
    return AlertNotice(alert.model_copy(update=changes), new=True)


# -- dedupe under a flood ------------------------------------------------------------------------------------------


def test_a_flood_of_identical_events_is_one_alert_with_every_event_and_one_notification(store: GraphStore) -> None:
    handler = make_handler(store)
    sink = MemoryAlertSink()
    clock = Clock()
    dispatcher = AlertDispatcher(store, [sink], background=False, clock=clock, update_interval=600)
    flood = [broker_share(n, people=250) for n in range(5000)]
    ingest(handler, dispatcher, flood)

    (alert,) = store.alerts()
    assert (alert.rule, alert.recipient, alert.category, alert.purpose) == (
        "undeclared-recipient-type",
        "brokr",
        "user.contact.email",
        "marketing.advertising",
    )
    assert (alert.count, alert.people) == (5000, 250)
    assert alert.event_ids == [e["event_id"] for e in flood[::-1][:10]]  # the latest ten
    assert sorted(e.event_id for e in evidence(store, [alert.alert_id])) == sorted(e["event_id"] for e in flood)
    assert alert.first_seen == datetime(2026, 3, 1, tzinfo=UTC)
    assert alert.last_seen == datetime(2026, 3, 1, tzinfo=UTC) + timedelta(seconds=4999)
    # ten batches, one notification: the first batch raised it, the rest came within the update interval
    assert [(n.new, n.alert.count) for n in sink.notices] == [(True, 500)]

    # replaying the flood changes nothing and notifies no one
    ingest(handler, dispatcher, flood)
    assert store.alerts()[0].count == 5000 and len(sink.notices) == 1

    # new evidence after the interval: one update with the new count
    clock.now += 601
    ingest(handler, dispatcher, [broker_share(n, people=250) for n in range(5000, 5010)])
    assert [(n.new, n.alert.count) for n in sink.notices[1:]] == [(False, 5010)]


def test_acknowledged_alerts_are_not_sent(store: GraphStore) -> None:
    handler = make_handler(store)
    sink = MemoryAlertSink()
    clock = Clock()
    dispatcher = AlertDispatcher(store, [sink], background=False, clock=clock, update_interval=0)
    ingest(handler, None, [broker_share(0)])
    store.acknowledge_alert(store.alerts()[0].alert_id)
    ingest(handler, dispatcher, [broker_share(1)])
    assert sink.notices == []


# -- the dispatcher ------------------------------------------------------------------------------------------------


def test_a_failing_sink_is_retried_with_backoff_then_keeps_the_alert_for_later(store: GraphStore) -> None:
    handler = make_handler(store)
    sink = MemoryAlertSink()
    sink.fail_next = 2
    dispatcher = AlertDispatcher(store, [sink], retry=FAST, background=False)
    ingest(handler, dispatcher, [broker_share(0)])
    assert sink.attempts == 3 and len(sink.notices) == 1 and not dispatcher.failures

    sink.fail_next = 99
    other = event("shared", event_id="other-1", recipient=BROKER, purpose="sales", occurred_at="2026-04-02T00:00:00Z")
    ingest(handler, dispatcher, [other])
    (failure,) = dispatcher.failures
    assert failure.sink == "memory" and failure.attempts == 3 and "told to fail" in failure.error
    pending = dispatcher.backlog()["memory"]
    assert len(pending) == 1 and pending == list(failure.alert_ids)

    sink.fail_next = 0
    dispatcher.retry_backlog()
    assert dispatcher.backlog() == {"memory": []}
    assert [n.alert.purpose for n in sink.notices] == ["marketing.advertising", "sales"]
    assert sink.notices[-1].new  # it was raised, never delivered: still "new" when it finally goes


def test_background_workers_isolate_a_failing_sink(store: GraphStore, receiver: Receiver) -> None:
    handler = make_handler(store)
    good = MemoryAlertSink(name="good")
    receiver.statuses = [500] * 50
    bad = WebhookAlertSink(receiver.url, timeout=2)
    dispatcher = AlertDispatcher(store, [bad, good], retry=FAST)
    try:
        ingest(handler, dispatcher, [broker_share(0)])
        assert dispatcher.flush(timeout=10) is False  # the webhook still has it
        assert len(good.notices) == 1
        assert dispatcher.backlog()["webhook"] and not dispatcher.backlog()["good"]
        # the webhook recovers; its worker retries the backlog on its own
        with receiver.lock:
            receiver.statuses.clear()
        for _ in range(200):
            if not dispatcher.backlog()["webhook"]:
                break
            threading.Event().wait(0.02)
        assert dispatcher.backlog()["webhook"] == []
        assert len(receiver.bodies()) == 1
    finally:
        dispatcher.close(timeout=5)


# -- the sinks, against a real local HTTP server -------------------------------------------------------------------


def test_webhook_posts_the_alert_json(store: GraphStore, receiver: Receiver) -> None:
    handler = make_handler(store)
    sink = WebhookAlertSink(receiver.url, headers={"Authorization": "Bearer t0k3n"})
    dispatcher = AlertDispatcher(store, [sink], retry=FAST, background=False)
    ingest(handler, dispatcher, [broker_share(0), broker_share(1)])
    (request,) = receiver.requests
    assert request["path"] == "/hooks/secret-token"
    assert request["headers"]["Authorization"] == "Bearer t0k3n"
    assert request["headers"]["Content-Type"] == "application/json"
    (doc,) = request["body"]["alerts"]
    assert request["body"]["source"] == "privacy-lineage"
    assert {
        "alert_id",
        "rule",
        "severity",
        "event_ids",
        "subjects",
        "recipient",
        "category",
        "purpose",
        "policy_version",
        "reason",
        "clause_text",
        "count",
    } <= set(doc)
    assert doc["change"] == "new" and doc["count"] == 2 and doc["event_ids"] == [
        "flood-000001", "flood-000000"]  # newest first
    assert "person0@example.com" not in json.dumps(request["body"])
    assert "secret-token" not in repr(sink)


def test_webhook_500s_are_retried_until_it_answers(store: GraphStore, receiver: Receiver) -> None:
    handler = make_handler(store)
    receiver.statuses = [500, 503]
    dispatcher = AlertDispatcher(store, [WebhookAlertSink(receiver.url)], retry=FAST, background=False)
    ingest(handler, dispatcher, [broker_share(0)])
    assert [r["status"] for r in receiver.requests] == [500, 503, 200]
    assert len(receiver.bodies()) == 1 and not dispatcher.failures


def test_webhook_that_keeps_failing_keeps_the_alert_and_delivers_it_once_it_recovers(
    store: GraphStore, receiver: Receiver
) -> None:
    handler = make_handler(store)
    receiver.statuses = [500] * 3
    dispatcher = AlertDispatcher(store, [WebhookAlertSink(receiver.url)], retry=FAST, background=False)
    ingest(handler, dispatcher, [broker_share(0)])
    (failure,) = dispatcher.failures
    assert failure.attempts == 3 and "HTTP 500" in failure.error
    assert len(dispatcher.backlog()["webhook"]) == 1
    dispatcher.retry_backlog()
    assert dispatcher.backlog() == {"webhook": []}
    assert [r["status"] for r in receiver.requests] == [500, 500, 500, 200]


def test_a_client_error_is_not_retried(store: GraphStore, receiver: Receiver) -> None:
    receiver.statuses = [404]
    dispatcher = AlertDispatcher(store, [WebhookAlertSink(receiver.url)], retry=FAST, background=False)
    ingest(make_handler(store), dispatcher, [broker_share(0)])
    assert len(receiver.requests) == 1
    assert dispatcher.failures[0].attempts == 1 and "HTTP 404" in dispatcher.failures[0].error


def test_an_unreachable_webhook_is_a_retryable_failure(store: GraphStore) -> None:
    import socket

    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    dispatcher = AlertDispatcher(
        store, [WebhookAlertSink(f"http://127.0.0.1:{port}/x", timeout=1)], retry=FAST, background=False
    )
    ingest(make_handler(store), dispatcher, [broker_share(0)])
    assert dispatcher.failures[0].attempts == 3 and "cannot reach" in dispatcher.failures[0].error


@pytest.mark.parametrize("version", ["1.4", "1.5"])
def test_the_teams_card_is_a_valid_adaptive_card(version: str) -> None:
    validator = adaptive_card_validator(version)
    for notice in (sample_notice(), sample_notice(clause_section="Affiliates", clause_text="We may share ...")):
        card = adaptive_card(notice)
        assert not card_errors(validator, card)
    # the schema is strict enough to catch a broken card
    broken = adaptive_card(sample_notice())
    broken["body"][2]["facts"] = [{"title": "Severity"}]
    assert list(validator.iter_errors(broken))


def test_teams_sink_posts_a_message_with_an_adaptive_card(store: GraphStore, receiver: Receiver) -> None:
    sink = TeamsAlertSink(receiver.url)
    sink.send([sample_notice()])
    (body,) = receiver.bodies()
    assert body["type"] == "message"
    (attachment,) = body["attachments"]
    assert attachment["contentType"] == ADAPTIVE_CARD_CONTENT_TYPE
    card = attachment["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] in ("1.4", "1.5")
    facts = {f["title"]: f["value"] for f in card["body"][2]["facts"]}
    assert facts["Rule"] == "undeclared-recipient-type" and facts["People"] == "2" and facts["Events"] == "12"
    text = json.dumps(card)
    assert "ev-0" in text and "p_1111" not in text  # evidence ids, but no pseudonyms on a chat card
    assert "secret-token" not in repr(sink)


def test_slack_sink_posts_blocks(receiver: Receiver) -> None:
    SlackAlertSink(receiver.url).send([sample_notice()])
    (body,) = receiver.bodies()
    assert "undeclared-recipient-type" in body["text"]
    kinds = [b["type"] for b in body["blocks"]]
    assert kinds == ["header", "section", "section", "context"]
    assert len(body["blocks"][0]["text"]["text"]) <= 150 and len(body["blocks"][2]["fields"]) <= 10
    assert "&lt;the policy&gt; &amp;" in body["blocks"][1]["text"]["text"]  # mrkdwn escaped
    assert "p_1111" not in json.dumps(body)
    long_clause = slack_message(sample_notice(clause_text="x" * 5000, clause_section="S"))["blocks"][3]
    assert len(long_clause["elements"][0]["text"]) <= 3000


def test_log_sink_names_ids_and_counts_never_people(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.INFO, logger="lineage.alerts"):
        LogAlertSink().send([sample_notice(), sample_notice(severity="medium", alert_id="a_fedcba9876543210")])
    critical, medium = caplog.records
    assert critical.levelno == logging.WARNING and medium.levelno == logging.INFO
    line = critical.getMessage()
    assert "a_0123456789abcdef" in line and "undeclared-recipient-type" in line and "2 person(s)" in line
    assert "p_1111" not in caplog.text and "@" not in caplog.text


class _Future:
    def __init__(self, fail: bool) -> None:
        self.fail = fail

    def get(self, timeout: float) -> None:
        if self.fail:
            raise TimeoutError("broker did not acknowledge")


class _Producer:
    """An in-memory stand-in with kafka-python's producer surface (send -> future, close)."""

    def __init__(self) -> None:
        self.sent: list[tuple[str, bytes, bytes]] = []
        self.fail = False
        self.closed = False

    def send(self, topic: str, *, key: bytes, value: bytes) -> _Future:
        self.sent.append((topic, key, value))
        return _Future(self.fail)

    def close(self, timeout: float) -> None:
        self.closed = True


def test_kafka_sink_publishes_alert_json_keyed_by_alert_id() -> None:
    producer = _Producer()
    sink = KafkaAlertSink("lineage.alerts.test", producer=producer)
    sink.send([sample_notice()])
    ((topic, key, value),) = producer.sent
    assert (topic, key) == ("lineage.alerts.test", b"a_0123456789abcdef")
    assert json.loads(value)["rule"] == "undeclared-recipient-type"
    producer.fail = True
    from streams.alerts.sinks import AlertDeliveryError

    with pytest.raises(AlertDeliveryError, match="did not acknowledge"):
        sink.send([sample_notice()])
    sink.close()
    assert producer.closed


# -- configuration and the CLI -------------------------------------------------------------------------------------


def test_sinks_come_from_lineage_alert_settings() -> None:
    env = {
        "LINEAGE_ALERT_WEBHOOK_URL": "http://127.0.0.1:9/hook",
        "LINEAGE_ALERT_WEBHOOK_TOKEN": "s3cret",
        "LINEAGE_ALERT_TEAMS_URL": "https://example.invalid/teams/abc",
        "LINEAGE_ALERT_SLACK_URL": "https://example.invalid/slack/xyz",
        "LINEAGE_ALERT_KAFKA": "yes",
        "LINEAGE_ALERT_KAFKA_TOPIC": "privacy.alerts",
        "LINEAGE_ALERT_ATTEMPTS": "7",
        "LINEAGE_ALERT_BACKOFF": "0.25",
    }
    settings = Settings.from_env(env)
    assert "s3cret" not in repr(settings) and "abc" not in repr(settings)
    config = AlertConfig.from_settings(settings)
    assert (config.retry.attempts, config.retry.initial_delay) == (7, 0.25)
    sinks = build_sinks(settings)
    assert [s.name for s in sinks] == ["log", "webhook", "teams", "slack", "kafka"]
    assert sinks[1].headers == {"Authorization": "Bearer s3cret"}  # type: ignore[attr-defined]
    assert sinks[4].topic == "privacy.alerts"  # type: ignore[attr-defined]
    # without its own topic the sink uses the deployment's alerts topic and Kafka security settings
    kafka_env = {
        "LINEAGE_ALERT_KAFKA": "1",
        "LINEAGE_KAFKA_ALERTS_TOPIC": "t.alerts",
        "LINEAGE_KAFKA_SASL_USERNAME": "u",
    }
    (_, kafka) = build_sinks(Settings.from_env(kafka_env))
    assert kafka.topic == "t.alerts"  # type: ignore[attr-defined]
    assert kafka.client_options["sasl_plain_username"] == "u"  # type: ignore[attr-defined]
    assert [s.name for s in build_sinks(Settings.from_env({"LINEAGE_ALERT_LOG": "0"}))] == []
    with pytest.raises(ValueError, match="LINEAGE_ALERT_ATTEMPTS"):
        Settings.from_env({"LINEAGE_ALERT_ATTEMPTS": "many"})


def test_lineage_ingest_sends_its_alerts_to_the_configured_webhook(
    tmp_path: Any, receiver: Receiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    import io

    from lineage.cli import main

    events = tmp_path / "events.jsonl"
    declared = event("shared", event_id="fine-1", purpose="essential.service.operations.support")
    events.write_text("\n".join(json.dumps(e) for e in [declared, broker_share(0), broker_share(1)]) + "\n")
    registry = tmp_path / "recipients.yaml"  # the affiliate's transfers rest on the group's BCR; the broker is in none
    registry.write_text(
        "recipients:\n  - {id: hk-affiliate, name: SOS Hong Kong Ltd, type: affiliate, country: HK, role: controller,"
        " safeguard: {kind: bcr, reference: SOS Group BCR, date: 2024-05-02}}\n"
    )
    monkeypatch.setenv("LINEAGE_RECIPIENTS", str(registry))
    monkeypatch.setenv("LINEAGE_ALERT_WEBHOOK_URL", receiver.url)
    monkeypatch.setenv("LINEAGE_ALERT_LOG", "0")
    out, err = io.StringIO(), io.StringIO()
    assert main(["ingest", str(events), "--store", f"sqlite:///{tmp_path / 'l.db'}"], out, err) == 0, err.getvalue()
    (body,) = receiver.bodies()
    docs = {doc["rule"]: doc["event_ids"] for doc in body["alerts"]}
    assert docs == {  # newest first
        "undeclared-recipient-type": ["flood-000001", "flood-000000"],
        "transfer-without-safeguard": ["flood-000001", "flood-000000"],
        "new-recipient": ["flood-000000"],  # its first disclosure only
    }


# -- recall and precision on a large simulated stream --------------------------------------------------------------


def test_every_planted_flow_is_alerted_with_its_event_id_and_declared_traffic_raises_none(store: GraphStore) -> None:
    from lineage.simulator import simulate, simulated_registry

    handler = make_handler(store, RecipientRules(simulated_registry()))
    sink = MemoryAlertSink()
    dispatcher = AlertDispatcher(store, [sink], background=False)
    sims = list(simulate(200, 30, 20260301))
    ingest(handler, dispatcher, [s.event for s in sims], batch=1000)

    alerts = store.alerts()
    alerted: dict[str, set[str]] = {}
    for a in alerts:
        for e in evidence(store, [a.alert_id]):  # every triggering event (an alert itself carries its latest)
            alerted.setdefault(e.event_id, set()).add(a.rule)
    planted = {s.event["event_id"]: set(s.undeclared) for s in sims if s.undeclared}
    assert len(sims) > 15_000 and len(planted) > 200

    missed = {e: rules for e, rules in planted.items() if alerted.get(e) != rules}
    false_alarms = set(alerted) - set(planted)
    recall = sum(1 for e, rules in planted.items() if rules <= alerted.get(e, set())) / len(planted)
    precision = sum(1 for e in alerted if e in planted) / len(alerted)
    assert (recall, precision) == (1.0, 1.0)
    assert not missed and not false_alarms, (list(missed.items())[:3], sorted(false_alarms)[:3])
    # every alert reached the sink, once (the stream is replayed at most once per alert within the interval)
    assert {n.alert.alert_id for n in sink.notices} == {a.alert_id for a in alerts}
    assert len(sink.notices) == len(alerts)


def test_opt_outs_planted_in_a_simulated_stream_flag_exactly_the_later_marketing(store: GraphStore) -> None:
    from lineage.simulator import simulate

    sims = list(simulate(120, 20, 7, undeclared_rate=0.0))
    marketing = [s.event for s in sims if s.event.get("purpose", "").startswith("marketing")]
    counts = Counter(e["subject"]["id"] for e in marketing)
    people = sorted(p for p, n in counts.items() if n >= 3)[:6]  # some marketing left after the halfway opt-out
    assert len(people) == 6
    stream = [s.event for s in sims]
    expected: set[str] = set()
    for n, person in enumerate(people):
        theirs = [e for e in marketing if e["subject"]["id"] == person]
        cut = theirs[len(theirs) // 2]["occurred_at"]  # opt out half way through their marketing
        expected |= {e["event_id"] for e in theirs if e["occurred_at"] > cut}
        opt = {
            "schema_version": 1,
            "event_id": f"opt-out-{n}",
            "kind": "opted_out",
            "occurred_at": cut,
            "emitted_by": "preference-centre",
            "subject": {"id": person, "type": "customer"},
        }
        stream.insert(next(i for i, e in enumerate(stream) if e["occurred_at"] > cut), opt)
    assert expected

    handler = make_handler(store)
    ingest(handler, None, stream, batch=700)
    flagged = {e for a in store.alerts() for e in a.event_ids}
    by_rule = {e for a in store.alerts(rule="marketing-after-opt-out") for e in a.event_ids}
    assert by_rule == expected and flagged == expected
