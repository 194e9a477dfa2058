"""The regulator PDFs as printed: a summary page first with its contents, wide tables on landscape pages, page x of
y and the content hash on every page, no word split across lines, no blank first page, and a record of
processing whose length does not grow with the history (simulated S Plus traffic at two volumes)."""

from __future__ import annotations

import re
import shutil
import subprocess  # noqa: S404
from datetime import UTC, datetime
from io import BytesIO
from pathlib import Path

import pytest

from graph.sqlite_store import SQLiteGraphStore
from lineage.simulator import simulate
from reports.ccpa import ccpa_report
from reports.formats import content_hash, render_html, render_pdf
from reports.gaps import gaps_report, undeclared_groups
from reports.ropa import ropa_report
from schemas.parsing import validate_event
from schemas.regulator_reports import RopaReport
from schemas.reports import Report
from streams.handler import Handler
from tests.reports.test_reports import KEY, POLICY, _weasyprint, visible_text

NOW = datetime(2026, 6, 1, tzinfo=UTC)


def simulated_store(people: int, days: int) -> SQLiteGraphStore:
    store = SQLiteGraphStore(":memory:")
    h = Handler(store, POLICY, KEY)
    events = [validate_event(s.event, h.taxonomy) for s in simulate(people, days, seed=3)]
    for i in range(0, len(events), 5000):
        h.handle(events[i : i + 5000])
    return store


@pytest.fixture
def small() -> SQLiteGraphStore:
    return simulated_store(40, 6)


def pages(data: bytes) -> list[tuple[str, bool]]:
    """Each page's text and whether it is landscape."""
    from pypdf import PdfReader

    return [(p.extract_text() or "", p.mediabox.width > p.mediabox.height) for p in PdfReader(BytesIO(data)).pages]


_WORD = re.compile(r"[A-Za-z]{2,}")


def split_words(report: Report, data: bytes) -> set[str]:
    """Words of the PDF's text that the report never says: pieces of a word broken across lines (a key broken at its
    dots or underscores gives whole pieces, which the report does say)."""
    digest = content_hash(report)
    said = set(_WORD.findall(visible_text(render_html(report)).replace(digest, "")))
    said |= {"Page", "of", "Generated", "UTC", "content", "SHA"}  # the page furniture
    printed = " ".join(text for text, _ in pages(data)).replace(digest, "").replace(digest[:16], "")
    return set(_WORD.findall(printed)) - said


def test_the_record_of_processing_is_fit_to_file(small: SQLiteGraphStore) -> None:
    _weasyprint()
    report = ropa_report(small, POLICY, now=NOW)
    data = render_pdf(report)
    printed = pages(data)
    first, landscape = printed[0]
    assert not landscape and "Record of processing activities" in first
    # the summary page: who, which policy, the period, the counts and what is undeclared, and the contents
    for phrase in (
        "Data-protection officer",
        f"version {POLICY.version}",
        "All recorded events.",
        "In this record",
        "Observed flows the policy does not declare",
        "Contents",
        "Annex: the observed flows",
    ):
        assert phrase in first, phrase
    total = len(printed)
    digest = content_hash(report)[:16]
    for n, (text, _) in enumerate(printed, 1):
        assert f"Page {n} of {total}" in text and digest in text and "Generated 2026-06-01 00:00 UTC" in text
    wide = [text for text, landscape in printed if landscape]
    assert any(re.search(r"\ba_[0-9a-f]{16}\b", text) for text in wide)  # the undeclared flows, landscape
    assert any(re.search(r"\bf_[0-9a-f]{16}\b", text) for text in wide)  # the annex of observed flows
    assert split_words(report, data) == set()


@pytest.mark.parametrize("build", [gaps_report, ccpa_report], ids=["gaps", "ccpa"])
def test_the_gaps_and_ccpa_reports_are_fit_to_file(small: SQLiteGraphStore, build: object) -> None:
    _weasyprint()
    report = build(small, POLICY, now=NOW)  # type: ignore[operator]
    data = render_pdf(report)
    printed = pages(data)
    assert "Contents" in printed[0][0] and not printed[0][1]
    assert any(landscape for _, landscape in printed)
    assert split_words(report, data) == set()


_MARGIN = 14 * 72 / 25.4  # the side margins of every page (reports/templates/base.html), in points
_WORD_BOX = re.compile(r'<page width="([\d.]+)"|<word xMin="([\d.]+)" yMin="[\d.]+" xMax="([\d.]+)"[^>]*>([^<]*)<')


def words_out_of_the_page(data: bytes, tmp_path: Path) -> list[str]:
    """The words printed past the left or right margin (text wider than its column runs over the table's edge)."""
    if shutil.which("pdftotext") is None:
        pytest.skip("pdftotext (poppler-utils) is not installed")
    pdf = tmp_path / "report.pdf"
    pdf.write_bytes(data)
    command = ["pdftotext", "-bbox", str(pdf), "-"]
    boxes = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 - poppler's tool
    out, page, width = [], 0, 0.0
    for page_width, x_min, x_max, word in _WORD_BOX.findall(boxes):
        if page_width:
            page, width = page + 1, float(page_width)
        elif float(x_min) < _MARGIN - 0.5 or float(x_max) > width - _MARGIN + 0.5:
            out.append(f"page {page}: {word} ({float(x_min):.1f}-{float(x_max):.1f} of {width:.1f} pt)")
    return out


