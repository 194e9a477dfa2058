"""`lineage policy check` against broken and forged copies of the S Plus policy and of its source text.

Each copy is the bundled policy and source, copied together, with one or a few edits; the check must exit 1 and
name every problem, with its file and line, in one pass and in line order.
"""

from __future__ import annotations

import io
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

from lineage.cli import main
from policies import DEFAULT_POLICY_FILE, SOURCE_DIR, PolicyFileError, load_policy

SOURCE_NAME = "privacy-policy-s-plus-helpdesk-chatbot.md"
PARTNERS = (
    "We may share your information with our business partners to offer you certain products, services or promotions."
)


@dataclass
class Copy:
    """A copy of the policy and its source in a folder of its own, to be edited."""

    policy: Path
    source: Path

    @property
    def published(self) -> Path:
        return self.source.with_name("privacy-policy-s-plus-helpdesk-chatbot.txt")

    def edit(self, old: str, new: str, *, source: bool = False, count: int = 1) -> Copy:
        """Edit the policy, or the source: the Markdown and, where it has the same words, the published text, as a
        forger would to keep the two alike."""
        target = self.source if source else self.policy
        text = target.read_text(encoding="utf-8")
        assert text.count(old) >= count, old
        target.write_text(text.replace(old, new, count), encoding="utf-8")
        published = self.published.read_text(encoding="utf-8")
        if source and old in published:
            self.published.write_text(published.replace(old, new, count), encoding="utf-8")
        return self

    def line(self, needle: str, *, source: bool = False) -> int:
        target = self.source if source else self.policy
        for number, line in enumerate(target.read_text(encoding="utf-8").splitlines(), start=1):
            if needle in line:
                return number
        raise AssertionError(needle)

    def check(self) -> tuple[int, list[str]]:
        out, err = io.StringIO(), io.StringIO()
        code = main(["policy", "check", str(self.policy)], out, err)
        return code, err.getvalue().splitlines()


@pytest.fixture
def copy(tmp_path: Path) -> Copy:
    shutil.copy(DEFAULT_POLICY_FILE, tmp_path / "policy.yaml")
    shutil.copytree(SOURCE_DIR, tmp_path / "source")
    return Copy(tmp_path / "policy.yaml", tmp_path / "source" / SOURCE_NAME)


def problems(lines: list[str]) -> list[str]:
    assert lines and re.search(r": \d+ problem\(s\)$", lines[-1]), lines
    return lines[:-1]


def test_the_bundled_policy_checks_clean(copy: Copy) -> None:
    out, err = io.StringIO(), io.StringIO()
    assert main(["policy", "check", str(DEFAULT_POLICY_FILE)], out, err) == 0
    assert "OK" in out.getvalue() and "checked against" in out.getvalue() and err.getvalue() == ""
    assert copy.check() == (0, [])


# -- forged declarations -------------------------------------------------------------------------------------------


def test_an_invented_clause_with_over_permissive_content(copy: Copy) -> None:
    """A declaration that quotes a sentence the policy does not contain: data brokers, any purpose."""
    copy.edit(
        "  - id: business-partners\n",
        "  - id: sold-to-brokers\n"
        "    clause: {section: Business Partners, text: We may sell your information to data brokers.}\n"
        "    recipient_types: [data_broker]\n"
        "    purposes: any\n"
        "    reads:\n"
        "      - {phrase: data brokers, recipient_types: [data_broker], purposes: any,\n"
        "         data_categories: all-collected}\n"
        "  - id: business-partners\n",
    )
    code, lines = copy.check()
    assert code == 1
    (problem,) = problems(lines)
    assert problem.startswith(f"{copy.policy}: line {copy.line('sell your information')}, disclosures[")
    assert "not in the source text" in problem


def test_over_permissive_content_on_a_real_quote(copy: Copy) -> None:
    """Real sentences, more declared than they say: a recipient type, a purpose, the processor role, identified
    data where only aggregated data may go."""
    copy.edit("    recipient_types: [business_partner]\n", "    recipient_types: [business_partner, data_broker]\n")
    copy.edit("    purposes: [marketing, sales]\n", "    purposes: [marketing, sales, train_ai_system]\n")
    copy.edit("    identifiability: aggregated-only\n", "")
    copy.edit(
        "    recipient_types: [affiliate]\n", "    recipient_types: [affiliate]\n    roles: [controller, processor]\n"
    )
    code, lines = copy.check()
    assert code == 1
    found = problems(lines)
    assert len(found) == 4, found
    assert any("recipient_types[1]: declares recipient type 'data_broker', which no reading" in p for p in found)
    assert any("purposes[2]: declares purpose 'train_ai_system', which no reading" in p for p in found)
    assert any("declares role 'processor'" in p for p in found)
    assert any("reads a phrase as identifiability 'aggregated-only'" in p for p in found)


def test_a_sentence_quoted_under_another_section(copy: Copy) -> None:
    copy.edit("      section: Affiliates\n", "      section: Business Partners\n")
    code, lines = copy.check()
    found = problems(lines)
    assert code == 1
    assert "quoted as section 'Business Partners', but the source has these sentences under 'Affiliates'" in found[0]
    # and the sentences of Affiliates are no longer accounted for
    assert sum("sentence of section 'Affiliates'" in p for p in found) == 2


