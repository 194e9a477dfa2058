"""Recipient registry files (YAML and CSV): the entries they give, and every problem located by line and field."""

from __future__ import annotations

import io
from pathlib import Path

import pytest

from lineage.cli import main
from policies import PolicyFileError
from policies.recipients import load_registry, read_registry
from schemas.recipients import PersonReference, SafeguardKind

YAML = """\
# two recipients
recipients:
  - id: sos-hk
    name: SOS Hong Kong Ltd
    type: affiliate
    country: HK
    role: controller
    contact: privacy@sos-hk.example
    safeguard: {kind: bcr, reference: SOS Group BCR, date: 2024-05-02}
  - id: adverta
    name: Adverta Media Ltd
    type: advertiser
    country: US
    role: processor
    dpa: DPA-2024-009
    dpf_certified: true
    person_reference: sha256-email
"""

CSV = """\
id,name,type,country,role,contact,safeguard,safeguard_reference,safeguard_date,dpa,dpf_certified,pipeda
sos-hk,SOS Hong Kong Ltd,affiliate,HK,controller,privacy@sos-hk.example,bcr,SOS Group BCR,2024-05-02,,,
adverta,Adverta Media Ltd,advertiser,US,processor,,,,,DPA-2024-009,true,
"""


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


@pytest.mark.parametrize(("name", "text"), [("r.yaml", YAML), ("r.csv", CSV)])
def test_yaml_and_csv_give_the_same_registry(tmp_path: Path, name: str, text: str) -> None:
    registry = load_registry(write(tmp_path, name, text))
    hk, ad = registry.recipients
    assert (hk.id, hk.country, hk.role.value, hk.contact) == ("sos-hk", "HK", "controller", "privacy@sos-hk.example")
    assert hk.safeguard is not None and hk.safeguard.kind is SafeguardKind.BCR
    assert (ad.dpa, ad.dpf_certified, ad.pipeda) == ("DPA-2024-009", True, False)
    assert registry.get("adverta") == ad and registry.get("nobody") is None
    if name.endswith(".yaml"):
        assert ad.person_reference is PersonReference.SHA256_EMAIL


def test_every_problem_of_a_yaml_registry_with_its_line_and_field(tmp_path: Path) -> None:
    text = """\
recipients:
  - id: a
    name: A
    type: affiliate
    country: hk
    role: processor
  - id: a
    name: B
    type: brokerz
    country: US
    role: controller
    dpf_certified: yes
    safeguard: {kind: scc, reference: X}
  - id: c
    name: C
    type: affiliate
    country: IN
    role: controller
    pipeda: true
    safeguard: {kind: adequacy, reference: X, date: 2024-01-01}
    extra: 1
"""
    registry, problems = read_registry(write(tmp_path, "bad.yaml", text))
    assert registry is None
    assert [(p.line, p.path) for p in problems] == [
        (5, "recipients[0].country"),
        (6, "recipients[0].role"),  # a processor with no DPA
        (7, "recipients[1].id"),  # a duplicate
        (9, "recipients[1].type"),
        (13, "recipients[1].safeguard.date"),
        (19, "recipients[2].pipeda"),  # PIPEDA outside Canada: checked although the entry has another fault
        (20, "recipients[2].safeguard.kind"),  # adequacy where the shipped list has no decision
        (21, "recipients[2].extra"),
    ]
    said = {p.path: p.message for p in problems}
    assert "data-processing agreement" in said["recipients[0].role"]
    assert "no adequacy decision for IN" in said["recipients[2].safeguard.kind"]
    with pytest.raises(PolicyFileError):
        load_registry(tmp_path / "bad.yaml")


def test_every_problem_of_a_csv_registry_with_its_line_and_column(tmp_path: Path) -> None:
    text = (
        "id,name,type,country,role,safeguard,safeguard_reference,safeguard_date,dpf_certified,dpa\n"
        "x,X Ltd,affiliate,HK,controller,bcr,Group BCR,2024-01-01,,\n"
        '"y","Y, Inc",advertiser,US,processor,,,,maybe,\n'
        "z,Z,affiliate,ZZZ,controller,scc,,,\n"
        "w,W,affiliate,DE,controller,scc,,,,\n"
    )
    _, problems = read_registry(write(tmp_path, "bad.csv", text))
    assert [(p.line, p.path) for p in problems] == [
        (3, "dpf_certified"),
        (3, "role"),
        (4, "row"),
        (5, "safeguard_date"),
        (5, "safeguard_reference"),
    ]
    _, problems = read_registry(write(tmp_path, "head.csv", "id,name,colour\n"))
    assert [(p.line, p.path, p.message) for p in problems] == [
        (1, "colour", "unknown column"),
        (1, "country", "missing column"),
        (1, "role", "missing column"),
        (1, "type", "missing column"),
    ]


def test_a_file_that_is_not_yaml_or_cannot_be_read(tmp_path: Path) -> None:
    _, problems = read_registry(write(tmp_path, "x.yaml", "recipients: [\n  - id: a\n"))
    assert problems[0].message.startswith("not valid YAML") and problems[0].line
    _, problems = read_registry(tmp_path / "missing.yaml")
    assert problems[0].message.startswith("cannot read it")
    _, problems = read_registry(write(tmp_path, "y.yaml", "- a\n"))
    assert problems[0].path == "recipients"


def run(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    return main(list(argv), out, err), out.getvalue(), err.getvalue()


def test_lineage_recipients_check(tmp_path: Path) -> None:
    good = write(
        tmp_path, "r.yaml", YAML + "  - {id: sos-in, name: SOS India, type: affiliate, country: IN, role: controller}\n"
    )
    code, out, err = run("recipients", "check", str(good))
    assert (code, err) == (0, "")
    assert "OK — 3 recipient(s): 0 in the EEA, 1 on an adequacy decision, 1 on a safeguard, 1 with nothing" in out
    assert "sos-in (IN): IN is outside the EEA" in out  # what has nothing to rest on is named
    code, out, _ = run("recipients", "check", str(good), "--verbose")
    assert (
        "adverta (advertiser, US, processor): Adequacy decision: Commission Implementing Decision (EU) 2023/1795" in out
    )
    bad = write(tmp_path, "bad.csv", "id,name,type,country,role\nx,X,affiliate,hk,controller\n")
    code, out, err = run("recipients", "check", str(bad))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{bad}: line 2, country: String should match pattern '^[A-Z]{{2}}$'",
        f"{bad}: 1 problem(s)",
    ]
