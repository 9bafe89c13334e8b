"""The outbox's rows: every external action decided, once per idempotency key, with its delivery state."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from sqlalchemy import Connection, func, select, update

from shequn.domain import Action, action_from_dict
from shequn.store._sql import dumps, insert_ignore, loads, to_ms
from shequn.store.schema import ACTION


class ActionStatus(StrEnum):
    PENDING = "pending"  # waiting to be sent
    SENDING = "sending"  # handed to a connector, not yet confirmed
    SENT = "sent"
    FAILED = "failed"  # gave up after retries
    STAFF = "staff"  # turned into a staff task
    DROPPED = "dropped"  # decided while replaying history, or taken back before sending: never sent
    UNCONFIRMED = "unconfirmed"  # a crash hid whether it reached the platform: a person checks (staff task)


@dataclass(frozen=True, slots=True)
class OutboxItem:
    id: int
    action: Action
    status: ActionStatus
    attempts: int
    group_id: int | None


class ActionStore:
    def enqueue(
        self,
        conn: Connection,
        ws_id: int,
        actions: Sequence[Action],
        *,
        group_ids: dict[str, int],
        community_ids: dict[str, int],
        status: ActionStatus = ActionStatus.PENDING,
        now_ms: int,
    ) -> dict[str, int]:
        """Record actions not recorded before (by key); return key → row id of those newly added."""
        if not actions:
            return {}
        t = ACTION
        rows = [
            dict(
                workspace_id=ws_id,
                key=a.key,
                kind=a.kind.value,
                platform=a.platform,
                group_id=group_ids.get(f"{a.platform}:{a.group}") if a.group else None,
                community_id=community_ids.get(a.community),
                payload=dumps(a.to_dict(compact=True)),
                status=status.value,
                due_ms=to_ms(a.at),
                attempts=0,
                last_error="",
                result="{}",
                created_ms=now_ms,
            )
            for a in actions
        ]
        res = conn.execute(insert_ignore(conn, t, ["workspace_id", "key"]).returning(t.c.id, t.c.key), rows)
        return {key: id_ for id_, key in res}

    def items(
        self, conn: Connection, ws_id: int, *, status: ActionStatus | None = None, limit: int = 1000
    ) -> list[OutboxItem]:
        t = ACTION
        q = select(t).where(t.c.workspace_id == ws_id)
        if status is not None:
            q = q.where(t.c.status == status.value)
        rows = conn.execute(q.order_by(t.c.due_ms, t.c.id).limit(limit))
        return [
            OutboxItem(r.id, action_from_dict(loads(r.payload)), ActionStatus(r.status), r.attempts, r.group_id)
            for r in rows
        ]

    def mark(
        self,
        conn: Connection,
        action_id: int,
        *,
        status: ActionStatus,
        now_ms: int,
        result: dict[str, object] | None = None,
        error: str = "",
    ) -> None:
        t = ACTION
        values: dict[str, object] = dict(status=status.value, attempts=t.c.attempts + 1, last_error=error)
        if result is not None:
            values["result"] = dumps(result)
        if status is ActionStatus.SENT:
            values["sent_ms"] = now_ms
        conn.execute(update(t).where(t.c.id == action_id).values(**values))

    def pending_words(self, conn: Connection, ws_id: int, platforms: Sequence[str]) -> list[tuple[int, Action]]:
        """The posts, replies and private messages still waiting to go out on ``platforms`` (id, action)."""
        t = ACTION
        q = select(t.c.id, t.c.payload).where(
            t.c.workspace_id == ws_id,
            t.c.status == ActionStatus.PENDING.value,
            t.c.platform.in_(list(platforms)),
            t.c.kind.in_(("post", "reply", "direct_message")),
        )
        return [(id_, action_from_dict(loads(payload))) for id_, payload in conn.execute(q)]

    def drop(self, conn: Connection, ids: Sequence[int], *, reason: str) -> None:
        """Take pending rows back before they are sent (``dropped``, with the reason)."""
        if ids:
            t = ACTION
            conn.execute(
                update(t)
                .where(t.c.id.in_(list(ids)), t.c.status == ActionStatus.PENDING.value)
                .values(status=ActionStatus.DROPPED.value, last_error=reason)
            )

    def count_by_status(self, conn: Connection, ws_id: int) -> dict[str, int]:
        t = ACTION
        q = select(t.c.status, func.count()).where(t.c.workspace_id == ws_id).group_by(t.c.status)
        return {s: int(n) for s, n in conn.execute(q)}
