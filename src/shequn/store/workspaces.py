"""Workspaces: the tenants of a store."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, insert, select

from shequn.domain import UserError
from shequn.store._sql import dumps
from shequn.store.schema import WORKSPACE

DEFAULT_WORKSPACE = "default"


@dataclass(frozen=True, slots=True)
class WorkspaceInfo:
    id: int
    name: str
    timezone: str
    locale: str


class WorkspaceStore:
    def get(self, conn: Connection, *, name: str) -> WorkspaceInfo | None:
        t = WORKSPACE
        r = conn.execute(select(t).where(t.c.name == name)).first()
        return WorkspaceInfo(r.id, r.name, r.timezone, r.locale) if r else None

    def list(self, conn: Connection) -> list[WorkspaceInfo]:
        t = WORKSPACE
        return [WorkspaceInfo(r.id, r.name, r.timezone, r.locale) for r in conn.execute(select(t).order_by(t.c.id))]

    def create(self, conn: Connection, *, name: str, timezone: str, locale: str, now_ms: int) -> WorkspaceInfo:
        if self.get(conn, name=name):
            raise UserError(f"workspace {name!r} already exists")
        t = WORKSPACE
        conn.execute(
            insert(t).values(name=name, timezone=timezone, locale=locale, settings=dumps({}), created_ms=now_ms)
        )
        ws = self.get(conn, name=name)
        assert ws is not None
        return ws

    def ensure(self, conn: Connection, *, name: str, timezone: str, locale: str, now_ms: int) -> WorkspaceInfo:
        return self.get(conn, name=name) or self.create(
            conn, name=name, timezone=timezone, locale=locale, now_ms=now_ms
        )
