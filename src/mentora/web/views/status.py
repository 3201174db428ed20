"""Membership status as people read it: one label, one tone, and the filter key (pure).

The creator's students page filters on `status_key()` computed in SQL (students.py) and shows
`describe()` computed here; both read the same fields, so a filter and its badge agree.
"""

from __future__ import annotations

from dataclasses import dataclass

# Statuses that still run to the end of a paid period when the cancel flag is set.
RUNNING = ("active", "trialing")


@dataclass(frozen=True)
class StatusLabel:
    """How one membership state is shown: filter key, words and badge tone (ok/warn/bad)."""

    key: str
    label: str
    tone: str


LABELS: dict[str, StatusLabel] = {
    "active": StatusLabel("active", "Active", "ok"),
    "trialing": StatusLabel("trialing", "Trial", "ok"),
    "canceling": StatusLabel("canceling", "Cancels at period end", "warn"),
    "past_due": StatusLabel("past_due", "Payment overdue", "warn"),
    "completed": StatusLabel("completed", "Completed", "ok"),
    "expired": StatusLabel("expired", "Expired", "bad"),
    "canceled": StatusLabel("canceled", "Canceled", "bad"),
    "unresolved": StatusLabel("unresolved", "Unresolved", "bad"),
    "drafted": StatusLabel("drafted", "Not started", "muted"),
    "missing": StatusLabel("missing", "Gone from Whop", "bad"),
    "deactivated": StatusLabel("deactivated", "Deactivated by Whop", "bad"),
    "none": StatusLabel("none", "No membership", "muted"),
}
HOLD_LABELS: dict[str, str] = {
    "payment_failed": "Paused: payment failed",
    "refunded": "Paused: refunded",
    "disputed": "Paused: disputed",
}
# What the students page offers in its status filter, in this order.
FILTER_KEYS: tuple[str, ...] = (
    "active",
    "trialing",
    "canceling",
    "past_due",
    "completed",
    "expired",
    "canceled",
    "unresolved",
    "drafted",
    "missing",
    "deactivated",
    "none",
    "team",
)


def status_key(status: str | None, cancel_at_period_end: bool) -> str:
    """The filter key of a membership: its Whop status, `canceling` when set to end, or none."""
    if status is None:
        return "none"
    if cancel_at_period_end and status in RUNNING:
        return "canceling"
    return status


def describe(status: str | None, cancel_at_period_end: bool, hold: str | None) -> StatusLabel:
    """The label for a membership (a local hold wins: it is why access is paused)."""
    key = status_key(status, cancel_at_period_end)
    if hold is not None:
        return StatusLabel(key, HOLD_LABELS.get(hold, "Paused"), "bad")
    return LABELS.get(key, StatusLabel(key, key.replace("_", " ").capitalize(), "muted"))


def filter_label(key: str) -> str:
    """The words for a filter key (the team is not a membership status)."""
    if key == "team":
        return "Creator team"
    return LABELS[key].label if key in LABELS else key
