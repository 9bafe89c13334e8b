"""Staff tasks (人工任务): what a person must do because the platform forbids the bot, or judgement is needed."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select, update

from shequn.domain import UserError
from shequn.store._sql import dumps, loads
from shequn.store.schema import STAFF_TASK

BATCH = "batch"  # the kind of a task gathering one group's items (see add_to_batch)
BATCH_ITEMS = 200  # a fuller batch is left as it is and a new one opened (each add rewrites the batch's detail)


@dataclass(frozen=True, slots=True)
class StaffTask:
    id: int
    kind: str
    reason: str
    title: str
    detail: dict[str, Any]
    status: str
    action_id: int | None
    community_id: int | None
    group_id: int | None
    created_ms: int
    done_ms: int | None
    done_by: str


class StaffTaskStore:
    def open(
        self,
        conn: Connection,
        ws_id: int,
        *,
        kind: str,
        reason: str,
        title: str,
        detail: dict[str, Any],
        now_ms: int,
        action_id: int | None = None,
        community_id: int | None = None,
        group_id: int | None = None,
    ) -> int:
        t = STAFF_TASK
        res = conn.execute(
            insert(t).values(
                workspace_id=ws_id,
                action_id=action_id,
                community_id=community_id,
                group_id=group_id,
                kind=kind,
                reason=reason,
                title=title,
                detail=dumps(detail),
                status="open",
                created_ms=now_ms,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]

    def add_to_batch(
        self,
        conn: Connection,
        ws_id: int,
        *,
        group_id: int | None,
        item: dict[str, Any],
        title: Callable[[int], str],
        now_ms: int,
        action_id: int | None = None,
        community_id: int | None = None,
    ) -> tuple[int, bool]:
        """Add ``item`` to the group's open batch (a task of kind ``batch``), or open one with it: (task id, opened).

        A batch gathers what a person must do in one group until someone closes it, so a burst is handled in one
        pass; ``title(n)`` names it with its item count. The first item's action is the task's ``action_id``."""
        t = STAFF_TASK
        row = conn.execute(
            select(t.c.id, t.c.detail)
            .where(t.c.workspace_id == ws_id, t.c.status == "open", t.c.kind == BATCH)
            .where(t.c.group_id.is_(None) if group_id is None else t.c.group_id == group_id)
            .order_by(t.c.id.desc())
            .limit(1)
        ).first()
        detail = loads(row.detail) if row is not None else {}
        if row is None or len(detail.get("items", [])) >= BATCH_ITEMS:
            detail = {"batch": True, "items": [item]}
            return self.open(
                conn,
                ws_id,
                kind=BATCH,
                reason=str(item.get("reason", "")),
                title=title(1),
                detail=detail,
                now_ms=now_ms,
                action_id=action_id,
                community_id=community_id,
                group_id=group_id,
            ), True
        items = [*detail.get("items", []), item]
        conn.execute(
            update(t).where(t.c.id == row.id).values(detail=dumps({**detail, "items": items}), title=title(len(items)))
        )
        return int(row.id), False

    def list(self, conn: Connection, ws_id: int, *, status: str | None = "open", limit: int = 500) -> list[StaffTask]:
        t = STAFF_TASK
        q = select(t).where(t.c.workspace_id == ws_id)
        if status:
            q = q.where(t.c.status == status)
        return [
            StaffTask(
                r.id,
                r.kind,
                r.reason,
                r.title,
                loads(r.detail),
                r.status,
                r.action_id,
                r.community_id,
                r.group_id,
                r.created_ms,
                r.done_ms,
                r.done_by,
            )
            for r in conn.execute(q.order_by(t.c.id).limit(limit))
        ]

    def complete(self, conn: Connection, ws_id: int, task_id: int, *, by: str, now_ms: int) -> None:
        t = STAFF_TASK
        res = conn.execute(
            update(t)
            .where(t.c.workspace_id == ws_id, t.c.id == task_id, t.c.status == "open")
            .values(status="done", done_ms=now_ms, done_by=by)
        )
        if res.rowcount != 1:
            raise UserError(f"staff task {task_id} is not open in this workspace")
