"""Bearer-token authentication and role checks: 401 without a valid token, 403 with the wrong role, never data."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from fastapi import Depends, HTTPException, Request
from fastapi.exceptions import RequestValidationError
from fastapi.security import HTTPAuthorizationCredentials, HTTPBearer

from lineage.web.models import Problem, ValidationProblem
from lineage.web.tokens import Principal, Role, TokenError, TokenFile

bearer = HTTPBearer(auto_error=False, description="An API token made with `lineage tokens add`.")

REFUSALS: dict[int | str, dict[str, Any]] = {
    401: {"model": Problem, "description": "No token, or a token that is not (or no longer) valid."},
    403: {"model": Problem, "description": "The token's role may not use this endpoint."},
    422: {"model": ValidationProblem, "description": "A parameter or the body is invalid, or a parameter is unknown."},
    503: {"model": Problem, "description": "The store, the tokens file or the audit trail is unavailable."},
}


def requires(tokens: TokenFile, *roles: Role) -> Callable[..., Principal]:
    """A FastAPI dependency: the caller's principal when its token is valid and has one of ``roles``."""
    allowed = frozenset(roles)

    def check(request: Request, cred: HTTPAuthorizationCredentials | None = Depends(bearer)) -> Principal:  # noqa: B008
        if cred is None or cred.scheme.lower() != "bearer":
            raise HTTPException(401, "missing API token (Authorization: Bearer ...)", {"WWW-Authenticate": "Bearer"})
        try:
            who = tokens.verify(cred.credentials)
        except TokenError:
            raise HTTPException(503, "the tokens file cannot be read") from None
        if who is None:
            raise HTTPException(401, "invalid API token", {"WWW-Authenticate": 'Bearer error="invalid_token"'})
        if who.role not in allowed:
            raise HTTPException(403, f"role {who.role.value!r} may not use this endpoint")
        _check_query(request)
        request.state.principal = who
        return who

    return check


def _check_query(request: Request) -> None:
    """Refuse unknown and repeated query parameters: a misspelt filter (?subjet=...) must not widen an answer."""
    names = [k for k, _ in request.query_params.multi_items()]
    known = _query_names(request.scope.get("route"))
    unknown = len(set(names) - known)
    # an unknown name is not repeated back (it is input, and could be an id): the known ones are listed instead
    problems = [
        {
            "type": "extra_forbidden",
            "loc": ("query",),
            "msg": f"{unknown} unknown query parameter(s); this endpoint takes: {', '.join(sorted(known)) or 'none'}",
        }
    ] * (unknown > 0) + [
        {"type": "repeated", "loc": ("query", n), "msg": "query parameter given more than once"}
        for n in sorted({n for n in names if names.count(n) > 1} & known)
    ]
    if problems:
        raise RequestValidationError(problems)


_NAMES: dict[int, frozenset[str]] = {}


def _query_names(route: Any) -> frozenset[str]:
    """The query parameters a route declares (its own and its dependencies')."""
    key = id(route)
    if key not in _NAMES:
        names: set[str] = set()
        todo = [getattr(route, "dependant", None)]
        while todo:
            dep = todo.pop()
            if dep is not None:
                names.update(f.alias for f in dep.query_params)
                todo.extend(dep.dependencies)
        _NAMES[key] = frozenset(names)
    return _NAMES[key]


def client_of(request: Request) -> str:
    """'page' when the console page made the request (it says so in a header), else 'api'."""
    return "page" if request.headers.get("x-lineage-client", "").lower() == "page" else "api"
