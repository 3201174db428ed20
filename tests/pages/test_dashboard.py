"""The student dashboard: behind RequireMember, showing creators, status, tier and dates; and
what a browser sees once its membership has ended (M02)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import httpx
from sqlalchemy import select, update

from mentora.db.models import AuditEvent, Membership
from mentora.emulator import DEMO
from mentora.services import Services
from mentora.web.cookie import SESSION_COOKIE
from tests.pages.helpers import BROWSER, person
from tests.support.signin import SignIn
from tests.support.timeline import START


def _day(days_after_start: int) -> str:
    """How the pages print the date `days_after_start` days after the tests' START."""
    moment = START + timedelta(days=days_after_start)
    return f"{moment.day} {moment:%b %Y}"


async def test_dashboard_shows_creator_status_tier_and_renewal_date(
    client: httpx.AsyncClient, services: Services
) -> None:
    """An active member sees the creator, "Active", the tier and when it renews."""
    member = await person(services, "user_ada", name="Ada", period_end_days=30)
    page = await client.get("/dashboard", headers={**BROWSER, **member.cookie})
    assert page.status_code == 200
    assert "Welcome, Ada" in page.text and "<h3>Demo Academy</h3>" in page.text
    assert 'data-status="active">Active<' in page.text
    assert f"Renews on</dt><dd>{_day(30)}" in page.text
    assert 'id="access-tier">member<' in page.text


