"""Opening a store by URL: the table of schemes answers, and an unknown scheme is refused by name."""

from __future__ import annotations

import pytest

from graph.registry import STORES, open_store
from graph.sqlite_store import SQLiteGraphStore
from graph.store import StoreConfigError


def test_a_scheme_of_the_table_opens_its_store() -> None:
    with open_store("sqlite:///:memory:") as store:
        assert isinstance(store, SQLiteGraphStore)


def test_an_unknown_scheme_names_the_schemes_of_the_table_and_not_the_url() -> None:
    with pytest.raises(StoreConfigError) as refused:
        open_store("postgres://admin:s3cret@db.example/lineage")
    message = str(refused.value)
    assert "'postgres'" in message and all(scheme in message for scheme in STORES)
    assert "s3cret" not in message
