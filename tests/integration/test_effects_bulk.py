"""Property: a batch of deliveries planned together ends exactly as the same deliveries
applied one at a time, in order (design: "Effects are planned, then written in bulk").

Random sequences over a small pool of memberships, users and creators (two enabled, one
disabled, and a company that is no creator), with duplicates (a delivery sent again under its
webhook id), reordering (`updated_at` going back and forth, ties included), holds from failed
payments, refunds and disputes and their lifting, deactivations and reactivations. Each
sequence runs twice on a fresh database: once through the batcher as one batch, once through
the one-at-a-time intake path. The final memberships, users, students, sessions, outbox rows,
audit rows, deliveries and answers must be the same. On SQLite and PostgreSQL.
"""

from __future__ import annotations

import asyncio
import json
import secrets
from collections.abc import Callable, Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, example, given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from structlog.testing import capture_logs

from mentora.clock import FrozenClock
from mentora.creators import ensure_configured_creator, ensure_creator
from mentora.db.models import (
    AuditEvent,
    Creator,
    Membership,
    OutboxMessage,
    Payment,
    Student,
    User,
    UserSession,
    WebhookDelivery,
)
from mentora.db.uow import transaction
from mentora.services import Services, build_services
from mentora.webhooks.batch import Batcher
from mentora.webhooks.envelope import parse_envelope
from mentora.webhooks.intake import store_and_apply
from mentora.webhooks.verify import VerifiedDelivery
from tests.support.env import make_settings
from tests.support.timeline import START, stamp
from tests.support.webhooks import event_body, membership_data

# (membership, user, company): two of user_a's memberships at one creator (does another still
# grant access?), a team admin (never revoked), a new user, a disabled creator, no creator.
POOL = {
    "mem_a1": ("user_a", "biz_demo"),
    "mem_a2": ("user_a", "biz_demo"),
    "mem_b1": ("user_b", "biz_two"),
    "mem_b2": ("user_b", "biz_demo"),
    "mem_c1": ("user_c", "biz_demo"),
    "mem_c2": ("user_c", "biz_off"),
    "mem_d1": ("user_d", "biz_unknown"),
}
# Weighted towards the memberships of users with live sessions, so that sessions end, come
# back and end again within one sequence.
CHOICES = ["mem_a1", "mem_a1", "mem_a2", "mem_b2", "mem_b2", "mem_b1", "mem_c1", "mem_c2", "mem_d1"]
STATUSES = ["active", "trialing", "past_due", "canceled", "expired", "completed"]

memberships = st.tuples(
    st.just("membership"),
    st.sampled_from(["membership.activated", "membership.updated", "membership.deactivated"]),
    st.sampled_from(CHOICES),
    st.sampled_from(STATUSES),
    st.integers(0, 4),  # minutes after the seeded state: ties and reorders
    st.booleans(),  # the payload carries the user's email
)
payments = st.tuples(
    st.just("payment"),
    st.sampled_from(["payment.failed", "payment.succeeded"]),
    st.sampled_from(CHOICES),
    st.integers(0, 2),
)
holds = st.tuples(
    st.sampled_from(["refund", "dispute"]),
    st.sampled_from(CHOICES),
    st.integers(0, 2),
    st.booleans(),  # True: the event that places the hold; False: the one that lifts it
)
duplicates = st.tuples(st.just("duplicate"), st.integers(0, 20))
sequences = st.lists(st.one_of(memberships, payments, holds, duplicates), min_size=1, max_size=12)


