"""What the student dashboard shows: each of the user's memberships, with its creator.

The access decision for the default creator comes from the gate; this module only reads
the stored memberships (kept by webhooks and reconciliation) to say when a membership renews
or ends. Memberships of companies Mentora does not serve (`creator_id` null) are left out.
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import select

from mentora.access.policy import tier_of
from mentora.access.service import facts_of
from mentora.db.models import Creator, Membership
from mentora.services import Services
from mentora.web.views.formatting import day
from mentora.web.views.status import StatusLabel, describe

PAST_DUE_NOTE = "Your last payment did not go through. Update your payment method on Whop."


@dataclass(frozen=True)
class MembershipCard:
    """One membership as the dashboard shows it."""

    creator_name: str
    membership_id: str
    status: StatusLabel
    tier: str
    # What the date means: "Renews on", "Access ends on", "Trial ends on", "Ended on".
    date_label: str
    date: str
    notice: str | None
    current: bool


def _date_line(m: Membership, label: StatusLabel) -> tuple[str, str]:
    """The date worth showing and what it means, from the status and period end."""
    end = day(m.current_period_end)
    if not end:
        return "", ""
    if label.key == "canceling":
        return "Access ends on", end
    if label.key == "trialing":
        return "Trial ends on", end
    if label.key == "active":
        return "Renews on", end
    if label.key == "past_due":
        return "Payment was due on", end
    if label.key in ("expired", "canceled"):
        return "Ended on", end
    return "Period ends on", end


def _notice(m: Membership, label: StatusLabel, end: str) -> str | None:
    """A sentence for states the student should act on."""
    if m.access_hold is not None:
        return "Access is paused while Whop sorts out a payment. Check your Whop account."
    if label.key == "canceling":
        when = f" on {end}" if end else " at the end of the period"
        return f"Your membership is set to end{when}. Renew on Whop to keep access."
    if label.key == "past_due":
        return PAST_DUE_NOTE
    return None


async def membership_cards(
    services: Services, whop_user_id: str, current_creator_id: int
) -> list[MembershipCard]:
    """The user's memberships at every creator we serve, the default creator first."""
    async with services.sessionmaker() as db:
        rows = (
            await db.execute(
                select(Membership, Creator)
                .join(Creator, Creator.id == Membership.creator_id)
                .where(Membership.whop_user_id == whop_user_id)
                .order_by(Membership.source_updated_at.desc(), Membership.id.desc())
                .limit(50)
            )
        ).all()
    cards: list[MembershipCard] = []
    for m, creator in rows:
        policy = await services.gate.policies.get(creator.id)
        facts = facts_of(m)
        label = describe(m.status, m.cancel_at_period_end, m.access_hold)
        date_label, date = _date_line(m, label)
        cards.append(
            MembershipCard(
                creator_name=creator.name,
                membership_id=m.whop_membership_id,
                status=label,
                tier=tier_of(facts, policy),
                date_label=date_label,
                date=date,
                notice=_notice(m, label, day(m.current_period_end)),
                current=creator.id == current_creator_id,
            )
        )
    cards.sort(key=lambda card: (not card.current, card.creator_name.lower()))
    return cards
