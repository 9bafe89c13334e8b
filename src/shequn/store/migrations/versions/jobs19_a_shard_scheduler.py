"""The scheduler's cursor per shard of a workspace: with workers, each shard's lease holder runs its jobs (issue 19).

Revision ID: jobs19_a
Revises: inbox20_a
Create Date: 2026-12-04 23:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "jobs19_a"
down_revision = "inbox20_a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "scheduler_shard_cursor",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("shard", sa.Integer(), nullable=False),
        sa.Column("last_ms", sa.BigInteger(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "shard"),
    )


def downgrade() -> None:
    op.drop_table("scheduler_shard_cursor")
