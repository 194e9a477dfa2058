"""A minimal Teams helpdesk bot that reports its users' data flows to privacy-lineage.

    pip install 'privacy-lineage[bot]'
    LINEAGE_KAFKA_BOOTSTRAP=kafka:9092 MicrosoftAppId=... MicrosoftAppPassword=... python examples/teams-bot/bot.py

Three lines make the bot report: the middleware built from the LINEAGE_* settings, `adapter.use(middleware)`, and
`middleware.close()` at shutdown. `record_use` marks what a handler does beyond the mapping's defaults. The bot keeps
answering while Kafka is unreachable: the events wait in the middleware's buffer (docs/bot.md).
"""

from __future__ import annotations

import os

from aiohttp import web
from botbuilder.core import ActivityHandler, BotFrameworkAdapter, BotFrameworkAdapterSettings, TurnContext
from botbuilder.schema import Activity

from config import Settings
from streams.botframework import LineageMiddleware, record_use


class HelpdeskBot(ActivityHandler):  # type: ignore[misc]
    """Echoes questions; "escalate" hands the user's name and message to the ticket system."""

    async def on_message_activity(self, turn_context: TurnContext) -> None:
        text = (turn_context.activity.text or "").strip()
        if text.lower().startswith("escalate"):
            # beyond the mapping's default (message content used to answer): name and message go to a ticket
            record_use(turn_context, "essential.service.operations.support", ("user.content", "user.name"))
            await turn_context.send_activity("A support agent will contact you shortly.")
        else:
            await turn_context.send_activity(f"You asked: {text}")


def app(middleware: LineageMiddleware) -> web.Application:
    """The bot's web app: Bot Framework posts activities to /api/messages."""
    env = os.environ  # the Bot Framework's own names for the bot's Azure credentials
    adapter = BotFrameworkAdapter(
        BotFrameworkAdapterSettings(env.get("MicrosoftAppId", ""), env.get("MicrosoftAppPassword", ""))  # noqa: SIM112
    )
    adapter.use(middleware)
    bot = HelpdeskBot()

    async def messages(request: web.Request) -> web.Response:
        activity = Activity().deserialize(await request.json())
        response = await adapter.process_activity(activity, request.headers.get("Authorization", ""), bot.on_turn)
        return web.json_response(response.body, status=response.status) if response else web.Response(status=201)

    application = web.Application()
    application.router.add_post("/api/messages", messages)

    async def close(_: web.Application) -> None:
        middleware.close()  # delivers what is buffered (10 s at most)

    application.on_cleanup.append(close)
    return application


if __name__ == "__main__":
    web.run_app(app(LineageMiddleware.from_settings(Settings.from_env())), port=int(os.environ.get("PORT", "3978")))
