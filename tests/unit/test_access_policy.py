"""The pure access policy: the status table, grace windows (frozen clock), tiers, freshness."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from mentora.access.policy import (
    AccessPolicy,
    Decision,
    MembershipFacts,
    Requirement,
    WhopAnswer,
    decide,
    decision_horizon,
    status_verdict,
    tier_satisfies,
)

NOW = datetime(2026, 11, 27, 12, 0, 0, tzinfo=UTC)
CREATOR = 1
POLICY = AccessPolicy(
    ttl=timedelta(seconds=300),
    grace=timedelta(seconds=900),
    past_due_grace=timedelta(days=3),
    tiers={"prod_pro": "pro", "plan_vip": "vip"},
    tier_order=("member", "pro", "vip"),
)
FRESH = WhopAnswer("customer", NOW - timedelta(seconds=10))
ANY = Requirement()


def m(status: str = "active", **kw: Any) -> MembershipFacts:
    """A membership of creator 1, updated a day ago, period ending in ten days."""
    values: dict[str, Any] = {
        "membership_id": "mem_1",
        "status": status,
        "creator_id": CREATOR,
        "source_updated_at": NOW - timedelta(days=1),
        "product_id": "prod_demo",
        "current_period_end": NOW + timedelta(days=10),
    }
    values.update(kw)
    return MembershipFacts(**values)


def run(
    memberships: list[MembershipFacts],
    answer: WhopAnswer = FRESH,
    requirement: Requirement = ANY,
    *,
    now: datetime = NOW,
    unreachable: bool = False,
    policy: AccessPolicy = POLICY,
) -> Decision:
    """Decide for creator 1."""
    return decide(
        creator_id=CREATOR,
        memberships=memberships,
        answer=answer,
        requirement=requirement,
        policy=policy,
        now=now,
        whop_unreachable=unreachable,
    )


# status, cancel_at_period_end, allowed, reason: Whop's documented statuses (whop-platform.md §3.1)
STATUS_TABLE = [
    ("active", False, True, "active"),
    ("trialing", False, True, "trialing"),
    ("completed", False, True, "completed"),
    ("canceling", False, True, "canceling_until_period_end"),
    ("active", True, True, "canceling_until_period_end"),
    ("trialing", True, True, "canceling_until_period_end"),
    ("past_due", False, True, "past_due_grace"),
    ("expired", False, False, "expired"),
    ("canceled", False, False, "canceled"),
    ("unresolved", False, False, "unresolved"),
    ("drafted", False, False, "drafted"),
    ("missing", False, False, "missing"),
    ("deactivated", False, False, "deactivated"),
    ("paused_forever", False, False, "unknown_status"),
]


@pytest.mark.parametrize(("status", "flag", "allowed", "reason"), STATUS_TABLE)
def test_status_table(status: str, flag: bool, allowed: bool, reason: str) -> None:
    """Each Whop status (and the cancel flag) maps to the documented decision and reason."""
    # The row is newer than Whop's last answer, so it alone decides.
    row = m(status, cancel_at_period_end=flag, source_updated_at=NOW - timedelta(seconds=1))
    decision = run([row])
    assert (decision.allowed, decision.reason) == (allowed, reason)
    assert decision.tier == ("member" if allowed else None)
    assert not decision.needs_revalidation


def test_canceling_ends_at_period_end() -> None:
    """Cancel-at-period-end keeps access until the period end, then refuses as expired."""
    row = m("active", cancel_at_period_end=True, current_period_end=NOW + timedelta(hours=1))
    assert run([row]).reason == "canceling_until_period_end"
    later = NOW + timedelta(hours=1)
    answer = WhopAnswer("no_access", later - timedelta(seconds=5))
    decision = run([row], answer, now=later)
    assert (decision.allowed, decision.reason) == (False, "expired")


def test_past_due_grace_window_with_frozen_clock() -> None:
    """past_due grants for PAST_DUE_GRACE_DAYS from when payment was due, then refuses."""
    due = NOW - timedelta(days=1)
    row = m("past_due", current_period_end=due, source_updated_at=due + timedelta(hours=2))
    inside = due + timedelta(days=3) - timedelta(seconds=1)
    edge = due + timedelta(days=3)
    assert status_verdict(row, POLICY, inside).reason == "past_due_grace"
    assert status_verdict(row, POLICY, edge).reason == "past_due_expired"
    assert not status_verdict(row, POLICY, edge).allowed


def test_past_due_grace_not_extended_by_later_updates() -> None:
    """A later unrelated update of a past_due row does not restart its grace window."""
    row = m(
        "past_due",
        current_period_end=NOW - timedelta(days=4),
        source_updated_at=NOW - timedelta(minutes=1),
    )
    assert run([row]).reason == "past_due_expired"


def test_past_due_without_period_end_uses_update_time() -> None:
    """Without a period end, the grace window starts at the update that said past_due."""
    row = m("past_due", current_period_end=None, source_updated_at=NOW - timedelta(days=2))
    assert run([row]).reason == "past_due_grace"


@pytest.mark.parametrize("hold", ["payment_failed", "refunded", "disputed", "something_new"])
def test_hold_refuses_whatever_the_status(hold: str) -> None:
    """A local payment hold on an active membership refuses with the hold as the reason."""
    decision = run([m("active", hold=hold)])
    assert not decision.allowed
    assert decision.reason == (hold if hold != "something_new" else "access_hold")


def test_no_rows_and_whop_says_no_access() -> None:
    """No stored membership and Whop's fresh no_access: refused as no_membership."""
    decision = run([], WhopAnswer("no_access", NOW - timedelta(seconds=5)))
    assert (decision.allowed, decision.reason) == (False, "no_membership")


