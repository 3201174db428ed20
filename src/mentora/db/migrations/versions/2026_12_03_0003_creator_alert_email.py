"""creator.alert_email: each creator's own address for alerts

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-03 18:05:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this migration."""
    with op.batch_alter_table("creator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("alert_email", sa.String(length=320), nullable=True))


def downgrade() -> None:
    """Revert this migration."""
    with op.batch_alter_table("creator", schema=None) as batch_op:
        batch_op.drop_column("alert_email")
