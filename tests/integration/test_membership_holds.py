"""Integration: payment events that pause access (holds), with pausing switched on."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.db.models import Creator, Membership, OutboxMessage, WebhookDelivery
from mentora.services import Services
from tests.hardening.helpers import audit_rows, run_cli
from tests.support.env import make_settings
from tests.support.signin import SignIn
from tests.support.webhooks import post_event

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


async def test_creators_set_alert_email_routes_the_creators_alerts_there(
    app: Any, services: Services, emulator: Any, database_url: str, clock: FrozenClock
) -> None:
    """`mentora creators set biz_demo --alert-email` (audited) sends that creator's failed-
    payment and dispute alerts to its own address; junk and unknown companies are one-line
    errors; an empty value goes back to CREATOR_ALERT_EMAIL."""
    done = await run_cli(
        clock, database_url, "creators", "set", "biz_demo", "--alert-email", "team@demo.test"
    )
    assert done.exit_code == 0, done.output
    assert "  alerts to: team@demo.test" in done.stdout.splitlines()
    (event,) = await audit_rows(services, "sensitive_update")
    assert (event.actor, event.subject, event.reason, event.details) == (
        "cli:alice",
        "biz_demo",
        "creator_updated",
        {"alert_email": "team@demo.test"},
    )
    emulator.trigger("membership.activated", user_id="user_demo_member")
    emulator.trigger("payment.succeeded", user_id="user_demo_member")
    emulator.trigger("payment.failed", user_id="user_demo_member")
    emulator.trigger("dispute_alert.created", user_id="user_demo_member")
    await emulator.flush_webhooks()
    async with services.sessionmaker() as db:
        alerts = await db.execute(select(OutboxMessage).where(OutboxMessage.kind == "alert"))
        sent = sorted((m.template, m.recipient) for m in alerts.scalars())
    assert sent == [
        ("dispute_alert", "team@demo.test"),
        ("payment_failed_alert", "team@demo.test"),
    ]

    junk = await run_cli(
        clock, database_url, "creators", "set", "biz_demo", "--alert-email", "a@b.test\r\nBcc: x"
    )
    assert junk.exit_code == 2 and "not an email address" in junk.stderr
    unknown = await run_cli(
        clock, database_url, "creators", "set", "biz_nope", "--alert-email", "x@y.test"
    )
    assert unknown.exit_code == 1 and "no creator for company biz_nope" in unknown.stderr
    reset = await run_cli(
        clock, database_url, "creators", "set", "biz_demo", "--alert-email", "", "--json"
    )
    assert json.loads(reset.stdout)["alerts_to"] is None
