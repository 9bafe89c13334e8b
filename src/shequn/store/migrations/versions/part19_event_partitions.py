"""(PostgreSQL) The event log partitioned by month of its event time, and the table of logged ids (issue 19).

A unique index on a partitioned table must contain the partition key, so ``(workspace_id, uid)`` can no longer be
unique on ``event``: the ids move to ``event_uid`` (one row per logged id, written first, ``ON CONFLICT DO NOTHING
RETURNING`` says which ids are new) and ``event`` keeps a plain index on them. ``event_archive`` lists the months
exported to Parquet and dropped (``shequn log archive``). Rows and seqs are kept; the seq sequence moves to the new
table. SQLite: nothing changes.

Revision ID: part19_a
Revises: jobs19_a
Create Date: 2026-12-04 23:40:00
"""

from __future__ import annotations

import time

from alembic import op

revision = "part19_a"
down_revision = "jobs19_a"
branch_labels = None
depends_on = None

_COLUMNS = "seq, workspace_id, uid, kind, at_ms, platform, group_id, person_id, payload, ingested_ms"


def upgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    from shequn.store.partitions import ensure_partitions

    seq_name = bind.exec_driver_sql("SELECT pg_get_serial_sequence('event', 'seq')").scalar_one()
    op.execute("ALTER TABLE event RENAME TO event_old")
    for name in ("ux_event_uid", "ix_event_group_at", "ix_event_group_kind_at", "ix_event_person_id"):
        op.execute(f"ALTER INDEX IF EXISTS {name} RENAME TO {name}_old")
    op.execute(f"ALTER SEQUENCE {seq_name} OWNED BY NONE")
    op.execute(
        f"""CREATE TABLE event (
            seq BIGINT NOT NULL DEFAULT nextval('{seq_name}'),
            workspace_id INTEGER NOT NULL REFERENCES workspace (id),
            uid VARCHAR(64) NOT NULL,
            kind VARCHAR(32) NOT NULL,
            at_ms BIGINT NOT NULL,
            platform VARCHAR(32) NOT NULL,
            group_id INTEGER REFERENCES chat_group (id),
            person_id BIGINT REFERENCES person (id),
            payload TEXT NOT NULL,
            ingested_ms BIGINT NOT NULL,
            PRIMARY KEY (seq, at_ms)
        ) PARTITION BY RANGE (at_ms)"""
    )
    op.execute(f"ALTER SEQUENCE {seq_name} OWNED BY event.seq")
    op.execute("CREATE TABLE event_default PARTITION OF event DEFAULT")
    op.execute("CREATE INDEX ix_event_uid ON event (workspace_id, uid)")
    op.execute("CREATE INDEX ix_event_group_at ON event (group_id, at_ms)")
    op.execute("CREATE INDEX ix_event_group_kind_at ON event (group_id, kind, at_ms)")
    op.execute("CREATE INDEX ix_event_person_id ON event (person_id)")
    op.execute(
        "CREATE TABLE event_uid (workspace_id INTEGER NOT NULL, uid VARCHAR(64) NOT NULL,"
        " PRIMARY KEY (workspace_id, uid))"
    )
    op.execute(
        "CREATE TABLE event_archive (month VARCHAR(7) PRIMARY KEY, path TEXT NOT NULL, rows BIGINT NOT NULL,"
        " min_seq BIGINT NOT NULL, max_seq BIGINT NOT NULL, archived_ms BIGINT NOT NULL)"
    )
    op.execute(f"INSERT INTO event ({_COLUMNS}) SELECT {_COLUMNS} FROM event_old")
    op.execute("INSERT INTO event_uid (workspace_id, uid) SELECT workspace_id, uid FROM event_old")
    op.execute("DROP TABLE event_old")
    # The months the old rows fall in and the next three get their own partitions (rows move out of the default).
    ensure_partitions(bind, now_ms=int(time.time() * 1000), ahead=3)


def downgrade() -> None:
    bind = op.get_bind()
    if bind.dialect.name != "postgresql":
        return
    seq_name = bind.exec_driver_sql("SELECT pg_get_serial_sequence('event', 'seq')").scalar_one()
    op.execute("ALTER TABLE event RENAME TO event_part")
    for name in ("ix_event_uid", "ix_event_group_at", "ix_event_group_kind_at", "ix_event_person_id"):
        op.execute(f"ALTER INDEX {name} RENAME TO {name}_part")
    op.execute(f"ALTER SEQUENCE {seq_name} OWNED BY NONE")
    op.execute(
        f"""CREATE TABLE event (
            seq BIGINT NOT NULL DEFAULT nextval('{seq_name}') PRIMARY KEY,
            workspace_id INTEGER NOT NULL REFERENCES workspace (id),
            uid VARCHAR(64) NOT NULL,
            kind VARCHAR(32) NOT NULL,
            at_ms BIGINT NOT NULL,
            platform VARCHAR(32) NOT NULL,
            group_id INTEGER REFERENCES chat_group (id),
            person_id BIGINT REFERENCES person (id),
            payload TEXT NOT NULL,
            ingested_ms BIGINT NOT NULL
        )"""
    )
    op.execute(f"ALTER SEQUENCE {seq_name} OWNED BY event.seq")
    op.execute(f"INSERT INTO event ({_COLUMNS}) SELECT {_COLUMNS} FROM event_part")
    op.execute("DROP TABLE event_part CASCADE")
    op.execute("DROP TABLE event_uid")
    op.execute("DROP TABLE event_archive")
    op.execute("CREATE UNIQUE INDEX ux_event_uid ON event (workspace_id, uid)")
    op.execute("CREATE INDEX ix_event_group_at ON event (group_id, at_ms)")
    op.execute("CREATE INDEX ix_event_group_kind_at ON event (group_id, kind, at_ms)")
    op.execute("CREATE INDEX ix_event_person_id ON event (person_id)")
