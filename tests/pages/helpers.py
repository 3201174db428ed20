"""Seed people, deliveries and audit events directly, as sign-in, webhooks and sync would."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import timedelta

import httpx
from sqlalchemy import select

from mentora.audit.record import record
from mentora.creators import ensure_creator
from mentora.db.models import AuditEvent, Membership, Student, User, WebhookDelivery
from mentora.db.uow import transaction
from mentora.services import Services
from mentora.sessions import store
from mentora.web.cookie import SESSION_COOKIE
from tests.support.timeline import stamp

CSRF_INPUT = re.compile(r'name="csrf_token" value="([^"]+)"')
SAME_ORIGIN = {"sec-fetch-site": "same-origin"}
BROWSER = {"accept": "text/html", "sec-fetch-site": "same-origin", "sec-fetch-mode": "navigate"}


@dataclass
class Person:
    """A seeded user at a creator, with a live session token (empty when none)."""

    user_id: int
    creator_id: int
    whop_user_id: str
    token: str

    @property
    def cookie(self) -> dict[str, str]:
        """Headers carrying this person's session cookie."""
        return {"cookie": f"{SESSION_COOKIE}={self.token}"}


async def creator_id(services: Services, company_id: str = "biz_demo") -> int:
    """The creator for `company_id`, created when missing."""
    async with transaction(services.sessionmaker, write=True) as db:
        creator = await ensure_creator(
            db, company_id=company_id, name=company_id, clock=services.clock
        )
        await db.flush()
        return creator.id


async def person(
    services: Services,
    whop_user_id: str,
    *,
    company_id: str = "biz_demo",
    level: str = "customer",
    name: str | None = None,
    email: str | None = None,
    status: str | None = "active",
    cancel_at_period_end: bool = False,
    period_end_days: float | None = 30,
    hold: str | None = None,
    session: bool = True,
    joined_ago: float = 0,
) -> Person:
    """User + student (Whop's `level`, checked now) + one membership + a session."""
    now = services.clock.now()
    cid = await creator_id(services, company_id)
    async with transaction(services.sessionmaker, write=True) as db:
        user = User(
            whop_user_id=whop_user_id,
            username=whop_user_id.removeprefix("user_"),
            name=name,
            email=email,
            created_at=now,
            updated_at=now,
        )
        db.add(user)
        await db.flush()
        db.add(
            Student(
                user_id=user.id,
                creator_id=cid,
                access_level=level,
                access_checked_at=now,
                created_at=now - timedelta(seconds=joined_ago),
            )
        )
        if status is not None:
            db.add(
                Membership(
                    whop_membership_id=f"mem_{whop_user_id}",
                    creator_id=cid,
                    whop_company_id=company_id,
                    whop_user_id=whop_user_id,
                    whop_product_id="prod_demo" if company_id == "biz_demo" else "prod_other",
                    whop_plan_id=None,
                    status=status,
                    cancel_at_period_end=cancel_at_period_end,
                    current_period_end=None
                    if period_end_days is None
                    else now + timedelta(days=period_end_days),
                    source_updated_at=now - timedelta(seconds=10),
                    access_hold=hold,
                    created_at=now,
                    updated_at=now,
                )
            )
        token = ""
        if session:
            new = await store.create(
                db,
                user_id=user.id,
                creator_id=cid,
                now=now,
                policy=services.session_policy,
                ip="127.0.0.1",
                user_agent="tests",
            )
            token = new.token
        await db.flush()
        return Person(user.id, cid, whop_user_id, token)


def membership_body(
    membership_id: str,
    *,
    status: str = "active",
    user_id: str = "user_demo_member",
    company_id: str = "biz_demo",
    updated_at: str = stamp(hours=-1),
) -> str:
    """A v1 `membership.activated` envelope that the handler can apply."""
    return json.dumps(
        {
            "id": f"evt_{membership_id}",
            "api_version": "v1",
            "type": "membership.activated",
            "timestamp": stamp(hours=-1),
            "company_id": company_id,
            "data": {
                "id": membership_id,
                "status": status,
                "updated_at": updated_at,
                "created_at": stamp(days=-26, hours=-12),
                "user_id": user_id,
                "product_id": "prod_demo" if company_id == "biz_demo" else "prod_other",
                "plan_id": "plan_demo",
                "account": {"id": company_id, "title": company_id},
                "cancel_at_period_end": False,
                "current_period_end": stamp(days=29, hours=12),
            },
        }
    )


async def delivery(
    services: Services,
    webhook_id: str,
    *,
    company_id: str = "biz_demo",
    status: str = "processed",
    event_type: str = "membership.activated",
    body: str | None = None,
    received_ago: float = 0,
    attempts: int = 1,
    last_error: str | None = None,
) -> None:
    """A stored delivery row (e.g. a dead one, as if its handler had kept failing)."""
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        db.add(
            WebhookDelivery(
                webhook_id=webhook_id,
                event_type=event_type,
                company_id=company_id,
                body=body or membership_body(f"mem_{webhook_id}", company_id=company_id),
                headers={},
                status=status,
                attempts=attempts,
                next_attempt_at=None,
                last_error=last_error,
                received_at=now - timedelta(seconds=received_ago),
                processed_at=now if status == "processed" else None,
            )
        )


async def audit_event(
    services: Services, kind: str, *, creator: int | None, subject: str, ago: float = 0
) -> None:
    """One audit row at a creator, `ago` seconds in the past."""
    async with transaction(services.sessionmaker, write=True) as db:
        record(
            db,
            kind=kind,
            outcome="success" if kind != "authz_fail" else "failure",
            now=services.clock.now() - timedelta(seconds=ago),
            subject=subject,
            creator_id=creator,
        )


async def events(services: Services, kind: str) -> list[AuditEvent]:
    """Audit rows of one kind, oldest first."""
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)
        )
        return list(rows.scalars())


async def delivery_status(services: Services, webhook_id: str) -> str:
    """The stored status of one delivery."""
    async with services.sessionmaker() as db:
        found = await db.execute(
            select(WebhookDelivery.status).where(WebhookDelivery.webhook_id == webhook_id)
        )
        return str(found.scalar_one())


async def csrf_from(client: httpx.AsyncClient, path: str, headers: dict[str, str]) -> str:
    """The CSRF token rendered in a page's forms."""
    page = await client.get(path, headers={**BROWSER, **headers})
    assert page.status_code == 200, page.text
    found = CSRF_INPUT.search(page.text)
    assert found is not None
    return found.group(1)