def _membership(step: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    _, kind, mem, status, minutes, with_email = step
    user, company = POOL[mem]
    data = membership_data(
        mem, status, updated_at=stamp(minutes=minutes), user_id=user, company_id=company
    )
    if with_email:
        data["user"] = {"id": user, "email": f"{user}@example.com"}
    return kind, data


def _payment(step: tuple[Any, ...]) -> tuple[str, dict[str, Any]]:
    _, kind, mem, n = step
    user, company = POOL[mem]
    data = {
        "id": f"pay_{mem}_{n}",
        "status": "paid" if kind == "payment.succeeded" else "open",
        "substatus": "succeeded" if kind == "payment.succeeded" else "failed",
        "membership_id": mem,
        "user_id": user,
        "company_id": company,
        "currency": "usd",
        "total": 10,
        "created_at": stamp(minutes=n),
    }
    return kind, data


def _hold(step: tuple[Any, ...], n: int) -> tuple[str, dict[str, Any]]:
    kind, mem, pay, places = step
    status = {
        ("refund", True): "succeeded",
        ("refund", False): "failed",
        ("dispute", True): "needs_response",
        ("dispute", False): "won",
    }[(kind, places)]
    data = {
        "id": f"{kind}_{n}",
        "status": status,
        "payment": {"id": f"pay_{mem}_{pay}", "membership": mem},
    }
    return f"{kind}.created", data


def deliveries(steps: list[tuple[Any, ...]]) -> list[tuple[str, bytes]]:
    """(webhook id, body) for each step; a duplicate repeats an earlier delivery exactly."""
    sent: list[tuple[str, bytes]] = []
    for n, step in enumerate(steps):
        if step[0] == "duplicate":
            if sent:
                sent.append(sent[step[1] % len(sent)])
            continue
        if step[0] == "membership":
            kind, data = _membership(step)
        elif step[0] == "payment":
            kind, data = _payment(step)
        else:
            kind, data = _hold(step, n)
        company = POOL[step[2] if step[0] in ("membership", "payment") else step[1]][1]
        sent.append((f"msg_{n}_{secrets.token_hex(3)}", event_body(kind, data, company_id=company)))
    return sent


async def _seed(services: Services) -> None:
    """Creators, two known users with students and live sessions at both creators (user_b a
    team admin at biz_two), and user_a's first membership, active."""
    await ensure_configured_creator(services, name="Demo Academy")
    now = services.clock.now()
    async with transaction(services.sessionmaker, write=True) as db:
        two = await ensure_creator(db, company_id="biz_two", name="Two", clock=services.clock)
        off = await ensure_creator(db, company_id="biz_off", name="Off", clock=services.clock)
        off.enabled = False
        demo = (
            await db.execute(select(Creator).where(Creator.whop_company_id == "biz_demo"))
        ).scalar_one()
        for name, email in (("user_a", "a@example.com"), ("user_b", None)):
            user = User(whop_user_id=name, email=email, created_at=now, updated_at=now)
            db.add(user)
            await db.flush()
            for creator in (demo, two):
                level = "admin" if (name, creator.id) == ("user_b", two.id) else "customer"
                db.add(
                    Student(
                        user_id=user.id,
                        creator_id=creator.id,
                        access_level=level,
                        access_checked_at=now,
                        created_at=now,
                    )
                )
                db.add(
                    UserSession(
                        token_hash=secrets.token_bytes(32),
                        user_id=user.id,
                        creator_id=creator.id,
                        created_at=now,
                        last_seen_at=now,
                        expires_at=now + timedelta(days=1),
                    )
                )
        data = membership_data("mem_a1", "active", updated_at=stamp(hours=-1), user_id="user_a")
        db.add(
            Membership(
                whop_membership_id="mem_a1",
                creator_id=demo.id,
                whop_company_id="biz_demo",
                whop_user_id="user_a",
                whop_product_id=data["product_id"],
                status="active",
                source_updated_at=START - timedelta(hours=1),
                created_at=now,
                updated_at=now,
            )
        )


def _rows(result: Any) -> list[str]:
    return sorted(json.dumps(list(row), default=str, sort_keys=True) for row in result)


async def _state(services: Services) -> dict[str, list[str]]:
    """Every row the effects touch, without ids and write times (sorted, comparable)."""
    async with services.sessionmaker() as db:
        m = Membership
        audit = [
            json.dumps(
                [e.kind, e.outcome, e.reason, e.actor, e.subject, e.creator_id, e.details],
                sort_keys=True,
                default=str,
            )
            for e in (await db.execute(select(AuditEvent))).scalars()
        ]
        return {
            "memberships": _rows(
                await db.execute(
                    select(
                        m.whop_membership_id,
                        m.creator_id,
                        m.whop_company_id,
                        m.whop_user_id,
                        m.status,
                        m.source_updated_at,
                        m.flagged,
                        m.access_hold,
                        m.updated_at,
                    )
                )
            ),
            "users": _rows(await db.execute(select(User.id, User.whop_user_id, User.email))),
            "students": _rows(
                await db.execute(
                    select(
                        Student.user_id,
                        Student.creator_id,
                        Student.access_level,
                        Student.access_checked_at,
                    )
                )
            ),
            "sessions": _rows(
                await db.execute(
                    select(
                        UserSession.user_id,
                        UserSession.creator_id,
                        UserSession.revoked_at,
                        UserSession.revoked_reason,
                    )
                )
            ),
            "outbox": _rows(
                await db.execute(
                    select(
                        OutboxMessage.dedupe_key,
                        OutboxMessage.kind,
                        OutboxMessage.template,
                        OutboxMessage.recipient,
                        OutboxMessage.subject,
                        OutboxMessage.body,
                    )
                )
            ),
            "payments": _rows(await db.execute(select(Payment.whop_payment_id, Payment.status))),
            "deliveries": _rows(
                await db.execute(
                    select(
                        WebhookDelivery.webhook_id,
                        WebhookDelivery.status,
                        WebhookDelivery.attempts,
                        WebhookDelivery.last_error,
                    )
                )
            ),
            "audit": sorted(audit),
        }


async def _one_by_one(services: Services, sent: list[tuple[str, bytes]]) -> list[str]:
    answers = []
    for webhook_id, body in sent:
        delivery = VerifiedDelivery(
            webhook_id=webhook_id, timestamp=START, body=body, scheme="standard"
        )
        answers.append(await store_and_apply(services, delivery, parse_envelope(body), {}))
    return answers


async def _as_one_batch(services: Services, sent: list[tuple[str, bytes]]) -> list[str]:
    batcher = Batcher(services, asyncio.get_running_loop())
    async with batcher._lock:  # every delivery queues behind this, then one batch takes all
        tasks = [
            asyncio.create_task(
                batcher.submit(
                    VerifiedDelivery(webhook_id=msg, timestamp=START, body=body, scheme="standard"),
                    parse_envelope(body),
                    {},
                )
            )
            for msg, body in sent
        ]
        while len(batcher._queue) < len(sent):
            await asyncio.sleep(0)
    return list(await asyncio.gather(*tasks))


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def fresh_database(
    request: pytest.FixtureRequest, tmp_path: Path, sqlite_template: Path
) -> Callable[[], str]:
    """A function that returns a clean, migrated database each time it is called."""
    counter: Iterator[int] = iter(range(10**6))

    def fresh() -> str:
        if request.param == "sqlite":
            target = tmp_path / f"run{next(counter)}.db"
            target.write_bytes(sqlite_template.read_bytes())
            return f"sqlite:///{target}"
        url: str = request.getfixturevalue("pg_template")
        request.getfixturevalue("pg_reset")()
        return url

    return fresh


def test_a_batch_ends_as_the_same_deliveries_one_by_one(
    fresh_database: Callable[[], str], tmp_path: Path
) -> None:
    """Random delivery sequences: one batch and one at a time leave the same rows, emails,
    audit rows and answers."""
    loop = asyncio.new_event_loop()
    tally = {"batched": 0, "revoked": 0, "emailed": 0}

    async def run(sent: list[tuple[str, bytes]], together: bool) -> tuple[Any, Any, bool]:
        config = make_settings(
            fresh_database(),
            mail_dir=str(tmp_path / "mail"),
            payment_failed_pauses_access="true",
            refund_revokes_access="true",
        )
        services = build_services(config, clock=FrozenClock(START))
        try:
            await _seed(services)
            apply = _as_one_batch if together else _one_by_one
            with capture_logs() as logs:
                answers = await apply(services, sent)
            split = any(entry["event"] == "webhook_batch_split" for entry in logs)
            return answers, await _state(services), split
        finally:
            await services.aclose()

    @settings(max_examples=30, deadline=None, suppress_health_check=list(HealthCheck))
    @given(steps=sequences)
    # Always tried: a session ended, access back, ended again, all in one batch (by a hold and
    # by statuses); and a hold on a membership created earlier in the same batch.
    @example(
        steps=[
            ("payment", "payment.failed", "mem_a1", 0),
            ("payment", "payment.succeeded", "mem_a1", 1),
            ("payment", "payment.failed", "mem_a1", 2),
        ]
    )
    @example(
        steps=[
            ("membership", "membership.deactivated", "mem_b2", "expired", 1, True),
            ("membership", "membership.activated", "mem_b2", "active", 2, True),
            ("membership", "membership.deactivated", "mem_b2", "canceled", 3, False),
            ("duplicate", 1),
        ]
    )
    @example(
        steps=[
            ("membership", "membership.activated", "mem_c1", "active", 0, True),
            ("dispute", "mem_c1", 0, True),
            ("payment", "payment.succeeded", "mem_c1", 0),
            ("dispute", "mem_c1", 0, False),
        ]
    )
    def check(steps: list[tuple[Any, ...]]) -> None:
        sent = deliveries(steps)
        if not sent:
            return
        batch_answers, batch_state, split = loop.run_until_complete(run(sent, together=True))
        alone_answers, alone_state, _ = loop.run_until_complete(run(sent, together=False))
        for table in alone_state:
            assert batch_state[table] == alone_state[table], table
        assert batch_answers == alone_answers
        if not split and len(sent) > 1:
            # A batch that really ran as one plan (a failed hold splits it: each alone).
            tally["batched"] += 1
            tally["revoked"] += any("membership_ended" in row for row in batch_state["sessions"])
            tally["emailed"] += len(batch_state["outbox"]) > 0

    try:
        check()
    finally:
        loop.close()
    # The examples reached what matters: real batches that ended sessions and queued emails.
    assert tally["batched"] >= 5 and tally["revoked"] >= 1 and tally["emailed"] >= 1, tally
