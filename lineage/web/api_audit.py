"""The audit trail over HTTP (dpo): query by subject id (hashed here), actor, action and time; export; verify."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, Query, Request
from fastapi.responses import Response

from lineage.web.audit import AuditEntry, AuditTrailError, AuditVerification
from lineage.web.audit_export import to_csv, to_jsonl
from lineage.web.auth import REFUSALS, requires
from lineage.web.common import Instant, audit_refusal, audited, aware
from lineage.web.console import Console
from lineage.web.tokens import Principal, Role

_DOWNLOAD: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The matching entries as a file.",
        "content": {"text/csv": {"schema": {"type": "string"}}, "application/x-ndjson": {"schema": {"type": "string"}}},
    }
}


Subject = Annotated[str | None, Query(description="A subject id: hashed here, matched against the pseudonyms.")]
Pseudonym = Annotated[str | None, Query(description="A pseudonym as stored (p_...).")]
Actor = Annotated[str | None, Query(description="Token name.")]
Action = Annotated[str | None, Query(description="who-has, subject-alerts, report:access, report:art19, ...")]
Since = Annotated[Instant | None, Query(description="Entries at or after this time (UTC if no zone).")]
Until = Annotated[Instant | None, Query(description="Entries before this time (UTC if no zone).")]


def audit_router(console: Console) -> APIRouter:
    r = APIRouter(tags=["audit (dpo)"])
    dpo = requires(console.tokens, Role.DPO)

    def select(
        request: Request,
        who: Principal,
        action: str,
        subject: str | None,
        pseudonym: str | None,
        actor: str | None,
        what: str | None,
        since: datetime | None,
        until: datetime | None,
        limit: int | None,
    ) -> list[AuditEntry]:
        target = console.pseudonymizer(subject) if subject is not None else pseudonym
        try:
            entries = console.audit.entries(
                subject=target, actor=actor, action=what, since=aware(since), until=aware(until), limit=limit
            )
        except AuditTrailError as exc:
            raise audit_refusal(exc) from None
        if target is not None:  # asking whether someone was looked up is itself a lookup of that person
            audited(console.audit, request, who, action=action, subject=target, returned={"entries": len(entries)})
        return entries

    @r.get("/api/audit", response_model=list[AuditEntry], responses=REFUSALS)
    def query(
        request: Request,
        who: Principal = Depends(dpo),  # noqa: B008
        subject: Subject = None,
        pseudonym: Pseudonym = None,
        actor: Actor = None,
        action: Action = None,
        since: Since = None,
        until: Until = None,
        limit: Annotated[int, Query(ge=1, le=100_000)] = 500,
    ) -> list[AuditEntry]:
        """Entries of the audit trail, newest first. A query by subject is recorded in the trail as well."""
        return select(request, who, "audit-query", subject, pseudonym, actor, action, since, until, limit)

    @r.get("/api/audit/export", response_class=Response, responses=REFUSALS | _DOWNLOAD)
    def export(
        request: Request,
        who: Principal = Depends(dpo),  # noqa: B008
        format: Annotated[Literal["csv", "jsonl"], Query(description="csv or jsonl")] = "csv",  # noqa: A002
        subject: Subject = None,
        pseudonym: Pseudonym = None,
        actor: Actor = None,
        action: Action = None,
        since: Since = None,
        until: Until = None,
    ) -> Response:
        """The matching entries (all by default), oldest first, as a CSV or JSON Lines download."""
        entries = select(request, who, "audit-export", subject, pseudonym, actor, action, since, until, None)
        entries.reverse()
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
        if format == "jsonl":
            body, media = to_jsonl(entries), "application/x-ndjson"
        else:
            body, media = to_csv(entries), "text/csv"
        return Response(
            body,
            media_type=media,
            headers={"Content-Disposition": f'attachment; filename="lineage-audit-{stamp}.{format}"'},
        )

    @r.get("/api/audit/verify", response_model=AuditVerification, responses=REFUSALS)
    def verify(_: Principal = Depends(dpo)) -> AuditVerification:  # noqa: B008
        """Check the trail: every line's MAC and chain, and its length against the signed head. An edited, removed or
        forged line shows as the first broken entry, lines cut off the end as a trail shorter than its head."""
        return console.audit.verify()

    return r
