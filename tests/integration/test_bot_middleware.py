"""A bot with the lineage middleware keeps answering its users while Kafka is unreachable, and its events arrive on
the real broker once Kafka is back.

The middleware's emitter bootstraps through a local TCP proxy on a port of its own: before the proxy starts, nothing
answers there (a broker that is down, seen from the bot); starting it brings Kafka back. The shared broker is never
touched.
"""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import suppress

import pytest

pytest.importorskip("botbuilder.core", reason="the bot extra is not installed (pip install -e '.[bot]')")
pytest.importorskip("kafka")

from botbuilder.core.adapters import TestAdapter  # noqa: E402

from config import Settings  # noqa: E402
from streams.botframework import LineageMiddleware  # noqa: E402
from streams.event_sinks import partition_key  # noqa: E402
from streams.topics import TopicNames, create_topics  # noqa: E402
from tests.integration.test_kafka_pipeline import broker  # noqa: E402
from tests.services import read_topic  # noqa: E402
from tests.streams.test_botframework import AAD, BOT, TENANT, teams  # noqa: E402

pytestmark = pytest.mark.integration
SHARED_FIXTURES = (broker,)


class TcpProxy:
    """Forwards 127.0.0.1:``port`` to ``upstream`` once started; before that, nothing listens on the port."""

    def __init__(self, upstream: str) -> None:
        host, port = upstream.rsplit(":", 1)
        self.upstream = (host, int(port))
        with socket.socket() as probe:  # a free port, kept free until start()
            probe.bind(("127.0.0.1", 0))
            self.port = probe.getsockname()[1]
        self._server: socket.socket | None = None
        self._sockets: list[socket.socket] = []

    def start(self) -> None:
        server = socket.socket()
        server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        server.bind(("127.0.0.1", self.port))
        server.listen()
        self._server = server
        threading.Thread(target=self._accept, args=(server,), daemon=True).start()

    def _accept(self, server: socket.socket) -> None:
        while True:
            try:
                client, _ = server.accept()
            except OSError:  # stopped
                return
            upstream = socket.create_connection(self.upstream)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, target: socket.socket) -> None:
        with suppress(OSError):
            while data := source.recv(65536):
                target.sendall(data)
        with suppress(OSError):
            target.shutdown(socket.SHUT_WR)

    def stop(self) -> None:
        for s in [self._server, *self._sockets]:
            if s is not None:
                with suppress(OSError):
                    s.close()


@pytest.fixture
def topics(broker: str) -> Iterator[TopicNames]:
    unique = f"it-bot-{uuid.uuid4().hex[:8]}"
    names = TopicNames(f"{unique}.events", f"{unique}.deadletter", f"{unique}.alerts")
    create_topics(Settings(kafka_bootstrap=broker), partitions=3, names=names)
    yield names
    from kafka import KafkaAdminClient  # type: ignore[import-untyped]

    admin = KafkaAdminClient(bootstrap_servers=broker)
    with suppress(Exception):
        admin.delete_topics(list(names.all()))
    admin.close()


def test_the_bot_answers_while_kafka_is_down_and_its_events_arrive_once_kafka_is_back(
    broker: str, topics: TopicNames
) -> None:
    proxy = TcpProxy(broker)
    settings = Settings(kafka_bootstrap=f"127.0.0.1:{proxy.port}", kafka_events_topic=topics.events)
    middleware = LineageMiddleware.from_settings(settings)
    adapter = TestAdapter(BOT.on_turn, teams())
    adapter.use(middleware)
    turns: list[float] = []

    async def talk(*questions: str) -> None:
        for q in questions:
            started = time.monotonic()
            await adapter.test(q, f"You asked: {q}")
            turns.append(time.monotonic() - started)

    try:
        asyncio.run(talk("vpn is down", "still down"))
        deadline = time.monotonic() + 30  # the emitter has tried Kafka and failed at least once
        while (middleware.stats().sink.failed_attempts == 0) and time.monotonic() < deadline:  # type: ignore[union-attr]
            time.sleep(0.1)
        asyncio.run(talk("hello?", "anyone there?"))
        down = middleware.stats()
        assert down.sink is not None and down.sink.failed_attempts >= 1 and down.sink.delivered == 0
        assert down.sink.buffered == down.emitted == 12  # 4 turns x (account, content, answer)
        assert max(turns) < 1.0, turns  # no turn waited for Kafka (one connection attempt takes 5 s)

        proxy.start()  # Kafka is back
        middleware.flush(timeout=90)
        asyncio.run(talk("thanks"))
        middleware.flush(timeout=30)
        up = middleware.stats()
        assert up.sink is not None and up.sink.delivered == up.emitted == 15 and up.sink.buffered == 0
    finally:
        middleware.close()
        proxy.stop()

    records = read_topic(broker, topics.events, 15)
    events = [json.loads(r.value) for r in records]  # type: ignore[attr-defined]
    assert len(events) == 15 and len({e["event_id"] for e in events}) == 15
    assert {e["subject"]["id"] for e in events} == {AAD}
    assert {r.key for r in records} == {partition_key(AAD)}  # type: ignore[attr-defined]
    assert sorted(e["kind"] for e in events) == ["collected"] * 10 + ["used"] * 5
    assert {e.get("customer") for e in events if e["role"] == "processor"} == {TENANT}
