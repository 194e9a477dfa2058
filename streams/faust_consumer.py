"""The Faust (aiokafka) transport of the worker, with one change: fetched messages are handed to the conductor a
fetch at a time, not one task race per message.

Faust's consumer (faust-streaming 0.15.3, ``Consumer._drain_messages``) delivers each message with
``wait_first(callback(message), suspend_flow.wait())``: four tasks and an ``asyncio.wait`` per message, so that a
delivery blocked on a full stream buffer gives up when a rebalance suspends the flow (or the consumer stops). That
race cost the worker about as much CPU per event as all of its own Faust agent (py-spy, bench/RESULTS.md). Here the
same race is run once per fetch (``getmany``): the delivery of the fetched messages gives up at the same moments,
and the messages it had not delivered yet are not delivered, as Faust's own loop stops delivering a fetch once the
flow is suspended. The fetch itself stays outside the race, as in Faust's loop. Offsets are unaffected: the worker
commits explicitly after its store write (streams/agents.py).

The loop is an adapted copy of Faust's, fenced twice: it is used only while Faust's own loop is the one it was
adapted from (same source text, :data:`ADAPTED_FROM`; any other Faust version keeps Faust's consumer, with a
warning), and only while no topic the app consumes has acks on (:func:`acking`), which lets it leave out Faust's
ack bookkeeping.
"""

from __future__ import annotations

import asyncio
import hashlib
import inspect
import logging
from collections.abc import AsyncIterator
from typing import TYPE_CHECKING, Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.consumer import Consumer as FaustConsumer
from faust.transport.drivers import aiokafka as faust_aiokafka

if TYPE_CHECKING:
    import faust

_log = logging.getLogger(__name__)

#: SHA-256 of the source of ``faust.transport.consumer.Consumer._drain_messages`` in faust-streaming 0.15.3
ADAPTED_FROM = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


def faust_loop_fingerprint() -> str:
    """The SHA-256 of the installed Faust's ``Consumer._drain_messages`` source."""
    return hashlib.sha256(inspect.getsource(FaustConsumer._drain_messages).encode("utf-8")).hexdigest()


class FetchConsumer(faust_aiokafka.Consumer):
    """Faust's aiokafka consumer, delivering each fetch under one wait (see the module docstring)."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover - runs under a live worker
        if acking(self.app):  # Faust's gap and ack-count bookkeeping are needed: its own loop keeps them
            return await super()._drain_messages(fetcher)
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = self._stopped.is_set
        fetcher_should_stop = fetcher._stopped.is_set
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        flag_consumer_fetching = CONSUMER_FETCHING
        set_flag = self.diag.set_flag
        unset_flag = self.diag.unset_flag
        yield_every = 100
        sleep = asyncio.sleep

        async def fetched(first: Any, ait: Any) -> AsyncIterator[Any]:
            yield first
            async for item in ait:
                yield item

        async def deliver(items: AsyncIterator[Any]) -> None:
            since_yield = 0
            async for tp, message in items:
                since_yield += 1
                if since_yield > yield_every:
                    await sleep(0)
                    since_yield = 0
                offset = message.offset
                r_offset = get_read_offset(tp)
                if r_offset is None or offset >= r_offset:
                    # Faust's loop records gaps and commits every n acked messages here, both for topics with
                    # acks; none has them when this loop runs (see acking)
                    await callback(message)
                    set_read_offset(tp, offset)

        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                set_flag(flag_consumer_fetching)
                ait = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    # the fetch itself (the first message) is awaited outside the race: a fetch cut short would
                    # lose records the consumer thread had already taken from the broker
                    first = await anext(ait, None)
                    if first is not None:
                        await self.wait_first(deliver(fetched(first, ait)), self.suspend_flow.wait())
                unset_flag(flag_consumer_fetching)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            unset_flag(flag_consumer_fetching)


def acking(app: faust.types.AppT) -> bool:
    """Whether a topic the app consumes has acks on: the adapted loop leaves out Faust's bookkeeping for those (gaps
    between acked offsets, a commit every n acks), so it gives way to Faust's own. The worker's events topic has
    them off: it commits explicitly after each batch (streams/agents.py)."""
    return any(getattr(topic, "acks", False) for topic in app.topics)


class FetchTransport(faust_aiokafka.Transport):
    """Faust's aiokafka transport with :class:`FetchConsumer`."""

    Consumer = FetchConsumer


def use_fetch_consumer(app: faust.App, *, fingerprint: str | None = None) -> bool:
    """Make ``app`` consume through :class:`FetchTransport` (before anything asks the app for its transport).

    Only when the installed Faust's delivery loop is the one :class:`FetchConsumer` was adapted from; otherwise
    the app keeps Faust's consumer (slower per message, same behaviour) and a warning says so. Returns whether
    the fetch consumer is installed.
    """
    if (fingerprint or faust_loop_fingerprint()) != ADAPTED_FROM:
        _log.warning(
            "this faust-streaming's consumer loop differs from the one streams/faust_consumer.py adapts; "
            "the worker uses Faust's own consumer (correct, but more CPU per message)"
        )
        return False
    # App.transport is a cached property built by _new_transport from the broker URL's scheme (kafka://): this
    # app's only, where registering a scheme would change every Faust app in the process
    cast(Any, app)._new_transport = lambda: FetchTransport(app.conf.broker_consumer, app)
    return True
