"""Staff: console users linked to their chat identities and to the communities they serve (issue 20, the inbox).

Revision ID: inbox20_a
Revises: send19_a
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "inbox20_a"
down_revision = "send19_a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "staff_identity",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("platform_id", sa.String(length=200), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.ForeignKeyConstraint(["user_id"], ["web_user.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("workspace_id", "platform", "platform_id"),
    )
    op.create_index("ix_staff_identity_user_id", "staff_identity", ["user_id"], unique=False)
    op.create_table(
        "staff_community",
        sa.Column("user_id", sa.Integer(), nullable=False),
        sa.Column("community_id", sa.Integer(), nullable=False),
        sa.Column("created_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["web_user.id"]),
        sa.ForeignKeyConstraint(["community_id"], ["community.id"]),
        sa.PrimaryKeyConstraint("user_id", "community_id"),
    )


def downgrade() -> None:
    op.drop_table("staff_community")
    op.drop_index("ix_staff_identity_user_id", table_name="staff_identity")
    op.drop_table("staff_identity")
