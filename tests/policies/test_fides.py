"""Fides interchange: the S Plus policy as a Fides system manifest that fideslang loads, and back into a policy
skeleton with the same declarations, every clause marked as needing a quote."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any

import pytest
import yaml
from fideslang import DEFAULT_TAXONOMY
from fideslang.manifests import ingest_manifests
from fideslang.models import Taxonomy as FidesTaxonomy
from fideslang.parse import load_manifests_into_taxonomy
from fideslang.relationships import get_referenced_missing_keys

from lineage.cli import main
from lineage.simulator import simulate
from policies import default_policy, load_policy
from policies.compliance import PolicyEvaluator
from policies.fides import NEEDS_QUOTE, FidesImportError, export_fides, import_fides, needs_quote
from schemas.parsing import validate_event
from schemas.policy import Policy

POLICY = default_policy()


def without_quotes(policy: Policy) -> dict[str, Any]:
    """The policy's declarations without what Fides cannot carry: the quotations, how their phrases are read (and
    the reading choices), the source they come from and the sentences declaring nothing."""
    doc = policy.model_dump(mode="json")
    for group in ("collections", "uses", "disclosures"):
        for decl in doc[group]:
            for quoted in ("clause", "reads", "choices"):
                decl.pop(quoted)
    for quoted in ("not_declarations", "reading_choices", "source"):
        doc.pop(quoted)
    doc["retention"].pop("clause")
    return doc


@pytest.fixture(scope="module")
def manifest_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("fides") / "s-plus.yml"
    path.write_text(yaml.safe_dump(export_fides(POLICY), sort_keys=False, allow_unicode=True), encoding="utf-8")
    return path


def test_fides_loads_the_export_and_finds_every_key_it_references(manifest_file: Path) -> None:
    taxonomy = load_manifests_into_taxonomy(ingest_manifests(str(manifest_file)))  # as `fides` reads manifests
    (system,) = taxonomy.system
    assert system.fides_key == POLICY.id and system.legal_name == POLICY.controller.name
    assert [u.fides_key for u in taxonomy.data_use] == ["operations.business_transfer"]  # the policy's custom key
    merged = FidesTaxonomy(
        data_category=DEFAULT_TAXONOMY.data_category + taxonomy.data_category,
        data_use=DEFAULT_TAXONOMY.data_use + taxonomy.data_use,
        data_subject=DEFAULT_TAXONOMY.data_subject + taxonomy.data_subject,
        organization=DEFAULT_TAXONOMY.organization,
        system=taxonomy.system,
    )
    assert get_referenced_missing_keys(merged) == set()


def test_each_declared_purpose_and_disclosure_is_a_fides_declaration(manifest_file: Path) -> None:
    (system,) = load_manifests_into_taxonomy(ingest_manifests(str(manifest_file))).system
    uses = {(d.name.split(": ")[0], d.data_use) for d in system.privacy_declarations if d.name}
    for u in POLICY.uses:
        assert {(u.id, p) for p in u.purposes} <= uses
    shared = [d for d in system.privacy_declarations if d.data_shared_with_third_parties]
    named = {d.id for d in POLICY.disclosures if d.purposes != []}  # Fides needs a purpose (data_use) per declaration
    assert {d.name.split(": ")[0] for d in shared if d.name} == named
    to_brokers = [d for d in shared if d.third_parties and "data_broker" in d.third_parties]
    # identified data goes to data brokers only under the clauses for any recipient: legal process, security, fraud
    # protection and credit risk reduction (reading choice by-law-any-recipient); for anything else, aggregated only
    by_law = {d.data_use for d in shared if (d.name or "").split(": ")[0] in ("by-law", "fraud-exchange")}
    assert by_law == {
        "essential.legal_obligation", "third_party_sharing.legal_obligation", "essential.service.security",
        "essential.fraud_detection", "finance",
    }  # fmt: skip
    assert to_brokers and all(
        d.data_use in by_law or d.third_parties.startswith("aggregated or de-identified data only: ")
        for d in to_brokers
        if d.third_parties
    )
    account = next(d for d in system.privacy_declarations if d.name == "account-management: essential.service")
    controller = {s for c in POLICY.collections if c.role.value == "controller" for s in c.data_subjects}
    assert "user.account" in account.data_categories and set(account.data_subjects) == controller


def test_importing_the_export_gives_the_policy_back_with_every_clause_to_quote(manifest_file: Path) -> None:
    skeleton = import_fides(yaml.safe_load(manifest_file.read_text(encoding="utf-8")))
    assert without_quotes(skeleton) == without_quotes(POLICY)
    declarations = [*skeleton.collections, *skeleton.uses, *skeleton.disclosures]
    assert all(d.clause.section == NEEDS_QUOTE and d.clause.text.startswith(NEEDS_QUOTE) for d in declarations)
    assert len(needs_quote(skeleton)) == len(declarations) and needs_quote(POLICY) == []


def test_the_skeleton_judges_traffic_as_the_policy_does(manifest_file: Path) -> None:
    skeleton = import_fides(yaml.safe_load(manifest_file.read_text(encoding="utf-8")))
    events = [validate_event(s.event, POLICY.taxonomy()) for s in simulate(20, 10, seed=4, undeclared_rate=0.1)]

    def verdicts(policy: Policy) -> list[tuple[str, str, str]]:
        evaluator = PolicyEvaluator(policy)
        return sorted((f.event_id, f.rule, f.category) for e in events for f in evaluator.evaluate(e, "p"))

    assert verdicts(skeleton) == verdicts(POLICY) != []


def test_a_system_from_elsewhere_becomes_a_skeleton_with_its_assumptions_named() -> None:
    manifest = {
        "data_use": [
            {"fides_key": "essential.service.ticketing", "name": "Ticketing", "parent_key": "essential.service"}
        ],
        "system": [
            {
                "fides_key": "crm_system",
                "name": "Helpdesk CRM",
                "system_type": "Application",
                "responsibility": ["Processor"],
                "privacy_declarations": [
                    {"name": "Support tickets", "data_use": "essential.service.ticketing",
                     "data_categories": ["user.content.private", "user.name"], "data_subjects": ["customer"]},
                    {"name": "Escalation to partners", "data_use": "essential.service.operations.support",
                     "data_categories": ["user.content.private"], "data_subjects": ["customer"],
                     "data_shared_with_third_parties": True, "third_parties": "business_partner (Northwind)",
                     "retention_period": "90 days after the ticket is closed"},
                ],
            }
        ],
    }  # fmt: skip
    skeleton = import_fides(manifest)
    assert skeleton.id == "crm-system" and skeleton.controller.name == "Helpdesk CRM"
    assert [c.key for c in skeleton.custom_taxonomy.data_uses] == ["essential.service.ticketing"]
    assert [(u.id, u.purposes, u.role.value) for u in skeleton.uses] == [  # in fideslang's order: by name
        ("escalation-to-partners", ["essential.service.operations.support"], "processor"),
        ("support-tickets", ["essential.service.ticketing"], "processor"),
    ]
    (d,) = skeleton.disclosures
    assert d.recipient_types == ["business_partner"] and d.data_categories == ["user.content.private"]
    (c,) = skeleton.collections
    assert c.sources == ["data_subject"] and "sources assumed" in c.clause.text
    assert skeleton.retention.statement == "90 days after the ticket is closed"
    assert len(needs_quote(skeleton)) == 4


@pytest.mark.parametrize(
    ("manifest", "message"),
    [
        ({"system": []}, "the manifest has 0 systems"),
        ({"system": [{"fides_key": "a", "system_type": "x", "privacy_declarations": []}] * 2}, "2 systems (a, a)"),
        ({"system": [{"fides_key": "a", "system_type": "x", "privacy_declarations": [{"name": "n"}]}]},
         "system.0.privacy_declarations.0.data_categories: Field required"),
        ({"system": [{"fides_key": "a", "system_type": "x", "privacy_declarations": [
            {"data_use": "spying", "data_categories": ["user.name"]}]}]}, "unknown data use (purpose) 'spying'"),
    ],
)  # fmt: skip
def test_a_manifest_that_makes_no_policy_says_why(manifest: dict[str, Any], message: str) -> None:
    with pytest.raises(FidesImportError, match=message.replace("(", r"\(").replace(")", r"\)")):
        import_fides(manifest)


def test_the_commands_export_import_and_check(tmp_path: Path) -> None:
    out, err = io.StringIO(), io.StringIO()
    exported = tmp_path / "fides.yml"
    assert main(["policy", "export-fides", "-o", str(exported)], out, err) == 0
    count = len(export_fides(POLICY)["system"][0]["privacy_declarations"])
    assert f"{count} declaration(s)" in err.getvalue() and exported.is_file()
    skeleton = tmp_path / "skeleton.yaml"
    out, err = io.StringIO(), io.StringIO()
    assert main(["policy", "import-fides", str(exported), "-o", str(skeleton)], out, err) == 0
    quotes = len([*POLICY.collections, *POLICY.uses, *POLICY.disclosures])
    assert f"{quotes} need a quote from the policy text" in err.getvalue()
    assert without_quotes(load_policy(skeleton)) == without_quotes(POLICY)  # the file written loads as a policy
    out, err = io.StringIO(), io.StringIO()
    assert main(["policy", "check", str(skeleton)], out, err) == 1  # and the check lists what is left to quote
    lines = err.getvalue().splitlines()
    first = (
        f"collections[0] ({POLICY.collections[0].id}).clause: needs a quote from the policy text (imported from Fides)"
    )
    assert lines[0] == f"{skeleton}: {first}"
    assert lines[-1] == f"{skeleton}: {quotes} problem(s)"
    assert main(["policy", "import-fides", str(tmp_path / "missing.yml")], io.StringIO(), err := io.StringIO()) == 2
    assert "cannot read" in err.getvalue()
