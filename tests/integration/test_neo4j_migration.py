"""Neo4j stores written with older schema versions are migrated when opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.graphs import changesets, subject_key
from graph.registry import open_store
from tests.contract.neo4j_backend import neo4j_store, options, server_settings

neo4j = pytest.importorskip("neo4j")
from graph.neo4j_migration import SCHEMA_VERSION  # noqa: E402 - needs the driver
from graph.neo4j_store import Neo4jGraphStore  # noqa: E402

# what version 4 wrote: each data event's evidence as one EVIDENCE relationship per (event, Data node), listing the
# lineage edges (rels, targets, purposes) the event supports there, and no evidence properties or ABOUT on the event
TO_VERSION_4 = """
MATCH (e:Event {ns: $ns})-[a:ABOUT]->(:Subject)
UNWIND e.categories AS category
MATCH (d:Data {ns: $ns, id: e.subject + '|' + category})
WITH e, a, d,
     [['HOLDS', e.role, '']] + CASE WHEN e.source IS NULL THEN [] ELSE [['COLLECTED_FROM', e.source, '']] END
     + CASE WHEN e.purpose IS NULL THEN [] ELSE [['USED_FOR', e.purpose, '']] END
     + CASE WHEN e.recipient IS NULL THEN [] ELSE [['SHARED_WITH', e.recipient, e.purpose]] END AS edges
CREATE (e)-[:EVIDENCE {rels: [x IN edges | x[0]], targets: [x IN edges | x[1]], purposes: [x IN edges | x[2]]}]->(d)
WITH DISTINCT e, a
DELETE a
REMOVE e.categories, e.source, e.purpose, e.recipient
WITH count(*) AS _
MATCH (m:Meta {ns: $ns, name: 'lineage'}) SET m.schema_version = '4'
"""
# ... and kept each lineage edge's count of events, first_seen and last_seen (from the events, before TO_VERSION_4)
EDGE_COUNTS = """
MATCH (d:Data {ns: $ns})-[e]-(t) WHERE type(e) IN ['HOLDS', 'COLLECTED_FROM', 'USED_FOR', 'SHARED_WITH']
CALL (d, e, t) {
  MATCH (ev:Event {ns: $ns, subject: d.subject})
  WHERE d.category IN ev.categories AND CASE type(e)
    WHEN 'HOLDS' THEN ev.role = e.role
    WHEN 'COLLECTED_FROM' THEN ev.source = t.id
    WHEN 'USED_FOR' THEN ev.purpose = t.key
    ELSE ev.recipient = t.id AND ev.purpose = e.purpose END
  WITH count(ev) AS n, min(ev.occurred_at) AS first, max(ev.occurred_at) AS last
  SET e.count = n, e.first_seen = first, e.last_seen = last
}
"""
# what version 1 wrote: one relationship per (event, lineage edge), with single rel/target/purpose properties
TO_VERSION_1 = """
MATCH (e:Event {ns: $ns})-[x:EVIDENCE]->(d)
UNWIND range(0, size(x.rels) - 1) AS i
CREATE (e)-[:EVIDENCE {rel: x.rels[i], target: x.targets[i], purpose: x.purposes[i]}]->(d)
WITH DISTINCT x DELETE x
WITH count(*) AS _
MATCH (m:Meta {ns: $ns, name: 'lineage'}) SET m.schema_version = '1'
"""
EVIDENCE = "MATCH (:Event {ns: $ns})-[x:EVIDENCE]->() RETURN count(x) AS n, count(x.rels) AS lists"
# this version's evidence: data events with their evidence properties and one ABOUT each, no EVIDENCE relationship
SHAPE = """
CALL () {
  MATCH (:Data {ns: $ns})-[x]-() WHERE x.count IS NOT NULL OR x.first_seen IS NOT NULL RETURN count(x) AS counted
}
MATCH (e:Event {ns: $ns})
RETURN count(e.categories) AS data_events, sum(size(coalesce(e.categories, []))) AS categories,
       count(e.source) AS sources, count(e.purpose) AS purposes, count(e.recipient) AS recipients,
       sum(COUNT { (e)-[:ABOUT]->(:Subject {key: e.subject}) }) AS about, sum(COUNT { (e)-[:EVIDENCE]->() }) AS old,
       counted
