"""Integration: deliveries that arrive together are stored and applied in one batch.

On SQLite and PostgreSQL, through the real route. Each test checks that a batch was really
formed (the batch-size histogram), then that every delivery ended exactly as it would have
alone: its own status, its own effect, its own audit row with its own request id.
"""

from __future__ import annotations

import asyncio
import gc
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select
from structlog.testing import capture_logs

from mentora.clock import FrozenClock, as_utc
from mentora.db.models import AuditEvent, Membership, OutboxMessage, WebhookDelivery
from mentora.metrics import REGISTRY
from mentora.services import Services
from mentora.webhooks.batch import Batcher
from mentora.webhooks.envelope import parse_envelope
from mentora.webhooks.errors import WebhookStoreUnavailable
from mentora.webhooks.verify import VerifiedDelivery
from tests.integration.test_webhook_intake import _broken_sessionmaker, count, membership
from tests.support.timeline import START, stamp
from tests.support.webhooks import WEBHOOK_PATH, event_body, membership_data, signed_headers


def _member(membership_id: str, status: str, at: str) -> dict[str, Any]:
    """A membership of its own user, with an email address for the queued emails."""
    user = f"user_{membership_id}"
    data = membership_data(membership_id, status, updated_at=at, user_id=user)
    data["user"] = {"id": user, "email": f"{user}@example.com"}
    return data


def _batched() -> float:
    """Deliveries that have gone through a batch of more than one, so far (this process)."""
    total = REGISTRY.get_sample_value("mentora_webhook_batch_size_sum") or 0.0
    alone = REGISTRY.get_sample_value("mentora_webhook_batch_size_bucket", {"le": "1.0"}) or 0.0
    return total - alone


async def _post_all(
    client: httpx.AsyncClient, clock: FrozenClock, events: list[tuple[str, str, dict[str, Any]]]
) -> list[httpx.Response]:
    """POST every (msg_id, type, data) at once."""
    posts = []
    for msg_id, event_type, data in events:
        body = event_body(event_type, data)
        headers = signed_headers(body, at=clock.now(), msg_id=msg_id)
        posts.append(client.post(WEBHOOK_PATH, content=body, headers=headers))
    return list(await asyncio.gather(*posts))


