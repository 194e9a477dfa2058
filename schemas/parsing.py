"""Reading events off the wire: :func:`parse_event` (JSON text) and :func:`validate_event` (decoded objects) turn
input into the contract's models of schemas/events.py, or raise :class:`EventError` naming each bad field without
quoting the input; :class:`TimeWindow` bounds the event times a reader accepts."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, get_args

from pydantic import BaseModel, ValidationError

from schemas.events import (
    EVENT_ADAPTER,
    SCHEMA_VERSION,
    AnyEvent,
    EventKind,
    Recipient,
    Source,
    Subject,
)
from schemas.jsontext import JsonTextError, keys_at_most, loads
from schemas.taxonomy import Taxonomy, default_taxonomy


@dataclass(frozen=True)
class TimeWindow:
    """The ``occurred_at`` times a reader accepts: from ``earliest`` (included) to ``latest`` (excluded).

    An event dated outside it is refused, with a message naming the window: a year 9999 or 0001 is a producer's
    bug, and such dates cannot even be converted to UTC. Both bounds must lie between the years 2 and 9998, so that
    every accepted time converts to UTC and back whatever its offset.
    """

    earliest: datetime
    latest: datetime

    def __post_init__(self) -> None:
        for name in ("earliest", "latest"):
            value = getattr(self, name)
            if value.tzinfo is None:
                raise ValueError(f"the event time window's {name} bound needs a timezone")
            if not 2 <= value.year <= 9998:
                raise ValueError(f"the event time window's {name} bound must lie between the years 2 and 9998")
        if self.earliest >= self.latest:
            raise ValueError("the event time window's earliest bound must be before its latest")

    def __str__(self) -> str:
        return f"from {_iso(self.earliest)} (included) to {_iso(self.latest)} (excluded)"


def _iso(value: datetime) -> str:
    return value.astimezone(UTC).isoformat().replace("+00:00", "Z")


DEFAULT_TIME_WINDOW = TimeWindow(datetime(1970, 1, 1, tzinfo=UTC), datetime(2100, 1, 1, tzinfo=UTC))
"""What readers accept unless configured otherwise (``LINEAGE_EVENT_TIME_MIN`` / ``LINEAGE_EVENT_TIME_MAX``)."""


class EventError(ValueError):
    """An event that does not meet the contract; ``problems`` lists (field, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]], event_id: str | None = None) -> None:
        self.problems = problems
        self.event_id = event_id
        super().__init__("; ".join(f"{where}: {msg}" if where else msg for where, msg in problems))


_KINDS = tuple(k.value for k in EventKind)
_KIND_LIST = ", ".join(f"'{k}'" for k in _KINDS)


def _field_names(*models: type[BaseModel]) -> frozenset[str]:
    return frozenset(name for m in models for name in m.model_fields)


FIELD_NAMES = _field_names(*get_args(AnyEvent), Subject, Source, Recipient)
"""Every field name of the contract: the only keys a message about an event may name (any other key is input)."""
_EVENT_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


def _loc(loc: tuple[int | str, ...]) -> str:
    parts: list[str] = []
    for item in loc:
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif item in _KINDS and not parts:
            continue  # the discriminator branch is noise for the reader
        else:
            name = str(item) if item in FIELD_NAMES else "<unknown field>"  # a key not in the contract is input
            parts.append(("." if parts else "") + name)
    return "".join(parts)


MAX_PROBLEMS = 20
"""Problems listed per event; the rest are counted (an event with 20,000 unknown keys gets a short answer)."""


def _problems(exc: ValidationError) -> list[tuple[str, str]]:
    """(field, message) per error, worded for the producer; neither ever quotes the input (it may be personal)."""
    out: list[tuple[str, str]] = []
    errors = exc.errors(include_url=False, include_input=False, include_context=False)
    if len(errors) > MAX_PROBLEMS:
        out.append(("", f"{len(errors)} problems, the first {MAX_PROBLEMS} of them follow"))
        errors = errors[:MAX_PROBLEMS]
    for err in errors:
        msg = err["msg"]
        if msg.startswith("Value error, "):
            msg = msg[len("Value error, ") :]
        if err["type"] == "extra_forbidden":
            msg = "unknown field (not part of the event contract for this kind)"
        elif err["type"] == "union_tag_invalid":
            msg = f"unknown kind: expected one of {_KIND_LIST}"
        elif err["type"] == "union_tag_not_found":
            msg = f"missing field 'kind' (one of {_KIND_LIST})"
        elif err["type"] == "literal_error" and err["loc"][-1:] == ("schema_version",):
            msg = f"unsupported schema_version: this reader understands version {SCHEMA_VERSION}"
        out.append((_loc(err["loc"]), msg))
    return out


