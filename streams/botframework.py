"""Bot Framework middleware: a bot reports what it collects and uses of its users' data, never in the bot's way.

Attach :class:`LineageMiddleware` to a bot's adapter (``adapter.use(middleware)``). For each incoming activity from
a user it emits ``collected`` events: the message (text or attachments) as Customer Data (``user.content``, role
``processor``, the Teams tenant as ``customer``) and the sender's account and Teams/AAD ids as account information
(``user.account``, role ``controller``, from the channel); once the bot's handler has run, ``used`` events for the
uses the :class:`BotMapping` lists for that activity type and those the handler recorded with :func:`record_use`.

Nothing here blocks or fails the bot: events go to a :class:`streams.buffered_sink.BufferedSink`, which delivers
them from a thread and buffers them while Kafka is unreachable, and an event that cannot be built (a mapping that
names a key the taxonomy lacks, an activity without a sender) is counted and logged, by field, never with an id.
Needs the ``bot`` extra (botbuilder-core).
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from botbuilder.core import Middleware, TurnContext
from botbuilder.schema import Activity

from schemas.parsing import EventError
from schemas.taxonomy import Taxonomy
from streams.buffered_sink import BufferedSink, BufferStats
from streams.emitter import Emitter

if TYPE_CHECKING:
    from config import Settings

_log = logging.getLogger(__name__)
_TURN_USES = "privacy-lineage.uses"
#: Kafka producer options for a bot: give up on an unreachable broker in seconds (the buffer retries), not minutes.
BOT_PRODUCER_OPTIONS: dict[str, Any] = {
    "bootstrap_timeout_ms": 5_000,
    "max_block_ms": 5_000,
    "request_timeout_ms": 5_000,
    "delivery_timeout_ms": 15_000,
}


@dataclass(frozen=True)
class Use:
    """A use of the sender's data: ``data_categories`` used for ``purpose`` (fideslang keys), in ``role``."""

    purpose: str
    data_categories: tuple[str, ...]
    role: str = "processor"  # what users submit to the bot is Customer Data: the tenant controls it


def sender_id(activity: Activity) -> str | None:
    """The sender's AAD object id (the same person across Teams and Office 365), else their channel account id."""
    sender = activity.from_property
    if sender is None or (getattr(sender, "role", None) or "").lower() == "bot":
        return None
    return getattr(sender, "aad_object_id", None) or getattr(sender, "id", None) or None


def tenant_id(activity: Activity) -> str | None:
    """The Microsoft 365 tenant of the conversation (Teams), which is the customer organisation."""
    tenant = getattr(activity.conversation, "tenant_id", None) if activity.conversation is not None else None
    if tenant:
        return str(tenant)
    data = activity.channel_data
    found = data.get("tenant") if isinstance(data, Mapping) else getattr(data, "tenant", None)
    tid = found.get("id") if isinstance(found, Mapping) else getattr(found, "id", None)
    return str(tid) if tid else None


@dataclass(frozen=True)
class BotMapping:
    """What the middleware reports for a bot; its authors set what differs (defaults: a Teams helpdesk bot under the
    S Plus policy, whose users are customers' staff and whose messages are Customer Data)."""

    emitted_by: str = "teams-bot"
    subject_type: str = "customer"
    subject_id: Callable[[Activity], str | None] = sender_id
    customer: Callable[[Activity], str | None] = tenant_id
    default_customer: str | None = None  # when the activity names no tenant (e.g. Web Chat)
    content_categories: tuple[str, ...] = ("user.content",)
    content_purpose: str | None = "essential.service.operations.support"
    content_source: str = "data_subject"
    account_categories: tuple[str, ...] = ("user.account",)
    account_purpose: str | None = None
    account_source: str = "third_party"  # the channel (Teams, via Microsoft Entra ID) supplies the ids
    uses: Mapping[str, tuple[Use, ...]] = field(
        default_factory=lambda: {
            "message": (Use("essential.service.operations.support", ("user.content",)),),
        }
    )


def record_use(
    context: TurnContext, purpose: str, data_categories: tuple[str, ...], *, role: str = "processor"
) -> None:
    """Called by the bot's handler: this turn used the sender's ``data_categories`` for ``purpose``; the middleware
    reports it when the turn ends (even if the handler fails afterwards)."""
    context.turn_state.setdefault(_TURN_USES, []).append(Use(purpose, tuple(data_categories), role))


@dataclass(frozen=True)
class MiddlewareStats:
    """What the middleware did: events handed to the sink, turns or events it could not report, and the sink's
    buffer. Counts only."""

    emitted: int
    no_sender: int  # activities with no user to attribute them to
    no_customer: int  # Customer Data events left out: no tenant and no default_customer
    failed: int  # events that could not be built (a mapping error): logged by field
    sink: BufferStats | None


