"""Bad input gets a clear 4xx and costs no unbounded work: a signed webhook nested deeper than
the interpreter's stack, junk `x-whop-user-token` headers in embedded mode."""

from __future__ import annotations

from typing import Any

import httpx
import pytest
from sqlalchemy import func, select

from mentora import metrics
from mentora.clock import FrozenClock
from mentora.db.models import WebhookDelivery
from mentora.services import Services
from tests.hardening.helpers import audit_rows
from tests.support.webhooks import WEBHOOK_PATH, signed_headers

DEPTH = 100_000  # far past CPython's recursion limit, well under WEBHOOK_MAX_BODY_BYTES


async def test_deeply_nested_signed_webhook_is_a_400(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A correctly signed body nested 100,000 deep is refused as a bad payload (400), not a
    500, and nothing is stored."""
    body = b'{"type":"membership.activated","data":{"x":' + b"[" * DEPTH + b"]" * DEPTH + b"}}"
    response = await client.post(
        WEBHOOK_PATH, content=body, headers=signed_headers(body, at=clock.now())
    )
    assert response.status_code == 400, response.text
    assert response.json()["error"]["code"] == "webhook_payload_invalid"
    async with services.sessionmaker() as db:
        stored = (await db.execute(select(func.count()).select_from(WebhookDelivery))).scalar()
    assert stored == 0


@pytest.mark.parametrize(
    "overrides", [{"embedded_mode": "true", "ratelimit_invalid_session_audit": "3/minute"}]
)
async def test_junk_user_tokens_are_audited_within_the_per_client_budget(
    client: httpx.AsyncClient, services: Services, overrides: dict[str, Any]
) -> None:
    """Ten junk `x-whop-user-token` requests are each refused (401), but only the budget's
    three write an audit row; the rest are counted as skipped."""
    before = _skipped()
    for number in range(10):
        response = await client.get(
            "/api/embed/content", headers={"x-whop-user-token": f"junk.{number}.token"}
        )
        assert response.status_code == 401, response.text
    assert len(await audit_rows(services, "authn_login_fail")) == 3
    assert _skipped() - before == 7


def _skipped() -> float:
    """Audit rows of junk-credential failures skipped past the budget, so far."""
    name = "mentora_audit_events_skipped_total"
    return metrics.REGISTRY.get_sample_value(name, {"kind": "authn_login_fail"}) or 0.0
