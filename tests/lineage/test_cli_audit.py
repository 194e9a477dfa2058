"""Lookups through the command line are on the console's audit trail: the same file and writer, by pseudonym, who
being the OS user or --as NAME; a trail that cannot be written refuses the lookup."""

from __future__ import annotations

import getpass
import io
import json
from pathlib import Path

import pytest

from config import Settings
from lineage.cli import main
from lineage.web.console import WebSettings
from tests.factories import BROKER, event


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "trail" / "audit.jsonl"))
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    events = tmp_path / "e.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in (event(), event("shared", recipient=BROKER))))
    assert run("ingest", str(events), "--store", url)[0] == 0
    return url


def test_cli_lookups_are_recorded_by_pseudonym(store: str, tmp_path: Path) -> None:
    trail = WebSettings.from_env(Settings.from_env()).audit_trail()  # the console's view of it: same file and key
    assert trail.path == tmp_path / "trail" / "audit.jsonl"
    assert run("who-has", "alice@example.com", "--store", store)[0] == 0
    assert run("report", "access", "alice@example.com", "--store", store, "--as", "dpo-desk")[0] == 0
    assert run("report", "art19", "nobody@example.com", "--store", store, "--format", "csv")[0] == 0
    assert run("stats", "--store", store)[0] == 0  # not a lookup of anyone: not recorded

    entries = sorted(trail.entries(), key=lambda e: e.seq)
    assert [(e.action, e.actor, e.role, e.client) for e in entries] == [
        ("who-has", getpass.getuser(), "dpo", "cli"),
        ("report:access", "dpo-desk", "dpo", "cli"),
        ("report:art19", getpass.getuser(), "dpo", "cli"),
    ]
    assert [e.endpoint for e in entries] == ["lineage who-has", "lineage report access", "lineage report art19"]
    assert entries[0].returned == {"categories": 1, "recipients": 1, "opt_outs": 0}  # as the console counts
    assert entries[2].returned == {"recipients": 0, "notices": 0}
    text = (tmp_path / "trail" / "audit.jsonl").read_text()
    assert "alice@example.com" not in text and "nobody@example.com" not in text
    assert entries[0].subject == entries[1].subject != entries[2].subject  # the same person, by pseudonym
    assert trail.verify().ok


def test_the_console_and_the_cli_share_one_trail(store: str, tmp_path: Path) -> None:
    pytest.importorskip("fastapi", reason="the web extra is not installed")
    from fastapi.testclient import TestClient

    from lineage.web.app import create_app
    from lineage.web.console import open_console
    from lineage.web.tokens import TokenFile

    settings = Settings.from_env(store=store)
    web = WebSettings.from_env(settings, tokens_file=tmp_path / "tokens.json")
    assert web.audit_log == tmp_path / "trail" / "audit.jsonl"  # LINEAGE_AUDIT_LOG points both at one file
    token = TokenFile(web.tokens_file).add("console-dpo", "dpo")
    console = open_console(settings, web)
    try:
        with TestClient(create_app(console)) as client:
            auth = {"Authorization": f"Bearer {token}"}
            assert client.get("/api/subjects/alice%40example.com", headers=auth).status_code == 200
            assert run("who-has", "alice@example.com", "--store", store, "--as", "terminal-dpo")[0] == 0
            found = client.get("/api/audit", params={"subject": "alice@example.com"}, headers=auth).json()
            assert {(e["actor"], e["client"]) for e in found} >= {("console-dpo", "api"), ("terminal-dpo", "cli")}
            assert client.get("/api/audit/verify", headers=auth).json()["ok"] is True
    finally:
        console.close()


def test_a_trail_that_cannot_be_written_refuses_the_lookup(
    store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    (tmp_path / "blocked").write_text("a file where the trail's folder should be")
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "blocked" / "audit.jsonl"))
    code, out, err = run("who-has", "alice@example.com", "--store", store)
    assert (code, out) == (2, "")  # nothing answered
    assert err.startswith("lineage who-has: the audit trail ") and "so the lookup is refused" in err
    code, out, _ = run("report", "access", "alice@example.com", "--store", store)
    assert (code, out) == (2, "")


def test_a_trail_that_does_not_verify_refuses_the_lookup(store: str, tmp_path: Path) -> None:
    assert run("who-has", "alice@example.com", "--store", store)[0] == 0
    trail = tmp_path / "trail" / "audit.jsonl"
    trail.write_text(trail.read_text().replace('"categories":1', '"categories":0'))  # an edited line
    code, out, err = run("who-has", "alice@example.com", "--store", store)
    assert (code, out) == (2, "")
    assert err.startswith("lineage who-has: the audit trail ") and "does not verify" in err


def test_an_erase_dry_run_and_the_erasures_are_lookups_too(store: str, tmp_path: Path) -> None:
    trail = WebSettings.from_env(Settings.from_env()).audit_trail()
    code, out, _ = run("erase", "alice@example.com", "--dry-run", "--store", store, "--as", "dpo-desk")
    assert code == 0 and out.startswith("Dry run: nothing was changed.")
    assert run("erasures", "alice@example.com", "--store", store)[0] == 0
    entries = sorted(trail.entries(), key=lambda e: e.seq)
    assert [(e.action, e.actor, e.endpoint) for e in entries] == [
        ("erase-dry-run", "dpo-desk", "lineage erase"),
        ("erasures", getpass.getuser(), "lineage erasures"),
    ]
    assert entries[0].returned == {"categories": 1, "recipients": 1} and entries[1].returned == {"erasures": 0}
    assert "alice@example.com" not in (tmp_path / "trail" / "audit.jsonl").read_text()
    assert trail.verify().ok


def test_an_erasure_is_recorded_before_it_is_done(store: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    trail = WebSettings.from_env(Settings.from_env()).audit_trail()
    assert run("erase", "alice@example.com", "--store", store, "--as", "dpo-desk", "--event-id", "erase-1")[0] == 0
    [entry] = [e for e in trail.entries() if e.action == "erase"]
    assert (entry.actor, entry.endpoint, entry.client, entry.returned) == (
        "dpo-desk",
        "lineage erase",
        "cli",
        {"recipients": 1},
    )
    assert "alice@example.com" not in (tmp_path / "trail" / "audit.jsonl").read_text() and trail.verify().ok

    # a trail that cannot be written refuses the erasure: nothing is erased
    (tmp_path / "blocked").write_text("a file where the trail's folder should be")
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "blocked" / "audit.jsonl"))
    code, out, err = run("erase", "bob@example.com", "--store", store, "--event-id", "erase-2")
    assert (code, out) == (2, "") and "so the lookup is refused" in err
    monkeypatch.setenv("LINEAGE_AUDIT_LOG", str(tmp_path / "trail" / "audit.jsonl"))
    code, out, _ = run("erasures", "bob@example.com", "--store", store, "--format", "json")
    assert code == 0 and "erase-2" not in out
