"""Integration: what a membership change does beyond the row (M02): sessions, cache, emails."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select

from mentora.clock import FrozenClock
from mentora.db.models import AuditEvent, OutboxMessage, Student, User
from mentora.services import Services
from tests.support.signin import SignIn
from tests.support.webhooks import WEBHOOK_PATH, signed_headers


async def _audit(services: Services, kind: str) -> list[AuditEvent]:
    async with services.sessionmaker() as db:
        return list((await db.execute(select(AuditEvent).where(AuditEvent.kind == kind))).scalars())


async def test_m02_deactivation_ends_sessions_on_the_next_request(
    client: httpx.AsyncClient,
    signin: SignIn,
    services: Services,
    emulator: Any,
    clock: FrozenClock,
) -> None:
    """A signed `membership.deactivated` revokes the member's session: next request is 401."""
    signed_in = await signin.sign_in("user_demo_member")
    assert signed_in.status_code in (302, 303), signed_in.text
    assert (await client.get("/api/whop/verify")).status_code == 200
    clock.advance(5)
    emulator.set_membership_status("mem_demo_member", "canceled")
    await emulator.flush_webhooks()
    assert (await client.get("/api/whop/verify")).status_code == 401
    revoked = await _audit(services, "session_revoked")
    assert [(e.reason, e.details["count"]) for e in revoked] == [("membership_ended", 1)]
    async with services.sessionmaker() as db:
        student = (await db.execute(select(Student))).scalar_one()
        user = (await db.execute(select(User))).scalar_one()
        emails = list((await db.execute(select(OutboxMessage))).scalars())
    assert student.access_checked_at is None  # the access layer must ask Whop again
    assert user.email  # from userinfo: the default scopes ask for `email`
    assert [m.template for m in emails] == ["access_ended"]
    assert emails[0].recipient == user.email
    assert services.settings.purchase_url in emails[0].body


async def test_m02_another_valid_membership_keeps_the_session(
    client: httpx.AsyncClient,
    signin: SignIn,
    services: Services,
    emulator: Any,
    clock: FrozenClock,
) -> None:
    """Losing one of two memberships at the creator does not sign the user out."""
    await signin.sign_in("user_demo_member")
    emulator.lifecycle.create_membership(user_id="user_demo_member", product_id="prod_demo")
    await emulator.flush_webhooks()
    clock.advance(5)
    emulator.set_membership_status("mem_demo_member", "expired")
    await emulator.flush_webhooks()
    assert (await client.get("/api/whop/verify")).status_code == 200
    assert await _audit(services, "session_revoked") == []


async def test_activation_for_a_signed_in_user_queues_one_welcome(
    client: httpx.AsyncClient,
    signin: SignIn,
    services: Services,
    emulator: Any,
    clock: FrozenClock,
) -> None:
    """A guest who buys gets one welcome email, even if Whop's event is delivered twice."""
    await signin.sign_in("user_demo_guest")
    async with services.sessionmaker() as db:
        user = (await db.execute(select(User))).scalar_one()
    clock.advance(5)
    record = emulator.trigger("membership.activated", user_id="user_demo_guest")
    await emulator.flush_webhooks()
    body = record.body.encode()
    again = await client.post(
        WEBHOOK_PATH, content=body, headers=signed_headers(body, at=clock.now())
    )
    assert again.status_code == 200
    async with services.sessionmaker() as db:
        emails = list((await db.execute(select(OutboxMessage))).scalars())
    assert user.email
    assert [(m.template, m.recipient) for m in emails] == [("welcome", user.email)]
