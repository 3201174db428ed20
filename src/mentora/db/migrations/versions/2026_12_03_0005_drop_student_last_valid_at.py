"""drop student.last_valid_at: written on every valid check, never read

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 21:15:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

import mentora.db.base

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Drop the write-only column (access_checked_at and access_level say what it meant)."""
    with op.batch_alter_table("student", schema=None) as batch_op:
        batch_op.drop_column("last_valid_at")


def downgrade() -> None:
    """Put the column back (empty)."""
    with op.batch_alter_table("student", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("last_valid_at", mentora.db.base.UTCDateTime(timezone=True), nullable=True)
        )
