"""Read models for the console and the API (控制台): overview rows, rosters, member profiles, timelines, heatmaps,
daily counts and segment candidates, each one query (or a few) shaped for a page.

Times are bucketed in SQL with a fixed UTC offset (the community's offset now), so a page never pulls raw events
into Python; a day across a DST change is off by an hour, which no chart here can show.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import Connection, func, literal, select, text

from shequn.domain.records import parse_iso
from shequn.store._sql import Read, chunks, loads, to_ms
from shequn.store.schema import (
    COMMUNITY,
    EVENT,
    GROUP,
    GROUP_MEMBER,
    IDENTITY,
    MEMBERSHIP,
)

DAY_MS = 86_400_000
HOUR_MS = 3_600_000

# The reads every API call makes, as plain SQL run on the DBAPI cursor (:class:`~shequn.store._sql.Read`): building
# a Core ``select`` costs more than SQLite takes to run it (about 0.15 ms a statement), and SQLAlchemy's execution
# layer another 60 µs.
_MEMBER_COLUMNS = (
    "m.id, m.community_id, m.person_id, m.member_key, m.number, m.status, m.joined_ms, m.left_ms, m.points, "
    "m.level, m.data, c.name AS community_name"
)
# From the group to its members, then each membership by its unique key: CROSS JOIN keeps SQLite (which has no
# statistics here) from starting at every membership of the community instead (3 ms against 1 ms for the largest
# group); PostgreSQL plans it as any join. A page sorts the members' numbers alone, then reads its own rows.
_ROSTER_FROM = (
    "FROM chat_group g JOIN community c ON c.id = g.community_id "
    "JOIN group_member gm ON gm.group_id = g.id CROSS JOIN membership m "
    "WHERE g.id = :gid AND c.workspace_id = :ws AND m.community_id = g.community_id "
    "AND m.member_key = gm.member_key ORDER BY m.number, m.id"
)
_ROSTER_ALL = Read(f"SELECT {_MEMBER_COLUMNS} {_ROSTER_FROM}")  # (SQLite has no OFFSET without LIMIT)
_ROSTER_PAGE = Read(
    f"SELECT {_MEMBER_COLUMNS} FROM (SELECT m.id {_ROSTER_FROM} LIMIT :limit OFFSET :offset) page "
    "CROSS JOIN membership m JOIN community c ON c.id = m.community_id WHERE m.id = page.id ORDER BY m.number, m.id"
)
_MEMBERSHIPS_OF = Read(
    f"SELECT {_MEMBER_COLUMNS} FROM membership m JOIN community c ON c.id = m.community_id "
    "WHERE m.person_id = :pid AND c.workspace_id = :ws ORDER BY m.id"
)
_PERSON = Read("SELECT id, display_name, created_ms FROM person WHERE workspace_id = :ws AND id = :pid")
_PERSON_EXISTS = Read("SELECT 1 FROM person WHERE workspace_id = :ws AND id = :pid")
_IDENTITIES = Read("SELECT platform, platform_id, display_name FROM identity WHERE person_id = :pid ORDER BY id")
_TIMELINE = (
    "SELECT e.seq, e.kind, e.at_ms, e.payload, e.group_id, g.name AS group_name "
    "FROM event e LEFT JOIN chat_group g ON g.id = e.group_id WHERE e.workspace_id = :ws AND e.person_id = :pid"
)
_TIMELINE_NEWEST = Read(_TIMELINE + " ORDER BY e.seq DESC LIMIT :limit")
_TIMELINE_BEFORE = Read(_TIMELINE + " AND e.seq < :before ORDER BY e.seq DESC LIMIT :limit")
_HOUR_COUNTS = Read(
    "SELECT (at_ms + :offset) / :hour AS hour, count(*) AS n FROM event "
    "WHERE group_id = :gid AND at_ms >= :since AND kind = 'message' GROUP BY 1"
)


def _group_rows_sql(by_community: bool, by_group: bool) -> Read:
    """Groups with their counters. Plain SQL: this runs on every page and API read. Member counts come from the
    group_member primary key, one group at a time."""
    where = ["g.workspace_id = :ws"]
    if by_community:
        where.append("g.community_id = :cid")
    if by_group:
        where.append("g.id = :gid")
    tasks_where = "st.workspace_id = :ws AND st.status = 'open' AND st.group_id IS NOT NULL"
    if by_group:
        tasks_where += " AND st.group_id = :gid"
    return Read(f"""
        SELECT g.id, g.platform, g.platform_id, g.name, g.role, g.capacity, g.state, g.community_id,
               c.name AS community_name,
               (SELECT count(*) FROM group_member gm WHERE gm.group_id = g.id) AS members,
               coalesce(gs.messages, 0) AS messages, coalesce(gs.joins, 0) AS joins, gs.last_message_ms,
               coalesce(t.n, 0) AS open_tasks
        FROM chat_group g
        LEFT JOIN community c ON c.id = g.community_id
        LEFT JOIN group_state gs ON gs.group_id = g.id
        LEFT JOIN (SELECT st.group_id, count(*) AS n FROM staff_task st WHERE {tasks_where}
                   GROUP BY st.group_id) t ON t.group_id = g.id
        WHERE {" AND ".join(where)}
        ORDER BY g.id
    """)


_GROUP_ROWS = {(c, g): _group_rows_sql(c, g) for c in (False, True) for g in (False, True)}
_VIOLATIONS = Read("SELECT value FROM policy_state WHERE community_id = :c AND scope = 'moderation' AND name = :n")
_BLACKLIST = Read(
    "SELECT value FROM workspace_policy_state WHERE workspace_id = :ws AND scope = 'blacklist' AND name = :n"
)
_COMMUNITY_HEADS = Read("SELECT id, spec_hash FROM community WHERE workspace_id = :ws")


@dataclass(frozen=True, slots=True)
class GroupRow:
    """A group with its derived counters (what the overview and community pages list)."""

    id: int
    platform: str
    platform_id: str
    name: str
    role: str
    capacity: int | None
    state: str
    community_id: int | None
    community: str | None
    members: int
    messages: int
    joins: int
    last_message_ms: int | None
    open_tasks: int


@dataclass(frozen=True, slots=True)
class MemberRow:
    """A membership (a person in a community) with the derived fields the engine keeps."""

    community_id: int
    community: str
    person_id: int | None
    key: str
    number: int
    name: str
    status: str
    joined_ms: int | None
    left_ms: int | None
    points: int
    level: int
    roles: tuple[str, ...]
    tags: tuple[str, ...]
    messages: int
    last_active: str | None  # ISO time
    via: str
    groups: tuple[str, ...]
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def platform(self) -> str:
        return self.key.partition(":")[0]

    @property
    def platform_id(self) -> str:
        return self.key.partition(":")[2]


_EXTRA_KEYS = ("inviter", "invite_code", "rules_version")


def _member(r: Any) -> MemberRow:
    # Positional, in _MEMBER_COLUMNS' order (a roster page builds fifty of these per request).
    _id, community_id, person_id, member_key, number, status, joined_ms, left_ms, points, level, raw, community = r
    data = loads(raw)
    get = data.get
    return MemberRow(
        community_id,
        community,
        person_id,
        member_key,
        number,
        get("name", ""),
        status,
        joined_ms,
        left_ms,
        points,
        level,
        tuple(get("roles", ())),
        tuple(get("tags", ())),
        int(get("messages", 0)),
        get("last_active_at"),
        get("via", ""),
        tuple(get("groups", ())),
        {k: data[k] for k in _EXTRA_KEYS if k in data},
    )


@dataclass(frozen=True, slots=True)
class Segment:
    """Who to choose: every condition given must hold (tags: all of them)."""

    community_id: int | None = None
    statuses: tuple[str, ...] = ("active",)
    tags: tuple[str, ...] = ()
    without_tags: tuple[str, ...] = ()
    roles: tuple[str, ...] = ()
    level_min: int | None = None
    level_max: int | None = None
    joined_from_ms: int | None = None  # join cohort
    joined_to_ms: int | None = None
    silent_since_ms: int | None = None  # no activity since this time (or never)
    group_id: int | None = None


class ConsoleStore:
    # -- groups ---------------------------------------------------------------------------------------------

    def group_rows(
        self, conn: Connection, ws_id: int, *, community_id: int | None = None, group_id: int | None = None
    ) -> list[GroupRow]:
        params = {"ws": ws_id, "cid": community_id, "gid": group_id}
        statement = _GROUP_ROWS[(community_id is not None, group_id is not None)]
        return [
            GroupRow(
                gid, platform, pid, name, role, cap, state, cid, cname, int(n), int(msgs), int(joins), last, int(t)
            )
            for gid, platform, pid, name, role, cap, state, cid, cname, n, msgs, joins, last, t in statement.rows(
                conn, params
            )
        ]

    def violations(self, conn: Connection, community_id: int, member_key: str) -> dict[str, Any] | None:
        """The moderation policy's record of a member's offences in a community ({"n", "log"}), if any."""
        row = _VIOLATIONS.first(conn, {"c": community_id, "n": f"o:{member_key}"})
        value = row[0] if row else None
        return loads(value) if value else None

    def blacklist_entry(self, conn: Connection, ws_id: int, member_key: str) -> dict[str, Any] | None:
        """The workspace's shared blacklist entry of an identity, if it is listed."""
        row = _BLACKLIST.first(conn, {"ws": ws_id, "n": member_key})
        value = row[0] if row else None
        return loads(value) if value else None

    def count_tasks(self, conn: Connection, ws_id: int, *, status: str) -> int:
        sql = "SELECT count(*) FROM staff_task WHERE workspace_id = :ws AND status = :status"
        return int(conn.execute(text(sql), {"ws": ws_id, "status": status}).scalar_one())

    def community_heads(self, conn: Connection, ws_id: int) -> dict[int, str]:
        """community id → spec hash (to tell when a cached spec is stale)."""
        return {cid: spec_hash for cid, spec_hash in _COMMUNITY_HEADS.rows(conn, {"ws": ws_id})}

    def community_members(self, conn: Connection, ws_id: int) -> dict[int, tuple[int, int]]:
        """community id → (active members, members ever)."""
        c, m = COMMUNITY, MEMBERSHIP
        q = (
            select(m.c.community_id, m.c.status, func.count())
            .select_from(m.join(c, c.c.id == m.c.community_id))
            .where(c.c.workspace_id == ws_id)
            .group_by(m.c.community_id, m.c.status)
        )
        out: dict[int, list[int]] = {}
        for cid, status, n in conn.execute(q):
            counts = out.setdefault(cid, [0, 0])
            counts[1] += n
            if status == "active":
                counts[0] += n
        return {k: (v[0], v[1]) for k, v in out.items()}

    # -- members --------------------------------------------------------------------------------------------

    def _member_query(self, ws_id: int):  # type: ignore[no-untyped-def]
        m, c = MEMBERSHIP, COMMUNITY
        return (
            select(m, c.c.name.label("community_name"))
            .select_from(m.join(c, c.c.id == m.c.community_id))
            .where(c.c.workspace_id == ws_id)
        )

    def roster(
        self, conn: Connection, ws_id: int, group_id: int, *, limit: int | None = None, offset: int = 0
    ) -> list[MemberRow]:
        """Everyone in the group now, by member number (a page of them with ``limit``)."""
        params = {"gid": group_id, "ws": ws_id, "offset": offset, "limit": limit}
        if limit is None:
            return [_member(r) for r in _ROSTER_ALL.rows(conn, params)[offset:]]
        return [_member(r) for r in _ROSTER_PAGE.rows(conn, params)]

    def memberships_of(self, conn: Connection, ws_id: int, person_id: int) -> list[MemberRow]:
        return [_member(r) for r in _MEMBERSHIPS_OF.rows(conn, {"pid": person_id, "ws": ws_id})]

    def membership(self, conn: Connection, ws_id: int, community_id: int, member_key: str) -> MemberRow | None:
        m = MEMBERSHIP
        r = conn.execute(
            self._member_query(ws_id).where(m.c.community_id == community_id, m.c.member_key == member_key)
        ).first()
        return _member(r) if r else None

    def members(self, conn: Connection, ws_id: int, segment: Segment) -> Iterable[MemberRow]:
        """The memberships matching ``segment``: SQL filters first, then the JSON-held fields."""
        m = MEMBERSHIP
        q = self._member_query(ws_id)
        if segment.community_id is not None:
            q = q.where(m.c.community_id == segment.community_id)
        if segment.statuses:
            q = q.where(m.c.status.in_(segment.statuses))
        if segment.level_min is not None:
            q = q.where(m.c.level >= segment.level_min)
        if segment.level_max is not None:
            q = q.where(m.c.level <= segment.level_max)
        if segment.joined_from_ms is not None:
            q = q.where(m.c.joined_ms >= segment.joined_from_ms)
        if segment.joined_to_ms is not None:
            q = q.where(m.c.joined_ms < segment.joined_to_ms)
        if segment.group_id is not None:
            gm = GROUP_MEMBER
            q = q.where(
                m.c.member_key.in_(select(gm.c.member_key).where(gm.c.group_id == segment.group_id)),
                m.c.community_id
                == select(GROUP.c.community_id).where(GROUP.c.id == segment.group_id).scalar_subquery(),
            )
        want_tags, no_tags, want_roles = set(segment.tags), set(segment.without_tags), set(segment.roles)
        silent = segment.silent_since_ms
        for r in conn.execute(q.order_by(m.c.community_id, m.c.number)):
            row = _member(r)
            tags = set(row.tags)
            if not want_tags <= tags or tags & no_tags or not want_roles <= set(row.roles):
                continue
            if silent is not None and row.last_active is not None and to_ms(parse_iso(row.last_active)) >= silent:
                continue
            yield row

    def tags_in_use(self, conn: Connection, ws_id: int, *, community_id: int | None = None) -> dict[str, int]:
        """Tag → how many memberships carry it (for the segment builder's choices)."""
        m = MEMBERSHIP
        q = select(m.c.data).select_from(m.join(COMMUNITY, COMMUNITY.c.id == m.c.community_id))
        q = q.where(COMMUNITY.c.workspace_id == ws_id, m.c.data.like('%"tags":["%'))
        if community_id is not None:
            q = q.where(m.c.community_id == community_id)
        counts: dict[str, int] = {}
        for (data,) in conn.execute(q):
            for tag in loads(data).get("tags", ()):
                counts[tag] = counts.get(tag, 0) + 1
        return dict(sorted(counts.items(), key=lambda kv: (-kv[1], kv[0])))

    # -- people ---------------------------------------------------------------------------------------------

    def person(self, conn: Connection, ws_id: int, person_id: int) -> dict[str, Any] | None:
        r = _PERSON.first(conn, {"ws": ws_id, "pid": person_id})
        if r is None:
            return None
        identities = [
            {"platform": platform, "platform_id": platform_id, "display_name": name}
            for platform, platform_id, name in _IDENTITIES.rows(conn, {"pid": person_id})
        ]
        return {"id": r[0], "display_name": r[1], "created_ms": r[2], "identities": identities}

    def person_exists(self, conn: Connection, ws_id: int, person_id: int) -> bool:
        return _PERSON_EXISTS.first(conn, {"ws": ws_id, "pid": person_id}) is not None

    def timeline(
        self, conn: Connection, ws_id: int, person_id: int, *, before_seq: int | None = None, limit: int = 50
    ) -> list[dict[str, Any]]:
        """The person's events, newest first, with the group's name."""
        params = {"ws": ws_id, "pid": person_id, "limit": limit, "before": before_seq}
        return [
            {"seq": seq, "kind": kind, "at_ms": at_ms, "group_id": gid, "group": group or "", "event": loads(payload)}
            for seq, kind, at_ms, payload, gid, group in (
                _TIMELINE_NEWEST if before_seq is None else _TIMELINE_BEFORE
            ).rows(conn, params)
        ]

    def events_page(
        self, conn: Connection, ws_id: int, *, after_seq: int, limit: int, kind: str | None = None
    ) -> list[tuple[int, str]]:
        """(seq, payload) of the log after ``after_seq``, in order. The unary plus keeps the planner on the primary
        key (the log's order) instead of sorting a whole workspace found through the (workspace, uid) index."""
        sql = "SELECT seq, payload FROM event WHERE seq > :after AND +workspace_id = :ws"
        params: dict[str, Any] = {"after": after_seq, "ws": ws_id, "limit": limit}
        if kind is not None:
            sql += " AND kind = :kind"
            params["kind"] = kind
        return [(int(r.seq), str(r.payload)) for r in conn.execute(text(sql + " ORDER BY seq LIMIT :limit"), params)]

    def recent_events(
        self, conn: Connection, ws_id: int, *, before_seq: int | None, limit: int, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest events first (before ``before_seq``), with their group's name, along the primary key."""
        sql = (
            "SELECT e.seq, e.kind, e.at_ms, e.group_id, e.person_id, e.payload, g.name AS group_name "
            "FROM event e LEFT JOIN chat_group g ON g.id = e.group_id WHERE +e.workspace_id = :ws"
        )
        params: dict[str, Any] = {"ws": ws_id, "limit": limit}
        if before_seq is not None:
            sql += " AND e.seq < :before"
            params["before"] = before_seq
        if kind is not None:
            sql += " AND e.kind = :kind"
            params["kind"] = kind
        return [
            {
                "seq": r.seq,
                "kind": r.kind,
                "at_ms": r.at_ms,
                "group_id": r.group_id,
                "person_id": r.person_id,
                "group": r.group_name or "",
                "event": loads(r.payload),
            }
            for r in conn.execute(text(sql + " ORDER BY e.seq DESC LIMIT :limit"), params)
        ]

    def person_ids(self, conn: Connection, ws_id: int, keys: Iterable[str]) -> dict[str, int]:
        """identity key → person id, for keys already known."""
        i = IDENTITY
        out: dict[str, int] = {}
        wanted = [tuple(k.split(":", 1)) for k in keys]
        for part in chunks(wanted, 400):
            q = select(i.c.person_id, i.c.platform, i.c.platform_id).where(
                i.c.workspace_id == ws_id,
                i.c.platform.in_({p for p, _ in part}),
                i.c.platform_id.in_([x for _, x in part]),
            )
            for r in conn.execute(q):
                out[f"{r.platform}:{r.platform_id}"] = r.person_id
        return out

    # -- time series ----------------------------------------------------------------------------------------

    def daily_counts(
        self,
        conn: Connection,
        ws_id: int,
        *,
        group_ids: list[int],
        kinds: tuple[str, ...],
        since_ms: int,
        offset_ms: int,
    ) -> dict[tuple[str, int], int]:
        """(kind, local day number since the epoch) → events, for these groups since ``since_ms``."""
        if not group_ids:
            return {}
        e = EVENT
        day = ((e.c.at_ms + literal(offset_ms)) // literal(DAY_MS)).label("day")
        out: dict[tuple[str, int], int] = {}
        for part in chunks(group_ids, 500):
            q = (
                select(e.c.kind, day, func.count())
                .where(e.c.group_id.in_(part), e.c.at_ms >= since_ms, e.c.kind.in_(kinds))
                .group_by(e.c.kind, day)
            )
            for kind, d, n in conn.execute(q):
                out[(kind, int(d))] = out.get((kind, int(d)), 0) + int(n)
        return out

    def hour_counts(
        self, conn: Connection, ws_id: int, *, group_id: int, since_ms: int, offset_ms: int
    ) -> dict[int, int]:
        """Local hour number since the epoch → messages in the group since ``since_ms``."""
        params = {"offset": offset_ms, "hour": HOUR_MS, "gid": group_id, "since": since_ms}
        return {int(h): int(n) for h, n in _HOUR_COUNTS.rows(conn, params)}
