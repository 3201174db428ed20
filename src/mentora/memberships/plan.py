"""Membership effects, planned: a pure function from the rows a batch read and its events, in
arrival order, to everything that has to change (design: "Effects are planned, then written
in bulk").

`plan(loaded, events, ctx)` walks the events one by one over an in-memory copy of the loaded
rows, exactly as applying them one at a time would: newest-wins upserts of memberships (W13),
local holds, users and students enrolled when access begins, stale marks and session ends when
it ends (M02), welcome / access-ended / receipt emails with their dedupe keys, and one audit
row per applied change. No I/O and no clock: `memberships.execute` writes the `Plan` with a
fixed number of statements per table, and `memberships.load` reads a `Loaded` in one read per
table. Property tests prove a plan of many events equals the same events planned one by one.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mentora.audit.fields import AuditContext, AuditFields
from mentora.config import Settings
from mentora.memberships.effects import ACTIVATED, DEACTIVATED
from mentora.memberships.events import Event, HoldEvent, MembershipEvent, ReceiptEvent
from mentora.memberships.policy import effective_policy, gives_access, supersedes
from mentora.memberships.records import change_fields, outbox_row, session_fields
from mentora.memberships.rows import (
    MEMBERSHIP_COLUMNS,
    CreatorView,
    Loaded,
    MemberRow,
    UserView,
)
from mentora.outbox.templates import render
from mentora.whop.schemas import MembershipSnapshot

# The planner's inputs, importable from here with its outputs.
__all__ = [
    "MEMBERSHIP_COLUMNS",
    "Change",
    "CreatorView",
    "Event",
    "HoldEvent",
    "Loaded",
    "MemberRow",
    "MembershipEvent",
    "NotStored",
    "Plan",
    "PlanContext",
    "PlannedAudit",
    "ReceiptEvent",
    "Result",
    "UserView",
    "plan",
]


@dataclass(frozen=True)
class Change:
    """What one membership or hold event did to its row."""

    whop_membership_id: str
    whop_user_id: str | None
    created: bool
    applied: bool
    before_status: str | None
    before_grants: bool
    after_status: str
    after_grants: bool
    flagged: bool

    @property
    def granted(self) -> bool:
        """True when this change turned access on."""
        return self.applied and self.after_grants and not self.before_grants

    @property
    def revoked(self) -> bool:
        """True when this change turned access off."""
        return self.applied and self.before_grants and not self.after_grants

    @property
    def status_changed(self) -> bool:
        """True when the stored status is different from before (or the row is new)."""
        return self.applied and self.before_status != self.after_status


@dataclass(frozen=True)
class NotStored:
    """A hold was asked for a membership with no row: the delivery must fail and be retried."""

    whop_membership_id: str


Result = Change | NotStored | None


@dataclass(frozen=True)
class PlannedAudit:
    """An audit row to write under `context`; `sessions` (user id, creator id) asks the
    executor for the count of sessions it ended there, and drops the row when none were."""

    fields: AuditFields
    context: AuditContext | None = None
    sessions: tuple[int, int] | None = None


@dataclass(frozen=True)
class PlanContext:
    """What the planner knows besides the rows: the settings (URLs, default policies) and now."""

    settings: Settings
    now: datetime


@dataclass
class Plan:
    """Everything to write, and one result per event (in order)."""

    now: datetime
    results: list[Result] = field(default_factory=list)
    memberships: dict[str, MemberRow] = field(default_factory=dict)  # new or changed, final
    users: dict[str, UserView] = field(default_factory=dict)  # to create
    students: dict[tuple[str, int], None] = field(default_factory=dict)  # to create if missing
    stale: dict[tuple[int, int], None] = field(default_factory=dict)  # (user id, creator id)
    sessions: dict[tuple[int, int], None] = field(default_factory=dict)  # to end
    emails: dict[str, dict[str, Any]] = field(default_factory=dict)  # outbox rows by dedupe key
    audit: list[PlannedAudit] = field(default_factory=list)

    @property
    def not_stored(self) -> list[str]:
        """Memberships a hold named that have no row."""
        return [r.whop_membership_id for r in self.results if isinstance(r, NotStored)]


class _Planner:
    """The walk: the loaded rows, copied, changed event by event."""

    def __init__(self, loaded: Loaded, ctx: PlanContext) -> None:
        self.ctx = ctx
        self.creators = loaded.creators
        self.by_id = {c.id: c for c in loaded.creators.values()}
        self.rows = {key: row.copy() for key, row in loaded.memberships.items()}
        self.users = dict(loaded.users)
        self.admins = loaded.admins
        self.plan = Plan(now=ctx.now)
        # Rendered subjects and bodies by template and context: a launch's welcome emails
        # mostly read the same (a new user has no name yet; one creator), and rendering each
        # anew was a large share of planning a new member.
        self.rendered: dict[tuple[str, tuple[tuple[str, object], ...]], tuple[str, str]] = {}

    def membership(self, event: MembershipEvent) -> Change:
        """Apply one snapshot newest-wins, then its consequences."""
        change = self._upsert(event)
        row = self.rows[event.snapshot.id]
        self._consequences(change, row, event, notify=True)
        return change

    def _upsert(self, event: MembershipEvent) -> Change:
        snapshot, now = event.snapshot, self.ctx.now
        source_at = snapshot.updated_at or event.observed_at or now
        creator = self.creators.get(snapshot.company_id) if snapshot.company_id else None
        row = self.rows.get(snapshot.id)
        if row is None:
            row = MemberRow(
                id=None,
                whop_membership_id=snapshot.id,
                creator_id=creator.id if creator else None,
                whop_company_id=snapshot.company_id or "",
                whop_user_id=snapshot.user_id,
                whop_product_id=snapshot.product_id,
                whop_plan_id=snapshot.plan_id,
                status=snapshot.status[:32],
                cancel_at_period_end=snapshot.cancel_at_period_end,
                current_period_end=snapshot.current_period_end,
                source_updated_at=source_at,
                flagged=creator is None,
                access_hold=None,
                created_at=now,
                updated_at=now,
            )
            self.rows[snapshot.id] = self.plan.memberships[snapshot.id] = row
            return self._change(row, created=True, applied=True, before=(None, False))
        before = (row.status, row.grants())
        # A flagged row whose company has since become a creator joins it even when this
        # snapshot is no newer (the onboarding sync, or a replay of the delivery that stored
        # it); its stored, newest state then takes effect as a change.
        adopted = row.flagged and creator is not None
        if adopted and creator is not None:
            row.creator_id, row.flagged = creator.id, False
        newer = supersedes(
            stored_at=row.source_updated_at,
            stored_status=row.status,
            incoming_at=source_at,
            incoming_status=snapshot.status,
        )
        if newer:
            _overwrite(row, snapshot, source_at, creator)
        if newer or adopted:
            row.updated_at = now
            self.plan.memberships[snapshot.id] = row
        return self._change(row, created=False, applied=newer or adopted, before=before)

    def _change(
        self, row: MemberRow, *, created: bool, applied: bool, before: tuple[str | None, bool]
    ) -> Change:
        return Change(
            whop_membership_id=row.whop_membership_id,
            whop_user_id=row.whop_user_id,
            created=created,
            applied=applied,
            before_status=before[0],
            before_grants=before[1],
            after_status=row.status,
            after_grants=row.grants(),
            flagged=row.flagged,
        )

    def hold(self, event: HoldEvent) -> Result:
        """Place or lift a local hold (no emails: the creator is alerted instead)."""
        row = self.rows.get(event.whop_membership_id)
        if event.release:
            if row is None or row.access_hold != event.reason:
                return None
            before = (row.status, row.grants())
            row.access_hold = None
        else:
            if event.policy is not None and not self._policy_on(event, row):
                return None
            if row is None:
                return NotStored(event.whop_membership_id)
            before = (row.status, row.grants())
            if row.access_hold is not None:  # the first hold wins
                return self._change(row, created=False, applied=False, before=before)
            row.access_hold = event.reason
        row.updated_at = self.ctx.now
        self.plan.memberships[row.whop_membership_id] = row
        change = self._change(row, created=False, applied=True, before=before)
        self._consequences(change, row, event, notify=False)
        return change

    def _policy_on(self, event: HoldEvent, row: MemberRow | None) -> bool:
        """The hold's policy flag, for the membership's creator (else the event's company's)."""
        creator = None
        if row is not None and row.creator_id is not None:
            creator = self.by_id.get(row.creator_id)
        elif event.company_id:
            creator = self.creators.get(event.company_id)
        policy = effective_policy(creator, self.ctx.settings)
        return bool(getattr(policy, event.policy or ""))

    def _consequences(
        self,
        change: Change,
        row: MemberRow,
        event: MembershipEvent | HoldEvent,
        *,
        notify: bool,
    ) -> None:
        """What follows a change: enrolment, stale mark, session end, emails, audit."""
        if not change.applied or not (change.status_changed or change.granted or change.revoked):
            return
        whop_event = event.event if isinstance(event, MembershipEvent) else None
        email = event.email if isinstance(event, MembershipEvent) else None
        ended = _access_ended(change, row, whop_event)
        user = self.users.get(row.whop_user_id) if row.whop_user_id else None
        if change.granted and row.creator_id is not None and row.whop_user_id:
            user = self._enroll(row.whop_user_id, row.creator_id, email, user)
        revoked: tuple[int, int] | None = None
        if row.creator_id is not None and user is not None and user.id is not None and ended:
            # Only when access ends: a grant must not make a just-paid user wait on Whop. A
            # user created by this plan has no student access answer and no sessions yet.
            pair = (user.id, row.creator_id)
            self.plan.stale[pair] = None
            if not self._still_has_access(row, user):
                revoked = pair
        if notify and _access_began(change, whop_event):
            self._email(row, "welcome", email, user)
        if notify and ended:
            self._email(row, "access_ended", email, user)
        self._audit(change, row, event, ended)
        if revoked is not None and revoked not in self.plan.sessions:
            # Ending the same user's sessions again in this plan would end none: no row.
            self.plan.sessions[revoked] = None
            fields = session_fields(row, self.ctx.now)
            self.plan.audit.append(PlannedAudit(fields, event.audit, sessions=revoked))

    def _enroll(
        self, whop_user_id: str, creator_id: int, email: str | None, user: UserView | None
    ) -> UserView:
        """The user and their student row at the creator, created on first news of access."""
        if user is None:
            text = email[:320] if email else None
            user = self.users[whop_user_id] = self.plan.users[whop_user_id] = UserView(
                whop_user_id=whop_user_id, email=text
            )
        self.plan.students[(whop_user_id, creator_id)] = None
        return user

    def _still_has_access(self, row: MemberRow, user: UserView) -> bool:
        """True when another membership, or a team role, keeps the user in at this creator."""
        for other in self.rows.values():
            if (
                other.whop_membership_id != row.whop_membership_id
                and other.whop_user_id == row.whop_user_id
                and other.creator_id == row.creator_id
                and gives_access(other.status, other.access_hold)
            ):
                return True
        return (user.whop_user_id, row.creator_id or 0) in self.admins

    def _email(
        self, row: MemberRow, template: str, email: str | None, user: UserView | None
    ) -> None:
        recipient = email or (user.email if user else None)
        if not recipient or row.creator_id is None:
            return
        creator = self.by_id.get(row.creator_id)
        moment = row.source_updated_at.isoformat()
        # Keyed by the transition itself, so a webhook and a later sync of the same change
        # (or a replay) queue one email.
        self._queue(
            f"{template}:{row.whop_membership_id}:{moment}",
            template,
            recipient,
            {
                "name": _greeting(user),
                "creator": creator.name if creator else "",
                "app_url": self.ctx.settings.app_url,
                "purchase_url": self.ctx.settings.purchase_url,
            },
        )

    def _queue(self, key: str, template: str, recipient: str, context: dict[str, object]) -> None:
        """An outbox row, unless this plan already queued one for the same cause."""
        rendering = (template, tuple(context.items()))
        text = self.rendered.get(rendering)
        if text is None:
            text = self.rendered[rendering] = render(template, context)
        row = outbox_row(key, template, recipient, text, self.ctx.now)
        self.plan.emails.setdefault(row["dedupe_key"], row)

    def receipt(self, event: ReceiptEvent) -> None:
        """Queue the receipt of a successful payment, when there is someone to send it to."""
        user = self.users.get(event.whop_user_id) if event.whop_user_id else None
        recipient = event.email or (user.email if user else None)
        if not recipient:
            return
        creator = self.creators.get(event.company_id) if event.company_id else None
        self._queue(
            f"receipt:{event.payment_id}",
            event.template,
            recipient,
            {
                "name": _greeting(user),
                "creator": creator.name if creator else "",
                "amount": event.amount,
                "currency": event.currency,
                "payment_id": event.payment_id,
            },
        )

    def _audit(
        self, change: Change, row: MemberRow, event: MembershipEvent | HoldEvent, ended: bool
    ) -> None:
        fields = change_fields(
            row,
            reason="granted" if change.granted else "revoked" if ended else "updated",
            before=change.before_status,
            source=event.source,
            whop_event=event.event if isinstance(event, MembershipEvent) else None,
            reference=event.reference,
            now=self.ctx.now,
        )
        self.plan.audit.append(PlannedAudit(fields, event.audit))


def _overwrite(
    row: MemberRow, snapshot: MembershipSnapshot, source_at: datetime, creator: CreatorView | None
) -> None:
    """Take the newer snapshot's state. The ids that place the membership (company, user) are
    kept once known: a later payload without them must not unset them."""
    row.status = snapshot.status[:32]
    row.cancel_at_period_end = snapshot.cancel_at_period_end
    row.current_period_end = snapshot.current_period_end
    row.source_updated_at = source_at
    row.whop_user_id = snapshot.user_id or row.whop_user_id
    row.whop_product_id = snapshot.product_id or row.whop_product_id
    row.whop_plan_id = snapshot.plan_id or row.whop_plan_id
    if snapshot.company_id:
        # Re-resolved every time: a company that became a creator since stops being flagged.
        row.whop_company_id = snapshot.company_id
        row.creator_id = creator.id if creator else None
        row.flagged = creator is None


def _access_began(change: Change, whop_event: str | None) -> bool:
    """True when this change is someone joining (or coming back), worth a welcome.

    A row we had never stored that grants access is only news when Whop says
    `membership.activated`; reconciliation or a `membership.updated` that merely discovers an
    existing membership must not greet every long-standing member.
    """
    if not change.granted:
        return False
    return not change.created or whop_event == ACTIVATED


def _access_ended(change: Change, row: MemberRow, whop_event: str | None) -> bool:
    """True when this change ends access: the row stopped granting, or Whop said
    `membership.deactivated` about a membership we had never stored (the user may have been
    let in on Whop's check-access answer alone)."""
    if change.revoked:
        return True
    return (
        change.created
        and not change.after_grants
        and whop_event == DEACTIVATED
        and row.creator_id is not None
    )


def plan(loaded: Loaded, events: list[Event], ctx: PlanContext) -> Plan:
    """Plan `events`, in order, over `loaded` (see the module docstring)."""
    planner = _Planner(loaded, ctx)
    for event in events:
        result: Result = None
        if isinstance(event, MembershipEvent):
            result = planner.membership(event)
        elif isinstance(event, HoldEvent):
            result = planner.hold(event)
        else:
            planner.receipt(event)
        planner.plan.results.append(result)
    return planner.plan


def _greeting(user: UserView | None) -> str:
    """Whom an email greets: the user's name or username, else "there" (a user Whop has not
    described yet, as every new member's first webhook is, has neither)."""
    return (user.name or user.username or "there") if user else "there"