"""


def test_version_1_evidence_becomes_one_relationship_per_event_and_data_node(tmp_path: Path) -> None:
    store = neo4j_store(tmp_path)
    assert isinstance(store, Neo4jGraphStore)
    store.apply(list(changesets(0, 6)))
    people = [subject_key(i) for i in range(6)]
    before = ([store.who_has(p) for p in people], store.flows(), store.stats())
    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:

        def run(query: str) -> dict[str, Any]:
            records, _, _ = driver.execute_query(query, ns=store.namespace, database_=s["database"])
            return records[0].data() if records else {}

        new_format = run(SHAPE)
        assert new_format["about"] == new_format["data_events"] > 0 and new_format["old"] == new_format["counted"] == 0
        run(EDGE_COUNTS)
        run(TO_VERSION_4)
        run(TO_VERSION_1)
        assert run(EVIDENCE) == {"n": before[2].evidence, "lists": 0}
        with open_store(s["uri"], options(store.namespace)) as reopened:
            assert ([reopened.who_has(p) for p in people], reopened.flows(), reopened.stats()) == before
        assert run(SHAPE) == new_format
        assert run("MATCH (m:Meta {ns: $ns}) RETURN m.schema_version AS v") == {"v": SCHEMA_VERSION}
    store.close()


def test_version_2_events_lose_their_batch_mark_and_a_replay_still_changes_nothing(tmp_path: Path) -> None:
    store = neo4j_store(tmp_path)
    assert isinstance(store, Neo4jGraphStore)
    batch = list(changesets(0, 6))
    store.apply(batch)
    people = [subject_key(i) for i in range(6)]
    before = ([store.who_has(p) for p in people], store.flows(), store.stats())
    s = server_settings()
    marks = "MATCH (e:Event {ns: $ns}) RETURN count(e) AS events, count(e.batch) AS marked"
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:

        def run(query: str) -> dict[str, Any]:
            records, _, _ = driver.execute_query(query, ns=store.namespace, database_=s["database"])
            return records[0].data() if records else {}

        events = run(marks)["events"]
        assert events > 0 and run(marks)["marked"] == 0  # this version never stores the mark
        # what version 2 left: every event marked with the id of the attempt that created it
        run(
            "MATCH (e:Event {ns: $ns}) SET e.batch = 'f00d'"
            " WITH count(*) AS _ MATCH (m:Meta {ns: $ns}) SET m.schema_version = '2'"
        )
        assert run(marks) == {"events": events, "marked": events}
        with open_store(s["uri"], options(store.namespace)) as reopened:
            assert run(marks) == {"events": events, "marked": 0}
            assert reopened.apply(batch).applied == 0
            assert ([reopened.who_has(p) for p in people], reopened.flows(), reopened.stats()) == before
        assert run("MATCH (m:Meta {ns: $ns}) RETURN m.schema_version AS v") == {"v": SCHEMA_VERSION}
    store.close()


def test_version_3_gets_its_flow_aggregates_once(tmp_path: Path) -> None:
    store = neo4j_store(tmp_path)
    assert isinstance(store, Neo4jGraphStore)
    batch = list(changesets(0, 40))
    store.apply(batch)
    people = [subject_key(i) for i in range(40)]
    before = ([store.who_has(p) for p in people], store.flow_summary(), store.stats(), store.alerts())
    assert before[1].flows
    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:

        def run(query: str) -> dict[str, Any]:
            records, _, _ = driver.execute_query(query, ns=store.namespace, database_=s["database"])
            return records[0].data() if records else {}

        # what version 3 left: no aggregates, no subject_type on the events
        run("MATCH (n) WHERE n.ns = $ns AND (n:AggUnit OR n:AggKey OR n:AggMonth OR n:AggStep) DETACH DELETE n")
        run("MATCH (e:Event {ns: $ns}) REMOVE e.subject_type WITH count(*) AS _"
            " MATCH (m:Meta {ns: $ns}) SET m.schema_version = '3'")  # fmt: skip
        assert run("MATCH (n:AggUnit {ns: $ns}) RETURN count(n) AS n") == {"n": 0}
        with open_store(s["uri"], options(store.namespace)) as reopened:
            after = (
                [reopened.who_has(p) for p in people],
                reopened.flow_summary(),
                reopened.stats(),
                reopened.alerts(),
            )
            assert after == before
            assert reopened.apply(batch).applied == 0 and reopened.flow_summary() == before[1]
        assert run("MATCH (m:Meta {ns: $ns}) RETURN m.schema_version AS v") == {"v": SCHEMA_VERSION}
        assert run(
            "MATCH (e:Event {ns: $ns}) WHERE e.subject_type IS NULL AND e.kind <> 'erased' RETURN count(e) AS n"
        ) == {"n": 0}
    store.close()


def test_version_4_evidence_moves_onto_the_events_once_and_every_answer_stays(tmp_path: Path) -> None:
    store = neo4j_store(tmp_path)
    assert isinstance(store, Neo4jGraphStore)
    batch = list(changesets(0, 40))
    store.apply(batch)
    people = [subject_key(i) for i in range(40)]
    before = ([store.who_has(p) for p in people], store.flow_summary(), store.stats(), store.alerts())
    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:

        def run(query: str) -> dict[str, Any]:
            records, _, _ = driver.execute_query(query, ns=store.namespace, database_=s["database"])
            return records[0].data() if records else {}

        new_format = run(SHAPE)
        assert new_format["about"] == new_format["data_events"] == len(batch) and new_format["old"] == 0
        run(EDGE_COUNTS)
        run(TO_VERSION_4)
        assert run(SHAPE) == {**dict.fromkeys(new_format, 0), "old": run(EVIDENCE)["n"], "counted": before[2].edges}
        assert run(EVIDENCE)["n"] == sum(len(cs.categories) for cs in batch)  # one per (event, Data node)
        with open_store(s["uri"], options(store.namespace)) as reopened:
            answers = [reopened.who_has(p) for p in people]
            assert (answers, reopened.flow_summary(), reopened.stats(), reopened.alerts()) == before
            assert reopened.apply(batch).applied == 0
        assert run(SHAPE) == new_format
        assert run("MATCH (m:Meta {ns: $ns}) RETURN m.schema_version AS v") == {"v": SCHEMA_VERSION}
        with open_store(s["uri"], options(store.namespace)) as again:  # a migrated store is not migrated again
            assert again.stats() == before[2]
        assert run(SHAPE) == new_format
    store.close()


def test_version_5_tombstones_keep_no_categories_and_later_ones_do(tmp_path: Path) -> None:
    from tests.contract.test_art19_notices import check_older_store, older_store

    store = neo4j_store(tmp_path)
    older_store(store)
    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:
        records, _, _ = driver.execute_query(  # as version 5 left it: tombstones without what each recipient got
            "MATCH (t:Tombstone {ns: $ns}) REMOVE t.received WITH count(t) AS n"
            " MATCH (m:Meta {ns: $ns, name: 'lineage'}) SET m.schema_version = '5' RETURN n",
            ns=store.namespace, database_=s["database"],
        )  # fmt: skip
        assert records[0]["n"] == 1
        with open_store(s["uri"], options(store.namespace)) as reopened:
            check_older_store(reopened)
        records, _, _ = driver.execute_query(
            "MATCH (m:Meta {ns: $ns}) RETURN m.schema_version AS v", ns=store.namespace, database_=s["database"]
        )
        assert records[0]["v"] == SCHEMA_VERSION == "7"
    store.close()


STEPS = "MATCH (x:AggStep {ns: $ns}) RETURN x.ref AS ref, x.month AS month, x.prev AS prev, x.people AS people"


def test_version_6_gets_the_steps_of_its_people_once(tmp_path: Path) -> None:
    from datetime import UTC, datetime

    from tests.contract.test_aggregates import handle as handle_all
    from tests.contract.test_aggregates import history

    store = neo4j_store(tmp_path)
    handle_all(store, history())
    march_on = {"since": datetime(2026, 3, 1, tzinfo=UTC), "until": datetime(2026, 5, 1, tzinfo=UTC)}
    answer = store.flow_summary(**march_on)
    assert any(f.subjects for f in answer.flows)
    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:

        def steps() -> list[dict[str, Any]]:
            records, _, _ = driver.execute_query(STEPS, ns=store.namespace, database_=s["database"])
            return sorted((r.data() for r in records), key=lambda r: (r["ref"], r["month"], r["prev"]))

        before = steps()
        assert before and all(r["people"] > 0 for r in before)
        driver.execute_query(  # as version 6 left it: no steps
            "MATCH (x:AggStep {ns: $ns}) DELETE x WITH count(*) AS _"
            " MATCH (m:Meta {ns: $ns, name: 'lineage'}) SET m.schema_version = '6'",
            ns=store.namespace, database_=s["database"],
        )  # fmt: skip
        with open_store(s["uri"], options(store.namespace)) as reopened:
            assert steps() == before
            assert reopened.flow_summary(**march_on) == answer
        records, _, _ = driver.execute_query(
            "MATCH (m:Meta {ns: $ns}) RETURN m.schema_version AS v", ns=store.namespace, database_=s["database"]
        )
        assert records[0]["v"] == SCHEMA_VERSION
    store.close()


def _downgraded_to_version_1(tmp_path: Path, people: int) -> tuple[Neo4jGraphStore, Any, dict[str, Any]]:
    """A store of ``people`` people, rewritten as version 1 left it; a driver to the server; and the shape of its
    evidence before the rewrite."""
    store = neo4j_store(tmp_path)
    assert isinstance(store, Neo4jGraphStore)
    for start in range(0, people, 500):
        store.apply(list(changesets(start, min(people, start + 500))))
    s = server_settings()
    driver = neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"]))
    current = driver.execute_query(SHAPE, ns=store.namespace, database_=s["database"])[0][0].data()
    driver.execute_query(EDGE_COUNTS, ns=store.namespace, database_=s["database"])
    driver.execute_query(TO_VERSION_4, ns=store.namespace, database_=s["database"])
    driver.execute_query(TO_VERSION_1, ns=store.namespace, database_=s["database"])
    return store, driver, current


def _meta(driver: Any, namespace: str) -> dict[str, Any]:
    records, _, _ = driver.execute_query(
        "MATCH (m:Meta {ns: $ns}) RETURN m.schema_version AS v, m.migrating_by AS owner",
        ns=namespace,
        database_=server_settings()["database"],
    )
    return records[0].data()


def _assert_migrated_once(driver: Any, namespace: str, current: dict[str, Any]) -> None:
    """Each data event with its evidence and one ABOUT again, as before the downgrade (none doubled, no old
    relationship left); this version recorded and no migration lease left."""
    found = driver.execute_query(SHAPE, ns=namespace, database_=server_settings()["database"])[0][0].data()
    assert found == current
    assert _meta(driver, namespace) == {"v": SCHEMA_VERSION, "owner": None}


def test_processes_opening_an_old_store_together_migrate_it_once(tmp_path: Path) -> None:
    """Workers started together on a version 1 store: one migrates, the others wait; before the lease, each
    converted the same evidence and some of it was doubled."""
    import threading

    store, driver, current = _downgraded_to_version_1(tmp_path, 3000)
    s = server_settings()
    try:
        (v1,) = driver.execute_query(EVIDENCE, ns=store.namespace, database_=s["database"])[0]
        assert v1["lists"] == 0 and v1["n"] > 10_000 and current["old"] == 0 and current["about"] > 0
        errors: list[BaseException] = []
        answers: list[Any] = []

        def open_one() -> None:
            try:
                with open_store(s["uri"], options(store.namespace)) as opened:
                    answers.append(opened.stats())
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        threads = [threading.Thread(target=open_one) for _ in range(4)]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert len(answers) == 4 and answers[0].evidence == v1["n"]  # each old relationship is one list entry
        assert all(a == answers[0] for a in answers)
        _assert_migrated_once(driver, store.namespace, current)
    finally:
        driver.close()
        store.close()


def test_a_lease_left_by_a_dead_migrator_is_taken_over_once_it_runs_out(tmp_path: Path) -> None:
    import time

    from graph import neo4j_migration

    store, driver, current = _downgraded_to_version_1(tmp_path, 200)
    s = server_settings()
    try:
        # another process claimed the migration and stopped renewing its lease: it runs out in 2 s
        driver.execute_query(
            "MATCH (m:Meta {ns: $ns}) SET m.migrating_by = 'gone', m.migrating_until = datetime() + duration('PT2S')",
            ns=store.namespace,
            database_=s["database"],
        )
        started = time.monotonic()
        with open_store(s["uri"], options(store.namespace)) as opened:
            waited = time.monotonic() - started
            assert opened.stats().evidence == store.stats().evidence
        assert waited >= 1.5, "the opener must wait while the lease runs"
        assert waited < 2 + 10 * neo4j_migration.POLL_SECONDS + 5
        _assert_migrated_once(driver, store.namespace, current)
    finally:
        driver.close()
        store.close()


def test_a_store_of_a_newer_version_is_refused_and_left_as_it_is(tmp_path: Path) -> None:
    from graph.store import StoreConfigError

    store = neo4j_store(tmp_path)
    assert isinstance(store, Neo4jGraphStore)
    store.apply(list(changesets(0, 3)))
    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:
        driver.execute_query(
            "MATCH (m:Meta {ns: $ns}) SET m.schema_version = '99'", ns=store.namespace, database_=s["database"]
        )
        with pytest.raises(StoreConfigError, match="has schema version 99, which this version of privacy-lineage"):
            open_store(s["uri"], options(store.namespace))
        assert _meta(driver, store.namespace) == {"v": "99", "owner": None}
    store.close()