def test_no_rows_whop_customer_grants_default_tier() -> None:
    """Whop's fresh customer answer grants the default tier before any row is stored."""
    decision = run([])
    assert (decision.allowed, decision.reason, decision.tier) == (True, "whop_customer", "member")


def test_admin_is_creator_role() -> None:
    """Whop's admin access level gives the creator role, whatever the memberships say."""
    decision = run([m("expired")], WhopAnswer("admin", NOW - timedelta(seconds=5)))
    assert (decision.allowed, decision.reason, decision.role) == (True, "creator", "creator")


def test_creator_only_requirement() -> None:
    """A creator-only route refuses an active member and admits the team."""
    need = Requirement(creator_only=True)
    assert run([m()], requirement=need).reason == "creator_required"
    assert run([], WhopAnswer("admin", NOW), need).allowed


def test_other_creator_and_unknown_company_never_grant() -> None:
    """Rows of another creator, of no known creator, or flagged, never grant access here."""
    rows = [
        m("active", creator_id=2),
        m("active", creator_id=None, flagged=True),
        m("active", flagged=True),
    ]
    decision = run(rows, WhopAnswer("no_access", NOW - timedelta(seconds=5)))
    assert (decision.allowed, decision.reason) == (False, "no_membership")


def test_best_membership_wins() -> None:
    """With several rows the best allowing one names the decision (highest tier first)."""
    rows = [
        m("expired", membership_id="a", product_id="prod_pro"),
        m("past_due", membership_id="b", current_period_end=NOW),
        m("active", membership_id="c", product_id="prod_pro"),
    ]
    decision = run(rows)
    assert (decision.reason, decision.tier) == ("active", "pro")


def test_latest_denial_is_reported() -> None:
    """Without any allowing row, the most recently updated row gives the reason."""
    rows = [
        m("canceled", membership_id="a", source_updated_at=NOW - timedelta(days=9)),
        m("expired", membership_id="b", source_updated_at=NOW - timedelta(days=2)),
    ]
    assert run(rows, WhopAnswer("no_access", NOW)).reason == "expired"


@pytest.mark.parametrize(
    ("have", "need", "ok"),
    [
        ("member", None, True),
        ("pro", "pro", True),
        ("vip", "pro", True),
        ("member", "pro", False),
        ("gold", "pro", False),
        ("gold", "gold", True),
    ],
)
def test_tier_order(have: str, need: str | None, ok: bool) -> None:
    """A tier requirement accepts that tier or any ranked above it."""
    assert tier_satisfies(have, need, POLICY.tier_order) is ok


def test_tier_requirement() -> None:
    """A pro route refuses a member-tier membership and admits pro (by product) and vip (plan)."""
    need = Requirement(tier="pro")
    assert run([m()], requirement=need).reason == "tier_required"
    assert run([m(product_id="prod_pro")], requirement=need).tier == "pro"
    assert run([m(plan_id="plan_vip")], requirement=need).tier == "vip"
    assert run([], requirement=need).reason == "no_membership"


