"""The registry rules through `lineage ingest` (LINEAGE_RECIPIENTS), and the transfers the reports list."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lineage.cli import main
from tests.rule_cases import REGISTRY_CASES, TRANSFER_CASES, expected, registry_file
from tests.rule_cases import shared as case_share


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.fixture
def ingested(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.setenv("LINEAGE_RECIPIENTS", str(registry_file(tmp_path)))
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for c in REGISTRY_CASES for e in c.events), encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    code, _, err = run("ingest", str(events), "--store", store)
    assert code == 0, err
    return store


def test_ingest_raises_exactly_the_registry_rules(ingested: str) -> None:
    _, out, _ = run("alerts", "--store", ingested, "--format", "json")
    rules: dict[str, set[str]] = {e: set() for e in expected(REGISTRY_CASES)}
    for alert in json.loads(out):
        for event_id in alert["event_ids"]:
            rules.setdefault(event_id, set()).add(alert["rule"])
    assert rules == expected(REGISTRY_CASES)


def test_the_access_report_lists_each_transfer_with_its_safeguard(ingested: str) -> None:
    person = next(c for c in TRANSFER_CASES if c.name == "the Hong Kong affiliate on the group's BCR").events[0]
    _, out, _ = run("report", "access", person["subject"]["id"], "--store", ingested)
    transfers = json.loads(out)["transfers"]
    (item,) = transfers["transfers"]
    assert (item["recipient_id"], item["country"], item["basis"], item["safeguard"]) == (
        "sos-hk",
        "HK",
        "safeguard",
        "bcr",
    )
    assert item["safeguard_reference"] == "SOS Group binding corporate rules" and item["safeguard_date"] == "2024-05-02"
    assert "1 on a safeguard the recipient registry names: SOS Hong Kong Ltd (HK)" in transfers["safeguards_statement"]


def test_the_ropa_names_the_uk_adequacy_decision_and_every_transfer(ingested: str) -> None:
    _, out, _ = run("report", "ropa", "--store", ingested)
    ropa = json.loads(out)
    by_id = {t["recipient_id"]: t for t in ropa["transfers"]}
    assert by_id["northwind"]["basis"] == "adequacy"
    assert by_id["northwind"]["decision"] == "Commission Implementing Decision (EU) 2021/1772"
    assert by_id["sos-in"]["basis"] == "none" and by_id["sos-hk2"]["in_registry"] is False
    assert "payflow" not in by_id  # Ireland: no transfer
    countries = {
        c["country"]: c for a in ropa["activities"] if a["observed"] for c in a["observed"]["recipient_countries"]
    }
    assert countries["GB"]["in_eea"] is False and "2021/1772" in countries["GB"]["adequacy"]
    marketing = next(a for a in ropa["activities"] if a["purpose"]["key"] == "marketing.communications")
    assert (
        "GB (third country; adequacy decision: Commission Implementing Decision (EU) 2021/1772"
        in (marketing["third_countries_statement"])
    )


def test_without_a_registry_every_transfer_rests_on_nothing_known_and_every_recipient_is_new_once(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.delenv("LINEAGE_RECIPIENTS", raising=False)
    events = tmp_path / "events.jsonl"
    first, second = case_share("sos-hk"), case_share("sos-hk")
    events.write_text(json.dumps(first) + "\n" + json.dumps(second) + "\n", encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'l.db'}"
    assert run("ingest", str(events), "--store", store)[0] == 0
    _, out, _ = run("alerts", "--store", store, "--format", "json")
    found = {a["rule"]: sorted(a["event_ids"]) for a in json.loads(out)}
    assert found == {
        "transfer-without-safeguard": sorted([first["event_id"], second["event_id"]]),
        "new-recipient": [first["event_id"]],
    }
    _, out, _ = run("report", "ropa", "--store", store)
    assert "No recipient registry is configured (LINEAGE_RECIPIENTS)" in json.loads(out)["transfers_statement"]


def test_a_bad_registry_stops_ingest_before_anything_is_applied(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    bad = tmp_path / "r.yaml"
    bad.write_text("recipients:\n  - {id: x, name: X, type: affiliate, country: hk, role: controller}\n")
    monkeypatch.setenv("LINEAGE_RECIPIENTS", str(bad))
    events = tmp_path / "events.jsonl"
    events.write_text(json.dumps(case_share("sos-hk")) + "\n", encoding="utf-8")
    code, _, err = run("ingest", str(events), "--store", f"sqlite:///{tmp_path / 'l.db'}")
    assert code == 2 and f"{bad}: line 2, recipients[0].country" in err
    assert not (tmp_path / "l.db").exists()
