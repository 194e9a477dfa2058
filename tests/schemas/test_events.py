"""The v1 event contract: what it accepts, and what it rejects with the field named."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
import pytest

from policies import default_policy
from schemas.events import EventError, json_schema, parse_event, validate_event
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


def test_unknown_taxonomy_keys_are_named() -> None:
    found = problems(event("used", data_categories=["user.contact.email", "user.bogus"], purpose="spying",
                           subject={"id": "a", "type": "martian"}))
    assert "user.bogus" in found["data_categories[1]"]
    assert "spying" in found["purpose"]
    assert "martian" in found["subject.type"]


def test_custom_policy_keys_are_accepted_only_with_the_policy_taxonomy() -> None:
    ev = event("shared", purpose="operations.business_transfer",
               recipient={"id": "newco", "name": "NewCo", "type": "successor"})
    assert validate_event(ev, TAXONOMY).purpose == "operations.business_transfer"
    with pytest.raises(EventError, match="operations.business_transfer"):
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
    assert problems(event(colour="blue"))["colour"].startswith("unknown field")
    assert "recipient" in problems(event("used", recipient=AFFILIATE))


def test_bad_recipient_type_and_country() -> None:
    found = problems(event("shared", recipient={"id": "x", "name": "X", "type": "friend", "country": "hk"}))
    assert "recipient.type" in found and "recipient.country" in found


def test_unsupported_schema_version_and_kind() -> None:
    assert "unsupported schema_version 2" in problems(event(schema_version=2))["schema_version"]
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
