"""parse_event's one-pass path (pydantic-core decodes and validates) gives what the two-step path gives.

parse_event tries ``EVENT_ADAPTER.validate_json`` first and falls back to ``json.loads`` + ``validate_event`` on
any failure, so the two can only differ where the one pass accepts a line: there it must return the very event the
two steps return. Generated lines: valid events of every kind, with fields replaced by arbitrary JSON values,
removed, added or repeated, and the text itself padded or cut.
"""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from policies import default_policy
from schemas.events import EVENT_ADAPTER
from schemas.parsing import EventError, _context, parse_event, parse_event_in_two_steps
from tests.factories import event

TAXONOMY = default_policy().taxonomy()

BASES: list[dict[str, Any]] = [
    event("collected"),
    event("used", customer="acme-corp"),
    event("shared"),
    {
        **{k: event("used")[k] for k in ("schema_version", "occurred_at", "emitted_by", "subject")},
        "event_id": "w-1",
        "kind": "consent_withdrawn",
        "purposes": ["marketing"],
    },
    {
        **{k: event("used")[k] for k in ("schema_version", "occurred_at", "emitted_by", "subject")},
        "event_id": "o-1",
        "kind": "opted_out",
        "scope": "marketing.communications.email",
    },
    {
        **{k: event("used")[k] for k in ("schema_version", "occurred_at", "emitted_by", "subject")},
        "event_id": "o-2",
        "kind": "opted_out",
        "scope": "sale_and_sharing",
        "signal": "gpc",
    },
    {
        **{k: event("used")[k] for k in ("schema_version", "occurred_at", "emitted_by", "subject")},
        "event_id": "e-1",
        "kind": "erased",
        "reason": "Art. 17(1)(a) request",
    },
]
FIELDS = sorted({k for b in BASES for k in b} | {"subject.id", "subject.type", "recipient.country", "bogus"})

scalars = (
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=30)
    | st.sampled_from(
        [
            "2026-03-01T10:00:00Z",
            "2026-03-01T10:00:00",
            "2026-03-01",
            "1767254400",
            "user.contact.email",
            "marketing",
            "essential.service",
            "customer",
            "processor",
            "affiliate",
            "true",
            "1",
            "",
            "\ud800",
        ]
    )
)
values = st.recursive(
    scalars,
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
    max_leaves=6,
)


def outcome(parse: Any, raw: str | bytes) -> tuple[Any, ...]:
    try:
        return ("event", parse(raw, TAXONOMY))
    except EventError as exc:
        return ("rejected", exc.problems, exc.event_id)


@st.composite
def lines(draw: st.DrawFn) -> str | bytes:
    doc = json.loads(json.dumps(draw(st.sampled_from(BASES))))
    for _ in range(draw(st.integers(0, 3))):
        field = draw(st.sampled_from(FIELDS))
        target, key = (doc, field) if "." not in field else (doc.get(field.split(".")[0]), field.split(".")[1])
        if not isinstance(target, dict):
            continue
        if draw(st.booleans()):
            target[key] = draw(values)
        else:
            target.pop(key, None)
    text = json.dumps(doc, ensure_ascii=draw(st.booleans()))
    mangle = draw(st.sampled_from(["none", "none", "pad", "repeat", "cut", "bytes"]))
    if mangle == "pad":
        text = draw(st.sampled_from([" ", "\t", "\n", "\ufeff"])) + text + draw(st.sampled_from(["", " ", "\n", " x"]))
    elif mangle == "repeat" and text.endswith("}") and len(text) > 2:  # a key given twice: the last one counts
        key = draw(st.sampled_from(FIELDS)).split(".")[0]
        text = text[:-1] + f", {json.dumps(key)}: {json.dumps(draw(values))}}}"
    elif mangle == "cut":
        text = text[: draw(st.integers(0, len(text)))]
    elif mangle == "bytes":
        return text.encode("utf-8", errors="surrogatepass") + draw(st.sampled_from([b"", b"\xff"]))
    return text


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(lines())
def test_the_one_pass_and_the_two_steps_agree(raw: str | bytes) -> None:
    assert outcome(parse_event, raw) == outcome(parse_event_in_two_steps, raw)


@settings(max_examples=300, deadline=None)
@given(st.sampled_from(BASES))
def test_valid_events_take_the_one_pass(doc: dict[str, Any]) -> None:
    raw = json.dumps(doc)
    assert EVENT_ADAPTER.validate_json(raw, context=_context(TAXONOMY)) == parse_event_in_two_steps(raw, TAXONOMY)
