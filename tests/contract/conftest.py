"""The GraphStore contract suite runs once per store implementation; each test gets a clean store."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from graph.store import GraphStore
from tests.contract.neo4j_backend import neo4j_store

StoreFactory = Callable[[], GraphStore]


def _sqlite_memory(folder: Path) -> GraphStore:
    from graph.sqlite_store import SQLiteGraphStore

    return SQLiteGraphStore(":memory:")


def _sqlite_file(folder: Path) -> GraphStore:
    from graph.sqlite_store import SQLiteGraphStore

    return SQLiteGraphStore(folder / "contract.db")


#: Every store the contract suite runs on (the Neo4j one skips locally, and fails under CI, without a server).
STORES: dict[str, Callable[[Path], GraphStore]] = {
    "sqlite-memory": _sqlite_memory,
    "sqlite-file": _sqlite_file,
    "neo4j": neo4j_store,
}


@pytest.fixture(params=sorted(STORES))
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[StoreFactory]:
    """A factory of clean stores of one kind (each call a new, empty one); all are closed after the test."""
    made: list[GraphStore] = []

    def factory() -> GraphStore:
        folder = tmp_path / f"store-{len(made)}"
        folder.mkdir()
        store = STORES[request.param](folder)
        made.append(store)
        return store

    yield factory
    for store in made:
        store.close()


@pytest.fixture
def store(make_store: StoreFactory) -> GraphStore:
    return make_store()
