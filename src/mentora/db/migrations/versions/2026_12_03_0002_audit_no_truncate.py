"""audit_event refuses TRUNCATE on PostgreSQL

The row triggers of 0001 refuse UPDATE and DELETE, but TRUNCATE fires no row trigger: it
emptied the trail in one statement. A statement trigger with the same function refuses it.
SQLite has no TRUNCATE (its `DELETE FROM` is already refused).

Revision ID: 0002
Revises: 0001
Create Date: 2026-12-03 17:45:00
"""

from collections.abc import Sequence

from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            "CREATE TRIGGER audit_event_no_truncate BEFORE TRUNCATE ON audit_event "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_event_append_only()"
        )


def downgrade() -> None:
    """Revert this migration."""
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP TRIGGER IF EXISTS audit_event_no_truncate ON audit_event")
