"""What imports keep besides the event log: the key of ``--mask-pii`` pseudonyms, group names, rebinding checks."""

from __future__ import annotations

import secrets
from collections.abc import Iterable

from sqlalchemy import Connection, exists, select, update

from shequn.store._sql import dumps, loads
from shequn.store.schema import EVENT, GROUP, WORKSPACE

PII_KEY = "pii_key"


class ImportStore:
    def pii_key(self, conn: Connection, ws_id: int) -> bytes | None:
        """The workspace's key for pseudonyms, if one was made."""
        raw = conn.execute(select(WORKSPACE.c.settings).where(WORKSPACE.c.id == ws_id)).scalar_one()
        value = (loads(raw or "{}") or {}).get(PII_KEY)
        return bytes.fromhex(value) if isinstance(value, str) else None

    def new_pii_key(self) -> bytes:
        return secrets.token_bytes(32)

    def save_pii_key(self, conn: Connection, ws_id: int, key: bytes) -> None:
        """Keep ``key`` in the workspace's settings (in the caller's transaction), unless one is kept already."""
        raw = conn.execute(select(WORKSPACE.c.settings).where(WORKSPACE.c.id == ws_id)).scalar_one()
        settings = loads(raw or "{}") or {}
        if PII_KEY in settings:
            return
        settings[PII_KEY] = key.hex()
        conn.execute(update(WORKSPACE).where(WORKSPACE.c.id == ws_id).values(settings=dumps(settings)))

    def name_groups(self, conn: Connection, ws_id: int, names: Iterable[tuple[str, str, str]]) -> None:
        """Give groups that have no name yet the name their export shows ((platform, id, name) triples)."""
        g = GROUP
        for platform, pid, name in names:
            if not name:
                continue
            conn.execute(
                update(g)
                .where(g.c.workspace_id == ws_id, g.c.platform == platform, g.c.platform_id == pid, g.c.name == "")
                .values(name=name[:255])
            )

    def last_seq(self, conn: Connection) -> int:
        return int(conn.execute(select(EVENT.c.seq).order_by(EVENT.c.seq.desc()).limit(1)).scalar() or 0)

    def logged_before(self, conn: Connection, ws_id: int, platform: str, pid: str, seq: int) -> bool:
        """Whether the log held events of this group up to ``seq`` (before an import began)."""
        g, e = GROUP, EVENT
        gid = conn.execute(
            select(g.c.id).where(g.c.workspace_id == ws_id, g.c.platform == platform, g.c.platform_id == pid)
        ).scalar()
        if gid is None:
            return False
        return bool(conn.execute(select(exists().where(e.c.group_id == gid, e.c.seq <= seq))).scalar())

    def community_of(self, conn: Connection, ws_id: int, platform: str, pid: str) -> int | None:
        g = GROUP
        return conn.execute(
            select(g.c.community_id).where(g.c.workspace_id == ws_id, g.c.platform == platform, g.c.platform_id == pid)
        ).scalar()