class LineageMiddleware(Middleware):  # type: ignore[misc]  # botbuilder-core is untyped
    """Reports a bot's collection and use of its users' data to privacy-lineage. See the module's docstring."""

    def __init__(self, emitter: Emitter, mapping: BotMapping | None = None) -> None:
        self.emitter = emitter
        self.mapping = mapping or BotMapping()
        self._emitted = self._no_sender = self._no_customer = self._failed = 0
        self._logged: set[str] = set()

    @classmethod
    def from_settings(
        cls,
        settings: Settings,
        mapping: BotMapping | None = None,
        *,
        taxonomy: Taxonomy | None = None,
        capacity: int = 10_000,
    ) -> LineageMiddleware:
        """To the events topic of ``settings`` (LINEAGE_KAFKA_*), through a buffer of ``capacity`` events;
        ``taxonomy`` defaults to the configured policy's (LINEAGE_POLICY, or the bundled one)."""
        from policies import default_policy, load_policy
        from streams.event_sinks import KafkaSink

        if taxonomy is None:
            policy = load_policy(settings.policy_file) if settings.policy_file else default_policy()
            taxonomy = policy.taxonomy()
        sink = BufferedSink(lambda: KafkaSink(settings, producer_options=BOT_PRODUCER_OPTIONS), capacity=capacity)
        return cls(Emitter(sink, taxonomy), mapping)

    async def on_turn(self, context: TurnContext, logic: Callable[[], Awaitable[Any]]) -> None:
        activity = context.activity
        subject = self._guard("the sender", lambda: self.mapping.subject_id(activity))
        if subject is None:
            self._no_sender += 1
            await logic()
            return
        customer = self._guard("the tenant", lambda: self.mapping.customer(activity)) or self.mapping.default_customer
        self._guard("a collection", lambda: self._collected(activity, subject, customer))
        handled = False
        try:
            await logic()
            handled = True
        finally:
            uses = list(self.mapping.uses.get(activity.type or "", ())) if handled else []
            uses += context.turn_state.pop(_TURN_USES, [])
            for use in uses:
                self._guard("a use", functools.partial(self._used, use, subject, customer))

    def _collected(self, activity: Activity, subject: str, customer: str | None) -> None:
        m, channel = self.mapping, activity.channel_id or "bot"
        at = activity.timestamp
        when = at if isinstance(at, datetime) and at.tzinfo is not None else None  # else now

        def collected(categories: tuple[str, ...], source: str, name: str, purpose: str | None, **role: Any) -> None:
            self._emit(
                lambda: self.emitter.collected(
                    subject_id=subject,
                    subject_type=m.subject_type,
                    data_categories=categories,
                    source_type=source,
                    source_name=name,
                    purpose=purpose,
                    emitted_by=m.emitted_by,
                    occurred_at=when,
                    **role,
                )
            )

        if m.account_categories:
            collected(m.account_categories, m.account_source, channel, m.account_purpose)
        if (activity.text or activity.attachments) and m.content_categories:
            if customer is None:
                self._no_customer += 1
                self._note("no-customer", "a message without a tenant (set BotMapping.default_customer): not reported")
                return
            content = m.content_categories, m.content_source, f"{channel}-chat", m.content_purpose
            collected(*content, role="processor", customer=customer)

    def _used(self, use: Use, subject: str, customer: str | None) -> None:
        if use.role == "processor" and customer is None:
            self._no_customer += 1
            return
        self._emit(
            lambda: self.emitter.used(
                subject_id=subject,
                subject_type=self.mapping.subject_type,
                data_categories=use.data_categories,
                purpose=use.purpose,
                role=use.role,
                customer=customer if use.role == "processor" else None,
                emitted_by=self.mapping.emitted_by,
            )
        )

    def _emit(self, make: Callable[[], object]) -> None:
        try:
            make()
        except EventError as exc:
            self._failed += 1
            fields = ", ".join(sorted({f or "(event)" for f, _ in exc.problems}))
            self._note(f"invalid:{fields}", f"an event the mapping makes is invalid (fields: {fields}): not reported")
        else:
            self._emitted += 1

    def _guard(self, what: str, step: Callable[[], Any]) -> Any:
        """Run one reporting step; whatever it raises is counted and logged (by type), never raised to the bot."""
        try:
            return step()
        except Exception as exc:  # the bot goes on whatever the reporting does
            self._failed += 1
            self._note(f"error:{what}:{type(exc).__name__}", f"could not report {what} ({type(exc).__name__})")
            return None

    def _note(self, key: str, message: str) -> None:
        """Log a problem once per kind (counts are in :meth:`stats`): no ids, no content."""
        if key not in self._logged:
            self._logged.add(key)
            _log.warning("lineage middleware: %s", message)

    def stats(self) -> MiddlewareStats:
        sink = self.emitter.sink
        return MiddlewareStats(
            emitted=self._emitted,
            no_sender=self._no_sender,
            no_customer=self._no_customer,
            failed=self._failed,
            sink=sink.stats() if isinstance(sink, BufferedSink) else None,
        )

    def flush(self, timeout: float | None = None) -> None:
        """Wait until the events reported so far are delivered (SinkError if ``timeout`` passes first)."""
        sink = self.emitter.sink
        if isinstance(sink, BufferedSink):
            sink.flush(timeout)
        else:
            sink.flush()

    def close(self) -> None:
        """At the bot's shutdown: deliver what is buffered (10 s at most), then release the producer."""
        self.emitter.close()
