"""Exception handlers: every error becomes a generic page or JSON with a request id (X03).

Nothing internal reaches the client: not the exception text, not a stack trace. The details go
to the log (redacted) under the same request id.
"""

from __future__ import annotations

import structlog
from fastapi import FastAPI
from fastapi.exceptions import RequestValidationError
from sqlalchemy.exc import InterfaceError, OperationalError
from sqlalchemy.exc import TimeoutError as PoolTimeout
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mentora.errors import MentoraError
from mentora.web.csrf import CsrfError, record_refusal
from mentora.web.templating import render

log = structlog.get_logger("mentora.web")

GENERIC = {
    400: "The request was not valid.",
    401: "Please sign in.",
    403: "You are not allowed to do that.",
    404: "There is nothing here.",
    405: "That method is not allowed here.",
    413: "The request is too large.",
    414: "The address is too long.",
    415: "That content type is not supported.",
    422: "The request was not valid.",
    429: "Too many requests. Please wait and try again.",
    500: "Something went wrong on our side.",
    502: "An upstream service failed.",
    503: "The service is temporarily unavailable. Please try again shortly.",
}


# Endpoints browsers navigate to: pages unless JSON is asked for.
JSON_PATHS = frozenset({"/metrics", "/healthz", "/readyz"})
BROWSER_API_PATHS = frozenset(
    {
        "/api/whop/auth",
        "/api/whop/callback",
        "/api/whop/logout",
        "/api/whop/sessions/revoke-all",
    }
)


def wants_json(request: Request) -> bool:
    """API paths and clients that ask for JSON get JSON; browsers get a page."""
    accept = request.headers.get("accept", "")
    if "text/html" in accept or request.headers.get("sec-fetch-mode") == "navigate":
        return False
    if request.url.path in BROWSER_API_PATHS:
        return "application/json" in accept
    if request.url.path.startswith("/api/") or request.url.path in JSON_PATHS:
        return True
    return "application/json" in accept


def error_response(
    request: Request,
    status: int,
    code: str,
    message: str | None = None,
    *,
    headers: dict[str, str] | None = None,
    template: str = "error.html",
    context: dict[str, object] | None = None,
) -> Response:
    """Build the generic error response for `status`."""
    request_id = getattr(request.state, "request_id", "")
    text = message or GENERIC.get(status, GENERIC[500] if status >= 500 else GENERIC[400])
    all_headers = {"cache-control": "no-store", **(headers or {})}
    if wants_json(request):
        body = {"error": {"code": code, "message": text, "request_id": request_id}}
        return JSONResponse(body, status_code=status, headers=all_headers)
    page = render(
        request,
        template,
        {"status": status, "code": code, "message": text, **(context or {})},
        status_code=status,
    )
    page.headers.update(all_headers)
    return page


async def _mentora_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, MentoraError)
    if exc.status >= 500:
        log.warning("request_failed", error_code=exc.code, detail=exc.detail, path=request.url.path)
    headers = getattr(exc, "headers", None)
    # Errors that know their page (access denials: why, and what to do) bring it along.
    template = getattr(exc, "template", None) or "error.html"
    context = getattr(exc, "context", None)
    return error_response(
        request,
        exc.status,
        exc.code,
        exc.public_message,
        headers=headers,
        template=template,
        context=context if isinstance(context, dict) else None,
    )


async def _csrf_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, CsrfError)
    await record_refusal(request, exc)
    return await _mentora_error(request, exc)


async def _http_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, StarletteHTTPException)
    code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
    headers = dict(exc.headers or {})
    return error_response(request, exc.status_code, code, headers=headers)


async def _validation_error(request: Request, exc: Exception) -> Response:
    return error_response(request, 400, "invalid_request")


# The database is unreachable, restarting or out of connections: the request may well succeed
# in a few seconds, so it is a 503 with Retry-After, not a 500 (which would read as a bug).
DATABASE_DOWN = (OperationalError, InterfaceError, PoolTimeout)


async def _database_unavailable(request: Request, exc: Exception) -> Response:
    log.error("database_unavailable", path=request.url.path, error=type(exc).__name__)
    return error_response(request, 503, "database_unavailable", headers={"retry-after": "5"})


def install(app: FastAPI) -> None:
    """Register the handlers on `app`."""
    app.add_exception_handler(MentoraError, _mentora_error)
    app.add_exception_handler(CsrfError, _csrf_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for database_error in DATABASE_DOWN:
        app.add_exception_handler(database_error, _database_unavailable)
