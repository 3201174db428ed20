"""Seed users, students, memberships and sessions directly, as sign-in and webhooks would."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import httpx
from sqlalchemy import func, select, update

from mentora.creators import ensure_creator
from mentora.db.models import AuditEvent, Creator, Membership, Student, User, UserSession
from mentora.db.uow import transaction
from mentora.services import Services
from mentora.sessions import store
from mentora.web.cookie import SESSION_COOKIE

CHECK_PREFIX = "/api/v1/users/"


@dataclass
class Seeded:
    """A seeded student: ids and the raw session token for the cookie."""

    user_id: int
    creator_id: int
    whop_user_id: str
    token: str

    @property
    def cookie(self) -> dict[str, str]:
        """Headers carrying this student's session cookie (for interleaved clients)."""
        return {"cookie": f"{SESSION_COOKIE}={self.token}"}


async def creator_id(services: Services, company_id: str = "biz_demo", name: str = "") -> int:
    """The id of the creator for `company_id`, creating it when missing."""
    async with transaction(services.sessionmaker, write=True) as db:
        creator = await ensure_creator(
            db, company_id=company_id, name=name or company_id, clock=services.clock
        )
        await db.flush()
        return creator.id


async def seed(
    services: Services,
    whop_user_id: str,
    *,
    level: str | None = "customer",
    checked_at: datetime | None = None,
    company_id: str = "biz_demo",
    memberships: list[dict[str, Any]] | None = None,
    session: bool = True,
) -> Seeded:
    """User + student (Whop's answer `level` at `checked_at`) + memberships + a session."""
    now = services.clock.now()
    cid = await creator_id(services, company_id)
    async with transaction(services.sessionmaker, write=True) as db:
        user = (
            await db.execute(select(User).where(User.whop_user_id == whop_user_id))
        ).scalar_one_or_none()
        if user is None:
            user = User(
                whop_user_id=whop_user_id, username=whop_user_id, created_at=now, updated_at=now
            )
            db.add(user)
            await db.flush()
        if level is not None:
            db.add(
                Student(
                    user_id=user.id,
                    creator_id=cid,
                    access_level=level,
                    access_checked_at=checked_at or now,
                    created_at=now,
                )
            )
        for spec in memberships or []:
            db.add(membership_row(whop_user_id, cid, company_id, now=now, **spec))
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
        return Seeded(user_id=user.id, creator_id=cid, whop_user_id=whop_user_id, token=token)


def membership_row(
    whop_user_id: str,
    cid: int | None,
    company_id: str,
    *,
    now: datetime,
    status: str = "active",
    product_id: str = "prod_demo",
    plan_id: str | None = "plan_demo",
    updated_ago: float = 86400.0,
    period_end_in: float | None = 30 * 86400.0,
    cancel_at_period_end: bool = False,
    flagged: bool = False,
    hold: str | None = None,
    membership_id: str | None = None,
) -> Membership:
    """A Membership row as the webhook/sync code stores it."""
    return Membership(
        whop_membership_id=membership_id or f"mem_{secrets.token_hex(6)}",
        creator_id=cid,
        whop_company_id=company_id,
        whop_user_id=whop_user_id,
        whop_product_id=product_id,
        whop_plan_id=plan_id,
        status=status,
        cancel_at_period_end=cancel_at_period_end,
        current_period_end=None
        if period_end_in is None
        else now + timedelta(seconds=period_end_in),
        source_updated_at=now - timedelta(seconds=updated_ago),
        flagged=flagged,
        access_hold=hold,
        created_at=now,
        updated_at=now,
    )


async def set_status(services: Services, whop_user_id: str, status: str) -> None:
    """Store a status change for every membership of a user, as a webhook or sync would."""
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        await db.execute(
            update(Membership)
            .where(Membership.whop_user_id == whop_user_id)
            .values(status=status, source_updated_at=now, updated_at=now)
        )


async def audit_reasons(services: Services, kind: str = "authz_fail") -> list[str | None]:
    """Reasons of the audit events of one kind, oldest first."""
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(AuditEvent.reason).where(AuditEvent.kind == kind).order_by(AuditEvent.id)
        )
        return list(rows.scalars().all())


async def live_sessions(services: Services, user_id: int) -> int:
    """How many unrevoked sessions the user has."""
    async with services.sessionmaker() as db:
        return int(
            (
                await db.execute(
                    select(func.count())
                    .select_from(UserSession)
                    .where(UserSession.user_id == user_id, UserSession.revoked_at.is_(None))
                )
            ).scalar_one()
        )


async def student_level(services: Services, user_id: int, cid: int) -> tuple[str, datetime | None]:
    """The stored access level and check time of a student."""
    async with services.sessionmaker() as db:
        row = (
            await db.execute(
                select(Student.access_level, Student.access_checked_at).where(
                    Student.user_id == user_id, Student.creator_id == cid
                )
            )
        ).one()
        return row[0], row[1]


async def creator_name(services: Services, cid: int) -> str:
    """A creator's display name."""
    async with services.sessionmaker() as db:
        return str((await db.execute(select(Creator.name).where(Creator.id == cid))).scalar_one())


def use_session(client: httpx.AsyncClient, seeded: Seeded) -> None:
    """Put the seeded session's cookie in the client's jar."""
    client.cookies.set(SESSION_COOKIE, seeded.token, domain="mentora.test")
