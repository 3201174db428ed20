"""Unit tests of the membership ordering rule (W13), backoff growth (W18) and email rendering."""

from __future__ import annotations

import itertools
import random
from datetime import UTC, datetime, timedelta

import pytest

from mentora.backoff import retry_delay
from mentora.memberships.policy import gives_access, supersedes
from mentora.outbox.templates import render

T1 = datetime(2026, 11, 27, 12, 0, tzinfo=UTC)
T2 = T1 + timedelta(seconds=1)


@pytest.mark.parametrize(
    ("status", "hold", "expected"),
    [
        ("active", None, True),
        ("trialing", None, True),
        ("past_due", None, True),
        ("canceling", None, True),
        ("completed", None, True),
        ("canceled", None, False),
        ("expired", None, False),
        ("missing", None, False),
        ("active", "disputed", False),
    ],
)
def test_grants(status: str, hold: str | None, expected: bool) -> None:
    """Granting statuses grant unless a local hold is set."""
    assert gives_access(status, hold) is expected


def test_w13_older_update_never_wins() -> None:
    """An activation older than the stored deactivation is not applied; a newer one is."""
    assert not supersedes(
        stored_at=T2, stored_status="expired", incoming_at=T1, incoming_status="active"
    )
    assert supersedes(
        stored_at=T1, stored_status="active", incoming_at=T2, incoming_status="expired"
    )


def test_w13_ties_fail_closed() -> None:
    """On equal timestamps only a change that removes access replaces the stored state."""
    assert supersedes(
        stored_at=T1, stored_status="active", incoming_at=T1, incoming_status="canceled"
    )
    assert not supersedes(
        stored_at=T1, stored_status="canceled", incoming_at=T1, incoming_status="active"
    )
    assert not supersedes(
        stored_at=T1, stored_status="active", incoming_at=T1, incoming_status="active"
    )


def test_w18_backoff_never_shrinks_and_is_capped() -> None:
    """Delays grow with each attempt below the cap (despite jitter) and never exceed it."""
    rng = random.Random(7)
    growing = [retry_delay(n, base_seconds=30, cap_seconds=10**6, rng=rng) for n in range(1, 12)]
    assert all(a <= b for a, b in itertools.pairwise(growing))
    assert growing[0] >= timedelta(seconds=15)
    capped = [retry_delay(n, base_seconds=30, cap_seconds=600, rng=rng) for n in range(1, 30)]
    assert max(capped) <= timedelta(seconds=600)
    assert min(capped[6:]) >= timedelta(seconds=300)


def test_templates_keep_values_on_one_line() -> None:
    """A newline in a payload value cannot add a header or a paragraph."""
    subject, body = render(
        "welcome", {"creator": "Academy\r\nBcc: x@evil.test", "name": "Ann\n\nP.S.", "app_url": "u"}
    )
    assert "\n" not in subject and "\r" not in subject
    assert "Ann P.S." in body


def test_templates_fill_missing_values_with_blanks() -> None:
    """A template rendered without some context still renders (blanks, not a crash)."""
    subject, body = render("access_ended", {})
    assert subject == "Your  membership has ended"
    assert "renew" in body
