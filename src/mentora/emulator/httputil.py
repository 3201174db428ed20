"""Request parsing and error responses shared by the emulator's routes."""

from __future__ import annotations

import base64
import binascii
import json
from typing import Any
from urllib.parse import unquote

from starlette.requests import Request
from starlette.responses import JSONResponse

NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


class BadRequest(Exception):
    """A malformed request body or parameter; rendered as 400 by the route."""


async def read_params(request: Request) -> dict[str, str]:
    """Read a form-encoded or JSON body into a flat str→str dict (Whop accepts both)."""
    content_type = request.headers.get("content-type", "")
    if "application/json" in content_type:
        data = await read_json(request)
        return {k: v if isinstance(v, str) else json.dumps(v) for k, v in data.items()}
    form = await request.form()
    return {k: v for k, v in form.items() if isinstance(v, str)}


async def read_json(request: Request) -> dict[str, Any]:
    """Read a JSON object body; an empty body is `{}`."""
    raw = await request.body()
    if not raw.strip():
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise BadRequest(f"body is not valid JSON: {exc}") from exc
    if not isinstance(data, dict):
        raise BadRequest("body must be a JSON object")
    return data


def bearer_token(request: Request) -> str | None:
    """Return the token from `Authorization: Bearer ...`, if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not value.strip():
        return None
    return value.strip()


def basic_credentials(request: Request) -> tuple[str, str] | None:
    """Return (client_id, client_secret) from HTTP Basic auth (RFC 6749 §2.3.1), if any."""
    scheme, _, value = request.headers.get("authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        decoded = base64.b64decode(value.strip(), validate=True).decode("utf-8")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, sep, secret = decoded.partition(":")
    if not sep:
        return None
    # RFC 6749 form-encodes both parts before base64.
    return unquote(client_id.replace("+", " ")), unquote(secret.replace("+", " "))


def oauth_error(error: str, description: str, status: int = 400) -> JSONResponse:
    """Return an RFC 6749 error body; 401s carry a WWW-Authenticate challenge."""
    headers = dict(NO_STORE)
    if status == 401:
        headers["WWW-Authenticate"] = f'Bearer error="{error}"'
    return JSONResponse(
        {"error": error, "error_description": description}, status_code=status, headers=headers
    )


def api_error(status: int, code: str, message: str) -> JSONResponse:
    """Return a Whop v1 REST error: `{"error": {"type", "code", "message"}}`."""
    kind = {
        400: "invalid_request_error",
        401: "authentication_error",
        403: "permission_error",
        404: "not_found_error",
        409: "conflict_error",
        429: "rate_limit_error",
    }.get(status, "api_error")
    return JSONResponse(
        {"error": {"type": kind, "code": code, "message": message}}, status_code=status
    )
