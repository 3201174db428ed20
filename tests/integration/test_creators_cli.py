"""`mentora creators list | add | show | set | enable | disable` (issue 16, items 1-2): creators
are rows an operator manages, every change audited; `add` onboards a company Whop knows and
applies the deliveries it sent before; a disabled creator's webhooks are stored flagged and its
members are refused at the gate."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import func, select

from mentora.clock import FrozenClock
from mentora.creators import ensure_creator
from mentora.db.models import AuditEvent, Creator, Membership
from mentora.db.uow import transaction
from mentora.emulator import DEMO, Emulator
from mentora.memberships.effects import ChangeSource
from mentora.memberships.plan import Change, MembershipEvent
from mentora.memberships.write import apply_events
from mentora.services import Services
from mentora.usecases.creators import set_enabled, update_creator
from mentora.whop.schemas import MembershipSnapshot
from tests.access.helpers import audit_reasons, seed
from tests.hardening.helpers import audit_rows, run_cli
from tests.pages.helpers import delivery_status
from tests.support.served import whop  # noqa: F401 - a fixture
from tests.support.timeline import START
from tests.support.webhooks import post_event


async def _membership(services: Services, membership_id: str) -> Membership | None:
    """The stored membership, if any."""
    async with services.sessionmaker() as db:
        return await db.scalar(
            select(Membership).where(Membership.whop_membership_id == membership_id)
        )


async def _count(services: Services, model: Any) -> int:
    """How many rows a table holds."""
    async with services.sessionmaker() as db:
        return int(await db.scalar(select(func.count()).select_from(model)) or 0)


async def test_add_applies_the_companys_flagged_delivery(
    app: Any,
    services: Services,
    emulator: Emulator,
    whop: tuple[Emulator, dict[str, str]],
    clock: FrozenClock,
    database_url: str,
) -> None:
    """A `membership.activated` for biz_other arrives before Other School is a creator: stored
    flagged, granting nothing. `mentora creators add biz_other` reads the company from Whop,
    creates it (name, route), syncs it and replays the delivery: it is now processed and the
    membership belongs to Other School. The action is audited with the CLI actor."""
    _, env = whop
    sent = emulator.trigger("membership.activated", user_id=DEMO.other_member_user_id)
    await emulator.flush_webhooks()
    assert await delivery_status(services, sent.id) == "flagged"
    before = await _membership(services, DEMO.other_membership_id)
    assert before is not None and before.flagged and before.creator_id is None

    done = await run_cli(
        clock, database_url, "creators", "add", DEMO.other_company_id, "--json", **env
    )
    assert done.exit_code == 0, done.output
    out = json.loads(done.stdout)
    assert (out["company_id"], out["name"], out["route"], out["enabled"]) == (
        DEMO.other_company_id,
        DEMO.other_company_name,
        "other-school",
        True,
    )
    assert out["sync"]["outcome"] == "ok"
    assert out["replayed"] == {sent.id: "processed"}
    assert await delivery_status(services, sent.id) == "processed"
    after = await _membership(services, DEMO.other_membership_id)
    async with services.sessionmaker() as db:
        other = await db.scalar(
            select(Creator).where(Creator.whop_company_id == DEMO.other_company_id)
        )
    assert other is not None and after is not None
    assert (after.flagged, after.creator_id, after.status) == (False, other.id, "active")
    (event,) = await audit_rows(services, "sensitive_update")
    assert (event.actor, event.subject, event.reason) == (
        "cli:alice",
        DEMO.other_company_id,
        "creator_added",
    )

    again = await run_cli(clock, database_url, "creators", "add", DEMO.other_company_id, **env)
    assert again.exit_code == 1 and "already a creator" in again.stderr


async def test_add_refuses_a_company_whop_does_not_know(
    services: Services, whop: tuple[Emulator, dict[str, str]], clock: FrozenClock, database_url: str
) -> None:
    """An unknown company id: one line naming it, exit 1, and nothing written (no creator, no
    sync run, no audit row)."""
    _, env = whop
    creators, audits = await _count(services, Creator), await _count(services, AuditEvent)
    done = await run_cli(clock, database_url, "creators", "add", "biz_nobody", **env)
    assert done.exit_code == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: ") and "biz_nobody" in lines[0]
    assert (await _count(services, Creator), await _count(services, AuditEvent)) == (
        creators,
        audits,
    )


async def test_list_show_and_set_tiers_and_policies(
    services: Services, clock: FrozenClock, database_url: str
) -> None:
    """`list` and `show` give each creator with its tiers and policies (own or default);
    `set --tier ... --payment-failed-pauses-access` changes them, audited;
    `--default-policy` hands a policy back to its setting."""
    listed = await run_cli(clock, database_url, "creators", "list", "--json")
    assert [(c["company_id"], c["enabled"]) for c in json.loads(listed.stdout)] == [
        (DEMO.company_id, True)
    ]
    changed = await run_cli(
        clock,
        database_url,
        "creators",
        "set",
        DEMO.company_id,
        "--tier",
        "prod_gold=gold",
        "--payment-failed-pauses-access",
        "--no-dispute-revokes-access",
        "--json",
    )
    assert changed.exit_code == 0, changed.output
    view = json.loads(changed.stdout)
    assert view["tiers"]["prod_gold"] == "gold"
    assert view["policies"] == {
        "payment_failed_pauses_access": {"value": True, "source": "creator"},
        "refund_revokes_access": {"value": False, "source": "default"},
        "dispute_revokes_access": {"value": False, "source": "creator"},
    }
    (event,) = await audit_rows(services, "sensitive_update")
    assert (event.actor, event.reason, event.details) == (
        "cli:alice",
        "creator_updated",
        {
            "tier:prod_gold": "gold",
            "payment_failed_pauses_access": True,
            "dispute_revokes_access": False,
        },
    )
    reset = await run_cli(
        clock,
        database_url,
        "creators",
        "set",
        DEMO.company_id,
        "--default-policy",
        "dispute_revokes_access",
    )
    assert reset.exit_code == 0, reset.output
    shown = await run_cli(clock, database_url, "creators", "show", DEMO.company_id)
    assert "  dispute_revokes_access: true (default)" in shown.stdout.splitlines()
    assert "  payment_failed_pauses_access: true (creator)" in shown.stdout.splitlines()


async def test_a_creators_own_policy_decides_its_failed_payments(
    app: Any, services: Services, emulator: Emulator
) -> None:
    """PAYMENT_FAILED_PAUSES_ACCESS is off (the default), but the creator's own policy says
    pause: its member's failed payment holds access."""
    await update_creator(
        services,
        DEMO.company_id,
        actor="cli:test",
        policies={"payment_failed_pauses_access": True},
    )
    emulator.trigger("membership.activated", user_id=DEMO.member_user_id)
    emulator.trigger("payment.failed", user_id=DEMO.member_user_id)
    await emulator.flush_webhooks()
    held = await _membership(services, DEMO.member_membership_id)
    assert held is not None and held.access_hold == "payment_failed"


