"""W11: pruning deletes exactly the finished deliveries older than the retention, and keeps
recent ones and every failed or dead one whatever its age."""

from __future__ import annotations

from datetime import timedelta

from sqlalchemy import select

from mentora.db.engine import make_engine, make_sessionmaker
from mentora.db.models import WebhookDelivery
from mentora.db.uow import transaction
from mentora.webhooks import store
from tests.support.timeline import START

KEEP_DAYS = 30

# webhook_id -> (status, age in days): the cutoff is START - 30 days exactly.
ROWS = {
    "old_processed": ("processed", 31),
    "old_ignored": ("ignored", 40),
    "old_flagged": ("flagged", 30.5),
    "old_failed": ("failed", 90),
    "old_dead": ("dead", 90),
    "old_received": ("received", 90),
    "recent_processed": ("processed", 29),
    "edge_processed": ("processed", 30),
}
DELETED = {"old_processed", "old_ignored", "old_flagged"}


async def test_w11_prune_deletes_old_finished_deliveries_only(database_url: str) -> None:
    """Old processed/ignored/flagged rows go and are counted; the rest stay."""
    engine = make_engine(database_url)
    sessionmaker = make_sessionmaker(engine)
    try:
        async with transaction(sessionmaker, write=True) as db:
            for webhook_id, (status, age) in ROWS.items():
                db.add(
                    WebhookDelivery(
                        webhook_id=webhook_id,
                        event_type="membership.activated",
                        body="{}",
                        headers={},
                        status=status,
                        received_at=START - timedelta(days=age),
                    )
                )
        async with transaction(sessionmaker, write=True) as db:
            deleted = await store.prune(db, now=START, keep_days=KEEP_DAYS)
        async with transaction(sessionmaker) as db:
            left = set((await db.scalars(select(WebhookDelivery.webhook_id))).all())
    finally:
        await engine.dispose()
    assert deleted == len(DELETED)
    assert left == set(ROWS) - DELETED