def _context(taxonomy: Taxonomy | None) -> dict[str, Any]:
    """What the key validators read: the taxonomy, and its keys per dimension as sets (computed once per
    taxonomy)."""
    found = taxonomy or default_taxonomy()
    return {"taxonomy": found, "keys": found.key_sets}


def _in_window(event: AnyEvent, window: TimeWindow | None) -> AnyEvent:
    """``event`` when its time lies in ``window`` (None: the default), else :class:`EventError`.

    Checked here rather than by a validator of the model: a validator in Python costs every event a call out of
    pydantic-core (about 8% of parsing, measured), where this is one comparison.
    """
    found = window or DEFAULT_TIME_WINDOW
    # comparing aware datetimes never overflows (CPython subtracts the two, and a timedelta spans them all), even for
    # 9999-12-31T23:59:59-14:00, which cannot be converted to UTC (tests/schemas/test_events.py)
    if found.earliest <= event.occurred_at < found.latest:
        return event
    raise EventError([("occurred_at", f"outside the accepted window of event times, {found}")], event.event_id)


def _keys_read(event: AnyEvent) -> int:
    """How many distinct keys the event's JSON had: the fields set in it and in its nested objects."""
    # pydantic's own attributes, not model_fields_set and getattr: this runs for every event (10x cheaper)
    fields = event.__dict__
    count = len(event.__pydantic_fields_set__) + len(fields["subject"].__pydantic_fields_set__)
    for name in ("source", "recipient"):
        nested = fields.get(name)
        if nested is not None:
            count += len(nested.__pydantic_fields_set__)
    return count


def parse_event(raw: str | bytes, taxonomy: Taxonomy | None = None, window: TimeWindow | None = None) -> AnyEvent:
    """Parse and validate one JSON-encoded event; raise :class:`EventError` naming each bad field.

    pydantic-core decodes and validates a valid event in one pass (~30 % cheaper than ``json.loads`` then
    validating the objects, on the bench's events). It keeps the last of repeated keys, so an event it accepts is
    kept only when the text holds no more keys than the event has fields (:func:`schemas.jsontext.keys_at_most`).
    Anything else takes the two steps instead, which decide what is rejected and word the problems; an event the
    one pass accepts, the two steps accept as the same event (tests/schemas/test_parse_paths.py).

    Only :class:`EventError` comes out for bad input, whatever it holds (invalid UTF-8, repeated keys, deep
    nesting, huge numbers, times outside ``window``); its messages never quote the input.
    """
    try:
        event = EVENT_ADAPTER.validate_json(raw, context=_context(taxonomy))
    except ValidationError:
        return parse_event_in_two_steps(raw, taxonomy, window)
    if keys_at_most(raw) > _keys_read(event):
        return parse_event_in_two_steps(raw, taxonomy, window)  # a key repeated, or a \": in a value
    return _in_window(event, window)


def parse_event_in_two_steps(
    raw: str | bytes, taxonomy: Taxonomy | None = None, window: TimeWindow | None = None
) -> AnyEvent:
    """:func:`parse_event` by a strict ``json.loads`` (:func:`schemas.jsontext.loads`) and then
    :func:`validate_event`: the path that reports problems."""
    try:
        data = loads(raw, FIELD_NAMES)
    except JsonTextError as exc:
        raise EventError([("", str(exc))]) from None
    return validate_event(data, taxonomy, window)


def validate_event(data: Any, taxonomy: Taxonomy | None = None, window: TimeWindow | None = None) -> AnyEvent:
    """Validate an already-decoded event object; raise :class:`EventError` naming each bad field."""
    if not isinstance(data, dict):
        raise EventError([("", f"an event must be a JSON object, got {_json_type(data)}")])
    try:
        event = EVENT_ADAPTER.validate_python(data, context=_context(taxonomy))
    except ValidationError as exc:
        given = data.get("event_id")
        event_id = given if isinstance(given, str) and _EVENT_ID.fullmatch(given) else None
        raise EventError(_problems(exc), event_id=event_id) from None
    except RecursionError:  # a structure built in Python, nested deeper than the interpreter allows
        raise EventError([("", "nested too deeply (arrays or objects within each other)")]) from None
    return _in_window(event, window)


def _json_type(value: Any) -> str:
    names = {list: "an array", str: "a string", bool: "a boolean", int: "a number", float: "a number"}
    return "null" if value is None else names.get(type(value), type(value).__name__)
