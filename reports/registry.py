"""The table of reports, :data:`REPORTS`: each kind's builder, model, CSV tables and how it is asked for.

The CLI (`lineage report KIND`), the HTTP API (``/api/reports/KIND``) and the formats (CSV tables; HTML from
``templates/KIND.html``, else the generic ``templates/tables.html``) all read this table. A new report is its
model (``schemas/reports.py``), a module here with its builder and tables, and one line below.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Generic, TypeVar

from graph.store import GraphStore
from reports import access, art19, ccpa, gaps, ropa
from reports.vocab import Table
from schemas.policy import Organisation, Policy
from schemas.recipients import RecipientRegistry
from schemas.regulator_reports import CcpaReport, GapsReport, RopaReport
from schemas.reports import AccessReport, Art19Report, Report

R = TypeVar("R", bound=Report)


@dataclass(frozen=True)
class ReportRequest:
    """Everything a report may be built from; each kind reads what it needs."""

    store: GraphStore
    policy: Policy
    subject: str | None = None  # per-person reports: the person's id, and the pseudonymiser to find them by
    pseudonymizer: Callable[[str], str] | None = None
    since: datetime | None = None
    until: datetime | None = None
    region: frozenset[str] | None = None
    controller: Organisation | None = None
    annex: bool = False  # kinds that offer it: the letter carries the evidence event ids in an annex
    registry: RecipientRegistry | None = None  # the recipient registry: transfer safeguards, notice references

    def person(self) -> tuple[str, Callable[[str], str]]:
        """The subject of a per-person report and the pseudonymiser (the CLI and the API insist on both)."""
        if self.subject is None or self.pseudonymizer is None:
            raise ValueError("a per-person report needs a subject and the pseudonymiser")
        return self.subject, self.pseudonymizer


@dataclass(frozen=True)
class ReportKind(Generic[R]):
    """One report: what it is called and answers, how it is built, and what the CLI and the API offer for it."""

    name: str
    title: str  # one line: the CLI's help and the API's description
    model: type[R]
    build: Callable[[ReportRequest], R]
    tables: Callable[[R], dict[str, Table]]  # its CSV tables by name; the first is the default
    table_names: tuple[str, ...]
    per_person: bool = False  # about one person: needs a subject, the dpo role, and is recorded in the audit trail
    period: bool = True  # takes --since/--until
    region: bool = False  # takes the person's --region
    returned: Callable[[R], dict[str, int]] | None = None  # for per-person kinds: what the audit trail counts
    annex: bool = False  # offers an annex of evidence event ids in its letter (--annex, ?annex=true)
    refs: Callable[[R], list[str]] | None = None  # the references its lines quote: what --evidence writes
    heading: str = ""  # the console's card: its heading (default: the title) and one sentence on what it holds
    summary: str = ""


def _access(r: ReportRequest) -> AccessReport:
    subject, key = r.person()
    period = (r.since, r.until)
    return access.access_report(
        r.store,
        key,
        r.policy,
        subject,
        *period,
        region=r.region,
        controller=r.controller,
        annex=r.annex,
        registry=r.registry,
    )


def _art19(r: ReportRequest) -> Art19Report:
    subject, key = r.person()
    return art19.art19_report(r.store, key, subject, r.policy, controller=r.controller, registry=r.registry)


_KINDS: tuple[ReportKind[Any], ...] = (
    ReportKind(
        "access",
        "GDPR Art. 15 / CCPA right-to-know report for one person",
        AccessReport,
        _access,
        access.access_tables,
        ("recipients", "categories", "sources", "transfers"),
        per_person=True,
        region=True,
        annex=True,
        returned=lambda r: {"categories": len(r.categories), "recipients": len(r.recipients)},
        heading="Access report (GDPR Art. 15 / CCPA right to know)",
        summary="What is recorded of the person, for what, from where, and who received it.",
    ),
    ReportKind(
        "art19",
        "GDPR Art. 19: recipients to notify of a rectification, erasure or restriction",
        Art19Report,
        _art19,
        art19.art19_tables,
        ("recipients", "notices"),
        per_person=True,
        period=False,
        returned=lambda r: {"recipients": len(r.recipients), "notices": len(r.notices)},
        heading="Recipients to notify (GDPR Art. 19)",
        summary="Who received the person's data and must be told of an erasure, rectification or restriction, and "
        "where each notice stands.",
    ),
    ReportKind(
        "ropa",
        "GDPR Art. 30 record of processing activities, with declared vs observed",
        RopaReport,
        lambda r: ropa.ropa_report(r.store, r.policy, r.since, r.until, controller=r.controller, registry=r.registry),
        ropa.ropa_tables,
        ("activities", "flows", "transfers", "undeclared", "unexercised"),
        refs=ropa.ropa_refs,
        heading="Record of processing (GDPR Art. 30)",
        summary="Declared processing activities with what was observed.",
    ),
    ReportKind(
        "ccpa",
        "CCPA disclosures (default: the preceding 12 months)",
        CcpaReport,
        lambda r: ccpa.ccpa_report(r.store, r.policy, r.since, r.until, controller=r.controller),
        ccpa.ccpa_tables,
        ("collected", "sold", "shared", "business_purpose"),
        refs=ccpa.ccpa_refs,
        heading="CCPA disclosures",
        summary="Categories collected, sold, shared for advertising, and disclosed for a business purpose, each "
        "listed apart (default: the preceding 12 months).",
    ),
    ReportKind(
        "gaps",
        "declared vs observed: unexercised declarations and undeclared flows",
        GapsReport,
        lambda r: gaps.gaps_report(r.store, r.policy, r.since, r.until, controller=r.controller),
        gaps.gaps_tables,
        ("undeclared", "unexercised"),
        refs=gaps.gaps_refs,
        heading="Declared vs observed",
        summary="Undeclared flows and declarations never exercised.",
    ),
)
#: Every report by kind, in the order the CLI and the API list them.
REPORTS: dict[str, ReportKind[Any]] = {k.name: k for k in _KINDS}
