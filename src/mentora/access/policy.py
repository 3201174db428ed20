"""Pure access decisions: local membership state + Whop's last answer + the time → a reason.

Nothing here does I/O or reads a clock: `decide()` gets the memberships of one user at one
creator, Whop's last check-access answer for that pair, the requirement of the route, the
policy derived from settings, and `now`. docs/access.md documents the table below.

Two sources are combined:

- `Membership` rows (webhooks, sync): the status detail, read through `status_verdict()`.
- Whop's check-access answer (`Student.access_level` at `access_checked_at`): it names the
  creator's team (`admin` → creator role), fills in when no row is stored yet, and, when it
  is newer than every row, corrects rows that missed an event. It is also the freshness
  clock: older than the TTL → revalidate; Whop unreachable → the last known state holds for
  the grace window after the last successful check, then access is refused.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

# Reasons that allow, best first (the best allowing membership names the decision).
ALLOW_REASONS: tuple[str, ...] = (
    "creator",
    "active",
    "trialing",
    "completed",
    "canceling_until_period_end",
    "past_due_grace",
    "whop_customer",
)
# Denials that state a fact Whop may have moved past (a lost webhook): Whop's newer
# "customer" answer overrides them. Local policy denials (past-due grace over, payment holds)
# are never overridden, because Whop keeps those users as customers on purpose.
FACT_DENIALS: frozenset[str] = frozenset(
    {"expired", "canceled", "unresolved", "drafted", "missing", "deactivated", "no_membership"}
)
# A payment event can put a local hold on a membership (webhooks; settings decide).
HOLD_REASONS: Mapping[str, str] = {
    "payment_failed": "payment_failed",
    "refunded": "refunded",
    "disputed": "disputed",
}
DENY_STATUSES: frozenset[str] = frozenset(
    {"expired", "canceled", "unresolved", "drafted", "missing", "deactivated"}
)


@dataclass(frozen=True)
class MembershipFacts:
    """What a stored membership says, as plain values (one `Membership` row)."""

    membership_id: str
    status: str
    creator_id: int | None
    source_updated_at: datetime
    product_id: str | None = None
    plan_id: str | None = None
    cancel_at_period_end: bool = False
    current_period_end: datetime | None = None
    flagged: bool = False
    hold: str | None = None


@dataclass(frozen=True)
class WhopAnswer:
    """Whop's last successful check-access answer for (user, creator); None: never asked."""

    access_level: str = "no_access"
    checked_at: datetime | None = None


@dataclass(frozen=True)
class Requirement:
    """What a route asks for beyond "a member of this creator"."""

    tier: str | None = None
    product_ids: frozenset[str] = frozenset()
    creator_only: bool = False

    def describe(self) -> dict[str, object]:
        """The requirement as audit details."""
        return {
            "tier": self.tier,
            "products": sorted(self.product_ids),
            "creator_only": self.creator_only,
        }


@dataclass(frozen=True)
class AccessPolicy:
    """Settings-derived rules for one creator."""

    ttl: timedelta
    grace: timedelta
    past_due_grace: timedelta
    # Product or plan id → tier name; unmapped memberships get `default_tier`.
    tiers: Mapping[str, str] = field(default_factory=dict)
    # Products (or plans) that grant access; empty means any product of the creator.
    access_products: frozenset[str] = frozenset()
    # Lowest to highest; a tier requirement accepts that tier or any above it.
    tier_order: tuple[str, ...] = ()
    default_tier: str = "member"


@dataclass(frozen=True)
class Decision:
    """The answer for one request: allowed or not, why, at which tier, and whether to ask Whop."""

    allowed: bool
    reason: str
    tier: str | None
    needs_revalidation: bool
    # True when the state is stale, Whop could not be asked, and the grace window holds it.
    degraded: bool = False

    @property
    def role(self) -> str | None:
        """`creator` for the creator's team, `student` for other allowed users, else None."""
        if not self.allowed:
            return None
        return "creator" if self.reason == "creator" else "student"


