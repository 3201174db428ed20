"""Development tools at /dev (`mentora dev` only): the emulator's membership controls and the
outbox's emails.

The router answers 404 unless EMULATOR_ENABLED is on outside production (`AppState.dev_mode`),
so nothing of it exists in a real deployment. The buttons ask the emulator's admin API (at
the issuer) to activate, deactivate or cancel a membership; the emulator then sends the
signed webhook, exactly as Whop would. The app never imports the emulator: it talks HTTP.
POSTs need a same-origin request, and the session's CSRF token when someone is signed in.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Annotated, Any
from urllib.parse import urlencode

import httpx
import structlog
from fastapi import APIRouter, Depends, Query
from sqlalchemy import select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mentora.db.models import OutboxMessage
from mentora.web.cookie import SESSION_COOKIE
from mentora.web.csrf import check_request_origin, require_csrf
from mentora.web.deps import ServicesDep
from mentora.web.principal import OptionalSession
from mentora.web.state import app_state
from mentora.web.templating import render
from mentora.web.views import mailbox
from mentora.web.views.params import BadPageInput

log = structlog.get_logger("mentora.dev")

ACTIONS: dict[str, str] = {
    "activate": "Activate",
    "deactivate": "Deactivate",
    "cancel": "Cancel",
    "cancel-at-period-end": "Cancel at period end",
}
MEMBERSHIP_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")
DEMO_MEMBER = "user_demo_member"
ADMIN_PATH = "/_emulator/admin"
QUEUED_SHOWN = 20


def dev_only(request: Request) -> None:
    """404 unless development tools are on (EMULATOR_ENABLED and not production)."""
    if not app_state(request).dev_mode:
        raise HTTPException(status_code=404)


router = APIRouter(
    prefix="/dev", tags=["dev"], include_in_schema=False, dependencies=[Depends(dev_only)]
)


@dataclass(frozen=True)
class EmulatedMembership:
    """A membership as the emulator's admin API reports it."""

    id: str
    user_id: str
    product: str
    status: str
    cancel_at_period_end: bool
    period_end: str


def _membership(data: dict[str, Any]) -> EmulatedMembership:
    product = data.get("product") or {}
    return EmulatedMembership(
        id=str(data.get("id", "")),
        user_id=str(data.get("user_id", "")),
        product=str(product.get("title") or data.get("product_id") or ""),
        status=str(data.get("status", "")),
        cancel_at_period_end=bool(data.get("cancel_at_period_end")),
        period_end=str(data.get("current_period_end") or "")[:10],
    )


async def emulated_memberships(
    http: httpx.AsyncClient, issuer: str, company_id: str
) -> list[EmulatedMembership] | None:
    """The configured company's memberships at the emulator, demo member first; None if down."""
    try:
        response = await http.get(f"{issuer}{ADMIN_PATH}/memberships", timeout=5.0)
        response.raise_for_status()
        rows = response.json().get("data", [])
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("emulator_unreachable", error=type(exc).__name__)
        return None
    ours = [
        _membership(row)
        for row in rows
        if isinstance(row, dict) and (row.get("account") or {}).get("id") == company_id
    ]
    ours.sort(key=lambda m: (m.user_id != DEMO_MEMBER, m.user_id, m.id))
    return ours


def _notice(action: str | None, membership: str | None, sent: int | None, failed: bool) -> str:
    if failed:
        return "The emulator did not accept that change. Is it running?"
    if action not in ACTIONS or membership is None or not MEMBERSHIP_ID.match(membership):
        return ""
    events = f"{sent} webhook{'s' if sent != 1 else ''} sent" if sent else "no webhook (no change)"
    return f"{ACTIONS[action]}: {membership} → {events}."


@router.get("")
async def dev_page(
    request: Request,
    services: ServicesDep,
    principal: OptionalSession,
    action: Annotated[str | None, Query(max_length=32)] = None,
    membership: Annotated[str | None, Query(max_length=64)] = None,
    sent: Annotated[int | None, Query(ge=0, le=100)] = None,
    failed: Annotated[bool, Query()] = False,
) -> Response:
    """Emulator controls for the demo company's memberships, and the outbox's emails."""
    settings = services.settings
    async with services.sessionmaker() as db:
        queued = list(
            (
                await db.execute(
                    select(OutboxMessage)
                    .where(OutboxMessage.status != "sent")
                    .order_by(OutboxMessage.id.desc())
                    .limit(QUEUED_SHOWN)
                )
            ).scalars()
        )
    context = {
        "issuer": settings.issuer,
        "company_id": settings.whop_company_id,
        "memberships": await emulated_memberships(
            services.http, settings.issuer, settings.whop_company_id
        ),
        "actions": ACTIONS,
        "notice": _notice(action, membership, sent, failed),
        "mail_dir": settings.mail_dir,
        "mails": await mailbox.list_mail(settings.mail_dir),
        "queued": queued,
    }
    return render(request, "dev.html", context)


@router.get("/mail/{name}")
async def dev_mail(request: Request, services: ServicesDep, name: str) -> Response:
    """One email from MAIL_DIR, headers and text."""
    mail = await mailbox.open_mail(services.settings.mail_dir, name)
    if mail is None:
        raise HTTPException(status_code=404)
    return render(request, "dev_mail.html", {"mail": mail})


@router.post("/memberships/{membership_id}/{action}")
async def dev_membership_action(
    request: Request,
    services: ServicesDep,
    principal: OptionalSession,
    membership_id: str,
    action: str,
) -> Response:
    """Ask the emulator to change a membership; it sends Mentora the signed webhook."""
    settings = services.settings
    check_request_origin(request, settings.app_url)
    if principal is not None:
        await require_csrf(
            request,
            app_url=settings.app_url,
            secret_key=services.secret_key,
            session_token=request.cookies.get(SESSION_COOKIE),
        )
    if action not in ACTIONS or not MEMBERSHIP_ID.match(membership_id):
        raise BadPageInput("unknown membership action")
    url = f"{settings.issuer}{ADMIN_PATH}/memberships/{membership_id}/actions/{action}"
    query: dict[str, str | int] = {"action": action, "membership": membership_id}
    try:
        response = await services.http.post(url, json={}, timeout=5.0)
        response.raise_for_status()
        query["sent"] = len(response.json().get("webhooks_sent", []))
    except (httpx.HTTPError, ValueError, AttributeError) as exc:
        log.warning("emulator_action_failed", action=action, error=type(exc).__name__)
        query = {"failed": "true"}
    return RedirectResponse(f"/dev?{urlencode(query)}", status_code=303)
