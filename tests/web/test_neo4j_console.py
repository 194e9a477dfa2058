"""The console on Neo4j answers as on SQLite: the same events in both stores, the same API answers.

Needs the local Neo4j (docker/local/neo4j.sh start): skips locally without it, fails under CI=true.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
from fastapi.testclient import TestClient

from graph.pseudonym import Pseudonymizer
from graph.sqlite_store import SQLiteGraphStore
from graph.store import GraphStore
from lineage.simulator import simulate
from lineage.web.app import create_app
from lineage.web.audit import AuditLog
from lineage.web.console import Console
from lineage.web.tokens import TokenFile
from policies import default_policy
from schemas.parsing import validate_event
from tests.conftest import TEST_AUDIT_KEY, TEST_KEY

pytestmark = pytest.mark.integration


def _client(store: GraphStore, folder: Path, events: list[dict[str, Any]]) -> tuple[TestClient, dict[str, str]]:
    folder.mkdir()
    audit = AuditLog(folder / "a.jsonl", TEST_AUDIT_KEY, folder / "a.head")
    console = Console(store, default_policy(), Pseudonymizer(TEST_KEY), TokenFile(folder / "t.json"), audit)
    console.handler.handle([validate_event(e, console.handler.taxonomy) for e in events])
    return TestClient(create_app(console)), {"Authorization": f"Bearer {console.tokens.add('dpo', 'dpo')}"}


@pytest.fixture
def both(tmp_path: Path) -> Iterator[tuple[Any, Any, list[dict[str, Any]]]]:
    from tests.contract.neo4j_backend import neo4j_store

    events = [s.event for s in simulate(6, 5, 11, undeclared_rate=0.05)]
    neo = neo4j_store(tmp_path)
    lite = SQLiteGraphStore(tmp_path / "lineage.db")
    try:
        yield _client(neo, tmp_path / "neo", events), _client(lite, tmp_path / "lite", events), events
    finally:
        neo.close()
        lite.close()


def _same(neo: Any, lite: Any, paths: list[str]) -> None:
    (n, n_auth), (s, s_auth) = neo, lite
    for path in paths:
        a, b = n.get(path, headers=n_auth), s.get(path, headers=s_auth)
        assert a.status_code == b.status_code == 200, path
        x, y = a.json(), b.json()
        if isinstance(x, dict) and "header" in x:  # a report: generated_at differs, the rest must not
            x["header"].pop("generated_at"), y["header"].pop("generated_at")
        assert x == y, path


def test_the_console_answers_the_same_on_neo4j_and_sqlite(both: Any) -> None:
    neo, lite, events = both
    people = sorted({e["subject"]["id"] for e in events})
    recipients = lite[0].get("/api/recipients", headers=lite[1]).json()
    paths = ["/api/recipients", "/api/alerts", "/api/stats", "/api/reports/gaps?since=2026-01-01&until=2027-01-01"]
    paths += [f"/api/recipients/{quote(r['recipient']['id'], safe='')}" for r in recipients]
    paths += [f"/api/subjects/{quote(p, safe='')}/alerts" for p in people]
    _same(neo, lite, paths)
    client, auth = neo
    alert = client.get("/api/alerts", headers=auth).json()[0]["alert_id"]
    assert client.post(f"/api/alerts/{alert}/ack", headers=auth).json()["status"] == "acknowledged"
    assert alert not in {a["alert_id"] for a in client.get("/api/alerts?status=open", headers=auth).json()}


def test_who_has_is_the_same_on_neo4j_and_sqlite(both: Any) -> None:
    neo, lite, events = both
    people = sorted({e["subject"]["id"] for e in events})
    _same(neo, lite, [f"/api/subjects/{quote(p, safe='')}" for p in people])
