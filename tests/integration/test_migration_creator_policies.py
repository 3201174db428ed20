"""Migration 0006: creators that existed before it stay enabled and follow the settings'
payment policies (NULL), and it downgrades cleanly; on SQLite (batch) and PostgreSQL."""

from __future__ import annotations

from alembic import command
from sqlalchemy import create_engine, pool, text

from mentora.db.engine import sync_url
from mentora.db.migrate import alembic_config, current_revision, upgrade
from tests.support.timeline import START


def test_existing_creators_stay_enabled_with_default_policies(database_url: str) -> None:
    """Down to 0005, a creator row written there, up to head: `enabled` is true and the three
    policies are NULL (the settings decide, as before)."""
    engine = create_engine(sync_url(database_url), poolclass=pool.NullPool)
    try:
        command.downgrade(alembic_config(database_url), "0005")
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM creator"))
            conn.execute(
                text(
                    "INSERT INTO creator (whop_company_id, name, created_at)"
                    " VALUES ('biz_before', 'Before', :at)"
                ),
                {"at": START.replace(tzinfo=None)},
            )
        upgrade(database_url)
        assert current_revision(database_url) == "0008"
        with engine.connect() as conn:
            row = conn.execute(
                text(
                    "SELECT enabled, payment_failed_pauses_access, refund_revokes_access,"
                    " dispute_revokes_access FROM creator WHERE whop_company_id = 'biz_before'"
                )
            ).one()
        assert (bool(row[0]), row[1], row[2], row[3]) == (True, None, None, None)
    finally:
        upgrade(database_url)
        with engine.begin() as conn:
            conn.execute(text("DELETE FROM creator"))
        engine.dispose()
