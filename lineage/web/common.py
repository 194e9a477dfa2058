"""Helpers shared by the API routers: the request's route template, aware datetimes, recording to the audit trail."""

from __future__ import annotations

import logging
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import HTTPException, Request
from pydantic import BeforeValidator

from lineage.web.audit import AuditLog, AuditTorn, AuditTrailError
from lineage.web.auth import client_of
from lineage.web.tokens import Principal

_log = logging.getLogger("lineage.web.audit")


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _iso_only(value: Any) -> Any:
    # pydantic reads "604" as a Unix timestamp; the API documents ISO 8601 date-times, so a bare number is refused
    if isinstance(value, str) and _is_number(value):
        raise ValueError("expected an ISO 8601 date or date-time, e.g. 2026-01-31 or 2026-01-31T08:00:00Z")
    return value


Instant = Annotated[datetime, BeforeValidator(_iso_only)]
"""A date-time parameter: ISO 8601 only (UTC when it has no zone, see :func:`aware`)."""


def endpoint_of(request: Request) -> str:
    """``METHOD /route/{template}``: names the endpoint without the identifiers in the URL."""
    route = request.scope.get("route")
    return f"{request.method} {getattr(route, 'path', '?')}"


def aware(value: datetime | None) -> datetime | None:
    """A datetime without a timezone is taken as UTC."""
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


def audited(
    audit: AuditLog,
    request: Request,
    who: Principal,
    *,
    action: str,
    returned: dict[str, int],
    subject: str | None = None,
    target: str | None = None,
) -> None:
    """Record a lookup before answering it; when the trail cannot be written, answer 503 and nothing else."""
    try:
        audit.record(
            who,
            action=action,
            endpoint=endpoint_of(request),
            returned=returned,
            subject=subject,
            target=target,
            client=client_of(request),
        )
    except OSError:
        raise HTTPException(503, "the audit trail cannot be written, so the lookup is refused") from None
    except AuditTrailError as exc:
        raise audit_refusal(exc) from None


def audit_refusal(exc: AuditTrailError) -> HTTPException:
    """The 503 for a trail that is torn or does not verify; the details (file names) go to the server's log only."""
    _log.warning("%s", exc)
    if isinstance(exc, AuditTorn):
        return HTTPException(
            503,
            "the audit trail ends in an incomplete line (a write cut short): lookups are refused until an operator "
            "runs lineage audit repair",
        )
    return HTTPException(
        503, "the audit trail does not verify (see GET /api/audit/verify): lookups are refused until an operator looks"
    )
