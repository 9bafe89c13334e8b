"""The event log's unique ids as a named unique index (``ux_event_uid``) instead of a table constraint, so that a
big import can build it once at the end instead of row by row (``store/events.py``, ``BulkLoad``).

SQLite cannot drop a table constraint: the table is rebuilt (rows, seqs and indexes kept). PostgreSQL swaps the
constraint for the index.

Revision ID: p1a
Revises: i7a
Create Date: 2026-11-23 21:30:00
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "p1a"
down_revision = "i7a"
branch_labels = None
depends_on = None

_COLUMNS = "seq, workspace_id, uid, kind, at_ms, platform, group_id, person_id, payload, ingested_ms"


def _event_table(name: str, *, unique: bool) -> None:
    op.create_table(
        name,
        sa.Column("seq", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True, nullable=False),
        sa.Column("workspace_id", sa.Integer(), nullable=False),
        sa.Column("uid", sa.String(length=64), nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("at_ms", sa.BigInteger(), nullable=False),
        sa.Column("platform", sa.String(length=32), nullable=False),
        sa.Column("group_id", sa.Integer(), nullable=True),
        sa.Column("person_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=True),
        sa.Column("payload", sa.Text(), nullable=False),
        sa.Column("ingested_ms", sa.BigInteger(), nullable=False),
        sa.ForeignKeyConstraint(["group_id"], ["chat_group.id"]),
        sa.ForeignKeyConstraint(["person_id"], ["person.id"]),
        sa.ForeignKeyConstraint(["workspace_id"], ["workspace.id"]),
        sa.PrimaryKeyConstraint("seq"),
        *([sa.UniqueConstraint("workspace_id", "uid")] if unique else []),
    )


def _rebuild_sqlite(*, unique_constraint: bool) -> None:
    _event_table("_event_new", unique=unique_constraint)
    op.execute(f"INSERT INTO _event_new ({_COLUMNS}) SELECT {_COLUMNS} FROM event")
    op.drop_table("event")
    op.rename_table("_event_new", "event")
    op.create_index("ix_event_group_at", "event", ["group_id", "at_ms"], unique=False)
    op.create_index("ix_event_person_id", "event", ["person_id"], unique=False)


def upgrade() -> None:
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(unique_constraint=False)
    else:
        op.drop_constraint("event_workspace_id_uid_key", "event", type_="unique")
    op.create_index("ux_event_uid", "event", ["workspace_id", "uid"], unique=True)


def downgrade() -> None:
    op.drop_index("ux_event_uid", table_name="event")
    if op.get_bind().dialect.name == "sqlite":
        _rebuild_sqlite(unique_constraint=True)
    else:
        op.create_unique_constraint("event_workspace_id_uid_key", "event", ["workspace_id", "uid"])
