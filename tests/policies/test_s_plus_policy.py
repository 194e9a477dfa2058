"""The S Plus Helpdesk policy as code is traceable to the published text, sentence by sentence."""

from __future__ import annotations

import re

import pytest

from policies import SOURCE_DIR, default_policy
from schemas.events import RecipientType
from schemas.policy import Policy
from schemas.taxonomy import Dimension

SOURCE = (SOURCE_DIR / "privacy-policy-s-plus-helpdesk-chatbot.txt").read_text(encoding="utf-8")


def norm(text: str) -> str:
    return re.sub(r"\s+", " ", text.replace("\u00a0", " ")).strip()


def declared_quotes(policy: Policy) -> list[str]:
    return [norm(d.clause.text) for d in (*policy.collections, *policy.uses, *policy.disclosures)]


def is_heading(text: str) -> bool:
    """Section headings and run-in bullet titles: every word capitalised ("Device information." has 2 words)."""
    words = text.rstrip(".").split()
    small = {"to", "and", "of", "or", "information", "data"}
    return len(words) <= 3 or all(w[0].isupper() or w in small for w in words)


def sentences_of_flow_sections() -> list[str]:
    """Every sentence from 'Information We Collect And Receive' to the end of the disclosure section."""
    body = SOURCE[SOURCE.index("Information We Collect And Receive") : SOURCE.index("SOS Group Limited ©")]
    out = []
    for para in body.split("\n"):
        para = norm(para.replace("•", ""))
        # quirks of the published text: a run-in title glued to its sentence, a stray heading glued to the end of one
        para = re.sub(r"^Log data(?=As )", "", para)
        para = para.replace("billing address.Usage Information.", "billing address.")
        for sentence in re.split(r"(?<=[.:])\s+(?=[A-Z“])", para):
            if sentence and not is_heading(sentence):
                out.append(sentence)
    return out


def test_every_quote_is_verbatim_in_the_published_policy() -> None:
    policy = default_policy()
    text = norm(SOURCE)
    quotes = [*declared_quotes(policy), *(norm(n.clause.text) for n in policy.not_declarations)]
    missing = [q[:80] for q in quotes if q not in text]
    assert missing == []


def test_every_collection_use_and_disclosure_sentence_is_accounted_for() -> None:
    policy = default_policy()
    quotes = declared_quotes(policy)
    explained = {norm(n.clause.text) for n in policy.not_declarations}
    unaccounted = [
        s for s in sentences_of_flow_sections() if s not in explained and not any(s in q for q in quotes)
    ]
    assert unaccounted == []
    # and nothing is both declared and explained away
    assert not [s for s in explained if any(s in q for q in quotes)]


def test_sentences_are_found_at_all() -> None:
    # guards the test above against a splitter that finds nothing to check
    sentences = sentences_of_flow_sections()
    assert len(sentences) > 60
    assert any(s.startswith("We may share your information with our affiliates") for s in sentences)


@pytest.mark.parametrize(
    ("recipient_type", "declared"),
    [
        ("authority", True), ("affiliate", True), ("business_partner", True), ("advertiser", True),
        ("investor", True), ("successor", True), ("service_provider", True), ("data_broker", False),
    ],
)
def test_disclosure_section_recipient_types(recipient_type: str, declared: bool) -> None:
    policy = default_policy()
    identified = {t.value for d in policy.disclosures if d.identifiability == "identified" for t in d.recipient_types}
    assert (recipient_type in identified) is declared
    assert recipient_type in {t.value for t in RecipientType}


def test_customer_data_is_processed_only_as_processor() -> None:
    policy = default_policy()
    processor = {c for col in policy.collections if col.role.value == "processor" for c in col.data_categories}
    assert "user.content" in processor
    assert {p for u in policy.uses if u.role.value == "processor" for p in u.purposes} == {
        "essential.service", "essential.legal_obligation"}


def test_custom_key_extends_the_taxonomy() -> None:
    tax = default_policy().taxonomy()
    assert tax.has(Dimension.DATA_USE, "operations.business_transfer")
    assert tax.entry(Dimension.DATA_USE, "operations.business_transfer").custom
    assert tax.has(Dimension.DATA_USE, "essential.service.operations.support")
