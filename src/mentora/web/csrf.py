"""CSRF defence for cookie-authenticated state changes (X01): Fetch Metadata / Origin checks,
then a token bound to the session (HMAC of the session hash), from a form field or header.
"""

from __future__ import annotations

import re
from urllib.parse import urlsplit

import structlog
from starlette.requests import Request

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record_alone
from mentora.errors import MentoraError
from mentora.services import Services
from mentora.sessions.tokens import csrf_matches, hash_token
from mentora.web.cookie import SESSION_COOKIE
from mentora.web.state import app_state, request_state

log = structlog.get_logger("mentora.csrf")

CSRF_FIELD = "csrf_token"
CSRF_HEADER = "x-csrf-token"


class CsrfError(MentoraError):
    """A state-changing request failed the CSRF checks."""

    code = "malicious_csrf"
    status = 403
    public_message = "This request was refused for your safety. Reload the page and try again."

    def __init__(self, detail: str = "") -> None:
        """Keep `detail` for the log and a machine word of it for the audit row."""
        super().__init__(detail)
        self.reason = re.sub(r"[^a-z0-9]+", "_", detail.lower()).strip("_")[:64] or "csrf"


def origin_of(url: str) -> str:
    """scheme://host[:port] of a URL."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


def check_request_origin(request: Request, app_url: str) -> None:
    """Refuse cross-site unsafe requests by Fetch Metadata, falling back to Origin (pure-ish)."""
    site = request.headers.get("sec-fetch-site")
    if site is not None:
        if site not in ("same-origin", "none"):
            raise CsrfError(f"sec-fetch-site={site}")
        return
    origin = request.headers.get("origin")
    if origin is not None and origin.lower() != origin_of(app_url):
        raise CsrfError("origin mismatch")


async def presented_token(request: Request) -> str | None:
    """The CSRF token from the header or a urlencoded/multipart form body."""
    header = request.headers.get(CSRF_HEADER)
    if header:
        return header
    content_type = request.headers.get("content-type", "")
    if content_type.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        form = await request.form()
        value = form.get(CSRF_FIELD)
        return value if isinstance(value, str) else None
    return None


async def require_csrf(
    request: Request, *, app_url: str, secret_key: bytes, session_token: str | None
) -> None:
    """Raise CsrfError unless the request is same-origin and carries the session's token."""
    check_request_origin(request, app_url)
    if not session_token:
        raise CsrfError("no session")
    token = await presented_token(request)
    if not csrf_matches(secret_key, hash_token(session_token), token):
        raise CsrfError("token mismatch")


async def require_session_csrf(request: Request, services: Services) -> None:
    """`require_csrf` for a form posted by a signed-in browser: this app's origin and key, and
    the session in the request's cookie."""
    await require_csrf(
        request,
        app_url=services.settings.app_url,
        secret_key=services.secret_key,
        session_token=request.cookies.get(SESSION_COOKIE),
    )


async def record_refusal(request: Request, error: CsrfError) -> None:
    """Write one `malicious_csrf` audit event for a refused request (X01); never raises."""
    services = app_state(request).services
    principal = request_state(request).principal
    try:
        await record_alone(
            services.sessionmaker,
            kind=AuditKind.MALICIOUS_CSRF,
            outcome="failure",
            reason=error.reason,
            now=services.clock.now(),
            subject=principal.user.whop_user_id if principal else None,
            creator_id=principal.creator.id if principal else None,
            details={"method": request.method, "path": request.url.path},
        )
    except Exception as exc:  # the 403 stands even if the audit store is down
        log.error("csrf_refusal_unrecorded", reason=error.reason, error=type(exc).__name__)
