"""Growth tables: invite links, campaigns (referral contests, group fills, live codes), settlements, chapters; and
the joins and leaves of a community read from the event log for attribution."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import orjson
from sqlalchemy import Connection, distinct, func, insert, select, update

from shequn.domain import UserError
from shequn.store._sql import dumps, insert_ignore, loads
from shequn.store.schema import (
    CHAPTER,
    EVENT,
    GROUP_MEMBER,
    GROWTH_CAMPAIGN,
    IDENTITY,
    INVITE_LINK,
    MEMBERSHIP,
    PERSON,
    SETTLEMENT,
    STAFF_TASK,
)


@dataclass(frozen=True, slots=True)
class LinkRecord:
    id: int
    community_id: int
    code: str
    owner: str
    channel: str
    platform: str
    group: str
    campaign: str
    url: str
    created_ms: int
    revoked_ms: int | None


@dataclass(frozen=True, slots=True)
class CampaignRecord:
    id: int
    community_id: int
    key: str
    kind: str
    params: dict[str, Any]
    state: dict[str, Any]
    start_ms: int
    created_ms: int
    closed_ms: int | None


@dataclass(frozen=True, slots=True)
class ChapterRecord:
    id: int
    template_id: int
    community_id: int | None
    name: str
    leader: str
    city: str
    stage: str
    history: list[dict[str, Any]]
    created_ms: int
    updated_ms: int


class JoinRow(NamedTuple):
    """A join or a leave from the log: (kind, at, platform, actor, invite code, inviter, method, group platform id)."""

    kind: str
    at_ms: int
    platform: str
    actor: str
    invite_code: str
    inviter: str
    method: str
    group: str


def _link(r: Any) -> LinkRecord:
    return LinkRecord(
        r.id,
        r.community_id,
        r.code,
        r.owner,
        r.channel,
        r.platform,
        r.group_platform_id,
        r.campaign,
        r.url,
        r.created_ms,
        r.revoked_ms,
    )


def _campaign(r: Any) -> CampaignRecord:
    return CampaignRecord(
        r.id, r.community_id, r.key, r.kind, loads(r.params), loads(r.state), r.start_ms, r.created_ms, r.closed_ms
    )


class GrowthStore:
    # -- invite links ---------------------------------------------------------------------------------------

    def add_link(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int,
        code: str,
        owner: str = "",
        channel: str = "member",
        platform: str = "",
        group: str = "",
        campaign: str = "",
        url: str = "",
        now_ms: int,
    ) -> LinkRecord:
        t = INVITE_LINK
        res = conn.execute(
            insert_ignore(conn, t, ["workspace_id", "code"]).values(
                workspace_id=ws_id,
                community_id=community_id,
                code=code,
                owner=owner,
                channel=channel,
                platform=platform,
                group_platform_id=group,
                campaign=campaign,
                url=url,
                created_ms=now_ms,
            )
        )
        if not res.rowcount:
            raise UserError(f"the invite code {code!r} exists already", exit_code=2)
        found = self.link(conn, ws_id, code)
        assert found is not None
        return found

    def link(self, conn: Connection, ws_id: int, code: str) -> LinkRecord | None:
        t = INVITE_LINK
        r = conn.execute(select(t).where(t.c.workspace_id == ws_id, t.c.code == code)).first()
        return _link(r) if r else None

    def links(
        self, conn: Connection, ws_id: int, *, community_id: int | None = None, owner: str | None = None
    ) -> list[LinkRecord]:
        t = INVITE_LINK
        q = select(t).where(t.c.workspace_id == ws_id)
        if community_id is not None:
            q = q.where(t.c.community_id == community_id)
        if owner is not None:
            q = q.where(t.c.owner == owner)
        return [_link(r) for r in conn.execute(q.order_by(t.c.id))]

    def set_url(self, conn: Connection, link_id: int, url: str) -> None:
        conn.execute(update(INVITE_LINK).where(INVITE_LINK.c.id == link_id).values(url=url))

    def revoke(self, conn: Connection, ws_id: int, code: str, *, now_ms: int) -> bool:
        t = INVITE_LINK
        res = conn.execute(
            update(t)
            .where(t.c.workspace_id == ws_id, t.c.code == code, t.c.revoked_ms.is_(None))
            .values(revoked_ms=now_ms)
        )
        return bool(res.rowcount)

    # -- campaigns and settlements --------------------------------------------------------------------------

    def put_campaign(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int,
        key: str,
        kind: str,
        params: dict[str, Any],
        start_ms: int,
        now_ms: int,
    ) -> CampaignRecord:
        t = GROWTH_CAMPAIGN
        old = self.campaign(conn, ws_id, key)
        if old is None:
            conn.execute(
                insert(t).values(
                    workspace_id=ws_id,
                    community_id=community_id,
                    key=key,
                    kind=kind,
                    params=dumps(params),
                    state="{}",
                    start_ms=start_ms,
                    created_ms=now_ms,
                )
            )
        else:
            if old.kind != kind or old.community_id != community_id:
                raise UserError(f"the campaign {key!r} exists already as a {old.kind} of another setup", exit_code=2)
            conn.execute(update(t).where(t.c.id == old.id).values(params=dumps(params)))
        found = self.campaign(conn, ws_id, key)
        assert found is not None
        return found

    def campaign(self, conn: Connection, ws_id: int, key: str) -> CampaignRecord | None:
        t = GROWTH_CAMPAIGN
        r = conn.execute(select(t).where(t.c.workspace_id == ws_id, t.c.key == key)).first()
        return _campaign(r) if r else None

    def campaigns(
        self, conn: Connection, ws_id: int, *, kind: str | None = None, community_id: int | None = None
    ) -> list[CampaignRecord]:
        t = GROWTH_CAMPAIGN
        q = select(t).where(t.c.workspace_id == ws_id)
        if kind:
            q = q.where(t.c.kind == kind)
        if community_id is not None:
            q = q.where(t.c.community_id == community_id)
        return [_campaign(r) for r in conn.execute(q.order_by(t.c.id))]

    def set_campaign_state(self, conn: Connection, campaign_id: int, state: dict[str, Any]) -> None:
        conn.execute(update(GROWTH_CAMPAIGN).where(GROWTH_CAMPAIGN.c.id == campaign_id).values(state=dumps(state)))

    def close_campaign(self, conn: Connection, campaign_id: int, *, now_ms: int) -> None:
        t = GROWTH_CAMPAIGN
        conn.execute(update(t).where(t.c.id == campaign_id, t.c.closed_ms.is_(None)).values(closed_ms=now_ms))

    def add_settlement(
        self, conn: Connection, campaign_id: int, *, start_ms: int, end_ms: int, result: dict[str, Any], now_ms: int
    ) -> bool:
        """Record a settled period; False when it was settled before (settling twice changes nothing)."""
        res = conn.execute(
            insert_ignore(conn, SETTLEMENT, ["campaign_id", "period_end_ms"]).values(
                campaign_id=campaign_id,
                period_start_ms=start_ms,
                period_end_ms=end_ms,
                result=dumps(result),
                created_ms=now_ms,
            )
        )
        return bool(res.rowcount)

    def settlements(self, conn: Connection, campaign_id: int) -> list[tuple[int, int, dict[str, Any]]]:
        t = SETTLEMENT
        q = select(t).where(t.c.campaign_id == campaign_id).order_by(t.c.period_end_ms)
        return [(r.period_start_ms, r.period_end_ms, loads(r.result)) for r in conn.execute(q)]

    # -- the benchmark-group programme ----------------------------------------------------------------------

    def put_chapter(
        self,
        conn: Connection,
        ws_id: int,
        *,
        template_id: int,
        name: str,
        leader: str,
        city: str,
        stage: str,
        note: str,
        now_ms: int,
    ) -> ChapterRecord:
        t = CHAPTER
        old = self.chapter(conn, ws_id, name)
        entry = {"stage": stage, "at_ms": now_ms, "note": note}
        if old is None:
            conn.execute(
                insert(t).values(
                    workspace_id=ws_id,
                    template_id=template_id,
                    name=name,
                    leader=leader,
                    city=city,
                    stage=stage,
                    history=dumps([entry]),
                    created_ms=now_ms,
                    updated_ms=now_ms,
                )
            )
        else:
            history = old.history + ([entry] if stage != old.stage or note else [])
            conn.execute(
                update(t)
                .where(t.c.id == old.id)
                .values(
                    leader=leader or old.leader,
                    city=city or old.city,
                    stage=stage,
                    history=dumps(history),
                    updated_ms=now_ms,
                )
            )
        found = self.chapter(conn, ws_id, name)
        assert found is not None
        return found

    def set_chapter_community(self, conn: Connection, chapter_id: int, community_id: int) -> None:
        conn.execute(update(CHAPTER).where(CHAPTER.c.id == chapter_id).values(community_id=community_id))

    def chapter(self, conn: Connection, ws_id: int, name: str) -> ChapterRecord | None:
        t = CHAPTER
        r = conn.execute(select(t).where(t.c.workspace_id == ws_id, t.c.name == name)).first()
        return self._chapter(r) if r else None

    def chapters(self, conn: Connection, ws_id: int) -> list[ChapterRecord]:
        t = CHAPTER
        return [self._chapter(r) for r in conn.execute(select(t).where(t.c.workspace_id == ws_id).order_by(t.c.id))]

    @staticmethod
    def _chapter(r: Any) -> ChapterRecord:
        return ChapterRecord(
            r.id,
            r.template_id,
            r.community_id,
            r.name,
            r.leader,
            r.city,
            r.stage,
            loads(r.history),
            r.created_ms,
            r.updated_ms,
        )

    # -- joins and leaves from the log ----------------------------------------------------------------------

    def joins(self, conn: Connection, ws_id: int, community_id: int) -> Iterator[JoinRow]:
        """The joins (roster snapshots excluded) and leaves in the community's groups, group by group in time order
        (attribution sorts them itself).

        Attribution reads every join of a community, a million rows for a big one: the query walks each group's
        ``(group_id, at_ms)`` index (on SQLite ``+workspace_id`` keeps it off the ``(workspace_id, uid)`` index,
        which would visit the rows in random order), the rows come through the driver's cursor in batches, and
        orjson parses the payloads (faster than SQLite's ``json_extract``, four times per row)."""
        pg = conn.dialect.name == "postgresql"
        mark = "%s" if pg else "?"
        ws = "e.workspace_id" if pg else "+e.workspace_id"
        sql = (
            "SELECT e.kind, e.at_ms, e.platform, e.payload, g.platform_id FROM chat_group g "
            f"{'JOIN' if pg else 'CROSS JOIN'} event e ON e.group_id = g.id "
            f"WHERE g.community_id = {mark} AND {ws} = {mark} AND e.kind IN ('join', 'leave')"
        )
        cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
        loads = orjson.loads
        new = tuple.__new__  # a named tuple without its Python-level __new__ (a million rows)
        try:
            cursor.execute(sql, (community_id, ws_id))
            while batch := cursor.fetchmany(20_000):
                for kind, at_ms, platform, payload, gid in batch:
                    p = loads(payload)
                    method = p.get("method", "")
                    if kind == "join" and method == "roster":
                        continue
                    row = (kind, at_ms, platform, p.get("actor", ""), p.get("invite_code", ""), p.get("inviter", ""))
                    yield new(JoinRow, (*row, method, gid))
        finally:
            cursor.close()

    def group_activity(
        self, conn: Connection, ws_id: int, group_ids: Sequence[int], *, since_ms: int
    ) -> dict[int, tuple[int, int, int, int, int]]:
        """group id → (members now, messages, speakers, voluntary leaves since ``since_ms``, open staff tasks)."""
        if not group_ids:
            return {}
        e, gm, st = EVENT, GROUP_MEMBER, STAFF_TASK
        ids = list(group_ids)
        out = {gid: [0, 0, 0, 0, 0] for gid in ids}
        for gid, n in conn.execute(
            select(gm.c.group_id, func.count()).where(gm.c.group_id.in_(ids)).group_by(gm.c.group_id)
        ):
            out[gid][0] = int(n)
        q = (
            select(e.c.group_id, func.count(), func.count(distinct(e.c.person_id)))
            .where(e.c.group_id.in_(ids), e.c.at_ms >= since_ms, e.c.kind == "message")
            .group_by(e.c.group_id)
        )
        for gid, n, speakers in conn.execute(q):
            out[gid][1], out[gid][2] = int(n), int(speakers)
        q = select(e.c.group_id, e.c.payload).where(e.c.group_id.in_(ids), e.c.at_ms >= since_ms, e.c.kind == "leave")
        for gid, payload in conn.execute(q):
            if orjson.loads(payload).get("reason", "unknown") in ("voluntary", "unknown"):
                out[gid][3] += 1
        q = (
            select(st.c.group_id, func.count())
            .where(st.c.group_id.in_(ids), st.c.status == "open")
            .group_by(st.c.group_id)
        )
        for gid, n in conn.execute(q):
            out[gid][4] = int(n)
        return {gid: (v[0], v[1], v[2], v[3], v[4]) for gid, v in out.items()}

    def messages(
        self, conn: Connection, ws_id: int, group_id: int, *, since_ms: int
    ) -> list[tuple[str, str, str, str]]:
        """(member key, message id, replied-to message id, text) of a group's messages since ``since_ms``."""
        e = EVENT
        q = (
            select(e.c.platform, e.c.payload)
            .where(e.c.group_id == group_id, e.c.at_ms >= since_ms, e.c.kind == "message")
            .order_by(e.c.seq)
        )
        out = []
        for platform, payload in conn.execute(q):
            p = orjson.loads(payload)
            if p.get("from_bot"):
                continue
            out.append(
                (f"{platform}:{p.get('actor', '')}", p.get("message_id", ""), p.get("reply_to", ""), p.get("text", ""))
            )
        return out

    def names(self, conn: Connection, community_id: int, keys: Sequence[str]) -> dict[str, str]:
        """member key → display name, for the members asked about (a leaderboard's, a tree's)."""
        m = MEMBERSHIP
        out: dict[str, str] = {}
        wanted = sorted(set(keys))
        for i in range(0, len(wanted), 500):
            q = select(m.c.member_key, m.c.data).where(
                m.c.community_id == community_id, m.c.member_key.in_(wanted[i : i + 500])
            )
            for key, data in conn.execute(q):
                name = orjson.loads(data).get("name", "")
                if name:
                    out[key] = name
        return out

    def persons(self, conn: Connection, ws_id: int) -> dict[str, int]:
        """identity key → person id for the identities of people with more than one: the only ones a self-invite
        under another identity can involve (everyone else is told apart by the key alone)."""
        i = IDENTITY
        identities = conn.execute(select(func.count()).where(i.c.workspace_id == ws_id)).scalar_one()
        people = conn.execute(select(func.count()).where(PERSON.c.workspace_id == ws_id)).scalar_one()
        if identities == people:
            return {}  # nobody has two identities (the usual case: two counts on covering indexes, not a grouping)
        several = select(i.c.person_id).where(i.c.workspace_id == ws_id).group_by(i.c.person_id)
        several = several.having(func.count() > 1)
        q = select(i.c.platform, i.c.platform_id, i.c.person_id).where(
            i.c.workspace_id == ws_id, i.c.person_id.in_(several)
        )
        return {f"{p}:{x}": person for p, x, person in conn.execute(q)}

    def link_table(self, conn: Connection, ws_id: int, community_id: int) -> list[tuple[str, str, str]]:
        """(code, owner, channel) of every link of a community (what attribution needs, read lean)."""
        t = INVITE_LINK
        q = select(t.c.code, t.c.owner, t.c.channel).where(t.c.workspace_id == ws_id, t.c.community_id == community_id)
        return [(c, o, ch) for c, o, ch in conn.execute(q)]
