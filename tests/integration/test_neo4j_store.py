"""Neo4jGraphStore on the server from docker/local/neo4j.sh: replay, constraints, errors, same answers as SQLite."""

from __future__ import annotations

import io
import json
import socket
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import pytest

from graph.pseudonym import Pseudonymizer
from graph.store import ApplyResult, GraphStore, StoreAuthError, StoreUnavailable
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.neo4j_backend import delete_namespace, neo4j_store, new_namespace, options, server_settings
from tests.factories import ADVERTISER, AFFILIATE, BROKER, event

pytestmark = pytest.mark.integration


neo4j = pytest.importorskip("neo4j")
from graph.neo4j_schema import CONSTRAINTS, INDEXES, RETIRED_INDEXES  # noqa: E402 - needs the driver
from graph.neo4j_store import Neo4jGraphStore  # noqa: E402

KEY = Pseudonymizer(TEST_KEY)


def counts(result: ApplyResult) -> tuple[int, int]:
    return (result.applied, result.duplicates)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Neo4jGraphStore]:
    s = neo4j_store(tmp_path)
    assert isinstance(s, Neo4jGraphStore)
    yield s
    s.close()


def cypher(query: str, **params: Any) -> list[dict[str, Any]]:
    """Run Cypher on the test server directly, bypassing the store."""
    s = server_settings()
    with neo4j.GraphDatabase.driver(s["uri"], auth=(s["user"], s["password"])) as driver:
        records, _, _ = driver.execute_query(query, params, database_=s["database"])
    return [r.data() for r in records]


def graph_counts(ns: str) -> dict[str, int]:
    """Nodes per label and relationships per type in one namespace, counted by Cypher."""
    nodes = cypher("MATCH (n {ns: $ns}) UNWIND labels(n) AS label RETURN label, count(*) AS n", ns=ns)
    rels = cypher("MATCH (n {ns: $ns})-[r]->() RETURN type(r) AS type, count(*) AS n", ns=ns)
    counts = {f":{r['label']}": r["n"] for r in nodes} | {f"[:{r['type']}]": r["n"] for r in rels}
    counts["nodes"] = sum(r["n"] for r in nodes)
    counts["relationships"] = sum(r["n"] for r in rels)
    return counts


def events() -> list[dict[str, Any]]:
    """Collections, uses and shares of three people, with undeclared flows (so alerts) and a consent withdrawal."""
    out: list[dict[str, Any]] = []
    for i, person in enumerate(("alice@example.com", "bob@example.com", "carol@example.com")):
        day = lambda n: f"2026-03-0{i + n}T09:00:00Z"  # noqa: E731, B023 - used at once
        out += [
            event(
                "collected",
                event_id=f"c-{i}",
                subject_id=person,
                occurred_at=day(1),
                data_categories=["user.contact.email", "user.name"],
            ),
            event("used", event_id=f"u-{i}", subject_id=person, occurred_at=day(2), purpose="analytics.reporting"),
            event("shared", event_id=f"s-{i}", subject_id=person, occurred_at=day(3), recipient=AFFILIATE),
            event(
                "shared",
                event_id=f"b-{i}",
                subject_id=person,
                occurred_at=day(4),
                recipient=BROKER,
                purpose="marketing.advertising",
            ),
            event(
                "shared",
                event_id=f"a-{i}",
                subject_id=person,
                occurred_at=day(5),
                recipient=ADVERTISER,
                purpose="personalize.profiling",
            ),
        ]
    out.append({
        "schema_version": 1, "event_id": "w-0", "kind": "consent_withdrawn", "occurred_at": "2026-03-09T00:00:00Z",
        "emitted_by": "preference-centre", "subject": {"id": "alice@example.com", "type": "customer"},
    })  # fmt: skip
    return out


def changes(store: GraphStore) -> list[Any]:
    handler = Handler(store, default_policy(), KEY)
    return handler.changes([validate_event(e, handler.taxonomy) for e in events()])