def test_product_requirement_and_access_products() -> None:
    """Only access products count when configured; a product requirement names one."""
    restricted = AccessPolicy(
        ttl=POLICY.ttl,
        grace=POLICY.grace,
        past_due_grace=POLICY.past_due_grace,
        access_products=frozenset({"prod_course"}),
    )
    answer = WhopAnswer("no_access", NOW)
    assert run([m(product_id="prod_other")], answer, policy=restricted).reason == "no_membership"
    assert run([m(product_id="prod_course")], policy=restricted).allowed
    need = Requirement(product_ids=frozenset({"prod_x"}))
    assert run([m()], requirement=need).reason == "product_required"


def test_newer_whop_no_access_overrides_active_row() -> None:
    """Whop asked after the last stored change says no_access: a lost deactivation, refused."""
    decision = run([m("active")], WhopAnswer("no_access", NOW - timedelta(seconds=5)))
    assert (decision.allowed, decision.reason) == (False, "whop_no_access")


def test_older_whop_answer_does_not_override_newer_row() -> None:
    """A deactivation stored after Whop's last answer wins over that older customer answer."""
    row = m("expired", source_updated_at=NOW - timedelta(seconds=1))
    decision = run([row], WhopAnswer("customer", NOW - timedelta(seconds=60)))
    assert (decision.allowed, decision.reason) == (False, "expired")


def test_tie_between_row_and_answer_fails_closed() -> None:
    """A row and an answer with the same time: the refusing row wins."""
    row = m("expired", source_updated_at=NOW - timedelta(seconds=30))
    assert not run([row], WhopAnswer("customer", NOW - timedelta(seconds=30))).allowed


def test_newer_whop_customer_overrides_stale_fact_only() -> None:
    """Whop's newer customer answer overrides a stale expired row, never a policy refusal."""
    answer = WhopAnswer("customer", NOW - timedelta(seconds=5))
    assert run([m("expired")], answer).reason == "whop_customer"
    assert run([m("deactivated")], answer).reason == "whop_customer"
    overdue = m("past_due", current_period_end=NOW - timedelta(days=5))
    assert run([overdue], answer).reason == "past_due_expired"
    assert run([m("active", hold="refunded")], answer).reason == "refunded"


# Freshness: (seconds since Whop's last answer, Whop unreachable?) → allowed, reason, revalidate
FRESHNESS = [
    (10, False, True, "active", False),
    (299, False, True, "active", False),
    (300, False, True, "active", True),  # stale: the caller revalidates
    (300, True, True, "active", True),  # Whop down, within grace: last state holds (degraded)
    (899, True, True, "active", True),
    (900, True, False, "stale_whop_unreachable", True),  # grace over: fail closed
    (86400, True, False, "stale_whop_unreachable", True),
]


@pytest.mark.parametrize(("age", "down", "allowed", "reason", "revalidate"), FRESHNESS)
def test_grace_window_with_frozen_clock(
    age: int, down: bool, allowed: bool, reason: str, revalidate: bool
) -> None:
    """TTL triggers revalidation; with Whop down the last state holds for the grace window."""
    answer = WhopAnswer("customer", NOW - timedelta(seconds=age))
    decision = run([m()], answer, unreachable=down)
    assert (decision.allowed, decision.reason, decision.needs_revalidation) == (
        allowed,
        reason,
        revalidate,
    )
    assert decision.degraded == (down and allowed)


def test_never_checked_and_whop_down_is_refused() -> None:
    """With no successful check ever, an unreachable Whop means no access (never fail open)."""
    decision = run([m()], WhopAnswer(), unreachable=True)
    assert (decision.allowed, decision.reason) == (False, "stale_whop_unreachable")


def test_refusal_keeps_its_own_reason_when_whop_is_down() -> None:
    """A state that refuses anyway says why (expired), not "Whop unavailable"."""
    decision = run(
        [m("expired")], WhopAnswer("customer", NOW - timedelta(days=2)), unreachable=True
    )
    assert decision.reason == "expired"


def test_admin_past_grace_is_refused() -> None:
    """The creator role also ends when Whop cannot confirm it past the grace window."""
    decision = run([], WhopAnswer("admin", NOW - timedelta(hours=1)), unreachable=True)
    assert (decision.allowed, decision.reason) == (False, "stale_whop_unreachable")


def test_answer_before_period_end_does_not_revive_a_canceled_period() -> None:
    """Whop's customer answer given before a canceling period ended cannot override its end."""
    end = NOW - timedelta(seconds=30)
    row = m(
        "active",
        cancel_at_period_end=True,
        current_period_end=end,
        source_updated_at=NOW - timedelta(days=3),
    )
    before_end = WhopAnswer("customer", end - timedelta(seconds=60))
    after_end = WhopAnswer("customer", end + timedelta(seconds=10))
    assert run([row], before_end).reason == "expired"
    assert run([row], after_end).reason == "whop_customer"  # renewed since: Whop says so


