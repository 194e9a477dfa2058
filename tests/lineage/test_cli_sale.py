"""`lineage ingest` raises exactly the sale-after-opt-out findings of the rule cases (tests/rule_cases.py); `lineage
who-has` lists the opt-outs."""

from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from lineage.cli import main
from tests.rule_cases import SALE, SALE_CASES, expected


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


@pytest.mark.parametrize("processes", ["1", "2"])
def test_ingest_raises_exactly_the_sale_findings(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, processes: str
) -> None:
    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.delenv("LINEAGE_RECIPIENTS", raising=False)
    monkeypatch.delenv("LINEAGE_POLICY", raising=False)
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for c in SALE_CASES for e in c.events), encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    code, _, err = run("ingest", str(events), "--store", store, "--processes", processes, "--batch-size", "3")
    assert code == 0, err
    _, out, _ = run("alerts", "--store", store, "--format", "json", "--rule", SALE)
    rules: dict[str, set[str]] = {e: set() for e in expected(SALE_CASES)}
    for alert in json.loads(out):
        assert alert["severity"] == "critical"
        for event_id in alert["event_ids"]:
            rules.setdefault(event_id, set()).add(alert["rule"])
    assert rules == expected(SALE_CASES)


def test_who_has_json_lists_the_persons_opt_outs_as_the_console_does(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from schemas.answers import OptOutItem, PersonLookup
    from tests.factories import event

    monkeypatch.setenv("LINEAGE_PSEUDONYM_KEY", "ab" * 32)
    monkeypatch.delenv("LINEAGE_POLICY", raising=False)
    gpc = {**event("collected", event_id="w-gpc", occurred_at="2026-05-01T10:00:00Z"), "kind": "opted_out"}
    gpc.update(scope="sale_and_sharing", signal="gpc")
    asked = {**event("collected", event_id="w-ask", occurred_at="2026-05-02T08:30:00Z"), "kind": "opted_out"}
    for ev in (gpc, asked):  # an opt-out carries no data, source or role
        for field in ("data_categories", "source", "role"):
            ev.pop(field)
    raw = [event("collected", event_id="w-c1", occurred_at="2026-05-01T09:00:00Z"), gpc, asked]
    events = tmp_path / "events.jsonl"
    events.write_text("".join(json.dumps(e) + "\n" for e in raw), encoding="utf-8")
    store = f"sqlite:///{tmp_path / 'lineage.db'}"
    assert run("ingest", str(events), "--store", store)[0] == 0
    code, out, err = run("who-has", "alice@example.com", "--store", store, "--format", "json")
    assert code == 0, err
    answer = json.loads(out)
    PersonLookup.model_validate(answer)  # the console's answer (GET /api/subjects/{id}), field for field
    assert [set(o) for o in answer["opt_outs"]] == [set(OptOutItem.model_fields)] * 2
    assert [(o["event_id"], o["scope"], o["signal"], o["statement"]) for o in answer["opt_outs"]] == [
        (
            "w-gpc",
            "sale_and_sharing",
            "gpc",
            "Opted out of sale and sharing (Global Privacy Control), 2026-05-01 10:00 UTC",
        ),
        ("w-ask", "marketing", "user_request", "Opted out of marketing (at their request), 2026-05-02 08:30 UTC"),
    ]
    code, out, _ = run("who-has", "bob@example.com", "--store", store, "--format", "json")
    assert code == 0 and json.loads(out)["opt_outs"] == []
