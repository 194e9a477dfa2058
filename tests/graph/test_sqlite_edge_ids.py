"""The SQLite store remembers edge ids by key so that evidence needs no lookup; these are the cases where what it
remembers goes stale (another connection writes, an erasure deletes edges, a transaction rolls back), and the
store must still write each edge once with all its evidence."""

from __future__ import annotations

from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import StoreError
from policies import default_policy
from schemas.events import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.factories import event

POLICY = default_policy()
KEY = Pseudonymizer(TEST_KEY)


def handle(store: SQLiteGraphStore, *events: dict[str, object]) -> int:
    return Handler(store, POLICY, KEY).handle([validate_event(e) for e in events]).applied


def evidence(store: SQLiteGraphStore) -> list[tuple[str, str, str, int, str]]:
    """(rel, category, target, count, event ids) of every edge, from the file itself."""
    rows = store._db.execute(
        "SELECT e.rel, e.category, e.target, e.count, group_concat(ee.event_id, ',')"
        " FROM edges e LEFT JOIN edge_events ee ON ee.edge_id = e.id GROUP BY e.id ORDER BY e.rel, e.category"
    )
    return [(r[0], r[1], r[2], r[3], ",".join(sorted((r[4] or "").split(",")))) for r in rows]


def test_edges_written_by_another_connection_are_not_created_twice(tmp_path: Path) -> None:
    a, b = SQLiteGraphStore(tmp_path / "l.db"), SQLiteGraphStore(tmp_path / "l.db")
    handle(a, event(event_id="e1"))
    handle(b, event(event_id="e2"), event("used", event_id="e3"))  # a new USED_FOR edge that ``a`` has not seen
    handle(a, event("used", event_id="e4"), event(event_id="e5"))
    assert evidence(a) == [
        ("COLLECTED_FROM", "user.contact.email", "data_subject:signup-form", 3, "e1,e2,e5"),
        ("HOLDS", "user.contact.email", "controller", 5, "e1,e2,e3,e4,e5"),
        ("USED_FOR", "user.contact.email", "essential.service.operations.support", 2, "e3,e4"),
    ]
    a.close()
    b.close()


def test_an_edge_deleted_by_an_erasure_is_created_again_by_a_later_event(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "l.db")
    handle(store, event(event_id="e1", occurred_at="2026-03-01T10:00:00Z"))
    handle(
        store,
        event(
            "erased",
            event_id="gone",
            occurred_at="2026-03-02T10:00:00Z",
            data_categories=None,
            role=None,
            reason="request",
        ),
    )
    assert evidence(store) == []
    handle(store, event(event_id="e2", occurred_at="2026-03-03T10:00:00Z"))
    assert evidence(store) == [
        ("COLLECTED_FROM", "user.contact.email", "data_subject:signup-form", 1, "e2"),
        ("HOLDS", "user.contact.email", "controller", 1, "e2"),
    ]
    store.close()


def test_edges_of_a_rolled_back_batch_are_not_remembered(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "l.db")
    handle(store, event(event_id="e1"))
    store._db.execute("CREATE TEMP TRIGGER boom BEFORE INSERT ON consents BEGIN SELECT RAISE(ABORT, 'boom'); END")
    with pytest.raises(StoreError, match="boom"):  # the new USED_FOR edge is written, then the batch fails
        handle(
            store,
            event("used", event_id="e2"),
            event(
                "consent_withdrawn", event_id="e3", data_categories=None, role=None, purposes=["marketing.advertising"]
            ),
        )
    store._db.execute("DROP TRIGGER boom")
    handle(store, event("used", event_id="e4"))
    assert evidence(store) == [
        ("COLLECTED_FROM", "user.contact.email", "data_subject:signup-form", 1, "e1"),
        ("HOLDS", "user.contact.email", "controller", 2, "e1,e4"),
        ("USED_FOR", "user.contact.email", "essential.service.operations.support", 1, "e4"),
    ]
    store.close()


def test_a_file_with_the_unused_time_index_of_events_opens_without_it(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "l.db")
    handle(store, event(event_id="e1"))
    store._db.execute("CREATE INDEX events_time ON events(occurred_at)")  # as stores before it was dropped had it
    store.close()
    again = SQLiteGraphStore(tmp_path / "l.db")
    indexes = {r[0] for r in again._db.execute("SELECT name FROM sqlite_master WHERE type = 'index'")}
    assert "events_time" not in indexes and "events_subject" in indexes
    assert again.processed(["e1"]) == {"e1"}
    again.close()
