"""Report renderings: JSON (the models' dumps), CSV tables, HTML from Jinja2 templates, and PDF of that HTML."""

from __future__ import annotations

import csv
import io
from collections.abc import Callable, Iterable, Sequence
from datetime import datetime
from typing import Any

from schemas.reports import (
    AccessReport,
    AnyReport,
    Art19Report,
    CcpaDisclosed,
    CcpaReport,
    GapsReport,
    Labelled,
    RecipientDisclosure,
    RopaReport,
)

FORMATS = ("json", "csv", "html", "pdf")
#: Evidence ids shown per line in HTML and PDF; the JSON and CSV forms always carry every id.
HTML_ID_LIMIT = 40


class ReportFormatError(RuntimeError):
    """A format cannot be produced here (a missing optional dependency or library), or a bad table name."""


# -- JSON -------------------------------------------------------------------------------------------
def render_json(report: AnyReport) -> str:
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


def _recipient_rows(items: Sequence[RecipientDisclosure]) -> Table:
    head = ["recipient_id", "name", "type", "country", "in_eea", "contact", "categories", "purposes",
            "ccpa_disclosure", "first_shared_at", "last_shared_at", "event_ids"]
    rows = [[r.id, r.name, r.type, r.country, r.in_eea, r.contact, r.categories, r.purposes, r.ccpa_disclosure,
             r.first_shared_at, r.last_shared_at, r.event_ids] for r in items]
    return head, [[_cell(v) for v in row] for row in rows]


def _disclosed_rows(items: Sequence[CcpaDisclosed]) -> Table:
    head = ["category", "label", "ccpa_category", "third_party_categories", "recipients", "purposes", "events",
            "event_ids"]
    rows = [[d.category.key, d.category.label, d.ccpa_category, d.third_party_categories,
             [r.id for r in d.recipients], d.purposes, d.events, d.event_ids] for d in items]
    return head, [[_cell(v) for v in row] for row in rows]


def _gaps_tables(report: GapsReport) -> dict[str, Table]:
    undeclared = (
        ["alert_id", "rule", "severity", "status", "category", "purpose", "recipient_id", "recipient_name",
         "recipient_type", "recipient_country", "reason", "clause_section", "people", "first_seen", "last_seen",
         "event_ids"],
        [[_cell(v) for v in (
            u.alert_id, u.rule, u.severity, u.status, u.category, u.purpose,
            u.recipient.id if u.recipient else None, u.recipient.name if u.recipient else None,
            u.recipient.type if u.recipient else None, u.recipient.country if u.recipient else None,
            u.reason, u.clause_section, u.people, u.first_seen, u.last_seen, u.event_ids,
        )] for u in report.undeclared],
    )
    unexercised = (
        ["declaration_id", "kind", "status", "summary", "why", "clause_section", "clause_text"],
        [[_cell(v) for v in (u.declaration.id, u.declaration.kind, u.status, u.summary, u.why,
                             u.declaration.clause_section, u.declaration.clause_text)] for u in report.unexercised],
    )
    return {"undeclared": undeclared, "unexercised": unexercised}


