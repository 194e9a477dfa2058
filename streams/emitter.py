"""What chatbot components call to report collection, use and sharing of personal data: validate, then send."""

from __future__ import annotations

import uuid
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from types import TracebackType
from typing import Any

from pydantic import BaseModel

from schemas.events import SCHEMA_VERSION, AnyEvent
from schemas.parsing import EventError, TimeWindow, parse_event, validate_event
from schemas.taxonomy import Taxonomy
from streams.event_sinks import EventSink


class Emitter:
    """Builds and validates events, then hands them to a sink (Kafka, file, memory).

    Every event is checked against the contract, taxonomy keys and the window of event times included, *before* it
    is sent, with the same checks as the worker (``parse_event``): a bad event raises
    :class:`schemas.parsing.EventError` in the caller and never reaches the sink. The keyword helpers
    fill ``schema_version``, a UUID ``event_id`` and ``occurred_at`` (now, UTC) unless given.

    >>> from streams.event_sinks import MemorySink
    >>> emitter = Emitter(MemorySink(), emitted_by="teams-bot")
    >>> event = emitter.used(subject_id="alice@example.com", subject_type="customer",
    ...                      data_categories=["user.contact.email"], purpose="essential.service.operations.support")
    """

    def __init__(
        self,
        sink: EventSink,
        taxonomy: Taxonomy | None = None,
        *,
        emitted_by: str | None = None,
        window: TimeWindow | None = None,
    ) -> None:
        self.sink = sink
        self.taxonomy = taxonomy
        self.emitted_by = emitted_by
        self.window = window  # None: the default window (the worker's, unless it is configured otherwise)

    # -- the one way out ---------------------------------------------------------------------------
    def emit(self, event: AnyEvent | Mapping[str, Any] | str | bytes) -> AnyEvent:
        """Validate ``event`` (a model, a dict, or a JSON text) and send it; return the validated event."""
        if isinstance(event, str | bytes):
            checked = parse_event(event, self.taxonomy, self.window)
        elif isinstance(event, BaseModel):
            # re-validate: a model built elsewhere was checked against the default taxonomy, not necessarily ours
            checked = validate_event(event.model_dump(mode="json", exclude_none=True), self.taxonomy, self.window)
        elif isinstance(event, Mapping):
            checked = validate_event(dict(event), self.taxonomy, self.window)
        else:
            raise EventError([("", f"an event must be a mapping, a model or JSON text, got {type(event).__name__}")])
        self.sink.send(checked)
        return checked

    # -- keyword helpers ---------------------------------------------------------------------------
    def collected(
        self,
        *,
        subject_id: str,
        subject_type: str,
        data_categories: Sequence[str],
        source_type: str,
        source_name: str | None = None,
        purpose: str | None = None,
        role: str = "controller",
        customer: str | None = None,
        emitted_by: str | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> AnyEvent:
        """Personal data was collected or received from ``source_type`` (data_subject, customer, third_party,
        automatic)."""
        return self.emit(
            _drop_none(
                self._base(
                    "collected",
                    subject_id,
                    subject_type,
                    data_categories,
                    role,
                    customer,
                    emitted_by,
                    event_id,
                    occurred_at,
                )
                | {"source": _drop_none({"type": source_type, "name": source_name}), "purpose": purpose}
            )
        )

    def used(
        self,
        *,
        subject_id: str,
        subject_type: str,
        data_categories: Sequence[str],
        purpose: str,
        role: str = "controller",
        customer: str | None = None,
        source_type: str | None = None,
        source_name: str | None = None,
        emitted_by: str | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> AnyEvent:
        """Personal data was used for ``purpose`` (a fideslang data-use key)."""
        source = _drop_none({"type": source_type, "name": source_name}) if source_type or source_name else None
        return self.emit(
            _drop_none(
                self._base(
                    "used", subject_id, subject_type, data_categories, role, customer, emitted_by, event_id, occurred_at
                )
                | {"purpose": purpose, "source": source}
            )
        )

    def shared(
        self,
        *,
        subject_id: str,
        subject_type: str,
        data_categories: Sequence[str],
        purpose: str,
        recipient: Mapping[str, Any] | BaseModel,
        role: str = "controller",
        customer: str | None = None,
        source_type: str | None = None,
        source_name: str | None = None,
        emitted_by: str | None = None,
        event_id: str | None = None,
        occurred_at: datetime | None = None,
    ) -> AnyEvent:
        """Personal data was disclosed to ``recipient`` (id, name, type, and optionally country, contact)."""
        source = _drop_none({"type": source_type, "name": source_name}) if source_type or source_name else None
        if isinstance(recipient, BaseModel):
            target = recipient.model_dump(mode="json", exclude_none=True)
        else:
            target = dict(recipient)
        return self.emit(
            _drop_none(
                self._base(
                    "shared",
                    subject_id,
                    subject_type,
                    data_categories,
                    role,
                    customer,
                    emitted_by,
                    event_id,
                    occurred_at,
                )
                | {"purpose": purpose, "recipient": target, "source": source}
            )
        )

    def _base(
        self,
        kind: str,
        subject_id: str,
        subject_type: str,
        data_categories: Sequence[str],
        role: str,
        customer: str | None,
        emitted_by: str | None,
        event_id: str | None,
        occurred_at: datetime | None,
    ) -> dict[str, Any]:
        when = occurred_at or datetime.now(UTC)
        return {
            "schema_version": SCHEMA_VERSION,
            "event_id": event_id or str(uuid.uuid4()),
            "kind": kind,
            "occurred_at": when.isoformat(),
            "emitted_by": emitted_by or self.emitted_by,
            "subject": {"id": subject_id, "type": subject_type},
            "data_categories": list(data_categories),
            "role": role,
            "customer": customer,
        }

    # -- lifecycle ---------------------------------------------------------------------------------
    def flush(self) -> None:
        """Wait until every event sent so far is delivered (raises the sink's error if some were not)."""
        self.sink.flush()

    def close(self) -> None:
        self.sink.close()

    def __enter__(self) -> Emitter:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()


def _drop_none(values: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}