def test_a_quote_containing_a_sentence_of_another_section_does_not_cover_it(copy: Copy) -> None:
    """Moving a sentence in the source: the declaration quoting it from its old section no longer finds it, and the
    sentence in its new section is reported; a quote that merely contains it covers nothing."""
    sentence = PARTNERS
    copy.edit(sentence + "\n", "", source=True)
    copy.edit(
        "We may also share your information with such third parties for marketing purposes, as permitted by law.",
        "We may also share your information with such third parties for marketing purposes, as permitted by law. "
        + sentence,
        source=True,
    )
    code, lines = copy.check()
    found = problems(lines)
    assert code == 1
    assert any("disclosures[" in p and "under 'Other Third Parties'" in p for p in found)
    assert any(
        p.startswith(
            f"{copy.source}: line {copy.line('promotions.', source=True)}: sentence of section 'Other Third Parties'"
        )
        and "business partners" in p
        for p in found
    )


@pytest.mark.parametrize(
    "forged",
    [
        "We sell data.",
        "We Sell Your Information To Data Brokers.",
        "Data Brokers.",
        "WE SHARE EVERYTHING.",
    ],
)
def test_short_and_title_case_sentences_in_the_source_are_sentences(copy: Copy, forged: str) -> None:
    copy.edit(PARTNERS, f"{PARTNERS} {forged}", source=True)
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert code == 1
    assert problem.startswith(
        f"{copy.source}: line {copy.line(forged, source=True)}: sentence of section 'Business Partners'"
    )
    assert forged in problem


@pytest.mark.parametrize("forged", ["We sell data.", "We Sell Your Information To Data Brokers."])
def test_a_forged_published_text_no_longer_matches_its_structured_copy(copy: Copy, forged: str) -> None:
    """The policy's quotes are checked against the structured (Markdown) source, which must be the published text
    (source_document, beside it) word for word: a sentence added to the published text is found too."""
    published = copy.published
    text = published.read_text(encoding="utf-8")
    assert PARTNERS in text
    published.write_text(text.replace(PARTNERS, f"{PARTNERS} {forged}"), encoding="utf-8")
    line = next(n for n, x in enumerate(published.read_text(encoding="utf-8").splitlines(), 1) if forged in x)
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert code == 1
    assert problem.startswith(f"{copy.source}: line {copy.line(PARTNERS, source=True)}: is not the published text")
    assert f"line {line} of privacy-policy-s-plus-helpdesk-chatbot.txt" in problem


def test_the_published_text_and_its_structured_copy_agree_whatever_the_markup(copy: Copy) -> None:
    copy.edit("### Other Third Parties\n", "### Other Third Parties\n\n<!-- a note -->\n", source=True)
    copy.edit("- Notify you of updates to our Services.", "* Notify you of updates to our Services.", source=True)
    assert copy.check() == (0, [])


def test_a_paragraph_of_its_own_in_the_source_is_text_not_a_heading(copy: Copy) -> None:
    copy.edit("## How We Use Information\n", "## How We Use Information\n\nWe Sell Your Data\n", source=True)
    text = copy.published.read_text(encoding="utf-8")  # the published text forged alike
    assert "How We Use Information\n\n" in text
    copy.published.write_text(
        text.replace("How We Use Information\n\n", "How We Use Information\n\nWe Sell Your Data\n\n", 1),
        encoding="utf-8",
    )
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert "sentence of section 'How We Use Information'" in problem and "We Sell Your Data" in problem


def test_a_sentence_the_quotes_left_out(copy: Copy) -> None:
    copy.edit(
        '  - clause: {section: DISCLOSURE OF YOUR INFORMATION, text: "Your information may be disclosed as follows:"}\n'
        "    why: Introduces the disclosures; each is declared on its own.\n",
        "",
    )
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert f"line {copy.line('Your information may be disclosed as follows:', source=True)}:" in problem


def test_a_sentence_declared_and_explained_away(copy: Copy) -> None:
    copy.edit(
        "not_declarations:\n",
        "not_declarations:\n"
        '  - clause: {section: Business Partners, text: "We may share your information with our business partners '
        'to offer you certain products, services or promotions."}\n'
        "    why: nothing to see\n",
    )
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert "lists as declaring nothing a sentence that disclosures[" in problem


def test_part_of_a_sentence_is_not_a_quote(copy: Copy) -> None:
    copy.edit(
        f"text: {PARTNERS}",
        "text: We may share your information with our business partners",
    )
    code, lines = copy.check()
    found = problems(lines)
    assert "not whole sentences of the source" in found[0]
    assert any("sentence of section 'Business Partners'" in p for p in found)


def test_a_phrase_that_is_not_in_its_clause(copy: Copy) -> None:
    copy.edit('      - {phrase: "our business partners"', '      - {phrase: "our data brokers"')
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert f"line {copy.line('our data brokers')}," in problem and "phrase not in the clause quoted" in problem


