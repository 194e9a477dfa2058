"""A corpus of hostile input: lines a broken producer or an attacker could send, each of which must be rejected alone.

``hostile_lines()`` gives (kind, line) pairs, over 60 kinds: encodings (invalid UTF-8, surrogates, byte-order
marks, UTF-16), JSON that Python's parser chokes on (deep nesting, huge numbers, NaN), repeated keys, dates no
reader can convert, every character that some reader takes for a line break, terminal escapes, huge arrays and
lines, and every way an event can break the contract. A line never holds a ``\\n`` (it is one line of a file or one
Kafka message). Every value that could be personal holds the marker ``victim``, so a test can check that no
message quotes it. ``valid_event(n)`` gives valid events to mix in, some with unusual (but valid) Unicode ids.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

MARKER = "victim"


def valid_event(n: int, prefix: str = "ok") -> dict[str, Any]:
    """A valid event, of a kind and id that vary with ``n``; some subject ids hold line separators or emoji."""
    odd_ids = ("zoë\u2028line@example.com", "nel\u0085line@example.com", "😀@example.com", "עברית@example.com")
    subject = odd_ids[n % 9] if n % 9 < len(odd_ids) else f"person-{n}@example.com"
    kind = ("collected", "used", "shared")[n % 3]
    event: dict[str, Any] = {
        "schema_version": 1,
        "event_id": f"{prefix}-{n}",
        "kind": kind,
        "occurred_at": f"2026-03-{1 + n % 28:02d}T10:{n % 60:02d}:00+02:00",
        "emitted_by": "teams-bot",
        "subject": {"id": subject, "type": "customer"},
        "data_categories": ["user.contact.email"],
        "role": "controller",
    }
    if kind == "collected":
        event["source"] = {"type": "data_subject", "name": "signup-form"}
    else:
        event["purpose"] = "essential.service.operations.support"
    if kind == "shared":
        event["recipient"] = {"id": "hk-affiliate", "name": "SOS Hong Kong Ltd", "type": "affiliate", "country": "HK"}
    return event


def _base(n: int) -> dict[str, Any]:
    event = valid_event(n, prefix="bad")
    event["kind"] = "shared"
    event["purpose"] = "essential.service.operations.support"
    event["recipient"] = {"id": "hk-affiliate", "name": "SOS Hong Kong Ltd", "type": "affiliate", "country": "HK"}
    event.pop("source", None)
    event["subject"] = {"id": f"{MARKER}-{n}@example.com", "type": "customer"}
    return event


def _dumps(doc: Any, ascii_only: bool = True) -> bytes:
    return json.dumps(doc, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")


def _with(n: int, **changes: Any) -> bytes:
    doc = _base(n)
    for path, value in changes.items():
        target = doc
        *parents, last = path.split("__")
        for p in parents:
            target = target[p]
        if value is _DROP:
            target.pop(last, None)
        else:
            target[last] = value
    return _dumps(doc)


_DROP = object()


def _append_key(n: int, key: str, value: str) -> bytes:
    """A valid event's JSON with ``"key": value`` added before its closing brace (``value`` is raw JSON)."""
    return _dumps(_base(n))[:-1] + b', "' + key.encode() + b'": ' + value.encode() + b"}"


def _raw_in_subject(n: int, raw: bytes) -> bytes:
    """A valid event whose subject id holds ``raw`` bytes as they are (not escaped)."""
    return _dumps(_base(n)).replace(f"{MARKER}-{n}@".encode(), f"{MARKER}-{n}".encode() + raw + b"@")


def _rejected_with_raw(n: int, char: str) -> bytes:
    """An event rejected (unknown category) whose subject id holds ``char`` unescaped in the UTF-8 text."""
    doc = _base(n)
    doc["subject"]["id"] = f"{MARKER}{char}{n}@example.com"
    doc["data_categories"] = ["user.no_such_category"]
    return _dumps(doc, ascii_only=False)


_ENVELOPE = ("schema_version", "event_id", "occurred_at", "emitted_by", "subject")


def _envelope(n: int, **fields: Any) -> bytes:
    return _dumps({k: v for k, v in _base(n).items() if k in _ENVELOPE} | fields)


def _deep(depth: int, opener: str = "[", closer: str = "]") -> str:
    return opener * depth + closer * depth


