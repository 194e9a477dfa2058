"""`lineage serve` holding a SQLite store open: an erasure (by `lineage erase`, or posted to the server) leaves no byte
of the person in the store's files, and every way of stopping the server closes the store."""

from __future__ import annotations

import io
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from graph.pseudonym import Pseudonymizer
from lineage.cli import main
from lineage.simulator import simulate
from tests.conftest import TEST_KEY
from tests.services import free_port
from tests.web.conftest import World

LINEAGE = [sys.executable, "-c", "import sys; from lineage.cli import main; sys.exit(main())"]


@dataclass
class Server:
    process: subprocess.Popen[str]
    base: str
    db: Path
    tokens: dict[str, str]
    env: dict[str, str]

    def auth(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


@pytest.fixture
def server(world: World, tmp_path: Path) -> Iterator[Server]:
    db = tmp_path / "lineage.db"
    shutil.copy(world.db, db)
    env = dict(os.environ, LINEAGE_PSEUDONYM_KEY=TEST_KEY.hex(), LINEAGE_TOKENS_FILE=str(tmp_path / "t.json"))
    env["LINEAGE_AUDIT_LOG"] = str(tmp_path / "audit.jsonl")
    tokens = {}
    for role in ("dpo", "service"):
        add = [*LINEAGE, "tokens", "add", "--role", role, "--name", role]
        tokens[role] = subprocess.run(add, env=env, capture_output=True, text=True, check=True).stdout.strip()  # noqa: S603
    port = free_port()
    process = subprocess.Popen(  # noqa: S603 - our own command
        [*LINEAGE, "serve", "--port", str(port), "--store", f"sqlite:///{db}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    base = f"http://127.0.0.1:{port}"
    for _ in range(150):
        try:
            httpx.get(base + "/openapi.json", timeout=1)
            break
        except httpx.TransportError:
            time.sleep(0.1)
    yield Server(process, base, db, tokens, env)
    if process.poll() is None:
        process.kill()
        process.communicate(timeout=10)


def _event_ids(person: str) -> list[str]:
    """The person's event ids in the world's store (the same simulation as tests/web/conftest.py)."""
    return [
        str(s.event["event_id"])
        for s in simulate(20, 10, 3, undeclared_rate=0.04)
        if s.event["subject"]["id"] == person
    ]


def _traces(db: Path, needles: list[str]) -> list[str]:
    files = [p.read_bytes() for p in (db, Path(f"{db}-wal"), Path(f"{db}-shm")) if p.exists()]
    return [n for n in needles if any(n.encode() in content for content in files)]


def test_lineage_erase_beside_a_running_server_leaves_no_byte(
    server: Server, world: World, monkeypatch: pytest.MonkeyPatch
) -> None:
    ids = _event_ids(world.person)
    who = httpx.get(f"{server.base}/api/subjects/{quote(world.person, safe='')}", headers=server.auth("dpo"))
    assert who.status_code == 200 and who.json()["recipients"]  # the server has read the person
    assert len(_traces(server.db, ids)) == len(ids) > 10
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", TEST_KEY.hex())
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", server.env["LINEAGE_AUDIT_LOG"])  # one trail for console and command line
    out, err = io.StringIO(), io.StringIO()
    assert main(["erase", world.person, "--store", f"sqlite:///{server.db}"], out, err) == 0, err.getvalue()
    assert "has left the store's files" in out.getvalue()
    assert server.process.poll() is None  # still serving, store open
    assert _traces(server.db, ids) == []
    assert (
        httpx.get(f"{server.base}/api/subjects/{quote(world.person, safe='')}", headers=server.auth("dpo")).json()[
            "recipients"
        ]
        == []
    )
    trail = [json.loads(line) for line in Path(server.env["LINEAGE_AUDIT_LOG"]).read_text().splitlines()]
    assert [(e["client"], e["action"]) for e in trail][-3:-1] == [("api", "who-has"), ("cli", "erase")]
    assert main(["audit", "verify"], io.StringIO(), io.StringIO()) == 0  # both writers kept one chain


def test_an_erasure_posted_to_the_server_leaves_no_byte_while_it_runs(server: Server, world: World) -> None:
    ids = _event_ids(world.plain_person)
    erasure = {
        "schema_version": 1,
        "event_id": "erasure-1",
        "kind": "erased",
        "occurred_at": "2030-01-01T00:00:00Z",
        "emitted_by": "dpo-desk",
        "subject": {"id": world.plain_person, "type": "customer"},
    }
    answer = httpx.post(f"{server.base}/api/events", json=[erasure], headers=server.auth("service"))
    assert answer.status_code == 200 and answer.json()["applied"] == 1 and answer.json()["erasures_pending"] == []
    assert _traces(server.db, ids) == []
    pseudonym = Pseudonymizer(TEST_KEY)(world.plain_person)
    files = b"".join(p.read_bytes() for p in (server.db, Path(f"{server.db}-wal")) if p.exists())
    assert files.count(pseudonym.encode()) == 4  # the tombstone and the erasure's event row, each with its index


@pytest.mark.parametrize(("sig", "code"), [(signal.SIGTERM, 0), (signal.SIGHUP, 0), (signal.SIGINT, 130)])
def test_every_way_of_stopping_the_server_closes_the_store(server: Server, sig: signal.Signals, code: int) -> None:
    assert httpx.get(f"{server.base}/api/health", headers=server.auth("service")).status_code == 200
    assert Path(f"{server.db}-wal").exists()  # open: SQLite keeps its write-ahead log beside the file
    server.process.send_signal(sig)
    _, err = server.process.communicate(timeout=20)
    assert server.process.returncode == code, err
    assert "Traceback" not in err
    # the last connection closed: the log was written back and removed
    assert not Path(f"{server.db}-wal").exists() and not Path(f"{server.db}-shm").exists()
