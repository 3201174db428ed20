"""creator profile from Whop: public route and logo

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 17:20:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the company's route and logo, read from Whop's company retrieve."""
    with op.batch_alter_table("creator", schema=None) as batch_op:
        batch_op.add_column(sa.Column("route", sa.String(length=200), nullable=True))
        batch_op.add_column(sa.Column("logo_url", sa.String(length=500), nullable=True))


def downgrade() -> None:
    """Drop the route and logo columns."""
    with op.batch_alter_table("creator", schema=None) as batch_op:
        batch_op.drop_column("logo_url")
        batch_op.drop_column("route")
