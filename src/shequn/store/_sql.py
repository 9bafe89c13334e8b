"""Small helpers shared by the store modules: JSON, times, and portable insert-or-ignore / upsert."""

from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from datetime import UTC, datetime
from typing import Any

import orjson
from sqlalchemy import Connection, Table
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.sql.dml import Insert


def dumps(value: Any) -> str:
    return orjson.dumps(value, option=orjson.OPT_SORT_KEYS).decode()


def loads(text: str) -> Any:
    return orjson.loads(text)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def to_ms(dt: datetime) -> int:
    """Milliseconds since the epoch (exact integer arithmetic, no float rounding)."""
    delta = dt - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_ms(ms: int) -> datetime:
    return datetime.fromtimestamp(ms / 1000, tz=UTC)


def _insert(conn: Connection, table: Table) -> Insert:
    if conn.dialect.name == "postgresql":
        return postgresql.insert(table)
    return sqlite.insert(table)


def insert_ignore(conn: Connection, table: Table, index_elements: Sequence[str]) -> Insert:
    """``INSERT … ON CONFLICT (index_elements) DO NOTHING`` for SQLite and PostgreSQL."""
    stmt = _insert(conn, table)
    return stmt.on_conflict_do_nothing(index_elements=list(index_elements))  # type: ignore[attr-defined, no-any-return]


def upsert(conn: Connection, table: Table, rows: Iterable[dict[str, Any]], index_elements: Sequence[str]) -> None:
    """Insert ``rows``, or update every other column where ``index_elements`` already exist (one executemany)."""
    rows = list(rows)
    if not rows:
        return
    columns = list(rows[0])
    upsert_tuples(conn, table, columns, [tuple(r[c] for c in columns) for r in rows], index_elements)


def upsert_tuples(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    index_elements: Sequence[str],
) -> None:
    """:func:`upsert` for rows given as tuples in the order of ``columns`` (the hot path: no dict per row)."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    others = [c for c in columns if c not in index_elements]
    action = f"DO UPDATE SET {', '.join(f'{c} = excluded.{c}' for c in others)}" if others else "DO NOTHING"
    sql = (
        f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))}) "
        f"ON CONFLICT ({', '.join(index_elements)}) {action}"
    )
    conn.exec_driver_sql(sql, list(rows))


def bulk_insert(
    conn: Connection,
    table: Table,
    columns: Sequence[str],
    rows: Sequence[tuple[Any, ...]],
    *,
    conflict: Sequence[str] = (),
) -> None:
    """Insert tuples straight through the driver's executemany (the bulk path: no per-row SQL compilation);
    with ``conflict``, rows whose ``conflict`` columns already exist are skipped."""
    if not rows:
        return
    mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
    sql = f"INSERT INTO {table.name} ({', '.join(columns)}) VALUES ({', '.join([mark] * len(columns))})"
    if conflict:
        sql += f" ON CONFLICT ({', '.join(conflict)}) DO NOTHING"
    conn.exec_driver_sql(sql, list(rows))


def chunks(seq: Sequence[Any], size: int) -> Iterable[Sequence[Any]]:
    for i in range(0, len(seq), size):
        yield seq[i : i + size]


class Read:
    """A read statement the console and the API run on every request, executed on the DBAPI cursor of the
    transaction's own connection.

    SQLAlchemy's execution layer (cache key, compiled-cache lookup, parameter processing, result metadata) costs
    about 60 µs a statement, several times what SQLite takes for a point read by key; an API read runs two to eight
    of them. Written once with ``:name`` parameters (sqlite3 takes them as they are); psycopg's ``%(name)s`` form is
    derived once. Rows come back as plain tuples, in the order of the SELECT list."""

    __slots__ = ("names", "pyformat", "sql")

    def __init__(self, sql: str) -> None:
        self.sql = sql
        self.names = tuple(dict.fromkeys(re.findall(r"(?<![:\w]):(\w+)", sql)))
        self.pyformat = re.sub(r"(?<![:\w]):(\w+)", r"%(\1)s", sql.replace("%", "%%"))

    def rows(self, conn: Connection, params: dict[str, Any]) -> list[tuple[Any, ...]]:
        values = {k: params[k] for k in self.names}
        cursor = conn.connection.cursor()
        try:
            cursor.execute(self.sql if conn.dialect.name == "sqlite" else self.pyformat, values)
            return list(cursor.fetchall())
        finally:
            cursor.close()

    def first(self, conn: Connection, params: dict[str, Any]) -> tuple[Any, ...] | None:
        rows = self.rows(conn, params)
        return rows[0] if rows else None
