"""What follows a membership change, in the same transaction as the change itself.

Access turned on by someone joining or coming back: the user and their student row at the
creator exist from then on (listed for the creator before any sign-in) and a welcome email is
queued.
Access turned off: the student's cached Whop answer is marked stale (so a newer-looking
"customer" answer cannot outvote the change), the user's sessions at that creator are revoked
(unless another membership or a team role still grants access) and an "ended" email queued.
Every applied change writes one audit row: `membership_changed`, or `membership_reconciled`
when reconciliation found the drift (W17).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from mentora.accounts import enroll
from mentora.audit.kinds import AuditKind
from mentora.audit.record import record
from mentora.config import Settings
from mentora.db.models import Creator, Membership, Student, User
from mentora.memberships.policy import GRANTING_STATUSES
from mentora.memberships.store import MembershipChange, Preloaded
from mentora.outbox.queue import enqueue_email
from mentora.sessions import store as sessions


class ChangeSource(StrEnum):
    """What brought a membership change (audit details, and the audit kind for sync)."""

    WEBHOOK = "webhook"  # a delivery, applied at intake
    WORKER = "worker"  # a failed delivery, retried by the worker
    REPLAY = "replay"  # a stored delivery, replayed by an operator
    SYNC = "sync"  # reconciliation with Whop's API


ACTIVATED = "membership.activated"
DEACTIVATED = "membership.deactivated"


@dataclass(frozen=True)
class ChangeContext:
    """Who is applying the change and what they know besides the snapshot."""

    settings: Settings
    now: datetime
    source: ChangeSource
    reference: str | None = None  # the webhook id or sync run that brought the change
    event: str | None = None  # the canonical webhook event name, when a webhook brought it
    email: str | None = None  # an address found in the payload, if any
    notify: bool = True  # False for local holds: the creator is alerted instead
    preloaded: Preloaded | None = None  # rows a batch already read and locked


async def _user(db: AsyncSession, whop_user_id: str | None) -> User | None:
    if not whop_user_id:
        return None
    result = await db.execute(select(User).where(User.whop_user_id == whop_user_id))
    return result.scalar_one_or_none()


async def still_has_access(db: AsyncSession, membership: Membership, user: User) -> bool:
    """True when another membership, or a team role, keeps the user in at this creator."""
    other = await db.execute(
        select(Membership.id)
        .where(
            Membership.whop_user_id == membership.whop_user_id,
            Membership.creator_id == membership.creator_id,
            Membership.id != membership.id,
            Membership.status.in_(GRANTING_STATUSES),
            Membership.access_hold.is_(None),
        )
        .limit(1)
    )
    if other.first() is not None:
        return True
    role = await db.execute(
        select(Student.access_level).where(
            Student.user_id == user.id, Student.creator_id == membership.creator_id
        )
    )
    return role.scalar_one_or_none() == "admin"


async def _mark_stale(db: AsyncSession, user: User, creator_id: int) -> None:
    """Force the access layer to ask Whop again on the user's next request (M02)."""
    await db.execute(
        update(Student)
        .where(Student.user_id == user.id, Student.creator_id == creator_id)
        .values(access_checked_at=None)
    )


async def _queue_email(
    db: AsyncSession,
    change: MembershipChange,
    ctx: ChangeContext,
    user: User | None,
    template: str,
) -> None:
    membership = change.membership
    recipient = ctx.email or (user.email if user else None)
    if not recipient or membership.creator_id is None:
        return
    creator = await db.get(Creator, membership.creator_id)
    moment = membership.source_updated_at.isoformat()
    await enqueue_email(
        db,
        # Keyed by the transition itself, so a webhook and a later sync of the same change
        # (or a replay) queue one email.
        dedupe_key=f"{template}:{membership.whop_membership_id}:{moment}",
        template=template,
        recipient=recipient,
        context={
            "name": (user.name or user.username) if user else "there",
            "creator": creator.name if creator else "",
            "app_url": ctx.settings.app_url,
            "purchase_url": ctx.settings.purchase_url,
        },
        now=ctx.now,
    )


def access_began(change: MembershipChange, ctx: ChangeContext) -> bool:
    """True when this change is someone joining (or coming back), worth a welcome.

    A row we had never stored that grants access is only news when Whop says
    `membership.activated`; reconciliation or a `membership.updated` that merely discovers an
    existing membership must not greet every long-standing member.
    """
    if not change.granted:
        return False
    return not change.created or ctx.event == ACTIVATED


def access_ended(change: MembershipChange, ctx: ChangeContext) -> bool:
    """True when this change ends access.

    Either the row went from granting to not, or Whop said `membership.deactivated` about a
    membership we had never stored: the user may well have been let in on Whop's check-access
    answer alone (sign-in stores that, not the membership).
    """
    if change.revoked:
        return True
    return (
        change.created
        and not change.after_grants
        and ctx.event == DEACTIVATED
        and change.membership.creator_id is not None
    )


async def after_change(db: AsyncSession, change: MembershipChange, ctx: ChangeContext) -> None:
    """Apply the consequences of `change` (see the module docstring); no-op when not applied."""
    membership = change.membership
    if not change.applied or not (change.status_changed or change.granted or change.revoked):
        return
    ended = access_ended(change, ctx)
    user = await _user(db, membership.whop_user_id)
    if change.granted and membership.creator_id is not None and membership.whop_user_id:
        # A member from now on, signed in or not: the creator's students page lists them.
        user = await enroll(
            db,
            whop_user_id=membership.whop_user_id,
            creator_id=membership.creator_id,
            now=ctx.now,
            user=user,
            email=ctx.email,
        )
    revoked_sessions = 0
    if membership.creator_id is not None and user is not None:
        if ended:
            # Only when access ends: a grant must not make a just-paid user wait on Whop.
            await _mark_stale(db, user, membership.creator_id)
        if ended and not await still_has_access(db, membership, user):
            revoked_sessions = await sessions.revoke_for_user(
                db,
                user.id,
                now=ctx.now,
                reason="membership_ended",
                creator_id=membership.creator_id,
            )
    if ctx.notify and access_began(change, ctx):
        await _queue_email(db, change, ctx, user, "welcome")
    if ctx.notify and ended:
        await _queue_email(db, change, ctx, user, "access_ended")
    record(
        db,
        kind=AuditKind.MEMBERSHIP_RECONCILED
        if ctx.source == ChangeSource.SYNC
        else AuditKind.MEMBERSHIP_CHANGED,
        outcome="success",
        reason="granted" if change.granted else "revoked" if ended else "updated",
        now=ctx.now,
        subject=membership.whop_user_id,
        creator_id=membership.creator_id,
        details={
            "membership": membership.whop_membership_id,
            "before": change.before_status,
            "after": membership.status,
            "hold": membership.access_hold,
            "source": ctx.source,
            "whop_event": ctx.event,
            "reference": ctx.reference,
            "flagged": membership.flagged,
        },
    )
    if revoked_sessions:
        record(
            db,
            kind=AuditKind.SESSION_REVOKED,
            outcome="success",
            reason="membership_ended",
            now=ctx.now,
            subject=membership.whop_user_id,
            creator_id=membership.creator_id,
            details={"count": revoked_sessions, "membership": membership.whop_membership_id},
        )
