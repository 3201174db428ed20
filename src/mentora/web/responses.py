"""Error answers: a generic page for browsers, JSON for API clients, with the request id."""

from __future__ import annotations

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from mentora.web.state import request_state
from mentora.web.templating import render

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


def _space_api(path: str) -> bool:
    """`/c/{route}/api/…`: a creator space's JSON routes."""
    parts = path.split("/", 4)
    return len(parts) > 4 and parts[1] == "c" and parts[3] == "api"


def wants_json(request: Request) -> bool:
    """API paths and clients that ask for JSON get JSON; browsers get a page."""
    accept = request.headers.get("accept", "")
    if "text/html" in accept or request.headers.get("sec-fetch-mode") == "navigate":
        return False
    if request.url.path in BROWSER_API_PATHS:
        return "application/json" in accept
    path = request.url.path
    if path.startswith("/api/") or path in JSON_PATHS or _space_api(path):
        return True
    if path.startswith("/experiences/") and "/api/" in path:
        # The JSON routes of an experience (fetched by the page inside Whop's iframe).
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
    request_id = request_state(request).request_id
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
