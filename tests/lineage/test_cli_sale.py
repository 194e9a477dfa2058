"""`lineage ingest` raises exactly the sale-after-opt-out findings of the rule cases (tests/rule_cases.py)."""

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
