"""a session belongs to a user: user_session.creator_id becomes optional

Access is decided for the creator of each request's path, never from the session's row;
creator_id only records where the session began (audit rows, the students page's last
seen). Existing sessions keep their value and keep working.

Revision ID: 0007
Revises: 0006
Create Date: 2026-12-04 00:00:00
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Let a session have no creator."""
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.alter_column("creator_id", existing_type=sa.Integer(), nullable=True)


def downgrade() -> None:
    """Require a creator again; sessions without one end (their users sign in again)."""
    op.execute("DELETE FROM user_session WHERE creator_id IS NULL")
    with op.batch_alter_table("user_session", schema=None) as batch_op:
        batch_op.alter_column("creator_id", existing_type=sa.Integer(), nullable=False)
