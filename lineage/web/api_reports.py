"""Report endpoints, one per kind of the report table (reports.registry.REPORTS), and their downloads.

Per-person kinds (access, Art. 19) are for the dpo role and recorded in the audit trail; the others are for the dpo
and auditor roles.
"""

from __future__ import annotations

import argparse
import inspect
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request
from fastapi.responses import Response
from pydantic import Field

from lineage.audit_actions import report_action
from lineage.cli_common import region as parse_region
from lineage.web.auth import REFUSALS, requires
from lineage.web.common import Instant, audited, aware
from lineage.web.console import Console
from lineage.web.tokens import Principal, Role
from reports.formats import ReportFormatError, render
from reports.registry import REPORTS, ReportKind, ReportRequest
from schemas.base import Frozen
from schemas.reports import Report

_MEDIA = {"json": "application/json", "csv": "text/csv", "html": "text/html", "pdf": "application/pdf"}
_BAD: dict[int | str, dict[str, Any]] = {
    400: {"description": "A bad period, table or missing subject."},
    501: {"description": "This format cannot be produced on this server (e.g. PDF without WeasyPrint)."},
}
_FILE_SCHEMAS: dict[str, dict[str, Any]] = {"json": {"type": "object"}, "pdf": {"type": "string", "format": "binary"}}
_FILE: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The report as a file.",
        "content": {m: {"schema": _FILE_SCHEMAS.get(k, {"type": "string"})} for k, m in _MEDIA.items()},
    }
}


Since = Annotated[Instant | None, Query(description="Start of the period (inclusive; UTC if no zone).")]
Until = Annotated[Instant | None, Query(description="End of the period (exclusive; UTC if no zone).")]
SubjectQ = Annotated[str, Query(min_length=1, description="The person's id (hashed here; never stored).")]
Region = Annotated[str | None, Query(description="The person's region: country codes and/or EEA, e.g. 'EEA,CH'.")]


def _region(text: str | None) -> frozenset[str] | None:
    if not text:
        return None
    try:
        return parse_region(text)  # one region syntax for the CLI and the API
    except argparse.ArgumentTypeError:  # its message quotes the value: an answer never repeats the request
        raise HTTPException(400, "region: expected ISO 3166 country codes and/or EEA, comma-separated") from None


class ReportOffer(Frozen):
    """One report the console offers, from the table of report kinds (reports/registry.py)."""

    kind: str = Field(description="Its name: /api/reports/{kind} and /api/reports/{kind}/download.")
    heading: str = Field(description="What the console's card calls it.")
    summary: str = Field(description="One sentence on what it holds.")
    per_person: bool = Field(description="About one person: needs ?subject= and the dpo role, and is audited.")
    period: bool = Field(description="Whether it takes since and until.")


