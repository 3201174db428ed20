"""Integration: payment events that pause access (holds), with pausing switched on."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs
from tests.conftest import make_settings
from tests.support.signin import SignIn
from tests.support.webhooks import post_event

from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.db.models import Creator, Membership, OutboxMessage, WebhookDelivery
from mentora.services import Services

ALERTS = "ops@mentora.test"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Pausing on failed payment on, alerts to an address."""
    return make_settings(
        database_url,
        mail_dir=str(tmp_path / "mail"),
        payment_failed_pauses_access="true",
        creator_alert_email=ALERTS,
    )


async def _hold(services: Services, membership_id: str) -> str | None:
    async with services.sessionmaker() as db:
        row = (
            await db.execute(
                select(Membership).where(Membership.whop_membership_id == membership_id)
            )
        ).scalar_one()
        return row.access_hold


async def test_failed_payment_pauses_and_alerts_then_success_resumes(
    client: httpx.AsyncClient,
    signin: SignIn,
    services: Services,
    emulator: Any,
    clock: FrozenClock,
) -> None:
    """payment.failed holds access, ends the session and alerts; payment.succeeded lifts it."""
    emulator.trigger("membership.activated", user_id="user_demo_member")
    await emulator.flush_webhooks()
    await signin.sign_in("user_demo_member")
    clock.advance(5)
    with capture_logs() as logs:
        emulator.trigger("payment.failed", user_id="user_demo_member")
        await emulator.flush_webhooks()
    assert await _hold(services, "mem_demo_member") == "payment_failed"
    assert (await client.get("/api/whop/verify")).status_code == 401
    assert any(e["event"] == "alert" and e["template"] == "payment_failed_alert" for e in logs)
    async with services.sessionmaker() as db:
        alerts = list((await db.execute(select(OutboxMessage))).scalars())
    assert [(m.kind, m.recipient, m.template) for m in alerts] == [
        ("alert", ALERTS, "payment_failed_alert")
    ]
    assert "Access paused: yes" in alerts[0].body
    clock.advance(5)
    emulator.trigger("payment.succeeded", user_id="user_demo_member")
    await emulator.flush_webhooks()
    assert await _hold(services, "mem_demo_member") is None


async def test_dispute_holds_until_won(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """dispute.created holds the disputed membership (default on); a won dispute lifts it."""
    emulator.trigger("membership.activated", user_id="user_demo_member")
    await emulator.flush_webhooks()
    payment = {"id": "pay_d1", "membership": {"id": "mem_demo_member"}}
    opened = await post_event(
        client,
        "dispute.created",
        {"id": "dspt_1", "status": "needs_response", "payment": payment},
        at=clock.now(),
    )
    assert opened.json()["status"] == "processed"
    assert await _hold(services, "mem_demo_member") == "disputed"
    won = await post_event(
        client,
        "dispute.updated",
        {"id": "dspt_1", "status": "won", "payment": payment},
        at=clock.now(),
    )
    assert won.status_code == 200
    assert await _hold(services, "mem_demo_member") is None


async def test_hold_for_a_membership_not_stored_yet_is_retried_not_skipped(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A dispute about a membership we have no row for fails (kept for retry), not dropped."""
    response = await post_event(
        client,
        "dispute.created",
        {
            "id": "dspt_2",
            "status": "needs_response",
            "payment": {"id": "pay_x", "membership": {"id": "mem_unknown"}},
        },
        at=clock.now(),
    )
    assert response.json()["status"] == "failed"
    async with services.sessionmaker() as db:
        row = (await db.execute(select(WebhookDelivery))).scalar_one()
    assert row.last_error is not None and "MembershipNotStored" in row.last_error


async def test_failed_payment_alert_goes_to_the_creators_own_address(
    client: httpx.AsyncClient, services: Services, emulator: Any
) -> None:
    """A creator with its own alert address gets the alert there, not at CREATOR_ALERT_EMAIL."""
    async with services.sessionmaker() as db:
        creator = (
            await db.execute(select(Creator).where(Creator.whop_company_id == "biz_demo"))
        ).scalar_one()
        creator.alert_email = "team@demo-academy.test"
        await db.commit()
    emulator.trigger("membership.activated", user_id="user_demo_member")
    emulator.trigger("payment.failed", user_id="user_demo_member")
    await emulator.flush_webhooks()
    async with services.sessionmaker() as db:
        alerts = list(
            (await db.execute(select(OutboxMessage).where(OutboxMessage.kind == "alert"))).scalars()
        )
    assert [(m.recipient, m.template) for m in alerts] == [
        ("team@demo-academy.test", "payment_failed_alert")
    ]
