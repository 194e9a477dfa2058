"""The FastAPI application factory: routers, the page's static files, security headers, an access log without ids."""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse, Response
from fastapi.staticfiles import StaticFiles

from graph.store import StoreError
from lineage.web.api_audit import audit_router
from lineage.web.api_data import _version, data_router
from lineage.web.api_ingest import ingest_router
from lineage.web.api_notices import notices_router
from lineage.web.api_people import people_router
from lineage.web.api_registry import registry_router
from lineage.web.api_reports import reports_router
from lineage.web.api_vocab import vocabulary_router
from lineage.web.common import endpoint_of
from lineage.web.console import Console
from lineage.web.limits import BodyLimit

access_log = logging.getLogger("lineage.web.access")

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self'; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
_HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    "Cross-Origin-Opener-Policy": "same-origin",
}

DESCRIPTION = """\
Who has this person's data, for what, and was it declared? The lineage graph of privacy-lineage over HTTP.

Every endpoint needs `Authorization: Bearer <token>` (tokens are made with `lineage tokens add --role ROLE
--name NAME`). Roles: **dpo** may do everything; **auditor** reads reports, alerts, recipients and stats but
no per-person lookups; **service** may call health and ingest events. A missing or invalid token gets 401, a
role that may not use an endpoint 403, both without data. Every per-person lookup is recorded in the audit
trail (by pseudonym, with counts of what was returned).
"""


def _problem(error: Any) -> dict[str, Any]:
    """One validation problem without the value: where (the parameter's name, or the body's path), what, its kind."""
    loc = [p if isinstance(p, int) else str(p) for p in error.get("loc", ())]
    return {"type": str(error.get("type", "")), "loc": loc, "msg": str(error.get("msg", ""))}


def create_app(console: Console) -> FastAPI:
    """The HTTP API and the page over one :class:`Console`; no global app (uvicorn is given this object)."""
    app = FastAPI(
        title="privacy-lineage",
        version=_version(),
        description=DESCRIPTION,
        # Swagger UI and ReDoc load their scripts from a CDN; the console loads nothing from the internet
        docs_url=None,
        redoc_url=None,
        openapi_url="/openapi.json",
    )
    app.state.console = console
    app.include_router(data_router(console))
    app.include_router(ingest_router(console))
    app.include_router(notices_router(console))  # before people_router, whose {subject_id:path} would match
    app.include_router(people_router(console))
    app.include_router(audit_router(console))
    app.include_router(reports_router(console))
    app.include_router(vocabulary_router(console))
    app.include_router(registry_router(console))

    @app.exception_handler(StoreError)
    async def store_unavailable(request: Request, exc: StoreError) -> JSONResponse:
        return JSONResponse({"detail": f"the store is unavailable ({type(exc).__name__})"}, status_code=503)

    @app.exception_handler(UnicodeEncodeError)
    async def bad_text(request: Request, exc: UnicodeEncodeError) -> JSONResponse:
        return JSONResponse({"detail": "the request contains text that is not valid Unicode"}, status_code=400)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        # FastAPI's own answer repeats each invalid value ("input") and the constraint's context: a 422 must not
        # carry the request back (a subject id in a query, a 100 MB body)
        return JSONResponse({"detail": [_problem(e) for e in exc.errors()]}, status_code=422)

    # inside the headers middleware below, so that a 413 gets the same headers and access line as any answer
    app.add_middleware(BodyLimit, limit=console.max_body)

    @app.middleware("http")
    async def headers_and_access_log(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        start = time.perf_counter()
        response = await call_next(request)
        response.headers.update(_HEADERS)
        if request.url.path.startswith("/api/"):
            response.headers["Cache-Control"] = "no-store"
        # the route template, never the path: /api/subjects/{subject_id:path}, not the person's id
        access_log.info(
            "%s %s %d %.1fms",
            request.method,
            endpoint_of(request).split(" ", 1)[1],
            response.status_code,
            (time.perf_counter() - start) * 1000,
        )
        return response

    static = Path(__file__).with_name("static")  # package data: the page needs no build step

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(static / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=static), name="static")
    return app
