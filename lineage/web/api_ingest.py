"""POST /api/events: a JSON array of events, each parsed, validated and applied on its own.

The token is checked before the body is read, and the body is read within the request size limit
(:mod:`lineage.web.limits`). The array is split into its items without parsing them (``schemas.jsontext.array_items``),
and each item goes through ``parse_event`` like a line of a file: invalid UTF-8, a key twice, nesting too deep or a
time outside the window costs that item only, and an item the handler cannot project or store is returned with the
rejected ones while the others are applied. Answers never quote the body.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends, HTTPException, Request
from fastapi.concurrency import run_in_threadpool

from graph.store import StoreError
from lineage.web.auth import REFUSALS, requires
from lineage.web.console import Console
from lineage.web.models import EventProblem, IngestResult, Problem, RejectedEvent
from lineage.web.tokens import Principal, Role
from schemas.events import AnyEvent
from schemas.jsontext import JsonTextError, array_items
from schemas.parsing import EventError, parse_event
from streams.handler import HandleResult

MAX_INGEST = 1000
"""Events per request."""

_BODY: dict[str, Any] = {
    "required": True,
    "description": f"A JSON array of at most {MAX_INGEST} events of the contract (see `lineage schema`). Each item is "
    "checked on its own: one that is not a valid event is answered in `rejected` and the others are applied.",
    "content": {"application/json": {"schema": {"type": "array", "maxItems": MAX_INGEST, "items": {}}}},
}
_RESPONSES: dict[int | str, dict[str, Any]] = REFUSALS | {
    400: {"model": Problem, "description": "The body is not a JSON array."},
    413: {"model": Problem, "description": "The body is larger than the server accepts (1 MiB by default)."},
}


def ingest_router(console: Console) -> APIRouter:
    r = APIRouter()
    writers = requires(console.tokens, Role.DPO, Role.SERVICE)

    @r.post(
        "/api/events",
        response_model=IngestResult,
        responses=_RESPONSES,
        tags=["service"],
        openapi_extra={"requestBody": _BODY},
    )
    async def ingest(request: Request, _: Principal = Depends(writers)) -> IngestResult:  # noqa: B008
        """Validate and apply events (service, dpo). Invalid events are returned with their problems, never applied."""
        body = await request.body()  # only now, the token checked; within the size limit
        try:
            items = array_items(body)
        except JsonTextError as exc:
            raise HTTPException(400, f"the body is not a JSON array of events: {exc}") from None
        if len(items) > MAX_INGEST:
            problem = {"type": "too_long", "loc": ["body"], "msg": f"at most {MAX_INGEST} events per request"}
            raise HTTPException(422, [problem])
        return await run_in_threadpool(_apply, console, items)

    return r


def _apply(console: Console, items: list[bytes]) -> IngestResult:
    handler = console.handler
    good: list[AnyEvent] = []
    positions: list[int] = []  # the request index of each good event
    rejected: list[RejectedEvent] = []
    for i, item in enumerate(items):
        try:
            good.append(parse_event(item, handler.taxonomy, handler.window))
            positions.append(i)
        except EventError as exc:
            problems = [EventProblem(field=f, message=m) for f, m in exc.problems]
            rejected.append(RejectedEvent(index=i, event_id=exc.event_id, problems=problems))
    try:
        result = handler.handle(good) if good else HandleResult(0, 0, ())
    except StoreError as exc:
        raise HTTPException(503, f"the store refused the batch: {type(exc).__name__}") from None
    for failure in result.failed:  # could not be projected or stored: the others were applied
        problems = [EventProblem(field="", message=failure.reason)]
        rejected.append(RejectedEvent(index=positions[failure.index], event_id=failure.event_id, problems=problems))
    rejected.sort(key=lambda r: r.index)
    return IngestResult(
        applied=result.applied,
        duplicates=result.duplicates,
        rejected=rejected,
        findings=len(result.findings),
        erasures_pending=list(result.erasures_pending),
        notices_sent=result.notices_sent,
        notices_unsent=result.notices_unsent,
    )
