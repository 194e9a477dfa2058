"""Per-person endpoints (dpo only, each call on the audit trail): who-has and the alerts that concern a person."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, Request, Response
from pydantic import TypeAdapter

from graph.concerning import person_alerts, person_lookup
from lineage.web.auth import REFUSALS, requires
from lineage.web.common import audited
from lineage.web.console import Console
from lineage.web.models import Problem
from lineage.web.tokens import Principal, Role
from schemas.answers import PersonAlert, PersonLookup

_PERSON_ALERTS = TypeAdapter(list[PersonAlert])
_NO_ROUTE: dict[int | str, dict[str, Any]] = {
    404: {"model": Problem, "description": "No such route (an id with a line break cannot be routed)."}
}


def people_router(console: Console) -> APIRouter:
    r = APIRouter(tags=["people (dpo; audited)"])
    dpo = requires(console.tokens, Role.DPO)

    # declared before the plain who-has route, whose {subject_id:path} would also match ".../alerts"
    @r.get(
        "/api/subjects/{subject_id:path}/alerts",
        response_model=list[PersonAlert],
        responses=REFUSALS | _NO_ROUTE,
        summary="Alerts concerning one person",
    )
    def subject_alerts(
        subject_id: str,
        request: Request,
        who: Principal = Depends(dpo),  # noqa: B008
    ) -> Response:
        """Alerts an event of the person triggered (their own events: a disclosure of their data is one), each with
        how many of its events are this person's (`person_events`; the alert's own counts are over everyone).
        URL-encode the id."""
        pseudonym = console.pseudonymizer(subject_id)
        alerts = person_alerts(console.store, pseudonym)
        audited(
            console.audit, request, who, action="subject-alerts", subject=pseudonym, returned={"alerts": len(alerts)}
        )
        # serialised once, as FastAPI would for response_model (which stays, for the OpenAPI schema)
        return Response(_PERSON_ALERTS.dump_json(alerts), media_type="application/json")

    @r.get(
        "/api/subjects/{subject_id:path}",
        response_model=PersonLookup,
        responses=REFUSALS | _NO_ROUTE,
        summary="Who has this person's data",
    )
    def who_has(subject_id: str, request: Request, who: Principal = Depends(dpo)) -> Response:  # noqa: B008
        """Categories held of the person and the recipients of their data, and the person's opt-outs (of marketing,
        of sale and sharing: how each came and when); an unknown person is an empty answer.

        URL-encode the id (``alice%40example.com``). The lookup is recorded in the audit trail by pseudonym, with
        counts of what was returned.
        """
        pseudonym = console.pseudonymizer(subject_id)
        answer = person_lookup(console.store, pseudonym, subject_id, console.policy, console.handler.taxonomy)
        audited(
            console.audit,
            request,
            who,
            action="who-has",
            subject=pseudonym,
            returned={
                "categories": len(answer.categories),
                "recipients": len(answer.recipients),
                "opt_outs": len(answer.opt_outs),
            },
        )
        # the answer as FastAPI would serialise it for response_model (which stays, for the OpenAPI schema), byte
        # for byte: returned as a model, it would be checked against that model again on a worker thread of its own
        return Response(answer.model_dump_json(), media_type="application/json")

    return r
