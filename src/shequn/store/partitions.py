"""(PostgreSQL) The event log's monthly partitions and its archive of exported months (issue 19).

How it works:
    ``event`` is partitioned by range of ``at_ms`` (the event's time, UTC): one partition per calendar month
    (``event_pYYYYMM``) and a default partition for rows no month partition takes (history imported before its month
    had a partition, a clock far off). :func:`ensure_partitions` creates the next months and gives every month found
    in the default its own partition, moving its rows there (a new table filled, then attached: PostgreSQL refuses
    to attach a range the default still holds rows of).

    :func:`archive` writes each closed month (before the current one) to ``event-YYYY-MM.parquet`` with every column,
    reads the file back and compares its row count and seq range with the partition's, and only then detaches and
    drops the partition and records the file in ``event_archive``; one transaction per month. The ids stay in
    ``event_uid``: an archived event sent again is still a duplicate. Readers of the whole log (replay, catch-up,
    the analytics snapshot) read the archived files first through :func:`archived`.

Things to keep in mind:
    * Time by UTC month; "closed" means before the current UTC month.
    * A late event for a month already archived goes to the default partition and stays in the hot log.
    * SQLite has none of this: every function here is for PostgreSQL only.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Connection, text

from shequn.domain import UserError
from shequn.i18n import t
from shequn.store.shards import _COMMUNITY as COMMUNITY  # the same routing as the lag shequn status shows
from shequn.store.shards import _ROUTED as ROUTED
from shequn.store.shards import shard_sql

COLUMNS = ("seq", "workspace_id", "uid", "kind", "at_ms", "platform", "group_id", "person_id", "payload", "ingested_ms")
_NAME = re.compile(r"^event_p(\d{4})(\d{2})$")
_MONTH = re.compile(r"^(\d{4})-(\d{2})$")
Month = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Archived:
    """One month exported to Parquet and dropped from the database."""

    month: str  # YYYY-MM
    path: str
    rows: int
    min_seq: int
    max_seq: int


def month_of_ms(ms: int) -> Month:
    d = datetime.fromtimestamp(ms / 1000, UTC)
    return d.year, d.month


def add_months(m: Month, n: int) -> Month:
    k = m[0] * 12 + (m[1] - 1) + n
    return k // 12, k % 12 + 1


def month_start_ms(m: Month) -> int:
    return int(datetime(m[0], m[1], 1, tzinfo=UTC).timestamp() * 1000)


def label(m: Month) -> str:
    return f"{m[0]:04d}-{m[1]:02d}"


def parse_month(text: str, option: str = "--before") -> Month:
    """``YYYY-MM`` as (year, month); a clear error otherwise."""
    found = _MONTH.match(text.strip())
    if not found or not 1 <= int(found.group(2)) <= 12 or int(found.group(1)) < 1970:
        raise UserError(t("log.bad_month", None, option=option, value=text), exit_code=2)
    return int(found.group(1)), int(found.group(2))


def is_partitioned(conn: Connection) -> bool:
    """Whether this database's log is partitioned (PostgreSQL after revision part19_a)."""
    if conn.dialect.name != "postgresql":
        return False
    return bool(
        conn.exec_driver_sql(
            "SELECT 1 FROM pg_partitioned_table p JOIN pg_class c ON c.oid = p.partrelid"
            " WHERE c.relname = 'event' AND c.relnamespace = 'public'::regnamespace"
        ).first()
    )


def partitions(conn: Connection) -> list[Month]:
    """The month partitions attached to ``event``, oldest first."""
    names = conn.exec_driver_sql(
        "SELECT c.relname FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid"
        " WHERE i.inhparent = 'event'::regclass"
    ).scalars()
    found = [_NAME.match(n) for n in names]
    return sorted((int(f.group(1)), int(f.group(2))) for f in found if f)


def _create(conn: Connection, m: Month) -> None:
    """Create month ``m``'s partition, moving its rows out of the default partition first."""
    name, lo, hi = f"event_p{m[0]:04d}{m[1]:02d}", month_start_ms(m), month_start_ms(add_months(m, 1))
    conn.exec_driver_sql(f"CREATE TABLE {name} (LIKE event INCLUDING DEFAULTS INCLUDING CONSTRAINTS)")
    conn.exec_driver_sql(f"ALTER TABLE {name} ADD CONSTRAINT {name}_range CHECK (at_ms >= {lo} AND at_ms < {hi})")
    conn.exec_driver_sql(
        f"WITH gone AS (DELETE FROM event_default WHERE at_ms >= {lo} AND at_ms < {hi} RETURNING *)"
        f" INSERT INTO {name} SELECT * FROM gone"
    )
    # The CHECK lets ATTACH skip scanning the new table; it is redundant afterwards.
    conn.exec_driver_sql(f"ALTER TABLE event ATTACH PARTITION {name} FOR VALUES FROM ({lo}) TO ({hi})")
    conn.exec_driver_sql(f"ALTER TABLE {name} DROP CONSTRAINT {name}_range")


