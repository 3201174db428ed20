"""Emails and alerts per creator: each names its creator and goes to that creator's address."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select

from mentora.config import Settings
from mentora.creators import ensure_creator
from mentora.db.models import Creator, OutboxMessage, User
from mentora.db.uow import transaction
from mentora.emulator import DEMO
from mentora.services import Services
from tests.support.env import make_settings

FALLBACK = "ops@mentora.test"


@pytest.fixture
def settings(database_url: str, tmp_path: Path) -> Settings:
    """Pausing on failed payment on (so it alerts), a global fallback alert address."""
    return make_settings(
        database_url,
        mail_dir=str(tmp_path / "mail"),
        payment_failed_pauses_access="true",
        creator_alert_email=FALLBACK,
    )


async def _two_creators(services: Services) -> None:
    """Demo Academy and Other School, each with its own alert address."""
    async with transaction(services.sessionmaker, write=True) as db:
        await ensure_creator(
            db,
            company_id=DEMO.other_company_id,
            name=DEMO.other_company_name,
            clock=services.clock,
            products={DEMO.other_product_id: "member"},
        )
        await db.flush()
        for company_id, address in (
            (DEMO.company_id, "team@demo-academy.test"),
            (DEMO.other_company_id, "team@other-school.test"),
        ):
            creator = (
                await db.execute(select(Creator).where(Creator.whop_company_id == company_id))
            ).scalar_one()
            creator.alert_email = address


async def _messages(services: Services, kind: str) -> list[OutboxMessage]:
    async with services.sessionmaker() as db:
        rows = await db.execute(
            select(OutboxMessage).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        )
        return list(rows.scalars())


async def test_each_creators_alerts_go_to_its_own_address(
    app: Any, services: Services, emulator: Any
) -> None:
    """A failed payment at each of two creators: each alert to that creator's address, naming
    that creator, never the other's."""
    await _two_creators(services)
    for user_id in (DEMO.member_user_id, DEMO.other_member_user_id):
        emulator.trigger("membership.activated", user_id=user_id)
        emulator.trigger("payment.failed", user_id=user_id)
    await emulator.flush_webhooks()
    alerts = await _messages(services, "alert")
    by_address = {m.recipient: m for m in alerts}
    assert sorted(by_address) == ["team@demo-academy.test", "team@other-school.test"]
    demo, other = by_address["team@demo-academy.test"], by_address["team@other-school.test"]
    assert "Demo Academy" in demo.subject and "Other School" not in demo.subject + demo.body
    assert "Other School" in other.subject and "Demo Academy" not in other.subject + other.body


async def test_each_creators_member_emails_name_that_creator(
    app: Any, services: Services, emulator: Any
) -> None:
    """Welcome emails of two creators' members each name their own creator."""
    await _two_creators(services)
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        # Known users (as after a sign-in), so the app has their addresses.
        for user_id, email in (
            (DEMO.member_user_id, "ada@example.test"),
            (DEMO.other_member_user_id, "otto@example.test"),
        ):
            db.add(User(whop_user_id=user_id, email=email, created_at=now, updated_at=now))
    for user_id in (DEMO.member_user_id, DEMO.other_member_user_id):
        emulator.trigger("membership.activated", user_id=user_id)
    await emulator.flush_webhooks()
    emails = {m.recipient: m for m in await _messages(services, "email")}
    assert sorted(emails) == ["ada@example.test", "otto@example.test"]
    for recipient, message in emails.items():
        own, other = (
            ("Demo Academy", "Other School")
            if recipient.startswith("ada")
            else ("Other School", "Demo Academy")
        )
        assert own in message.subject and other not in message.subject + message.body
