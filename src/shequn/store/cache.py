"""A cache of ids that only learns what was committed.

Identities and groups are never deleted, so their ids can be remembered between transactions; but an id created in
a transaction that is rolled back must be forgotten. Entries learnt inside a transaction wait in the connection's
``info`` and join the shared map only when that transaction commits.
"""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Engine, event


class CommittedCache:
    """key → id, per workspace; see the module docstring."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.known: dict[tuple[int, str], int] = {}
        self._engines: set[int] = set()

    def _pending(self, conn: Connection) -> dict[tuple[int, str], int]:
        engine = conn.engine
        if id(engine) not in self._engines:
            self._engines.add(id(engine))
            event.listen(engine, "commit", self._commit)
            event.listen(engine, "rollback", self._rollback)
        pending: dict[tuple[int, str], int] = conn.info.setdefault(f"cache:{self.name}", {})
        return pending

    def get(self, conn: Connection, ws_id: int, key: str) -> int | None:
        found = self.known.get((ws_id, key))
        if found is None:
            found = self._pending(conn).get((ws_id, key))
        return found

    def put(self, conn: Connection, ws_id: int, key: str, value: int) -> None:
        self._pending(conn)[(ws_id, key)] = value

    def _commit(self, conn: Connection) -> None:
        pending = conn.info.pop(f"cache:{self.name}", None)
        if pending:
            self.known.update(pending)

    def _rollback(self, conn: Connection) -> None:
        conn.info.pop(f"cache:{self.name}", None)

    def forget(self, engine: Engine | None = None, *args: Any) -> None:
        """Drop everything (after ids were changed by something else, e.g. merging persons)."""
        self.known.clear()
