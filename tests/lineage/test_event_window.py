"""Events dated late in the window of event times: a default `lineage erase` covers them, and the default report
period includes them."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lineage.cli import main
from tests.factories import BROKER, event


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def store(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    url = f"sqlite:///{tmp_path / 'lineage.db'}"
    lines = [
        event("collected", event_id="now-1", subject_id="zed@example.com"),
        event(
            "shared",
            event_id="late-1",
            subject_id="zed@example.com",
            recipient=BROKER,
            occurred_at="2099-12-31T23:00:00Z",
        ),
        event("shared", event_id="other-1", subject_id="amy@example.com", recipient=BROKER),
    ]
    src = tmp_path / "e.jsonl"
    src.write_text("".join(json.dumps(e) + "\n" for e in lines))
    assert run("ingest", str(src), "--store", url)[0] == 0
    return url


@pytest.mark.parametrize("kind", ["ropa", "gaps", "access"])
def test_the_default_report_period_includes_the_last_accepted_dates(store: str, kind: str) -> None:
    # (the CCPA report's default period is the 12 months before today, as the law has it)
    person = ["zed@example.com"] if kind == "access" else []
    code, out, _ = run("report", kind, *person, "--store", store, "--format", "json")
    # the access report lists the person's event ids; the others count the late flows, last seen on its day
    assert code == 0 and ("late-1" in out if kind == "access" else '"last_seen": "2099-12-31"' in out)


def test_a_default_erase_covers_data_dated_in_the_future(store: str) -> None:
    code, out, err = run("erase", "zed@example.com", "--store", store, "--format", "json")
    assert code == 0 and json.loads(out)["erased_at"].startswith("2099-12-31T23:00:00")
    assert "dated in the future" in err and "zed@example.com" not in err
    code, out, _ = run("who-has", "zed@example.com", "--store", store, "--format", "json")
    assert json.loads(out)["categories"] == [] and json.loads(out)["recipients"] == []
    code, out, _ = run("who-has", "amy@example.com", "--store", store, "--format", "json")
    assert json.loads(out)["recipients"]  # nobody else is touched


def test_an_erase_at_a_given_time_keeps_what_came_later(store: str) -> None:
    code, _, err = run("erase", "zed@example.com", "--store", store, "--at", "2030-01-01")
    assert code == 0 and "dated in the future" not in err
    code, out, _ = run("who-has", "zed@example.com", "--store", store, "--format", "json")
    assert [r["event_ids"] for r in json.loads(out)["recipients"]] == [["late-1"]]