def test_horizon_is_the_first_future_instant_the_answer_can_change() -> None:
    """TTL and grace after the last check, period ends and past-due grace ends are the only
    instants `decide` compares with; the horizon is the earliest one after now."""
    checked = NOW - timedelta(seconds=10)
    answer = WhopAnswer("customer", checked)
    ends = NOW + timedelta(days=10)
    assert decision_horizon([m(current_period_end=ends)], answer, POLICY, NOW) == (
        checked + POLICY.ttl
    )
    # Past the TTL: the grace end is next.
    later = checked + POLICY.ttl
    assert decision_horizon([m(current_period_end=ends)], answer, POLICY, later) == (
        checked + POLICY.grace
    )
    # Past both: the period end.
    assert (
        decision_horizon([m(current_period_end=ends)], answer, POLICY, NOW + timedelta(hours=1))
        == ends
    )


def test_horizon_counts_the_past_due_grace_from_the_earlier_anchor() -> None:
    """past_due adds its grace end (from the earlier of period end and update); other
    statuses do not."""
    due = NOW - timedelta(days=1)
    updated = NOW - timedelta(hours=1)
    never = WhopAnswer("customer", None)
    past_due = m("past_due", current_period_end=due, source_updated_at=updated)
    assert decision_horizon([past_due], never, POLICY, NOW) == due + POLICY.past_due_grace
    active = m("active", current_period_end=due, source_updated_at=updated)
    assert decision_horizon([active], never, POLICY, NOW) is None


def test_horizon_is_none_when_nothing_lies_ahead() -> None:
    """Never checked, no period end: time alone never changes the answer; a point exactly
    at now is not ahead."""
    never = WhopAnswer("customer", None)
    assert decision_horizon([m(current_period_end=None)], never, POLICY, NOW) is None
    assert decision_horizon([m(current_period_end=NOW)], never, POLICY, NOW) is None
    assert decision_horizon([], never, POLICY, NOW) is None


def test_decisions_ask_for_revalidation_only_when_stale() -> None:
    """A fresh answer never asks Whop again, whatever the outcome."""
    for memberships in ([m("active")], [m("canceled")], []):
        assert run(memberships).needs_revalidation is False


def test_requirement_is_described_for_the_audit_row() -> None:
    """The audit details name the tier, the products in a stable order and creator-only."""
    requirement = Requirement(tier="pro", product_ids=frozenset({"prod_b", "prod_a"}))
    assert requirement.describe() == {
        "tier": "pro",
        "products": ["prod_a", "prod_b"],
        "creator_only": False,
    }
    assert Requirement(creator_only=True).describe() == {
        "tier": None,
        "products": [],
        "creator_only": True,
    }


@pytest.mark.parametrize(
    ("rows", "answer", "requirement", "reason"),
    [
        ([m()], WhopAnswer("admin", NOW - timedelta(seconds=5)), ANY, "creator"),
        ([m()], FRESH, Requirement(creator_only=True), "creator_required"),
        ([m()], WhopAnswer("no_access", NOW - timedelta(seconds=5)), ANY, "whop_no_access"),
        ([m()], FRESH, Requirement(product_ids=frozenset({"prod_x"})), "product_required"),
        ([m()], FRESH, Requirement(tier="vip"), "tier_required"),
        ([m("expired")], WhopAnswer("no_access", NOW - timedelta(seconds=5)), ANY, "expired"),
    ],
)
def test_a_fresh_answer_decides_without_revalidation_allowed_or_not(
    rows: list[MembershipFacts], answer: WhopAnswer, requirement: Requirement, reason: str
) -> None:
    """Within the TTL, every kind of decision (the team, a creator-only refusal, Whop's newer
    no, a product or tier refusal, a plain denial) asks Whop nothing, and only the team is
    allowed."""
    decision = run(rows, answer, requirement)
    assert decision.reason == reason
    assert decision.needs_revalidation is False
    assert decision.allowed is (reason == "creator")


@pytest.mark.parametrize("by", ["product", "plan"])
def test_a_membership_counts_by_its_product_or_by_its_plan(by: str) -> None:
    """An access product, or a route's product requirement, may name the membership's product
    or its plan: either one is enough."""
    row = m(product_id="prod_a", plan_id="plan_a")
    named = frozenset({"prod_a" if by == "product" else "plan_a"})
    granting = AccessPolicy(
        ttl=POLICY.ttl,
        grace=POLICY.grace,
        past_due_grace=POLICY.past_due_grace,
        access_products=named,
    )
    assert run([row], policy=granting).reason == "active"
    assert run([row], requirement=Requirement(product_ids=named)).reason == "active"