def test_replaying_the_same_events_leaves_node_and_relationship_counts_unchanged(store: Neo4jGraphStore) -> None:
    batch = changes(store)
    assert counts(store.apply(batch)) == (len(batch), 0)
    before, stats = graph_counts(store.namespace), store.stats()
    assert before[":Event"] == len(batch) and before[":Alert"] > 0 and before[":Consent"] == 1

    # the store itself skips processed events (inside its write transaction), without the handler's pre-check
    assert counts(store.apply(batch)) == (0, len(batch))
    assert counts(store.apply(batch[:3] + batch[:3])) == (0, 6)
    handler = Handler(store, default_policy(), KEY)
    assert handler.handle([validate_event(e, handler.taxonomy) for e in events()]).applied == 0
    assert graph_counts(store.namespace) == before
    assert store.stats() == stats
    # a data event is the evidence of the lineage edges its fields give, with one ABOUT to its person
    assert stats.evidence == sum(len(set(cs.edges)) for cs in batch) > 0
    assert before["[:ABOUT]"] == sum(1 for cs in batch if cs.categories) and "[:EVIDENCE]" not in before
    about = cypher("MATCH (e:Event {ns: $ns})-[:ABOUT]->(s) RETURN e.subject = s.key AS same", ns=store.namespace)
    assert {r["same"] for r in about} == {True}
    assert stats.edges == sum(before.get(f"[:{t}]", 0) for t in ("HOLDS", "COLLECTED_FROM", "USED_FOR", "SHARED_WITH"))


def test_the_same_event_twice_in_one_batch_is_applied_once(make_two: tuple[Neo4jGraphStore, Neo4jGraphStore]) -> None:
    twice, once = make_two
    batch = changes(twice)[:4]
    assert counts(twice.apply(batch + batch)) == (4, 4)
    assert counts(once.apply(batch)) == (4, 0)
    assert graph_counts(twice.namespace) == graph_counts(once.namespace)


@pytest.fixture
def make_two(tmp_path: Path) -> Iterator[tuple[Neo4jGraphStore, Neo4jGraphStore]]:
    first, second = neo4j_store(tmp_path), neo4j_store(tmp_path)
    assert isinstance(first, Neo4jGraphStore) and isinstance(second, Neo4jGraphStore)
    yield first, second
    first.close()
    second.close()


def test_namespaces_in_one_database_are_independent(make_two: tuple[Neo4jGraphStore, Neo4jGraphStore]) -> None:
    first, second = make_two
    batch = changes(first)
    first.apply(batch)
    assert second.processed([cs.event.event_id for cs in batch]) == set()
    assert second.who_has(KEY("alice@example.com")) is None and second.alerts() == []
    assert counts(second.apply(batch)) == (len(batch), 0)  # the same event ids, another graph
    assert second.stats() == first.stats()


