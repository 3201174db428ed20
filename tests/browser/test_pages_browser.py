"""The pages in Debian's Chromium over real sockets: a student's whole membership lifecycle,
and a creator repairing a failed delivery. Every page visited is saved as a screenshot."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from mentora.db.models import WebhookDelivery
from mentora.db.uow import transaction
from mentora.outbox.delivery import deliver_due
from mentora.outbox.mailer import FileMailer
from tests.pages.helpers import delivery, membership_body, person
from tests.support.stack import Stack, running_stack

pytestmark = [pytest.mark.browser, pytest.mark.e2e]
VIEWPORT = {"width": 1280, "height": 800}


async def sign_in(page: Any, stack: Stack, user_id: str, start: str = "/api/whop/auth") -> None:
    """Go through Whop's (the emulator's) sign-in page as `user_id`."""
    await page.goto(stack.app_url + start)
    await page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
    await page.check(f"input[value={user_id}]")
    await page.click("button:has-text('Continue')")
    await page.wait_for_url(f"{stack.app_url}/**")


async def emulator_action(stack: Stack, membership_id: str, action: str) -> None:
    """Change a membership through the emulator's admin API and wait for its webhooks."""
    async with httpx.AsyncClient(timeout=10) as http:
        url = f"{stack.issuer}/_emulator/admin/memberships/{membership_id}/actions/{action}"
        assert (await http.post(url, json={})).status_code == 200
    await stack.emulator.flush_webhooks()


async def test_student_lifecycle_in_chromium(browser: Any, sqlite_url: str, shot: Any) -> None:
    """Sign in → dashboard → deactivated at Whop → refused with a clear page → reactivated →
    signs in again → signs out everywhere, which ends the session in a second browser too."""
    async with running_stack(sqlite_url) as stack:
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        await page.goto(stack.app_url + "/")
        await shot(page, "landing")
        await page.click("#signin")
        await page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
        await shot(page, "whop-signin")
        await page.check("input[value=user_demo_member]")
        await page.click("button:has-text('Continue')")
        await page.wait_for_url(f"{stack.app_url}/dashboard")
        card = page.locator("article.membership.current")
        assert await card.locator("h3").inner_text() == "Demo Academy"
        assert await card.locator(".badge").inner_text() == "Active"
        assert "Renews on" in await card.inner_text()
        await shot(page, "dashboard")

        refused = await page.goto(stack.app_url + "/creator")
        assert refused is not None and refused.status == 403
        assert "Creators only" in await page.inner_text("h1")
        await shot(page, "creator-refused")

        # Whop (the emulator's control page) deactivates the membership; its webhook revokes.
        await page.goto(stack.issuer + "/")
        await page.click(
            "form[action='/_emulator/ui/memberships/mem_demo_member/deactivate'] button"
        )
        await shot(page, "emulator-deactivated")
        await stack.emulator.flush_webhooks()
        ended = await page.goto(stack.app_url + "/dashboard")
        assert ended is not None and ended.status == 403
        assert await page.inner_text("h1") == "Membership expired"
        assert await page.locator("#access-renew").count() == 1
        await shot(page, "membership-expired")

        await emulator_action(stack, "mem_demo_member", "activate")
        await page.click("a:has-text('Sign in again')")
        await page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
        await page.click("button:has-text('Continue')")
        await page.wait_for_url(f"{stack.app_url}/dashboard")
        assert await page.locator("article.membership.current .badge").inner_text() == "Active"

        other = await browser.new_context(viewport=VIEWPORT)
        other_page = await other.new_page()
        await sign_in(other_page, stack, "user_demo_member")
        assert other_page.url == f"{stack.app_url}/dashboard"

        await page.goto(stack.app_url + "/account/sessions")
        assert await page.locator("#sessions tbody tr").count() == 2
        # Named as a person would (ua-parser), e.g. "HeadlessChrome on Linux", not the header.
        names = await page.locator("#sessions .browser").all_inner_texts()
        assert names and all(name.endswith(" on Linux") for name in names), names
        await shot(page, "sessions")
        await page.click("#revoke-all")
        await page.wait_for_url(f"{stack.app_url}/")
        assert await page.locator("#signin").count() == 1
        await shot(page, "signed-out-everywhere")
        # The other browser's next navigation needs a new sign-in.
        await other_page.goto(stack.app_url + "/dashboard")
        await other_page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
        await other.close()
        await context.close()


