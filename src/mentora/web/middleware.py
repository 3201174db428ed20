"""One pure-ASGI middleware: request id, audit context, security headers, a safe access log."""

from __future__ import annotations

import secrets
import time
from typing import Any

import structlog
from starlette.datastructures import MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from mentora.audit.record import AuditContext, set_audit_context
from mentora.web.client_ip import client_ip

access_log = structlog.get_logger("mentora.access")

NO_STORE_PREFIXES = ("/api/", "/dashboard", "/account", "/creator", "/dev", "/sessions")


class SecurityHeaders:
    """The header set for every response; CSP and HSTS depend on settings (X02)."""

    def __init__(self, *, production: bool, frame_ancestors: str, form_action: str) -> None:
        """Precompute the header values once."""
        csp = (
            "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
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
        self, app: ASGIApp, *, headers: SecurityHeaders, trusted_proxies: frozenset[str]
    ) -> None:
        """Wrap `app`."""
        self.app = app
        self.headers = headers
        self.trusted = trusted_proxies

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
        scope.setdefault("state", {})
        scope["state"]["request_id"] = request_id
        scope["state"]["client_ip"] = ip
        structlog.contextvars.bind_contextvars(request_id=request_id)
        path: str = scope.get("path", "")
        started = time.perf_counter()
        status_holder: dict[str, Any] = {"status": 500}

        async def send_wrapper(message: Message) -> None:
            if message["type"] == "http.response.start":
                status_holder["status"] = message["status"]
                status_holder["started"] = True
                headers = MutableHeaders(scope=message)
                headers.append("x-request-id", request_id)
                for name, value in self.headers.common:
                    if name.decode() not in headers:
                        headers.append(name.decode(), value.decode())
                if headers.get("content-type", "").startswith("text/html"):
                    for name, value in self.headers.html:
                        if name.decode() not in headers:
                            headers.append(name.decode(), value.decode())
                if path.startswith(NO_STORE_PREFIXES) and "cache-control" not in headers:
                    headers.append("cache-control", "no-store")
            await send(message)

        try:
            await self.app(scope, receive, send_wrapper)
        except Exception as exc:
            # Last line of defence: a bug becomes a generic 500 with the request id, never a
            # traceback on the wire (X03). The details go to the (redacted) log.
            access_log.error("unhandled_error", path=path, exc_info=exc)
            if "started" not in status_holder:
                from starlette.requests import Request

                from mentora.web.errors import error_response

                response = error_response(Request(scope), 500, "internal_error")
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
