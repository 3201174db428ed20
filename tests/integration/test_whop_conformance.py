"""Conformance: deliveries shaped as real Whop sends them, posted to the real route (issue 13).

Our emulator and our app were written together, so this module takes its payloads from
independent evidence instead:

- v1 deliveries are validated by whop-sdk 2.6.0's own webhook payload models
  (`PostMembershipActivatedPayload`, `PostPaymentSucceededPayload`, `PostRefundCreatedPayload`
  whose data is a `RefundLegacy`, `PostDisputeCreatedPayload`, `PostDisputeAlertCreatedPayload`,
  …) and their data by the resource models (`Membership`, `Payment`, `Dispute`, …), so a field
  the SDK requires cannot be missing and a value it forbids cannot slip in;
- legacy v2/v5 deliveries follow Whop's documented examples (`{action, data}` with `valid`,
  `page_id`, `final_amount`, a bare `membership` id);
- every delivery is signed as Whop signs, and `whop_sdk.lib.verify_webhook.unwrap` must accept
  the very headers the route receives.

Each test asserts the effects: access (the member's session), the stored row, the emails and
alerts queued, and the audit rows. Runs on SQLite and PostgreSQL.
"""

from __future__ import annotations

import json
import secrets
from pathlib import Path
from typing import Any

import httpx
import pytest
import time_machine
from pydantic import BaseModel
from sqlalchemy import select
from whop_sdk.dispute_alerts.types.post_dispute_alert_created_payload import (
    PostDisputeAlertCreatedPayload,
)
from whop_sdk.disputes.types.post_dispute_created_payload import PostDisputeCreatedPayload
from whop_sdk.disputes.types.post_dispute_updated_payload import PostDisputeUpdatedPayload
from whop_sdk.lib.verify_webhook import unwrap
from whop_sdk.memberships.types.post_membership_activated_payload import (
    PostMembershipActivatedPayload,
)
from whop_sdk.payments.types.post_payment_succeeded_payload import PostPaymentSucceededPayload
from whop_sdk.refunds.types.post_refund_created_payload import PostRefundCreatedPayload
from whop_sdk.types.dispute import Dispute
from whop_sdk.types.dispute_alert import DisputeAlert
from whop_sdk.types.membership import Membership as SdkMembership
from whop_sdk.types.payment import Payment as SdkPayment
from whop_sdk.types.refund_legacy import RefundLegacy

from mentora.clock import FrozenClock
from mentora.config import Settings
from mentora.db.models import AuditEvent, Membership, OutboxMessage, Payment, WebhookDelivery
from mentora.services import Services
from tests.support.env import TEST_ENV, make_settings
from tests.support.signin import SignIn
from tests.support.timeline import stamp
from tests.support.webhooks import WEBHOOK_PATH, signed_headers

ALERTS = "ops@mentora.test"
MEMBER = "user_demo_member"
MEMBERSHIP = "mem_demo_member"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Refunds revoke access (off by default) and alerts go to an address."""
    return make_settings(
        database_url,
        mail_dir=str(tmp_path / "mail"),
        refund_revokes_access="true",
        creator_alert_email=ALERTS,
    )


# --- payloads from whop-sdk 2.6.0's models ---------------------------------------------------


def _money(amount: str, currency: str = "usd", decimals: int = 2) -> dict[str, Any]:
    return {"amount": amount, "currency": currency, "decimals": decimals, "display_decimals": 0}


def sdk_membership(status: str, *, hours: float) -> dict[str, Any]:
    """The demo membership as whop-sdk's `Membership` model has it, updated at START+hours."""
    return SdkMembership.model_validate(
        {
            "id": MEMBERSHIP,
            "status": status,
            "account": {"id": "biz_demo", "route": "demo-academy", "title": "Demo Academy"},
            "cancel_at_period_end": status == "canceling",
            "created_at": stamp(days=-20),
            "updated_at": stamp(hours=hours),
            "initial_price": _money("29.00"),
            "metadata": {},
            "plan_id": "plan_demo",
            "product": {"id": "prod_demo", "title": "Demo course"},
            "product_id": "prod_demo",
            "user_id": MEMBER,
            "current_period_end": stamp(days=10),
        }
    ).model_dump(mode="json")


