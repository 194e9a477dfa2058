"""Two writers on one Neo4j namespace at once: an erasure and a batch about the same person take turns."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import pytest

from graph.registry import open_store
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.contract.neo4j_backend import delete_namespace, neo4j_store, new_namespace, options, server_settings
from tests.contract.test_erasure import ALICE, KEY, POLICY, alice_before, erased
from tests.graph.test_key_binding import check_first_binds

pytest.importorskip("neo4j")
pytestmark = pytest.mark.integration


def test_an_erasure_applied_while_a_batch_about_the_person_is_in_flight_covers_the_batch(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The batch has read the person's tombstones (none yet) and is about to write their events when a direct
    `lineage erase` of the person arrives through another store. Without the per-person lock the erasure
    committed first and the batch then wrote events the erasure covers: the person came back."""
    from graph import neo4j_writes as module

    store = neo4j_store(tmp_path)
    other = open_store(server_settings()["uri"], options(store.namespace))
    handler, eraser = Handler(store, POLICY, KEY), Handler(other, POLICY, KEY)
    batch = [validate_event(e, handler.taxonomy) for e in alice_before()]
    erasure = [validate_event(erased("a-erase", "2026-03-10T00:00:00Z"), eraser.taxonomy)]

    writing, go_on = threading.Event(), threading.Event()
    original = module.events

    def events_after_a_pause(*args: Any, **kwargs: Any) -> Any:
        if threading.current_thread().name == "batch" and not go_on.is_set():
            writing.set()  # tombstones read, events not yet written
            go_on.wait(10)
        return original(*args, **kwargs)

    monkeypatch.setattr(module, "events", events_after_a_pause)
    failures: list[BaseException] = []

    def run(h: Handler, events: list[Any]) -> None:
        try:
            h.handle(events)
        except BaseException as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    batch_thread = threading.Thread(target=run, args=(handler, batch), name="batch")
    erase_thread = threading.Thread(target=run, args=(eraser, erasure), name="erase")
    try:
        batch_thread.start()
        assert writing.wait(30)
        erase_thread.start()
        erase_thread.join(2)  # with the lock, the erasure waits for the batch to commit
        erase_waited = erase_thread.is_alive()
        go_on.set()
        batch_thread.join(60)
        erase_thread.join(60)
        assert not failures
        alice = KEY(ALICE)
        assert store.who_has(alice) is None, "events the erasure covers were written after it"
        assert erase_waited, "the erasure did not wait for the batch about the same person"
        (tombstone,) = store.erasures([alice])[alice]
        assert tombstone.event_id == "a-erase"
        assert {"hk-affiliate", "brokr"} <= set(tombstone.recipients)  # the batch's shares, to notify (Art. 19)
        assert store.who_has(KEY("bob@example.com")) is not None  # Bob, in the same batch, is kept
    finally:
        go_on.set()
        other.close()
        store.close()


def test_a_batch_whose_events_an_erasure_covers_leaves_no_bare_subject(tmp_path: Path) -> None:
    """The lock gives a person new to the store a Subject node; when the batch writes nothing about them (all its
    events covered by an erasure), that node goes again."""
    store = neo4j_store(tmp_path)
    handler = Handler(store, POLICY, KEY)
    try:
        handler.handle([validate_event(erased("a-erase", "2026-03-10T00:00:00Z"), handler.taxonomy)])
        late = [validate_event(e, handler.taxonomy) for e in alice_before() if e["subject"]["id"] == ALICE]
        assert handler.handle(late).suppressed == len(late)
        s = server_settings()
        import neo4j

        with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:
            records, _, _ = driver.execute_query(
                "MATCH (x:Subject {ns: $ns}) RETURN count(x) AS n", ns=store.namespace, database_=s["database"]
            )
        assert records[0]["n"] == 0
    finally:
        store.close()


