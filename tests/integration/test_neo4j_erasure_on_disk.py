"""What an erasure leaves in Neo4j's files, and the operator's procedure that removes it (docs/privacy.md, "Erasure
on Neo4j"), on a private Neo4j this test starts, restarts and deletes (docker/local/neo4j.sh with its own Bolt port,
state directory and a small heap; the shared server is not touched).

After ``lineage erase`` and a clean stop, the person's event ids and pseudonym are still in the index, string-store
and transaction-log files. After the procedure (export, stop, delete the database's store and transaction-log
directories, start, import), no file holds any of the event ids, and the pseudonym only where the tombstone and
the erasure's own event keep it."""

from __future__ import annotations

import collections
import io
import json
import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from graph.pseudonym import Pseudonymizer, key_from_text
from lineage.cli import main
from lineage.simulator import simulate
from tests.services import PrivateNeo4j

pytestmark = pytest.mark.integration
KEY = "3c" * 32


@pytest.fixture(scope="module")
def private_neo4j(tmp_path_factory: pytest.TempPathFactory) -> Iterator[PrivateNeo4j]:
    server = PrivateNeo4j(tmp_path_factory.mktemp("private-neo4j"))
    with server.running():
        yield server


def _traces(data: Path, needles: list[str]) -> dict[str, dict[str, int]]:
    """For each file under ``data`` holding any needle: how many of the needles it holds, and how often in all."""
    found: dict[str, dict[str, int]] = {}
    for f in sorted(p for p in data.rglob("*") if p.is_file()):
        content = f.read_bytes()
        held = [n for n in needles if n.encode() in content]
        if held:
            found[str(f.relative_to(data))] = {
                "distinct": len(held),
                "copies": sum(content.count(n.encode()) for n in held),
            }
    return found


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def test_the_procedure_leaves_no_trace_of_an_erased_person_in_any_file(
    private_neo4j: PrivateNeo4j, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", KEY)
    monkeypatch.delenv("LINEAGE_NEO4J_PASSWORD", raising=False)  # the server's and the client's default
    url = private_neo4j.url
    sims = [s.event for s in simulate(12, 6, seed=12)]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in sims), encoding="utf-8")
    victim, _ = collections.Counter(e["subject"]["id"] for e in sims).most_common(1)[0]
    ids = [e["event_id"] for e in sims if e["subject"]["id"] == victim]
    pseudonym = Pseudonymizer(key_from_text(KEY))(victim)
    assert run("ingest", str(events), "--store", url)[0] == 0
    code, _, err = run("erase", victim, "--store", url)
    assert code == 1 and "PENDING" in err  # applied to the graph, not to the files: say so
    private_neo4j.run("stop")  # a clean stop: a checkpoint writes the store files

    left = _traces(private_neo4j.data, [*ids, pseudonym])
    assert sum(f["distinct"] for name, f in left.items() if "index" in name) >= len(ids)  # all of them, still there
    assert any("transaction" in name for name in left), left

    # the procedure: export, stop, delete the database's files, start afresh, import (docs/privacy.md)
    private_neo4j.run("start")
    stats = run("stats", "--store", url)[1]
    export = tmp_path / "graph.jsonl"
    assert run("neo4j", "export", str(export), "--store", url)[0] == 0
    private_neo4j.run("stop")
    shutil.rmtree(private_neo4j.data / "databases" / "neo4j")
    shutil.rmtree(private_neo4j.data / "transactions" / "neo4j")
    private_neo4j.run("start")
    code, out, err = run("neo4j", "import", str(export), "--store", url)
    assert code == 0, err
    export.unlink()
    assert run("stats", "--store", url)[1] == stats
    assert json.loads(run("who-has", victim, "--store", url, "--format", "json")[1])["categories"] == []
    assert json.loads(run("erasures", victim, "--store", url, "--format", "json")[1])  # the tombstone came across
    private_neo4j.run("stop")

    after = _traces(private_neo4j.data, ids)
    assert after == {}, after  # not one of the erased person's event ids, in any file
    # the pseudonym: the tombstone's and the erasure event's `subject` (string store), their two index entries,
    # and the two records of the import transaction that wrote them
    copies = _traces(private_neo4j.data, [pseudonym])
    assert sum(f["copies"] for f in copies.values()) == 6, copies
    assert all("index-3/" not in name for name in copies)