def sdk_payment(payment_id: str, total: dict[str, Any], *, currency: str = "usd") -> dict[str, Any]:
    """A paid payment on the demo membership, validated by whop-sdk's `Payment`."""
    zero = _money("0", currency, total["decimals"])
    return SdkPayment.model_validate(
        {
            "id": payment_id,
            "status": "paid",
            "substatus": "succeeded",
            "currency": currency,
            "total": total,
            "amount_after_fees": total,
            "tax_refunded_amount": zero,
            "auto_refunded": False,
            "created_at": stamp(hours=-2),
            "updated_at": stamp(hours=-1),
            "holds": [],
            "line_items": [],
            "payment_rule_matches": [],
            "payments_failed": 0,
            "refundable": True,
            "retryable": False,
            "three_ds_verified": False,
            "voidable": False,
            "account_id": "biz_demo",
            "membership_id": MEMBERSHIP,
            "user": {
                "id": MEMBER,
                "username": "ada",
                "profile_picture": {"url": "https://img.example.test/ada.png"},
            },
            "customer_email": "ada@example.test",
        }
    ).model_dump(mode="json")


def sdk_refund(
    refund_id: str, amount: float, status: str, payment: dict[str, Any]
) -> dict[str, Any]:
    """A refund of `amount` USD as refund webhooks carry it (whop-sdk's `RefundLegacy`)."""
    return RefundLegacy.model_validate(
        {
            "id": refund_id,
            "status": status,
            "amount": amount,
            "currency": "usd",
            "provider": "stripe",
            "created_at": stamp(),
            "payment": {"created_at": stamp(hours=-3), "currency": "usd", **payment},
        }
    ).model_dump(mode="json")


def sdk_dispute(payment_id: str, status: str) -> dict[str, Any]:
    """A v1 dispute about `payment_id`, validated by whop-sdk's `Dispute`."""
    return Dispute.model_validate(
        {
            "id": "dspt_conf",
            "status": status,
            "acceptable": status == "needs_response",
            "amount": 29.0,
            "currency": "usd",
            "buyer": {},
            "evidence": {"documents": []},
            "evidence_editable": status == "needs_response",
            "inquiry": False,
            "issuer_comments": [],
            "line_items": [],
            "payment": {"id": payment_id, "created_at": stamp(hours=-2)},
            "reason": "fraudulent",
            "account_id": "biz_demo",
            "created_at": stamp(),
            "updated_at": stamp(),
        }
    ).model_dump(mode="json")


# whop-sdk 2.6.0's model of each v1 delivery (it has none for `membership.deactivated`).
PAYLOAD_MODELS: dict[str, type[BaseModel]] = {
    "membership.activated": PostMembershipActivatedPayload,
    "payment.succeeded": PostPaymentSucceededPayload,
    "refund.created": PostRefundCreatedPayload,
    "dispute.created": PostDisputeCreatedPayload,
    "dispute.updated": PostDisputeUpdatedPayload,
    "dispute_alert.created": PostDisputeAlertCreatedPayload,
}


def v1(event_type: str, data: dict[str, Any]) -> dict[str, Any]:
    """A v1 envelope, validated by whop-sdk's payload model for the event when it has one."""
    envelope = {
        "id": f"evt_{secrets.token_hex(6)}",
        "api_version": "v1",
        "type": event_type,
        "timestamp": stamp(),
        "company_id": "biz_demo",
        "account_id": "biz_demo",
        "data": data,
    }
    model = PAYLOAD_MODELS.get(event_type)  # underscored spellings: data validated on its own
    if model is not None:
        model.model_validate(envelope)
    return envelope


