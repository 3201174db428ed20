"""a sync run names the creator it was for (NULL: every creator)

A run for one creator (its team's button, `creators add`, onboarding) is that creator's
business: other creators' pages must not list it (isolation, issue 16).

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-04 01:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add sync_run.creator_id (earlier runs stay NULL: they covered every creator)."""
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("creator_id", sa.Integer(), nullable=True))
        batch_op.create_foreign_key(
            "fk_sync_run_creator_id_creator", "creator", ["creator_id"], ["id"], ondelete="CASCADE"
        )


def downgrade() -> None:
    """Drop the column (runs for one creator then read as runs for all)."""
    with op.batch_alter_table("sync_run", schema=None) as batch_op:
        batch_op.drop_constraint("fk_sync_run_creator_id_creator", type_="foreignkey")
        batch_op.drop_column("creator_id")
