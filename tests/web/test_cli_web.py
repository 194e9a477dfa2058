"""`lineage tokens add|list|revoke` and `lineage serve` end to end: tokens hashed on disk, logs without subject ids."""

from __future__ import annotations

import io
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest

from lineage.cli import main
from tests.services import free_port
from tests.web.conftest import World


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def test_tokens_add_list_revoke(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "data"))
    monkeypatch.delenv("LINEAGE_PSEUDONYM_KEY_FILE")
    code, secret, err = run("tokens", "add", "--role", "dpo", "--name", "alice")
    assert code == 0 and secret.startswith("lin_") and "only time" in err
    path = tmp_path / "data" / "privacy-lineage" / "tokens.json"  # beside the key file by default
    stored = path.read_text()
    assert secret.strip() not in stored and json.loads(stored)["tokens"][0]["role"] == "dpo"
    assert path.stat().st_mode & 0o777 == 0o600
    assert run("tokens", "add", "--role", "auditor", "--name", "bob")[0] == 0
    assert run("tokens", "add", "--role", "dpo", "--name", "alice")[0] == 1  # names are unique
    assert run("tokens", "add", "--role", "root", "--name", "eve")[0] == 2  # argparse: not a role
    assert run("tokens", "add", "--role", "dpo", "--name", "bad name")[0] == 1
    code, out, _ = run("tokens", "list")
    assert [line.split("\t")[:2] for line in out.splitlines()] == [["alice", "dpo"], ["bob", "auditor"]]
    listed = json.loads(run("tokens", "list", "--format", "json")[1])
    assert [t["name"] for t in listed] == ["alice", "bob"] and "sha256" not in json.dumps(listed)
    assert run("tokens", "revoke", "alice") == (0, "revoked alice\n", "")
    assert run("tokens", "revoke", "alice")[0] == 1
    other = tmp_path / "elsewhere.json"
    monkeypatch.setenv("LINEAGE_TOKENS_FILE", str(other))
    assert run("tokens", "add", "--role", "service", "--name", "ingest")[0] == 0 and other.exists()


def test_serve_answers_and_never_logs_a_subject_id(world: World, tmp_path: Path) -> None:
    db = tmp_path / "lineage.db"
    shutil.copy(world.db, db)
    env = dict(os.environ, LINEAGE_PSEUDONYM_KEY="5f" * 32, LINEAGE_TOKENS_FILE=str(tmp_path / "t.json"))
    env["LINEAGE_AUDIT_LOG"] = str(tmp_path / "audit.jsonl")
    lineage = [sys.executable, "-c", "import sys; from lineage.cli import main; sys.exit(main())"]
    add = [*lineage, "tokens", "add", "--role", "dpo", "--name", "dpo"]
    made = subprocess.run(add, env=env, capture_output=True, text=True, check=True)  # noqa: S603 - our own command
    token = made.stdout.strip()
    port = free_port()
    server = subprocess.Popen(  # noqa: S603 - our own command
        [*lineage, "serve", "--port", str(port), "--store", f"sqlite:///{db}"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(100):
            try:
                httpx.get(base + "/openapi.json", timeout=1)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        auth = {"Authorization": f"Bearer {token}"}
        assert httpx.get(base + "/api/health").status_code == 401
        who = httpx.get(f"{base}/api/subjects/{quote(world.person, safe='')}", headers=auth)
        assert who.status_code == 200 and who.json()["recipients"]
        assert httpx.get(f"{base}/api/reports/art19", params={"subject": world.person}, headers=auth).status_code == 200
        assert httpx.get(f"{base}/api/subjects/{quote(world.person, safe='')}").status_code == 401
        assert "server" not in who.headers  # no version banner
    finally:
        server.terminate()
        out, err = server.communicate(timeout=10)
    assert f"console on http://127.0.0.1:{port}/" in err
    assert "GET /api/subjects/{subject_id:path} 200" in err  # our access line: the route, not the path
    for leak in (world.person, quote(world.person, safe=""), quote(world.person)):
        assert leak not in out and leak not in err
    assert world.person not in (tmp_path / "audit.jsonl").read_text()
