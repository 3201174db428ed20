"""OpenAPI entries for the bare Starlette routes on the hot paths, which FastAPI does not
describe (the webhook endpoint, the gated JSON content): `/api/docs` and the schema-driven
fuzz tests still list them as they did when they were FastAPI routes."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import FastAPI

JSON_ANSWER = {
    "description": "Successful Response",
    "content": {"application/json": {"schema": {}}},
}


def operation(tag: str, summary: str, description: str, operation_id: str) -> dict[str, Any]:
    """One operation as FastAPI would have written it for a route answering JSON."""
    return {
        "tags": [tag],
        "summary": summary,
        "description": description,
        "operationId": operation_id,
        "responses": {"200": JSON_ANSWER},
    }


def describe_bare_routes(app: FastAPI, paths: Mapping[str, Mapping[str, Any]]) -> None:
    """Add `paths` ({path: {method: operation}}) to the schema `app` serves."""
    generate = app.openapi

    def openapi() -> dict[str, Any]:
        if app.openapi_schema is None:
            schema = generate()
            for path, operations in paths.items():
                schema["paths"].setdefault(path, {}).update(operations)
        return app.openapi_schema or {}

    app.openapi = openapi  # type: ignore[method-assign]  # FastAPI's documented override