@dataclass(frozen=True)
class Verdict:
    """What one membership's status means now."""

    allowed: bool
    reason: str


def status_verdict(m: MembershipFacts, policy: AccessPolicy, now: datetime) -> Verdict:
    """The status table: Whop's membership statuses, the cancel flag, period end and grace."""
    if m.hold is not None:
        return Verdict(False, HOLD_REASONS.get(m.hold, "access_hold"))
    status = m.status
    if status in ("active", "trialing", "canceling"):
        if status == "canceling" or m.cancel_at_period_end:
            # Paid up to the period end; after it the row is only late to say "expired".
            if m.current_period_end is not None and now >= m.current_period_end:
                return Verdict(False, "expired")
            return Verdict(True, "canceling_until_period_end")
        return Verdict(True, status)
    if status == "completed":
        return Verdict(True, "completed")
    if status == "past_due":
        if now < past_due_anchor(m) + policy.past_due_grace:
            return Verdict(True, "past_due_grace")
        return Verdict(False, "past_due_expired")
    if status in DENY_STATUSES:
        return Verdict(False, status)
    return Verdict(False, "unknown_status")


def past_due_anchor(m: MembershipFacts) -> datetime:
    """When the payment became due: the earlier of period end and the update saying past_due.

    The earlier one is used so the grace window can only be shorter, never longer, than the
    configured days (a later unrelated update must not extend it).
    """
    candidates = [t for t in (m.current_period_end, m.source_updated_at) if t is not None]
    return min(candidates)


def tier_of(m: MembershipFacts, policy: AccessPolicy) -> str:
    """The tier a membership grants: by plan first (more specific), then by product."""
    for key in (m.plan_id, m.product_id):
        if key is not None and key in policy.tiers:
            return policy.tiers[key]
    return policy.default_tier


def tier_satisfies(have: str, need: str | None, order: Sequence[str]) -> bool:
    """True when tier `have` meets `need` (equal, or ranked at or above it in `order`)."""
    if need is None or have == need:
        return True
    if have in order and need in order:
        return order.index(have) >= order.index(need)
    return False


def _covered(m: MembershipFacts, policy: AccessPolicy) -> bool:
    """True when the membership is of a product that grants access at this creator."""
    if not policy.access_products:
        return True
    return m.product_id in policy.access_products or m.plan_id in policy.access_products


def _meets(m: MembershipFacts, requirement: Requirement, policy: AccessPolicy) -> bool:
    if requirement.product_ids and not (
        m.product_id in requirement.product_ids or m.plan_id in requirement.product_ids
    ):
        return False
    return tier_satisfies(tier_of(m, policy), requirement.tier, policy.tier_order)


def _evidence_at(m: MembershipFacts, now: datetime) -> datetime:
    """When the row's verdict began: its last update, or the period end a canceling row passed.

    A Whop answer given before a canceling membership's period end knows nothing of the
    expiry at that instant, so it must not override it.
    """
    canceling = m.status == "canceling" or m.cancel_at_period_end
    if canceling and m.current_period_end is not None and m.current_period_end <= now:
        return max(m.source_updated_at, m.current_period_end)
    return m.source_updated_at


def _rank(tier: str, order: Sequence[str]) -> int:
    return order.index(tier) if tier in order else -1


