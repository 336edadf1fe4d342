"""405 answers whose `Allow` names every method the path has.

Starlette answers 405 from the first route whose path matches, so `Allow` named that route's methods
only: `OPTIONS /v1/interactions` said `Allow: POST`, though GET is there too."""

from __future__ import annotations

import re

from fastapi import FastAPI, Request, Response
from fastapi.exception_handlers import http_exception_handler
from fastapi.routing import iter_route_contexts
from starlette.exceptions import HTTPException
from starlette.routing import compile_path

from qa_engine.schema import unroutable_id

METHODS = ("GET", "HEAD", "POST", "PUT", "PATCH", "DELETE")


def _route_paths(app: FastAPI) -> list[tuple[re.Pattern[str], frozenset[str]]]:
    """(path regex, methods) of every route, included routers flattened (FastAPI's own walk); read
    once, at the first 405, when every router is included."""
    if not hasattr(app.state, "route_paths"):
        app.state.route_paths = [
            (compile_path(route.path)[0], frozenset(route.methods))
            for route in iter_route_contexts(app.router.routes)
            if route.path and route.methods
        ]
    return app.state.route_paths


def _serves(regex: re.Pattern[str], path: str) -> bool:
    match = regex.match(path)
    # `{interaction_id:path}` also matches `x/reviews`, but no interaction has such an id (the
    # contract refuses it), so the GET of one interaction does not serve that path.
    interaction_id = match.groupdict().get("interaction_id") if match else None
    return match is not None and not (interaction_id and unroutable_id(interaction_id))


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """The methods some route serves at this path."""
    served = {method for regex, methods in _route_paths(app) if _serves(regex, path) for method in methods}
    return [method for method in METHODS if method in served]


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)  # installed for HTTPException only
    if exc.status_code == 405 and (methods := allowed_methods(request.app, request.url.path)):
        exc = HTTPException(405, exc.detail, headers={**(exc.headers or {}), "Allow": ", ".join(methods)})
    return await http_exception_handler(request, exc)


def install(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _http_error)