def legacy_membership(status: str, *, valid: bool) -> dict[str, Any]:
    """A v5 membership as Whop's legacy docs list its fields (unix seconds, `page_id`)."""
    return {
        "id": MEMBERSHIP,
        "product_id": "prod_demo",
        "user_id": MEMBER,
        "plan_id": "plan_demo",
        "page_id": "biz_demo",
        "created_at": 1_700_000_000,
        "expires_at": None,
        "renewal_period_start": None,
        "renewal_period_end": None,
        "quantity": 1,
        "status": status,
        "valid": valid,
        "cancel_at_period_end": False,
        "license_key": None,
        "metadata": {},
        "checkout_id": None,
    }


# --- delivery and observation ---------------------------------------------------------------


async def deliver(
    services: Services, client: httpx.AsyncClient, clock: FrozenClock, payload: Any
) -> str:
    """Sign `payload` as Whop does, check whop-sdk's `unwrap` accepts those exact headers,
    post it to the real route, check the delivery is stored and audited under its
    `webhook-id` with the name it was sent as, and return its status."""
    body = json.dumps(payload, separators=(",", ":")).encode()
    headers = signed_headers(body, at=clock.now())
    # `unwrap` checks the timestamp against the wall clock; read it at the test's time.
    with time_machine.travel(clock.now(), tick=False):
        assert unwrap(body, headers=headers, key=TEST_ENV["WHOP_WEBHOOK_SECRET"]) == payload
    response = await client.post(WEBHOOK_PATH, content=body, headers=headers)
    assert response.status_code == 200, response.text
    status = str(response.json()["status"])
    async with services.sessionmaker() as db:
        stored = (
            await db.execute(
                select(WebhookDelivery).where(WebhookDelivery.webhook_id == headers["webhook-id"])
            )
        ).scalar_one()
    sent_as = payload.get("type") or payload.get("action")
    assert (stored.status, stored.event_type) == (status, sent_as)
    audited = [
        a for a in await audits(services, "webhook_processed") if a.subject == stored.webhook_id
    ]
    assert [(a.details["type"], a.details["status"]) for a in audited] == [(sent_as, status)]
    return status


async def member_in(client: httpx.AsyncClient, emulator: Any, signin: SignIn) -> None:
    """The demo member joins (emulator webhook) and signs in; access is granted."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    await signin.sign_in(MEMBER)
    assert (await client.get("/api/whop/verify")).status_code == 200


async def row(services: Services) -> Membership:
    """The demo membership's stored row."""
    async with services.sessionmaker() as db:
        return (
            await db.execute(select(Membership).where(Membership.whop_membership_id == MEMBERSHIP))
        ).scalar_one()


async def outbox(services: Services) -> list[OutboxMessage]:
    """Every queued email and alert."""
    async with services.sessionmaker() as db:
        return list((await db.execute(select(OutboxMessage).order_by(OutboxMessage.id))).scalars())


async def audits(services: Services, kind: str) -> list[AuditEvent]:
    """Audit rows of one kind, oldest first."""
    async with services.sessionmaker() as db:
        statement = select(AuditEvent).where(AuditEvent.kind == kind).order_by(AuditEvent.id)
        return list((await db.execute(statement)).scalars())


async def assert_revoked(
    services: Services, client: httpx.AsyncClient, *, status: str, event: str
) -> None:
    """Access ended everywhere it shows: session, stored status, email, audit."""
    assert (await client.get("/api/whop/verify")).status_code == 401
    stored = await row(services)
    assert stored.status == status
    assert [m.template for m in await outbox(services)].count("access_ended") == 1
    last = (await audits(services, "membership_changed"))[-1]
    assert last.reason == "revoked"
    assert last.details["after"] == status and last.details["whop_event"] == event
    assert [a.reason for a in await audits(services, "session_revoked")] == ["membership_ended"]


# --- item 1: revocations ----------------------------------------------------------------------


