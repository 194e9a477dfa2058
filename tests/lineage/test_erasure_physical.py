"""An erasure on SQLite leaves no byte of the person's data in the store's files (.db, -wal, -shm), even while other
connections hold the store open; one it cannot make physical is reported PENDING and completed by `lineage purge`."""

from __future__ import annotations

import io
import json
import random
import sqlite3
import threading
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from graph.pseudonym import Pseudonymizer, key_from_text
from graph.sqlite_store import SQLiteGraphStore
from lineage.cli import main
from tests.factories import ADVERTISER, AFFILIATE, event

KEY = "ab" * 32
VICTIM = "victim@example.com"
SEED = 3


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def _events() -> tuple[list[dict[str, Any]], list[str]]:
    """120 events of the victim (collected, used, shared to an affiliate and to an advertiser, an undeclared flow
    that raises alerts), the latest news of both recipients among them, and 60 of other people.

    The event ids are random but fixed (SEED): with these, SQLite's page rebuilds leave a stale copy of one of the
    victim's rows in a page's unused space, which secure_delete does not zero and the erasure must still remove.
    """
    rng = random.Random(SEED)  # noqa: S311 - fixed ids for a test, not secrets
    new_id = lambda: str(uuid.UUID(int=rng.getrandbits(128), version=4))  # noqa: E731
    victim_ids: list[str] = []
    lines: list[dict[str, Any]] = []
    for i in range(120):
        kind = ("collected", "used", "shared")[i % 3]
        extra: dict[str, Any] = {"recipient": dict(ADVERTISER if i % 2 else AFFILIATE)} if kind == "shared" else {}
        if kind == "shared" and i % 2:
            extra["purpose"] = "marketing.advertising.profiling"
        ev = event(
            kind,
            event_id=new_id(),
            subject_id=VICTIM,
            occurred_at=f"2026-03-{1 + i % 28:02d}T12:{i % 60:02d}:00Z",
            **extra,
        )
        victim_ids.append(ev["event_id"])
        lines.append(ev)
    for i in range(60):
        kind = ("collected", "shared")[i % 2]
        lines.append(
            event(
                kind,
                event_id=new_id(),
                subject_id=f"person-{i}@example.com",
                occurred_at=f"2026-02-{1 + i % 28:02d}T08:00:00Z",
            )
        )
    return lines, victim_ids


def _files(db: Path) -> dict[str, bytes]:
    """Every file of the store: the database, its write-ahead log and its shared-memory index."""
    return {p.name: p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()}


def _occurrences(db: Path, needle: str) -> int:
    return sum(content.count(needle.encode()) for content in _files(db).values())


def _expected_pseudonym_copies(db: Path, pseudonym: str) -> int:
    """What an erasure keeps on purpose: the tombstone and the erasure's own event row, each also in its table's
    subject index (tombstones_subject, events_subject)."""
    with sqlite3.connect(db) as check:
        (tombstones,) = check.execute("SELECT count(*) FROM tombstones WHERE subject = ?", (pseudonym,)).fetchone()
        (rows,) = check.execute("SELECT count(*) FROM events WHERE subject = ?", (pseudonym,)).fetchone()
        (erasures,) = check.execute(
            "SELECT count(*) FROM events WHERE subject = ? AND kind = 'erased'", (pseudonym,)
        ).fetchone()
    check.close()
    assert rows == erasures == tombstones == 1
    return 2 * (tombstones + rows)


