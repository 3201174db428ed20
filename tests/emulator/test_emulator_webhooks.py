"""Webhook delivery: Standard Webhooks signatures, retries, and which event each change emits."""

from __future__ import annotations

import asyncio
import base64

import httpx
from standardwebhooks import Webhook
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

from mentora.emulator import DEMO, Emulator, EmulatorConfig
from tests.emulator.helpers import Receiver, StepClock

ADMIN = "/_emulator/admin"


async def test_status_change_sends_a_signed_v1_webhook(
    whop: httpx.AsyncClient, emu: Emulator, receiver: Receiver, emu_config: EmulatorConfig
) -> None:
    """Deactivation → membership.deactivated, signed with the raw ws_ secret as HMAC key."""
    response = await whop.post(
        f"{ADMIN}/memberships/{DEMO.member_membership_id}/status", json={"status": "expired"}
    )
    assert response.status_code == 200, response.text
    assert [w["type"] for w in response.json()["webhooks_sent"]] == ["membership.deactivated"]
    await emu.flush_webhooks()
    [delivery] = receiver.received
    assert delivery.headers["content-type"] == "application/json"
    assert delivery.headers["webhook-id"].startswith("msg_")
    assert delivery.headers["webhook-signature"].startswith("v1,")
    key = base64.b64encode(emu_config.webhook_secret.encode()).decode()
    payload = Webhook(key).verify(delivery.body, delivery.headers)
    assert unwrap(delivery.body.decode(), headers=delivery.headers, key=emu_config.webhook_secret)
    assert payload["id"] == delivery.headers["webhook-id"]
    assert payload["api_version"] == "v1"
    assert payload["type"] == "membership.deactivated"
    assert payload["company_id"] == DEMO.company_id
    assert payload["data"]["id"] == DEMO.member_membership_id
    assert payload["data"]["status"] == "expired"
    rest = await whop.get(
        f"/api/v1/memberships/{DEMO.member_membership_id}",
        headers={"Authorization": "Bearer demo-api-key"},
    )
    assert payload["data"] == rest.json()


async def test_membership_payload_parses_with_the_sdk_model(
    whop: httpx.AsyncClient, emu: Emulator, receiver: Receiver
) -> None:
    """Activation's body fits whop-sdk's PostMembershipActivatedPayload."""
    emu.set_membership_status(DEMO.member_membership_id, "canceled")
    sent = emu.set_membership_status(DEMO.member_membership_id, "active")
    assert [r.type for r in sent] == ["membership.activated"]
    await emu.flush_webhooks()
    parsed = PostMembershipActivatedPayload.model_validate_json(receiver.received[-1].body)
    assert parsed.type == "membership.activated"
    assert parsed.data.status == "active"
    assert parsed.account_id == DEMO.company_id


async def test_each_change_emits_the_matching_event(whop: httpx.AsyncClient, emu: Emulator) -> None:
    """Valid→invalid, invalid→valid, flag flips, and no-ops map to the right events."""

    async def change(body: dict[str, object]) -> list[str]:
        """POST a status change and return the event types it sent."""
        url = f"{ADMIN}/memberships/{DEMO.member_membership_id}/status"
        response = await whop.post(url, json=body)
        assert response.status_code == 200, response.text
        return [w["type"] for w in response.json()["webhooks_sent"]]

    assert await change({"cancel_at_period_end": True}) == [
        "membership.cancel_at_period_end_changed"
    ]
    assert await change({"status": "active"}) == []  # already active: nothing to say
    assert await change({"status": "past_due"}) == ["membership.updated"]  # valid, but news
    assert await change({"status": "canceled", "cancel_at_period_end": False}) == [
        "membership.deactivated",
        "membership.cancel_at_period_end_changed",
    ]
    assert await change({"status": "trialing"}) == ["membership.activated"]
    bad = await whop.post(
        f"{ADMIN}/memberships/{DEMO.member_membership_id}/status", json={"status": "paused"}
    )
    assert bad.status_code == 400


async def test_retries_until_success_and_records_every_attempt(
    whop: httpx.AsyncClient, emu: Emulator, receiver: Receiver
) -> None:
    """A receiver failing twice then succeeding sees 3 attempts with the same id and body."""
    receiver.statuses = [500, 503]
    record = emu.trigger("payment.succeeded", user_id=DEMO.member_user_id)
    await emu.flush_webhooks()
    assert [a.status_code for a in record.attempts] == [500, 503, 200]
    assert record.outcome == "delivered"
    assert {r.headers["webhook-id"] for r in receiver.received} == {record.id}
    assert {r.body for r in receiver.received} == {record.body.encode()}
    log = (await whop.get(f"{ADMIN}/webhooks")).json()["data"]
    assert log[-1]["webhook_id"] == record.id
    assert [a["status_code"] for a in log[-1]["attempts"]] == [500, 503, 200]
    assert log[-1]["outcome"] == "delivered"


