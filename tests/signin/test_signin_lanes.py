"""The sign-in's two requests are served past the framework (web/hotpaths.py) for GET only:
every other method still meets the route's 405 and starts nothing."""

from __future__ import annotations

import httpx
import pytest
from sqlalchemy import func, select

from mentora.db.models import AuditEvent, LoginAttempt
from mentora.services import Services

NAVIGATE = {"sec-fetch-mode": "navigate", "sec-fetch-site": "none"}


async def _count(services: Services, model: type[LoginAttempt] | type[AuditEvent]) -> int:
    async with services.sessionmaker() as db:
        return int((await db.execute(select(func.count()).select_from(model))).scalar_one())


@pytest.mark.parametrize("method", ["HEAD", "POST", "PUT"])
@pytest.mark.parametrize("path", ["/api/whop/auth", "/api/whop/callback?code=c&state=s"])
async def test_other_methods_are_refused_and_start_nothing(
    client: httpx.AsyncClient, services: Services, method: str, path: str
) -> None:
    """HEAD, POST and PUT on the sign-in paths answer 405 and store no login attempt and no
    audit row: only GET is a lane, and the routes allow GET alone."""
    response = await client.request(method, path, headers=NAVIGATE)
    assert response.status_code == 405
    assert await _count(services, LoginAttempt) == 0
    assert await _count(services, AuditEvent) == 0


async def test_the_lane_reads_the_return_path(
    client: httpx.AsyncClient, services: Services
) -> None:
    """GET /api/whop/auth?next=… stores a login attempt that returns to that path."""
    response = await client.get("/api/whop/auth?next=/c/demo-academy", headers=NAVIGATE)
    assert response.status_code == 302
    async with services.sessionmaker() as db:
        stored = (await db.execute(select(LoginAttempt.return_to))).scalars().all()
    assert stored == ["/c/demo-academy"]
