"""405 answers whose `Allow` names every method the path has.

Starlette answers 405 from the first route whose path matches, so `Allow` named that route's methods
only: `OPTIONS /v1/interactions` said `Allow: POST`, though GET is there too."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.exception_handlers import http_exception_handler
from starlette.exceptions import HTTPException
from starlette.routing import Match
from starlette.types import Scope

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, scope: Scope) -> list[str]:
    """The methods some route serves at this request's path (asked of the router itself)."""
    return [
        method
        for method in METHODS
        if any(route.matches({**scope, "method": method})[0] is Match.FULL for route in app.router.routes)
    ]


async def _http_error(request: Request, exc: HTTPException):
    if exc.status_code == 405 and (methods := allowed_methods(request.app, request.scope)):
        exc = HTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": ", ".join(methods)})
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
