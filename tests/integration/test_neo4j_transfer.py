"""`lineage neo4j export|import` on the shared server, in a namespace of its own: the graph read back from an export
answers every question as the original did; bad files and a target that is not empty are refused."""

from __future__ import annotations

import io
import json
import re
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from graph.neo4j_transfer import TransferError
from graph.pseudonym import Pseudonymizer
from graph.store import StoreUnavailable
from lineage.cli import main
from lineage.simulator import simulate
from policies import default_policy
from schemas.parsing import validate_event
from streams.handler import Handler
from streams.notify import send_art19_notices
from tests.conftest import TEST_KEY
from tests.contract.neo4j_backend import delete_namespace, new_namespace, options, server_settings
from tests.factories import AFFILIATE, event
from tests.services import require
from tests.streams.test_notify import MemoryNoticeSink

pytestmark = pytest.mark.integration


@pytest.fixture
def namespace() -> Iterator[str]:
    ns = new_namespace()
    yield ns
    delete_namespace(ns)


def _open(namespace: str):  # type: ignore[no-untyped-def]
    from graph.neo4j_store import Neo4jGraphStore

    try:
        return Neo4jGraphStore.from_url(server_settings()["uri"], options(namespace))
    except StoreUnavailable as exc:
        require("Neo4j", str(exc))
        raise


def _answers(store, people: list[str]):  # type: ignore[no-untyped-def]
    key = Pseudonymizer(TEST_KEY)
    return (
        store.stats(),
        [store.who_has(key(p)) for p in people],
        store.alerts(),
        store.erasures(None),
        store.consent_and_erasures(),
        store.flows(),
        store.notices(),
    )


def test_an_export_imported_into_an_empty_namespace_answers_the_same(namespace: str, tmp_path: Path) -> None:
    sims = [s.event for s in simulate(10, 3, seed=9, undeclared_rate=0.1)]
    people = sorted({e["subject"]["id"] for e in sims})
    store = _open(namespace)
    handler = Handler(store, default_policy(), Pseudonymizer(TEST_KEY))
    # the latest news of a recipient comes from the person who is then erased
    late = event(
        "shared",
        event_id="late-share-of-the-erased",
        subject_id=people[0],
        occurred_at="2029-06-01T00:00:00Z",
        recipient=dict(AFFILIATE, id="only-from-the-erased"),
    )
    handler.handle([validate_event(e, handler.taxonomy) for e in [*sims, late]])
    erasure = {
        "schema_version": 1,
        "event_id": "erase-1",
        "kind": "erased",
        "occurred_at": "2030-01-01T00:00:00Z",
        "emitted_by": "dpo",
        "subject": {"id": people[0], "type": "customer"},
    }
    handler.handle([validate_event(erasure, handler.taxonomy)])
    store.acknowledge_alert(store.alerts()[0].alert_id)
    # the erasure's Art. 19 notices, one acknowledged, and what each recipient received (its tombstone) come across
    erased_key = Pseudonymizer(TEST_KEY)(people[0])
    sent = send_art19_notices(store, erased_key, people[0], default_policy(), MemoryNoticeSink())
    assert sent and sent[0].record and store.acknowledge_notice(sent[0].record.notice_id, datetime.now(UTC), "dpo")
    (tomb,) = store.erasures(None)[erased_key]
    assert ("only-from-the-erased", "user.contact.email") in (tomb.received or ())
    before = _answers(store, people)
    file = tmp_path / "graph.jsonl"
    with file.open("w", encoding="utf-8") as fh:
        counts = store.export_graph(fh)
    store.close()
    assert counts.nodes > 100 and counts.relationships > 100
    erased_ids = {e["event_id"] for e in sims if e["subject"]["id"] == people[0]} | {late["event_id"]}
    text = file.read_text(encoding="utf-8")
    assert [i for i in erased_ids if i in text] == []  # not even in the recipient catalogue's tie-break
    assert "only-from-the-erased" in text  # the recipient stays (Art. 19)

    delete_namespace(namespace)
    store = _open(namespace)  # a new Meta node, nothing else
    try:
        assert store.import_graph(lambda: file.open(encoding="utf-8")) == counts
        assert _answers(store, people) == before
        Handler(store, default_policy(), Pseudonymizer(TEST_KEY))  # the key fingerprint came across
        with pytest.raises(TransferError, match="already holds"):
            store.import_graph(lambda: file.open(encoding="utf-8"))
    finally:
        store.close()


def test_files_that_are_not_an_export_of_the_namespace_are_refused(namespace: str, tmp_path: Path) -> None:
    store = _open(namespace)
    header = json.dumps({"format": "privacy-lineage/neo4j-graph/v1", "namespace": namespace})
    node = {"node": "4:x:1", "labels": ["Subject"], "props": {"ns": namespace, "key": "p_1"}}
    try:
        cases = {
            "not a privacy-lineage Neo4j export": ['{"format": "other"}'],
            "the export is of namespace 'another'": [
                json.dumps({"format": "privacy-lineage/neo4j-graph/v1", "namespace": "another"})
            ],
            "line 2: labels ['Person'] are not the lineage model's": [
                header,
                json.dumps(node | {"labels": ["Person"]}),
            ],
            "line 2: a node of another namespace": [header, json.dumps(node | {"props": {"ns": "x", "key": "p"}})],
            "line 3: relationship type 'KNOWS'": [
                header,
                json.dumps(node),
                json.dumps({"rel": "5:x:1", "type": "KNOWS", "from": "4:x:1", "to": "4:x:1", "props": {}}),
            ],
            "line 2: not JSON": [header, "{"],
        }
        for message, lines in cases.items():
            with pytest.raises(TransferError, match=re.escape(message)):
                store.import_graph(lambda lines=lines: lines)
            assert store.stats().events == 0 and store.stats().subjects == 0  # nothing written by a refused file
    finally:
        store.close()


def test_the_cli_exports_to_a_new_owner_only_file_and_refuses_a_sqlite_store(
    namespace: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    s = server_settings()
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", TEST_KEY.hex())
    monkeypatch.setenv("LINEAGE_NEO4J_PASSWORD", s["password"])
    monkeypatch.setenv("LINEAGE_NEO4J_NAMESPACE", namespace)
    _open(namespace).close()
    target = tmp_path / "graph.jsonl"
    out, err = io.StringIO(), io.StringIO()
    assert main(["neo4j", "export", str(target), "--store", s["uri"]], out, err) == 0, err.getvalue()
    assert target.stat().st_mode & 0o777 == 0o600 and out.getvalue().startswith("exported 1 nodes")
    assert main(["neo4j", "export", str(target), "--store", s["uri"]], io.StringIO(), err) == 2
    assert "exists" in err.getvalue()
    err = io.StringIO()
    assert main(["neo4j", "import", str(target), "--store", f"sqlite:///{tmp_path / 'l.db'}"], io.StringIO(), err) == 2
    assert "is not a Neo4j store" in err.getvalue()
