"""Art. 19 notices through the real sinks: files a mail system picks up, a JSON webhook on a local HTTP server, a
Teams card; no raw identifier reaches any of them."""

from __future__ import annotations

import http.server
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from graph.sqlite_store import SQLiteGraphStore
from schemas.notices import Art19Notice
from schemas.policy import Organisation
from streams.notice_sinks import (
    NOTICE_SINKS,
    FileNoticeSink,
    NoSink,
    NoticeDeliveryError,
    TeamsNoticeSink,
    WebhookNoticeSink,
    notice_sink,
)
from streams.notify import send_art19_notices
from tests.streams.adaptive import adaptive_card_validator, card_errors

T0 = datetime(2026, 3, 20, 9, 0, tzinfo=UTC)


class MemoryNoticeSink:
    """Keeps the notices it is sent; fails for the recipients in ``fail_for``, as a real sink can."""

    def __init__(self, *, fail_for: set[str] | None = None, name: str = "memory") -> None:
        self.name, self.fail_for, self.notices = name, fail_for or set(), []  # type: list[Art19Notice]

    def send(self, notice: Art19Notice) -> None:
        if notice.recipient_id in self.fail_for:
            raise NoticeDeliveryError("memory sink told to fail")
        self.notices.append(notice)

    def close(self) -> None:
        pass


class _Server(http.server.ThreadingHTTPServer):
    bodies: list[tuple[str, dict[str, Any], dict[str, str]]]
    status: int


class _Handler(http.server.BaseHTTPRequestHandler):
    server: _Server

    def do_POST(self) -> None:  # noqa: N802 - the stdlib's name
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        self.server.bodies.append((self.path, body, dict(self.headers)))
        self.send_response(self.server.status)
        self.end_headers()

    def log_message(self, *args: Any) -> None:
        pass


@pytest.fixture
def server() -> Iterator[_Server]:
    srv = _Server(("127.0.0.1", 0), _Handler)
    srv.bodies, srv.status = [], 200
    thread = threading.Thread(target=srv.serve_forever, daemon=True)
    thread.start()
    yield srv
    srv.shutdown()
    srv.server_close()


@pytest.fixture
def erased_alice() -> Iterator[SQLiteGraphStore]:
    from tests.contract.test_erasure import ERASURE, alice_before, handle

    store = SQLiteGraphStore(":memory:")
    handle(store, *alice_before(), ERASURE)
    yield store
    store.close()


def _raw_ids_absent(text: str) -> None:
    from tests.contract.test_erasure import ALICE

    assert ALICE not in text and ALICE.split("@")[0] not in text.lower() and "example.com" not in text


def test_file_sink_writes_one_file_per_notice_for_a_mail_system(erased_alice: SQLiteGraphStore, tmp_path: Path) -> None:
    from tests.contract.test_erasure import ALICE, KEY, POLICY

    folder = tmp_path / "outbox"
    sink = notice_sink(Settings(notice_dir=folder), "file")
    sent = send_art19_notices(erased_alice, KEY(ALICE), ALICE, POLICY, sink, now=T0)
    files = sorted(folder.iterdir())
    assert [f.name for f in files] == sorted(f"{o.notice.notice_id}.json" for o in sent if o.notice)
    doc = json.loads(files[0].read_text())
    assert set(doc) == {"to", "subject", "text", "notice"}
    assert doc["notice"]["kind"] == "erasure" and doc["notice"]["request"] == "erase-1"
    assert "GDPR Art. 19" in doc["text"] and "1798.105(c)" in doc["text"] and "lineage notify ack" in doc["text"]
    assert [r.channel for r in erased_alice.notices(KEY(ALICE))] == ["file", "file"]
    for f in files:
        _raw_ids_absent(f.read_text())


def test_webhook_sink_posts_each_notice_with_its_token(erased_alice: SQLiteGraphStore, server: _Server) -> None:
    from tests.contract.test_erasure import ALICE, KEY, POLICY

    url = f"http://127.0.0.1:{server.server_address[1]}/hooks/art19"
    sink = notice_sink(Settings(notice_webhook_url=url, notice_webhook_token="s3cret"))  # noqa: S106 - a test token
    assert isinstance(sink, WebhookNoticeSink) and "hooks" not in repr(sink)
    sent = send_art19_notices(erased_alice, KEY(ALICE), ALICE, POLICY, sink, now=T0)
    assert [o.outcome for o in sent] == ["sent", "sent"]
    assert [(p, b["source"], b["art19_notice"]["recipient_id"]) for p, b, _ in server.bodies] == [
        ("/hooks/art19", "privacy-lineage", "brokr"), ("/hooks/art19", "privacy-lineage", "hk-affiliate"),
    ]  # fmt: skip
    assert all(h["Authorization"] == "Bearer s3cret" for _, _, h in server.bodies)
    for _, body, _ in server.bodies:
        _raw_ids_absent(json.dumps(body))
        assert body["art19_notice"]["person"] == {"scheme": "pseudonym", "value": KEY(ALICE)}