@pytest.mark.parametrize("spelling", ["membership_deactivated", "membership_went_invalid"])
async def test_underscore_deactivation_revokes(
    client: httpx.AsyncClient,
    services: Services,
    emulator: Any,
    signin: SignIn,
    clock: FrozenClock,
    spelling: str,
) -> None:
    """An underscore-spelled deactivation (whop-saas-starter) ends access at once."""
    await member_in(client, emulator, signin)
    clock.advance(60)
    status = await deliver(
        services, client, clock, v1(spelling, sdk_membership("expired", hours=1))
    )
    assert status == "processed"
    await assert_revoked(services, client, status="expired", event="membership.deactivated")


async def test_underscore_names_reach_their_handlers(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """`membership_activated` grants and `payment_succeeded` records and sends a receipt."""
    activated = v1("membership_activated", sdk_membership("active", hours=-1))
    assert await deliver(services, client, clock, activated) == "processed"
    assert (await row(services)).status == "active"
    paid = v1("payment_succeeded", sdk_payment("pay_us", _money("29.00")))
    assert await deliver(services, client, clock, paid) == "processed"
    assert "receipt" in [m.template for m in await outbox(services)]


async def test_legacy_went_invalid_with_completed_status_revokes(
    client: httpx.AsyncClient,
    services: Services,
    emulator: Any,
    signin: SignIn,
    clock: FrozenClock,
) -> None:
    """Whop's legacy example: `went_invalid` with `status: completed` and `valid: false`.

    The deactivation outranks the status: access ends and the row reads `deactivated`.
    """
    await member_in(client, emulator, signin)
    clock.advance(60)
    payload = {
        "action": "membership.went_invalid",
        "data": legacy_membership("completed", valid=False),
        "company": "biz_demo",
    }
    assert await deliver(services, client, clock, payload) == "processed"
    await assert_revoked(services, client, status="deactivated", event="membership.deactivated")


async def test_legacy_valid_false_revokes_whatever_the_event(
    client: httpx.AsyncClient,
    services: Services,
    emulator: Any,
    signin: SignIn,
    clock: FrozenClock,
) -> None:
    """A legacy membership object saying `valid: false` never grants, even on `went_valid`."""
    await member_in(client, emulator, signin)
    clock.advance(60)
    payload = {"action": "membership.went_valid", "data": legacy_membership("active", valid=False)}
    assert await deliver(services, client, clock, payload) == "processed"
    await assert_revoked(services, client, status="deactivated", event="membership.activated")


@pytest.mark.parametrize("whop_status", ["past_due", "completed", "canceling"])
async def test_v1_deactivated_with_granting_status_revokes(
    client: httpx.AsyncClient,
    services: Services,
    emulator: Any,
    signin: SignIn,
    clock: FrozenClock,
    whop_status: str,
) -> None:
    """`membership.deactivated` whose SDK-shaped status still grants is a revocation."""
    await member_in(client, emulator, signin)
    clock.advance(60)
    payload = v1("membership.deactivated", sdk_membership(whop_status, hours=1))
    assert await deliver(services, client, clock, payload) == "processed"
    await assert_revoked(services, client, status="deactivated", event="membership.deactivated")


# --- item 2: disputes -------------------------------------------------------------------------


async def _paid(
    services: Services, client: httpx.AsyncClient, clock: FrozenClock, payment_id: str
) -> None:
    """Record a 29.00 USD payment on the demo membership (v1 disputes name only the payment)."""
    paid = v1("payment.succeeded", sdk_payment(payment_id, _money("29.00")))
    assert await deliver(services, client, clock, paid) == "processed"


@pytest.mark.parametrize(("final", "hold"), [("prevented", "disputed"), ("lost", "disputed")])
async def test_dispute_settled_for_the_customer_keeps_access_held(
    client: httpx.AsyncClient,
    services: Services,
    emulator: Any,
    signin: SignIn,
    clock: FrozenClock,
    final: str,
    hold: str,
) -> None:
    """`prevented` (refunded before a ruling, settles like `lost`) does not lift the hold."""
    await member_in(client, emulator, signin)
    await _paid(services, client, clock, "pay_disp")
    opened = v1("dispute.created", sdk_dispute("pay_disp", "needs_response"))
    assert await deliver(services, client, clock, opened) == "processed"
    assert (await row(services)).access_hold == "disputed"
    assert (await client.get("/api/whop/verify")).status_code == 401
    held = (await audits(services, "membership_changed"))[-1]
    assert (held.reason, held.details["hold"]) == ("revoked", "disputed")
    settled = v1("dispute.updated", sdk_dispute("pay_disp", final))
    assert await deliver(services, client, clock, settled) == "processed"
    assert (await row(services)).access_hold == hold


async def test_dispute_won_lifts_the_hold(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """A dispute holds the membership behind its payment; `won` (funds back to the seller)
    lifts the hold."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    await _paid(services, client, clock, "pay_won")
    opened = v1("dispute.created", sdk_dispute("pay_won", "needs_response"))
    assert await deliver(services, client, clock, opened) == "processed"
    assert (await row(services)).access_hold == "disputed"
    won = v1("dispute.updated", sdk_dispute("pay_won", "won"))
    assert await deliver(services, client, clock, won) == "processed"
    assert (await row(services)).access_hold is None


# --- item 5: money ----------------------------------------------------------------------------


async def test_zero_decimal_currency_amount(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """A 1000 JPY payment (`Money.decimals` 0) is stored as 1000 and the receipt says 1000 JPY."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    payment = sdk_payment("pay_jpy", _money("1000", "jpy", 0), currency="jpy")
    assert await deliver(services, client, clock, v1("payment.succeeded", payment)) == "processed"
    async with services.sessionmaker() as db:
        stored = (await db.execute(select(Payment))).scalar_one()
    assert (stored.amount_cents, stored.currency) == (1000, "jpy")
    receipts = [m for m in await outbox(services) if m.template == "receipt"]
    assert len(receipts) == 1 and "1000 JPY" in receipts[0].body


async def test_v5_payment_fields_are_read(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """A v5 `payment.succeeded` (`final_amount`, `page_id`, bare `membership` id, nested
    `user`) belongs to the creator and its receipt shows the amount."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    payload = {
        "action": "payment.succeeded",
        "data": {
            "id": "pay_v5",
            "membership": MEMBERSHIP,
            "product_id": "prod_demo",
            "user": {"id": MEMBER, "username": "ada", "email": "ada@example.test"},
            "plan_id": "plan_demo",
            "page_id": "biz_demo",
            "created_at": 1_700_000_000,
            "paid_at": 1_700_000_000,
            "status": "paid",
            "subtotal": 2,
            "final_amount": 2,
            "currency": "usd",
            "refunded_amount": 0,
            "payments_failed": 0,
        },
    }
    assert await deliver(services, client, clock, payload) == "processed"
    async with services.sessionmaker() as db:
        stored = (await db.execute(select(Payment))).scalar_one()
    assert stored.creator_id is not None and stored.amount_cents == 200
    assert stored.whop_membership_id == MEMBERSHIP
    receipts = [m for m in await outbox(services) if m.template == "receipt"]
    assert len(receipts) == 1 and "2.00 USD" in receipts[0].body
    assert "Demo Academy" in receipts[0].subject


# --- item 7: refunds and dispute alerts -------------------------------------------------------


@pytest.mark.parametrize(("amount", "hold"), [(10.0, None), (29.0, "refunded")])
async def test_partial_refund_does_not_revoke(
    client: httpx.AsyncClient,
    services: Services,
    emulator: Any,
    clock: FrozenClock,
    amount: float,
    hold: str | None,
) -> None:
    """With REFUND_REVOKES_ACCESS, a refund of 10 of a recorded 29.00 payment keeps access
    and a full one holds it (the refund names only the payment; our row knows the rest)."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    await _paid(services, client, clock, "pay_ref")
    refund = v1("refund.created", sdk_refund("rf_conf", amount, "succeeded", {"id": "pay_ref"}))
    assert await deliver(services, client, clock, refund) == "processed"
    assert (await row(services)).access_hold == hold


async def test_partial_legacy_refund_does_not_revoke(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """A refund whose payment (total, membership) is nested and never recorded here:
    5 of 29 keeps access, unheld, and the delivery says why."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    payment = {
        "id": "pay_legacy_r",
        "total": 29.0,
        "membership": {"id": MEMBERSHIP, "status": "active"},
    }
    refund = sdk_refund("rf_legacy", 5.0, "succeeded", payment)
    assert await deliver(services, client, clock, v1("refund.created", refund)) == "processed"
    assert (await row(services)).access_hold is None
    async with services.sessionmaker() as db:
        stored = (await db.execute(select(WebhookDelivery))).scalars().all()
    assert [d.status for d in stored][-1] == "processed"
    notes = [a.reason for a in await audits(services, "webhook_processed")]
    assert notes[-1] == "partial_refund"


async def test_dispute_alert_alerts_the_creator(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """`dispute_alert.created` queues an alert to the creator naming the payment; access stays."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    await _paid(services, client, clock, "pay_alerted")
    alert = DisputeAlert.model_validate(
        {
            "id": "dspa_conf",
            "type": "dispute_alert",
            "amount": 29.0,
            "currency": "usd",
            "auto_refunded": False,
            "fee_charged": True,
            "payment_id": "pay_alerted",
            "account_id": "biz_demo",
            "created_at": stamp(),
            "reported_at": stamp(hours=-1),
            "updated_at": stamp(),
        }
    ).model_dump(mode="json")
    assert await deliver(services, client, clock, v1("dispute_alert.created", alert)) == "processed"
    alerts = [m for m in await outbox(services) if m.kind == "alert"]
    assert [(m.template, m.recipient) for m in alerts] == [("dispute_alert", ALERTS)]
    assert "pay_alerted" in alerts[0].body and MEMBERSHIP in alerts[0].body
    assert "29.00 USD" in alerts[0].body
    assert "Demo Academy" in alerts[0].subject
    assert (await row(services)).access_hold is None


# --- the emulator's real-shaped deliveries reach the app ----------------------------------------


async def test_emulator_legacy_deactivation_revokes(
    client: httpx.AsyncClient,
    services: Services,
    emulator: Any,
    signin: SignIn,
    clock: FrozenClock,
) -> None:
    """The emulator's legacy `membership.went_invalid` (with `valid: false`) ends access."""
    await member_in(client, emulator, signin)
    clock.advance(60)
    record = emulator.trigger("membership.expired", user_id=MEMBER, legacy=True)
    assert record.payload["action"] == "membership.went_invalid"
    await emulator.flush_webhooks()
    await assert_revoked(services, client, status="expired", event="membership.deactivated")


async def test_emulator_past_due_reaches_the_app(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """A membership going past_due at the emulator is stored past_due (membership.updated)."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    await emulator.flush_webhooks()
    clock.advance(60)
    emulator.set_membership_status(MEMBERSHIP, "past_due")
    await emulator.flush_webhooks()
    assert (await row(services)).status == "past_due"


async def test_emulator_refund_and_dispute_alert_reach_the_app(
    client: httpx.AsyncClient, services: Services, emulator: Any, clock: FrozenClock
) -> None:
    """An emulator partial refund keeps access, a full one holds it; its dispute alert
    alerts the creator."""
    emulator.trigger("membership.activated", user_id=MEMBER)
    emulator.trigger("payment.succeeded", user_id=MEMBER)
    emulator.trigger("refund.created", user_id=MEMBER, amount="10")
    await emulator.flush_webhooks()
    assert (await row(services)).access_hold is None
    emulator.trigger("dispute_alert.created", user_id=MEMBER)
    emulator.trigger("refund.updated", user_id=MEMBER)
    await emulator.flush_webhooks()
    assert (await row(services)).access_hold == "refunded"
    alerts = [m.template for m in await outbox(services) if m.kind == "alert"]
    assert alerts == ["dispute_alert"]
