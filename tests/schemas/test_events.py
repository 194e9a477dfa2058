"""The v1 event contract: what it accepts, and what it rejects with the field named."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from policies import default_policy
from schemas.events import json_schema
from schemas.parsing import EventError, parse_event, validate_event
from tests.factories import AFFILIATE, event

TAXONOMY = default_policy().taxonomy()


def problems(data: Any) -> dict[str, str]:
    with pytest.raises(EventError) as info:
        validate_event(data, TAXONOMY)
    return dict(info.value.problems)


def test_the_issue_example_is_valid() -> None:
    example = {
        "schema_version": 1,
        "event_id": "7c1e0f3a-2b4d-4c5e-9f60-1a2b3c4d5e6f",
        "kind": "shared",
        "occurred_at": "2026-11-27T10:00:00Z",
        "emitted_by": "teams-bot",
        "subject": {"id": "alice@example.com", "type": "customer"},
        "data_categories": ["user.contact.email", "user.name"],
        "role": "processor",
        "customer": "acme-corp",
        "source": {"type": "data_subject", "name": "office365-sso"},
        "purpose": "essential.service.operations.support",
        "recipient": {"id": "hk-affiliate", "name": "SOS Hong Kong Ltd", "type": "affiliate", "country": "HK"},
    }
    ev = parse_event(json.dumps(example), TAXONOMY)
    assert ev.kind == "shared" and ev.recipient.country == "HK" and ev.customer == "acme-corp"


@pytest.mark.parametrize("kind", ["collected", "used", "shared"])
def test_each_kind_round_trips(kind: str) -> None:
    ev = validate_event(event(kind), TAXONOMY)
    assert parse_event(ev.model_dump_json(exclude_none=True), TAXONOMY) == ev


def test_unknown_taxonomy_keys_are_named_by_position_never_quoted() -> None:
    found = problems(event("used", data_categories=["user.contact.email", "user.bogus"], purpose="spying",
                           subject={"id": "a", "type": "victim.person"}))
    assert found["data_categories[1]"].startswith("unknown data category")
    assert found["purpose"].startswith("unknown data use")
    assert found["subject.type"].startswith("unknown data subject type")
    assert not any(word in " ".join(found.values()) for word in ("bogus", "spying", "victim"))


def test_custom_policy_keys_are_accepted_only_with_the_policy_taxonomy() -> None:
    ev = event("shared", purpose="operations.business_transfer",
               recipient={"id": "newco", "name": "NewCo", "type": "successor"})
    assert validate_event(ev, TAXONOMY).purpose == "operations.business_transfer"
    with pytest.raises(EventError, match="purpose: unknown data use"):
        validate_event(ev)  # fideslang's default taxonomy alone does not know it


def test_processor_requires_customer() -> None:
    assert "customer" in " ".join(problems(event("used", role="processor")).values())


@pytest.mark.parametrize(
    ("kind", "missing"), [("collected", "source"), ("used", "purpose"), ("shared", "purpose"), ("shared", "recipient")]
)
def test_kind_specific_fields_are_required(kind: str, missing: str) -> None:
    ev = event(kind)
    del ev[missing]
    assert missing in problems(ev)


def test_timezone_is_required() -> None:
    assert "occurred_at" in problems(event(occurred_at="2026-11-27T10:00:00"))


def test_unknown_fields_and_wrong_kind_fields_are_rejected() -> None:
    assert problems(event(colour="blue"))["<unknown field>"].startswith("unknown field")  # a key is input: not named
    assert "recipient" in problems(event("used", recipient=AFFILIATE))  # a field of another kind is named


def test_bad_recipient_type_and_country() -> None:
    found = problems(event("shared", recipient={"id": "x", "name": "X", "type": "friend", "country": "hk"}))
    assert "recipient.type" in found and "recipient.country" in found


def test_unsupported_schema_version_and_kind() -> None:
    assert "unsupported schema_version" in problems(event(schema_version=2))["schema_version"]
    assert "unknown kind" in problems(event(kind="deleted"))[""]


def test_not_json_and_not_an_object() -> None:
    with pytest.raises(EventError, match="not valid JSON"):
        parse_event("{nope", TAXONOMY)
    with pytest.raises(EventError, match="must be a JSON object"):
        parse_event("[1, 2]", TAXONOMY)


def test_duplicate_categories_rejected() -> None:
    assert "twice" in " ".join(problems(event(data_categories=["user.name", "user.name"])).values())


def test_json_schema_agrees_with_the_models() -> None:
    schema = json_schema()
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    for kind in ("collected", "used", "shared"):
        assert not list(validator.iter_errors(event(kind)))
    for bad in (event(colour="blue"), event(occurred_at=5), event("shared", recipient={"id": "x"}),
                event(kind="nope"), {**event("used"), "purpose": None}):
        assert list(validator.iter_errors(bad)), bad


@pytest.mark.parametrize(
    "when",
    ["9999-12-31T23:59:59-14:00", "0001-01-01T00:00:00+14:00", "9999-12-31T23:59:59.999999-23:59",
     "0001-01-01T00:00:00+23:59", "2100-01-01T00:00:00Z", "2100-01-01T01:00:00+01:00", "1969-12-31T23:59:59Z"],
)
def test_times_outside_the_window_are_refused_naming_the_window(when: str) -> None:
    found = problems(event(occurred_at=when))
    assert found == {"occurred_at": "outside the accepted window of event times, from 1970-01-01T00:00:00Z "
                                    "(included) to 2100-01-01T00:00:00Z (excluded)"}


def test_the_window_bounds_are_included_and_excluded_as_documented() -> None:
    from datetime import UTC, datetime

    from schemas.parsing import TimeWindow

    assert validate_event(event(occurred_at="1970-01-01T00:00:00Z"), TAXONOMY).occurred_at.year == 1970
    assert validate_event(event(occurred_at="2099-12-31T23:59:59.999999Z"), TAXONOMY).occurred_at.year == 2099
    assert validate_event(event(occurred_at="2100-01-01T00:59:59+01:00"), TAXONOMY).occurred_at.year == 2100
    window = TimeWindow(datetime(2020, 1, 1, tzinfo=UTC), datetime(2021, 1, 1, tzinfo=UTC))
    assert validate_event(event(occurred_at="2020-06-01T00:00:00Z"), TAXONOMY, window)
    with pytest.raises(EventError, match="2021-01-01T00:00:00Z"):
        parse_event(json.dumps(event(occurred_at="2022-01-01T00:00:00Z")), TAXONOMY, window)
    for bad in ((datetime(1, 1, 1, tzinfo=UTC), window.latest), (window.latest, window.earliest),
                (datetime(2020, 1, 1), window.latest)):  # noqa: DTZ001 - a naive bound is the point
        with pytest.raises(ValueError, match="the event time window"):
            TimeWindow(*bad)


def test_a_repeated_key_is_refused_whichever_path_reads_it() -> None:
    line = json.dumps(event("used", event_id="r1"))
    for repeated in ('"subject": {"id": "mallory@example.com", "type": "customer"}', '"emitted_by" : "x"',
                     '"s\\u0075bject": {"id": "m", "type": "customer"}'):
        with pytest.raises(EventError, match="appears twice in one object") as info:
            parse_event(line[:-1] + ", " + repeated + "}", TAXONOMY)
        assert "mallory" not in str(info.value)
    with pytest.raises(EventError, match="'id' appears twice"):
        parse_event(line.replace('"type": "customer"', '"type": "customer", "id": "m"'), TAXONOMY)
    # an escaped quote before a colon in a value is no repeated key (the cheap count says maybe: the strict path
    # decides)
    ok = json.loads(line)
    ok["emitted_by"] = 'bot\\":x'
    assert parse_event(json.dumps(ok), TAXONOMY).emitted_by == 'bot\\":x'


def test_bytes_that_are_not_utf8_are_refused_not_repaired() -> None:
    line = json.dumps(event(subject_id="victim@example.com")).encode()
    for bad in (b"\xff\xfe", b"\xc0\xaf", b"\xed\xa0\x80"):
        with pytest.raises(EventError, match=r"not valid UTF-8 \(at byte \d+\)"):
            parse_event(line.replace(b"victim", b"vic" + bad + b"tim"), TAXONOMY)
    with pytest.raises(EventError, match="byte-order mark"):
        parse_event(b"\xef\xbb\xbf" + line, TAXONOMY)


def test_deep_nesting_is_an_event_error() -> None:
    for text in ("[" * 100_000 + "]" * 100_000, '{"a":' * 50_000 + "1" + "}" * 50_000):
        with pytest.raises(EventError, match="nested too deeply"):
            parse_event(text, TAXONOMY)


def test_the_kinds_are_listed_once_and_the_isinstance_tuples_follow_them() -> None:
    from typing import get_args

    from schemas.events import CONSENT_EVENTS, DATA_EVENTS, AnyEvent, ConsentEvent, DataEvent, EventKind

    assert get_args(DataEvent) == DATA_EVENTS and get_args(ConsentEvent) == CONSENT_EVENTS
    kinds = [m.model_fields["kind"].annotation for m in get_args(AnyEvent)]
    assert sorted(get_args(k)[0] for k in kinds) == sorted(k.value for k in EventKind)