def test_a_reading_of_a_choice_that_does_not_exist(copy: Copy) -> None:
    copy.edit("choice: credit-risk-is-finance}", "choice: credit-risk-is-anything}")
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert "unknown reading choice 'credit-risk-is-anything'" in problem


# -- one pass, in line order ---------------------------------------------------------------------------------------


def test_a_role_typo_does_not_hide_an_unknown_category_or_a_duplicate_id(copy: Copy) -> None:
    copy.edit("  - id: customer-data-examples\n", "  - id: customer-data\n")
    copy.edit("    data_categories: [user.content]\n", "    data_categories: [user.contnet]\n")
    copy.edit(
        "    role: controller\n    data_subjects: [customer]\n", "    role: controler\n    data_subjects: [customer]\n"
    )
    code, lines = copy.check()
    found = problems(lines)
    assert code == 1
    assert [int(re.search(r": line (\d+),", p).group(1)) for p in found] == sorted(  # type: ignore[union-attr]
        int(re.search(r": line (\d+),", p).group(1))
        for p in found  # type: ignore[union-attr]
    )
    assert any("unknown data category 'user.contnet'" in p for p in found)
    assert any("duplicate declaration id 'customer-data'" in p for p in found)
    assert any(f"line {copy.line('role: controler')}, collections[4].role:" in p for p in found)


def test_problems_in_both_files_policy_first_each_in_line_order(copy: Copy) -> None:
    copy.edit("credit risk reduction.", "credit risk reduction and advertising.", source=True)
    copy.edit("  - id: affiliates\n", "  - id: affiliates\n    colour: blue\n")
    copy.edit("We may share information we have collected about you in certain situations.", "We share.", source=True)
    code, lines = copy.check()
    found = problems(lines)
    files = [p.split(": line")[0] for p in found]
    assert files == sorted(files, key=lambda f: f != str(copy.policy))
    policy_lines = [int(p.split(": line ")[1].split(",")[0]) for p in found if p.startswith(str(copy.policy))]
    source_lines = [int(p.split(": line ")[1].split(":")[0]) for p in found if p.startswith(str(copy.source))]
    assert policy_lines == sorted(policy_lines) and source_lines == sorted(source_lines)
    assert len(policy_lines) >= 3 and len(source_lines) >= 2


def test_an_unterminated_quote_is_reported_at_its_own_line(copy: Copy) -> None:
    copy.edit(
        '    clause: {section: How We Use Information, text: "Create and manage your account."}\n',
        '    clause: {section: How We Use Information, text: "Create and manage your account.}\n',
    )
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert f"line {copy.line('Create and manage your account.')}," in problem
    assert "quote opened here is not closed" in problem


def test_an_unterminated_quote_at_the_end_of_a_block_mapping(copy: Copy) -> None:
    copy.edit('version: "2024.2"\n', 'version: "2024.2\n')
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert f"line {copy.line('version:')}," in problem


def test_the_source_must_exist(copy: Copy) -> None:
    copy.edit("source: source/privacy-policy-s-plus-helpdesk-chatbot.md\n", "source: source/missing.md\n")
    code, lines = copy.check()
    (problem,) = problems(lines)
    assert f"line {copy.line('source: source/missing.md')}, source: cannot read the source text" in problem


def test_a_policy_without_a_source_is_checked_for_everything_else(copy: Copy) -> None:
    copy.edit("source: source/privacy-policy-s-plus-helpdesk-chatbot.md\n", "")
    out, err = io.StringIO(), io.StringIO()
    assert main(["policy", "check", str(copy.policy)], out, err) == 0
    assert "names no source text, so its quotes were not checked" in out.getvalue()


def test_a_plain_text_source_is_read_by_its_lines(tmp_path: Path) -> None:
    """Any policy with a source is held to it: here a small one, with a plain-text source."""
    (tmp_path / "text.txt").write_text(
        "Our Policy\n\nWe collect your email address when you sign up. We Sell Data.\n\nSharing\n\n"
        "We share your email address with our affiliates.\n",
        encoding="utf-8",
    )
    policy = tmp_path / "small.yaml"
    policy.write_text(
        """id: small
version: "1"
title: Our Policy
source_document: text.txt
source: text.txt
controller: {name: Example Ltd}
retention: {statement: None stated.}
collections:
  - id: signup
    clause: {section: Our Policy, text: We collect your email address when you sign up.}
    data_categories: [user.contact.email]
    sources: [data_subject]
    role: controller
    data_subjects: [customer]
    reads:
      - {phrase: your email address, data_categories: [user.contact.email]}
      - {phrase: when you sign up, sources: [data_subject], data_subjects: [customer]}
uses:
  - id: service
    clause: {section: Sharing, text: We share your email address with our affiliates.}
    purposes: [essential.service]
    role: controller
""",
        encoding="utf-8",
    )
    with pytest.raises(PolicyFileError) as info:
        load_policy(policy)
    messages = [str(p) for p in info.value.problems]
    assert any("purposes[0]: declares purpose 'essential.service'" in m for m in messages)
    assert any(m.startswith("line 3: sentence of section 'Our Policy'") and "We Sell Data." in m for m in messages)
    assert len(messages) == 2, messages
