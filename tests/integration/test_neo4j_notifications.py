"""The Neo4j driver's notifications (warnings about unknown labels, types, properties) never reach a user or a log."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from tests.conftest import TEST_KEY
from tests.contract.neo4j_backend import delete_namespace, neo4j_store, new_namespace, server_settings
from tests.integration.test_neo4j_store import cypher, events

pytestmark = pytest.mark.integration

neo4j = pytest.importorskip("neo4j")
from graph.neo4j_schema import CONSTRAINTS, PROPERTY_KEYS, RELATIONSHIP_TYPES  # noqa: E402 - needs the driver
from graph.neo4j_store import Neo4jGraphStore  # noqa: E402

KEY = Pseudonymizer(TEST_KEY)
ERASURE = {
    "schema_version": 1, "event_id": "erase-1", "kind": "erased", "occurred_at": "2026-03-20T00:00:00Z",
    "emitted_by": "privacy-desk", "subject": {"id": "bob@example.com", "type": "customer"}, "reason": "Art. 17",
}  # fmt: skip


@pytest.fixture
def store(tmp_path: Path) -> Iterator[Neo4jGraphStore]:
    s = neo4j_store(tmp_path)
    assert isinstance(s, Neo4jGraphStore)
    yield s
    s.close()


def workload(store: Neo4jGraphStore) -> None:
    """Every kind of write and every named query, reads first (as on a new database: nothing written yet)."""
    alice = KEY("alice@example.com")
    assert store.who_has(alice) is None and store.alerts() == [] and store.flows() == []
    store.flows(since=datetime(2026, 3, 2, 12, tzinfo=UTC)), store.occurred(["x"])
    store.erasures([alice]), store.consent_state([alice]), store.stats()
    handler = Handler(store, default_policy(), KEY)
    handler.handle([validate_event(e, handler.taxonomy) for e in [*events(), ERASURE]])
    assert store.who_has(alice) is not None and store.alerts() and store.flows()
    store.erasures(None), store.consent_and_erasures(), store.stats(), store.has_events()
    store.flows(since=datetime(2026, 3, 2, 12, tzinfo=UTC)), list(store.event_facts())


def test_every_label_type_and_property_the_store_writes_is_created_with_its_schema(store: Neo4jGraphStore) -> None:
    workload(store)
    ns = store.namespace
    labels = cypher("MATCH (n {ns: $ns}) UNWIND labels(n) AS l RETURN collect(DISTINCT l) AS x", ns=ns)[0]["x"]
    types = cypher("MATCH ({ns: $ns})-[r]->() RETURN collect(DISTINCT type(r)) AS x", ns=ns)[0]["x"]
    keys = cypher(
        "CALL { MATCH (n {ns: $ns}) UNWIND keys(n) AS k RETURN k UNION MATCH ({ns: $ns})-[r]->() UNWIND keys(r) AS k"
        " RETURN k } RETURN collect(DISTINCT k) AS x",
        ns=ns,
    )[0]["x"]
    assert {"Tombstone", "Consent", "Alert"} <= set(labels) and "TRIGGERED" in types and "erased_at" in keys
    assert set(labels) <= {label for _, label, _ in CONSTRAINTS}
    assert set(types) <= set(RELATIONSHIP_TYPES)
    assert set(keys) <= set(PROPERTY_KEYS)


def test_no_notification_reaches_the_log_or_stderr_on_a_fresh_namespace(
    store: Neo4jGraphStore, caplog: pytest.LogCaptureFixture, capfd: pytest.CaptureFixture[str]
) -> None:
    caplog.set_level(logging.DEBUG, logger="neo4j")
    workload(store)
    # a query naming what no database holds: the server would warn about both, were it asked to
    query = "MATCH (a {ns: $ns})-[:NO_SUCH_TYPE]->() RETURN a.no_such_property"
    records, summary, _ = store._driver.execute_query(query, ns=store.namespace, database_=store.database)
    assert records == []
    assert [s.gql_status for s in summary.gql_status_objects if s.is_notification] == []
    assert [r.getMessage() for r in caplog.records if r.name == "neo4j.notifications"] == []
    assert "notification" not in capfd.readouterr().err.lower()


def test_the_cli_on_a_new_namespace_prints_nothing_on_stderr(tmp_path: Path) -> None:
    """What the issue saw: who-has and the first reads on a new graph printed a screenful of driver warnings."""
    s, ns = server_settings(), new_namespace()
    env = os.environ | {
        "LINEAGE_STORE": f"{s['uri']}?namespace={ns}",
        "LINEAGE_NEO4J_USER": s["user"],
        "LINEAGE_NEO4J_PASSWORD": s["password"],
        "LINEAGE_NEO4J_DATABASE": s["database"],
        "LINEAGE_PSEUDONYM_KEY": TEST_KEY.hex(),
        "LINEAGE_PSEUDONYM_KEY_FILE": str(tmp_path / "key"),
    }
    try:
        for argv in (["who-has", "alice@example.com"], ["alerts"], ["report", "ropa", "--format", "json"]):
            done = subprocess.run(  # noqa: S603 - our own CLI, fixed arguments
                [sys.executable, "-m", "lineage.cli", *argv], env=env, capture_output=True, text=True, timeout=120
            )
            assert done.returncode == 0, done.stderr
            assert done.stderr == "", argv
    finally:
        delete_namespace(ns)
