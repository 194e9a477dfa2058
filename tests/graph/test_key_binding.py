"""Processes that open a new store at the same moment (two workers and an alerter started together) all bind the
pseudonym key: with one key every bind passes, with two keys exactly one does. Once, in CI, the alerter died at start
("cannot record the pseudonym key ...: UNIQUE constraint failed") because SQLite's bind read, then inserted."""

from __future__ import annotations

import threading
from collections.abc import Callable
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import GraphStore, StoreConfigError

ONE = Pseudonymizer(b"the deployment's pseudonym key, 32+").fingerprint
OTHER = Pseudonymizer(b"another deployment's key, 32 bytes+").fingerprint


def first_binds(open_store: Callable[[], GraphStore], fingerprints: list[str]) -> list[BaseException | None]:
    """Each fingerprint bound by a store of its own, opened and bound in a thread of its own, all released at once;
    what each bind raised (None: it passed)."""
    barrier = threading.Barrier(len(fingerprints))
    outcomes: list[BaseException | None] = [None] * len(fingerprints)

    def bind(i: int) -> None:
        store = None
        try:
            store = open_store()
            barrier.wait(15)
            store.bind_key(fingerprints[i])
        except BaseException as exc:  # noqa: BLE001 - reported to the test
            outcomes[i] = exc
        finally:
            if store is not None:
                store.close()

    threads = [threading.Thread(target=bind, args=(i,)) for i in range(len(fingerprints))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return outcomes


def check_first_binds(new_store: Callable[[], Callable[[], GraphStore]], rounds: int) -> None:
    """``new_store()``: an opener of connections to one new, empty store (a new one each call)."""
    for _ in range(rounds):
        assert first_binds(new_store(), [ONE] * 4) == [None] * 4
    for _ in range(rounds):
        opener = new_store()
        outcomes = first_binds(opener, [ONE, OTHER, ONE, OTHER])
        refused = [isinstance(o, StoreConfigError) for o in outcomes]
        assert all(o is None or isinstance(o, StoreConfigError) for o in outcomes), outcomes
        # the key that won is bound: its binds passed, the other key's were refused
        winner = ONE if outcomes[0] is None else OTHER
        assert refused == [(f != winner) for f in (ONE, OTHER, ONE, OTHER)], outcomes
        store = opener()
        try:
            store.bind_key(winner)
            with pytest.raises(StoreConfigError, match="another pseudonym key"):
                store.bind_key(OTHER if winner == ONE else ONE)
        finally:
            store.close()


def test_sqlite_first_binds_at_once_all_pass_with_one_key_and_one_wins_with_two(tmp_path: Path) -> None:
    made = iter(range(10**6))

    def new_store() -> Callable[[], GraphStore]:
        path = tmp_path / f"store-{next(made)}.db"
        return lambda: SQLiteGraphStore(path)

    check_first_binds(new_store, rounds=15)


def test_sqlite_opens_of_a_new_store_at_once_all_succeed(tmp_path: Path) -> None:
    """Switching a new file to WAL failed at once ("database is locked", no busy wait) for 8 of 160 such opens."""
    failures: list[BaseException] = []
    for n in range(40):
        path = tmp_path / f"new-{n}.db"
        barrier = threading.Barrier(4)

        def open_and_close(path: Path = path, barrier: threading.Barrier = barrier) -> None:
            try:
                barrier.wait(15)
                SQLiteGraphStore(path).close()
            except BaseException as exc:  # noqa: BLE001 - reported to the test
                failures.append(exc)

        threads = [threading.Thread(target=open_and_close) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert failures == []
