"""The access report reads as a letter to the person: names, not codes or event ids, in its body; a reference
number, the controller's and the DPO's blocks; the codes in an annex, the evidence in another on request; keys in
the PDF never broken inside a word."""

from __future__ import annotations

import re
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest

from config import Settings
from graph.sqlite_store import SQLiteGraphStore
from graph.store import GraphStore
from lineage.wiring import load_configured_policy
from policies import PolicyFileError
from reports.access import access_report
from reports.formats import render_html, render_pdf
from schemas.policy import Organisation
from schemas.reports import AccessReport
from tests.reports.test_reports import ALICE, KEY, NOW, POLICY, _weasyprint, load_golden, visible_text


@pytest.fixture
def store() -> GraphStore:
    return load_golden(SQLiteGraphStore(":memory:"))


def letter(store: GraphStore, **kwargs: Any) -> AccessReport:
    return access_report(store, KEY, POLICY, ALICE, now=NOW, **kwargs)


def body_and_annexes(report: AccessReport) -> tuple[str, str]:
    text = visible_text(render_html(report))
    cut = text.index("Annex A. The codes behind the names in this letter")
    return text[:cut], text[cut:]


def test_the_body_names_things_and_shows_no_codes_or_event_ids(store: GraphStore) -> None:
    report = letter(store)
    body, annexes = body_and_annexes(report)
    assert "User Contact Email" in body and "SOS Hong Kong Ltd" in body and "DataBrokr Inc" in body
    assert "Sign-in with your Microsoft 365 (Office 365) work account" in body  # the policy's words for the system
    codes = [c.key for c in report.categories] + [p.key for p in report.purposes] + [r.id for r in report.recipients]
    codes += ["office365-sso", "teams-chat"]
    found = [c for c in codes if re.search(rf"(?<![\w.-]){re.escape(c)}(?![\w-])", body)]
    assert found == [], "codes in the letter's body"
    for event_id in report.evidence_event_ids:  # s1, s2, s3: whole words, so the test is not fooled by 's1' in 'is1'
        assert not re.search(rf"\b{event_id}\b", body)
    # the codes are in Annex A, each next to its name; the evidence is not there unless asked for
    for c in codes:
        assert c.replace(".", ".\u200b") in annexes or c in annexes, c
    assert "Annex B" not in annexes


def test_the_evidence_annex_on_request(store: GraphStore) -> None:
    body, annexes = body_and_annexes(letter(store, annex=True))
    assert "Annex B. Evidence: the disclosures behind section 4" in annexes
    assert re.search(r"\bs1\b", annexes) and re.search(r"\bs3\b", annexes)
    assert not re.search(r"\bs1\b", body)


def test_reference_number_controller_and_dpo_blocks(store: GraphStore) -> None:
    report = letter(store, controller=Organisation(name="SOS Group Limited", dpo="dpo@sos.example"))
    assert re.fullmatch(r"ACC-20260601-[0-9A-F]{8}", report.reference)
    assert ALICE not in report.reference and KEY(ALICE) not in report.reference
    text = visible_text(render_html(report))
    assert (  # the letterhead: the controller and the DPO, then the reference
        "SOS Group Limited Contact details not stated in the policy. Data-protection officer dpo@sos.example "
        "Reference " + report.reference
    ) in text
    assert f"quote the reference {report.reference}" in text
    assert "Yours sincerely, Data-protection officer, on behalf of SOS Group Limited" in text
    later = access_report(store, KEY, POLICY, ALICE, now=NOW.replace(hour=1))
    assert later.reference != report.reference  # one reference per letter


def test_a_names_file_describes_the_systems(store: GraphStore, tmp_path: Path) -> None:
    names = tmp_path / "names.yaml"
    names.write_text("systems:\n  office365-sso: Your company's Microsoft sign-in\n", encoding="utf-8")
    policy = load_configured_policy(Settings(names_file=names))
    assert policy.systems["office365-sso"] == "Your company's Microsoft sign-in"
    assert policy.systems["teams-chat"] == POLICY.systems["teams-chat"]  # the rest stays the policy's
    text = visible_text(render_html(access_report(store, KEY, policy, ALICE, now=NOW)))
    assert "Your company's Microsoft sign-in" in text
    names.write_text("systems:\n  office365-sso: ''\n", encoding="utf-8")
    with pytest.raises(PolicyFileError, match=r"systems\.office365-sso: expected a non-empty text"):
        load_configured_policy(Settings(names_file=names))


def _pdf_lines(data: bytes) -> list[str]:
    from pypdf import PdfReader

    pages = PdfReader(BytesIO(data)).pages
    return [line.replace("\u200b", "") for page in pages for line in (page.extract_text() or "").splitlines()]


def test_pdf_keys_break_only_after_a_dot(store: GraphStore) -> None:
    _weasyprint()
    report = letter(store, annex=True)
    lines = _pdf_lines(render_pdf(report))
    keys = {c.key for c in report.categories} | {p.key for p in report.purposes}
    assert any(k in line for k in keys for line in lines), "the keys are in the PDF (Annex A)"
    for a, b in zip(lines, lines[1:], strict=False):
        joined = a.rstrip() + b.lstrip()
        for k in keys:
            at = joined.find(k)
            cut = len(a.rstrip())
            if at != -1 and at < cut < at + len(k):
                assert k[cut - at - 1] == ".", f"{k!r} broken inside a word: {a!r} / {b!r}"


def test_pdf_addresses_are_never_split_at_a_hyphen(store: GraphStore) -> None:
    _weasyprint()
    report = letter(store, controller=Organisation(name="SOS Group Limited", dpo="data-protection@sos-group.example"))
    lines = _pdf_lines(render_pdf(report))
    contacts = {r.contact for r in report.recipients if r.contact and "-" in r.contact} | {
        "data-protection@sos-group.example"
    }
    assert "privacy@sos-hk.example" in contacts
    for contact in contacts:  # each address whole on one line ('privacy@sos-' / 'hk.example' reads as two)
        assert any(contact in line for line in lines), contact