def ensure_partitions(conn: Connection, *, now_ms: int, ahead: int = 3) -> list[str]:
    """Create the partitions of the current month and the ``ahead`` next ones, and of every month the default
    partition holds rows of (except months already archived); return the months created (``YYYY-MM``)."""
    have = set(partitions(conn))
    done = {_month(a.month) for a in archived(conn)}
    now = month_of_ms(now_ms)
    want = {add_months(now, i) for i in range(ahead + 1)}
    for (lo_ms,) in conn.exec_driver_sql(
        "SELECT DISTINCT date_trunc('month', to_timestamp(at_ms / 1000.0) AT TIME ZONE 'UTC') FROM event_default"
    ):
        want.add((lo_ms.year, lo_ms.month))
    created = []
    for m in sorted(want - have - done):
        if m[0] >= 1970:
            _create(conn, m)
            created.append(label(m))
    return created


def _month(text: str) -> Month:
    return int(text[:4]), int(text[5:7])


def archived(conn: Connection) -> list[Archived]:
    """The months exported and dropped, oldest first (none on SQLite or before revision part19_a)."""
    if conn.dialect.name != "postgresql":
        return []
    rows = conn.exec_driver_sql("SELECT month, path, rows, min_seq, max_seq FROM event_archive ORDER BY month")
    return [Archived(m, p, int(r), int(lo), int(hi)) for m, p, r, lo, hi in rows]


def check_archive(conn: Connection, before: Month, folder: Path, *, now_ms: int) -> list[Month]:
    """The months ``archive`` would export, or a clear error (nothing changed)."""
    if not is_partitioned(conn):
        raise UserError(t("log.not_partitioned", None), exit_code=2)
    current = month_of_ms(now_ms)
    if before > current:
        raise UserError(t("log.open_month", None, before=label(before), current=label(current)), exit_code=2)
    if not folder.is_dir():
        raise UserError(t("log.no_folder", None, path=str(folder)), exit_code=2)
    if not os.access(folder, os.W_OK):
        raise UserError(t("log.folder_readonly", None, path=str(folder)), exit_code=2)
    months = [m for m in partitions(conn) if m < before]
    for m in months:
        if (folder / file_name(m)).exists():  # another database's archive, or one this database no longer lists
            raise UserError(t("log.file_exists", None, path=str(folder / file_name(m))), exit_code=2)
    return months


def file_name(m: Month) -> str:
    return f"event-{label(m)}.parquet"


def export_month(conn: Connection, m: Month, folder: Path) -> Archived:
    """Write month ``m``'s partition to Parquet, check the file read back, detach and drop the partition, record
    the file. The caller commits; on an error the file is removed and nothing is dropped."""
    import pyarrow as pa
    import pyarrow.compute as pc
    import pyarrow.parquet as pq

    name = f"event_p{m[0]:04d}{m[1]:02d}"
    path = folder.resolve() / file_name(m)
    tmp = path.with_name(path.name + ".part")
    schema = pa.schema([
        ("seq", pa.int64()), ("workspace_id", pa.int32()), ("uid", pa.string()), ("kind", pa.string()),
        ("at_ms", pa.int64()), ("platform", pa.string()), ("group_id", pa.int32()), ("person_id", pa.int64()),
        ("payload", pa.string()), ("ingested_ms", pa.int64()),
    ])  # fmt: skip
    # Nobody writes a closed month's rows while it is exported (a late event would go in between): lock it.
    conn.exec_driver_sql(f"LOCK TABLE {name} IN SHARE MODE")
    waiting = unprocessed(conn, name)
    if waiting:
        raise UserError(t("log.unprocessed", None, month=label(m), events=waiting), exit_code=2)
    count, lo, hi = conn.exec_driver_sql(f"SELECT count(*), min(seq), max(seq) FROM {name}").one()
    result = conn.exec_driver_sql(
        f"SELECT {', '.join(COLUMNS)} FROM {name} ORDER BY seq", execution_options={"yield_per": 50_000}
    )
    try:
        with pq.ParquetWriter(tmp, schema, compression="zstd") as writer:
            for part in result.partitions():
                cols = list(zip(*part, strict=True))
                writer.write_table(pa.table(dict(zip(COLUMNS, cols, strict=True)), schema=schema))
        back = pq.read_table(tmp, columns=["seq"])
        got = (back.num_rows, pc.min(back["seq"]).as_py(), pc.max(back["seq"]).as_py())
        if got != (int(count), lo, hi):
            raise UserError(t("log.verify_failed", None, month=label(m), rows=count, got=got[0]))
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    conn.exec_driver_sql(f"ALTER TABLE event DETACH PARTITION {name}")
    conn.exec_driver_sql(f"DROP TABLE {name}")
    done = Archived(label(m), str(path), int(count), int(lo or 0), int(hi or 0))
    conn.exec_driver_sql(
        "INSERT INTO event_archive (month, path, rows, min_seq, max_seq, archived_ms)"
        " VALUES (%s, %s, %s, %s, %s, (EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint)",
        (done.month, done.path, done.rows, done.min_seq, done.max_seq),
    )
    return done


