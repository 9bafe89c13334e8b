"""Connector cursors (连接器游标): small named values a connector keeps between runs, per workspace.

Matrix keeps its sync token here, Telegram its update offset, WeCom its roster snapshots and live-code state. A
cursor is written after the events it covers are in the log, so a restart resumes without losing an event (and the
log's stable ids drop the few a crash makes it see twice).
"""

from __future__ import annotations

from sqlalchemy import Connection, delete, insert, select, update

from shequn.store.schema import CONNECTOR_CURSOR


class CursorStore:
    def get(self, conn: Connection, ws_id: int, connector: str, name: str) -> str | None:
        t = CONNECTOR_CURSOR
        row = conn.execute(
            select(t.c.value).where(t.c.workspace_id == ws_id, t.c.connector == connector, t.c.name == name)
        ).first()
        return None if row is None else str(row[0])

    def all(self, conn: Connection, ws_id: int, connector: str) -> dict[str, str]:
        t = CONNECTOR_CURSOR
        q = select(t.c.name, t.c.value).where(t.c.workspace_id == ws_id, t.c.connector == connector)
        return {str(r[0]): str(r[1]) for r in conn.execute(q)}

    def put(self, conn: Connection, ws_id: int, connector: str, name: str, value: str | None, *, now_ms: int) -> None:
        t = CONNECTOR_CURSOR
        where = (t.c.workspace_id == ws_id, t.c.connector == connector, t.c.name == name)
        if value is None:
            conn.execute(delete(t).where(*where))
            return
        res = conn.execute(update(t).where(*where).values(value=value, updated_ms=now_ms))
        if res.rowcount == 0:
            conn.execute(
                insert(t).values(workspace_id=ws_id, connector=connector, name=name, value=value, updated_ms=now_ms)
            )
