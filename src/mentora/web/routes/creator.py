"""Creator pages under /creator: overview with activity chart and sync, students, deliveries
(replay / reprocess), audit trail.

The same pages serve every creator under `/c/{route}/creator` (web/routes/spaces.py) and the
default creator under `/creator`. Every route is behind `RequireCreator` (Whop access level
`admin` at the creator of the path) and reads or changes only that creator's rows: students
and audit events by creator id, deliveries by the creator's Whop company id. Buttons are
POST forms carrying the session's CSRF token (X01); each action writes one `authz_admin`
audit event naming the team member.
"""

from __future__ import annotations

from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Query
from sqlalchemy import func, select
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import RedirectResponse, Response

from mentora.audit.kinds import AuditKind
from mentora.audit.record import record_alone
from mentora.db.models import Membership, Student
from mentora.memberships.policy import GRANTING_STATUSES
from mentora.services import Services
from mentora.web.csrf import require_session_csrf
from mentora.web.deps import ServicesDep
from mentora.web.gate import Access, RequireCreator
from mentora.web.ratelimit import enforce
from mentora.web.spaces import space_base
from mentora.web.state import app_state
from mentora.web.templating import render
from mentora.web.views import activity, audit, deliveries, students, sync
from mentora.web.views.formatting import ago, iso, moment
from mentora.web.views.paging import UnknownCursor
from mentora.web.views.params import (
    EVENT_TYPE,
    SEARCH,
    WEBHOOK_ID,
    BadPageInput,
    matching,
    one_of,
    optional,
)
from mentora.web.views.spaces import Space, team_spaces, user_spaces
from mentora.web.views.status import FILTER_KEYS, filter_label
from mentora.webhooks.process import replay
from mentora.webhooks.status import NEEDS_ACTION, DeliveryStatus

router = APIRouter(prefix="/creator", tags=["creator"], include_in_schema=False)

REPROCESS_LIMIT = 100
NOTICES = {
    "replayed": "The delivery was processed again; its new status is below.",
    "replay_failed": "The delivery was processed again and failed again; see its error below.",
    "reprocessed": "Failed and dead deliveries were processed again.",
    "nothing_to_reprocess": "There were no failed or dead deliveries to process.",
    "sync_ok": "Sync finished: local memberships now match Whop.",
    "sync_partial": "Sync stopped early because Whop asked us to slow down; run it again shortly.",
    "sync_failed": "Sync could not finish because Whop could not be reached.",
    "sync_busy": "A sync is already running; its report appears here when it ends.",
}
Cursor = Annotated[int | None, Query(ge=1, le=2**62)]
Text = Annotated[str | None, Query(max_length=128)]


def _notice(key: str | None) -> str | None:
    return NOTICES.get(key or "")


def query_string(**params: object) -> str:
    """`?a=1&b=x` from the non-empty parameters (links that keep the page's filters)."""
    kept = {key: value for key, value in params.items() if value not in (None, "", False)}
    return "?" + urlencode(kept) if kept else "?"


def _helpers(services: Services) -> dict[str, object]:
    """Formatting helpers for templates, bound to the injected clock."""
    now = services.clock.now()
    return {"ago": lambda value: ago(value, now), "moment": moment, "iso": iso, "qs": query_string}


async def _switch(services: Services, access: Access) -> list[Space]:
    """The creator switcher's choices: every creator whose team the user is on, when there is
    more than one (two statements, see views/spaces.py)."""
    teams = team_spaces(await user_spaces(services, access.user))
    return teams if len(teams) > 1 else []


async def _audit(
    services: Services,
    access: Access,
    *,
    reason: str,
    subject: str,
    outcome: str,
    details: dict[str, object],
) -> None:
    """One `authz_admin` event for a team member's action at their creator (L01)."""
    await record_alone(
        services.sessionmaker,
        kind=AuditKind.AUTHZ_ADMIN,
        outcome=outcome,
        reason=reason,
        now=services.clock.now(),
        actor=access.user.whop_user_id,
        subject=subject,
        creator_id=access.creator.id,
        details=details,
    )


