"""The wire contract (version 1) of collection, use, share, consent and erasure events, discriminated on ``kind``."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal, TypeAlias, get_args

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    Field,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    ValidationInfo,
    model_validator,
)

from schemas.base import Frozen
from schemas.jsontext import JsonTextError, keys_at_most, loads
from schemas.taxonomy import Dimension, Taxonomy, UnknownKey, default_taxonomy

SCHEMA_VERSION = 1

_KEY_PATTERN = r"^[A-Za-z0-9_]+(\.[A-Za-z0-9_]+)*$"


def _taxonomy(info: ValidationInfo) -> Taxonomy:
    ctx = info.context
    found = ctx.get("taxonomy") if isinstance(ctx, dict) else None
    return found if isinstance(found, Taxonomy) else default_taxonomy()


def _key_validator(dimension: Dimension) -> AfterValidator:
    def check(value: str, info: ValidationInfo) -> str:
        # runs for every key of every event: a set lookup in the context parse_event passes (see _context);
        # anything else (no such context, an unknown key) goes the long way, which also words the error
        ctx = info.context
        if type(ctx) is dict:
            keys = ctx.get("keys")
            if keys is not None and value in keys[dimension]:
                return value
        try:
            return _taxonomy(info).check(dimension, value)
        except UnknownKey:
            # the key is not quoted: a producer may have put anything there, a person's id included
            raise ValueError(
                f"unknown {dimension.label}: not in the fideslang default taxonomy and not declared as a custom key "
                "in the policy"
            ) from None

    return AfterValidator(check)


_KeyStr = Annotated[str, StringConstraints(pattern=_KEY_PATTERN, max_length=200)]
DataCategoryKey = Annotated[
    _KeyStr,
    _key_validator(Dimension.DATA_CATEGORY),
    Field(description="A fideslang data-category key, e.g. 'user.contact.email', or a custom key the policy declares."),
]
DataUseKey = Annotated[
    _KeyStr,
    _key_validator(Dimension.DATA_USE),
    Field(
        description="A fideslang data-use key (the purpose), e.g. 'essential.service.operations.support', "
        "or a custom key the policy declares."
    ),
]
DataSubjectKey = Annotated[
    _KeyStr,
    _key_validator(Dimension.DATA_SUBJECT),
    Field(
        description="A fideslang data-subject key, e.g. 'customer', 'employee', or a custom key the policy declares."
    ),
]
Identifier = Annotated[
    str,
    StringConstraints(min_length=1, max_length=256, pattern=r"^\S(.*\S)?$"),
]
EventId = Annotated[
    str,
    StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9][A-Za-z0-9._:\-]*$"),
    Field(description="Unique id of the event (a UUID is recommended); replays of the same id are applied once."),
]
CountryCode = Annotated[
    str,
    StringConstraints(pattern=r"^[A-Z]{2}$"),
    Field(description="ISO 3166-1 alpha-2 country code, upper case, e.g. 'HK', 'DE', 'US'."),
]


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


class Role(StrEnum):
    """SOS's role for the data: processor for Customer Data, controller for everything else."""

    CONTROLLER = "controller"
    PROCESSOR = "processor"


class SourceType(StrEnum):
    """Where collected data came from."""

    DATA_SUBJECT = "data_subject"
    CUSTOMER = "customer"
    THIRD_PARTY = "third_party"
    AUTOMATIC = "automatic"


class RecipientType(StrEnum):
    """Categories of recipients; fideslang has no recipient taxonomy, so this one is ours."""

    AUTHORITY = "authority"
    AFFILIATE = "affiliate"
    BUSINESS_PARTNER = "business_partner"
    ADVERTISER = "advertiser"
    INVESTOR = "investor"
    SUCCESSOR = "successor"
    SERVICE_PROVIDER = "service_provider"
    DATA_BROKER = "data_broker"
    OTHER_THIRD_PARTY = "other_third_party"


class Identifiability(StrEnum):
    """How identifiable the people behind the data are; aggregated or de-identified data is no longer personal data."""

    IDENTIFIED = "identified"
    PSEUDONYMISED = "pseudonymised"
    AGGREGATED = "aggregated"
    DEIDENTIFIED = "deidentified"


