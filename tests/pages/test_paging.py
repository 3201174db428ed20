"""Search, filters and paging on the creator pages: right rows, and bad input is a 400."""

from __future__ import annotations

import re

import httpx
import pytest

from mentora.services import Services
from tests.pages.helpers import BROWSER, Person, audit_event, delivery, person

BAD = [
    "/creator/students?page=0",
    "/creator/students?page=abc",
    "/creator/students?page=100001",
    "/creator/students?per_page=5",
    "/creator/students?per_page=1000",
    "/creator/students?status=bogus",
    "/creator/students?q=" + "x" * 129,
    "/creator/students?q=%00",
    "/creator/students?q=a%0Ab",
    "/creator/deliveries?status=bogus",
    "/creator/deliveries?before=0",
    "/creator/deliveries?before=abc",
    "/creator/deliveries?before=99999999999999999999999",
    "/creator/deliveries?before=424242",
    "/creator/deliveries?q=msg.with.dots",
    "/creator/deliveries?q=has%20space",
    "/creator/deliveries?type=a%0Ab",
    "/creator/deliveries?type=Membership%20Activated",
    "/creator/audit?since=yesterday",
    "/creator/audit?since=2026-13-45",
    "/creator/audit?kind=DROP%20TABLE",
    "/creator/audit?user=%3Cscript%3E",
    "/creator/audit?outcome=maybe",
    "/creator/audit?before=-5",
    "/creator?notice=" + "x" * 300,
]


async def _team(services: Services) -> Person:
    return await person(services, "user_team", level="admin", status=None, joined_ago=10**6)


@pytest.mark.parametrize("url", BAD)
async def test_bad_paging_and_filter_parameters_are_a_400_page(
    client: httpx.AsyncClient, services: Services, url: str
) -> None:
    """Malformed, out-of-range or unknown parameters: 400 with the generic page, never a 500."""
    team = await _team(services)
    response = await client.get(url, headers={**BROWSER, **team.cookie})
    assert response.status_code == 400, (url, response.text[:300])
    assert "The request was not valid." in response.text
    assert "Traceback" not in response.text


async def test_students_search_status_filter_and_pages(
    client: httpx.AsyncClient, services: Services
) -> None:
    """60 students: numbered pages of 25, search by email, filter by computed status."""
    team = await _team(services)
    for n in range(60):
        status = ["active", "expired", "active", None][n % 4]
        await person(
            services,
            f"user_{n:02d}",
            name=f"Student {n:02d}",
            email=f"s{n:02d}@school.test",
            status=status,
            cancel_at_period_end=n == 2,
            session=False,
            joined_ago=60 - n,  # user_59 joined last: first on page 1
        )

    async def rows(url: str) -> tuple[list[str], str]:
        """The user ids listed on a page, and the page."""
        page = await client.get(url, headers={**BROWSER, **team.cookie})
        assert page.status_code == 200, page.text[:300]
        return re.findall(r'<tr data-user="(user_\d\d)"', page.text), page.text

    first, text = await rows("/creator/students?per_page=25")
    assert first == [f"user_{n:02d}" for n in range(59, 34, -1)]
    assert "Showing 1–25 of 61 students" in text and "Page 1 of 3" in text
    assert 'rel="next" href="/creator/students?per_page=25&amp;page=2"' in text
    last, text = await rows("/creator/students?per_page=25&page=3")
    assert last == [f"user_{n:02d}" for n in range(9, -1, -1)]
    clamped, text = await rows("/creator/students?per_page=25&page=99")
    assert clamped == last and "Page 3 of 3" in text
    found, _ = await rows("/creator/students?q=S17%40SCHOOL")
    assert found == ["user_17"]
    by_name, _ = await rows("/creator/students?q=sTUDENT%2017")
    assert by_name == ["user_17"]  # case ignored on SQLite (LIKE) and PostgreSQL (ILIKE) alike
    expired, text = await rows("/creator/students?status=expired&per_page=100")
    assert len(expired) == 15 and all(int(u[-2:]) % 4 == 1 for u in expired)
    canceling, _ = await rows("/creator/students?status=canceling")
    assert canceling == ["user_02"]
    none, _ = await rows("/creator/students?status=none&per_page=100")
    assert len(none) == 15  # plus user_team, who has no membership either (not user_NN)
    team_only = await client.get("/creator/students?status=team", headers=team.cookie)
    assert team_only.text.count("<tr data-user=") == 1
    wildcard, _ = await rows("/creator/students?q=%25")
    assert wildcard == []  # a literal %, not a LIKE wildcard


async def test_deliveries_keyset_pages_cover_every_row_once(
    client: httpx.AsyncClient, services: Services
) -> None:
    """120 deliveries, many received at the same instant: following "Older" links visits each
    exactly once, newest first; a status filter pages the same way."""
    team = await _team(services)
    for n in range(120):
        await delivery(
            services,
            f"msg_{n:03d}",
            status="failed" if n % 3 == 0 else "processed",
            received_ago=(120 - n) // 10,  # ties in groups of ten
        )
    seen: list[str] = []
    url: str | None = "/creator/deliveries"
    while url:
        page = await client.get(url, headers={**BROWSER, **team.cookie})
        assert page.status_code == 200
        seen += re.findall(r'<tr data-webhook="(msg_\d+)"', page.text)
        older = re.search(r'rel="next" href="([^"]+)"', page.text)
        url = older.group(1).replace("&amp;", "&") if older else None
    assert len(seen) == 120 and len(set(seen)) == 120
    assert seen[:3] == ["msg_119", "msg_118", "msg_117"] and seen[-1] == "msg_000"
    failed = await client.get("/creator/deliveries?status=failed", headers=team.cookie)
    assert failed.text.count("<tr data-webhook=") == 40
    assert 'aria-current="true">failed<span class="count">40' in failed.text
    prefix = await client.get("/creator/deliveries?q=msg_11", headers=team.cookie)
    assert re.findall(r'<tr data-webhook="(msg_\d+)"', prefix.text) == [
        f"msg_{n}" for n in range(119, 109, -1)
    ]


async def test_audit_filters_by_kind_user_outcome_and_since(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Each filter narrows the creator's audit trail as its name says."""
    team = await _team(services)
    await audit_event(services, "authz_fail", creator=team.creator_id, subject="user_a", ago=7200)
    await audit_event(services, "authn_login_success", creator=team.creator_id, subject="user_a")
    await audit_event(services, "authn_login_success", creator=team.creator_id, subject="user_b")

    async def kinds(query: str) -> list[tuple[str, str]]:
        """(kind, subject) of each row the filtered page lists."""
        page = await client.get("/creator/audit" + query, headers=team.cookie)
        assert page.status_code == 200
        return re.findall(r'<tr data-kind="([a-z_]+)"[^>]* data-subject="([^"]*)"', page.text)

    assert await kinds("?user=user_a") == [
        ("authn_login_success", "user_a"),
        ("authz_fail", "user_a"),
    ]
    assert await kinds("?kind=authz_fail") == [("authz_fail", "user_a")]
    assert await kinds("?outcome=failure") == [("authz_fail", "user_a")]
    assert [k for k, _ in await kinds("?since=1h")] == ["authn_login_success"] * 2
