"""Two SQLite store objects writing one file in turn hand each other what their aggregator learnt
(:meth:`SQLiteGraphStore.handoff`): the one that writes next goes on from it instead of forgetting, and only when the
handed batch is the only one written since its own last batch; the aggregates stay those of a recount either way."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from graph.sqlite_store import SQLiteGraphStore
from tests.contract.test_aggregates import check, handle
from tests.factories import event


def _march(person: str, day: int, kind: str = "collected", **fields: Any) -> dict[str, Any]:
    return event(kind, subject_id=person, occurred_at=f"2026-03-{day:02d}T10:00:00Z", **fields)


def _membership_statements(store: SQLiteGraphStore, batch: list[dict[str, Any]]) -> list[str]:
    """The statements on people's memberships (``agg_people``: read or written) the store ran to write the batch."""
    statements: list[str] = []
    store._db.set_trace_callback(statements.append)
    try:
        handle(store, batch)
    finally:
        store._db.set_trace_callback(None)
    return [s.split("(")[0].split(" WHERE")[0] for s in statements if "agg_people" in s]


def test_a_handed_batch_spares_the_next_writer_what_it_recorded(tmp_path: Path) -> None:
    carol = [_march("carol@example.com", 1)]
    first = [_march(p, 2) for p in ("alice@example.com", "bob@example.com")]
    second = [_march(p, 3) for p in ("alice@example.com", "bob@example.com")]  # same months and flows, a new day
    statements = {}
    for case in ("handed", "not handed"):
        a, b = SQLiteGraphStore(tmp_path / f"{case}.db"), SQLiteGraphStore(tmp_path / f"{case}.db")
        handle(b, carol)  # b has written (and remembers) before a's batch
        handle(a, first)
        if case == "handed":
            b.receive_handoff(a.handoff())
        statements[case] = _membership_statements(b, second)
        check(b, carol + first + second)
        a.close()
        b.close()
    # without it, b forgets (a wrote since its last batch): it reads alice's and bob's months and writes them again
    assert statements == {
        "handed": [],
        "not handed": ["SELECT person, unit, year, months FROM agg_people"] + ["INSERT INTO agg_people"] * 2,
    }


@pytest.mark.parametrize("between", ["before the handed batch", "after the handed batch", "none"])
def test_a_handoff_is_taken_only_when_nothing_else_was_written_in_between(tmp_path: Path, between: str) -> None:
    """b learns alice's units, a writes bob and hands that over, and a third writer c (another process, say) records
    alice in a new flow before or after a's batch: b, taking a's handoff, must not trust what it knew of alice, or it
    would count her a second time among that flow's people when her own event of it comes."""
    path = tmp_path / "s.db"
    a, b, c = SQLiteGraphStore(path), SQLiteGraphStore(path), SQLiteGraphStore(path)
    new_flow = {"purpose": "analytics.reporting"}
    batches: list[tuple[SQLiteGraphStore, list[dict[str, Any]]]] = [
        (b, [_march("alice@example.com", 2)]),
        (a, [_march("bob@example.com", 3)]),
        (b, [_march("alice@example.com", 5, "used", **new_flow), _march("alice@example.com", 5)]),
    ]
    third = (c, [_march("alice@example.com", 4, "used", **new_flow)])
    if between == "before the handed batch":
        batches.insert(1, third)
    elif between == "after the handed batch":
        batches.insert(2, third)
    events: list[dict[str, Any]] = []
    for store, batch in batches:
        if store is b and events:
            b.receive_handoff(a.handoff())
        handle(store, batch)
        events += batch
    check(b, events)
    for store in (a, b, c):
        store.close()


def test_a_store_with_no_new_batch_has_nothing_to_hand_over(tmp_path: Path) -> None:
    store = SQLiteGraphStore(tmp_path / "s.db")
    assert store.handoff() is None
    handle(store, [_march("alice@example.com", 2)])
    handed = store.handoff()
    assert handed is not None and handed.after == 0  # the first batch counted in this file
    handle(store, [_march("alice@example.com", 3)])
    again = store.handoff()
    assert again is not None and again.after == 1
    assert "alice" not in repr(handed)  # pseudonyms only, as in the store
    assert store.handoff() is None  # given once
    store.close()
