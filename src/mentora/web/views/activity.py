"""Sign-ins, webhook deliveries and denials per day, drawn as server-side SVG bars.

The counts come from three grouped queries over indexed ranges (audit events by creator and
time, deliveries by company and time). The chart is plain geometry computed here and drawn
by the template with SVG attributes only: no script, and no inline style (the CSP forbids
both), the colours come from app.css classes.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy import func, select

from mentora.clock import as_utc
from mentora.db.models import AuditEvent, Creator, WebhookDelivery
from mentora.services import Services

DAYS = 14
# Counting two weeks of a busy creator's deliveries reads ~100,000 index entries: the chart is
# reused for this long, per creator and process.
CACHE_SECONDS = 30.0
MAX_CACHED = 256
WIDTH = 700
BAR_TOP = 6
BAR_BOTTOM = 64
LABEL_Y = 80
HEIGHT = 86


@dataclass(frozen=True)
class Bar:
    """One day's bar: position, size and its tooltip."""

    x: float
    y: float
    width: float
    height: float
    title: str


@dataclass(frozen=True)
class Panel:
    """One series over the days: its bars, day labels, total and peak."""

    key: str
    label: str
    values: list[int]
    bars: list[Bar]
    ticks: list[tuple[float, str]]
    total: int
    peak: int

    @property
    def summary(self) -> str:
        """A sentence for screen readers (the SVG's accessible name)."""
        return f"{self.label}: {self.total} in {len(self.values)} days, at most {self.peak} a day"


def _short(day: date) -> str:
    return day.strftime("%-d %b")


def panel(key: str, label: str, days: list[date], values: list[int]) -> Panel:
    """The geometry of one series (pure): bars scaled to the busiest day."""
    peak = max(values, default=0)
    slot = WIDTH / max(1, len(days))
    bar_width = slot * 0.7
    span = BAR_BOTTOM - BAR_TOP
    bars = []
    for index, (day, value) in enumerate(zip(days, values, strict=True)):
        # A zero day still gets a hairline, so the time axis reads evenly.
        height = max(1.0, span * value / peak) if peak else 1.0
        bars.append(
            Bar(
                x=round(index * slot + (slot - bar_width) / 2, 1),
                y=round(BAR_BOTTOM - height, 1),
                width=round(bar_width, 1),
                height=round(height, 1),
                title=f"{_short(day)}: {value} {label.lower()}",
            )
        )
    step = 2 if len(days) > 8 else 1
    ticks = [
        (round(index * slot + slot / 2, 1), _short(day))
        for index, day in enumerate(days)
        if (len(days) - 1 - index) % step == 0
    ]
    return Panel(key, label, values, bars, ticks, sum(values), peak)


def day_of(column: Any, dialect: str) -> Any:
    """SQL: the UTC calendar day of a timestamp as 'YYYY-MM-DD' (SQLite stores naive UTC)."""
    if dialect == "postgresql":
        return func.to_char(func.timezone("UTC", column), "YYYY-MM-DD")
    return func.date(column)


async def activity(
    services: Services,
    creator: Creator,
    *,
    cache: dict[Any, tuple[float, Any]],
    days: int = DAYS,
) -> list[Panel]:
    """The last `days` days of sign-ins, deliveries and denials (cached in `cache` for
    CACHE_SECONDS: the app's `AppState.activity`)."""
    today = as_utc(services.clock.now()).date()
    key = (creator.id, today, days)
    hit = cache.get(key)
    # A monotonic clock bounds how stale the chart may be; it is not business time.
    if hit is not None and hit[0] > time.monotonic():
        panels: list[Panel] = hit[1]
        return panels
    panels = await _count(services, creator, today, days)
    if len(cache) > MAX_CACHED:
        cache.clear()
    cache[key] = (time.monotonic() + CACHE_SECONDS, panels)
    return panels


async def _count(services: Services, creator: Creator, today: date, days: int) -> list[Panel]:
    span = [today - timedelta(days=offset) for offset in range(days - 1, -1, -1)]
    start = datetime(span[0].year, span[0].month, span[0].day, tzinfo=UTC)
    dialect = services.engine.dialect.name
    event_day = day_of(AuditEvent.at, dialect)
    delivery_day = day_of(WebhookDelivery.received_at, dialect)
    async with services.sessionmaker() as db:
        events = await db.execute(
            select(AuditEvent.kind, event_day, func.count())
            .where(
                AuditEvent.creator_id == creator.id,
                AuditEvent.at >= start,
                AuditEvent.kind.in_(("authn_login_success", "authz_fail")),
            )
            .group_by(AuditEvent.kind, event_day)
        )
        by_kind: dict[str, dict[str, int]] = {"authn_login_success": {}, "authz_fail": {}}
        for kind, day, count in events.all():
            by_kind[kind][str(day)] = count
        deliveries = await db.execute(
            select(delivery_day, func.count())
            .where(
                WebhookDelivery.company_id == creator.whop_company_id,
                WebhookDelivery.received_at >= start,
            )
            .group_by(delivery_day)
        )
        per_day = {str(day): count for day, count in deliveries.all()}

    def values(counts: dict[str, int]) -> list[int]:
        """One count per day of the span, zero where nothing happened."""
        return [counts.get(day.isoformat(), 0) for day in span]

    return [
        panel("signins", "Sign-ins", span, values(by_kind["authn_login_success"])),
        panel("deliveries", "Webhook deliveries", span, values(per_day)),
        panel("denials", "Denials", span, values(by_kind["authz_fail"])),
    ]
