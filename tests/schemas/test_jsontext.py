"""schemas/jsontext.py: splitting a JSON array into its items without parsing them, and the cheap key count."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from schemas.jsontext import JsonTextError, array_items, keys_at_most, loads

_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=25,
)


@settings(max_examples=200, deadline=None, database=None)
@given(st.lists(_json, max_size=8), st.sampled_from([None, 2]), st.booleans())
def test_the_items_of_an_array_are_its_items(values: list[Any], indent: int | None, ascii_only: bool) -> None:
    text = json.dumps(values, indent=indent, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert [json.loads(item) for item in array_items(text)] == values


@pytest.mark.parametrize(
    ("text", "items"),
    [
        (b"[]", []),
        (b" [ ] ", []),
        (b'[{"a": "],[{"}, 2]', [b'{"a": "],[{"}', b"2"]),
        (b'["\\"]", {"x": [1, {"y": "}"}]}]', [b'"\\"]"', b'{"x": [1, {"y": "}"}]}']),
        (b"[" + b"[" * 100_000 + b"]" * 100_000 + b", tru]", [b"[" * 100_000 + b"]" * 100_000, b"tru"]),
    ],
)
def test_items_are_split_without_parsing_them(text: bytes, items: list[bytes]) -> None:
    assert array_items(text) == items


@pytest.mark.parametrize(
    ("text", "problem"),
    [
        (b"{}", "not a JSON array"),
        (b"[1", "never closed"),
        (b'["abc]', "a string never closed"),
        (b"[1]]", "something follows the array"),
        (b"[[1}]", "an unmatched '}'"),
        (b"[1,,2]", "an empty item"),
        (b"[1,]", "an empty item"),
    ],
)
def test_a_broken_array_is_refused_saying_why(text: bytes, problem: str) -> None:
    with pytest.raises(JsonTextError, match=problem):
        array_items(text)


@settings(max_examples=200, deadline=None, database=None)
@given(st.dictionaries(st.text(), _json, max_size=6), st.sampled_from([None, 1]), st.sampled_from([":", " : "]))
def test_the_key_count_is_never_below_the_true_count(doc: dict[str, Any], indent: int | None, colon: str) -> None:
    text = json.dumps(doc, indent=indent, separators=(", ", colon))

    def count(value: Any) -> int:
        if isinstance(value, dict):
            return len(value) + sum(count(v) for v in value.values())
        if isinstance(value, list):
            return sum(count(v) for v in value)
        return 0

    assert keys_at_most(text) >= count(doc)
    assert keys_at_most(text.encode("utf-8", "surrogatepass")) >= count(doc)


def test_strict_loads_refuses_what_json_loads_would_let_through() -> None:
    for text, problem in (
        ('{"a": 1, "a": 2}', "a key appears twice"),
        (b"\xef\xbb\xbf{}", "byte-order mark"),
        (b'{"a": "\xff"}', "not valid UTF-8"),
        ("[" * 100_000, "nested too deeply"),
        ("1" * 5000, "a number too long"),
    ):
        with pytest.raises(JsonTextError, match=problem):
            loads(text)
    with pytest.raises(JsonTextError, match="'kind' appears twice"):
        loads('{"kind": 1, "kind": 2}', frozenset({"kind"}))


def test_json_errors_read_well() -> None:
    for text, message in (
        ('{"a": "x', "not valid JSON: Unterminated string starting at character 7"),
        ('{"a": "\x01"}', "not valid JSON: Invalid control character at character 8"),
    ):
        with pytest.raises(JsonTextError) as info:
            loads(text)
        assert str(info.value) == message
