"""Signed-out answers: a page asked for without a session gets what a person expects, not a 401.

A browser that navigates to a gated page without a usable session is sent to sign in and
brought back afterwards. One case gets a page instead: a session that was closed because
access ended (a `membership.deactivated` webhook or a payment hold revokes the user's
sessions, M02). Then the person learns why in plain words (expired, canceled, payment failed,
...) with the renew link, rather than landing on Whop's sign-in page without explanation.
Refusals by the gate itself (`AccessDenied`) bring their own access page. Non-GET requests
and API clients keep the 401. `web.errors` answers every `SessionError` through here.
"""

from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import urlencode

from sqlalchemy import select
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mentora.access.errors import GUIDANCE, Guidance
from mentora.audit.kinds import AuditKind
from mentora.db.models import Membership, User, UserSession
from mentora.sessions.tokens import hash_token, plausible
from mentora.web.cookie import SESSION_COOKIE, clear_cookie
from mentora.web.deps import get_services
from mentora.web.ratelimit import audit_within_budget
from mentora.web.responses import error_response

MEMBERSHIP_ENDED = "membership_ended"
SIGNED_OUT = "We signed you out; once it is sorted out on Whop, sign in again."
ENDED = Guidance(
    "Your membership has ended",
    "Whop told us your membership no longer gives access.",
    "renew",
)


# Statuses of a membership that gives access again (no hold on it) after the session ended.
ACTIVE_AGAIN = frozenset({"active", "trialing", "canceling", "completed"})
REACTIVATED = "reactivated"
RESTORED = Guidance(
    "Your membership is active again",
    "Whop tells us your membership is active again. We signed you out when it ended: sign in "
    "again to continue.",
    "sign_in",
)


@dataclass(frozen=True)
class Ended:
    """Why a session was closed because access ended: the reason code and what to say."""

    reason: str
    guidance: Guidance
    whop_user_id: str
    creator_id: int | None


async def ended_access(request: Request) -> Ended | None:
    """When the request's session was closed because access ended, why (else None).

    The reason is read from the user's latest membership at the creator the session began at:
    a payment hold, or the status Whop reported (expired, canceled, ...), with the access
    layer's words.
    """
    token = request.cookies.get(SESSION_COOKIE)
    if not token or not plausible(token):
        return None
    services = get_services(request)
    async with services.sessionmaker() as db:
        session = (
            await db.execute(
                select(UserSession.revoked_reason, User.whop_user_id, UserSession.creator_id)
                .join(User, User.id == UserSession.user_id)
                .where(UserSession.token_hash == hash_token(token))
            )
        ).one_or_none()
        if session is None or session[0] != MEMBERSHIP_ENDED:
            return None
        latest = (
            await db.execute(
                select(Membership.access_hold, Membership.status)
                .where(Membership.whop_user_id == session[1], Membership.creator_id == session[2])
                .order_by(Membership.source_updated_at.desc(), Membership.id.desc())
                .limit(1)
            )
        ).one_or_none()
    code = (latest[0] or latest[1]) if latest is not None else MEMBERSHIP_ENDED
    if code in ACTIVE_AGAIN:
        # Deactivated, then activated again at Whop: nothing to renew, only to sign in.
        return Ended(REACTIVATED, RESTORED, session[1], session[2])
    return Ended(code, GUIDANCE.get(code, ENDED), session[1], session[2])


async def signed_out_response(request: Request) -> Response:
    """The access-ended page, or a redirect to sign in that returns to this page."""
    services = get_services(request)
    ended = await ended_access(request)
    if ended is not None and ended.reason == REACTIVATED:
        response = error_response(
            request,
            401,
            REACTIVATED,
            ended.guidance.message,
            template="access_denied.html",
            context={
                "reason": ended.reason,
                "title": ended.guidance.title,
                "action": ended.guidance.action,
                "sign_in_url": _sign_in_url(request),
            },
        )
    elif ended is not None:
        # A denial like any other, within the per-client budget: an old cookie can be replayed.
        await audit_within_budget(
            request,
            services,
            "invalid_session_audit",
            kind=AuditKind.AUTHZ_FAIL,
            reason=ended.reason,
            subject=ended.whop_user_id,
            creator_id=ended.creator_id,
            details={"path": request.url.path, "via": "session_ended"},
        )
        response = error_response(
            request,
            403,
            MEMBERSHIP_ENDED,
            f"{ended.guidance.message} {SIGNED_OUT}",
            template="access_denied.html",
            context={
                "reason": ended.reason,
                "title": ended.guidance.title,
                "action": ended.guidance.action,
                "purchase_url": services.settings.purchase_url,
            },
        )
    else:
        response = RedirectResponse(
            _sign_in_url(request), status_code=303, headers={"cache-control": "no-store"}
        )
    if request.cookies.get(SESSION_COOKIE):
        clear_cookie(response, SESSION_COOKIE)  # a dead cookie is only noise on every request
    return response


def _sign_in_url(request: Request) -> str:
    """Sign-in that brings the browser back to this page afterwards."""
    target = request.url.path + (f"?{request.url.query}" if request.url.query else "")
    return f"/api/whop/auth?{urlencode({'next': target})}"
