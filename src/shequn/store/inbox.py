"""The inbox's tables and reads: staff (console users ↔ chat identities and communities) and the items.

Items are not a table of their own: they are the ``inbox`` policy's state (``policy_state`` rows named ``i:<n>``),
derived from the log like every policy state, so that a replay rebuilds them; this module reads them, and the
moderation cases (the ``moderation`` policy's ``case:<n>`` state) likewise.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, delete, insert, select, text

from shequn.store._sql import loads
from shequn.store.schema import COMMUNITY, POLICY_STATE, STAFF_COMMUNITY, STAFF_IDENTITY, WEB_USER

_AROUND = (
    "SELECT e.at_ms, e.payload FROM event e JOIN chat_group g ON g.id = e.group_id "
    "WHERE g.workspace_id = :ws AND g.platform = :platform AND g.platform_id = :grp AND e.kind = 'message' "
    "AND e.at_ms {op} :at ORDER BY e.at_ms {order} LIMIT :n"
)
_SAID_AT = (
    "SELECT e.payload FROM event e JOIN identity i ON i.person_id = e.person_id "
    "WHERE e.workspace_id = :ws AND e.kind = 'message' AND i.platform = :platform AND i.platform_id = :actor "
    "AND e.at_ms = :at"
)
_LABELLED_AT = "SELECT e.payload FROM event e WHERE e.workspace_id = :ws AND e.kind = 'label' AND e.at_ms = :at"
_PRIVATE = (
    "SELECT e.at_ms, e.payload FROM event e JOIN identity i ON i.person_id = e.person_id "
    "WHERE e.workspace_id = :ws AND e.group_id IS NULL AND e.kind = 'message' AND i.platform = :platform "
    "AND i.platform_id = :actor AND e.at_ms >= :at ORDER BY e.at_ms LIMIT :n"
)

SCOPE = "inbox"


@dataclass(frozen=True, slots=True)
class StaffRecord:
    """One console user as staff: their chat identities (platform, id) and the communities they serve."""

    username: str
    role: str
    identities: tuple[tuple[str, str], ...]
    communities: tuple[str, ...]


class InboxStore:
    # -- staff ------------------------------------------------------------------------------------------------

    def link_identity(
        self, conn: Connection, ws_id: int, user_id: int, platform: str, platform_id: str, *, now_ms: int
    ) -> int | None:
        """Link a chat identity to a user (moving it from whoever had it); returns the previous owner's id."""
        t = STAFF_IDENTITY
        where = (t.c.workspace_id == ws_id, t.c.platform == platform, t.c.platform_id == platform_id)
        previous: int | None = conn.execute(select(t.c.user_id).where(*where)).scalar()
        if previous == user_id:
            return previous
        conn.execute(delete(t).where(*where))
        conn.execute(
            insert(t).values(
                workspace_id=ws_id, user_id=user_id, platform=platform, platform_id=platform_id, created_ms=now_ms
            )
        )
        return previous

    def unlink_identity(self, conn: Connection, ws_id: int, platform: str, platform_id: str) -> bool:
        t = STAFF_IDENTITY
        done = conn.execute(
            delete(t).where(t.c.workspace_id == ws_id, t.c.platform == platform, t.c.platform_id == platform_id)
        )
        return bool(done.rowcount)

    def serve(self, conn: Connection, user_id: int, community_id: int, *, now_ms: int) -> bool:
        t = STAFF_COMMUNITY
        where = (t.c.user_id == user_id, t.c.community_id == community_id)
        if conn.execute(select(t.c.user_id).where(*where)).first() is not None:
            return False
        conn.execute(insert(t).values(user_id=user_id, community_id=community_id, created_ms=now_ms))
        return True

    def unserve(self, conn: Connection, user_id: int, community_id: int) -> bool:
        t = STAFF_COMMUNITY
        done = conn.execute(delete(t).where(t.c.user_id == user_id, t.c.community_id == community_id))
        return bool(done.rowcount)

    def staff(self, conn: Connection, ws_id: int) -> list[StaffRecord]:
        """Every console user with their identities and communities (users with neither included)."""
        u, i, sc, c = WEB_USER, STAFF_IDENTITY, STAFF_COMMUNITY, COMMUNITY
        users = conn.execute(
            select(u.c.id, u.c.username, u.c.role)
            .where(u.c.workspace_id == ws_id, u.c.disabled == 0)
            .order_by(u.c.username)
        ).all()
        idents: dict[int, list[tuple[str, str]]] = {}
        for r in conn.execute(
            select(i.c.user_id, i.c.platform, i.c.platform_id)
            .where(i.c.workspace_id == ws_id)
            .order_by(i.c.platform, i.c.platform_id)
        ):
            idents.setdefault(r.user_id, []).append((r.platform, r.platform_id))
        served: dict[int, list[str]] = {}
        for row in conn.execute(
            select(sc.c.user_id, c.c.name)
            .join(c, c.c.id == sc.c.community_id)
            .where(c.c.workspace_id == ws_id)
            .order_by(c.c.name)
        ):
            served.setdefault(row.user_id, []).append(row.name)
        return [
            StaffRecord(r.username, r.role, tuple(idents.get(r.id, ())), tuple(served.get(r.id, ()))) for r in users
        ]

    # -- items ------------------------------------------------------------------------------------------------

    def items(self, conn: Connection, ws_id: int, *, community: str | None = None) -> list[dict[str, Any]]:
        """Every inbox item (each with its ``community``), newest first."""
        p, c = POLICY_STATE, COMMUNITY
        q = (
            select(c.c.name, p.c.value)
            .join(c, c.c.id == p.c.community_id)
            .where(c.c.workspace_id == ws_id, p.c.scope == SCOPE, p.c.name.like("i:%"))
        )
        if community is not None:
            q = q.where(c.c.name == community)
        out = []
        for r in conn.execute(q):
            item = loads(r.value)
            item["community"] = r.name
            out.append(item)
        out.sort(key=lambda it: (it["opened_at"], it["community"], it["n"]), reverse=True)
        return out

    def by_community(self, conn: Connection, ws_id: int) -> dict[int, list[dict[str, Any]]]:
        """Every inbox item by community id, in one query (what the overview counts)."""
        p, c = POLICY_STATE, COMMUNITY
        q = (
            select(p.c.community_id, p.c.value)
            .join(c, c.c.id == p.c.community_id)
            .where(c.c.workspace_id == ws_id, p.c.scope == SCOPE, p.c.name.like("i:%"))
        )
        out: dict[int, list[dict[str, Any]]] = {}
        for r in conn.execute(q):
            out.setdefault(int(r.community_id), []).append(loads(r.value))
        return out

    def item(self, conn: Connection, ws_id: int, community: str, n: int) -> dict[str, Any] | None:
        p, c = POLICY_STATE, COMMUNITY
        value = conn.execute(
            select(p.c.value)
            .join(c, c.c.id == p.c.community_id)
            .where(c.c.workspace_id == ws_id, c.c.name == community, p.c.scope == SCOPE, p.c.name == f"i:{n}")
        ).scalar()
        if value is None:
            return None
        item: dict[str, Any] = loads(value)
        item["community"] = community
        return item

    def cases(
        self, conn: Connection, ws_id: int, *, community: str | None = None, n: int | None = None
    ) -> list[dict[str, Any]]:
        """The moderation cases (the ``moderation`` policy's ``case:<n>`` state, each with its ``community``), newest
        first; ``n`` (with ``community``) only that one."""
        p, c = POLICY_STATE, COMMUNITY
        name = p.c.name == f"case:{n}" if n is not None else p.c.name.like("case:%")
        q = (
            select(c.c.name, p.c.value)
            .join(c, c.c.id == p.c.community_id)
            .where(c.c.workspace_id == ws_id, p.c.scope == "moderation", name)
        )
        if community is not None:
            q = q.where(c.c.name == community)
        out = []
        for r in conn.execute(q):
            case = loads(r.value)
            case["community"] = r.name
            out.append(case)
        out.sort(key=lambda k: (k["at"], k["community"], k["n"]), reverse=True)
        return out

    def around(
        self, conn: Connection, ws_id: int, item: dict[str, Any], at_ms: int, *, before: int = 5, after: int = 5
    ) -> list[dict[str, Any]]:
        """The messages around an item, oldest first: in its group, ``before`` up to it and ``after`` from then on;
        for a private message, the member's private messages from it on."""
        params: dict[str, Any] = {"ws": ws_id, "platform": item["platform"], "at": at_ms}
        if item.get("direct"):
            rows = conn.execute(text(_PRIVATE), {**params, "actor": item["actor"], "n": before + after}).all()
        else:
            params["grp"] = item["group"]
            older = conn.execute(text(_AROUND.format(op="<", order="DESC")), {**params, "n": before}).all()
            newer = conn.execute(text(_AROUND.format(op=">=", order="ASC")), {**params, "n": after + 1}).all()
            rows = [*reversed(older), *newer]
        return [loads(r.payload) for r in rows]

    def said_at(self, conn: Connection, ws_id: int, platform: str, actor: str, at_ms: int) -> list[dict[str, Any]]:
        """The member's messages logged at ``at_ms`` (what a moderation step was about), and the operators' labels
        logged then (a step taken because an operator labelled a missed ad: the label carries the message)."""
        params = {"ws": ws_id, "platform": platform, "actor": actor, "at": at_ms}
        said = [loads(r.payload) for r in conn.execute(text(_SAID_AT), params)]
        labels = [loads(r.payload) for r in conn.execute(text(_LABELLED_AT), params)]
        return [*said, *(x for x in labels if x.get("author") == actor and x.get("platform", platform) == platform)]
