"""/metrics counts the gate's decisions by reason (allowed and refused, cached or not)."""

from __future__ import annotations

import httpx

from mentora import metrics
from mentora.services import Services
from tests.pages.helpers import BROWSER, person


def decisions(allowed: str, reason: str) -> float:
    """The current value of mentora_access_decisions_total for one label pair."""
    value = metrics.REGISTRY.get_sample_value(
        "mentora_access_decisions_total", {"allowed": allowed, "reason": reason}
    )
    return value or 0.0


async def test_access_decisions_are_counted_by_reason(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Two dashboard views count two `active` admissions; a creator page counts a refusal;
    the Prometheus text shows both series."""
    member = await person(services, "user_m")
    allowed, refused = decisions("true", "active"), decisions("false", "creator_required")
    for path in ("/dashboard", "/dashboard", "/creator"):
        await client.get(path, headers={**BROWSER, **member.cookie})
    assert decisions("true", "active") == allowed + 2
    assert decisions("false", "creator_required") == refused + 1
    body = (await client.get("/metrics")).text
    assert 'mentora_access_decisions_total{allowed="false",reason="creator_required"}' in body
