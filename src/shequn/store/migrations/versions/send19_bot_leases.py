"""Bot-account leases and the sends counted by every sender process (issue 19: senders by bot account).

Revision ID: send19_a
Revises: scale_a
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "send19_a"
down_revision = "scale_a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "bot_lease",
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("account", sa.String(length=200), nullable=False),
        sa.Column("holder", sa.String(length=200), nullable=True),
        sa.Column("expires_ms", sa.BigInteger(), nullable=False),
        sa.Column("generation", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("platform", "account"),
    )
    op.create_table(
        "send_mark",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("bot", sa.String(length=200), nullable=False),
        sa.Column("chat", sa.String(length=255), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_send_mark_platform_at", "send_mark", ["platform", "at_ms"])


def downgrade() -> None:
    op.drop_index("ix_send_mark_platform_at", table_name="send_mark")
    op.drop_table("send_mark")
    op.drop_table("bot_lease")
