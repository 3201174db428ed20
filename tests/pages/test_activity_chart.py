"""The overview's activity chart: pure bar geometry, and the per-day counts behind it."""

from __future__ import annotations

import re
from datetime import date, timedelta

import httpx

from mentora.services import Services
from mentora.web.views.activity import BAR_BOTTOM, BAR_TOP, WIDTH, panel
from tests.pages.helpers import BROWSER, audit_event, delivery, person
from tests.support.timeline import START

DAYS = [date(2026, 11, 14) + timedelta(days=n) for n in range(14)]


def test_bars_scale_to_the_busiest_day_and_zero_days_keep_a_hairline() -> None:
    """The peak fills the height, half the peak half of it; zero days are 1 px; all in view."""
    values = [0] * 12 + [5, 10]
    chart = panel("signins", "Sign-ins", DAYS, values)
    span = BAR_BOTTOM - BAR_TOP
    assert [b.height for b in chart.bars[-2:]] == [span / 2, span]
    assert {b.height for b in chart.bars[:12]} == {1.0}
    assert all(0 <= b.x and b.x + b.width <= WIDTH for b in chart.bars)
    assert all(abs(b.y + b.height - BAR_BOTTOM) < 0.11 for b in chart.bars)
    assert chart.bars[-1].title == "27 Nov: 10 sign-ins"
    assert (chart.total, chart.peak) == (15, 10)
    assert chart.ticks[-1][1] == "27 Nov" and len(chart.ticks) == 7
    assert chart.summary == "Sign-ins: 15 in 14 days, at most 10 a day"


def test_an_empty_series_draws_hairlines_only() -> None:
    """No events at all: no division by zero, every bar a hairline."""
    chart = panel("denials", "Denials", DAYS, [0] * 14)
    assert {b.height for b in chart.bars} == {1.0} and chart.peak == 0


async def test_overview_counts_each_series_per_utc_day(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Sign-ins, deliveries and denials land on their own day; other creators' do not count."""
    team = await person(services, "user_team", level="admin", status=None)
    day = 86400
    for ago in (0, 0, 2 * day):
        await audit_event(
            services, "authn_login_success", creator=team.creator_id, subject="u", ago=ago
        )
    await audit_event(services, "authz_fail", creator=team.creator_id, subject="u", ago=day)
    await audit_event(services, "authz_fail", creator=None, subject="u")
    await audit_event(services, "authz_fail", creator=team.creator_id, subject="u", ago=20 * day)
    for n in range(3):
        await delivery(services, f"msg_{n}", received_ago=n * day)
    await delivery(services, "msg_other", company_id="biz_other")
    page = await client.get("/creator", headers={**BROWSER, **team.cookie})
    assert page.status_code == 200
    rows = re.findall(
        r'<tr><th scope="row">([^<]+)</th><td class="num">(\d+)</td><td class="num">(\d+)</td>'
        r'<td class="num">(\d+)</td></tr>',
        page.text,
    )
    assert len(rows) == 14
    labels = [f"{d.day} {d:%b}" for d in (START - timedelta(days=n) for n in (2, 1, 0))]
    assert rows[-3:] == [
        (labels[0], "1", "1", "0"),
        (labels[1], "0", "1", "1"),
        (labels[2], "2", "1", "0"),
    ]
    assert "Sign-ins: 3 in 14 days, at most 2 a day" in page.text