def test_a_refused_webhook_leaves_the_notice_not_sent(erased_alice: SQLiteGraphStore, server: _Server) -> None:
    from tests.contract.test_erasure import ALICE, KEY, POLICY

    server.status = 503
    sink = WebhookNoticeSink(f"http://127.0.0.1:{server.server_address[1]}/")
    sent = send_art19_notices(erased_alice, KEY(ALICE), ALICE, POLICY, sink, now=T0)
    assert [(o.outcome, o.error) for o in sent] == [("failed", "HTTP 503 Service Unavailable")] * 2
    assert erased_alice.notices() == []


def test_teams_sink_posts_an_adaptive_card(erased_alice: SQLiteGraphStore, server: _Server) -> None:
    from tests.contract.test_erasure import ALICE, KEY, POLICY

    sink = TeamsNoticeSink(f"http://127.0.0.1:{server.server_address[1]}/teams")
    sent = send_art19_notices(erased_alice, KEY(ALICE), ALICE, POLICY, sink, now=T0)
    _, body, _ = server.bodies[0]
    card = body["attachments"][0]["content"]
    assert card["type"] == "AdaptiveCard" and card["version"] == "1.4"
    facts = {f["title"]: f["value"] for b in card["body"] if b["type"] == "FactSet" for f in b["facts"]}
    assert facts["Request"] == "erasure (erase-1)" and facts["Person"] == f"pseudonym {KEY(ALICE)}"
    _raw_ids_absent(json.dumps(body))

    # every card the sink posted is an Adaptive Card by Microsoft's schema, as the alert card is: without the
    # categories (a notice sent after the erasure) and with them (erase --notify), with and without a contact
    controller = Organisation(name="SOS Group", contact="privacy@sos.example")
    received = {r: ["user.contact.email", "user.name"] for r in {o.recipient for o in sent}}
    send_art19_notices(erased_alice, KEY(ALICE), ALICE, POLICY, sink, now=T0, resend=True, controller=controller,
                       received=received)  # fmt: skip
    cards = [b["attachments"][0]["content"] for _, b, _ in server.bodies]
    assert len(cards) == 2 * len(sent) and any("user.name" in json.dumps(c) for c in cards)
    for version in ("1.4", "1.5"):
        validator = adaptive_card_validator(version)
        for c in cards:
            assert not card_errors(validator, c)
        broken = json.loads(json.dumps(cards[0]))  # the schema is strict enough to catch a broken card
        next(b for b in broken["body"] if b["type"] == "FactSet")["facts"][0].pop("value")
        assert card_errors(validator, broken)


def test_the_sink_table_says_what_to_set() -> None:
    assert list(NOTICE_SINKS) == ["file", "webhook", "teams"]
    with pytest.raises(NoSink, match="set one of LINEAGE_NOTICE_DIR, LINEAGE_NOTICE_WEBHOOK_URL"):
        notice_sink(Settings())
    with pytest.raises(NoSink, match="the teams notice sink is not configured: set LINEAGE_NOTICE_TEAMS_URL"):
        notice_sink(Settings(notice_dir=Path("x")), "teams")
    with pytest.raises(NoSink, match="unknown notice sink 'mail'"):
        notice_sink(Settings(), "mail")
    assert isinstance(notice_sink(Settings(notice_dir=Path("x"))), FileNoticeSink)


def test_an_unwritable_folder_is_a_delivery_error(tmp_path: Path) -> None:
    blocker = tmp_path / "file"
    blocker.write_text("")
    from reports.notices import Listed  # noqa: F401 - the notice is built by the send below

    with pytest.raises(NoticeDeliveryError, match="cannot write the notice into"):
        FileNoticeSink(blocker / "sub").send(_any_notice())


