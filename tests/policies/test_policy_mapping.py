"""docs/policy-mapping.md is generated from the policy file and its source, and is current."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lineage.cli import main
from policies import DEFAULT_POLICY_FILE, default_policy
from policies.compliance import RULES
from policies.mapping import policy_mapping
from policies.source_text import read_source

ROOT = Path(__file__).resolve().parents[2]
DOC = ROOT / "docs" / "policy-mapping.md"
POLICY = default_policy()
SOURCE = DEFAULT_POLICY_FILE.parent / str(POLICY.source)


def generated() -> str:
    return policy_mapping(
        POLICY,
        read_source(SOURCE),
        policy_name=str(DEFAULT_POLICY_FILE.relative_to(ROOT)),
        source_name=str(SOURCE.relative_to(ROOT)),
    )


def test_the_committed_mapping_is_what_the_command_writes() -> None:
    assert DOC.read_text(encoding="utf-8") == generated(), "run: lineage policy mapping -o docs/policy-mapping.md"


def test_the_cli_writes_and_checks_it(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(ROOT)
    out, err = io.StringIO(), io.StringIO()
    assert main(["policy", "mapping", "--output", str(DOC), "--check"], out, err) == 0, err.getvalue()
    stale = tmp_path / "mapping.md"
    stale.write_text(generated().replace("credit risk reduction", "credit risk"), encoding="utf-8")
    assert main(["policy", "mapping", "-o", str(stale), "--check"], io.StringIO(), err) == 1
    assert "regenerate it" in err.getvalue()
    assert main(["policy", "mapping", "-o", str(stale)], io.StringIO(), io.StringIO()) == 0
    assert stale.read_text(encoding="utf-8") == generated()


def test_it_shows_every_sentence_every_declaration_every_choice_and_the_rules() -> None:
    doc = generated()
    for sentence in read_source(SOURCE).sentences:
        assert f"> {sentence.text}\n" in doc, sentence.text
    for d in (*POLICY.collections, *POLICY.uses, *POLICY.disclosures):
        assert f"`{d.id}`**" in doc
        for reading in d.reads:
            assert f"“{reading.phrase}”" in doc
    for choice in POLICY.reading_choices:
        assert f"\n### {choice.id}\n" in doc and choice.reason.split(".")[0] in doc
    fed = {r.id for r in RULES if f"`{r.id}`" in doc}
    assert fed == {r.id for r in RULES}
    assert "**Not accounted for**" not in doc
    # a contested reading is visible where it applies
    assert "“credit risk reduction” | purposes `finance` (Finance) — choice [credit-risk-is-finance]" in doc
