"""Integration: the webhook route on SQLite and PostgreSQL, fed by the emulator and by hand.

Covers storage before acknowledgement (W10), duplicates (W11), ordering (W13), status codes
(W14), unknown types (W09) and the membership state each delivery leaves behind.
"""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import create_async_engine
from structlog.testing import capture_logs

from mentora.clock import FrozenClock
from mentora.db.engine import is_sqlite, make_sessionmaker
from mentora.db.models import AuditEvent, Membership, OutboxMessage, WebhookDelivery
from mentora.services import Services
from tests.support.timeline import stamp
from tests.support.webhooks import (
    WEBHOOK_PATH,
    event_body,
    membership_data,
    post_event,
    signed_headers,
)


async def count(services: Services, model: Any, *where: Any) -> int:
    """Rows of `model` matching `where`."""
    async with services.sessionmaker() as db:
        statement = select(func.count()).select_from(model)
        for clause in where:
            statement = statement.where(clause)
        return int((await db.execute(statement)).scalar_one())


async def membership(services: Services, membership_id: str) -> Membership | None:
    """The local row for a Whop membership id."""
    async with services.sessionmaker() as db:
        result = await db.execute(
            select(Membership).where(Membership.whop_membership_id == membership_id)
        )
        return result.scalar_one_or_none()


