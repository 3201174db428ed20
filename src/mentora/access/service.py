"""`Gate.decide_for()`: the access decision for a signed-in (or embedded) user, I/O at the edge.

Steady state costs one indexed query (the user's memberships at the request's creator) on
top of the session lookup, and no call to Whop. Only when Whop's last answer is older than
ACCESS_TTL_SECONDS does a request revalidate (single-flight, see revalidate.py).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta
from typing import Protocol

from sqlalchemy import select

from mentora.access.cache import GateCache
from mentora.access.policy import (
    AccessPolicy,
    Decision,
    MembershipFacts,
    Requirement,
    WhopAnswer,
    decide,
)
from mentora.access.revalidate import Revalidator
from mentora.db.models import Creator, Membership, Product, Student, User
from mentora.foundation import Foundation
from mentora.sessions.store import SessionPolicy

# Products and tiers change rarely; each process re-reads them this often (seconds).
POLICY_CACHE_SECONDS = 30.0
ANY = Requirement()


class Subject(Protocol):
    """Anything naming a user at a creator: the session `Principal` or an embedded identity."""

    @property
    def user(self) -> User:
        """The user."""
        ...

    @property
    def creator(self) -> Creator:
        """The creator whose content is asked for."""
        ...

    @property
    def student(self) -> Student | None:
        """The user's student row at that creator, if any."""
        ...


@dataclass
class _CachedPolicy:
    policy: AccessPolicy
    expires: float


class PolicyCache:
    """Each creator's access policy (settings plus its products and tiers), re-read every
    POLICY_CACHE_SECONDS: products and tiers change rarely, and every process reads them."""

    def __init__(self, base: Foundation) -> None:
        """Read through `base`'s database, with its settings."""
        self.base = base
        self._entries: dict[int, _CachedPolicy] = {}

    async def get(self, creator_id: int) -> AccessPolicy:
        """The access policy of one creator (cached)."""
        cached = self._entries.get(creator_id)
        # A monotonic clock bounds how stale the product list may be; it is not business time.
        if cached is not None and cached.expires > time.monotonic():
            return cached.policy
        async with self.base.sessionmaker() as db:
            rows = (
                await db.execute(
                    select(Product.whop_product_id, Product.tier).where(
                        Product.creator_id == creator_id
                    )
                )
            ).all()
        settings = self.base.settings
        tiers = dict(settings.whop_tiers)
        tiers.update({product_id: tier for product_id, tier in rows})
        policy = AccessPolicy(
            ttl=timedelta(seconds=settings.access_ttl_seconds),
            grace=timedelta(seconds=settings.access_grace_seconds),
            past_due_grace=timedelta(days=settings.past_due_grace_days),
            tiers=tiers,
            access_products=frozenset(product_id for product_id, _ in rows),
            tier_order=tuple(settings.access_tier_order),
        )
        self._entries[creator_id] = _CachedPolicy(policy, time.monotonic() + POLICY_CACHE_SECONDS)
        return policy


async def load_memberships(
    base: Foundation, whop_user_id: str, creator_id: int
) -> list[MembershipFacts]:
    """The stored memberships of a user at one creator (index ix_membership_user_creator)."""
    stmt = select(
        Membership.whop_membership_id,
        Membership.status,
        Membership.creator_id,
        Membership.source_updated_at,
        Membership.whop_product_id,
        Membership.whop_plan_id,
        Membership.cancel_at_period_end,
        Membership.current_period_end,
        Membership.flagged,
        Membership.access_hold,
    ).where(Membership.whop_user_id == whop_user_id, Membership.creator_id == creator_id)
    async with base.sessionmaker() as db:
        rows = (await db.execute(stmt)).all()
    return [
        MembershipFacts(
            membership_id=row[0],
            status=row[1],
            creator_id=row[2],
            source_updated_at=row[3],
            product_id=row[4],
            plan_id=row[5],
            cancel_at_period_end=bool(row[6]),
            current_period_end=row[7],
            flagged=bool(row[8]),
            hold=row[9],
        )
        for row in rows
    ]