@router.get("")
async def overview(
    request: Request,
    services: ServicesDep,
    access: RequireCreator,
    notice: Text = None,
) -> Response:
    """Counts, the activity chart, and the sync button with its last report."""
    creator = access.creator
    async with services.sessionmaker() as db:
        student_count = (
            await db.execute(
                select(func.count())
                .select_from(Student)
                .where(
                    Student.creator_id == creator.id,
                    # Signed in with access (not a refused guest), and not the creator's team.
                    Student.onboarded_at.is_not(None),
                    Student.access_level != "admin",
                )
            )
        ).scalar_one()
        by_status = dict(
            (
                await db.execute(
                    select(Membership.status, func.count())
                    .where(Membership.creator_id == creator.id)
                    .group_by(Membership.status)
                )
            ).all()
        )
    counts = await deliveries.status_counts(services, creator.whop_company_id)
    context = {
        "section": "overview",
        "creator": creator,
        "student_count": student_count,
        "with_access": sum(n for status, n in by_status.items() if status in GRANTING_STATUSES),
        "without_access": sum(
            n for status, n in by_status.items() if status not in GRANTING_STATUSES
        ),
        "needs_action": sum(counts.get(status, 0) for status in NEEDS_ACTION),
        "failed_count": counts.get(DeliveryStatus.FAILED, 0),
        "panels": await activity.activity(services, creator, cache=app_state(request).activity),
        "chart": {
            "width": activity.WIDTH,
            "height": activity.HEIGHT,
            "label_y": activity.LABEL_Y,
            "baseline": activity.BAR_BOTTOM,
        },
        "runs": await sync.recent_runs(services, creator.id),
        "notice": _notice(notice),
        **_helpers(services),
        "switch": await _switch(services, access),
    }
    return render(request, "creator_overview.html", context)


@router.get("/students")
async def students_page(
    request: Request,
    services: ServicesDep,
    access: RequireCreator,
    q: Text = None,
    status: Text = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    per_page: Annotated[int, Query(ge=10, le=100)] = 50,
) -> Response:
    """The creator's students with status and last activity: search, filter by status, pages."""
    query = students.StudentQuery(
        q=matching(q, SEARCH, "search"),
        status=one_of(status, FILTER_KEYS, "status"),
        page=page,
        per_page=per_page,
    )
    result = await students.student_page(services, access.creator.id, query)
    context = {
        "section": "students",
        "creator": access.creator,
        "query": query,
        "result": result,
        "filters": [(key, filter_label(key)) for key in FILTER_KEYS],
        **_helpers(services),
        "switch": await _switch(services, access),
    }
    return render(request, "creator_students.html", context)


@router.get("/deliveries")
async def deliveries_page(
    request: Request,
    services: ServicesDep,
    access: RequireCreator,
    status: Text = None,
    type: Text = None,
    q: Text = None,
    before: Cursor = None,
    notice: Text = None,
) -> Response:
    """Webhook deliveries with status and error, newest first, with replay buttons."""
    query = deliveries.DeliveryQuery(
        status=one_of(status, deliveries.STATUSES, "status"),
        event_type=matching(type, EVENT_TYPE, "event type"),
        q=matching(q, WEBHOOK_ID, "webhook id"),
        before=before,
    )
    try:
        result = await deliveries.delivery_page(services, access.creator.whop_company_id, query)
    except UnknownCursor:
        raise BadPageInput("unknown cursor") from None
    context = {
        "section": "deliveries",
        "creator": access.creator,
        "query": query,
        "result": result,
        "statuses": deliveries.STATUSES,
        "event_types": deliveries.EVENT_TYPES,
        "notice": _notice(notice),
        **_helpers(services),
        "switch": await _switch(services, access),
    }
    return render(request, "creator_deliveries.html", context)