async def test_emulator_events_update_local_state(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """Activation then deactivation sent by the emulator leave the membership expired."""
    emulator.trigger("membership.activated", user_id="user_demo_member")
    await emulator.flush_webhooks()
    row = await membership(services, "mem_demo_member")
    assert row is not None and row.status == "active" and row.creator_id is not None
    clock.advance(5)
    emulator.set_membership_status("mem_demo_member", "expired")
    await emulator.flush_webhooks()
    row = await membership(services, "mem_demo_member")
    assert row is not None and row.status == "expired"
    assert all(record.outcome == "delivered" for record in emulator.state.webhooks)
    assert await count(services, WebhookDelivery, WebhookDelivery.status == "processed") == 2
    assert await count(services, AuditEvent, AuditEvent.kind == "membership_changed") == 2


async def test_w09_unknown_type_is_acknowledged_and_ignored(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A signed `future.event` gets 200, is stored as ignored, and changes nothing."""
    response = await post_event(client, "future.event", {"id": "x_1"}, at=clock.now())
    assert response.status_code == 200
    assert response.json() == {"received": True, "status": "ignored"}
    assert await count(services, WebhookDelivery, WebhookDelivery.status == "ignored") == 1
    assert await count(services, Membership) == 0


def _broken_sessionmaker(database_url: str) -> Any:
    """A sessionmaker whose database cannot be reached (same backend as the test's)."""
    url = (
        "sqlite+aiosqlite:////proc/no-such-dir/mentora.db"
        if is_sqlite(database_url)
        else "postgresql+psycopg://postgres@127.0.0.1:1/mentora?connect_timeout=2"
    )
    return make_sessionmaker(create_async_engine(url))


async def test_w10_database_down_gives_503_then_retry_stores_once(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """With the database unreachable the answer is 503 (never 2xx); Whop's retry then lands."""
    data = membership_data("mem_w10", "active", updated_at=stamp(hours=-1))
    body = event_body("membership.activated", data)
    working = services.sessionmaker
    services.sessionmaker = _broken_sessionmaker(services.settings.database_url)
    try:
        down = await client.post(
            WEBHOOK_PATH, content=body, headers=signed_headers(body, at=clock.now(), msg_id="m10")
        )
    finally:
        services.sessionmaker = working
    assert down.status_code == 503
    assert down.headers["retry-after"] == "10"
    assert down.json()["error"]["code"] == "webhook_store_unavailable"
    clock.advance(10)  # Whop re-signs the same id and body with a fresh timestamp
    up = await client.post(
        WEBHOOK_PATH, content=body, headers=signed_headers(body, at=clock.now(), msg_id="m10")
    )
    assert up.status_code == 200
    assert await count(services, WebhookDelivery) == 1
    row = await membership(services, "mem_w10")
    assert row is not None and row.status == "active"


async def test_w11_concurrent_duplicates_one_effect(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """50 identical signed deliveries at once: all 2xx, one row, one effect, one audit."""
    data = membership_data("mem_w11", "active", updated_at=stamp(hours=-1))
    body = event_body("membership.activated", data)
    headers = signed_headers(body, at=clock.now(), msg_id="msg_w11")
    responses = await asyncio.gather(
        *(client.post(WEBHOOK_PATH, content=body, headers=headers) for _ in range(50))
    )
    assert [r.status_code for r in responses] == [200] * 50
    statuses = sorted(r.json()["status"] for r in responses)
    assert statuses == ["duplicate"] * 49 + ["processed"]
    assert await count(services, WebhookDelivery) == 1
    assert await count(services, Membership) == 1
    assert await count(services, AuditEvent, AuditEvent.kind == "membership_changed") == 1
    assert await count(services, AuditEvent, AuditEvent.kind == "webhook_processed") == 1


@pytest.mark.parametrize("order", ["in_order", "reversed"])
async def test_w13_out_of_order_delivery_is_harmless(
    order: str, client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Deactivation (t=2) and activation (t=1) in either order end inactive."""
    activated = membership_data("mem_w13", "active", updated_at=stamp(seconds=-3599))
    deactivated = membership_data("mem_w13", "expired", updated_at=stamp(seconds=-3598))
    events = [("membership.activated", activated), ("membership.deactivated", deactivated)]
    if order == "reversed":
        events.reverse()
    for event_type, data in events:
        response = await post_event(client, event_type, data, at=clock.now())
        assert response.status_code == 200
    row = await membership(services, "mem_w13")
    assert row is not None and row.status == "expired"
    stale = await count(services, AuditEvent, AuditEvent.reason == "stale")
    assert stale == (1 if order == "reversed" else 0)


async def test_w14_status_codes(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Each condition gets its documented code, with a generic message and no redirect."""
    now = clock.now()
    body = event_body("future.event", {})
    good = signed_headers(body, at=now)
    cases: list[tuple[str, httpx.Response, int]] = [
        ("trailing slash", await client.post(WEBHOOK_PATH + "/", content=body, headers=good), 200),
        (
            "no signature",
            await client.post(
                WEBHOOK_PATH, content=body, headers={"content-type": "application/json"}
            ),
            401,
        ),
        (
            "junk signature",
            await client.post(
                WEBHOOK_PATH,
                content=body,
                headers={**signed_headers(body, at=now), "webhook-signature": "garbage"},
            ),
            401,
        ),
        (
            "not json",
            await client.post(
                WEBHOOK_PATH, content=b"nope", headers=signed_headers(b"nope", at=now)
            ),
            400,
        ),
        (
            "wrong media",
            await client.post(
                WEBHOOK_PATH,
                content=body,
                headers={**signed_headers(body, at=now), "content-type": "text/plain"},
            ),
            415,
        ),
        (
            "too large",
            await client.post(
                WEBHOOK_PATH, content=b"x" * 300_000, headers={"content-type": "application/json"}
            ),
            413,
        ),
        ("wrong method", await client.get(WEBHOOK_PATH), 405),
    ]
    for name, response, expected in cases:
        assert response.status_code == expected, name
    rejected = cases[2][1].json()["error"]
    assert rejected == {
        "code": "webhook_signature_invalid",
        "message": "The webhook signature could not be verified.",
        "request_id": rejected["request_id"],
    }
    reasons = await _audit_reasons(services, "webhook_rejected")
    assert reasons == sorted(
        [
            "missing_headers",
            "no_matching_signature",
            "not_json",
            "not_json_content_type",
            "too_large",
        ]
    )


async def test_repeated_signature_headers_first_one_counts(
    client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """A header sent twice is read as its first value, as Starlette's lookup read it before
    the route became a bare ASGI endpoint: a junk first signature is refused even when a good
    one follows, and a good first one is accepted whatever follows it."""
    body = event_body("future.event", {})
    good = signed_headers(body, at=clock.now())
    rest = [(name, value) for name, value in good.items() if name != "webhook-signature"]
    signature = good["webhook-signature"]
    junk_first = [*rest, ("webhook-signature", "v1,junk"), ("webhook-signature", signature)]
    good_first = [*rest, ("webhook-signature", signature), ("webhook-signature", "v1,junk")]
    refused = await client.post(WEBHOOK_PATH, content=body, headers=junk_first)
    accepted = await client.post(WEBHOOK_PATH, content=body, headers=good_first)
    assert (refused.status_code, accepted.status_code) == (401, 200)
    assert accepted.json() == {"received": True, "status": "ignored"}


async def _audit_reasons(services: Services, kind: str) -> list[str]:
    async with services.sessionmaker() as db:
        rows = await db.execute(select(AuditEvent.reason).where(AuditEvent.kind == kind))
        return sorted(str(r) for r in rows.scalars())


async def test_unknown_company_is_stored_flagged_and_grants_nothing(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A membership of a company we do not serve is kept, flagged, with no creator."""
    data = membership_data(
        "mem_other", "active", updated_at=stamp(hours=-1), company_id="biz_other"
    )
    response = await post_event(
        client, "membership.activated", data, at=clock.now(), company_id="biz_other"
    )
    assert response.json()["status"] == "flagged"
    row = await membership(services, "mem_other")
    assert row is not None and row.flagged and row.creator_id is None


async def test_unusable_payload_is_stored_failed_and_acknowledged(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A signed event the handler cannot use is kept for retry (2xx), not lost with a 4xx."""
    response = await post_event(client, "membership.activated", {"id": "mem_x"}, at=clock.now())
    assert response.status_code == 200
    assert response.json()["status"] == "failed"
    async with services.sessionmaker() as db:
        row = (await db.execute(select(WebhookDelivery))).scalar_one()
    assert row.attempts == 1
    assert row.next_attempt_at is not None and row.next_attempt_at > clock.now()
    assert row.last_error is not None and "no status" in row.last_error
    assert await count(services, Membership) == 0
    assert "webhook-signature" not in row.headers


async def test_payment_succeeded_queues_one_receipt(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock, emulator: Any
) -> None:
    """An emulator `payment.succeeded` records the payment and queues one receipt email."""
    record = emulator.trigger("payment.succeeded", user_id="user_demo_member")
    await emulator.flush_webhooks()
    payment_id = record.payload["data"]["id"]
    async with services.sessionmaker() as db:
        message = (await db.execute(select(OutboxMessage))).scalar_one()
    assert message.template == "receipt"
    assert message.dedupe_key == f"receipt:{payment_id}"
    price = emulator.state.products["prod_demo"].price
    assert payment_id in message.body and f"{price} USD" in message.body
    # Whop's retry of the same event under a new webhook-id must not send a second receipt.
    retry = await client.post(
        WEBHOOK_PATH,
        content=record.body.encode(),
        headers=signed_headers(record.body.encode(), at=clock.now()),
    )
    assert retry.status_code == 200
    assert await count(services, OutboxMessage) == 1


async def test_l02_no_secret_or_signature_in_logs_or_audit(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Neither the webhook secret nor a presented signature reaches a log line or audit row."""
    body = event_body("future.event", {})
    headers = signed_headers(body, at=clock.now())
    signature = headers["webhook-signature"].split(",", 1)[1]
    with capture_logs() as logs:
        await client.post(WEBHOOK_PATH, content=body, headers=headers)
        forged = {**headers, "webhook-id": "msg_forged"}
        assert (await client.post(WEBHOOK_PATH, content=body, headers=forged)).status_code == 401
    async with services.sessionmaker() as db:
        audit = [
            (e.kind, e.reason, e.details) for e in (await db.execute(select(AuditEvent))).scalars()
        ]
        stored = [d.headers for d in (await db.execute(select(WebhookDelivery))).scalars()]
    everything = repr(logs) + repr(audit) + repr(stored)
    assert services.settings.webhook_secrets[0] not in everything
    assert signature not in everything
    metrics = (await client.get("/metrics")).text
    assert (
        'mentora_webhook_deliveries_total{event_type="future.event",outcome="ignored"}' in metrics
    )


async def test_renewal_payment_queues_a_renewal_email_not_the_first_receipt(
    app: Any, services: Services, emulator: Any
) -> None:
    """The membership's second paid payment (Whop's billing_reason `subscription_cycle`)
    queues the renewal email; the first one had queued the purchase receipt."""
    first = emulator.trigger("payment.succeeded", user_id="user_demo_member")
    second = emulator.trigger("payment.succeeded", user_id="user_demo_member")
    await emulator.flush_webhooks()
    assert first.payload["data"]["billing_reason"] == "subscription_create"
    assert second.payload["data"]["billing_reason"] == "subscription_cycle"
    async with services.sessionmaker() as db:
        messages = {
            row.dedupe_key: row for row in (await db.execute(select(OutboxMessage))).scalars()
        }
    bought = messages[f"receipt:{first.payload['data']['id']}"]
    renewed = messages[f"receipt:{second.payload['data']['id']}"]
    assert bought.template == "receipt" and bought.subject.startswith("Payment received")
    assert renewed.template == "renewal_receipt"
    assert renewed.subject == "Your Demo Academy membership has renewed"
    assert "has renewed" in renewed.body and second.payload["data"]["id"] in renewed.body