def reports_router(console: Console) -> APIRouter:
    r = APIRouter(tags=["reports"])
    dpo = requires(console.tokens, Role.DPO)
    readers = requires(console.tokens, Role.DPO, Role.AUDITOR)

    def period(since: datetime | None, until: datetime | None) -> tuple[datetime | None, datetime | None]:
        since, until = aware(since), aware(until)
        if since and until and since >= until:
            raise HTTPException(400, "since must be before until")
        return since, until

    def build(
        kind: ReportKind[Report],
        request: Request,
        who: Principal,
        subject: str | None,
        since: datetime | None,
        until: datetime | None,
        region: str | None,
        annex: bool = False,
    ) -> Report:
        lo, hi = period(since, until) if kind.period else (None, None)
        if not kind.per_person:
            return kind.build(
                ReportRequest(console.store, console.policy, since=lo, until=hi, registry=console.registry)
            )
        assert subject is not None  # the endpoint's query parameter, or checked by the download
        where = _region(region) if kind.region else None
        asked = ReportRequest(
            console.store,
            console.policy,
            subject,
            console.pseudonymizer,
            lo,
            hi,
            where,
            annex=annex and kind.annex,
            registry=console.registry,
        )
        report = kind.build(asked)
        audited(
            console.audit,
            request,
            who,
            action=report_action(kind.name),
            subject=console.pseudonymizer(subject),
            returned=kind.returned(report) if kind.returned else {},
        )
        return report

    def endpoint(kind: ReportKind[Report]) -> Any:
        """The JSON endpoint of one kind, with the query parameters the kind takes (and no others)."""

        def report_json(
            request: Request,
            subject: SubjectQ = None,  # type: ignore[assignment]  # required where kept (per-person kinds)
            who: Principal = None,  # type: ignore[assignment]  # a dependency, set per kind below
            since: Since = None,
            until: Until = None,
            region: Region = None,
        ) -> Response:
            # the report as FastAPI would serialise it for response_model (which stays, for the OpenAPI schema):
            # returned as a model, it would be dumped, checked against that model again and dumped once more
            report = build(kind, request, who, subject, since, until, region)
            return Response(report.model_dump_json(), media_type="application/json")

        keep = {"request", "who"} | ({"subject"} if kind.per_person else set())
        keep |= {"since", "until"} if kind.period else set()
        keep |= {"region"} if kind.region else set()
        signature = inspect.signature(report_json)
        parameters = []
        for p in signature.parameters.values():
            if p.name == "who":
                p = p.replace(default=Depends(dpo if kind.per_person else readers))
            elif p.name == "subject":
                p = p.replace(default=inspect.Parameter.empty)
            if p.name in keep:
                parameters.append(p)
        report_json.__signature__ = signature.replace(parameters=parameters)  # type: ignore[attr-defined]
        return report_json

    @r.get("/api/reports", response_model=list[ReportOffer], responses=REFUSALS)
    def offered(who: Principal = Depends(readers)) -> list[ReportOffer]:  # noqa: B008
        """The reports the console offers (the CLI's and the API's table): per-person ones to the dpo role only."""
        return [
            ReportOffer(
                kind=k.name,
                heading=k.heading or k.title,
                summary=k.summary,
                per_person=k.per_person,
                period=k.period,
            )
            for k in REPORTS.values()
            if who.role is Role.DPO or not k.per_person
        ]

    for kind in REPORTS.values():
        title = kind.title[0].upper() + kind.title[1:]
        r.get(
            f"/api/reports/{kind.name}",
            response_model=kind.model,
            responses=REFUSALS | _BAD,
            name=f"{kind.name}_json",
            summary=f"{kind.name.title()} Json",
            description=f"{title} (dpo; recorded in the audit trail)." if kind.per_person else f"{title}.",
        )(endpoint(kind))

    def download(
        request: Request,
        kind: str,  # one of the table's kinds: see below
        who: Principal = Depends(readers),  # noqa: B008
        format: Annotated[Literal["json", "csv", "html", "pdf"], Query(description="File format.")] = "html",  # noqa: A002
        table: Annotated[str | None, Query(description="For csv: which table (default: the report's first).")] = None,
        subject: Annotated[str | None, Query(description="For access and art19: the person's id.")] = None,
        since: Since = None,
        until: Until = None,
        region: Region = None,
        annex: Annotated[
            bool, Query(description="For access (html, pdf): add the annex of evidence event ids to the letter.")
        ] = False,
    ) -> Response:
        """A report as a file: JSON, CSV (one table), printable HTML or PDF. Per-person kinds need dpo and a subject."""
        chosen = REPORTS[kind]
        if chosen.per_person:
            if who.role is not Role.DPO:
                raise HTTPException(403, f"role {who.role.value!r} may not look up a person")
            if not subject:
                raise HTTPException(400, f"the {kind} report needs a subject")
        report = build(chosen, request, who, subject, since, until, region, annex)
        if table and format != "csv":
            raise HTTPException(400, "table is for format=csv")
        try:
            body = render(report, format, table)
        except ReportFormatError as exc:
            names = REPORTS[kind].table_names
            if table and table not in names:  # the error quotes it, and an answer never repeats the request
                raise HTTPException(400, f"no such table; the {kind} report has: {', '.join(names)}") from None
            raise HTTPException(501, str(exc)) from None
        stamp = datetime.now(UTC).strftime("%Y%m%d")
        name = f"lineage-{kind}{'-' + table if table else ''}-{stamp}.{format}"
        return Response(
            body, media_type=_MEDIA[format], headers={"Content-Disposition": f'attachment; filename="{name}"'}
        )

    # the path parameter takes the kinds of the table as it is now, so OpenAPI lists them and others get 422
    signature = inspect.signature(download)
    kinds = Literal[tuple(REPORTS)]  # type: ignore[valid-type]
    download.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p.replace(annotation=kinds) if p.name == "kind" else p for p in signature.parameters.values()]
    )
    r.get("/api/reports/{kind}/download", response_class=Response, responses=REFUSALS | _BAD | _FILE)(download)
    return r