@pytest.mark.parametrize(
    ("status", "flag", "end"),
    [
        ("canceling", False, NOW - timedelta(seconds=30)),
        ("active", True, NOW - timedelta(seconds=30)),
        ("active", True, NOW),
    ],
)
def test_an_answer_before_a_canceling_period_ended_cannot_revive_it(
    status: str, flag: bool, end: datetime
) -> None:
    """A canceling membership (by status or by flag) whose period has ended, at that very
    instant too, stays expired against a customer answer given before the end."""
    row = m(
        status,
        cancel_at_period_end=flag,
        current_period_end=end,
        source_updated_at=NOW - timedelta(days=3),
    )
    assert run([row], WhopAnswer("customer", end - timedelta(seconds=60))).reason == "expired"


def test_a_renewing_membership_past_its_period_end_yields_to_whops_newer_no() -> None:
    """An active (not canceling) row whose period end passed without a renewal event: Whop's
    no, given after the row's last update, wins even though it predates the period end."""
    row = m(
        "active",
        current_period_end=NOW - timedelta(seconds=30),
        source_updated_at=NOW - timedelta(days=3),
    )
    answer = WhopAnswer("no_access", NOW - timedelta(seconds=60))
    assert run([row], answer).reason == "whop_no_access"


def test_a_ranked_tier_beats_an_unranked_one_whatever_the_order() -> None:
    """A membership whose tier is in the order beats one whose tier is not, even listed
    after it."""
    policy = AccessPolicy(
        ttl=POLICY.ttl,
        grace=POLICY.grace,
        past_due_grace=POLICY.past_due_grace,
        tiers={"prod_gold": "gold", "prod_odd": "odd"},
        tier_order=("gold",),
    )
    rows = [
        m(membership_id="a", product_id="prod_odd"),
        m(membership_id="b", product_id="prod_gold"),
    ]
    assert run(rows, policy=policy).tier == "gold"
    assert run(list(reversed(rows)), policy=policy).tier == "gold"


def test_at_the_same_tier_the_stronger_reason_names_the_decision() -> None:
    """Two memberships of one tier: the reason earlier in the allow list (active before past-due
    grace) names the decision, in either order."""
    rows = [
        m("past_due", membership_id="a", current_period_end=NOW - timedelta(hours=1)),
        m("active", membership_id="b"),
    ]
    assert run(rows).reason == "active"
    assert run(list(reversed(rows))).reason == "active"


def test_whop_customer_meets_a_requirement_of_the_default_tier() -> None:
    """With no stored row, Whop's newer customer answer grants the default tier, so a route
    requiring that tier admits the user; a higher tier is still refused."""
    assert run([], requirement=Requirement(tier="member")).reason == "whop_customer"
    assert not run([], requirement=Requirement(tier="pro")).allowed


def test_without_being_told_whop_is_unreachable_a_stale_state_only_asks_again() -> None:
    """`decide` called without `whop_unreachable` on a stale allowing state keeps the answer
    and asks for revalidation, never degraded nor refused."""
    stale = WhopAnswer("customer", NOW - timedelta(hours=1))
    decision = decide(
        creator_id=CREATOR,
        memberships=[m()],
        answer=stale,
        requirement=ANY,
        policy=POLICY,
        now=NOW,
    )
    assert (decision.allowed, decision.needs_revalidation, decision.degraded) == (
        True,
        True,
        False,
    )


@pytest.mark.parametrize(
    ("memberships", "answer"),
    [
        ([m()], FRESH),
        ([], WhopAnswer("admin", NOW - timedelta(seconds=10))),
        ([m()], WhopAnswer("customer", NOW - timedelta(days=2))),  # stale: would revalidate
    ],
)
def test_disabled_creator_refuses_everyone_without_asking_whop(
    memberships: list[MembershipFacts], answer: WhopAnswer
) -> None:
    """`creator_enabled=False` refuses members and the team alike, and never revalidates."""
    decision = decide(
        creator_id=CREATOR,
        memberships=memberships,
        answer=answer,
        requirement=ANY,
        policy=POLICY,
        now=NOW,
        creator_enabled=False,
    )
    assert (decision.allowed, decision.reason, decision.needs_revalidation) == (
        False,
        "creator_disabled",
        False,
    )