def test_a_writer_that_remembers_a_persons_edges_writes_them_again_after_another_writer_erased_them(
    tmp_path: Path,
) -> None:
    """A store object remembers the lineage edges it wrote and does not MERGE them again (graph/neo4j_plan.py,
    Written); an erasure through another store object deletes them. The person's next events, after the erasure,
    must bring every edge back: the writer sees the person's tombstone and plans them in full."""
    store = neo4j_store(tmp_path)
    other = open_store(server_settings()["uri"], options(store.namespace))
    writer, eraser = Handler(store, POLICY, KEY), Handler(other, POLICY, KEY)
    try:
        writer.handle([validate_event(e, writer.taxonomy) for e in alice_before()])
        with_alice = store.stats().edges
        eraser.handle([validate_event(erased("a-erase", "2026-03-10T00:00:00Z"), eraser.taxonomy)])
        without_alice = store.stats().edges
        assert without_alice < with_alice
        # the same flows of Alice's again, each ten days later (after the erasure), under new event ids
        again = [
            e
            | {"event_id": e["event_id"] + "-again", "occurred_at": e["occurred_at"].replace("2026-03-0", "2026-03-1")}
            for e in alice_before()
            if e["subject"]["id"] == ALICE and e["kind"] != "opted_out"
        ]
        assert writer.handle([validate_event(e, writer.taxonomy) for e in again]).applied == len(again)
        assert store.stats().edges == with_alice, "edges the writer remembered were not written again"
        answer = store.who_has(KEY(ALICE))
        assert answer is not None
        assert {r.id for r in answer.recipients} >= {"hk-affiliate", "brokr"}
    finally:
        other.close()
        store.close()


def test_first_binds_of_a_new_namespace_at_once_all_pass_with_one_key_and_one_wins_with_two(tmp_path: Path) -> None:
    """The fingerprint was read in a WITH before the SET that wrote it: under read-committed isolation two first
    binds with different keys could both read none and both pass. Read inside the SET, the node is locked first."""
    neo4j_store(tmp_path).close()  # a server to write to (skip, or fail under CI, without one)
    namespaces: list[str] = []

    def new_store() -> Any:
        namespaces.append(new_namespace())
        return lambda ns=namespaces[-1]: open_store(server_settings()["uri"], options(ns))

    try:
        check_first_binds(new_store, rounds=6)
    finally:
        for ns in namespaces:
            delete_namespace(ns)


def test_a_batch_write_the_server_aborts_as_a_deadlock_is_run_again_counted_and_written_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two workers locking the same nodes in turn: Neo4j aborts one transaction (a transient error) and the driver
    runs it again. The first attempt here writes the whole batch and is then aborted; the store must count the retry
    (ApplyResult.retries, the worker's health file `write_retries`) and leave the graph, its report aggregates
    included, as one clean write does."""
    from neo4j.exceptions import TransientError

    from graph import neo4j_writes as module
    from tests.contract.test_batches import state, stream

    clean, retried = neo4j_store(tmp_path), neo4j_store(tmp_path)
    events = stream()
    try:
        first = Handler(clean, POLICY, KEY)
        reference = first.handle([validate_event(e, first.taxonomy) for e in events])
        assert reference.retries == 0
        original, calls = module.apply_batch, []

        def aborted_once(tx: Any, *args: Any, **kwargs: Any) -> Any:
            out = original(tx, *args, **kwargs)
            calls.append(1)
            if len(calls) == 1:  # everything written, then the server picks this transaction as a deadlock's victim
                raise TransientError("ForsetiClient can't acquire ExclusiveLock (a simulated deadlock)")
            return out

        monkeypatch.setattr(module, "apply_batch", aborted_once)
        handler = Handler(retried, POLICY, KEY)
        result = handler.handle([validate_event(e, handler.taxonomy) for e in events])
        assert len(calls) == 2 and result.retries == 1
        assert (result.applied, result.duplicates, len(result.findings)) == (
            reference.applied,
            reference.duplicates,
            len(reference.findings),
        )
        assert state(retried) == state(clean)
        assert sorted(retried.aggregate_totals(), key=str) == sorted(clean.aggregate_totals(), key=str)  # any order
    finally:
        clean.close()
        retried.close()
