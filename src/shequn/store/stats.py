"""Counts for summaries (community list, demo table); analytics proper lives in :mod:`shequn.analytics`."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import Connection, func, select

from shequn.store.schema import COMMUNITY, EVENT, GROUP, MEMBERSHIP


@dataclass(frozen=True, slots=True)
class CommunityCounts:
    groups: int = 0
    members: int = 0  # active members
    members_ever: int = 0
    messages: int = 0


class StatsStore:
    def community_counts(self, conn: Connection, ws_id: int) -> dict[str, CommunityCounts]:
        c, g, m, e = COMMUNITY, GROUP, MEMBERSHIP, EVENT
        names = {r.id: r.name for r in conn.execute(select(c.c.id, c.c.name).where(c.c.workspace_id == ws_id))}
        groups: dict[int, int] = dict(
            conn.execute(
                select(g.c.community_id, func.count()).where(g.c.workspace_id == ws_id).group_by(g.c.community_id)
            ).all()
        )
        members: dict[int, list[int]] = {}
        q = (
            select(m.c.community_id, m.c.status, func.count())
            .where(m.c.community_id.in_(list(names)))
            .group_by(m.c.community_id, m.c.status)
        )
        for cid, status, n in conn.execute(q):
            counts = members.setdefault(cid, [0, 0])
            if status != "pending":  # applicants and payers who never joined are not members yet
                counts[1] += n
            if status == "active":
                counts[0] += n
        messages: dict[int, int] = dict(
            conn.execute(
                select(g.c.community_id, func.count())
                .select_from(e.join(g, e.c.group_id == g.c.id))
                .where(e.c.workspace_id == ws_id, e.c.kind == "message")
                .group_by(g.c.community_id)
            ).all()
        )
        return {
            name: CommunityCounts(
                groups=groups.get(cid, 0),
                members=members.get(cid, [0, 0])[0],
                members_ever=members.get(cid, [0, 0])[1],
                messages=messages.get(cid, 0),
            )
            for cid, name in names.items()
        }
