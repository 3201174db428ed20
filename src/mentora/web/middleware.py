"""One pure-ASGI middleware: request id, audit context, security headers, a safe access log."""

from __future__ import annotations

import os
import secrets
import time
from typing import Any
from urllib.parse import quote

import structlog
from starlette.datastructures import MutableHeaders
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentora.audit.record import AuditContext, set_audit_context
from mentora.errors import MentoraError
from mentora.web.client_ip import client_ip
from mentora.web.cookie import SESSION_COOKIE
from mentora.web.state import STATE_KEY, AppState, RequestState

access_log = structlog.get_logger("mentora.access")

NO_STORE_PREFIXES = ("/api/", "/dashboard", "/account", "/creator", "/dev", "/sessions", "/c/")
# Load balancers probe over plain HTTP; everything else is redirected to HTTPS in production.
PLAIN_HTTP_PATHS = frozenset({"/healthz", "/readyz"})
MAX_QUERY_BYTES = 8192
DEFAULT_MAX_BODY_BYTES = 1_048_576


class BodyTooLarge(MentoraError):
    """The request body is larger than MAX_BODY_BYTES (R04)."""

    code = "body_too_large"
    status = 413
    public_message = "The request is too large."


def _limits(scope: Scope) -> tuple[int, str | None]:
    """MAX_BODY_BYTES, and APP_URL when plain HTTP must be redirected (production only)."""
    app = getattr(getattr(scope.get("app"), "state", None), STATE_KEY, None)
    if not isinstance(app, AppState):  # an app of somebody else's (tests of this middleware)
        return DEFAULT_MAX_BODY_BYTES, None
    settings = app.services.settings
    return settings.max_body_bytes, settings.app_url if settings.is_production else None


def _capped(receive: Receive, limit: int) -> Receive:
    """`receive` that raises BodyTooLarge once more than `limit` body bytes have arrived."""
    seen = 0

    async def wrapped() -> Message:
        """The next message, counted."""
        nonlocal seen
        message = await receive()
        if message["type"] == "http.request":
            seen += len(message.get("body", b""))
            if seen > limit:
                raise BodyTooLarge(f"body over {limit} bytes")
        return message

    return wrapped


class SecurityHeaders:
    """The header set for every response; CSP and HSTS depend on settings (X02)."""

    def __init__(self, *, production: bool, frame_ancestors: str, form_action: str) -> None:
        """Precompute the header values once."""
        csp = (
            # Images also over https: creators' logos live on Whop's CDN.
            "default-src 'self'; script-src 'self'; style-src 'self'; "
            "img-src 'self' data: https:; "
            f"object-src 'none'; base-uri 'none'; form-action 'self' {form_action}; "
            f"frame-ancestors {frame_ancestors}"
        )
        self.common: list[tuple[bytes, bytes]] = [
            (b"x-content-type-options", b"nosniff"),
            (b"referrer-policy", b"no-referrer"),
            (b"cross-origin-opener-policy", b"same-origin"),
            (b"permissions-policy", b"camera=(), microphone=(), geolocation=()"),
        ]
        self.html: list[tuple[bytes, bytes]] = [(b"content-security-policy", csp.encode())]
        if frame_ancestors == "'none'":
            self.html.append((b"x-frame-options", b"DENY"))
        if production:
            self.common.append(
                (b"strict-transport-security", b"max-age=31536000; includeSubDomains")
            )


