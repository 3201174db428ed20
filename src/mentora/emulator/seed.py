"""The demo world: two companies, their products and experiences, and users in every role."""

from __future__ import annotations

from datetime import datetime

from mentora.emulator.config import DEMO
from mentora.emulator.state import EmulatorState


def seed_demo(state: EmulatorState, now: datetime) -> None:
    """Create the demo data; insertion order puts the demo member first on the sign-in page."""
    state.add_user(
        id=DEMO.member_user_id,
        username="ada",
        name="Ada Member",
        email="ada@example.test",
        now=now,
    )
    state.add_user(
        id=DEMO.guest_user_id,
        username="grace",
        name="Grace Guest",
        email="grace@example.test",
        now=now,
    )
    state.add_user(
        id=DEMO.creator_user_id,
        username="cleo",
        name="Cleo Creator",
        email="cleo@example.test",
        now=now,
    )
    state.add_user(
        id=DEMO.other_member_user_id,
        username="otto",
        name="Otto Other",
        email="otto@example.test",
        now=now,
    )
    state.add_company(
        id=DEMO.company_id,
        name=DEMO.company_name,
        admin_user_ids=[DEMO.creator_user_id],
        now=now,
        logo_url=DEMO.company_logo_url,
    )
    state.add_product(
        id=DEMO.product_id,
        company_id=DEMO.company_id,
        title=DEMO.product_title,
        plan_id=DEMO.plan_id,
        price="29.00",
        now=now,
    )
    state.add_membership(
        id=DEMO.member_membership_id,
        user_id=DEMO.member_user_id,
        product_id=DEMO.product_id,
        status="active",
        now=now,
    )
    # A second creator's school, so multi-tenant code has something to keep apart.
    state.add_company(
        id=DEMO.other_company_id, name=DEMO.other_company_name, admin_user_ids=[], now=now
    )
    state.add_product(
        id=DEMO.other_product_id,
        company_id=DEMO.other_company_id,
        title="Other School Pass",
        plan_id=DEMO.other_plan_id,
        price="15.00",
        now=now,
    )
    state.add_membership(
        id=DEMO.other_membership_id,
        user_id=DEMO.other_member_user_id,
        product_id=DEMO.other_product_id,
        status="active",
        now=now,
    )
    _seed_second_school_people(state, now)


def _seed_second_school_people(state: EmulatorState, now: datetime) -> None:
    """Other School's owner, and a student of both schools (one account, many creators)."""
    state.add_user(
        id=DEMO.other_admin_user_id,
        username="olga",
        name="Olga Owner",
        email="olga@example.test",
        now=now,
    )
    state.companies[DEMO.other_company_id].admin_user_ids.append(DEMO.other_admin_user_id)
    state.add_user(
        id=DEMO.both_member_user_id,
        username="bea",
        name="Bea Both",
        email="bea@example.test",
        now=now,
    )
    for membership_id, product_id in (
        (DEMO.both_demo_membership_id, DEMO.product_id),
        (DEMO.both_other_membership_id, DEMO.other_product_id),
    ):
        state.add_membership(
            id=membership_id,
            user_id=DEMO.both_member_user_id,
            product_id=product_id,
            status="active",
            now=now,
        )


def seed_demo_experiences(state: EmulatorState, now: datetime, *, app_id: str) -> None:
    """One experience per demo company, where Whop runs the app (`/experiences/{exp_id}`)."""
    state.add_experience(
        id=DEMO.experience_id,
        company_id=DEMO.company_id,
        name=DEMO.experience_name,
        app_id=app_id,
        now=now,
    )
    state.add_experience(
        id=DEMO.other_experience_id,
        company_id=DEMO.other_company_id,
        name=DEMO.other_experience_name,
        app_id=app_id,
        now=now,
    )
