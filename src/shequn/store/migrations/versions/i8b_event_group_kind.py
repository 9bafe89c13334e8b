"""The event log by group, kind and time: a group's messages over a window counted from the index alone (the
console's heatmap and trends), without reading each event's row to learn its kind.

Revision ID: i8b
Revises: i9a
Create Date: 2026-11-24 12:00:00
"""

from __future__ import annotations

from alembic import op

revision = "i8b"
down_revision = "i9a"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_event_group_kind_at", "event", ["group_id", "kind", "at_ms"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_event_group_kind_at", table_name="event")
