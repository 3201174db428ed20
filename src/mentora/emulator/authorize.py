"""`/oauth/authorize`: the sign-in and consent page, and the user's decision.

A bad `client_id` or `redirect_uri` gets an error page and never a redirect (RFC 6749
§4.1.2.1: redirecting to an unverified URI would make the emulator an open redirector).
Every other problem is reported to the client through the redirect, with `state` and `iss`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from starlette.requests import Request
from starlette.responses import RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from mentora.emulator.config import DEMO
from mentora.emulator.pages import render

if TYPE_CHECKING:
    from mentora.emulator.app import Emulator

# What the consent text says each known scope lets the app do.
SCOPE_TEXT = {
    "openid": "Confirm who you are (your Whop user id)",
    "profile": "See your name, username and profile picture",
    "email": "See your email address",
}
APPROVE = frozenset({"approve", "allow", "continue"})
# The query parameters carried through the page as hidden form fields.
CARRIED = (
    "response_type",
    "client_id",
    "redirect_uri",
    "scope",
    "state",
    "nonce",
    "code_challenge",
    "code_challenge_method",
    "company_id",
)


@dataclass
class AuthorizeRequest:
    """A validated authorization request."""

    client_id: str
    redirect_uri: str
    scope: str
    state: str | None
    nonce: str | None
    code_challenge: str
    company_id: str | None


def with_query(url: str, params: dict[str, str | None]) -> str:
    """Append parameters to a URL, keeping any query it already has."""
    parts = urlsplit(url)
    query = parse_qsl(parts.query, keep_blank_values=True)
    query += [(k, v) for k, v in params.items() if v is not None]
    return urlunsplit(parts._replace(query=urlencode(query)))


def routes(emu: Emulator) -> list[BaseRoute]:
    """Return the authorize routes bound to an emulator."""

    def error_page(title: str, detail: str) -> Response:
        """Render the no-redirect error page."""
        return render("error.html", status_code=400, title=title, detail=detail)

    def redirect_error(redirect_uri: str, state: str | None, error: str, detail: str) -> Response:
        """Send an OAuth error back to the (already verified) redirect URI."""
        target = with_query(
            redirect_uri,
            {"error": error, "error_description": detail, "state": state, "iss": emu.config.issuer},
        )
        return RedirectResponse(target, status_code=302)

    def validate(params: dict[str, str]) -> AuthorizeRequest | Response:
        """Check the request in RFC order: client and redirect first, then the rest."""
        client_id = params.get("client_id", "")
        redirect_uri = params.get("redirect_uri", "")
        if client_id != emu.config.client_id:
            return error_page("Unknown application", f"client_id {client_id!r} is not registered.")
        if redirect_uri not in emu.config.redirect_uris:
            return error_page(
                "Redirect URI not registered",
                f"redirect_uri {redirect_uri!r} is not registered for {client_id} "
                "(the match is exact; a trailing slash makes a different URI).",
            )
        state = params.get("state")
        if params.get("response_type") != "code":
            return redirect_error(
                redirect_uri, state, "unsupported_response_type", "response_type must be code."
            )
        scope = " ".join(params.get("scope", "").split())
        if "openid" not in scope.split():
            return redirect_error(
                redirect_uri, state, "invalid_scope", "scope must include openid."
            )
        challenge = params.get("code_challenge", "")
        if not challenge:
            return redirect_error(
                redirect_uri, state, "invalid_request", "code_challenge is required (PKCE)."
            )
        if params.get("code_challenge_method") != "S256":
            return redirect_error(
                redirect_uri, state, "invalid_request", "code_challenge_method must be S256."
            )
        company_id = params.get("company_id") or None
        if company_id is not None and company_id not in emu.state.companies:
            return redirect_error(
                redirect_uri, state, "invalid_request", f"unknown company_id {company_id}."
            )
        return AuthorizeRequest(
            client_id=client_id,
            redirect_uri=redirect_uri,
            scope=scope,
            state=state,
            nonce=params.get("nonce") or None,
            code_challenge=challenge,
            company_id=company_id,
        )

    def show_page(
        params: dict[str, str], request: AuthorizeRequest, selected: str | None, error: str = ""
    ) -> Response:
        """Render the sign-in page with every user and the consent text."""
        users = list(emu.state.users.values())
        if selected not in emu.state.users:
            selected = DEMO.member_user_id if DEMO.member_user_id in emu.state.users else None
        if selected is None and users:
            selected = users[0].id
        scopes = [(s, SCOPE_TEXT.get(s, f"Use the {s} permission")) for s in request.scope.split()]
        company = emu.state.companies.get(request.company_id or "")
        return render(
            "authorize.html",
            status_code=400 if error else 200,
            users=users,
            selected=selected,
            scopes=scopes,
            client_id=request.client_id,
            company=company,
            hidden=[(k, params[k]) for k in CARRIED if params.get(k)],
            action="/oauth/authorize",
            error=error,
        )

    async def authorize_page(http: Request) -> Response:
        """GET /oauth/authorize: validate, then show the sign-in page."""
        params = dict(http.query_params)
        checked = validate(params)
        if isinstance(checked, Response):
            return checked
        return show_page(params, checked, params.get("login_hint"))

    async def authorize_decision(http: Request) -> Response:
        """POST /oauth/authorize: Continue issues a code, Cancel reports access_denied."""
        form = await http.form()
        params = {k: v for k, v in form.items() if isinstance(v, str)}
        checked = validate(params)
        if isinstance(checked, Response):
            return checked
        # Only an explicit approval (or a form posted without a button value, as a script
        # might) continues; "cancel", "deny" or anything else is a refusal.
        if params.get("decision", "approve") not in APPROVE:
            return redirect_error(
                checked.redirect_uri,
                checked.state,
                "access_denied",
                "The user declined to sign in.",
            )
        user_id = params.get("user_id", "")
        if user_id not in emu.state.users:
            return show_page(params, checked, None, error="Choose an account to continue.")
        code = emu.state.oauth.create_code(
            client_id=checked.client_id,
            redirect_uri=checked.redirect_uri,
            user_id=user_id,
            scope=checked.scope,
            nonce=checked.nonce,
            code_challenge=checked.code_challenge,
            company_id=checked.company_id,
            now=emu.now(),
        )
        target = with_query(
            checked.redirect_uri,
            {"code": code.code, "state": checked.state, "iss": emu.config.issuer},
        )
        return RedirectResponse(target, status_code=302)

    return [
        Route("/oauth/authorize", authorize_page, methods=["GET"]),
        Route("/oauth/authorize", authorize_decision, methods=["POST"]),
        Route("/oauth/authorize/decision", authorize_decision, methods=["POST"]),
    ]
