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
from starlette.responses import Response

from mentora.errors import MentoraError
from mentora.sessions.errors import SessionError
from mentora.web.csrf import CsrfError, record_refusal
from mentora.web.responses import error_response, wants_json
from mentora.web.signed_out import signed_out_response

log = structlog.get_logger("mentora.web")


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


async def _session_error(request: Request, exc: Exception) -> Response:
    """No usable session: a browser asking for a page is sent to sign in (and brought back),
    or told why its session ended; anything else gets the 401."""
    if request.method == "GET" and not wants_json(request):
        return await signed_out_response(request)
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
    app.add_exception_handler(SessionError, _session_error)
    app.add_exception_handler(StarletteHTTPException, _http_error)
    app.add_exception_handler(RequestValidationError, _validation_error)
    for database_error in DATABASE_DOWN:
        app.add_exception_handler(database_error, _database_unavailable)
