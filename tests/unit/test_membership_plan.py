"""The pure planner (`memberships.plan`): rows and events in, what to write out, no I/O."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from mentora.audit.kinds import AuditKind
from mentora.config import Settings
from mentora.memberships.effects import ChangeSource
from mentora.memberships.plan import (
    Change,
    CreatorView,
    HoldEvent,
    Loaded,
    MemberRow,
    MembershipEvent,
    NotStored,
    PlanContext,
    ReceiptEvent,
    UserView,
    plan,
)
from mentora.whop.schemas import MembershipSnapshot

NOW = datetime.now(UTC).replace(microsecond=0)
DEMO = CreatorView(id=1, whop_company_id="biz_demo", name="Demo")
CTX = PlanContext(
    settings=Settings.model_construct(
        app_url="https://app.test",
        purchase_url="https://whop.test/buy",
        payment_failed_pauses_access=True,
        refund_revokes_access=False,
        dispute_revokes_access=True,
    ),
    now=NOW,
)


def _snapshot(mem: str, status: str, minutes: int, user: str = "user_a") -> MembershipSnapshot:
    return MembershipSnapshot(
        id=mem,
        status=status,
        company_id="biz_demo",
        user_id=user,
        product_id="prod",
        plan_id=None,
        cancel_at_period_end=False,
        current_period_end=None,
        updated_at=NOW - timedelta(minutes=60 - minutes),
    )


def _event(mem: str, status: str, minutes: int, **more: object) -> MembershipEvent:
    kind = str(more.pop("kind", "membership.updated"))
    user = str(more.pop("user", "user_a"))
    return MembershipEvent(
        snapshot=_snapshot(mem, status, minutes, user),
        source=ChangeSource.WEBHOOK,
        reference="msg",
        event=kind,
        email=more.pop("email", None),  # type: ignore[arg-type]
    )


def _row(mem: str, status: str, user: str = "user_a", row_id: int = 10) -> MemberRow:
    return MemberRow(
        id=row_id,
        whop_membership_id=mem,
        creator_id=1,
        whop_company_id="biz_demo",
        whop_user_id=user,
        whop_product_id="prod",
        whop_plan_id=None,
        status=status,
        cancel_at_period_end=False,
        current_period_end=None,
        source_updated_at=NOW - timedelta(minutes=60),
        flagged=False,
        access_hold=None,
        created_at=NOW,
        updated_at=NOW,
    )


KNOWN = Loaded(
    creators={"biz_demo": DEMO},
    memberships={"mem_1": _row("mem_1", "active")},
    users={"user_a": UserView(whop_user_id="user_a", id=7, email="a@example.com")},
)


def test_a_new_member_is_enrolled_and_welcomed() -> None:
    """An activation of a membership never stored: row, user, student and a welcome email."""
    planned = plan(
        Loaded(creators={"biz_demo": DEMO}),
        [_event("mem_n", "active", 1, kind="membership.activated", user="user_n", email="n@x.io")],
        CTX,
    )
    change = planned.results[0]
    assert isinstance(change, Change) and change.created and change.granted
    assert planned.memberships["mem_n"].id is None
    assert list(planned.users) == ["user_n"] and planned.users["user_n"].email == "n@x.io"
    assert list(planned.students) == [("user_n", 1)]
    [email] = planned.emails.values()
    assert (email["template"], email["recipient"]) == ("welcome", "n@x.io")
    assert email["body"].startswith("Hi there,\n")  # Whop has not named the new user yet
    assert [a.fields["reason"] for a in planned.audit] == ["granted"]


def test_an_older_snapshot_changes_nothing_and_a_tie_fails_closed() -> None:
    """Newest wins; on an exact tie the one that does not grant access wins."""
    older = plan(KNOWN, [_event("mem_1", "canceled", -5)], CTX)
    assert isinstance(older.results[0], Change) and not older.results[0].applied
    assert older.memberships == {} and older.audit == []
    tie = plan(KNOWN, [_event("mem_1", "canceled", 0)], CTX)
    assert isinstance(tie.results[0], Change) and tie.results[0].revoked


def test_an_end_marks_stale_and_ends_sessions_once_per_plan() -> None:
    """Ending, coming back and ending again in one plan ends the sessions once: one
    `session_revoked` row, as applying the events one at a time would leave."""
    events = [
        _event("mem_1", "expired", 1, email="a@example.com"),
        _event("mem_1", "active", 2),
        _event("mem_1", "canceled", 3),
    ]
    planned = plan(KNOWN, events, CTX)
    assert list(planned.stale) == [(7, 1)] and list(planned.sessions) == [(7, 1)]
    sessions = [a for a in planned.audit if a.fields["kind"] == AuditKind.SESSION_REVOKED]
    assert len(sessions) == 1 and sessions[0].sessions == (7, 1)
    reasons = [a.fields["reason"] for a in planned.audit if a.sessions is None]
    assert reasons == ["revoked", "granted", "revoked"]
    assert sorted(e["template"] for e in planned.emails.values()) == [
        "access_ended",
        "access_ended",
        "welcome",
    ]
    assert KNOWN.memberships["mem_1"].status == "active"  # the loaded rows are not changed


def test_another_membership_or_a_team_role_keeps_the_sessions() -> None:
    """The end of one membership leaves the sessions alone while another one grants access
    at the same creator, or the user is a team admin there."""
    second = Loaded(
        creators=KNOWN.creators,
        memberships={**KNOWN.memberships, "mem_2": _row("mem_2", "active", row_id=11)},
        users=KNOWN.users,
    )
    assert plan(second, [_event("mem_1", "expired", 1)], CTX).sessions == {}
    admin = Loaded(
        creators=KNOWN.creators,
        memberships=KNOWN.memberships,
        users=KNOWN.users,
        admins=frozenset({("user_a", 1)}),
    )
    planned = plan(admin, [_event("mem_1", "expired", 1)], CTX)
    assert planned.sessions == {} and list(planned.stale) == [(7, 1)]


def test_holds_follow_policy_and_name_missing_rows() -> None:
    """A refund with the refund policy off holds nothing; a dispute holds, quietly (no email);
    a hold on a membership with no row is NotStored; a release lifts only its own reason."""
    refund = HoldEvent(
        "mem_1", "refunded", False, ChangeSource.WEBHOOK, policy="refund_revokes_access"
    )
    dispute = HoldEvent(
        "mem_1", "disputed", False, ChangeSource.WEBHOOK, policy="dispute_revokes_access"
    )
    missing = HoldEvent("mem_x", "payment_failed", False, ChangeSource.WEBHOOK)
    wrong = HoldEvent("mem_1", "payment_failed", True, ChangeSource.WEBHOOK)
    planned = plan(KNOWN, [refund, dispute, missing, wrong], CTX)
    assert planned.results[0] is None
    assert isinstance(planned.results[1], Change) and planned.results[1].revoked
    assert planned.results[2] == NotStored("mem_x") and planned.not_stored == ["mem_x"]
    assert planned.results[3] is None
    assert planned.memberships["mem_1"].access_hold == "disputed"
    assert planned.emails == {}


def test_a_receipt_reaches_a_user_created_earlier_in_the_plan() -> None:
    """The receipt of a payment goes to the address a membership event in the same plan
    stored on the new user."""
    events = [
        _event("mem_n", "active", 1, kind="membership.activated", user="user_n", email="n@x.io"),
        ReceiptEvent("pay_1", "receipt", None, "user_n", "biz_demo", "$10.00", "USD"),
    ]
    planned = plan(Loaded(creators={"biz_demo": DEMO}), events, CTX)
    assert planned.emails["receipt:pay_1"]["recipient"] == "n@x.io"
