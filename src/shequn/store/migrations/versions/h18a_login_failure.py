"""Failed console logins in the store, so that every web worker counts the same ones (issue 18).

Revision ID: h18a
Revises: i8b
Create Date: 2026-12-04 20:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "h18a"
down_revision = "i8b"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "login_failure",
        sa.Column("id", sa.Integer(), nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("key", sa.String(length=200), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_login_failure_key", "login_failure", ["workspace_id", "key", "at_ms"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_login_failure_key", table_name="login_failure")
    op.drop_table("login_failure")
