"""Groups (chat rooms) and their binding to communities."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, select, update

from shequn.domain import UserError, group_key
from shequn.i18n import t
from shequn.store._sql import chunks, insert_ignore
from shequn.store.cache import CommittedCache
from shequn.store.schema import COMMUNITY, GROUP


@dataclass(frozen=True, slots=True)
class GroupRecord:
    id: int
    platform: str
    platform_id: str
    community: str | None
    name: str
    role: str
    capacity: int | None
    state: str

    @property
    def key(self) -> str:
        return group_key(self.platform, self.platform_id)


class GroupStore:
    def __init__(self) -> None:
        self.cache = CommittedCache("group")

    def list(self, conn: Connection, ws_id: int, *, community_id: int | None = None) -> list[GroupRecord]:
        g, c = GROUP, COMMUNITY
        q = (
            select(g, c.c.name.label("community_name"))
            .select_from(g.outerjoin(c, g.c.community_id == c.c.id))
            .where(g.c.workspace_id == ws_id)
            .order_by(g.c.id)
        )
        if community_id is not None:
            q = q.where(g.c.community_id == community_id)
        return [
            GroupRecord(r.id, r.platform, r.platform_id, r.community_name, r.name, r.role, r.capacity, r.state)
            for r in conn.execute(q)
        ]

    def ids(self, conn: Connection, ws_id: int, keys: Iterable[tuple[str, str]], *, now_ms: int) -> dict[str, int]:
        """Group ids for (platform, platform id) pairs, creating unbound groups for the ones not seen before."""
        wanted = {group_key(p, i): (p, i) for p, i in keys}
        found: dict[str, int] = {}
        unknown: list[str] = []
        for key in wanted:
            gid = self.cache.get(conn, ws_id, key)
            if gid is None:
                unknown.append(key)
            else:
                found[key] = gid
        if not unknown:
            return found
        looked = self._lookup(conn, ws_id, [wanted[k] for k in unknown])
        missing = [wanted[k] for k in unknown if k not in looked]
        if missing:
            conn.execute(
                insert_ignore(conn, GROUP, ["workspace_id", "platform", "platform_id"]),
                [
                    dict(
                        workspace_id=ws_id,
                        platform=p,
                        platform_id=i,
                        name="",
                        role="main",
                        state="active",
                        created_ms=now_ms,
                    )
                    for p, i in missing
                ],
            )
            looked.update(self._lookup(conn, ws_id, missing))
        for key in unknown:
            self.cache.put(conn, ws_id, key, looked[key])
            found[key] = looked[key]
        return found

    def _lookup(self, conn: Connection, ws_id: int, pairs: Sequence[tuple[str, str]]) -> dict[str, int]:
        g = GROUP
        found: dict[str, int] = {}
        for part in chunks(pairs, 400):
            q = select(g.c.id, g.c.platform, g.c.platform_id).where(
                g.c.workspace_id == ws_id,
                g.c.platform.in_({p for p, _ in part}),
                g.c.platform_id.in_([i for _, i in part]),
            )
            for r in conn.execute(q):
                found[group_key(r.platform, r.platform_id)] = r.id
        return found

    def bind(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int,
        community_name: str,
        platform: str,
        platform_id: str,
        name: str,
        role: str,
        capacity: int | None,
        now_ms: int,
    ) -> int:
        """Bind a group to a community (creating it if needed); a group belongs to one community at a time."""
        g, c = GROUP, COMMUNITY
        gid = self.ids(conn, ws_id, [(platform, platform_id)], now_ms=now_ms)[group_key(platform, platform_id)]
        current = conn.execute(
            select(c.c.name).select_from(g.join(c, g.c.community_id == c.c.id)).where(g.c.id == gid)
        ).scalar()
        if current is not None and current != community_name:
            raise UserError(
                t("store.err.group_elsewhere", None, group=f"{platform}:{platform_id}", community=current),
                exit_code=2,
            )
        values: dict[str, object] = dict(community_id=community_id, role=role, capacity=capacity)
        if name:
            values["name"] = name
        conn.execute(update(g).where(g.c.id == gid).values(**values))
        return gid
