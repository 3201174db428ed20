"""Whop answering a shape off whop-sdk's strict models (issue 13, item 3).

The emulator's fault with status 200 answers the v1 error body with a 200, which no SDK model
accepts, so whop-sdk raises its `ParsingError` exactly as it would for a real Whop answer it
does not understand. Every call must turn that into `WhopBadResponse`, and the request path
must treat it like Whop being unavailable: refuse with a clear 503, never a 500.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import httpx
import pytest

from mentora.services import Services
from mentora.whop.client import WhopClient
from mentora.whop.errors import WhopBadResponse
from tests.access.helpers import seed, use_session

CALLS: dict[str, tuple[str, Callable[[WhopClient], Awaitable[Any]]]] = {
    "check_access": ("/api/v1/users/", lambda w: w.check_access("user_demo_member", "biz_demo")),
    "retrieve_membership": (
        "/api/v1/memberships",
        lambda w: w.retrieve_membership("mem_demo_member"),
    ),
    "list_memberships": (
        "/api/v1/memberships",
        lambda w: w.list_memberships(company_id="biz_demo"),
    ),
}


@pytest.mark.parametrize("name", sorted(CALLS))
async def test_off_model_answer_is_a_bad_response(
    services: Services, emulator: Any, name: str
) -> None:
    """Each WhopClient call raises WhopBadResponse (not ParsingError) for an off-model 200."""
    prefix, call = CALLS[name]
    emulator.add_fault(prefix, status=200)
    with pytest.raises(WhopBadResponse):
        await call(services.whop)


async def test_off_model_answer_refuses_a_request_cleanly(
    services: Services, client: httpx.AsyncClient, emulator: Any
) -> None:
    """A student Whop never confirmed gets the 'Whop unreachable' 503 while Whop's answers
    do not parse, the same as during an outage."""
    student = await seed(
        services, "user_demo_member", level=None, memberships=[{"status": "active"}]
    )
    use_session(client, student)
    emulator.add_fault("/api/v1/users/", status=200)
    response = await client.get("/api/content")
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "stale_whop_unreachable"
    page = await client.get("/content")
    assert page.status_code == 503
    assert "Whop unavailable" in page.text