class EventKind(StrEnum):
    COLLECTED = "collected"
    USED = "used"
    SHARED = "shared"
    CONSENT_WITHDRAWN = "consent_withdrawn"
    OPTED_OUT = "opted_out"
    ERASED = "erased"




class Subject(Frozen):
    """The person the data is about."""

    id: Identifier = Field(
        description="The person's identifier in the emitting system (email, user id). Pseudonymised before storage."
    )
    type: DataSubjectKey


class Source(Frozen):
    """Where collected data came from."""

    type: SourceType = Field(
        description="data_subject, customer (the person's organisation), third_party or automatic "
        "(generated by the service)."
    )
    name: Identifier | None = Field(
        default=None, description="Name of the source system or party, e.g. 'office365-sso'."
    )


class Recipient(Frozen):
    """A third party that received the data."""

    id: Identifier = Field(description="Stable identifier of the recipient, e.g. 'hk-affiliate'.")
    name: Identifier = Field(description="The recipient's legal or trading name, as a data subject should be told it.")
    type: RecipientType = Field(description="Category of recipient.")
    country: CountryCode | None = Field(default=None, description="Country where the recipient receives the data.")
    contact: Annotated[str, StringConstraints(min_length=1, max_length=512)] | None = Field(
        default=None, description="How to reach the recipient (e.g. a privacy contact address), for Art. 19 notices."
    )


class _Envelope(Frozen):
    """What every event carries: version, id, time, emitter and the person concerned."""


    schema_version: Literal[1] = Field(description="Version of this wire format; always 1 for now.")
    event_id: EventId
    occurred_at: AwareDatetime = Field(
        description="When it happened, ISO 8601 with a timezone offset or 'Z'. Readers accept times from "
        "1970-01-01T00:00:00Z (included) to 2100-01-01T00:00:00Z (excluded) unless configured otherwise."
    )
    emitted_by: Identifier = Field(description="The component that emitted the event, e.g. 'teams-bot', 'billing'.")
    subject: Subject = Field(description="The person the data is about.")


class _EventBase(_Envelope):
    data_categories: list[DataCategoryKey] = Field(
        min_length=1, max_length=100, description="The categories of personal data involved (fideslang keys)."
    )
    role: Role = Field(
        description="'processor' for Customer Data (then 'customer' is required), 'controller' otherwise."
    )
    customer: Identifier | None = Field(
        default=None,
        description="The customer organisation (the controller of Customer Data); required when role is 'processor'.",
    )

    @model_validator(mode="after")
    def _check_common(self) -> _EventBase:
        if self.role is Role.PROCESSOR and self.customer is None:
            raise ValueError(
                "'customer' is required when role is 'processor' (Customer Data is controlled by the customer)"
            )
        if len(set(self.data_categories)) != len(self.data_categories):
            raise ValueError("data_categories lists the same category twice")
        return self


class DataCollected(_EventBase):
    """Personal data was collected or received."""

    kind: Literal["collected"] = Field(description="'collected'")
    source: Source = Field(description="Where the data came from.")
    purpose: DataUseKey | None = Field(default=None, description="The purpose of collection, when known.")


class DataUsed(_EventBase):
    """Personal data was used for a purpose."""

    kind: Literal["used"] = Field(description="'used'")
    purpose: DataUseKey
    source: Source | None = Field(default=None, description="Optional provenance of the data used.")
    identifiability: Identifiability = Field(
        default=Identifiability.IDENTIFIED,
        description="How identifiable the data is: 'identified' (the default when absent), 'pseudonymised' (still "
        "personal data), or 'aggregated' / 'deidentified' (no longer reasonably associated with a person).",
    )


class DataShared(_EventBase):
    """Personal data was disclosed to a recipient for a purpose."""

    kind: Literal["shared"] = Field(description="'shared'")
    purpose: DataUseKey
    recipient: Recipient = Field(description="Who received the data.")
    source: Source | None = Field(default=None, description="Optional provenance of the data shared.")
    identifiability: Identifiability = Field(
        default=Identifiability.IDENTIFIED,
        description="How identifiable the data is: 'identified' (the default when absent), 'pseudonymised' (still "
        "personal data), or 'aggregated' / 'deidentified' (no longer reasonably associated with a person).",
    )


