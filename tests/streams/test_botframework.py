"""The Bot Framework middleware with botbuilder's TestAdapter and the example bot: what it reports, and that the bot
answers whatever the reporting does (the real broker: tests/integration/test_bot_middleware.py)."""

from __future__ import annotations

import asyncio
import importlib.util
import logging
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

pytest.importorskip("botbuilder.core", reason="the bot extra is not installed (pip install -e '.[bot]')")

from botbuilder.core import TurnContext  # noqa: E402
from botbuilder.core.adapters import TestAdapter  # noqa: E402
from botbuilder.schema import Activity, ChannelAccount, ConversationAccount  # noqa: E402

from graph.pseudonym import Pseudonymizer  # noqa: E402
from graph.sqlite_store import SQLiteGraphStore  # noqa: E402
from policies import default_policy  # noqa: E402
from streams.botframework import BotMapping, LineageMiddleware, Use, record_use  # noqa: E402
from streams.emitter import Emitter  # noqa: E402
from streams.event_sinks import MemorySink  # noqa: E402
from streams.handler import Handler  # noqa: E402
from tests.conftest import TEST_KEY  # noqa: E402

REPO = Path(__file__).resolve().parents[2]
TENANT = "72f988bf-86f1-41af-91ab-2d7cd011db47"
AAD = "0c5a1f1e-2b6d-4c44-9e0f-6a7b8c9d0e1f"
TEAMS_USER = "29:1GcS4EyB_oSI8A88XmWBN7NJFyMqe3QGnJdgLfFGkJnVelzRGos0bPbpsfJjcbAD22bmKc4GMbrY2g4JDrrA8vM06X1-cHHle"


