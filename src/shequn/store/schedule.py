"""The scheduler's tables: its cursor, the occurrences it decided (runs), activities, and the event windows the
content builders read."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, select, update

from shequn.domain import Event, event_from_dict
from shequn.store._sql import chunks, dumps, insert_ignore, loads
from shequn.store.schema import ACTIVITY, COMMUNITY, EVENT, SCHEDULE_RUN, SCHEDULER_CURSOR, SCHEDULER_SHARD_CURSOR


@dataclass(frozen=True, slots=True)
class RunRow:
    key: str
    community_id: int | None
    group_id: int | None
    job: str
    at_ms: int
    local_date: str
    status: str  # sent | capped | empty | missed
    counts: bool
    actions: int
    detail: dict[str, Any]


@dataclass(frozen=True, slots=True)
class ActivityRecord:
    id: int
    key: str
    community: str
    kind: str
    title: str
    status: str
    starts_ms: int | None
    ends_ms: int | None
    spec: dict[str, Any]


class ScheduleStore:
    # -- cursor -------------------------------------------------------------------------------------------------

    def cursor(self, conn: Connection, ws_id: int, *, shard: int | None = None) -> int | None:
        """Up to when the workspace's jobs are decided (``shard``: those of the shard's communities; a shard not run
        before starts where the workspace's whole scheduler stopped, so moving to workers skips and repeats nothing)."""
        if shard is not None:
            s = SCHEDULER_SHARD_CURSOR
            q = select(s.c.last_ms).where(s.c.workspace_id == ws_id, s.c.shard == shard)
            found: int | None = conn.execute(q).scalar()
            if found is not None:
                return found
        t = SCHEDULER_CURSOR
        return conn.execute(select(t.c.last_ms).where(t.c.workspace_id == ws_id)).scalar()

    def set_cursor(self, conn: Connection, ws_id: int, last_ms: int, *, now_ms: int, shard: int | None = None) -> None:
        if shard is not None:
            s = SCHEDULER_SHARD_CURSOR
            row = dict(workspace_id=ws_id, shard=shard, last_ms=last_ms, updated_ms=now_ms)
            conn.execute(insert_ignore(conn, s, ["workspace_id", "shard"]).values(**row))
            where = (s.c.workspace_id == ws_id) & (s.c.shard == shard)
            conn.execute(update(s).where(where).values(last_ms=last_ms, updated_ms=now_ms))
            return
        t = SCHEDULER_CURSOR
        conn.execute(
            insert_ignore(conn, t, ["workspace_id"]).values(workspace_id=ws_id, last_ms=last_ms, updated_ms=now_ms)
        )
        conn.execute(update(t).where(t.c.workspace_id == ws_id).values(last_ms=last_ms, updated_ms=now_ms))

    # -- runs ---------------------------------------------------------------------------------------------------

    def add_runs(self, conn: Connection, ws_id: int, runs: Sequence[RunRow], *, now_ms: int) -> set[str]:
        """Record runs not recorded before (by key); return the keys newly recorded."""
        if not runs:
            return set()
        t = SCHEDULE_RUN
        rows = [
            dict(
                workspace_id=ws_id,
                key=r.key,
                community_id=r.community_id,
                group_id=r.group_id,
                job=r.job,
                at_ms=r.at_ms,
                local_date=r.local_date,
                status=r.status,
                counts=r.counts,
                actions=r.actions,
                detail=dumps(r.detail),
                created_ms=now_ms,
            )
            for r in runs
        ]
        got: set[str] = set()
        for part in chunks(rows, 2000):
            got.update(
                k
                for (k,) in conn.execute(insert_ignore(conn, t, ["workspace_id", "key"]).returning(t.c.key), list(part))
            )
        return got

    def known(self, conn: Connection, ws_id: int, keys: Iterable[str]) -> set[str]:
        t = SCHEDULE_RUN
        found: set[str] = set()
        for part in chunks(list(keys), 500):
            found.update(
                k for (k,) in conn.execute(select(t.c.key).where(t.c.workspace_id == ws_id, t.c.key.in_(part)))
            )
        return found

    def set_run(
        self, conn: Connection, ws_id: int, key: str, *, status: str, actions: int, detail: dict[str, Any]
    ) -> None:
        t = SCHEDULE_RUN
        conn.execute(
            update(t)
            .where(t.c.workspace_id == ws_id, t.c.key == key)
            .values(status=status, actions=actions, detail=dumps(detail))
        )

    def run_detail(self, conn: Connection, ws_id: int, key: str) -> dict[str, Any] | None:
        t = SCHEDULE_RUN
        r = conn.execute(select(t.c.detail).where(t.c.workspace_id == ws_id, t.c.key == key)).scalar()
        return loads(r) if r is not None else None

    def runs(
        self,
        conn: Connection,
        ws_id: int,
        *,
        since_ms: int,
        until_ms: int,
        limit: int = 5000,
        group_ids: Sequence[int] | None = None,
    ) -> list[RunRow]:
        """Runs with ``since_ms < at <= until_ms`` (of these groups only, when given), in time order."""
        t = SCHEDULE_RUN
        base = select(t).where(t.c.workspace_id == ws_id, t.c.at_ms > since_ms, t.c.at_ms <= until_ms)
        rows: list[Any]
        if group_ids is not None:
            rows = []
            for part in chunks(list(group_ids), 500):
                rows.extend(conn.execute(base.where(t.c.group_id.in_(part))))
            rows.sort(key=lambda r: (r.at_ms, r.id))
        else:
            rows = list(conn.execute(base.order_by(t.c.at_ms, t.c.id).limit(limit)))
        return [
            RunRow(
                r.key,
                r.community_id,
                r.group_id,
                r.job,
                r.at_ms,
                r.local_date,
                r.status,
                bool(r.counts),
                r.actions,
                loads(r.detail),
            )
            for r in rows
        ]

    # -- activities ---------------------------------------------------------------------------------------------

    def put_activity(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int,
        key: str,
        kind: str,
        title: str,
        status: str,
        starts_ms: int | None,
        ends_ms: int | None,
        spec: dict[str, Any],
        now_ms: int,
    ) -> None:
        t = ACTIVITY
        values = dict(
            community_id=community_id,
            kind=kind,
            title=title,
            status=status,
            starts_ms=starts_ms,
            ends_ms=ends_ms,
            spec=dumps(spec),
            updated_ms=now_ms,
        )
        res = conn.execute(update(t).where(t.c.workspace_id == ws_id, t.c.key == key).values(**values))
        if not res.rowcount:
            conn.execute(t.insert().values(workspace_id=ws_id, key=key, created_ms=now_ms, **values))

    def activities(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int | None = None,
        key: str | None = None,
        ends_after_ms: int | None = None,
    ) -> list[ActivityRecord]:
        t, c = ACTIVITY, COMMUNITY
        q = (
            select(t, c.c.name.label("community_name"))
            .select_from(t.join(c, t.c.community_id == c.c.id))
            .where(t.c.workspace_id == ws_id)
        )
        if community_id is not None:
            q = q.where(t.c.community_id == community_id)
        if key is not None:
            q = q.where(t.c.key == key)
        if ends_after_ms is not None:
            q = q.where((t.c.ends_ms.is_(None)) | (t.c.ends_ms >= ends_after_ms))
        return [
            ActivityRecord(
                r.id, r.key, r.community_name, r.kind, r.title, r.status, r.starts_ms, r.ends_ms, loads(r.spec)
            )
            for r in conn.execute(q.order_by(t.c.starts_ms, t.c.id))
        ]

    # -- event windows ------------------------------------------------------------------------------------------

    def events_in(
        self, conn: Connection, ws_id: int, group_ids: Sequence[int], *, start_ms: int, end_ms: int
    ) -> list[tuple[int, Event]]:
        """Events of these groups with ``start_ms <= at < end_ms``, in time order (the group index serves it)."""
        t = EVENT
        out: list[tuple[int, Event]] = []
        for part in chunks(list(group_ids), 500):
            q = (
                select(t.c.group_id, t.c.payload)
                .where(t.c.group_id.in_(part), t.c.at_ms >= start_ms, t.c.at_ms < end_ms, t.c.workspace_id == ws_id)
                .order_by(t.c.at_ms, t.c.seq)
            )
            out.extend((gid, event_from_dict(orjson.loads(p))) for gid, p in conn.execute(q))
        return out
