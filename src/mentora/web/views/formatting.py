"""Dates for people: absolute in UTC, and relative to an injected `now` (pure)."""

from __future__ import annotations

from datetime import datetime

from mentora.clock import as_utc


def day(value: datetime | None) -> str:
    """`27 Dec 2026`, or an empty string."""
    if value is None:
        return ""
    return as_utc(value).strftime("%-d %b %Y")


def moment(value: datetime | None) -> str:
    """`2026-11-27 12:00 UTC`, or an empty string."""
    if value is None:
        return ""
    return as_utc(value).strftime("%Y-%m-%d %H:%M UTC")


def iso(value: datetime | None) -> str:
    """Machine-readable time for `<time datetime=...>`."""
    if value is None:
        return ""
    return as_utc(value).isoformat().replace("+00:00", "Z")


def ago(value: datetime | None, now: datetime) -> str:
    """`just now`, `5 min ago`, `3 h ago`, `12 days ago`, `in 4 days`; `never` for None."""
    if value is None:
        return "never"
    seconds = (as_utc(now) - as_utc(value)).total_seconds()
    future = seconds < 0
    seconds = abs(seconds)
    if seconds < 60:
        return "just now"
    if seconds < 3600:
        text = f"{int(seconds // 60)} min"
    elif seconds < 86400:
        text = f"{int(seconds // 3600)} h"
    else:
        days = int(seconds // 86400)
        text = f"{days} day" + ("" if days == 1 else "s")
    return f"in {text}" if future else f"{text} ago"
