"""The engine's derived state, persisted: memberships, group presence and counters, policy state, the cursor.

What is saved here is never the truth: the event log is. Replaying the log must give exactly what was saved
(``tests/engine/test_replay.py``). Saving writes only what the engine marks as changed.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Set as AbstractSet
from typing import Any

from sqlalchemy import Connection, and_, delete, select, tuple_, update

from shequn.domain import split_key
from shequn.domain.records import iso
from shequn.domain.state import CommunityState, GroupState, MemberState, MemberStatus, State
from shequn.policies.lifecycle import ACTIVE, LIFECYCLE, group_state
from shequn.store._sql import chunks, dumps, from_ms, loads, to_ms, upsert, upsert_tuples
from shequn.store.groups import GroupStore
from shequn.store.people import PeopleStore
from shequn.store.schema import (
    COMMUNITY,
    COMMUNITY_STATE,
    ENGINE_CURSOR,
    GROUP,
    GROUP_MEMBER,
    GROUP_STATE,
    MEMBERSHIP,
    POINTS_LEDGER,
    POLICY_STATE,
    WORKSPACE_POLICY_STATE,
)


def _member_row(community_id: int, person_id: int | None, m: MemberState) -> tuple[Any, ...]:
    """A ``membership`` row (columns as :data:`_MEMBERSHIP_COLUMNS`): the figures queried in their own columns, the
    rest as JSON (the keys of :meth:`MemberState.to_dict` that have no column)."""
    data = {
        "name": m.name,
        "via": m.via,
        "inviter": m.inviter,
        "invite_code": m.invite_code,
        "groups": sorted(m.groups),
        "roles": sorted(m.roles),
        "tags": sorted(m.tags),
        "messages": m.messages,
        "last_active_at": iso(m.last_active_at) if m.last_active_at else None,
        "rules_version": m.rules_version,
    }
    return (
        community_id,
        person_id,
        m.key,
        m.number,
        m.status.value,
        to_ms(m.joined_at) if m.joined_at else None,
        to_ms(m.left_at) if m.left_at else None,
        m.points,
        m.level,
        dumps(data),
    )


_MEMBERSHIP_COLUMNS = (
    "community_id",
    "person_id",
    "member_key",
    "number",
    "status",
    "joined_ms",
    "left_ms",
    "points",
    "level",
    "data",
)


class StateStore:
    def __init__(self, groups: GroupStore, people: PeopleStore) -> None:
        self.groups = groups
        self.people = people

    def cursor(self, conn: Connection, ws_id: int) -> tuple[int, int]:
        """(last event seq applied, number of events applied) of the saved state."""
        t = ENGINE_CURSOR
        r = conn.execute(select(t.c.last_seq, t.c.events).where(t.c.workspace_id == ws_id)).first()
        return (r.last_seq, r.events) if r else (0, 0)

    def save(
        self,
        conn: Connection,
        ws_id: int,
        state: State,
        *,
        community_ids: dict[str, int],
        members: set[tuple[str, str]],
        groups: set[str],
        communities: set[str],
        policy: set[tuple[str, str, str]],
        last_seq: int,
        now_ms: int,
        workspace: AbstractSet[tuple[str, str]] = frozenset(),
        presence: set[tuple[str, str]] | None = None,
        cursor: bool = True,
    ) -> None:
        """Write the named parts of ``state`` and move the cursor to ``last_seq``.

        ``presence`` names the members (among ``members``) whose groups changed: only their group presence rows
        are rewritten (None: every member in ``members``). ``cursor=False`` (a worker: its shard's offset is the
        cursor) leaves the workspace's cursor alone.
        """
        if presence is None:
            presence = members
        group_ids = self.groups.ids(
            conn, ws_id, (split_key(k) for k in groups | self._member_groups(state, presence)), now_ms=now_ms
        )
        if members:
            self._save_members(conn, ws_id, state, members, presence, community_ids, group_ids, now_ms=now_ms)
        if groups:
            upsert(
                conn,
                GROUP_STATE,
                [
                    dict(
                        group_id=group_ids[k],
                        joins=g.joins,
                        messages=g.messages,
                        last_message_ms=to_ms(g.last_message_at) if g.last_message_at else None,
                    )
                    for k in sorted(groups)
                    if (g := state.groups.get(k)) is not None
                ],
                ["group_id"],
            )
        if communities:
            upsert(
                conn,
                COMMUNITY_STATE,
                [
                    dict(community_id=community_ids[c], next_number=state.communities[c].next_number)
                    for c in sorted(communities)
                ],
                ["community_id"],
            )
        if policy:
            self._save_policy(conn, state, policy, community_ids)
            self._mirror_lifecycle(conn, ws_id, state, policy)
        if workspace:
            self._save_workspace(conn, ws_id, state, workspace)
        if not cursor:
            return
        upsert(
            conn,
            ENGINE_CURSOR,
            [dict(workspace_id=ws_id, last_seq=last_seq, events=state.events, updated_ms=now_ms)],
            ["workspace_id"],
        )

    @staticmethod
    def _member_groups(state: State, members: set[tuple[str, str]]) -> set[str]:
        return {g for c, k in members for g in state.communities[c].members[k].groups}

    def _save_members(
        self,
        conn: Connection,
        ws_id: int,
        state: State,
        members: set[tuple[str, str]],
        presence: set[tuple[str, str]],
        community_ids: dict[str, int],
        group_ids: dict[str, int],
        *,
        now_ms: int,
    ) -> None:
        keys = sorted(members)
        persons = self.people.resolve(conn, ws_id, ((*split_key(k), "") for _, k in keys), now_ms=now_ms)
        communities = state.communities
        upsert_tuples(
            conn,
            MEMBERSHIP,
            _MEMBERSHIP_COLUMNS,
            [_member_row(community_ids[c], persons.get(k), communities[c].members[k]) for c, k in keys],
            ("community_id", "member_key"),
        )
        if not presence:
            return
        # Group presence of the members whose groups changed: drop their rows in their communities' groups, then
        # write what is true now.
        moved = sorted(presence)
        gm, g = GROUP_MEMBER, GROUP
        by_community: dict[str, list[str]] = defaultdict(list)
        for c, k in moved:
            by_community[c].append(k)
        for c, ks in by_community.items():
            community_groups = select(g.c.id).where(g.c.community_id == community_ids[c])
            for part in chunks(ks, 500):
                conn.execute(delete(gm).where(gm.c.member_key.in_(part), gm.c.group_id.in_(community_groups)))
        rows = []
        groups = state.groups
        for c, k in moved:
            m = communities[c].members[k]
            for gkey in m.groups:
                joined = groups[gkey].members.get(k)
                rows.append((group_ids[gkey], k, persons.get(k), to_ms(joined) if joined else None))
        upsert_tuples(conn, gm, ("group_id", "member_key", "person_id", "joined_ms"), rows, ("group_id", "member_key"))

    def _save_policy(
        self, conn: Connection, state: State, policy: set[tuple[str, str, str]], community_ids: dict[str, int]
    ) -> None:
        t = POLICY_STATE
        gone: list[tuple[int, str, str]] = []
        rows: list[tuple[int, str, str, str]] = []
        communities = state.communities
        for c, s, n in sorted(policy):
            scope = communities[c].policy.get(s)
            if scope is not None and n in scope:
                rows.append((community_ids[c], s, n, dumps(scope[n])))
            else:
                gone.append((community_ids[c], s, n))
        if gone:
            # One executemany by primary key (a row per forgotten name).
            mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
            conn.exec_driver_sql(
                f"DELETE FROM {t.name} WHERE community_id = {mark} AND scope = {mark} AND name = {mark}", gone
            )
        upsert_tuples(conn, t, ("community_id", "scope", "name", "value"), rows, ("community_id", "scope", "name"))

    @staticmethod
    def _mirror_lifecycle(conn: Connection, ws_id: int, state: State, policy: set[tuple[str, str, str]]) -> None:
        """A group's lifecycle state (derived, :mod:`shequn.policies.lifecycle`) copied onto its row, where the SQL
        readers (analytics, console, growth) find it."""
        g = GROUP
        for c, s, n in sorted(policy):
            if s != LIFECYCLE:
                continue
            value = group_state(state.communities[c].policy.get(s), n)
            platform, _, pid = n.partition(":")
            conn.execute(
                update(g)
                .where(g.c.workspace_id == ws_id, g.c.platform == platform, g.c.platform_id == pid)
                .values(state=value)
            )

    @staticmethod
    def _save_workspace(conn: Connection, ws_id: int, state: State, names: AbstractSet[tuple[str, str]]) -> None:
        t = WORKSPACE_POLICY_STATE
        gone = [(s, n) for s, n in names if n not in state.workspace.get(s, {})]
        for part in chunks(gone, 300):
            conn.execute(delete(t).where(t.c.workspace_id == ws_id, tuple_(t.c.scope, t.c.name).in_(part)))
        upsert(
            conn,
            t,
            [
                dict(workspace_id=ws_id, scope=s, name=n, value=dumps(state.workspace[s][n]))
                for s, n in sorted(names)
                if n in state.workspace.get(s, {})
            ],
            ["workspace_id", "scope", "name"],
        )

    def load(self, conn: Connection, ws_id: int, *, community_ids: AbstractSet[int] | None = None) -> State:
        """The saved state of the workspace (empty if none was saved); with ``community_ids``, of those
        communities only (a worker's shard), with the workspace's shared state."""
        c, g = COMMUNITY, GROUP
        names = {r.id: r.name for r in conn.execute(select(c.c.id, c.c.name).where(c.c.workspace_id == ws_id))}
        if community_ids is not None:
            names = {i: n for i, n in names.items() if i in community_ids}
        state = State(events=self.cursor(conn, ws_id)[1], workspace=self.load_shared(conn, ws_id))
        if not names:
            return state
        ids = list(names)
        self._load_communities(conn, state, names)
        gs, gm = GROUP_STATE, GROUP_MEMBER
        groups: dict[int, GroupState] = {}
        q = (
            select(
                g.c.id, g.c.platform, g.c.platform_id, g.c.community_id, gs.c.joins, gs.c.messages, gs.c.last_message_ms
            )
            .select_from(g.join(gs, gs.c.group_id == g.c.id))
            .where(and_(g.c.workspace_id == ws_id, g.c.community_id.in_(ids)))
        )
        for r in conn.execute(q):
            key = f"{r.platform}:{r.platform_id}"
            groups[r.id] = state.groups[key] = GroupState(
                key,
                names[r.community_id],
                joins=r.joins,
                messages=r.messages,
                last_message_at=from_ms(r.last_message_ms) if r.last_message_ms is not None else None,
            )
        if groups:
            for r in conn.execute(select(gm).where(gm.c.group_id.in_(list(groups)))):
                groups[r.group_id].members[r.member_key] = from_ms(r.joined_ms)
        for cs in state.communities.values():
            cs.policy = {s: v for s, v in cs.policy.items() if v}
        return state

    @staticmethod
    def _load_communities(conn: Connection, state: State, names: dict[int, str]) -> None:
        """The members, numbers and policy state of the communities ``names`` (id → name) into ``state``."""
        ids = list(names)
        for r in conn.execute(select(COMMUNITY_STATE).where(COMMUNITY_STATE.c.community_id.in_(ids))):
            state.community(names[r.community_id]).next_number = r.next_number
        for r in conn.execute(select(MEMBERSHIP).where(MEMBERSHIP.c.community_id.in_(ids))):
            data = loads(r.data)
            data.update(
                key=r.member_key,
                number=r.number,
                status=r.status,
                points=r.points,
                level=r.level,
                joined_at=None,
                left_at=None,
            )
            m = MemberState.from_dict(data)
            m.status = MemberStatus(r.status)
            m.joined_at = from_ms(r.joined_ms) if r.joined_ms is not None else None
            m.left_at = from_ms(r.left_ms) if r.left_ms is not None else None
            state.community(names[r.community_id]).members[m.key] = m
        for r in conn.execute(select(POLICY_STATE).where(POLICY_STATE.c.community_id.in_(ids))):
            state.community(names[r.community_id]).scope(r.scope)[r.name] = loads(r.value)

    def load_community(self, conn: Connection, ws_id: int, name: str) -> CommunityState | None:
        """One community's saved state (members, numbers, policy state; no group state), or None when there is no
        such community: what a member's page reads, without loading the whole workspace."""
        c = COMMUNITY
        row = conn.execute(select(c.c.id).where(c.c.workspace_id == ws_id, c.c.name == name)).first()
        if row is None:
            return None
        state = State()
        self._load_communities(conn, state, {row.id: name})
        community = state.community(name)
        community.policy = {s: v for s, v in community.policy.items() if v}
        return community

    @staticmethod
    def load_shared(conn: Connection, ws_id: int) -> dict[str, dict[str, Any]]:
        """The workspace-wide policy state (blacklist, learned classifier): scope → name → value."""
        w = WORKSPACE_POLICY_STATE
        shared: dict[str, dict[str, Any]] = {}
        for row in conn.execute(select(w.c.scope, w.c.name, w.c.value).where(w.c.workspace_id == ws_id)):
            shared.setdefault(row.scope, {})[row.name] = loads(row.value)
        return shared

    def clear(self, conn: Connection, ws_id: int) -> None:
        """Forget the saved state (before a rebuild by replay)."""
        c, g = COMMUNITY, GROUP
        cids = select(c.c.id).where(c.c.workspace_id == ws_id)
        gids = select(g.c.id).where(g.c.workspace_id == ws_id)
        for t in (MEMBERSHIP, POLICY_STATE, COMMUNITY_STATE):
            conn.execute(delete(t).where(t.c.community_id.in_(cids)))
        for t in (WORKSPACE_POLICY_STATE, POINTS_LEDGER):
            conn.execute(delete(t).where(t.c.workspace_id == ws_id))
        for t in (GROUP_MEMBER, GROUP_STATE):
            conn.execute(delete(t).where(t.c.group_id.in_(gids)))
        conn.execute(delete(ENGINE_CURSOR).where(ENGINE_CURSOR.c.workspace_id == ws_id))
        conn.execute(update(g).where(g.c.workspace_id == ws_id).values(state=ACTIVE))  # the replay sets it again