@pytest.fixture
def usual_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Connections start with secure_delete off, as in the usual SQLite builds (this machine's has it on)."""
    connect = sqlite3.connect

    def connect_without_secure_delete(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        db = connect(*args, **kwargs)
        db.execute("PRAGMA secure_delete=OFF")
        return db

    monkeypatch.setattr(sqlite3, "connect", connect_without_secure_delete)


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[Path, list[str]]]:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", KEY)
    db = tmp_path / "lineage.db"
    lines, victim_ids = _events()
    src = tmp_path / "events.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
    code, _, err = run("ingest", str(src), "--store", f"sqlite:///{db}")
    assert code == 0, err
    yield db, victim_ids


def test_erase_leaves_no_byte_of_the_person_while_others_hold_the_store_open(
    store: tuple[Path, list[str]], usual_build: None
) -> None:
    db, victim_ids = store
    pseudonym = Pseudonymizer(key_from_text(KEY))(VICTIM)
    # lineage serve's connection, which has read the person, and an idle raw connection
    console = SQLiteGraphStore(db)
    assert console.who_has(pseudonym) is not None
    idle = sqlite3.connect(db)
    idle.execute("SELECT count(*) FROM events").fetchone()
    try:
        assert _occurrences(db, pseudonym) > 200 and sum(_occurrences(db, e) > 0 for e in victim_ids) == 120
        code, out, err = run("erase", VICTIM, "--store", f"sqlite:///{db}")
        assert code == 0, err
        assert "the deleted data has left the store's files" in out
        assert [e for e in victim_ids if _occurrences(db, e)] == []
        assert _occurrences(db, pseudonym) == _expected_pseudonym_copies(db, pseudonym)
        assert _occurrences(db, VICTIM) == 0
        assert console.who_has(pseudonym) is None  # the open connection sees the erasure
        assert console.stats().events == 61  # the other people's 60 events and the erasure
    finally:
        idle.close()
        console.close()
    assert [e for e in victim_ids if _occurrences(db, e)] == []


def test_an_erasure_a_reader_keeps_from_the_files_is_pending_until_lineage_purge(
    store: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, victim_ids = store
    monkeypatch.setitem(SQLiteGraphStore.__init__.__kwdefaults__, "busy_timeout", 0.2)
    pseudonym = Pseudonymizer(key_from_text(KEY))(VICTIM)
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()  # a read transaction left open: the log is pinned
    try:
        code, out, err = run("erase", VICTIM, "--store", f"sqlite:///{db}", "--format", "json")
        assert code == 1
        doc = json.loads(out)
        assert doc["applied"] is True and doc["physical"] is False
        assert "write-ahead log" in doc["pending"] and "lineage purge" in doc["pending"]
        code, out, err = run("purge", "--store", f"sqlite:///{db}")
        assert code == 1 and err.startswith("lineage purge: PENDING: ") and out == ""
        assert sum(_occurrences(db, e) > 0 for e in victim_ids) > 0  # why it is pending: the log still has them
        answer = json.loads(run("who-has", VICTIM, "--store", f"sqlite:///{db}", "--format", "json")[1])
        assert answer["categories"] == answer["recipients"] == []  # gone from the graph meanwhile
    finally:
        reader.execute("COMMIT")
        reader.close()
    code, out, err = run("purge", "--store", f"sqlite:///{db}")
    assert (code, err) == (0, "") and out.startswith("Done: ")
    assert [e for e in victim_ids if _occurrences(db, e)] == []
    assert _occurrences(db, pseudonym) == _expected_pseudonym_copies(db, pseudonym)


def test_the_text_output_says_pending_and_exits_1(
    store: tuple[Path, list[str]], monkeypatch: pytest.MonkeyPatch
) -> None:
    db, _ = store
    monkeypatch.setitem(SQLiteGraphStore.__init__.__kwdefaults__, "busy_timeout", 0.2)
    reader = sqlite3.connect(db, isolation_level=None)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()
    try:
        code, out, err = run("erase", VICTIM, "--store", f"sqlite:///{db}")
    finally:
        reader.execute("COMMIT")
        reader.close()
    assert code == 1
    assert out.startswith("Erased the person from the graph as of ") and "has left" not in out
    assert err.startswith("lineage erase: PENDING: the deleted data may still be in the store's files: ")
    assert VICTIM not in out + err


def test_a_reader_that_finishes_within_the_wait_does_not_make_it_pending(store: tuple[Path, list[str]]) -> None:
    db, victim_ids = store
    reader = sqlite3.connect(db, isolation_level=None, check_same_thread=False)
    reader.execute("BEGIN")
    reader.execute("SELECT count(*) FROM events").fetchone()
    finish = threading.Timer(0.5, lambda: reader.execute("COMMIT"))
    finish.start()
    try:
        code, out, _ = run("erase", VICTIM, "--store", f"sqlite:///{db}")
    finally:
        finish.join()
        reader.close()
    assert code == 0 and "has left the store's files" in out
    assert [e for e in victim_ids if _occurrences(db, e)] == []


def test_the_store_that_erases_leaves_no_byte_while_it_stays_open(
    store: tuple[Path, list[str]], usual_build: None
) -> None:
    """As in lineage serve, which erases (POST /api/events) and keeps its connection: the erasure itself clears the
    log, not the closing of the store."""
    from policies import default_policy
    from schemas.parsing import validate_event
    from streams.handler import Handler

    db, victim_ids = store
    key = Pseudonymizer(key_from_text(KEY))
    other = SQLiteGraphStore(db)
    other.who_has(key(VICTIM))
    handler = Handler(SQLiteGraphStore(db), default_policy(), key)
    try:
        erasure = {
            "schema_version": 1,
            "event_id": str(uuid.uuid4()),
            "kind": "erased",
            "occurred_at": "2026-04-01T00:00:00Z",
            "emitted_by": "dpo-console",
            "subject": {"id": VICTIM, "type": "customer"},
        }
        result = handler.handle([validate_event(erasure, handler.taxonomy)])
        assert result.applied == 1 and result.erasures_pending == ()
        assert [e for e in victim_ids if _occurrences(db, e)] == []
        assert _occurrences(db, key(VICTIM)) == _expected_pseudonym_copies(db, key(VICTIM))
    finally:
        handler.store.close()
        other.close()