async def test_gives_up_after_the_retry_schedule(emu: Emulator, receiver: Receiver) -> None:
    """Initial attempt + one per retry delay, then `failed`."""
    receiver.statuses = [500, 500, 500, 500, 500]
    record = emu.trigger("membership.deactivated", user_id=DEMO.member_user_id)
    await emu.flush_webhooks()
    assert len(record.attempts) == 4
    assert record.outcome == "failed"


async def test_transport_errors_count_as_failed_attempts(emu_clock: StepClock) -> None:
    """An unreachable receiver is retried and recorded with the error."""

    def refuse(request: httpx.Request) -> httpx.Response:
        """Simulate a refused connection."""
        raise httpx.ConnectError("refused", request=request)

    client = httpx.AsyncClient(transport=httpx.MockTransport(refuse))
    config = EmulatorConfig(webhook_url="http://down.test/hook", retry_delays=(0.0,))
    emu = Emulator(config, webhook_client=client, clock=emu_clock.now)
    record = emu.trigger("payment.failed", user_id=DEMO.member_user_id)
    await emu.flush_webhooks()
    assert [a.status_code for a in record.attempts] == [None, None]
    assert record.attempts[0].error and "refused" in record.attempts[0].error
    assert record.outcome == "failed"
    await client.aclose()


async def test_retries_wait_out_whops_schedule_through_the_emulators_sleep(
    emu_clock: StepClock,
) -> None:
    """A receiver that keeps failing is retried after each delay of the schedule in turn
    (Whop's 10/20/40 s), asked of the emulator's sleep rather than waited for."""
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    client = httpx.AsyncClient(transport=httpx.MockTransport(lambda _: httpx.Response(503)))
    config = EmulatorConfig(webhook_url="http://down.test/hook", retry_delays=(10.0, 20.0, 40.0))
    emu = Emulator(config, webhook_client=client, clock=emu_clock.now, sleep=sleep)
    record = emu.trigger("payment.failed", user_id=DEMO.member_user_id)
    await emu.flush_webhooks()
    assert waits == [10.0, 20.0, 40.0]
    assert [a.status_code for a in record.attempts] == [503] * 4
    assert record.outcome == "failed"
    await emu.aclose()
    await client.aclose()


async def test_trigger_payment_events_carry_a_payment(
    whop: httpx.AsyncClient, emu: Emulator, receiver: Receiver
) -> None:
    """`payment.succeeded` carries a Payment that whop-sdk's payload model accepts."""
    response = await whop.post(
        f"{ADMIN}/trigger", json={"type": "payment.succeeded", "user_id": DEMO.member_user_id}
    )
    assert response.status_code == 200, response.text
    await emu.flush_webhooks()
    parsed = PostPaymentSucceededPayload.model_validate_json(receiver.received[-1].body)
    payment = parsed.data
    assert payment.id.startswith("pay_") and payment.status == "paid"
    assert payment.membership_id == DEMO.member_membership_id
    assert payment.user is not None and payment.user.id == DEMO.member_user_id
    assert payment.total is not None and payment.total.amount == "29.00"
    assert payment.paid_at is not None
    raw = response.json()["body"]["data"]
    assert raw["membership"]["id"] == DEMO.member_membership_id
    unknown = await whop.post(f"{ADMIN}/trigger", json={"type": "nope", "user_id": "x"})
    assert unknown.status_code == 400


async def test_trigger_activated_for_a_guest_creates_a_membership(
    whop: httpx.AsyncClient, emu: Emulator
) -> None:
    """Like `stripe trigger`, the state agrees with the event it sends."""
    response = await whop.post(
        f"{ADMIN}/trigger", json={"type": "membership.activated", "user_id": DEMO.guest_user_id}
    )
    data = response.json()["body"]["data"]
    assert data["user_id"] == DEMO.guest_user_id and data["status"] == "active"
    assert emu.state.access_level(DEMO.guest_user_id, DEMO.company_id) == "customer"


async def test_no_webhook_url_logs_events_as_skipped(emu_clock: StepClock) -> None:
    """Without a webhook URL nothing is sent, but the log still shows the event."""
    emu = Emulator(EmulatorConfig(), clock=emu_clock.now)
    record = emu.trigger("membership.deactivated", user_id=DEMO.member_user_id)
    await emu.flush_webhooks()
    assert record.outcome == "skipped" and record.attempts == []
    await emu.aclose()


async def test_held_deliveries_wait_and_go_out_on_release(
    whop: httpx.AsyncClient, emu: Emulator, receiver: Receiver
) -> None:
    """POST /webhooks/hold: a change is logged but not attempted; release delivers it once."""
    assert (await whop.post(f"{ADMIN}/webhooks/hold")).json() == {"held": True}
    sent = emu.set_membership_status(DEMO.member_membership_id, "expired")
    for _ in range(20):  # give the delivery task every chance to run while held
        await asyncio.sleep(0)
    assert receiver.received == []
    assert [r.attempts for r in sent] == [[]]
    assert (await whop.post(f"{ADMIN}/webhooks/release")).json() == {"held": False}
    await emu.flush_webhooks()
    assert [d.headers["webhook-id"] for d in receiver.received] == [sent[0].id]
    assert sent[0].outcome == "delivered"


