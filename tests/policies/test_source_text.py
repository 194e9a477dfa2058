"""Reading a source text as sections and sentences from its own structure (policies/source_text.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from policies.source_text import read_source, split_sentences


@pytest.mark.parametrize(
    ("text", "sentences"),
    [
        ("We sell data. We Sell Your Data To Brokers.", ["We sell data.", "We Sell Your Data To Brokers."]),
        ("referred to as “Customer Data.” As explained", ["referred to as “Customer Data.”", "As explained"]),
        ("you or your Customer (e. g. , your employer)", ["you or your Customer (e. g. , your employer)"]),
        ("(i. e Google / Office 365). Next.", ["(i. e Google / Office 365).", "Next."]),
        ("conferences, etc. ) you may have", ["conferences, etc. ) you may have"]),
        ("as “Personal Data. ”", ["as “Personal Data. ”"]),
        ("Is it? Yes! 2024 was. “Quoted” start.", ["Is it?", "Yes!", "2024 was.", "“Quoted” start."]),
        ("  spaced\u00a0 out.\n  Next line.  ", ["spaced out.", "Next line."]),
    ],
)  # fmt: skip
def test_sentences(text: str, sentences: list[str]) -> None:
    assert split_sentences(text) == sentences


def test_markdown_structure(tmp_path: Path) -> None:
    source = tmp_path / "p.md"
    source.write_text(
        "<!-- a comment\n that spans lines. -->\n"
        "# Policy\n\nIntro one. Intro two.\n\n"
        "## Collect\n\nWe collect:\n\n"
        "- **Cookies.** We set cookies. They help.\n"
        "- **Log data**As with most sites, we log.\n"
        "- Plain item, no title.\n"
        "  continued here.\n\n"
        "---\n\nAfter the break.\n\n"
        "## Share\n\nShort.\n\n---\n\nBack in Policy.\n",
        encoding="utf-8",
    )
    doc = read_source(source)
    assert [(h.text, h.level, h.line) for h in doc.headings] == [
        ("Policy", 1, 3), ("Collect", 2, 7), ("Cookies", 3, 11), ("Log data", 3, 12), ("Share", 2, 20),
    ]  # fmt: skip
    assert [(s.section, s.text, s.line) for s in doc.sentences] == [
        ("Policy", "Intro one.", 5),
        ("Policy", "Intro two.", 5),
        ("Collect", "We collect:", 9),
        ("Cookies", "We set cookies.", 11),
        ("Cookies", "They help.", 11),
        ("Log data", "As with most sites, we log.", 12),
        ("Collect", "Plain item, no title. continued here.", 13),
        ("Policy", "After the break.", 18),  # --- closes Collect
        ("Share", "Short.", 22),
        ("Policy", "Back in Policy.", 26),
    ]
    # a quote is whole consecutive sentences of the section it names, across list items too
    assert [s.text for s in doc.locate("Cookies", "We set cookies. They help.")] == ["We set cookies.", "They help."]
    assert doc.locate("Cookies", "We set cookies") == []  # part of a sentence
    assert doc.locate("Collect", "We set cookies.") == []  # another section's sentence
    assert doc.sections_quoting("We set cookies.") == ["Cookies"]


def test_plain_text_headings_are_lines_standing_alone_that_do_not_end_like_sentences(tmp_path: Path) -> None:
    source = tmp_path / "p.txt"
    source.write_text(
        "Our Policy\n\nWe Sell Data.\n\nDISCLOSURE\n\nWe share.\nIt wraps\nonto this line.\n\n"
        "  • A bullet.\n  • Another\n\nok\n",
        encoding="utf-8",
    )
    doc = read_source(source)
    assert [h.text for h in doc.headings] == ["Our Policy", "DISCLOSURE", "ok"]
    assert [(s.section, s.text) for s in doc.sentences] == [
        ("Our Policy", "We Sell Data."),
        ("DISCLOSURE", "We share."),
        ("DISCLOSURE", "It wraps onto this line."),
        ("DISCLOSURE", "A bullet."),
        ("DISCLOSURE", "Another"),
    ]
