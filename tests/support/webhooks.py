"""Build and post signed Whop-style webhook deliveries in tests.

Signing uses the `standardwebhooks` reference library (given base64 of the secret, as Whop's
SDKs are), never our own verifier's code, so the two sides cannot share a bug.
"""

from __future__ import annotations

import base64
import json
import secrets
from datetime import datetime
from typing import Any

import httpx
from standardwebhooks import Webhook

from tests.support.env import TEST_ENV
from tests.support.timeline import stamp

WEBHOOK_PATH = "/api/whop/webhooks"


def signed_headers(
    body: bytes, *, at: datetime, msg_id: str | None = None, secret: str | None = None
) -> dict[str, str]:
    """Standard Webhooks headers for `body`, signed with the test secret."""
    key = base64.b64encode((secret or TEST_ENV["WHOP_WEBHOOK_SECRET"]).encode()).decode()
    msg_id = msg_id or f"msg_{secrets.token_hex(8)}"
    return {
        "content-type": "application/json",
        "webhook-id": msg_id,
        "webhook-timestamp": str(int(at.timestamp())),
        "webhook-signature": Webhook(key).sign(msg_id, at, body.decode()),
    }


def membership_data(
    membership_id: str,
    status: str,
    *,
    updated_at: str,
    user_id: str = "user_demo_member",
    company_id: str = "biz_demo",
    product_id: str = "prod_demo",
) -> dict[str, Any]:
    """A v1 (2026 shape) membership object with just the fields Mentora reads."""
    return {
        "id": membership_id,
        "status": status,
        "updated_at": updated_at,
        "created_at": stamp(days=-26, hours=-12),
        "user_id": user_id,
        "product_id": product_id,
        "plan_id": "plan_demo",
        "account": {"id": company_id, "title": company_id},
        "cancel_at_period_end": False,
        "current_period_end": stamp(days=29, hours=12),
    }


def event_body(event_type: str, data: dict[str, Any], *, company_id: str = "biz_demo") -> bytes:
    """A v1 envelope as Whop sends it."""
    return json.dumps(
        {
            "id": f"evt_{secrets.token_hex(6)}",
            "api_version": "v1",
            "type": event_type,
            "timestamp": stamp(),
            "company_id": company_id,
            "data": data,
        },
        separators=(",", ":"),
    ).encode()


async def post_event(
    client: httpx.AsyncClient,
    event_type: str,
    data: dict[str, Any],
    *,
    at: datetime,
    msg_id: str | None = None,
    company_id: str = "biz_demo",
) -> httpx.Response:
    """Sign and POST one event to the app's webhook route."""
    body = event_body(event_type, data, company_id=company_id)
    return await client.post(
        WEBHOOK_PATH, content=body, headers=signed_headers(body, at=at, msg_id=msg_id)
    )
