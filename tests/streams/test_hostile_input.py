"""One hostile line never costs a valid one: every kind of tests/hostile.py, mixed with valid events, through
parse_event, the embedded runner (generated mixes, hypothesis) and `lineage ingest` as a process (file and stdin).
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
from collections.abc import Iterator
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from policies import default_policy
from schemas.parsing import EventError, parse_event
from streams.deadletter import MemoryDeadLetters
from streams.embedded import ingest_lines
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.hostile import KINDS, MARKER, hostile_lines, valid_event

REPO = Path(__file__).resolve().parents[2]
TAXONOMY = default_policy().taxonomy()
KEY_HEX = TEST_KEY.hex()


@pytest.fixture
def handler() -> Iterator[Handler]:
    store = SQLiteGraphStore(":memory:")
    yield Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    store.close()


def test_the_corpus_has_at_least_60_kinds() -> None:
    assert len(KINDS) >= 60


@pytest.mark.parametrize(("kind", "line"), hostile_lines(), ids=list(KINDS))
def test_each_hostile_kind_is_an_event_error_that_quotes_nothing(kind: str, line: bytes) -> None:
    with pytest.raises(EventError) as info:
        parse_event(line, TAXONOMY)
    assert MARKER not in str(info.value)
    assert len(str(info.value)) < 3_000  # twenty problems at most, however many the line has
    assert info.value.event_id is None or len(info.value.event_id) <= 128


# -- generated mixes through the embedded runner -------------------------------------------------------------------
_kinds = st.sampled_from(sorted(KINDS))
_random_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
# every character str.splitlines() takes for a line break, but \n (which ends a JSON line by definition)
LINE_BREAKS = ("\r", "\x0b", "\x0c", "\x1c", "\x1d", "\x1e", "\x85", "\u2028", "\u2029")


def _text(n: int) -> bytes:
    return json.dumps(valid_event(n, prefix="bad")).encode()


def _with_field(n: int, field: str, raw: bytes) -> bytes:
    """A valid event's text with ``"field": raw`` added at its end (a repeated key when ``field`` is one of it)."""
    return _text(n)[:-1] + b', "' + field.encode() + b'": ' + raw + b"}"


def _at(n: int, when: datetime) -> bytes:
    event = valid_event(n, prefix="bad")
    event["occurred_at"] = when.isoformat()
    return json.dumps(event).encode()


_offsets = st.integers(-(23 * 60 + 59), 23 * 60 + 59).map(lambda m: timezone(timedelta(minutes=m)))
_outside = st.one_of(
    st.datetimes(datetime(1, 1, 1), datetime(1969, 12, 30), timezones=_offsets),
    st.datetimes(datetime(2100, 1, 2), datetime(9999, 12, 31, 23, 59, 59), timezones=_offsets),
)
_fields = st.sampled_from(["schema_version", "event_id", "kind", "occurred_at", "emitted_by", "subject", "role"])
_generated = st.one_of(  # hostile lines made here (not picked from the corpus), each to be rejected
    st.tuples(st.integers(0, 999), _fields, _random_json).map(  # a repeated key, whatever it holds
        lambda t: _with_field(t[0], t[1], json.dumps(t[2]).encode())
    ),
    st.tuples(st.integers(0, 999), _outside).map(lambda t: _at(*t)),  # any date outside the window, any offset
    st.tuples(st.integers(0, 999), st.integers(20, 6000)).map(  # a number of thousands of digits
        lambda t: _with_field(t[0], "schema_version", b"9" * t[1])
    ),
    st.tuples(st.integers(0, 999), st.integers(1000, 30000), st.sampled_from(["[", '{"a":'])).map(  # deep
        lambda t: _with_field(t[0], "extra", (t[2] * t[1]).encode())
    ),
    st.tuples(st.integers(0, 999), st.sampled_from([b"\xff", b"\xc0\xaf", b"\xed\xa0\x80", b"\xe2\x82", b"\x80"])).map(
        lambda t: _text(t[0]).replace(b"@example", t[1] + b"@example", 1)  # bytes that are not UTF-8
    ),
    st.tuples(st.integers(0, 999), st.integers(101, 50_000)).map(  # a huge array
        lambda t: _with_field(t[0], "data_categories", json.dumps(["user.name"] * t[1]).encode())
    ),
)
_garbage = st.one_of(
    _kinds.map(lambda k: ("corpus", k)),
    _generated.map(lambda b: ("generated", b)),
    st.binary(min_size=1, max_size=200)
    .filter(lambda b: b"\n" not in b and not b.isspace())
    .map(lambda b: ("bytes", b)),
    _random_json.map(lambda v: ("json", json.dumps(v).encode())),
)
# valid events, some with a line break of another kind inside their subject id (raw, or escaped when JSON must)
_valid = st.tuples(st.integers(0, 10_000), st.none() | st.sampled_from(LINE_BREAKS)).map(lambda t: ("valid", t))
_line = st.one_of(_valid, _garbage)


