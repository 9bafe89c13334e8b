"""The database: URL handling, connection set-up (SQLite WAL or PostgreSQL via psycopg 3) and migrations."""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from contextlib import contextmanager
from importlib import resources
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event, inspect
from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError, DBAPIError, OperationalError

from shequn.domain import UserError

DEFAULT_URL = "sqlite:///shequn.db"


def normalize_url(url: str | None) -> str:
    """The SQLAlchemy URL for what a person typed: a URL, a ``.db`` path, or nothing (the default file)."""
    url = url or os.environ.get("SHEQUN_DB") or DEFAULT_URL
    if "://" not in url:
        return f"sqlite:///{Path(url).expanduser()}"
    if url.startswith(("postgresql://", "postgres://")):
        return "postgresql+psycopg://" + url.split("://", 1)[1]
    return url


def mask_url(url: str) -> str:
    """The URL with any password replaced, for messages and logs."""
    return re.sub(r"(://[^:/@]+):[^@]*@", r"\1:***@", url)


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA page_size=8192")  # only takes effect on a new database; fewer page splits in the event log
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA foreign_keys=ON")
    cur.execute("PRAGMA busy_timeout=10000")
    cur.execute("PRAGMA cache_size=-65536")  # 64 MiB of page cache: the event log's indexes stay in memory
    cur.execute("PRAGMA temp_store=MEMORY")
    cur.execute("PRAGMA wal_autocheckpoint=8192")  # checkpoint every 64 MiB of WAL, not 4 MiB: bulk loads
    cur.close()


class Database:
    """One database, reachable and migrated to the newest schema.

    Args:
        url: a SQLAlchemy URL (``sqlite:///path.db``, ``postgresql+psycopg://user@host/db``), a path, or None for
            ``$SHEQUN_DB`` or ``./shequn.db``.
        migrate: bring the schema to the newest revision on open (the default; the embedded store needs no set-up).
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.url = normalize_url(url)
        try:
            parsed = make_url(self.url)
        except ArgumentError as exc:
            raise UserError(f"database URL {mask_url(self.url)!r} is not valid: {exc}", exit_code=2) from exc
        self.dialect = parsed.get_backend_name()
        if self.dialect == "sqlite":
            path = parsed.database
            if path and path != ":memory:":
                parent = Path(path).expanduser().resolve().parent
                if not parent.is_dir():
                    raise UserError(f"cannot open database {mask_url(self.url)}: folder {parent} does not exist")
        try:
            self.engine: Engine = create_engine(self.url, future=True, pool_pre_ping=self.dialect != "sqlite")
        except Exception as exc:  # a missing driver, a bad option in the URL …
            raise UserError(f"cannot use database {mask_url(self.url)}: {exc}") from exc
        if self.dialect == "sqlite":
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self._check_reachable()
        if migrate:
            self.migrate()

    def _check_reachable(self) -> None:
        try:
            with self.engine.connect():
                pass
        except (OperationalError, DBAPIError) as exc:
            reason = str(exc.orig).strip().splitlines()[0] if exc.orig else str(exc)
            raise UserError(f"cannot reach database {mask_url(self.url)}: {reason}") from None

    @property
    def is_sqlite(self) -> bool:
        return self.dialect == "sqlite"

    def migrate(self) -> None:
        """Upgrade the schema to the newest Alembic revision (does nothing when already there)."""
        from alembic import command
        from alembic.config import Config
        from alembic.runtime.migration import MigrationContext
        from alembic.script import ScriptDirectory

        cfg = Config()
        cfg.set_main_option("script_location", str(resources.files("shequn.store").joinpath("migrations")))
        head = ScriptDirectory.from_config(cfg).get_current_head()
        with self.engine.begin() as conn:
            if MigrationContext.configure(conn).get_current_revision() == head:
                return
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")

    def has_schema(self) -> bool:
        return inspect(self.engine).has_table("event")

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A connection inside one transaction: committed on success, rolled back on any error."""
        with self.engine.begin() as conn:
            yield conn

    def dispose(self) -> None:
        self.engine.dispose()
