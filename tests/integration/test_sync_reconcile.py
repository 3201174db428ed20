"""Integration: reconciliation with the emulator's REST API (W17), on SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import httpx
from sqlalchemy import select
from structlog.testing import capture_logs

from mentora.clock import FrozenClock
from mentora.db.models import AuditEvent, Membership, OutboxMessage, SyncRun
from mentora.services import Services
from mentora.usecases.sync import reconcile
from tests.support.signin import SignIn
from tests.support.timeline import stamp
from tests.support.webhooks import membership_data, post_event


async def _row(services: Services, membership_id: str) -> Membership | None:
    async with services.sessionmaker() as db:
        result = await db.execute(
            select(Membership).where(Membership.whop_membership_id == membership_id)
        )
        return result.scalar_one_or_none()


async def _kinds(services: Services) -> list[str]:
    async with services.sessionmaker() as db:
        return [str(k) for k in (await db.execute(select(AuditEvent.kind))).scalars()]


async def _receiver_down(emulator: Any) -> Any:
    """Make every delivery attempt fail, as during an outage longer than Whop's ~70 s."""
    target = emulator.app_slot.target
    emulator.app_slot.target = None
    return target


async def test_w17_lost_revocation_is_repaired_by_reconciliation(
    client: httpx.AsyncClient,
    signin: SignIn,
    services: Services,
    emulator: Any,
    clock: FrozenClock,
) -> None:
    """A deactivation Whop gave up delivering is found by sync: row fixed, session ended."""
    emulator.trigger("membership.activated", user_id="user_demo_member")
    await emulator.flush_webhooks()
    await signin.sign_in("user_demo_member")
    app = await _receiver_down(emulator)
    clock.advance(60)
    emulator.set_membership_status("mem_demo_member", "canceled")
    await emulator.flush_webhooks()
    assert emulator.state.webhooks[-1].outcome == "failed"
    assert len(emulator.state.webhooks[-1].attempts) == 4  # first try + Whop's 3 retries
    emulator.app_slot.target = app
    row = await _row(services, "mem_demo_member")
    assert row is not None and row.status == "active"  # the app never heard

    result = await reconcile(services, trigger="schedule")

    assert result.outcome == "ok"
    assert result.report.corrected == 1
    assert result.report.corrections[0]["after"] == "canceled"
    row = await _row(services, "mem_demo_member")
    assert row is not None and row.status == "canceled"
    assert (await client.get("/api/whop/verify")).status_code == 401
    kinds = await _kinds(services)
    # The correction, and Bea Both's demo membership (seeded, never announced) found.
    assert kinds.count("membership_reconciled") == 2
    assert kinds.count("session_revoked") == 1
    async with services.sessionmaker() as db:
        run = (await db.execute(select(SyncRun).where(SyncRun.trigger == "schedule"))).scalar_one()
    assert run.outcome == "ok" and run.finished_at is not None
    assert run.report["corrected"] == 1


async def test_first_sync_discovers_members_without_greeting_them(
    client: httpx.AsyncClient, signin: SignIn, services: Services
) -> None:
    """Existing memberships found by a first sync are stored; nobody gets a welcome email."""
    result = await reconcile(services, trigger="manual")
    # Ada's and Bea Both's demo memberships (the seed's two at biz_demo).
    assert result.outcome == "ok" and result.report.created == 2
    await signin.sign_in("user_demo_member")
    row = await _row(services, "mem_demo_member")
    assert row is not None and row.status == "active"
    async with services.sessionmaker() as db:
        assert list((await db.execute(select(OutboxMessage))).scalars()) == []
    assert (await client.get("/api/whop/verify")).status_code == 200


async def test_unlisted_granting_membership_is_checked_and_marked_missing(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A local active membership Whop does not know (404) becomes `missing`."""
    data = membership_data(
        "mem_ghost", "active", updated_at=stamp(hours=-1), user_id="user_demo_guest"
    )
    assert (await post_event(client, "membership.activated", data, at=clock.now())).is_success
    result = await reconcile(services, trigger="manual")
    assert result.outcome == "ok"
    assert result.report.missing == 1
    row = await _row(services, "mem_ghost")
    assert row is not None and row.status == "missing"


async def test_rate_limited_sync_waits_as_told_then_completes(
    services: Services, emulator: Any
) -> None:
    """Two 429s with Retry-After are waited out (through the injected sleep), then it works."""
    emulator.add_fault("/api/v1/memberships", status=429, retry_after=2, count=2)
    waits: list[float] = []

    async def sleep(seconds: float) -> None:
        waits.append(seconds)

    result = await reconcile(services, trigger="manual", sleep=sleep)
    assert result.outcome == "ok"
    assert waits == [2.0, 2.0]
    assert result.report.created == 2  # the seed's two demo memberships


async def test_whop_down_fails_the_run_and_alerts(services: Services, emulator: Any) -> None:
    """A 5xx from Whop ends the run as failed, with an audit event and an alert line."""
    emulator.add_fault("/api/v1/memberships", status=503)
    with capture_logs() as logs:
        result = await reconcile(services, trigger="schedule")
    assert result.outcome == "failed"
    assert result.report.error is not None and "whop_unavailable" in result.report.error
    assert "sync_failed" in await _kinds(services)
    assert any(e["event"] == "alert" and e["template"] == "sync_failed_alert" for e in logs)


async def test_pagination_and_per_user_runs(services: Services, emulator: Any) -> None:
    """A company with 130 memberships takes two pages; a per-user run touches only that user."""
    for _ in range(129):
        emulator.lifecycle.create_membership(
            user_id="user_demo_guest", product_id="prod_demo", emit=False
        )
    single = await reconcile(services, trigger="signin", user_id="user_demo_member")
    assert (single.report.pages, single.report.created) == (1, 1)
    full = await reconcile(services, trigger="manual")
    assert full.report.pages == 2
    assert (full.report.created, full.report.unchanged) == (130, 1)  # and Bea Both's


async def test_flagged_membership_is_unflagged_once_its_company_is_a_creator(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A membership stored before its company became a creator is linked on the next update."""
    from mentora.creators import ensure_creator
    from mentora.db.uow import transaction

    early = membership_data(
        "mem_late", "active", updated_at=stamp(hours=-1), company_id="biz_other"
    )
    await post_event(client, "membership.activated", early, at=clock.now(), company_id="biz_other")
    row = await _row(services, "mem_late")
    assert row is not None and row.flagged
    async with transaction(services.sessionmaker, write=True) as db:
        await ensure_creator(db, company_id="biz_other", name="Other", clock=clock)
    later = membership_data(
        "mem_late", "active", updated_at=stamp(seconds=-3595), company_id="biz_other"
    )
    await post_event(client, "membership.updated", later, at=clock.now(), company_id="biz_other")
    row = await _row(services, "mem_late")
    assert row is not None and not row.flagged and row.creator_id is not None


async def test_off_model_answer_fails_the_run_cleanly(services: Services, emulator: Any) -> None:
    """A memberships page whop-sdk cannot parse ends the run as failed (whop_bad_response),
    audited and alerted, instead of raising out of reconcile (issue 13, item 3)."""
    emulator.add_fault("/api/v1/memberships", status=200)
    with capture_logs() as logs:
        result = await reconcile(services, trigger="schedule")
    assert result.outcome == "failed"
    assert result.report.error is not None and "whop_bad_response" in result.report.error
    assert "sync_failed" in await _kinds(services)
    assert any(e["event"] == "alert" and e["template"] == "sync_failed_alert" for e in logs)
