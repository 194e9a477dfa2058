"""Retention through the commands: `lineage ingest` raises retention-exceeded under a policy declaring periods,
`lineage retention check` finds data held past its period, `who-has` says until when each category may be kept,
and the S Plus policy's lack of any period is said plainly."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import yaml

from lineage.cli import main
from tests.rule_cases import RETENTION, RETENTION_CASES, expected, retention_policy


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def ingested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.delenv("LINEAGE_RECIPIENTS", raising=False)
    policy = tmp_path / "policy.yaml"
    policy.write_text(yaml.safe_dump(retention_policy().model_dump(mode="json", exclude_none=True)), encoding="utf-8")
    monkeypatch.setenv("LINEAGE_POLICY", str(policy))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for c in RETENTION_CASES for e in c.events), encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    code, _, err = run("ingest", str(events), "--store", store)
    assert code == 0, err
    return store


def test_ingest_raises_exactly_the_retention_findings(ingested: str) -> None:
    _, out, _ = run("alerts", "--store", ingested, "--format", "json", "--rule", RETENTION)
    rules: dict[str, set[str]] = {e: set() for e in expected(RETENTION_CASES)}
    for alert in json.loads(out):
        for event_id in alert["event_ids"]:
            rules.setdefault(event_id, set()).add(alert["rule"])
    assert rules == expected(RETENTION_CASES)


def test_retention_check_finds_data_held_past_its_period(ingested: str) -> None:
    # every case's person but the ticket's and the behaviour's has an email address (30 days for any purpose)
    code, out, err = run("retention", "check", "--store", ingested, "--as-of", "2026-06-01", "--format", "json")
    found = json.loads(out)
    assert code == 1, err
    assert len(found) == 3 and {f["category"] for f in found} == {"user.contact.email"}
    assert all(f["rule"] == RETENTION and f["subject"].startswith("p_") and f["days_past"] > 0 for f in found)
    assert sorted(f["kept_until"][:10] for f in found) == ["2026-01-31", "2026-01-31", "2026-03-17"]
    code, out, err = run("retention", "check", "--store", ingested, "--as-of", "2026-01-20")
    assert (code, out) == (0, "") and "0 finding(s)" in err


def test_who_has_says_until_when_each_category_may_be_kept(ingested: str) -> None:
    person = RETENTION_CASES[0].events[0]["subject"]["id"]
    _, out, _ = run("who-has", person, "--store", ingested)
    assert "kept: until 2026-01-31 (30 days, contact-30-days)" in out
    ticket = RETENTION_CASES[1].events[0]["subject"]["id"]
    _, out, _ = run("who-has", ticket, "--store", ingested, "--format", "json")
    (category,) = json.loads(out)["categories"]
    assert category["kept_until"] == "no retention period declared"  # the ticket period is for support only


def test_the_s_plus_policy_declares_no_period_and_the_check_says_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.delenv("LINEAGE_POLICY", raising=False)
    code, out, err = run("retention", "check", "--store", f"sqlite:///{tmp_path / 'none.db'}")
    assert (code, out) == (0, "")
    assert "The policy states no retention period" in err and "a gap of the policy itself" in err