def _check_unique(keys: list[str] | None, what: str) -> None:
    if keys is not None and len(set(keys)) != len(keys):
        raise ValueError(f"{what} lists the same key twice")


class ConsentWithdrawn(_Envelope):
    """The person withdrew consent (GDPR Art. 7(3)): processing that rested on it must stop from then on."""

    kind: Literal["consent_withdrawn"] = Field(description="'consent_withdrawn'")
    purposes: list[DataUseKey] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="The purposes the withdrawn consent covered (a key covers its descendants). Absent: every "
        "purpose that rests on consent, i.e. all but essential.*, finance, third_party_sharing.legal_obligation and "
        "functional.storage.privacy_preferences.",
    )
    data_categories: list[DataCategoryKey] | None = Field(
        default=None,
        min_length=1,
        max_length=100,
        description="Limits the withdrawal to these categories (and their descendants); absent: every category.",
    )

    @model_validator(mode="after")
    def _check_keys(self) -> ConsentWithdrawn:
        _check_unique(self.purposes, "purposes")
        _check_unique(self.data_categories, "data_categories")
        return self


class OptedOut(_Envelope):
    """The person opted out of (objected to) direct marketing (GDPR Art. 21(2)-(3)), from then on."""

    kind: Literal["opted_out"] = Field(description="'opted_out'")
    scope: DataUseKey = Field(
        default="marketing",
        description="What the person opted out of: 'marketing' (the default, all of it) or a narrower marketing "
        "key, e.g. 'marketing.communications.email'.",
    )

    @model_validator(mode="after")
    def _check_scope(self) -> OptedOut:
        if self.scope != "marketing" and not self.scope.startswith("marketing."):
            raise ValueError("scope must be 'marketing' or a key under it; withdraw consent for other purposes instead")
        return self


class DataErased(_Envelope):
    """The person's personal data was erased (GDPR Art. 17, CCPA §1798.105): the tracker forgets them up to then.

    Applying it removes everything recorded about the person that occurred at or before ``occurred_at`` and keeps
    a tombstone (pseudonym, time, event id, recipients to notify under Art. 19); events about the person that
    occurred at or before it are dropped when (re)delivered later, so a replay does not bring the person back.
    """

    kind: Literal["erased"] = Field(description="'erased'")
    reason: Annotated[str, StringConstraints(min_length=1, max_length=200)] | None = Field(
        default=None,
        description="Why the data was erased, e.g. 'Art. 17(1)(a) request'. Kept in the tombstone: must not "
        "contain personal data.",
    )


DataEvent: TypeAlias = DataCollected | DataUsed | DataShared
"""An event about personal data itself (it has categories, a role and, but for some collections, a purpose)."""
ConsentEvent: TypeAlias = ConsentWithdrawn | OptedOut
"""An event about the person's consent or objection: recorded, and judged against later processing."""
AnyEvent: TypeAlias = DataEvent | ConsentEvent | DataErased
"""Every event of the contract: the one place its kinds are listed."""
Event: TypeAlias = Annotated[AnyEvent, Field(discriminator="kind")]
EVENT_ADAPTER: TypeAdapter[AnyEvent] = TypeAdapter(Event)
# the same sets as tuples, for isinstance (a type checker narrows with a tuple of classes, not with get_args)
DATA_EVENTS = (DataCollected, DataUsed, DataShared)
CONSENT_EVENTS = (ConsentWithdrawn, OptedOut)


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


def event_to_json(event: AnyEvent) -> str:
    """Serialise an event to its compact wire form (fields left at their default are omitted)."""
    return event.model_dump_json(exclude_none=True, exclude_defaults=True)


def json_schema() -> dict[str, Any]:
    """The event contract as JSON Schema (draft 2020-12) for producers in other languages."""
    schema = EVENT_ADAPTER.json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "privacy-lineage event, schema_version 1"
    schema["description"] = (
        "A collection, use or share event about one person's data, a consent withdrawal or marketing opt-out "
        "by that person, or the erasure of their data. Taxonomy keys (subject.type, data_categories, purpose, "
        "purposes, scope) must also exist in the fideslang default taxonomy or be declared as custom keys in the "
        "policy, and an opt-out's scope must be 'marketing' or under it; those checks are not expressible here and "
        "are done by the reader."
    )
    return schema