async def test_legacy_format_sends_action_data_and_valid(
    emu_config: EmulatorConfig, emu: Emulator, receiver: Receiver
) -> None:
    """With `webhook_format="legacy"` a deactivation goes out as Whop's v2/v5 envelope:
    `{action: membership.went_invalid, data: {..., valid: false}, company}`, still signed."""
    emu_config.webhook_format = "legacy"
    sent = emu.set_membership_status(DEMO.member_membership_id, "expired")
    assert [r.type for r in sent] == ["membership.went_invalid"]
    await emu.flush_webhooks()
    [delivery] = receiver.received
    payload = unwrap(delivery.body, headers=delivery.headers, key=emu_config.webhook_secret)
    assert set(payload) == {"action", "data", "company"}
    assert payload["action"] == "membership.went_invalid"
    assert payload["company"] == DEMO.company_id
    assert payload["data"]["valid"] is False and payload["data"]["status"] == "expired"


async def test_trigger_legacy_for_one_event(emu: Emulator, receiver: Receiver) -> None:
    """`trigger(..., legacy=True)` sends one legacy delivery whatever the configured format;
    a payment keeps its name and carries no `valid`."""
    record = emu.trigger("payment.succeeded", user_id=DEMO.member_user_id, legacy=True)
    assert record.type == "payment.succeeded"
    assert record.payload["action"] == "payment.succeeded"
    assert "valid" not in record.payload["data"]
    activated = emu.trigger("membership.activated", user_id=DEMO.member_user_id, legacy=True)
    assert activated.payload["action"] == "membership.went_valid"
    assert activated.payload["data"]["valid"] is True


async def test_seed_names_are_trigger_aliases(whop: httpx.AsyncClient, emu: Emulator) -> None:
    """The seed's `membership.expired`, `.cancelled` and `.created` trigger the v1 events and
    leave the status each name says; `/events` lists the aliases."""
    expired = emu.trigger("membership.expired", user_id=DEMO.member_user_id)
    assert expired.type == "membership.deactivated"
    assert emu.state.memberships[DEMO.member_membership_id].status == "expired"
    created = emu.trigger("membership.created", user_id=DEMO.member_user_id)
    assert created.type == "membership.activated"
    cancelled = emu.trigger("membership.cancelled", user_id=DEMO.member_user_id)
    assert cancelled.type == "membership.deactivated"
    assert emu.state.memberships[DEMO.member_membership_id].status == "canceled"
    events = (await whop.get(f"{ADMIN}/events")).json()
    assert "membership.cancelled" in events["aliases"] and "refund.created" in events["data"]


async def test_refund_dispute_and_alert_fit_the_sdk_payload_models(
    whop: httpx.AsyncClient, emu: Emulator, receiver: Receiver
) -> None:
    """Refunds, disputes and dispute alerts are about the newest paid payment, and each body
    parses with whop-sdk 2.6.0's webhook payload model for its event."""
    body = {"type": "refund.created", "user_id": DEMO.member_user_id}
    refused = await whop.post(f"{ADMIN}/trigger", json=body)
    assert refused.status_code == 400 and "payment.succeeded" in refused.text
    paid = emu.trigger("payment.succeeded", user_id=DEMO.member_user_id)
    payment_id = paid.payload["data"]["id"]
    partial = await whop.post(f"{ADMIN}/trigger", json={**body, "amount": "10"})
    assert partial.status_code == 200, partial.text
    refund = PostRefundCreatedPayload.model_validate(partial.json()["body"])
    assert refund.data.amount == 10.0 and refund.data.payment is not None
    assert refund.data.payment.id == payment_id and refund.data.payment.total == 29.0
    assert refund.data.payment.membership is not None
    assert refund.data.payment.membership.id == DEMO.member_membership_id
    opened = emu.trigger("dispute.created", user_id=DEMO.member_user_id)
    settled = emu.trigger("dispute.updated", user_id=DEMO.member_user_id, status="prevented")
    created = PostDisputeCreatedPayload.model_validate(opened.payload)
    updated = PostDisputeUpdatedPayload.model_validate(settled.payload)
    assert created.data.id == updated.data.id and created.data.payment.id == payment_id
    assert (created.data.status, updated.data.status) == ("needs_response", "prevented")
    alert = emu.trigger("dispute_alert.created", user_id=DEMO.member_user_id)
    parsed = PostDisputeAlertCreatedPayload.model_validate(alert.payload)
    assert parsed.data.payment_id == payment_id and parsed.data.account_id == DEMO.company_id