def pg_only(obj: object, name: str | None, type_: str, reflected: bool, compare_to: object) -> bool:
    """Alembic's ``include_object`` hook: False for what revision part19_a adds on PostgreSQL beyond the models
    (the partitions, the id and archive tables, the log's non-unique id index), so a comparison of the models with
    the database sees the rest."""
    table = getattr(obj, "table", None)
    owner = table.name if table is not None else name or ""
    if owner in {"event_uid", "event_archive", "event_default"} or re.match(r"^event_p\d{6}$", owner):
        return False
    return not (owner == "event" and type_ == "index" and name in {"ix_event_uid", "ux_event_uid"})


def archive_files(conn: Connection, after_seq: int = 0, until_seq: int | None = None) -> list[str]:
    """The archived files that may hold seqs in (``after_seq``, ``until_seq``]."""
    return [
        a.path
        for a in archived(conn)
        if a.rows and a.max_seq > after_seq and (until_seq is None or a.min_seq <= until_seq)
    ]


def _files_sql(files: Sequence[str]) -> str:
    return "read_parquet([" + ", ".join("'" + f.replace("'", "''") + "'" for f in files) + "])"


def read_archive(
    files: Sequence[str], ws_id: int, after_seq: int, until_seq: int | None, batch: int = 5000
) -> Iterator[tuple[int, str]]:
    """(seq, payload) of workspace ``ws_id``'s archived events in (``after_seq``, ``until_seq``], in seq order."""
    import duckdb

    where = f"workspace_id = {int(ws_id)} AND seq > {int(after_seq)}"
    if until_seq is not None:
        where += f" AND seq <= {int(until_seq)}"
    con = duckdb.connect()
    try:
        cur = con.execute(f"SELECT seq, payload FROM {_files_sql(files)} WHERE {where} ORDER BY seq")
        while rows := cur.fetchmany(batch):
            yield from ((int(s), str(p)) for s, p in rows)
    finally:
        con.close()


def archive_ends(conn: Connection, ws_id: int) -> tuple[int, int, str]:
    """Workspace ``ws_id``'s (last seq, first seq, first id) in the archive; (0, 0, "") when it has none."""
    files = archive_files(conn)
    if not files:
        return 0, 0, ""
    import duckdb

    con = duckdb.connect()
    try:
        src = _files_sql(files)
        ws = int(ws_id)
        last = con.execute(f"SELECT coalesce(max(seq), 0) FROM {src} WHERE workspace_id = {ws}").fetchone()
        first = con.execute(f"SELECT seq, uid FROM {src} WHERE workspace_id = {ws} ORDER BY seq LIMIT 1").fetchone()
    finally:
        con.close()
    return (int(last[0]) if last else 0), (int(first[0]) if first else 0), (str(first[1]) if first else "")


def archived_payload(conn: Connection, ws_id: int, uid: str) -> str | None:
    """The payload of event ``uid`` of workspace ``ws_id`` if it was logged and its month archived, else None."""
    logged = conn.exec_driver_sql(
        "SELECT 1 FROM event_uid WHERE workspace_id = %s AND uid = %s", (int(ws_id), uid)
    ).first()
    files = archive_files(conn) if logged else []
    if not files:
        return None
    import duckdb

    con = duckdb.connect()
    try:
        row = con.execute(
            f"SELECT payload FROM {_files_sql(files)} WHERE workspace_id = ? AND uid = ? LIMIT 1", [int(ws_id), uid]
        ).fetchone()
    finally:
        con.close()
    return str(row[0]) if row else None


def unprocessed(conn: Connection, table: str) -> int:
    """With workers set up: the events in ``table`` (a month's partition) that their shard has not processed yet.
    Workers read only the database's rows, so a month is archived only once it is behind every shard's offset."""
    n = conn.exec_driver_sql("SELECT shards FROM shard_config WHERE id = 1").scalar()
    if n is None:
        return 0
    routed = ROUTED.replace("FROM event e", f"FROM {table} e", 1)
    return int(
        conn.execute(
            text(
                f"SELECT count(*) {routed} JOIN shard_lease l ON l.shard = {shard_sql(COMMUNITY, int(n))}"
                " WHERE e.seq > l.last_seq"
            )
        ).scalar_one()
    )