@router.post("/deliveries/replay")
async def replay_delivery(
    request: Request, services: ServicesDep, access: RequireCreator
) -> Response:
    """Process one of the creator's stored deliveries again now (after fixing the cause)."""
    await require_session_csrf(request, services)
    form = await request.form()
    value = form.get("webhook_id")
    webhook_id = matching(value if isinstance(value, str) else None, WEBHOOK_ID, "webhook id")
    company = access.creator.whop_company_id
    if webhook_id is None or not await deliveries.belongs_to(services, company, webhook_id):
        raise HTTPException(status_code=404)  # another creator's delivery does not exist here
    status = await replay(services, webhook_id) or "gone"
    await _audit(
        services,
        access,
        reason="webhook_replay",
        subject=webhook_id,
        outcome="failure" if status in (*NEEDS_ACTION, "gone") else "success",
        details={"result": status},
    )
    notice = "replay_failed" if status in NEEDS_ACTION else "replayed"
    query = urlencode({"q": webhook_id, "notice": notice})
    return RedirectResponse(f"{space_base(request)}/creator/deliveries?{query}", status_code=303)


@router.post("/deliveries/reprocess")
async def reprocess_deliveries(
    request: Request, services: ServicesDep, access: RequireCreator
) -> Response:
    """Replay the creator's failed and dead deliveries, oldest first (up to 100 per click)."""
    await require_session_csrf(request, services)
    ids = await deliveries.replayable_ids(services, access.creator.whop_company_id, REPROCESS_LIMIT)
    results: dict[str, int] = {}
    for webhook_id in ids:
        status = await replay(services, webhook_id) or "gone"
        results[status] = results.get(status, 0) + 1
    await _audit(
        services,
        access,
        reason="webhook_reprocess",
        subject=access.creator.whop_company_id,
        outcome="success",
        details={"replayed": len(ids), "results": results},
    )
    notice = "reprocessed" if ids else "nothing_to_reprocess"
    return RedirectResponse(
        f"{space_base(request)}/creator/deliveries?notice={notice}", status_code=303
    )


@router.get("/audit")
async def audit_page(
    request: Request,
    services: ServicesDep,
    access: RequireCreator,
    kind: Text = None,
    user: Text = None,
    outcome: Text = None,
    since: Text = None,
    before: Cursor = None,
) -> Response:
    """The creator's audit trail, newest first, filtered by kind, user, outcome and time."""
    since_text = optional(since)
    try:
        since_at = audit.parse_since(since_text, services.clock.now()) if since_text else None
    except ValueError:
        raise BadPageInput("malformed since") from None
    query = audit.AuditQuery(
        kind=matching(kind, audit.KIND, "kind"),
        user=matching(user, audit.USER, "user"),
        outcome=one_of(outcome, ("success", "failure"), "outcome"),
        since=since_at,
        before=before,
    )
    try:
        result = await audit.audit_page(services, access.creator.id, query)
    except UnknownCursor:
        raise BadPageInput("unknown cursor") from None
    context = {
        "section": "audit",
        "creator": access.creator,
        "query": query,
        "since": since_text or "",
        "result": result,
        "kinds": audit.KINDS,
        "since_choices": tuple(audit.SINCE_CHOICES),
        **_helpers(services),
        "switch": await _switch(services, access),
    }
    return render(request, "creator_audit.html", context)


@router.post("/sync")
async def sync_now(request: Request, services: ServicesDep, access: RequireCreator) -> Response:
    """Reconcile memberships with Whop now; the overview shows the report."""
    await require_session_csrf(request, services)
    await enforce(request, services, "account")  # each run costs Whop API calls: keep it rare
    if await sync.busy(services, access.creator.id):
        return RedirectResponse(f"{space_base(request)}/creator?notice=sync_busy#sync", 303)
    result = await sync.run_now(services, trigger="creator_page", creator_id=access.creator.id)
    await _audit(
        services,
        access,
        reason="sync_run",
        subject=f"sync:{result.run_id}",
        outcome="success" if result.outcome == "ok" else "failure",
        details={"result": result.outcome, "run": result.run_id},
    )
    return RedirectResponse(
        f"{space_base(request)}/creator?notice=sync_{result.outcome}#sync", status_code=303
    )