async def test_dashboard_warns_before_a_canceled_membership_ends(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Cancel at period end: still allowed, with the end date and a renew notice."""
    member = await person(services, "user_c", cancel_at_period_end=True, period_end_days=3)
    page = await client.get("/dashboard", headers={**BROWSER, **member.cookie})
    assert page.status_code == 200
    assert 'data-status="canceling">Cancels at period end<' in page.text
    assert f"Access ends on</dt><dd>{_day(3)}" in page.text
    assert f'id="membership-notice">Your membership is set to end on {_day(3)}.' in page.text


async def test_dashboard_tells_a_past_due_member_to_update_payment(
    client: httpx.AsyncClient, services: Services
) -> None:
    """Past due within the grace period: allowed, with the payment notice."""
    member = await person(services, "user_p", status="past_due", period_end_days=0)
    page = await client.get("/dashboard", headers={**BROWSER, **member.cookie})
    assert page.status_code == 200
    assert "Payment overdue" in page.text and "Update your payment method" in page.text


async def test_dashboard_lists_the_students_memberships_at_other_creators(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The same Whop user at a second creator: both memberships, the session's creator first."""
    member = await person(services, "user_both")
    await person(services, "user_both_other", company_id="biz_other", session=False)
    async with services.sessionmaker() as db:
        await db.execute(
            update(Membership)
            .where(Membership.whop_user_id == "user_both_other")
            .values(whop_user_id="user_both")
        )
        await db.commit()
    page = await client.get("/dashboard", headers={**BROWSER, **member.cookie})
    assert page.text.index("<h3>Demo Academy</h3>") < page.text.index("<h3>biz_other</h3>")


async def test_dashboard_for_the_creator_team_links_to_the_creator_pages(
    client: httpx.AsyncClient, services: Services
) -> None:
    """A team member without a membership is admitted and pointed to /creator."""
    team = await person(services, "user_team", level="admin", status=None)
    page = await client.get("/dashboard", headers={**BROWSER, **team.cookie})
    assert page.status_code == 200
    assert "Creator team" in page.text and 'href="/creator"' in page.text


async def test_anonymous_dashboard_redirects_to_sign_in_and_back(
    client: httpx.AsyncClient,
) -> None:
    """No session: 303 to the sign-in start, which returns to the dashboard."""
    response = await client.get("/dashboard", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["location"] == "/api/whop/auth?next=%2Fdashboard"


async def test_expired_membership_with_a_live_session_gets_the_access_page(
    client: httpx.AsyncClient, services: Services
) -> None:
    """The gate refuses an expired membership with the access page (403, reason, renew)."""
    member = await person(services, "user_e", level="no_access", status="expired")
    page = await client.get("/dashboard", headers={**BROWSER, **member.cookie})
    assert page.status_code == 403
    assert 'data-reason="expired"' in page.text and "Renew on Whop" in page.text


async def test_m02_after_deactivation_the_next_page_says_the_membership_expired(
    client: httpx.AsyncClient, signin: SignIn, emulator: Any, services: Services
) -> None:
    """Whop deactivates the membership; its webhook ends the session; the next navigation
    explains why (403, audited as `authz_fail` with the reason), offers renewal, and drops
    the dead cookie."""
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    assert (await client.get("/dashboard", headers=BROWSER)).status_code == 200
    emulator.set_membership_status(DEMO.member_membership_id, "expired")
    await emulator.flush_webhooks()
    page = await client.get("/dashboard", headers=BROWSER)
    assert page.status_code == 403
    assert "<h1>Membership expired</h1>" in page.text
    assert "Your membership has expired. We signed you out" in page.text
    assert 'id="access-renew"' in page.text
    assert f'{SESSION_COOKIE}=""' in page.headers["set-cookie"]
    async with services.sessionmaker() as db:
        denials = (
            await db.execute(
                select(AuditEvent.reason, AuditEvent.subject).where(AuditEvent.kind == "authz_fail")
            )
        ).all()
    assert [tuple(d) for d in denials] == [("expired", DEMO.member_user_id)]
    again = await client.get("/dashboard", headers=BROWSER)
    assert again.status_code == 303  # the cookie is gone: an ordinary sign-in redirect


async def test_a_payment_hold_that_ends_the_session_says_payment_failed(
    client: httpx.AsyncClient, signin: SignIn, emulator: Any, services: Services
) -> None:
    """With PAYMENT_FAILED_PAUSES_ACCESS, a failed payment closes the session; the next page
    says the payment failed (not merely "ended")."""
    services.settings.payment_failed_pauses_access = True
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    emulator.trigger("payment.failed", user_id=DEMO.member_user_id)
    await emulator.flush_webhooks()
    page = await client.get("/dashboard", headers=BROWSER)
    assert page.status_code == 403
    assert "<h1>Payment failed</h1>" in page.text and 'data-reason="payment_failed"' in page.text


async def test_reactivated_membership_says_sign_in_again_not_renew(
    client: httpx.AsyncClient, signin: SignIn, emulator: Any, clock: Any
) -> None:
    """Deactivated, then activated again at Whop: the next page says the membership is active
    again and offers sign-in back to this page, not renewal nor "Reason: active"."""
    assert (await signin.sign_in(DEMO.member_user_id)).status_code == 303
    emulator.set_membership_status(DEMO.member_membership_id, "expired")
    await emulator.flush_webhooks()
    clock.advance(60)  # the re-activation is a later change at Whop
    emulator.set_membership_status(DEMO.member_membership_id, "active")
    await emulator.flush_webhooks()
    page = await client.get("/dashboard", headers=BROWSER)
    assert page.status_code == 401
    assert "<h1>Your membership is active again</h1>" in page.text
    assert 'id="access-sign-in" href="/api/whop/auth?next=%2Fdashboard"' in page.text
    assert "Renew on Whop" not in page.text and "has ended" not in page.text
    assert "Reason:" not in page.text
    assert f'{SESSION_COOKIE}=""' in page.headers["set-cookie"]


async def test_anonymous_content_page_redirects_to_sign_in_and_back(
    client: httpx.AsyncClient,
) -> None:
    """A bookmark to /content without a session: 303 to sign in, returning to /content."""
    response = await client.get("/content", headers=BROWSER)
    assert response.status_code == 303
    assert response.headers["location"] == "/api/whop/auth?next=%2Fcontent"


async def test_sign_in_without_a_target_lands_creators_on_creator_and_members_on_dashboard(
    signin: SignIn,
) -> None:
    """No page asked for: the creator's team lands on /creator, a member on /dashboard; a
    page asked for (a bookmark) is kept."""
    creator = await signin.sign_in(DEMO.creator_user_id)
    assert (creator.status_code, creator.headers["location"]) == (303, "/creator")
    asked = await signin.sign_in(DEMO.creator_user_id, next_path="/account/sessions")
    assert asked.headers["location"] == "/account/sessions"
    member = await signin.sign_in(DEMO.member_user_id)
    assert (member.status_code, member.headers["location"]) == (303, "/dashboard")