async def test_without_its_own_policy_a_creator_follows_the_setting(
    app: Any, services: Services, emulator: Emulator
) -> None:
    """No policy of its own and PAYMENT_FAILED_PAUSES_ACCESS off: a failed payment holds
    nothing (today's single-creator behaviour)."""
    emulator.trigger("membership.activated", user_id=DEMO.member_user_id)
    emulator.trigger("payment.failed", user_id=DEMO.member_user_id)
    await emulator.flush_webhooks()
    row = await _membership(services, DEMO.member_membership_id)
    assert row is not None and row.access_hold is None


async def test_a_creators_own_refund_and_dispute_policies_decide_its_holds(
    app: Any, services: Services, emulator: Emulator, client: httpx.AsyncClient, clock: FrozenClock
) -> None:
    """The settings say refunds keep access and disputes pause it (the defaults); this
    creator says the reverse, and its own policies decide: a dispute holds nothing, a full
    refund holds the membership."""
    await update_creator(
        services,
        DEMO.company_id,
        actor="cli:test",
        policies={"refund_revokes_access": True, "dispute_revokes_access": False},
    )
    emulator.trigger("membership.activated", user_id=DEMO.member_user_id)
    await emulator.flush_webhooks()
    payment = {"id": "pay_p1", "membership": {"id": DEMO.member_membership_id}}
    disputed = await post_event(
        client,
        "dispute.created",
        {"id": "dspt_p1", "status": "needs_response", "payment": payment},
        at=clock.now(),
    )
    assert disputed.json()["status"] == "processed"
    row = await _membership(services, DEMO.member_membership_id)
    assert row is not None and row.access_hold is None
    refunded = await post_event(
        client,
        "refund.created",
        {"id": "rfnd_p1", "status": "succeeded", "payment": payment},
        at=clock.now(),
    )
    assert refunded.json()["status"] == "processed"
    row = await _membership(services, DEMO.member_membership_id)
    assert row is not None and row.access_hold == "refunded"


