"""The gate's cache relies on decide() being constant until decision_horizon(): a decision
cached now is the one a fresh evaluation would give at any later moment before the horizon
(tests/access/test_cache.py checks the cache itself against the database)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from mentora.access.policy import (
    AccessPolicy,
    MembershipFacts,
    Requirement,
    WhopAnswer,
    decide,
    decision_horizon,
)

NOW = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
POLICY = AccessPolicy(
    ttl=timedelta(seconds=300), grace=timedelta(seconds=900), past_due_grace=timedelta(days=3)
)
offsets = st.integers(min_value=-10 * 86400, max_value=10 * 86400)
memberships = st.builds(
    MembershipFacts,
    membership_id=st.just("mem_1"),
    status=st.sampled_from(["active", "trialing", "past_due", "canceling", "expired", "completed"]),
    creator_id=st.just(1),
    source_updated_at=offsets.map(lambda s: NOW + timedelta(seconds=s)),
    cancel_at_period_end=st.booleans(),
    current_period_end=st.none() | offsets.map(lambda s: NOW + timedelta(seconds=s)),
)
answers = st.builds(
    WhopAnswer,
    access_level=st.sampled_from(["customer", "admin", "no_access"]),
    checked_at=st.none() | offsets.map(lambda s: NOW + timedelta(seconds=s)),
)


@settings(max_examples=300, deadline=None)
@given(
    rows=st.lists(memberships, max_size=3),
    answer=answers,
    fraction=st.floats(min_value=0, max_value=1, exclude_max=True),
)
def test_decision_is_constant_until_the_horizon(
    rows: list[MembershipFacts], answer: WhopAnswer, fraction: float
) -> None:
    """For the same state, decide() gives the same answer at any time before its horizon."""
    horizon = decision_horizon(rows, answer, POLICY, NOW)
    if horizon is None:
        later = NOW + timedelta(days=365)
    else:  # timedelta arithmetic rounds to microseconds: stay strictly before the horizon
        later = min(NOW + (horizon - NOW) * fraction, horizon - timedelta(microseconds=1))

    def at(moment: datetime) -> Any:
        return decide(
            creator_id=1,
            memberships=rows,
            answer=answer,
            requirement=Requirement(),
            policy=POLICY,
            now=moment,
        )

    assert at(later) == at(NOW)