async def _dead_delivery(stack: Stack, webhook_id: str) -> None:
    """A stored delivery that kept failing (as if the database had been down) and is dead."""
    now = datetime.now(UTC)
    body = membership_body(
        "mem_replayed",
        user_id="user_demo_guest",
        updated_at=now.isoformat().replace("+00:00", "Z"),
    )
    async with transaction(stack.services.sessionmaker, write=True) as db:
        db.add(
            WebhookDelivery(
                webhook_id=webhook_id,
                event_type="membership.activated",
                company_id="biz_demo",
                body=body,
                headers={},
                status="dead",
                attempts=8,
                next_attempt_at=None,
                last_error="OperationalError: could not connect to the database",
                received_at=now,
                processed_at=None,
            )
        )


FIRST = ["Ana", "Ben", "Chloé", "Dev", "Eli", "Fatima", "Gus", "Hana", "Ivo", "Jun", "Kai", "Lea"]
LAST = ["Okafor", "Novak", "Silva", "Tanaka", "Berg", "Haddad", "Moreau", "Quinn"]
STATUSES = ["active"] * 5 + ["trialing", "past_due", "expired", "canceled"]


async def _class_of_students(stack: Stack) -> None:
    """Sixty students in assorted states and a week of processed deliveries, so the lists
    look like a real creator's (and page)."""
    for n in range(60):
        name = f"{FIRST[n % len(FIRST)]} {LAST[n % len(LAST)]}"
        await person(
            stack.services,
            f"user_class_{n:02d}",
            name=name,
            email=f"{name.split()[0].lower()}{n}@example.test",
            status=STATUSES[n % len(STATUSES)],
            cancel_at_period_end=n % 11 == 3,
            session=n % 3 == 0,
            joined_ago=86400 * (60 - n),
        )
    for n in range(24):
        await delivery(
            stack.services,
            f"msg_week_{n:02d}",
            event_type=["membership.activated", "payment.succeeded", "membership.updated"][n % 3],
            received_ago=3600 * 7 * n,
        )


async def test_creator_replays_failed_delivery_in_chromium(
    browser: Any, sqlite_url: str, shot: Any
) -> None:
    """The creator opens each creator page, replays a dead delivery, sees it processed and the
    audit entries it caused, then runs a sync and reads its report."""
    async with running_stack(sqlite_url) as stack:
        await _dead_delivery(stack, "msg_dead_replay")
        await _class_of_students(stack)
        # Activity for the chart and the students list: the member signs in once, and a guest
        # without a membership tries and is refused.
        member = await browser.new_context(viewport=VIEWPORT)
        await sign_in(await member.new_page(), stack, "user_demo_member")
        await member.close()
        guest = await browser.new_context(viewport=VIEWPORT)
        await sign_in(await guest.new_page(), stack, "user_demo_guest")
        await guest.close()

        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        await sign_in(page, stack, "user_demo_creator")
        assert page.url == f"{stack.app_url}/creator"  # the creator's team lands here
        assert await page.inner_text("#stat-needs-action") == "1"
        # Signed in with access: the member only. Not the refused guest, not the creator, and
        # not the sixty students who have a membership but never signed in here.
        assert await page.inner_text("#stat-students") == "1"
        await shot(page, "creator-overview")

        await page.click(".subnav >> text=Students")
        await page.wait_for_url(f"{stack.app_url}/creator/students")
        assert await page.locator("#students tr[data-user=user_demo_member]").count() == 1
        await shot(page, "creator-students")

        await page.goto(stack.app_url + "/creator/deliveries?status=dead")
        row = page.locator("#deliveries tr[data-webhook=msg_dead_replay]")
        assert await row.locator(".badge").inner_text() == "dead"
        await shot(page, "creator-deliveries-dead")
        await row.locator("button:has-text('Replay')").click()
        await page.wait_for_url(f"{stack.app_url}/creator/deliveries?*notice=replayed*")
        row = page.locator("#deliveries tr[data-webhook=msg_dead_replay]")
        assert await row.locator(".badge").inner_text() == "processed"
        assert await row.locator("button").count() == 0  # finished: nothing to replay
        assert "processed again" in await page.inner_text("#notice")
        await shot(page, "creator-deliveries-replayed")

        await page.click(".subnav >> text=Audit trail")
        await page.wait_for_url(f"{stack.app_url}/creator/audit")
        replayed = page.locator("#audit tr[data-kind=authz_admin][data-reason=webhook_replay]")
        assert "msg_dead_replay" in await replayed.inner_text()
        changed = page.locator("#audit tr[data-kind=membership_changed]")
        assert "mem_replayed" in await changed.first.inner_text()
        await shot(page, "creator-audit")
        await page.select_option("select[name=kind]", "authz_admin")
        await page.click("form.filters button[type=submit]")
        await page.wait_for_url(f"{stack.app_url}/creator/audit?*kind=authz_admin*")
        assert await page.locator("#audit tbody tr[data-kind=authz_admin]").count() == 1
        await shot(page, "creator-audit-filtered")

        await page.click(".subnav >> text=Overview")
        await page.click("#sync-now")
        await page.wait_for_url(f"{stack.app_url}/creator?notice=sync_ok*")
        assert await page.inner_text("#sync-outcome") == "ok"
        await shot(page, "creator-sync-report")
        await context.close()