def tables(report: AnyReport) -> dict[str, Table]:
    """The tabular parts of a report, by name; the first is the default CSV table."""
    if isinstance(report, AccessReport):
        return {
            "recipients": _recipient_rows(report.recipients),
            "categories": (
                ["category", "label", "ccpa_category", "roles", "sources", "purposes", "first_seen", "last_seen",
                 "event_count"],
                [[_cell(v) for v in (c.key, c.label, c.ccpa_category, c.roles,
                                     [s.type + (f":{s.name}" if s.name else "") for s in c.sources], c.purposes,
                                     c.first_seen, c.last_seen, c.event_count)] for c in report.categories],
            ),
            "sources": (
                ["type", "name", "categories"],
                [[_cell(v) for v in (s.type, s.name, s.categories)] for s in report.sources_other_than_subject],
            ),
        }
    if isinstance(report, Art19Report):
        return {"recipients": _recipient_rows(report.recipients)}
    if isinstance(report, CcpaReport):
        return {
            "collected": (
                ["category", "label", "ccpa_category", "sources", "purposes", "people", "events", "event_ids"],
                [[_cell(v) for v in (c.category.key, c.category.label, c.ccpa_category, c.sources, c.purposes,
                                     c.people, c.events, c.event_ids)] for c in report.collected],
            ),
            "sold_or_shared": _disclosed_rows(report.sold_or_shared),
            "business_purpose": _disclosed_rows(report.business_purpose),
        }
    if isinstance(report, RopaReport):
        rows = []
        for a in [*report.activities, *report.processor.activities]:
            o = a.observed
            rows.append([_cell(v) for v in (
                a.role, a.purpose.key, a.purpose.label, [d.id for d in a.declared_in], a.data_subjects,
                a.data_categories, a.recipient_categories, a.third_countries_statement, a.retention,
                o.events if o else 0, [r.id for r in o.recipients] if o else [],
                o.undeclared_recipient_types if o else [], o.event_ids if o else [],
            )])
        head = ["role", "purpose", "purpose_label", "declared_in", "data_subjects", "data_categories",
                "recipient_categories", "third_countries", "retention", "observed_events", "observed_recipients",
                "undeclared_recipient_types", "observed_event_ids"]
        return {"activities": (head, rows), **_gaps_tables(report.gaps)}
    return _gaps_tables(report)


def render_csv(report: AnyReport, table: str | None = None) -> str:
    """One table of the report as CSV (RFC 4180, header row first); lists in a cell are joined with '; '."""
    available = tables(report)
    name = table or next(iter(available))
    if name not in available:
        choices = ", ".join(available)
        raise ReportFormatError(f"the {report.kind} report has no table {name!r}; choose one of: {choices}")
    head, rows = available[name]
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow(head)
    writer.writerows(rows)
    return buf.getvalue()


# -- HTML and PDF -----------------------------------------------------------------------------------
def _when(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if value else ""


def _day(value: datetime | None) -> str:
    return value.strftime("%Y-%m-%d") if value else ""


def _labels(items: Iterable[Labelled]) -> str:
    return ", ".join(i.label for i in items)


def _yes_no(value: bool | None, yes: str = "yes", no: str = "no", unknown: str = "unknown") -> str:
    return unknown if value is None else yes if value else no


def _environment() -> Any:
    try:
        import jinja2
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ReportFormatError(
            "HTML and PDF reports need Jinja2: pip install 'privacy-lineage[reports]'"
        ) from exc
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("reports", "templates"),
        autoescape=jinja2.select_autoescape(["html"], default=True),
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )
    filters: dict[str, Callable[..., str]] = {"when": _when, "day": _day, "labels": _labels, "yesno": _yes_no}
    env.filters.update(filters)
    env.globals["id_limit"] = HTML_ID_LIMIT
    return env


def render_html(report: AnyReport) -> str:
    """The report as one self-contained, printable HTML page (inline CSS, no external assets)."""
    template = _environment().get_template(f"{report.kind}.html")
    return str(template.render(r=report))


def render_pdf(report: AnyReport) -> bytes:
    """The HTML report printed to PDF with WeasyPrint (text stays extractable)."""
    html = render_html(report)
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


def render(report: AnyReport, fmt: str, table: str | None = None) -> str | bytes:
    """The report in ``fmt`` (json, csv, html: text; pdf: bytes)."""
    if fmt == "json":
        return render_json(report)
    if fmt == "csv":
        return render_csv(report, table)
    if fmt == "html":
        return render_html(report)
    if fmt == "pdf":
        return render_pdf(report)
    raise ReportFormatError(f"unknown format {fmt!r}; choose one of: {', '.join(FORMATS)}")