async def test_disabled_creator_webhooks_are_flagged_until_enabled(
    app: Any, services: Services, emulator: Emulator, clock: FrozenClock, database_url: str
) -> None:
    """`creators disable`: a webhook of that company is stored flagged (`creator_disabled`)
    and writes no membership; `creators enable` replays it, and it applies."""
    off = await run_cli(clock, database_url, "creators", "disable", DEMO.company_id, "--json")
    assert off.exit_code == 0, off.output
    assert json.loads(off.stdout)["enabled"] is False
    sent = emulator.trigger("membership.activated", user_id=DEMO.member_user_id)
    await emulator.flush_webhooks()
    assert await delivery_status(services, sent.id) == "flagged"
    assert await _membership(services, DEMO.member_membership_id) is None
    assert "creator_disabled" in await audit_reasons(services, "webhook_processed")
    failed = emulator.trigger("payment.failed", user_id=DEMO.member_user_id)
    await emulator.flush_webhooks()
    assert await delivery_status(services, failed.id) == "flagged"

    on = await run_cli(clock, database_url, "creators", "enable", DEMO.company_id, "--json")
    assert on.exit_code == 0, on.output
    assert json.loads(on.stdout)["replayed"] == {sent.id: "processed", failed.id: "processed"}
    row = await _membership(services, DEMO.member_membership_id)
    assert row is not None and row.status == "active"
    reasons = [e.reason for e in await audit_rows(services, "sensitive_update")]
    assert reasons == ["creator_disabled", "creator_enabled"]


async def test_disabled_creators_members_are_refused_at_the_gate(
    services: Services, app: Any, client: httpx.AsyncClient
) -> None:
    """A member with an active membership enters; after `disable` the gate refuses them with
    `creator_disabled` (audited), whatever Whop says; after `enable` they enter again."""
    member = await seed(services, "user_s", memberships=[{"status": "active"}])
    assert (await client.get("/api/content", headers=member.cookie)).status_code == 200
    await set_enabled(services, DEMO.company_id, False, actor="cli:test")
    refused = await client.get("/api/content", headers=member.cookie)
    assert refused.status_code == 403
    assert refused.json()["error"]["code"] == "creator_disabled"
    assert (await audit_reasons(services))[-1] == "creator_disabled"
    await set_enabled(services, DEMO.company_id, True, actor="cli:test")
    assert (await client.get("/api/content", headers=member.cookie)).status_code == 200


async def test_a_flagged_membership_joins_its_new_creator_from_an_older_snapshot(
    services: Services,
) -> None:
    """A flagged row whose company becomes a creator joins it even when the next snapshot is
    older than the stored one (the onboarding sync reads Whop's list, which may lag the
    webhook): the stored, newer status is kept and the change counts as applied."""
    newer = MembershipSnapshot(
        id="mem_lag",
        status="active",
        company_id="biz_lag",
        user_id="user_lag",
        product_id="prod_lag",
        plan_id=None,
        cancel_at_period_end=False,
        current_period_end=None,
        updated_at=START - timedelta(hours=1),
    )
    older = replace(newer, status="trialing", updated_at=START - timedelta(hours=2))
    now = services.clock.now()

    async def apply(db: Any, snapshot: MembershipSnapshot) -> Change:
        event = MembershipEvent(snapshot=snapshot, source=ChangeSource.SYNC)
        planned = await apply_events(db, [event], settings=services.settings, now=now)
        assert isinstance(planned.results[0], Change)
        return planned.results[0]

    async with transaction(services.sessionmaker, write=True) as db:
        first = await apply(db, newer)
        assert first.flagged
        creator = await ensure_creator(db, company_id="biz_lag", name="Lag", clock=services.clock)
        change = await apply(db, older)
        assert change.applied and change.granted
        row = await db.scalar(select(Membership).where(Membership.whop_membership_id == "mem_lag"))
        assert row is not None
        assert (row.flagged, row.creator_id) == (False, creator.id)
        assert change.after_status == "active" and not change.flagged
        again = await apply(db, older)
        assert not again.applied


async def test_a_tier_set_by_the_operator_is_what_the_gate_grants(
    services: Services, app: Any, client: httpx.AsyncClient
) -> None:
    """`set --tier prod_demo=gold`: the member of prod_demo enters at tier gold (the gate
    reads the creator's products); the creator now having products, a stored membership of
    another product no longer counts: that user enters only on Whop's own word
    (`whop_customer`, at the default tier)."""
    await update_creator(services, DEMO.company_id, actor="cli:test", tiers={"prod_demo": "gold"})
    member = await seed(services, "user_g", memberships=[{"status": "active"}])
    body = (await client.get("/api/content", headers=member.cookie)).json()
    assert (body["tier"], body["reason"]) == ("gold", "active")
    other = await seed(
        services, "user_h", memberships=[{"status": "active", "product_id": "prod_else"}]
    )
    body = (await client.get("/api/content", headers=other.cookie)).json()
    assert (body["tier"], body["reason"]) == ("member", "whop_customer")
