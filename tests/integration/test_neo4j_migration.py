"""Neo4j stores written with older schema versions are migrated when opened."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from bench.graphs import changesets, subject_key
from graph.registry import open_store
from tests.contract.neo4j_backend import neo4j_store, options, server_settings

neo4j = pytest.importorskip("neo4j")
from graph.neo4j_store import SCHEMA_VERSION, Neo4jGraphStore  # noqa: E402 - needs the driver

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

        new_format = run(EVIDENCE)
        run(TO_VERSION_1)
        assert run(EVIDENCE) == {"n": before[2].evidence, "lists": 0}
        with open_store(s["uri"], options(store.namespace)) as reopened:
            assert ([reopened.who_has(p) for p in people], reopened.flows(), reopened.stats()) == before
        assert run(EVIDENCE) == new_format
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