def _from_state(
    creator_id: int,
    memberships: Iterable[MembershipFacts],
    answer: WhopAnswer,
    requirement: Requirement,
    policy: AccessPolicy,
    now: datetime,
) -> Decision:
    """The decision from the stored state alone (freshness is handled by `decide`)."""
    if answer.access_level == "admin" and answer.checked_at is not None:
        return Decision(True, "creator", None, False)
    if requirement.creator_only:
        return Decision(False, "creator_required", None, False)
    # Rows of other creators, or of companies we do not serve (creator_id None, flagged),
    # never count: cross-creator isolation lives here as well as in the query.
    ours = [m for m in memberships if m.creator_id == creator_id and not m.flagged]
    covered = [m for m in ours if _covered(m, policy)]
    judged = [(m, status_verdict(m, policy, now)) for m in covered]
    whop_newer = answer.checked_at is not None and all(
        answer.checked_at > _evidence_at(m, now) for m in covered
    )
    allowing = [(m, v) for m, v in judged if v.allowed]
    fitting = [(m, v) for m, v in allowing if _meets(m, requirement, policy)]
    if fitting:
        if whop_newer and answer.access_level == "no_access":
            # Whop was asked after the last stored change and says no: a lost deactivation.
            return Decision(False, "whop_no_access", None, False)
        best_m, best_v = max(
            fitting,
            key=lambda mv: (
                _rank(tier_of(mv[0], policy), policy.tier_order),
                -ALLOW_REASONS.index(mv[1].reason),
            ),
        )
        return Decision(True, best_v.reason, tier_of(best_m, policy), False)
    if allowing:
        reason = "product_required" if requirement.product_ids else "tier_required"
        return Decision(False, reason, None, False)
    if judged:
        _, latest_v = max(judged, key=lambda mv: mv[0].source_updated_at)
        denial = latest_v.reason
        facts_only = all(v.reason in FACT_DENIALS for _, v in judged)
    else:
        denial, facts_only = "no_membership", True
    default_fits = not requirement.product_ids and tier_satisfies(
        policy.default_tier, requirement.tier, policy.tier_order
    )
    if facts_only and whop_newer and answer.access_level == "customer" and default_fits:
        # Whop vouches for a membership we have not stored (yet): its newer word wins.
        return Decision(True, "whop_customer", policy.default_tier, False)
    return Decision(False, denial, None, False)


def decide(
    *,
    creator_id: int,
    memberships: Iterable[MembershipFacts],
    answer: WhopAnswer,
    requirement: Requirement,
    policy: AccessPolicy,
    now: datetime,
    whop_unreachable: bool = False,
    creator_enabled: bool = True,
) -> Decision:
    """Decide access for one user at one creator.

    `creator_enabled` False (an operator ran `mentora creators disable`): nobody enters,
    whatever Whop or the stored memberships say, and Whop is not asked.

    `whop_unreachable` says the caller tried to revalidate (or was told not to try, by the
    back-off or the circuit breaker) and has no newer answer: a stale allowing state then holds
    only within the grace window after the last successful check. Never allows on an error.
    """
    if not creator_enabled:
        return Decision(False, "creator_disabled", None, False)
    base = _from_state(creator_id, list(memberships), answer, requirement, policy, now)
    checked = answer.checked_at
    if checked is not None and now - checked < policy.ttl:
        return base
    if not whop_unreachable or not base.allowed:
        return replace(base, needs_revalidation=True)
    if checked is not None and now - checked < policy.grace:
        return replace(base, needs_revalidation=True, degraded=True)
    return Decision(False, "stale_whop_unreachable", None, True)


def decision_horizon(
    memberships: Iterable[MembershipFacts], answer: WhopAnswer, policy: AccessPolicy, now: datetime
) -> datetime | None:
    """The earliest instant after `now` at which `decide` may answer differently.

    `decide` compares the time only with these instants (TTL and grace after the last check,
    period ends, past-due grace ends), so for the same state its answer is constant from
    `now` until the returned instant (None: never changes with time alone).
    """
    points: list[datetime] = []
    if answer.checked_at is not None:
        points += [answer.checked_at + policy.ttl, answer.checked_at + policy.grace]
    for m in memberships:
        if m.current_period_end is not None:
            points.append(m.current_period_end)
        if m.status == "past_due":
            points.append(past_due_anchor(m) + policy.past_due_grace)
    future = [point for point in points if point > now]
    return min(future) if future else None