async def test_concurrent_mixed_deliveries_each_end_as_alone(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """New, updated, deactivated and repeated memberships plus an unknown type, all at once."""
    # Known memberships first, one at a time, so the burst below updates and ends them.
    for n in range(3):
        data = _member(f"mem_b{n}", "active", stamp(hours=-2))
        (response,) = await _post_all(client, clock, [(f"seed_{n}", "membership.activated", data)])
        assert response.json()["status"] == "processed"
    before = _batched()
    later = stamp(hours=-1)
    events = [
        ("new_1", "membership.activated", _member("mem_new1", "active", later)),
        (
            "new_2",
            "membership.activated",
            _member("mem_new2", "trialing", later),
        ),
        ("upd_0", "membership.updated", _member("mem_b0", "active", later)),
        ("end_1", "membership.deactivated", _member("mem_b1", "expired", later)),
        (
            "old_2",
            "membership.updated",
            _member("mem_b2", "expired", stamp(hours=-3)),
        ),
        ("dup", "membership.updated", _member("mem_new1", "active", later)),
        ("dup", "membership.updated", _member("mem_new1", "active", later)),
        ("unknown", "future.event", {"id": "x_1"}),
    ]
    responses = await _post_all(client, clock, events)
    assert _batched() > before, "no batch was formed"
    assert [r.status_code for r in responses] == [200] * len(events)
    by_id: dict[str, list[str]] = {}
    for (msg_id, _, _), response in zip(events, responses, strict=True):
        by_id.setdefault(msg_id, []).append(response.json()["status"])
    assert by_id == {
        "new_1": ["processed"],
        "new_2": ["processed"],
        "upd_0": ["processed"],
        "end_1": ["processed"],
        "old_2": ["processed"],  # older than the stored state: applied as stale, no change
        "dup": ["processed", "duplicate"],
        "unknown": ["ignored"],
    }
    statuses = {
        m: (row.status if (row := await membership(services, m)) else None)
        for m in ("mem_new1", "mem_new2", "mem_b0", "mem_b1", "mem_b2")
    }
    assert statuses == {
        "mem_new1": "active",
        "mem_new2": "trialing",
        "mem_b0": "active",
        "mem_b1": "expired",
        "mem_b2": "active",
    }
    assert await count(services, WebhookDelivery) == 3 + 7
    assert await count(services, WebhookDelivery, WebhookDelivery.processed_at.is_(None)) == 0
    # Stored as each ended: the batch claims rows as processed and corrects the others.
    async with services.sessionmaker() as db:
        stored_statuses = dict(
            (await db.execute(select(WebhookDelivery.webhook_id, WebhookDelivery.status))).all()
        )
    assert {k: v for k, v in stored_statuses.items() if not k.startswith("seed_")} == {
        msg_id: answers[0] for msg_id, answers in by_id.items()
    }
    assert await count(services, AuditEvent, AuditEvent.kind == "webhook_processed") == 3 + 7
    # old_2 is older than what is stored; dup repeats new_1's instant: both change nothing.
    assert await count(services, AuditEvent, AuditEvent.reason == "stale") == 2
    # Welcome for the two new members, "access ended" for mem_b1, all queued with the change.
    templates = await count(services, OutboxMessage, OutboxMessage.template == "welcome")
    assert templates == 3 + 2
    assert await count(services, OutboxMessage, OutboxMessage.template == "access_ended") == 1
    async with services.sessionmaker() as db:
        stored = (
            await db.execute(select(Membership).where(Membership.whop_membership_id == "mem_b0"))
        ).scalar_one()
    assert as_utc(stored.source_updated_at) == START - timedelta(hours=1)


async def test_failing_effect_in_a_batch_fails_only_its_own_delivery(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """One unusable payload in a burst: the batch splits, the rest are applied, it is failed."""
    later = stamp(hours=-1)
    events = [
        (
            f"good_{n}",
            "membership.activated",
            _member(f"mem_g{n}", "active", later),
        )
        for n in range(6)
    ]
    events.insert(3, ("bad", "membership.activated", {"id": "mem_bad"}))
    before = _batched()
    with capture_logs() as logs:
        responses = await _post_all(client, clock, events)
    assert _batched() > before, "no batch was formed"
    assert any(entry["event"] == "webhook_batch_split" for entry in logs)
    statuses = [r.json()["status"] for r in responses]
    assert statuses == ["processed"] * 3 + ["failed"] + ["processed"] * 3
    assert await count(services, Membership) == 6
    async with services.sessionmaker() as db:
        bad = (
            await db.execute(select(WebhookDelivery).where(WebhookDelivery.webhook_id == "bad"))
        ).scalar_one()
    assert bad.status == "failed" and bad.attempts == 1 and bad.next_attempt_at is not None
    assert await count(services, AuditEvent, AuditEvent.kind == "webhook_processed") == 6


async def test_batched_audit_rows_keep_each_request_id(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """Every `webhook_processed` row of a batch names the request that delivered it."""
    later = stamp(hours=-1)
    events = [
        (f"rid_{n}", "membership.updated", _member(f"mem_r{n}", "active", later)) for n in range(8)
    ]
    before = _batched()
    responses = await _post_all(client, clock, events)
    assert _batched() > before, "no batch was formed"
    sent = {
        msg_id: r.headers["x-request-id"]
        for (msg_id, _, _), r in zip(events, responses, strict=True)
    }
    async with services.sessionmaker() as db:
        rows = (
            await db.execute(
                select(AuditEvent.subject, AuditEvent.request_id).where(
                    AuditEvent.kind == "webhook_processed"
                )
            )
        ).all()
    assert dict(rows) == sent
    assert len(set(sent.values())) == len(events)


async def test_database_down_under_a_batch_gives_503_to_each_then_retries_land_once(
    client: httpx.AsyncClient, services: Services, clock: FrozenClock
) -> None:
    """A burst while the database is unreachable: every delivery 503 at once, without trying
    each alone (none acknowledged); Whop's retries then store and apply each exactly once."""
    later = stamp(hours=-1)
    events = [
        (f"down_{n}", "membership.activated", _member(f"mem_d{n}", "active", later))
        for n in range(6)
    ]
    working = services.sessionmaker
    services.sessionmaker = _broken_sessionmaker(services.settings.database_url)
    before = _batched()
    try:
        with capture_logs() as logs:
            down = await _post_all(client, clock, events)
    finally:
        services.sessionmaker = working
    assert _batched() > before, "no batch was formed"
    failed = [e for e in logs if e["event"] == "webhook_store_failed"]
    assert any(e.get("size", 1) > 1 for e in failed), "the batch was not failed as one"
    assert not any(e["event"] == "webhook_batch_split" for e in logs)
    assert [r.status_code for r in down] == [503] * len(events)
    assert await count(services, WebhookDelivery) == 0
    clock.advance(10)
    retried = await _post_all(client, clock, events + events)
    assert sorted(r.json()["status"] for r in retried) == ["duplicate"] * 6 + ["processed"] * 6
    assert await count(services, WebhookDelivery) == 6
    assert await count(services, Membership) == 6
    assert await count(services, AuditEvent, AuditEvent.kind == "membership_changed") == 6


async def _until(condition: Any, what: str) -> None:
    """Yield to the event loop until `condition()` holds (a deadline, not a sleep)."""
    deadline = asyncio.get_running_loop().time() + 5.0
    while not condition():
        assert asyncio.get_running_loop().time() < deadline, what
        await asyncio.sleep(0)


def _delivery(msg_id: str) -> tuple[VerifiedDelivery, Any]:
    body = event_body("membership.activated", _member(msg_id, "active", stamp(hours=-1)))
    delivery = VerifiedDelivery(webhook_id=msg_id, timestamp=START, body=body, scheme="standard")
    return delivery, parse_envelope(body)


async def _cancel_one_request_of_a_failing_batch(services: Services) -> None:
    """Two deliveries in one batch on a dead database; the second's request is cancelled while
    the batch runs. Returns with no reference left to either answer."""
    services.sessionmaker = _broken_sessionmaker(services.settings.database_url)
    batcher = Batcher(services, asyncio.get_running_loop())
    async with batcher._lock:  # both deliveries queue up behind a batch in progress
        first = asyncio.create_task(batcher.submit(*_delivery("gone_1"), {}))
        second = asyncio.create_task(batcher.submit(*_delivery("gone_2"), {}))
        await _until(lambda: len(batcher._queue) == 2, "the deliveries never queued")
    await _until(lambda: not batcher._queue, "no batch took them")  # `first` runs both
    second.cancel()
    with pytest.raises(WebhookStoreUnavailable):
        await first
    with pytest.raises(asyncio.CancelledError):
        await second


async def test_a_request_that_goes_away_leaves_no_unread_answer(services: Services) -> None:
    """Database down, two deliveries in one batch, the second's request cancelled while the
    batch runs: the first gets 503, and the second's failed answer is read, not left for
    asyncio to report as 'Future exception was never retrieved'."""
    loop = asyncio.get_running_loop()
    reported: list[dict[str, Any]] = []
    loop.set_exception_handler(lambda _loop, context: reported.append(context))
    try:
        await _cancel_one_request_of_a_failing_batch(services)
        gc.collect()  # an unread exception is reported when its future is collected
        await asyncio.sleep(0)  # let the loop run the done callbacks it scheduled
        gc.collect()
    finally:
        loop.set_exception_handler(None)
    assert reported == []


async def test_a_request_that_goes_away_before_its_batch_is_not_stored(
    services: Services,
) -> None:
    """Cancelled while still queued, a delivery leaves the queue unstored (no 2xx was sent,
    so Whop delivers it again) and the batch that follows holds only the others."""
    batcher = Batcher(services, asyncio.get_running_loop())
    async with batcher._lock:
        kept = asyncio.create_task(batcher.submit(*_delivery("kept_1"), {}))
        gone = asyncio.create_task(batcher.submit(*_delivery("gone_1"), {}))
        await _until(lambda: len(batcher._queue) == 2, "the deliveries never queued")
        gone.cancel()
        with pytest.raises(asyncio.CancelledError):
            await gone
        assert [item.delivery.webhook_id for item in batcher._queue] == ["kept_1"]
    assert await kept == "processed"
    assert await count(services, WebhookDelivery) == 1
