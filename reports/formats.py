"""Report renderings: JSON (the models' dumps), CSV tables, HTML from Jinja2 templates, and PDF of that HTML."""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Iterable, Mapping
from datetime import date, datetime
from typing import Any

from reports.escaping import csv_text
from reports.gaps import undeclared_groups
from reports.registry import REPORTS
from schemas.reports import Labelled, Report

FORMATS = ("json", "csv", "html", "pdf")
#: Evidence ids shown per line in HTML and PDF; the JSON and CSV forms always carry every id.
HTML_ID_LIMIT = 40


class ReportFormatError(RuntimeError):
    """A format cannot be produced here (a missing optional dependency or library), or a bad table name."""


# -- JSON -------------------------------------------------------------------------------------------
def render_json(report: Report) -> str:
    """The report as JSON: the model's own dump, keys in declaration order (documented in docs/reports.md)."""
    return report.model_dump_json(indent=2) + "\n"


# -- CSV --------------------------------------------------------------------------------------------
Table = tuple[list[str], list[list[str]]]


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "yes" if value else "no"
    if isinstance(value, datetime):
        return value.isoformat().replace("+00:00", "Z")
    if isinstance(value, Labelled):
        return value.key
    if isinstance(value, list | tuple):
        return "; ".join(_cell(v) for v in value)
    return str(value)


def tables(report: Report) -> dict[str, Table]:
    """The tabular parts of a report as text, by name (its kind's tables: reports.registry); the first is the
    default CSV table."""
    return {
        name: (head, [[_cell(v) for v in row] for row in rows])
        for name, (head, rows) in REPORTS[report.kind].tables(report).items()
    }


def render_csv(report: Report, table: str | None = None) -> str:
    """One table of the report as CSV (RFC 4180, header row first); lists in a cell are joined with '; '; a text
    cell starting with =, +, -, @, a tab or a line break gets a leading ' (reports/escaping.py)."""
    available = tables(report)
    name = table or next(iter(available))
    if name not in available:
        choices = ", ".join(available)
        raise ReportFormatError(f"the {report.kind} report has no table {name!r}; choose one of: {choices}")
    head, rows = available[name]
    return csv_text(head, rows)  # a cell that starts like a formula is made text (OWASP: CSV injection)


# -- HTML and PDF -----------------------------------------------------------------------------------
def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _day(value: date | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _labels(items: Iterable[Labelled]) -> str:
    return ", ".join(i.label for i in items)


def _dotted(key: str) -> str:
    """A dotted key that may wrap after its dots and nowhere else (a zero-width space after each dot)."""
    return key.replace(".", ".\u200b")


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no", unknown: str = "unknown") -> str:
    return unknown if value is None else yes if value else no


def _breakable(key: str) -> str:
    """A key that may wrap after its dots and underscores and nowhere else (a zero-width space after each)."""
    return _dotted(key).replace("_", "_\u200b")


def content_hash(report: Report) -> str:
    """SHA-256 of the report's JSON form without the time it was generated: the same records, period and policy give
    the same hash, printed on every page of the PDF so a filed copy can be checked against its JSON."""
    data = report.model_dump(mode="json")
    data.get("header", {}).pop("generated_at", None)
    for nested in data.values():  # a report inside a report (the record of processing's gaps) has a header too
        if isinstance(nested, dict) and isinstance(nested.get("header"), dict):
            nested["header"].pop("generated_at", None)
    raw = json.dumps(data, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")
    return hashlib.sha256(raw).hexdigest()


def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReportFormatError("HTML and PDF reports need Jinja2: pip install 'privacy-lineage[reports]'") from exc
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters: dict[str, Callable[..., Any]] = {
        "when": _when,
        "day": _day,
        "labels": _labels,
        "yesno": _yes_no,
        "dotted": _dotted,
        "breakable": _breakable,
        "undeclared_groups": undeclared_groups,
    }
    env.filters.update(filters)
    env.globals.update(id_limit=HTML_ID_LIMIT, sections=[], hash_of=content_hash, annex=None)
    return env


def render_html(report: Report, annex: Mapping[str, list[str]] | None = None) -> str:
    """The report as one self-contained, printable HTML page (inline CSS, no external assets): its kind's own
    template, else the generic one, which shows its tables; ``annex``: the event ids behind each reference, when
    asked for (reports.evidence.annex)."""
    template = _environment().select_template([f"{report.kind}.html", "tables.html"])
    shown = tables(report) if template.name == "tables.html" else {}
    return str(template.render(r=report, tables=shown, annex=annex))


def render_pdf(report: Report, annex: Mapping[str, list[str]] | None = None) -> bytes:
    """The HTML report printed to PDF with WeasyPrint (text stays extractable)."""
    html = render_html(report, annex)
    try:
        from weasyprint import HTML  # type: ignore[import-untyped]
    except ImportError as exc:
        raise ReportFormatError("PDF reports need WeasyPrint: pip install 'privacy-lineage[reports]'") from exc
    except OSError as exc:  # WeasyPrint loads Pango with dlopen; a missing system library shows here
        raise ReportFormatError(
            f"PDF reports need the Pango libraries (Debian: apt-get install libpango-1.0-0 libpangoft2-1.0-0 "
            f"fonts-dejavu-core): {exc}"
        ) from exc
    return bytes(HTML(string=html).write_pdf())


def render(
    report: Report, fmt: str, table: str | None = None, annex: Mapping[str, list[str]] | None = None
) -> str | bytes:
    """The report in ``fmt`` (json, csv, html: text; pdf: bytes); ``annex`` for html and pdf."""
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report, table)
    if fmt == "html":
        return render_html(report, annex)
    if fmt == "pdf":
        return render_pdf(report, annex)
    raise ReportFormatError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
