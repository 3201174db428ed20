"""creators as data: enabled flag and per-creator payment policies

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-03 22:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0006"
down_revision: str | None = "0005"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add `enabled` (existing creators stay enabled) and the nullable payment policies."""
    with op.batch_alter_table("creator", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("enabled", sa.Boolean(), nullable=False, server_default=sa.true())
        )
        batch_op.add_column(sa.Column("payment_failed_pauses_access", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("refund_revokes_access", sa.Boolean(), nullable=True))
        batch_op.add_column(sa.Column("dispute_revokes_access", sa.Boolean(), nullable=True))


def downgrade() -> None:
    """Drop the policies and the enabled flag."""
    with op.batch_alter_table("creator", schema=None) as batch_op:
        batch_op.drop_column("dispute_revokes_access")
        batch_op.drop_column("refund_revokes_access")
        batch_op.drop_column("payment_failed_pauses_access")
        batch_op.drop_column("enabled")