async def test_dev_tools_in_chromium(
    browser: Any, sqlite_url: str, shot: Any, tmp_path: Any
) -> None:
    """`mentora dev`'s tools: deactivate the demo member from /dev, then read the email."""
    mail_dir = tmp_path / "mail"
    async with running_stack(sqlite_url, EMULATOR_ENABLED="true", MAIL_DIR=str(mail_dir)) as stack:
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        await sign_in(page, stack, "user_demo_member")
        await page.click("header nav >> text=Dev tools")
        await page.wait_for_url(f"{stack.app_url}/dev")
        row = page.locator("#dev-memberships tr[data-membership=mem_demo_member]")
        assert await row.locator(".badge").first.inner_text() == "demo member"
        await shot(page, "dev")
        await row.locator("button:has-text('Deactivate')").click()
        await page.wait_for_url(f"{stack.app_url}/dev?*")
        assert "1 webhook sent" in await page.inner_text("#notice")
        await stack.emulator.flush_webhooks()
        # What the worker does in `mentora dev`: send the queued emails to MAIL_DIR.
        report = await deliver_due(stack.services, FileMailer(mail_dir))
        assert report.sent == 1
        await page.reload()
        assert "expired" in await row.inner_text()
        await shot(page, "dev-after-deactivate")
        await page.click("#dev-mail a")
        await page.wait_for_url(f"{stack.app_url}/dev/mail/*")
        assert "Renew" in await page.inner_text("#mail-body") or "renew" in await page.inner_text(
            "#mail-body"
        )
        await shot(page, "dev-mail")
        await context.close()


async def test_access_pages_in_chromium(browser: Any, sqlite_url: str, shot: Any) -> None:
    """The clear pages for "Whop unavailable" (503) and "payment failed" (403)."""
    env = {
        "ACCESS_TTL_SECONDS": "0",  # every request asks Whop, so an outage shows at once
        "ACCESS_GRACE_SECONDS": "0",
        "PAYMENT_FAILED_PAUSES_ACCESS": "true",
    }
    async with running_stack(sqlite_url, **env) as stack:
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        await sign_in(page, stack, "user_demo_member")
        assert page.url == f"{stack.app_url}/dashboard"
        stack.emulator.add_fault("/api/v1/users/", status=500)
        down = await page.goto(stack.app_url + "/dashboard")
        assert down is not None and down.status == 503
        assert await page.inner_text("h1") == "Whop unavailable"
        await shot(page, "whop-unavailable")
        stack.emulator.clear_faults()

        stack.emulator.trigger("payment.failed", user_id="user_demo_member")
        await stack.emulator.flush_webhooks()
        held = await page.goto(stack.app_url + "/dashboard")
        assert held is not None and held.status == 403
        assert await page.inner_text("h1") == "Payment failed"
        await shot(page, "payment-failed")
        await context.close()


async def test_reactivated_member_and_signed_out_bookmark_in_chromium(
    browser: Any, sqlite_url: str, shot: Any
) -> None:
    """Deactivated and activated again at Whop while away: the next page says so and signs
    the member in again, back to that page; a signed-out bookmark to /content signs in and
    returns there."""
    async with running_stack(sqlite_url) as stack:
        context = await browser.new_context(viewport=VIEWPORT)
        page = await context.new_page()
        await sign_in(page, stack, "user_demo_member")
        assert page.url == f"{stack.app_url}/dashboard"
        await emulator_action(stack, "mem_demo_member", "deactivate")
        await emulator_action(stack, "mem_demo_member", "activate")
        back = await page.goto(stack.app_url + "/dashboard")
        assert back is not None and back.status == 401
        assert await page.inner_text("h1") == "Your membership is active again"
        assert await page.locator("#access-renew").count() == 0
        assert "Reason" not in await page.inner_text("#access-denied")
        await shot(page, "membership-active-again")
        await page.click("#access-sign-in")
        await page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
        await page.click("button:has-text('Continue')")
        await page.wait_for_url(f"{stack.app_url}/dashboard")
        assert await page.locator("article.membership.current .badge").inner_text() == "Active"
        await context.close()

        visitor = await browser.new_context(viewport=VIEWPORT)
        page = await visitor.new_page()
        await page.goto(stack.app_url + "/content")
        await page.wait_for_url(f"{stack.issuer}/oauth/authorize*")
        await shot(page, "content-bookmark-signin")
        await page.check("input[value=user_demo_member]")
        await page.click("button:has-text('Continue')")
        await page.wait_for_url(f"{stack.app_url}/content")
        await shot(page, "content-after-signin")
        await visitor.close()
