"""Corrections to the generated OpenAPI document so that it describes what the API really answers."""

from __future__ import annotations

from fastapi import FastAPI

ERROR_RESPONSES = {
    401: {"description": "no or bad credentials (bearer token or X-API-Key)"},
    403: {"description": "the caller's role may not do this"},
    429: {"description": "too many failed API keys from this address (see Retry-After)"},
}


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        # A 422 is either request validation (a list of field errors) or a check in the route that
        # answers with one message (e.g. "end is before start"): document both shapes.
        detail = spec.get("components", {}).get("schemas", {}).get("HTTPValidationError", {}).get("properties", {})
        if "detail" in detail:
            detail["detail"] = {
                "anyOf": [detail["detail"], {"type": "string"}],
                "title": "Detail",
                "description": "field errors from request validation, or one message saying what is wrong",
            }
        for operations in spec.get("paths", {}).values():
            for op in operations.values():
                if isinstance(op, dict) and op.get("security"):
                    for code, response in ERROR_RESPONSES.items():
                        op.setdefault("responses", {}).setdefault(str(code), dict(response))
        app.openapi_schema = spec
        return spec

    app.openapi = openapi