def _any_notice() -> Art19Notice:
    from schemas.notices import LEGAL_BASIS, PersonRef, RequestKind

    return Art19Notice(
        notice_id="n_0", kind=RequestKind.ERASURE, request="e", requested_at=T0, recipient_id="r", recipient_name="R",
        recipient_contact=None, person=PersonRef(scheme="pseudonym", value="p"), categories=[],
        categories_statement="-", action="-", legal_basis=LEGAL_BASIS, controller="C", controller_contact=None,
        acknowledge="-", sent_at=T0,
    )  # fmt: skip


# -- erasures that arrive as events: the handler sends their notices (LINEAGE_NOTIFY_ERASURES) -------------------
def _erasing_handler(store: SQLiteGraphStore, sink: MemoryNoticeSink) -> Any:
    from streams.handler import Handler
    from streams.notify import ErasureNotices
    from tests.contract.test_erasure import KEY, POLICY

    return Handler(store, POLICY, KEY, notices=ErasureNotices(sink))


def _validated(handler: Any, *events: dict[str, Any]) -> list[Any]:
    from schemas.parsing import validate_event

    return [validate_event(e, handler.taxonomy) for e in events]


def test_an_erasure_event_sends_its_notices_once_when_applied() -> None:
    from tests.contract.test_erasure import ALICE, ERASURE, KEY, alice_before

    store, sink = SQLiteGraphStore(":memory:"), MemoryNoticeSink()
    handler = _erasing_handler(store, sink)
    assert handler.handle(_validated(handler, *alice_before())).notices_sent == 0  # no erasure: nothing sent
    result = handler.handle(_validated(handler, ERASURE))
    assert result.applied == 1
    # the two recipients of Alice's data (the affiliate and the broker), each once, recorded under her pseudonym
    assert sorted(n.recipient_id for n in sink.notices) == ["brokr", "hk-affiliate"]
    assert (result.notices_sent, result.notices_unsent) == (2, 0)
    kept = store.notices(KEY(ALICE))
    assert sorted(r.recipient for r in kept) == ["brokr", "hk-affiliate"] and {r.request for r in kept} == {"erase-1"}
    assert {r.channel for r in kept} == {"memory"}
    for n in sink.notices:  # what the recipient had received, as the tombstone recorded it
        assert n.categories and n.request == "erase-1"
        _raw_ids_absent(n.model_dump_json())

    replay = handler.handle(_validated(handler, *alice_before(), ERASURE))  # a replayed topic sends nothing again
    assert (replay.applied, replay.notices_sent, len(sink.notices)) == (0, 0, 2)
    store.close()


def test_a_notice_the_sink_refuses_is_left_for_notify_art19_and_the_erasure_stands() -> None:
    from tests.contract.test_erasure import ALICE, ERASURE, KEY, POLICY, alice_before

    store, sink = SQLiteGraphStore(":memory:"), MemoryNoticeSink(fail_for={"brokr"})
    handler = _erasing_handler(store, sink)
    handler.handle(_validated(handler, *alice_before()))
    result = handler.handle(_validated(handler, ERASURE))
    assert (result.applied, result.notices_sent, result.notices_unsent) == (1, 1, 1)
    assert store.who_has(KEY(ALICE)) is None and store.erasures([KEY(ALICE)])[KEY(ALICE)]  # erased all the same
    assert [r.recipient for r in store.notices(KEY(ALICE))] == ["hk-affiliate"]  # the refused one is not recorded

    retry = send_art19_notices(store, KEY(ALICE), ALICE, POLICY, MemoryNoticeSink())  # `lineage notify art19`
    assert sorted((o.recipient, o.outcome) for o in retry) == [("brokr", "sent"), ("hk-affiliate", "already-sent")]
    store.close()


def test_an_erasure_of_someone_whose_data_went_nowhere_sends_nothing() -> None:
    from tests.contract.test_erasure import BOB, erased

    store, sink = SQLiteGraphStore(":memory:"), MemoryNoticeSink()
    handler = _erasing_handler(store, sink)
    handler.handle(_validated(handler, *_alice_and_bob_collected()))
    result = handler.handle(_validated(handler, erased("erase-bob", "2026-03-10T00:00:00Z", subject=BOB)))
    assert (result.applied, result.notices_sent, result.notices_unsent, sink.notices) == (1, 0, 0, [])
    store.close()


def _alice_and_bob_collected() -> list[dict[str, Any]]:
    from tests.contract.test_erasure import BOB
    from tests.factories import event

    return [event("collected", event_id="bob-c1", subject_id=BOB, occurred_at="2026-03-01T09:00:00Z")]