def facts_of(row: Membership) -> MembershipFacts:
    """A stored membership row as the plain values the policy reads."""
    return MembershipFacts(
        membership_id=row.whop_membership_id,
        status=row.status,
        creator_id=row.creator_id,
        source_updated_at=row.source_updated_at,
        product_id=row.whop_product_id,
        plan_id=row.whop_plan_id,
        cancel_at_period_end=bool(row.cancel_at_period_end),
        current_period_end=row.current_period_end,
        flagged=bool(row.flagged),
        hold=row.access_hold,
    )


def answer_of(student: Student | None) -> WhopAnswer:
    """Whop's last answer as stored on the student row (none yet: never checked)."""
    if student is None:
        return WhopAnswer()
    return WhopAnswer(access_level=student.access_level, checked_at=student.access_checked_at)


@dataclass(frozen=True)
class Evaluation:
    """A decision with the inputs it was made from (the gate's cache keeps them)."""

    decision: Decision
    memberships: list[MembershipFacts]
    answer: WhopAnswer
    policy: AccessPolicy
    revalidated: bool


class Gate:
    """The access decision for a signed-in (or embedded) user, with its caches and revalidator.

    One per app: the policy cache, the single-flight revalidator (locks, breaker) and the
    SQLite gate cache are shared by every request the app serves.
    """

    def __init__(
        self,
        base: Foundation,
        *,
        policies: PolicyCache,
        revalidator: Revalidator,
        cache: GateCache | None,
        sessions: SessionPolicy,
    ) -> None:
        """Bind the parts; `sessions` are the timeouts the gate cache decides with."""
        self.base = base
        self.policies = policies
        self.revalidator = revalidator
        self.cache = cache
        self.sessions = sessions

    async def evaluate(
        self, principal: Subject, requirement: Requirement = ANY, *, resources: Iterable[str] = ()
    ) -> Evaluation:
        """`decide_for`, returning the inputs as well.

        `resources` are what revalidation asks Whop about instead of the creator's access
        products (or its company): the experience (`exp_...`) for a request served inside it.
        """
        user, creator = principal.user, principal.creator
        policy = await self.policies.get(creator.id)
        memberships = await load_memberships(self.base, user.whop_user_id, creator.id)
        answer = answer_of(principal.student)
        decision = decide(
            creator_id=creator.id,
            memberships=memberships,
            answer=answer,
            requirement=requirement,
            policy=policy,
            now=self.base.clock.now(),
            creator_enabled=creator.enabled,
        )
        if not decision.needs_revalidation:
            return Evaluation(decision, memberships, answer, policy, revalidated=False)
        outcome = await self.revalidator.revalidate(
            user_id=user.id,
            whop_user_id=user.whop_user_id,
            creator_id=creator.id,
            company_id=creator.whop_company_id,
            products=tuple(resources) or policy.access_products,
        )
        student = principal.student
        if student is not None and not outcome.unreachable:
            # Keep the request's view (role, templates) in line with what was just stored.
            student.access_level = outcome.answer.access_level
            student.access_checked_at = outcome.answer.checked_at
        decision = decide(
            creator_id=creator.id,
            memberships=memberships,
            answer=outcome.answer,
            requirement=requirement,
            policy=policy,
            now=self.base.clock.now(),
            whop_unreachable=outcome.unreachable,
            creator_enabled=creator.enabled,
        )
        return Evaluation(decision, memberships, outcome.answer, policy, revalidated=True)

    async def decide_for(self, principal: Subject, requirement: Requirement = ANY) -> Decision:
        """Decide whether `principal` may reach its creator's content now; revalidate if stale.

        Pure reads in steady state. When Whop's last answer is older than the TTL, asks Whop
        once (single-flight across requests and processes) and decides again with the new
        answer, or with `whop_unreachable` when Whop could not answer. Writes no audit event:
        callers that refuse record `authz_fail`.
        """
        return (await self.evaluate(principal, requirement)).decision