def test_concurrent_writers_apply_each_event_once(make_two: tuple[Neo4jGraphStore, Neo4jGraphStore]) -> None:
    shared, alone = make_two
    batch = changes(shared)
    writers = [Neo4jGraphStore.from_url(server_settings()["uri"], options(shared.namespace)) for _ in range(4)]
    results: list[ApplyResult] = []
    try:
        threads = [threading.Thread(target=lambda w=w: results.append(w.apply(batch))) for w in writers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
    finally:
        for w in writers:
            w.close()
    assert sum(r.applied for r in results) == len(batch)
    alone.apply(batch)
    for s in (shared, alone):
        assert s.stats() == alone.stats() and s.alerts() == alone.alerts()
        assert s.who_has(KEY("alice@example.com")) == alone.who_has(KEY("alice@example.com"))
    assert graph_counts(shared.namespace) == graph_counts(alone.namespace)


def test_an_index_no_query_uses_is_dropped_at_open(store: Neo4jGraphStore) -> None:
    """An index an earlier version made (lineage_event_time) costs every write an entry and serves no read: a store
    opened on a database that has it drops it."""
    (name,) = RETIRED_INDEXES
    cypher(f"CREATE INDEX {name} IF NOT EXISTS FOR (n:Event) ON (n.ns, n.occurred_at)")
    assert name in {r["name"] for r in cypher("SHOW INDEXES YIELD name RETURN name")}
    Neo4jGraphStore.from_url(server_settings()["uri"], options(store.namespace)).close()
    assert name not in {r["name"] for r in cypher("SHOW INDEXES YIELD name RETURN name")}


def test_constraints_and_indexes_exist(store: Neo4jGraphStore) -> None:
    constraints = {
        (r["labelsOrTypes"][0], tuple(r["properties"]))
        for r in cypher(
            "SHOW CONSTRAINTS YIELD type, labelsOrTypes, properties WHERE type CONTAINS 'UNIQUENESS'"
            " RETURN labelsOrTypes, properties"
        )
    }
    assert {(label, ("ns", key)) for _, label, key in CONSTRAINTS} <= constraints
    indexes = {r["name"]: r["properties"] for r in cypher("SHOW INDEXES YIELD name, properties RETURN *")}
    assert all(indexes.get(name) == ["ns", prop] for name, _, prop in INDEXES)
    assert not set(RETIRED_INDEXES) & set(indexes)
    started = time.monotonic()
    Neo4jGraphStore.from_url(server_settings()["uri"], options(store.namespace)).close()  # finds them: no DDL
    assert time.monotonic() - started < 2


def test_wrong_password_is_an_auth_error(store: Neo4jGraphStore) -> None:  # the fixture skips without a server
    with pytest.raises(StoreAuthError, match="refused the credentials"):
        wrong = replace(options(), neo4j_password="not-the-password")  # noqa: S106 - a test value
        Neo4jGraphStore.from_url(server_settings()["uri"], wrong)


def test_unreachable_server_is_unavailable_quickly() -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    started = time.monotonic()
    with pytest.raises(StoreUnavailable, match=f"127.0.0.1:{port}"):
        Neo4jGraphStore.from_url(f"bolt://127.0.0.1:{port}", options())
    assert time.monotonic() - started < 5


def _write_events(path: Path) -> list[str]:
    """One simulated traffic file (the factories' events if the simulator is absent); returns the people in it."""
    try:
        from lineage.simulator import simulate, write_jsonl
    except ImportError:
        lines = events()
        path.write_text("".join(json.dumps(e) + "\n" for e in lines), encoding="utf-8")
        return sorted({e["subject"]["id"] for e in lines})
    sims = list(simulate(12, 10, 3))
    with path.open("w", encoding="utf-8") as fh:
        write_jsonl(sims, fh, None)
    return sorted({s.event["subject"]["id"] for s in sims})


def _cli(*argv: str) -> str:
    from lineage.cli import main

    out, err = io.StringIO(), io.StringIO()
    code = main(list(argv), out=out, err=err)
    assert code == 0, err.getvalue()
    return out.getvalue()


def _cli_env(mp: pytest.MonkeyPatch) -> None:
    s = server_settings()
    mp.setenv("LINEAGE_PSEUDONYM_KEY", TEST_KEY.hex())
    mp.setenv("LINEAGE_NEO4J_USER", s["user"])
    mp.setenv("LINEAGE_NEO4J_PASSWORD", s["password"])
    mp.setenv("LINEAGE_NEO4J_DATABASE", s["database"])


@dataclass
class Ingested:
    """One file ingested with `lineage ingest` into SQLite and into a Neo4j namespace."""

    sqlite: str
    graph: str
    store: Neo4jGraphStore
    people: list[str]
    file: Path
    counts: dict[str, int]


@pytest.fixture(scope="module")
def ingested(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Ingested]:
    folder = tmp_path_factory.mktemp("cli")
    store = neo4j_store(folder)
    assert isinstance(store, Neo4jGraphStore)
    try:
        file = folder / "events.jsonl"
        people = _write_events(file)
        sqlite = f"sqlite:///{folder / 'lineage.db'}"
        graph = f"{server_settings()['uri']}?namespace={store.namespace}"
        with pytest.MonkeyPatch.context() as mp:
            _cli_env(mp)
            for url in (sqlite, graph):
                _cli("ingest", str(file), "--store", url)
        yield Ingested(sqlite, graph, store, people, file, graph_counts(store.namespace))
    finally:
        store.close()


def test_cli_ingest_replayed_changes_no_counts(ingested: Ingested, monkeypatch: pytest.MonkeyPatch) -> None:
    _cli_env(monkeypatch)
    _cli("ingest", str(ingested.file), "--store", ingested.graph)
    assert graph_counts(ingested.store.namespace) == ingested.counts


def test_cli_stats_alerts_flows_and_consent_equal_sqlites(ingested: Ingested, monkeypatch: pytest.MonkeyPatch) -> None:
    from graph.registry import open_store

    _cli_env(monkeypatch)
    sqlite, graph = ingested.sqlite, ingested.graph
    assert _cli("stats", "--store", graph) == _cli("stats", "--store", sqlite)
    assert _cli("alerts", "--store", graph, "--format", "json") == _cli("alerts", "--store", sqlite, "--format", "json")
    with open_store(sqlite) as lite:
        assert ingested.store.flows() == lite.flows()
        keys = [KEY(p) for p in ingested.people]
        assert ingested.store.consent_state(keys) == lite.consent_state(keys)


def test_cli_who_has_equals_sqlites_for_every_person(ingested: Ingested, monkeypatch: pytest.MonkeyPatch) -> None:
    _cli_env(monkeypatch)
    assert ingested.people
    for person in ingested.people:
        expected = _cli("who-has", person, "--store", ingested.sqlite, "--format", "json")
        assert json.loads(expected)["categories"], person
        assert _cli("who-has", person, "--store", ingested.graph, "--format", "json") == expected, person


def test_flow_aggregates_equal_sqlites_in_every_period(ingested: Ingested, monkeypatch: pytest.MonkeyPatch) -> None:
    """The same simulated traffic through both stores: the same flows and rollups, in whole and partial periods."""
    from datetime import UTC, datetime

    from graph.registry import open_store

    _cli_env(monkeypatch)
    with open_store(ingested.sqlite) as lite:
        everything = lite.flows()
        assert any(f.events > 3 for f in everything)
        middle = sorted(f.first_seen for f in everything)[len(everything) // 2]
        noon = datetime(middle.year, middle.month, middle.day, 12, tzinfo=UTC)
        periods: list[dict[str, Any]] = [{}, {"since": noon}, {"until": noon}, {"since": noon.replace(day=1, hour=0)}]
        for kw in periods:
            assert ingested.store.flow_summary(**kw) == lite.flow_summary(**kw), kw


def test_scratch_namespaces_are_deleted_on_close(tmp_path: Path) -> None:
    scratch = neo4j_store(tmp_path)
    assert isinstance(scratch, Neo4jGraphStore)
    scratch.apply(changes(scratch))
    assert graph_counts(scratch.namespace)["nodes"] > 0
    scratch.close()
    assert graph_counts(scratch.namespace)["nodes"] == 0
    delete_namespace(new_namespace())  # an unknown namespace: nothing to do


def test_workers_opening_a_new_database_together_race_for_its_indexes_and_all_start(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Workers starting together on a new database race to create the indexes; the losers get Neo4j's
    EquivalentSchemaRuleAlreadyExists (seen when two workers and an alerter started on a fresh server). Reproduced
    with an index no store has made yet, created by several stores opening at once."""
    import uuid

    name = f"lineage_race_{uuid.uuid4().hex[:8]}"
    monkeypatch.setattr("graph.neo4j_schema.INDEXES", (*INDEXES, (name, "Data", f"race_{name[-8:]}")))
    start, opened, failures = threading.Barrier(6), [], []

    def open_one() -> None:
        start.wait()
        try:
            opened.append(neo4j_store(tmp_path))
        except Exception as exc:  # noqa: BLE001 - reported below
            failures.append(exc)

    threads = [threading.Thread(target=open_one) for _ in range(6)]
    try:
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout=60)
        assert not failures, failures
        assert len(opened) == 6
    finally:
        for s in opened:
            s.close()
        cypher(f"DROP INDEX {name} IF EXISTS")
