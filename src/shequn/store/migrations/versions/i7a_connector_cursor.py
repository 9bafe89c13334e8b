"""Connectors: where each resumes after a restart (sync token, update offset) and what it keeps between runs.

Revision ID: i7a
Revises: i8a
Create Date: 2026-11-24 09:00:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "i7a"
down_revision = "i8a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "connector_cursor",
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("connector", sa.String(length=32), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("value", sa.Text(), nullable=False),
        sa.Column("updated_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("workspace_id", "connector", "name"),
    )


def downgrade() -> None:
    op.drop_table("connector_cursor")