def overlapping_words(data: bytes, tmp_path: Path) -> list[str]:
    """Pairs of words printed over each other (a number too wide for its column runs into the next one)."""
    pdf = tmp_path / "overlap.pdf"
    pdf.write_bytes(data)
    command = ["pdftotext", "-bbox", str(pdf), "-"]
    boxes = subprocess.run(command, check=True, capture_output=True, text=True).stdout  # noqa: S603 - poppler's tool
    out: list[str] = []
    for n, page in enumerate(boxes.split("<page ")[1:], 1):
        words = [
            (float(a), float(b), float(c), float(d), w)
            for a, b, c, d, w in re.findall(
                r'<word xMin="([\d.]+)" yMin="([\d.]+)" xMax="([\d.]+)" yMax="([\d.]+)">([^<]*)<', page
            )
        ]
        for i, (x0, y0, x1, y1, w) in enumerate(words):
            for u0, v0, u1, v1, v in words[i + 1 :]:
                if min(x1, u1) - max(x0, u0) > 0.5 and min(y1, v1) - max(y0, v0) > 1.0:
                    out.append(f"page {n}: {w!r} over {v!r}")
    return out


def at_scale(report: Report, factor: int) -> Report:
    """The same report with every count of events and people ``factor`` times larger (its layout at that volume)."""

    def grow(value: object) -> object:
        if isinstance(value, dict):
            return {
                k: v * factor if k in ("events", "people") and isinstance(v, int) else grow(v) for k, v in value.items()
            }
        if isinstance(value, list):
            return [grow(v) for v in value]
        return value

    return type(report).model_validate(grow(report.model_dump()))


@pytest.mark.parametrize("build", [ropa_report, gaps_report, ccpa_report], ids=["ropa", "gaps", "ccpa"])
def test_every_table_fits_its_page_at_any_volume(small: SQLiteGraphStore, build: object, tmp_path: Path) -> None:
    """No word past the margins (a reference or a key too long for its column would run over the table's edge) and
    no words printed over each other, as the report is and with counts of ten million events: the same pages."""
    _weasyprint()
    report = build(small, POLICY, now=NOW)  # type: ignore[operator]
    data, big = render_pdf(report), render_pdf(at_scale(report, 10_000))
    assert words_out_of_the_page(data, tmp_path) == []
    assert overlapping_words(data, tmp_path) == []
    assert words_out_of_the_page(big, tmp_path) == []
    assert overlapping_words(big, tmp_path) == []
    assert len(pages(big)) == len(pages(data))


def test_the_first_page_is_not_blank(small: SQLiteGraphStore, tmp_path: Path) -> None:
    _weasyprint()
    if shutil.which("pdftoppm") is None:
        pytest.skip("pdftoppm (poppler-utils) is not installed")
    pdf = tmp_path / "gaps.pdf"
    pdf.write_bytes(render_pdf(gaps_report(small, POLICY, now=NOW)))
    command = ["pdftoppm", "-r", "40", "-gray", "-f", "1", "-l", "1", str(pdf), str(tmp_path / "p")]
    subprocess.run(command, check=True)  # noqa: S603 - poppler's own tool on our own file
    (image,) = tmp_path.glob("p*.pgm")
    raw = image.read_bytes()
    width, height = (int(x) for x in re.findall(rb"P5\s+(\d+)\s+(\d+)\s+255\s", raw)[0])
    pixels = raw[len(raw) - width * height :]
    rows = [pixels[i * width : (i + 1) * width] for i in range(height)]
    inked = sum(1 for row in rows if min(row) < 200) / height
    # a page with its first table pushed over holds a title only; the summary page is written over most of its height
    assert inked > 0.3, f"page 1 is nearly blank: {inked:.0%} of its lines have ink"


def test_the_record_is_as_long_with_twice_the_history(small: SQLiteGraphStore) -> None:
    """The same flows over twice the events (the history again a year later): the same number of pages."""
    _weasyprint()
    once = render_pdf(ropa_report(small, POLICY, now=NOW))
    h = Handler(small, POLICY, KEY)
    again = []
    for s in simulate(40, 6, seed=3):
        e = dict(s.event, event_id="again-" + s.event["event_id"])
        e["occurred_at"] = e["occurred_at"].replace("2026-", "2027-", 1)
        again.append(validate_event(e, h.taxonomy))
    for i in range(0, len(again), 5000):
        h.handle(again[i : i + 5000])
    twice = render_pdf(ropa_report(small, POLICY, now=NOW))
    assert small.stats().events == 2 * len(again)
    assert len(pages(twice)) == len(pages(once)) < 40


@pytest.mark.parametrize("build", [ropa_report, gaps_report], ids=["ropa", "gaps"])
def test_undeclared_flows_are_grouped_by_rule_each_quotation_once(small: SQLiteGraphStore, build: object) -> None:
    """A rule's title and each policy clause it concerns are printed once per group, not once per flow, and every
    undeclared flow keeps its line and its reference."""
    _weasyprint()
    report = build(small, POLICY, now=NOW)  # type: ignore[operator]
    gaps = report.gaps if isinstance(report, RopaReport) else report
    groups = undeclared_groups(gaps.undeclared)
    assert sum(len(g.flows) for g in groups) == len(gaps.undeclared)
    quoted = [c.clause_text for g in groups for c in g.clauses if c.clause_text]
    # the small world fires several rules, some over many flows that quote the same clause
    assert len(groups) >= 5 and len(quoted) < sum(1 for u in gaps.undeclared if u.clause_text)
    data = render_pdf(report)
    printed = " ".join(" ".join(text.split()) for text, _ in pages(data))
    for text in set(quoted):
        opening = " ".join(text.split()[:8])
        assert printed.count(opening) == quoted.count(text), opening
    for u in gaps.undeclared:
        assert u.alert_id in printed
    assert len(pages(data)) < 40