class RequestContextMiddleware:
    """Bind request id and client address, add headers, log one line without the query string."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        headers: SecurityHeaders,
        trusted_proxies: frozenset[str],
        served_by: bool = False,
    ) -> None:
        """Wrap `app`; `served_by` (MENTORA_ENV=test only) adds `x-served-by: <pid>`."""
        self.app = app
        self.headers = headers
        self.trusted = trusted_proxies
        self.served_by = served_by

    def _refusal(
        self,
        scope: Scope,
        raw_headers: dict[bytes, bytes],
        https_origin: str | None,
        max_body: int,
    ) -> Response | None:
        """The answer given before routing (HTTPS redirect, 414, declared 413), if any."""
        path: str = scope.get("path", "")
        peer = scope.get("client")
        proto = raw_headers.get(b"x-forwarded-proto", b"").decode("latin-1").split(",")[-1]
        peer_trusted = peer is not None and peer[0] in self.trusted
        scheme = proto.strip().lower() if peer_trusted and proto else scope.get("scheme", "http")
        query: bytes = scope.get("query_string", b"")
        if https_origin and scheme != "https" and path not in PLAIN_HTTP_PATHS:
            # HTTP to HTTPS, to the configured origin (never the Host header); 308 keeps POSTs.
            raw_path = scope.get("raw_path") or quote(path).encode()
            target = https_origin.rstrip("/") + raw_path.decode("latin-1")
            return RedirectResponse(target + ("?" + query.decode("latin-1") if query else ""), 308)
        if len(query) > MAX_QUERY_BYTES:
            return _error(scope, 414, "uri_too_long")
        declared = raw_headers.get(b"content-length", b"")
        if declared.isdigit() and int(declared) > max_body:
            return _error(scope, 413, "body_too_large")
        return None

    def _wrap_send(
        self, send: Send, request_id: str, private: bool, status_holder: dict[str, Any]
    ) -> Send:
        """`send` that adds the request id and security headers and notes the status."""

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = MutableHeaders(scope=message)
                headers.append("x-request-id", request_id)
                if self.served_by:
                    # Which worker process answered: multi-process tests need the evidence.
                    headers.append("x-served-by", str(os.getpid()))
                for name, value in self.headers.common:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in self.headers.html:
                        if name.decode() not in headers:
                            headers.append(name.decode(), value.decode())
                if private and "cache-control" not in headers:
                    headers.append("cache-control", "no-store")
            await send(message)

        return send_wrapper

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Handle one HTTP request."""
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = secrets.token_hex(8)
        raw_headers: dict[bytes, bytes] = dict(scope.get("headers") or [])
        peer = scope.get("client")
        forwarded = raw_headers.get(b"x-forwarded-for")
        ip = client_ip(
            peer[0] if peer else None,
            forwarded.decode("latin-1") if forwarded else None,
            self.trusted,
        )
        user_agent = raw_headers.get(b"user-agent", b"").decode("latin-1")[:400] or None
        set_audit_context(AuditContext(ip=ip, user_agent=user_agent, request_id=request_id))
        scope.setdefault("state", {})[STATE_KEY] = RequestState(request_id=request_id, client_ip=ip)
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope.get("path", "")
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}
        max_body, https_origin = _limits(scope)
        # Anything answered to a signed-in browser is private, whatever its path (X02).
        private = path.startswith(NO_STORE_PREFIXES) or (
            SESSION_COOKIE.encode() in raw_headers.get(b"cookie", b"")
            and not path.startswith("/static/")
        )
        refusal = self._refusal(scope, raw_headers, https_origin, max_body)
        if refusal is None:
            receive = _capped(receive, max_body)

        send_wrapper = self._wrap_send(send, request_id, private, status_holder)

        try:
            if refusal is not None:
                await refusal(scope, receive, send_wrapper)
            else:
                await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Last line of defence: a bug becomes a generic 500 with the request id, never a
            # traceback on the wire (X03). The details go to the (redacted) log.
            access_log.error("unhandled_error", path=path, exc_info=exc)
            if "started" not in status_holder:
                response = _error(scope, 500, "internal_error")
                await response(scope, receive, send_wrapper)
        finally:
            access_log.info(
                "http_request",
                method=scope.get("method"),
                path=path,
                status_code=status_holder["status"],
                duration_ms=round((time.perf_counter() - started) * 1000, 2),
                ip=ip,
            )
            structlog.contextvars.unbind_contextvars("request_id")


def _error(scope: Scope, status: int, code: str) -> Response:
    """The generic error page or JSON, built here for refusals made before routing."""
    from mentora.web.responses import error_response  # responses import templates; load on demand

    return error_response(Request(scope), status, code)
