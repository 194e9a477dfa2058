"""Report endpoints: access and Art. 19 (per person: dpo, audited), RoPA, CCPA and gaps (dpo, auditor); downloads."""

from __future__ import annotations

import argparse
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response

import reports.access as reports
from lineage.web.auth import REFUSALS, requires
from lineage.web.common import Instant, audited, aware
from lineage.web.console import Console
from lineage.web.tokens import Principal, Role
from reports.formats import ReportFormatError, render
from schemas.reports import AccessReport, AnyReport, Art19Report, CcpaReport, GapsReport, RopaReport

PER_PERSON = ("access", "art19")
KINDS = ("access", "art19", "ropa", "ccpa", "gaps")
_MEDIA = {"json": "application/json", "csv": "text/csv", "html": "text/html", "pdf": "application/pdf"}
_BAD: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad period, table or missing subject."},
    501: {"description": "This format cannot be produced on this server (e.g. PDF without WeasyPrint)."},
}
_FILE_SCHEMAS: dict[str, dict[str, Any]] = {"json": {"type": "object"}, "pdf": {"type": "string", "format": "binary"}}
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as a file.",
        "content": {
            m: {"schema": _FILE_SCHEMAS.get(k, {"type": "string"})}
            for k, m in _MEDIA.items()
        },
    }
}


Since = Annotated[Instant | None, Query(description="Start of the period (inclusive; UTC if no zone).")]
Until = Annotated[Instant | None, Query(description="End of the period (exclusive; UTC if no zone).")]
SubjectQ = Annotated[str, Query(min_length=1, description="The person's id (hashed here; never stored).")]
Region = Annotated[str | None, Query(description="The person's region: country codes and/or EEA, e.g. 'EEA,CH'.")]


def _region(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    from lineage.cli_reports import _region as parse  # one region syntax for the CLI and the API

    try:
        return parse(text)
    except argparse.ArgumentTypeError as exc:
        raise HTTPException(400, str(exc)) from None


def reports_router(console: Console) -> APIRouter:
    r = APIRouter(tags=["reports"])
    dpo = requires(console.tokens, Role.DPO)
    readers = requires(console.tokens, Role.DPO, Role.AUDITOR)

    def period(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
        since, until = aware(since), aware(until)
        if since and until and since >= until:
            raise HTTPException(400, "since must be before until")
        return since, until

    def access(
        request: Request,
        who: Principal,
        subject: str,
        since: datetime | None,
        until: datetime | None,
        region: str | None,
    ) -> AccessReport:
        lo, hi = period(since, until)
        report = reports.access_report(
            console.store, console.pseudonymize, console.policy, subject, lo, hi, region=_region(region)
        )
        audited(
            console.audit,
            request,
            who,
            action="report:access",
            subject=console.pseudonymize(subject),
            returned={"categories": len(report.categories), "recipients": len(report.recipients)},
        )
        return report

    def art19(request: Request, who: Principal, subject: str) -> Art19Report:
        report = reports.art19_report(console.store, console.pseudonymize, subject, console.policy)
        audited(
            console.audit,
            request,
            who,
            action="report:art19",
            subject=console.pseudonymize(subject),
            returned={"recipients": len(report.recipients)},
        )
        return report

    def aggregate(kind: str, since: datetime | None, until: datetime | None) -> AnyReport:
        lo, hi = period(since, until)
        if kind == "ropa":
            return reports.ropa_report(console.store, console.policy, lo, hi)
        if kind == "ccpa":
            return reports.ccpa_report(console.store, console.policy, lo, hi)
        return reports.gaps_report(console.store, console.policy, lo, hi)

    @r.get("/api/reports/access", response_model=AccessReport, responses=REFUSALS | _BAD)
    def access_json(
        request: Request,
        subject: SubjectQ,
        who: Principal = Depends(dpo),  # noqa: B008
        since: Since = None,
        until: Until = None,
        region: Region = None,
    ) -> AccessReport:
        """GDPR Art. 15 / CCPA right-to-know report for one person (dpo; recorded in the audit trail)."""
        return access(request, who, subject, since, until, region)

    @r.get("/api/reports/art19", response_model=Art19Report, responses=REFUSALS | _BAD)
    def art19_json(request: Request, subject: SubjectQ, who: Principal = Depends(dpo)) -> Art19Report:  # noqa: B008
        """GDPR Art. 19: every recipient to tell of a rectification or erasure (dpo; recorded in the audit trail)."""
        return art19(request, who, subject)

    @r.get("/api/reports/ropa", response_model=RopaReport, responses=REFUSALS | _BAD)
    def ropa_json(_: Principal = Depends(readers), since: Since = None, until: Until = None) -> AnyReport:  # noqa: B008
        """GDPR Art. 30 record of processing activities, declared vs observed."""
        return aggregate("ropa", since, until)

    @r.get("/api/reports/ccpa", response_model=CcpaReport, responses=REFUSALS | _BAD)
    def ccpa_json(_: Principal = Depends(readers), since: Since = None, until: Until = None) -> AnyReport:  # noqa: B008
        """CCPA disclosures (default: the preceding 12 months)."""
        return aggregate("ccpa", since, until)

    @r.get("/api/reports/gaps", response_model=GapsReport, responses=REFUSALS | _BAD)
    def gaps_json(_: Principal = Depends(readers), since: Since = None, until: Until = None) -> AnyReport:  # noqa: B008
        """Declared vs observed: unexercised declarations and undeclared flows."""
        return aggregate("gaps", since, until)

    @r.get(
        "/api/reports/{kind}/download",
        response_class=Response,
        responses=REFUSALS | _BAD | _FILE,
    )
    def download(
        request: Request,
        kind: Literal["access", "art19", "ropa", "ccpa", "gaps"],
        who: Principal = Depends(readers),  # noqa: B008
        format: Annotated[Literal["json", "csv", "html", "pdf"], Query(description="File format.")] = "html",  # noqa: A002
        table: Annotated[str | None, Query(description="For csv: which table (default: the report's first).")] = None,
        subject: Annotated[str | None, Query(description="For access and art19: the person's id.")] = None,
        since: Since = None,
        until: Until = None,
        region: Region = None,
    ) -> Response:
        """A report as a file: JSON, CSV (one table), printable HTML or PDF. Per-person kinds need dpo and a subject."""
        report: AnyReport
        if kind in PER_PERSON:
            if who.role is not Role.DPO:
                raise HTTPException(403, f"role {who.role.value!r} may not look up a person")
            if not subject:
                raise HTTPException(400, f"the {kind} report needs a subject")
            report = (
                access(request, who, subject, since, until, region)
                if kind == "access"
                else art19(request, who, subject)
            )
        else:
            report = aggregate(kind, since, until)
        if table and format != "csv":
            raise HTTPException(400, "table is for format=csv")
        try:
            body = render(report, format, table)
        except ReportFormatError as exc:
            code = 400 if "no table" in str(exc) else 501
            raise HTTPException(code, str(exc)) from None
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        name = f"lineage-{kind}{'-' + table if table else ''}-{stamp}.{format}"
        return Response(
            body, media_type=_MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    return r