KINDS: dict[str, Callable[[int], bytes]] = {
    # -- not JSON, or not one JSON object
    "plain text": lambda n: f"hello {MARKER}-{n}@example.com".encode(),
    "truncated event": lambda n: _dumps(_base(n))[: len(_dumps(_base(n))) // 2],
    "empty object": lambda n: b"{}",
    "array of events": lambda n: b"[" + _dumps(_base(n)) + b"]",
    "JSON string": lambda n: json.dumps(f"{MARKER}-{n}").encode(),
    "JSON number": lambda n: b"42",
    "JSON null": lambda n: b"null",
    "JSON true": lambda n: b"true",
    "two events on one line": lambda n: _dumps(_base(n)) + b" " + _dumps(_base(n + 1)),
    "trailing garbage": lambda n: _dumps(_base(n)) + b" trailing",
    "comment": lambda n: b"// " + _dumps(_base(n)),
    "single quotes": lambda n: _dumps(_base(n)).replace(b'"', b"'"),
    "bare carriage return between tokens": lambda n: _dumps(_base(n)).replace(b", ", b",\r", 1) + b"\rx",
    "form feed between tokens": lambda n: _dumps(_base(n)).replace(b", ", b",\x0c", 1),
    "NUL byte": lambda n: _dumps(_base(n)).replace(b"{", b"{\x00", 1),
    # -- deep nesting (Python's parser raises RecursionError)
    "deep nesting, arrays": lambda n: _deep(100_000).encode(),
    "deep nesting, objects": lambda n: ('{"a":' * 50_000 + "1" + "}" * 50_000).encode(),
    "deep nesting in an unknown field": lambda n: _append_key(n, "extra", _deep(100_000)),
    "deep nesting in the subject": lambda n: _dumps(_base(n)).replace(
        b'"subject": {', b'"subject": ' + _deep(5_000).encode()[:5_000] + b"{", 1
    ),
    "deep nesting in data_categories": lambda n: _with(n, data_categories="@").replace(b'"@"', _deep(3_000).encode()),
    # -- numbers
    "huge integer": lambda n: _with(n, schema_version="@").replace(b'"@"', b"1" + b"0" * 5_000),
    "huge float": lambda n: _with(n, schema_version="@").replace(b'"@"', b"1e999"),
    "NaN": lambda n: _with(n, schema_version="@").replace(b'"@"', b"NaN"),
    "Infinity": lambda n: _with(n, schema_version="@").replace(b'"@"', b"-Infinity"),
    "schema_version as text": lambda n: _with(n, schema_version="1"),
    "schema_version 2": lambda n: _with(n, schema_version=2),
    "schema_version long text": lambda n: _with(n, schema_version=MARKER * 10_000),
    # -- encodings
    "invalid UTF-8 in the subject id": lambda n: _raw_in_subject(n, b"\xff\xfe"),
    "overlong UTF-8": lambda n: _raw_in_subject(n, b"\xc0\xaf"),
    "UTF-8-encoded surrogate": lambda n: _raw_in_subject(n, b"\xed\xa0\x80"),
    "truncated UTF-8 sequence": lambda n: _raw_in_subject(n, b"\xe2\x82"),
    "lone surrogate escape": lambda n: _with(n, subject__id=f"{MARKER}\ud800{n}@example.com"),
    "lone surrogate in a key": lambda n: _append_key(n, "\\udc00", "1"),
    "UTF-8 byte-order mark": lambda n: b"\xef\xbb\xbf" + _dumps(_base(n)),
    "UTF-16 with byte-order mark": lambda n: json.dumps(_base(n)).encode("utf-16"),
    "Latin-1 text": lambda n: _dumps(_base(n)).replace(f"{MARKER}-{n}".encode(), f"{MARKER}-{n}é".encode("latin-1")),
    # -- repeated keys (the last one used to win)
    "repeated subject": lambda n: _append_key(
        n, "subject", json.dumps({"id": f"{MARKER}-other-{n}", "type": "customer"})
    ),
    "repeated event_id": lambda n: _append_key(n, "event_id", json.dumps(f"bad-{n}-again")),
    "repeated key in the subject": lambda n: _dumps(_base(n)).replace(
        b'"type": "customer"}', b'"type": "customer", "id": "' + f"{MARKER}-x".encode() + b'"}', 1
    ),
    "repeated key spelt with an escape": lambda n: _append_key(
        n, "s\\u0075bject", json.dumps({"id": f"{MARKER}-esc-{n}", "type": "customer"})
    ),
    "repeated key with whitespace before the colon": lambda n: _dumps(_base(n))[:-1] + b', "emitted_by" : "x"}',
    "repeated unknown key": lambda n: (
        _append_key(n, f"{MARKER}@example.com", "1")[:-1] + b', "' + f"{MARKER}@example.com".encode() + b'": 2}'
    ),
    # -- dates
    "year 9999 with -14:00": lambda n: _with(n, occurred_at="9999-12-31T23:59:59-14:00"),
    "year 1 with +14:00": lambda n: _with(n, occurred_at="0001-01-01T00:00:00+14:00"),
    "just past the window": lambda n: _with(n, occurred_at="2100-01-01T00:00:00Z"),
    "just before the window": lambda n: _with(n, occurred_at="1969-12-31T23:59:59Z"),
    "no timezone": lambda n: _with(n, occurred_at="2026-03-01T10:00:00"),
    "date only": lambda n: _with(n, occurred_at="2026-03-01"),
    "offset of 24 hours": lambda n: _with(n, occurred_at="2026-03-01T10:00:00+24:00"),
    "huge timestamp number": lambda n: _with(n, occurred_at=1e20),
    "not a date": lambda n: _with(n, occurred_at=f"{MARKER}-{n}"),
    # -- characters that some reader takes for a line break, and terminal escapes, in rejected lines
    "U+2028 raw in a rejected line": lambda n: _rejected_with_raw(n, "\u2028"),
    "U+2029 raw in a rejected line": lambda n: _rejected_with_raw(n, "\u2029"),
    "U+0085 raw in a rejected line": lambda n: _rejected_with_raw(n, "\u0085"),
    "vertical tab escaped in a rejected line": lambda n: _rejected_with_raw(n, "\x0b"),
    "file separator escaped in a rejected line": lambda n: _rejected_with_raw(n, "\x1c"),
    "raw control character in a string": lambda n: _raw_in_subject(n, b"\x1b"),
    "ANSI escape in subject.type": lambda n: _with(n, subject__type=f"\x1b[31m{MARKER}\x1b[0m"),
    "OSC 8 hyperlink in the recipient name": lambda n: _with(
        n, recipient__name=f"\x1b]8;;https://{MARKER}.example\x07x\x1b]8;;\x07", recipient__type="nobody"
    ),
    "bidi override in subject.type": lambda n: _with(n, subject__type=f"\u202e{MARKER}.person"),
    # -- sizes
    "huge array of categories": lambda n: _with(n, data_categories=["user.contact.email"] * 40_000),
    "huge array in an unknown field": lambda n: _append_key(n, "extra", json.dumps([1] * 100_000)),
    "many unknown keys": lambda n: _dumps({**_base(n), **{f"k{i}": i for i in range(20_000)}}),
    "line longer than 1 MB": lambda n: _with(n, emitted_by="x" * 1_100_000),
    "subject id of 10,000 characters": lambda n: _with(n, subject__id=MARKER * 1_000),
    "event_id of 1,000 characters": lambda n: _with(n, event_id="e" * 1_000),
    # -- the contract
    "unknown subject.type that looks personal": lambda n: _with(n, subject__type=f"{MARKER}.person"),
    "email as subject.type": lambda n: _with(n, subject__type=f"{MARKER}@example.com"),
    "unknown data category": lambda n: _with(n, data_categories=[f"user.{MARKER}"]),
    "unknown purpose": lambda n: _with(n, purpose=f"{MARKER}.tracking"),
    "unknown kind": lambda n: _with(n, kind=f"{MARKER}"),
    "missing kind": lambda n: _with(n, kind=_DROP),
    "missing subject": lambda n: _with(n, subject=_DROP),
    "subject as a string": lambda n: _with(n, subject=f"{MARKER}-{n}@example.com"),
    "empty subject id": lambda n: _with(n, subject__id=""),
    "subject id with a leading space": lambda n: _with(n, subject__id=f" {MARKER}-{n}"),
    "subject id with a newline": lambda n: _with(n, subject__id=f"{MARKER}\n{n}"),
    "unknown field holding personal data": lambda n: _with(n, email=f"{MARKER}-{n}@example.com"),
    "unknown field named after a person": lambda n: _append_key(n, f"{MARKER}-{n}@example.com", "true"),
    "event_id with spaces": lambda n: _with(n, event_id=f"{MARKER} {n}"),
    "missing recipient on a share": lambda n: _with(n, recipient=_DROP),
    "recipient country in lower case": lambda n: _with(n, recipient__country="hk"),
    "recipient of an unknown type": lambda n: _with(n, recipient__type=MARKER),
    "processor without customer": lambda n: _with(n, role="processor"),
    "the same category twice": lambda n: _with(n, data_categories=["user.name", "user.name"]),
    "no categories": lambda n: _with(n, data_categories=[]),
    "categories as a string": lambda n: _with(n, data_categories="user.name"),
    "emitted_by as a number": lambda n: _with(n, emitted_by=7),
    "unknown identifiability": lambda n: _with(n, identifiability=MARKER),
    "opt-out outside marketing": lambda n: _envelope(n, kind="opted_out", scope="essential.service"),
    "erasure with a reason of 1,000 characters": lambda n: _envelope(n, kind="erased", reason=MARKER * 200),
}


def hostile_lines(n: int = 0) -> list[tuple[str, bytes]]:
    """Every kind of hostile line once, numbered from ``n`` (so that ids differ between calls)."""
    out = []
    for i, (kind, make) in enumerate(KINDS.items()):
        line = make(n + i)
        assert b"\n" not in line, kind  # noqa: S101 - a corpus bug, caught when the corpus is built
        out.append((kind, line))
    return out
