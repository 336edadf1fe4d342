"""Corrections to the generated OpenAPI document so that it describes what the API really answers.

Statuses every operation of a kind can answer are added here: 401/403/429/503 on secured
operations, 400 and 413 on operations with a body. Statuses one route answers (404, 409, ...) are
declared on the route with `errors()`, so each says why. Every error body is `ErrorOut` (the app's
exception handlers answer `{"detail": "..."}`), but request validation's 422 (`HTTPValidationError`).

Each operation's id is its route function's name (`operation_id`): a client generated from the
document calls `get_interaction`, not `get_interaction_v1_interactions__interaction_id__get`.
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute

from api.schemas import ErrorOut

# An API key or a login is checked only if its failures can be counted (api/ratelimit.py).
RATE_LIMIT_STORE_DOWN = "the rate-limit store (QA_RATE_LIMIT_STORAGE) cannot be reached"
ERROR_REF = {"$ref": f"#/components/schemas/{ErrorOut.__name__}"}
SECURED_RESPONSES = {
    401: "no or bad credentials (bearer token or X-API-Key)",
    403: "the caller's role may not do this",
    429: "too many failed API keys from this address (see Retry-After)",
    503: RATE_LIMIT_STORE_DOWN,
}
BODY_RESPONSES = {
    400: "the body cannot be read as the declared media type",
    413: "request body too large",
}
FORM_TYPES = ("application/x-www-form-urlencoded", "multipart/form-data")

# What a client may do next with an answer (OpenAPI links): (method, path, status) -> link name ->
# (method, path of the next operation, its parameters from the answer). Only what the API promises:
# a stored interaction (201) can be read, reviewed and appealed; a queued one (202) has a job first.
INTERACTION = {"interaction_id": "$response.body#/interaction_id"}
JOB = {"job_id": "$response.body#/job_id"}
LINKS: dict[tuple[str, str, str], dict[str, tuple[str, str, dict[str, str]]]] = {
    ("post", "/v1/interactions", "201"): {
        "ReadInteraction": ("get", "/v1/interactions/{interaction_id}", INTERACTION),
        "ReviewInteraction": ("post", "/v1/interactions/{interaction_id}/reviews", INTERACTION),
        "AppealInteraction": ("post", "/v1/interactions/{interaction_id}/appeals", INTERACTION),
    },
    ("get", "/v1/interactions", "200"): {
        "ReadFirstListed": (
            "get",
            "/v1/interactions/{interaction_id}",
            {"interaction_id": "$response.body#/items/0/interaction_id"},
        )
    },
    ("post", "/v1/interactions", "202"): {"ReadJob": ("get", "/v1/jobs/{job_id}", JOB)},
    ("post", "/v1/interactions/audio", "202"): {"ReadJob": ("get", "/v1/jobs/{job_id}", JOB)},
    ("post", "/v1/interactions/bulk", "202"): {
        "ReadBulkStatus": ("get", "/v1/interactions/bulk/{batch_id}", {"batch_id": "$response.body#/batch_id"})
    },
    ("post", "/v1/interactions/{interaction_id}/appeals", "201"): {
        "DecideAppeal": ("post", "/v1/appeals/{appeal_id}/decision", {"appeal_id": "$response.body#/id"})
    },
    ("post", "/v1/users", "201"): {
        "CreateApiKey": ("post", "/v1/users/{username}/api-keys", {"username": "$response.body#/username"})
    },
    ("post", "/v1/users/{username}/api-keys", "201"): {
        "RevokeApiKey": ("delete", "/v1/api-keys/{key_id}", {"key_id": "$response.body#/id"})
    },
    ("post", "/v1/rules/{kind}/{name}", "201"): {
        "ReadVersion": (
            "get",
            "/v1/rules/{kind}/{name}",
            {"kind": "$request.path.kind", "name": "$request.path.name", "version": "$response.body#/version"},
        )
    },
}


def operation_id(route: APIRoute) -> str:
    """The app's `generate_unique_id_function`: the route function's name, which is short, snake_case
    and unique (tests/api/test_api_client.py checks); FastAPI's default adds the path and method."""
    return route.name


def errors(why: dict[int, str]) -> dict[int | str, dict[str, Any]]:
    """`responses=` of a route: {404: "no such appeal"} -> each status with the ErrorOut body."""
    return {code: {"model": ErrorOut, "description": description} for code, description in why.items()}


def _error(description: str) -> dict:
    return {"description": description, "content": {"application/json": {"schema": ERROR_REF}}}


def _schema(spec: dict, schema: dict) -> dict:
    ref = schema.get("$ref", "")
    return spec["components"]["schemas"][ref.rsplit("/", 1)[1]] if ref.startswith("#/components/schemas/") else schema


def _forms_without_null(spec: dict, op: dict) -> None:
    """A form field cannot be null, only left out: drop the `null` choice FastAPI writes for optional
    form fields (a client following it would send the text "null", which is refused)."""
    for media_type, content in op.get("requestBody", {}).get("content", {}).items():
        if media_type not in FORM_TYPES or "schema" not in content:
            continue
        for prop in _schema(spec, content["schema"]).get("properties", {}).values():
            if "anyOf" not in prop:
                continue
            prop["anyOf"] = [choice for choice in prop["anyOf"] if choice.get("type") != "null"]
            if len(prop["anyOf"]) == 1:
                prop.update(prop.pop("anyOf")[0])


def _add_links(spec: dict) -> None:
    for (method, path, status), links in LINKS.items():
        response = spec["paths"][path][method]["responses"][status]
        response["links"] = {
            name: {"operationId": spec["paths"][to_path][to_method]["operationId"], "parameters": parameters}
            for name, (to_method, to_path, parameters) in links.items()
        }


def install(app: FastAPI) -> None:
    generate = app.openapi

    def openapi() -> dict:
        if app.openapi_schema:
            return app.openapi_schema
        spec = generate()
        schemas = spec.setdefault("components", {}).setdefault("schemas", {})
        schemas.setdefault(ErrorOut.__name__, ErrorOut.model_json_schema())
        # A 422 is either request validation (a list of field errors) or a check in the route that
        # answers with one message (e.g. "end is before start"): document both shapes.
        detail = schemas.get("HTTPValidationError", {}).get("properties", {})
        if "detail" in detail:
            detail["detail"] = {
                "anyOf": [detail["detail"], {"type": "string"}],
                "title": "Detail",
                "description": "field errors from request validation, or one message saying what is wrong",
            }
        for operations in spec.get("paths", {}).values():
            for op in operations.values():
                if not isinstance(op, dict):
                    continue
                responses = op.setdefault("responses", {})
                added = {**(SECURED_RESPONSES if op.get("security") else {}),
                         **(BODY_RESPONSES if "requestBody" in op else {})}  # fmt: skip
                for code, description in added.items():
                    responses.setdefault(str(code), _error(description))
                _forms_without_null(spec, op)
        _add_links(spec)
        app.openapi_schema = spec
        return spec

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented way to customise the schema
