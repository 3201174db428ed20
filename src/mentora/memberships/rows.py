"""The rows a membership plan reads (`Loaded`): creators, memberships and users as plain values,
read by `memberships.load` and copied, never changed, by `memberships.plan`."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from mentora.memberships.policy import gives_access

MEMBERSHIP_COLUMNS = (
    "creator_id",
    "whop_company_id",
    "whop_user_id",
    "whop_product_id",
    "whop_plan_id",
    "status",
    "cancel_at_period_end",
    "current_period_end",
    "source_updated_at",
    "flagged",
    "access_hold",
    "updated_at",
)


@dataclass(frozen=True)
class CreatorView:
    """The parts of a creator row the planner reads."""

    id: int
    whop_company_id: str
    name: str
    enabled: bool = True
    payment_failed_pauses_access: bool | None = None
    refund_revokes_access: bool | None = None
    dispute_revokes_access: bool | None = None


@dataclass
class MemberRow:
    """A membership row as stored (id None: created by this plan)."""

    id: int | None
    whop_membership_id: str
    creator_id: int | None
    whop_company_id: str
    whop_user_id: str | None
    whop_product_id: str | None
    whop_plan_id: str | None
    status: str
    cancel_at_period_end: bool
    current_period_end: datetime | None
    source_updated_at: datetime
    flagged: bool
    access_hold: str | None
    created_at: datetime
    updated_at: datetime

    def grants(self) -> bool:
        """Whether the row grants access: a known creator, a granting status and no hold."""
        return self.creator_id is not None and gives_access(self.status, self.access_hold)

    def copy(self) -> MemberRow:
        """An independent copy to change (the planner's working copy of a loaded row). Its
        fields are immutable values, so copying them shallowly suffices; built directly, as
        `dataclasses.replace` costs several times more per row."""
        twin = object.__new__(MemberRow)
        twin.__dict__.update(self.__dict__)
        return twin

    def values(self) -> dict[str, Any]:
        """The row's columns, as the executor writes them."""
        columns = {name: getattr(self, name) for name in MEMBERSHIP_COLUMNS}
        return {"whop_membership_id": self.whop_membership_id, **columns}


@dataclass(frozen=True)
class UserView:
    """A user row (id None: created by this plan)."""

    whop_user_id: str
    id: int | None = None
    email: str | None = None
    name: str | None = None
    username: str | None = None


@dataclass(frozen=True)
class Loaded:
    """What the planner may read: creators by company id, memberships by Whop id (every row
    an event names and every other membership of their users), users by Whop user id, and
    the (Whop user id, creator id) pairs whose student row carries a team role."""

    creators: dict[str, CreatorView] = field(default_factory=dict)
    memberships: dict[str, MemberRow] = field(default_factory=dict)
    users: dict[str, UserView] = field(default_factory=dict)
    admins: frozenset[tuple[str, int]] = frozenset()
