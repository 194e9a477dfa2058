"""SQLite errors become the project's own: only a busy database is StoreUnavailable (a worker retries that); a
full disk, a read-only or broken file fail as StoreError, which a worker does not retry forever."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_layout import store_error
from graph.sqlite_store import SQLiteGraphStore
from graph.store import StoreError, StoreUnavailable
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)


def handle(store: SQLiteGraphStore, *events: dict[str, object]) -> int:
    return Handler(store, POLICY, KEY).handle([validate_event(e) for e in events]).applied


def test_a_locked_database_is_unavailable_and_the_write_succeeds_once_it_is_free(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "lineage.db", busy_timeout=0.05)
    handle(store, event(event_id="first"))
    other = sqlite3.connect(tmp_path / "lineage.db", isolation_level=None)
    other.execute("BEGIN IMMEDIATE")  # another writer holds the lock
    with pytest.raises(StoreUnavailable, match="busy"):
        handle(store, event(event_id="second"))
    other.execute("COMMIT")
    assert handle(store, event(event_id="second")) == 1
    assert store.processed(["first", "second"]) == {"first", "second"}
    other.close()
    store.close()


def broken_store(tmp_path: Path, table: str) -> SQLiteGraphStore:
    """A store with one event, whose ``table`` another program then dropped."""
    store = SQLiteGraphStore(tmp_path / "lineage.db")
    handle(store, event(event_id="first"))
    other = sqlite3.connect(tmp_path / "lineage.db", isolation_level=None)
    other.execute(f"DROP TABLE {table}")  # noqa: S608 - the tests' own table names
    other.close()
    return store


def test_a_broken_store_file_is_an_error_not_unavailable(tmp_path: Path) -> None:
    store = broken_store(tmp_path, "subjects")
    with pytest.raises(StoreError, match="not transient") as caught:
        handle(store, event(event_id="second"))
    assert not isinstance(caught.value, StoreUnavailable)
    assert store.processed(["second"]) == set()  # rolled back: nothing of the batch stays
    store.close()


def test_a_file_that_is_not_a_database_is_an_error_not_unavailable(tmp_path: Path) -> None:
    path = tmp_path / "notes.db"
    path.write_bytes(b"this is not an SQLite file, just some notes\n" * 100)
    with pytest.raises(StoreError, match="not a database") as caught:
        SQLiteGraphStore(path)
    assert not isinstance(caught.value, StoreUnavailable)


@pytest.mark.parametrize(
    ("message", "code", "transient"),
    [
        ("database is locked", sqlite3.SQLITE_BUSY, True),
        ("database table is locked", sqlite3.SQLITE_LOCKED, True),
        ("database or disk is full", sqlite3.SQLITE_FULL, False),
        ("attempt to write a readonly database", sqlite3.SQLITE_READONLY, False),
        ("disk I/O error", sqlite3.SQLITE_IOERR, False),
        ("UNIQUE constraint failed: events.event_id", sqlite3.SQLITE_CONSTRAINT, False),
    ],
)
def test_only_busy_and_locked_are_transient(message: str, code: int, transient: bool) -> None:
    exc = sqlite3.OperationalError(message)
    exc.sqlite_errorcode = code  # set by sqlite3 on the errors it raises
    error = store_error(exc, "SQLite write failed")
    assert isinstance(error, StoreUnavailable) is transient
    assert isinstance(error, StoreError) and message in str(error)


def test_reads_of_a_broken_store_file_raise_the_projects_error_not_sqlite3s(tmp_path: Path) -> None:
    store = broken_store(tmp_path, "events")
    reads = {
        "a person's lineage": lambda: store.who_has(KEY("alice@example.com")),
        "counts": store.stats,
        "processed events": lambda: store.processed(["first"]),
        "events": lambda: list(store.event_facts()),
    }
    for what, read in reads.items():
        with pytest.raises(StoreError, match=f"cannot read {what} from .*no such table: events") as caught:
            read()
        assert not isinstance(caught.value, StoreUnavailable)
        assert isinstance(caught.value.__cause__, sqlite3.Error)
    store.close()
    store = broken_store(tmp_path / "2", "agg_units")  # the flow aggregates, which reports read
    with pytest.raises(StoreError, match="cannot read aggregates from .*no such table: agg_units") as caught:
        store.flows()
    assert isinstance(caught.value.__cause__, sqlite3.Error)
    store.close()