@settings(max_examples=60, deadline=None, database=None, suppress_health_check=list(HealthCheck))
@given(st.lists(_line, min_size=1, max_size=30), st.integers(1, 7))
def test_every_valid_line_of_a_hostile_mix_is_applied(mix: list[tuple[str, object]], batch_size: int) -> None:
    lines: list[bytes] = []
    valid_ids, bad_numbers = [], []
    for number, (what, item) in enumerate(mix, start=1):
        if what == "valid":
            n, brk = item  # type: ignore[misc]
            event = valid_event(n, prefix=f"ok{number}")
            if brk is not None:
                event["subject"]["id"] = f"someone{brk}{n}@example.com"
            valid_ids.append(event["event_id"])
            lines.append(json.dumps(event, ensure_ascii=number % 2 == 0).encode() + b"\n")
        else:
            raw = KINDS[str(item)](number) if what == "corpus" else item
            assert isinstance(raw, bytes)
            lines.append(raw + b"\r\n")
            bad_numbers.append(number)
    store = SQLiteGraphStore(":memory:")
    try:
        handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
        dead = MemoryDeadLetters()
        report = ingest_lines(lines, handler, dead, origin="mix", batch_size=batch_size)
        assert store.processed(valid_ids) == set(valid_ids)  # 0 valid events lost
        assert report.applied == len(set(valid_ids)) and report.failed == 0
        assert [d.line for d in dead.letters] == bad_numbers  # each bad line, once, with its number
        assert all(MARKER not in d.reason and len(d.to_json().splitlines()) == 1 for d in dead.letters)
    finally:
        store.close()


# -- `lineage ingest` as a process ---------------------------------------------------------------------------------
def _corpus_file(folder: Path) -> tuple[Path, list[str], list[str], list[int]]:
    """Valid events between every two hostile lines; returns the file, valid ids, valid subject ids, bad numbers."""
    lines: list[bytes] = []
    ids: list[str] = []
    subjects: list[str] = []
    bad: list[int] = []
    for i, (_, line) in enumerate(hostile_lines()):
        for event in (valid_event(3 * i), valid_event(3 * i + 1)):
            ids.append(event["event_id"])
            subjects.append(event["subject"]["id"])
            lines.append(json.dumps(event, ensure_ascii=False).encode())
        lines.append(line)
        bad.append(len(lines))
    path = folder / "hostile.jsonl"
    path.write_bytes(b"\n".join(lines) + b"\n")
    return path, ids, subjects, bad


def _lineage(*args: str, stdin: bytes | None = None, cwd: Path) -> subprocess.CompletedProcess[bytes]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LINEAGE_")}
    env.update(LINEAGE_PSEUDONYM_KEY=KEY_HEX, LINEAGE_ALERT_LOG="0", PYTHONPATH=str(REPO))
    return subprocess.run(  # noqa: S603 - our own CLI
        [sys.executable, "-m", "lineage.cli", *args],
        input=stdin,
        capture_output=True,
        env=env,
        cwd=cwd,
        timeout=300,
        check=False,
    )


@pytest.mark.parametrize("source", ["file", "stdin"])
def test_lineage_ingest_of_the_corpus_loses_nothing_and_says_nothing_personal(tmp_path: Path, source: str) -> None:
    path, ids, subjects, bad = _corpus_file(tmp_path)
    db = tmp_path / "lineage.db"
    dlq = tmp_path / "letters.jsonl"
    if source == "file":
        done = _lineage("ingest", str(path), "--store", f"sqlite:///{db}", "--dead-letters", str(dlq), cwd=tmp_path)
    else:
        done = _lineage(
            "ingest",
            "-",
            "--store",
            f"sqlite:///{db}",
            "--dead-letters",
            str(dlq),
            stdin=path.read_bytes(),
            cwd=tmp_path,
        )
    err = done.stderr.decode("utf-8", "replace")
    summary = done.stdout.decode("utf-8", "replace")  # the result; the rejections are diagnostics, on stderr
    assert done.returncode == 1, err  # some lines rejected, every other applied: not an internal error (3)
    assert "Traceback" not in err and "internal error" not in err
    assert MARKER not in err and not any(s in err for s in subjects)  # 0 subject ids on stderr
    assert MARKER not in summary and not any(s in summary for s in subjects)
    assert f"{len(ids)} event(s) applied" in summary and f"{len(bad)} line(s) rejected" in summary
    with SQLiteGraphStore(str(db)) as store:
        assert store.processed(ids) == set(ids)  # 0 valid events lost
    assert stat.S_IMODE(dlq.stat().st_mode) == 0o600  # letters keep raw ids: owner only
    text = dlq.read_text(encoding="utf-8")
    letters = [json.loads(x) for x in text.splitlines()]  # splitlines: U+2028 and U+0085 are escaped
    assert [x["line"] for x in letters] == bad  # each bad line, with its line number
    assert all(x["raw"] or x.get("raw_base64") for x in letters)  # ... and what it was
    assert all(MARKER not in x["reason"] for x in letters)
