"""The bulk write path's cost does not grow with the batch: a batch of new-member activations
executes the same, small number of SQL statements whether it holds 8 deliveries or 32.

Counted on the real engine (`before_cursor_execute`: every statement the driver runs, an
executemany counting once), on SQLite and PostgreSQL, through the batcher as intake uses it.
"""

from __future__ import annotations

import asyncio
from typing import Any

from sqlalchemy import event, func, select

from mentora.clock import as_utc
from mentora.db.models import Membership, OutboxMessage, Student, User, WebhookDelivery
from mentora.services import Services
from mentora.webhooks.batch import Batcher
from mentora.webhooks.envelope import parse_envelope
from mentora.webhooks.verify import VerifiedDelivery
from tests.support.timeline import START, stamp
from tests.support.webhooks import event_body, membership_data

# What one batch of new members costs, whatever its size (PostgreSQL: 9): claim (stored as
# processed, so deliveries that end so need no outcome UPDATE), creators, the plan's reads
# (memberships with their users' others, locked; users with their roles), the writes of
# memberships, users, students, outbox, audit (the plan's rows and the deliveries'
# `webhook_processed` rows together). SQLite counts its BEGIN IMMEDIATE too: 10.
MAX_STATEMENTS = 10


def _activation(prefix: str, n: int) -> tuple[VerifiedDelivery, Any]:
    user = f"user_{prefix}{n}"
    data = membership_data(f"mem_{prefix}{n}", "active", updated_at=stamp(hours=-1), user_id=user)
    data["user"] = {"id": user, "email": f"{user}@example.com"}
    body = event_body("membership.activated", data)
    delivery = VerifiedDelivery(
        webhook_id=f"msg_{prefix}{n}", timestamp=START, body=body, scheme="standard"
    )
    return delivery, parse_envelope(body)


async def _statements_for_batch(services: Services, prefix: str, size: int) -> int:
    """Run `size` new-member activations as one batch; the statements it executed."""
    batcher = Batcher(services, asyncio.get_running_loop())
    count = 0

    def counted(*_: Any) -> None:
        nonlocal count
        count += 1

    engine = services.engine.sync_engine
    async with batcher._lock:  # every delivery queues behind this, then one batch takes all
        tasks = [
            asyncio.create_task(batcher.submit(*_activation(prefix, n), {})) for n in range(size)
        ]
        while len(batcher._queue) < size:
            await asyncio.sleep(0)
        event.listen(engine, "before_cursor_execute", counted)
    try:
        answers = await asyncio.gather(*tasks)
    finally:
        event.remove(engine, "before_cursor_execute", counted)
    assert answers == ["processed"] * size
    return count


async def test_a_batch_of_new_members_costs_a_fixed_number_of_statements(
    services: Services,
) -> None:
    """8 and 32 new members cost the same statements, at most MAX_STATEMENTS, and every one of
    them is a member with a user, a student row and a welcome email, its delivery stored as
    processed at the batch's time."""
    small = await _statements_for_batch(services, "s", 8)
    large = await _statements_for_batch(services, "l", 32)
    assert small == large <= MAX_STATEMENTS, (small, large)
    async with services.sessionmaker() as db:
        for model in (Membership, User, Student, OutboxMessage):
            assert await db.scalar(select(func.count()).select_from(model)) == 40, model
        ended = (
            await db.execute(select(WebhookDelivery.status, WebhookDelivery.processed_at))
        ).all()
    assert len(ended) == 40
    assert {(status, as_utc(at)) for status, at in ended} == {("processed", services.clock.now())}