def load_example() -> ModuleType:
    spec = importlib.util.spec_from_file_location("teams_bot_example", REPO / "examples" / "teams-bot" / "bot.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


BOT = load_example().HelpdeskBot()


def teams(*, tenant: str | None = TENANT, aad: str | None = AAD) -> Activity:
    """The activities Teams sends a bot: the sender's Teams and AAD ids, the tenant in the conversation."""
    return Activity(
        channel_id="msteams",
        service_url="https://smba.trafficmanager.net/emea/",
        from_property=ChannelAccount(id=TEAMS_USER, name="Alice Chan", aad_object_id=aad),
        recipient=ChannelAccount(id="28:helpdesk-bot", name="S Plus Helpdesk", role="bot"),
        conversation=ConversationAccount(id="a:1x2y3z", conversation_type="personal", tenant_id=tenant),
        channel_data={"tenant": {"id": tenant}} if tenant else None,
    )


def middleware(mapping: BotMapping | None = None) -> tuple[LineageMiddleware, MemorySink]:
    sink = MemorySink()
    return LineageMiddleware(Emitter(sink, default_policy().taxonomy()), mapping), sink


def converse(mw: LineageMiddleware, template: Activity, *exchanges: tuple[str, str], logic: Any = None) -> None:
    adapter = TestAdapter(logic or BOT.on_turn, template)
    adapter.use(mw)

    async def run() -> None:
        for says, expected in exchanges:
            await adapter.test(says, expected)

    asyncio.run(run())


def test_a_message_reports_its_content_the_account_and_the_answer() -> None:
    mw, sink = middleware()
    converse(mw, teams(), ("my laptop will not boot", "You asked: my laptop will not boot"))
    account, content, answer = (e.model_dump(mode="json", exclude_none=True) for e in sink.events)
    assert account["kind"] == "collected" and account["role"] == "controller"
    assert account["data_categories"] == ["user.account"]
    assert account["source"] == {"type": "third_party", "name": "msteams"} and "customer" not in account
    assert content["kind"] == "collected" and content["role"] == "processor" and content["customer"] == TENANT
    assert content["data_categories"] == ["user.content"] and content["source"]["type"] == "data_subject"
    assert answer["kind"] == "used" and answer["role"] == "processor" and answer["customer"] == TENANT
    assert answer["purpose"] == "essential.service.operations.support"
    for ev in (account, content, answer):
        assert ev["subject"] == {"id": AAD, "type": "customer"} and ev["emitted_by"] == "teams-bot"
    assert "laptop" not in str(sink.lines())  # the fact of the message, never its text
    assert mw.stats().emitted == 3


def test_the_default_mapping_raises_no_alert_under_the_s_plus_policy() -> None:
    mw, sink = middleware()
    escalation = ("escalate please", "A support agent will contact you shortly.")
    converse(mw, teams(), ("hello", "You asked: hello"), escalation)
    handler = Handler(SQLiteGraphStore(":memory:"), default_policy(), Pseudonymizer(TEST_KEY))
    result = handler.handle(sink.events)
    assert result.applied == len(sink.events) == 7 and result.findings == ()
    person = handler.store.who_has(Pseudonymizer(TEST_KEY)(AAD))
    assert person is not None
    assert {c.category for c in person.categories} == {"user.account", "user.content", "user.name"}


def test_the_handler_records_its_own_uses() -> None:
    mw, sink = middleware()
    converse(mw, teams(), ("escalate: printer on fire", "A support agent will contact you shortly."))
    uses = [e for e in sink.events if e.kind == "used"]
    assert [(u.purpose, u.data_categories) for u in uses] == [
        ("essential.service.operations.support", ["user.content"]),  # the mapping's default for a message
        ("essential.service.operations.support", ["user.content", "user.name"]),  # record_use in the handler
    ]


def test_without_an_aad_id_the_teams_account_id_is_the_subject() -> None:
    mw, sink = middleware()
    converse(mw, teams(aad=None), ("hi", "You asked: hi"))
    assert {e.subject.id for e in sink.events} == {TEAMS_USER}


def test_without_a_tenant_customer_data_is_left_out_and_counted(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="streams.botframework")
    mw, sink = middleware()
    converse(mw, teams(tenant=None), ("hi", "You asked: hi"), ("again", "You asked: again"))
    assert [(e.kind, e.role) for e in sink.events] == [("collected", "controller")] * 2  # the account only
    assert mw.stats().no_customer == 4  # two messages and two uses
    assert [r.getMessage() for r in caplog.records] == [
        "lineage middleware: a message without a tenant (set BotMapping.default_customer): not reported"
    ]
    mw, sink = middleware(BotMapping(default_customer="sos-webchat"))
    converse(mw, teams(tenant=None), ("hi", "You asked: hi"))
    assert [e.customer for e in sink.events] == [None, "sos-webchat", "sos-webchat"]


def test_a_mapping_error_never_reaches_the_bot_and_is_logged_by_field(caplog: pytest.LogCaptureFixture) -> None:
    caplog.set_level(logging.WARNING, logger="streams.botframework")
    broken = BotMapping(uses={"message": (Use("spying.on.users", ("user.content",)),)}, account_categories=("user.x",))
    mw, sink = middleware(broken)
    converse(mw, teams(), ("hello", "You asked: hello"), ("hello", "You asked: hello"))
    assert [e.kind for e in sink.events] == ["collected", "collected"]  # the content, twice
    assert mw.stats().failed == 4
    messages = [r.getMessage() for r in caplog.records]
    assert messages == [
        "lineage middleware: an event the mapping makes is invalid (fields: data_categories[0]): not reported",
        "lineage middleware: an event the mapping makes is invalid (fields: purpose): not reported",
    ]
    assert not any(AAD in m or TENANT in m for m in messages)


def test_a_reporting_step_that_raises_does_not_stop_the_turn() -> None:
    def sender(activity: Activity) -> str:
        raise RuntimeError(f"directory lookup failed for {activity.from_property.id}")  # would name the person

    mw, sink = middleware(BotMapping(subject_id=sender))
    converse(mw, teams(), ("hello", "You asked: hello"))
    assert sink.events == [] and mw.stats().failed == 1 and mw.stats().no_sender == 1


def test_a_failing_handler_still_reports_what_was_collected_and_recorded() -> None:
    async def logic(context: TurnContext) -> None:
        record_use(context, "essential.service.operations.support", ("user.content",))
        raise ValueError("the bot's own bug")

    mw, sink = middleware()
    adapter = TestAdapter(logic, teams())
    adapter.use(mw)
    with pytest.raises(ValueError, match="the bot's own bug"):  # the middleware does not swallow the bot's errors
        asyncio.run(adapter.send("hello"))
    assert [e.kind for e in sink.events] == ["collected", "collected", "used"]  # recorded, not the default use


def test_activities_from_bots_or_without_a_sender_are_not_attributed() -> None:
    mw, sink = middleware()
    template = teams()
    template.from_property = ChannelAccount(id="28:other-bot", role="bot")
    converse(mw, template, ("ping", "You asked: ping"))
    assert sink.events == [] and mw.stats().no_sender == 1


def test_the_example_bot_answers_over_http_and_reports() -> None:
    """examples/teams-bot/bot.py as Bot Framework runs it: an activity posted to /api/messages, the reply sent to the
    channel's connector (a local stand-in for Teams' service URL)."""
    from aiohttp import web
    from aiohttp.test_utils import TestClient, TestServer

    mw, sink = middleware()
    replies: list[dict[str, Any]] = []

    async def connector(request: web.Request) -> web.Response:
        replies.append(await request.json())
        return web.json_response({"id": "reply-1"})

    async def run() -> int:
        channel = web.Application()
        channel.router.add_post("/v3/conversations/{conversation}/activities/{activity}", connector)
        teams_service = TestServer(channel)
        await teams_service.start_server()
        client = TestClient(TestServer(load_example().app(mw)))
        await client.start_server()
        try:
            activity = teams().serialize() | {"type": "message", "id": "m-1", "text": "my vpn is down"}
            activity["serviceUrl"] = str(teams_service.make_url("/"))
            response = await client.post("/api/messages", json=activity)
            return response.status
        finally:
            await client.close()
            await teams_service.close()

    assert asyncio.run(run()) == 201
    assert [r["text"] for r in replies] == ["You asked: my vpn is down"]
    assert [(e.kind, e.customer) for e in sink.events] == [("collected", None), ("collected", TENANT), ("used", TENANT)]
