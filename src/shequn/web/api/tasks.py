"""``/api/v1/tasks``: the staff task queue and marking a task done."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from shequn.web.deps import OpsDep, Reader, Writer
from shequn.web.schemas import TaskOut, json_response, task_json

router = APIRouter(tags=["staff tasks"])


@router.get("/tasks", response_model=list[TaskOut])
async def list_tasks(
    principal: Reader,
    ops: OpsDep,
    status: Literal["open", "done", "cancelled"] = "open",
    limit: int = Query(500, ge=1, le=5000),
) -> Response:
    return json_response([task_json(t) for t in ops.tasks(status=status, limit=limit)])


@router.post("/tasks/{task_id}/done", response_model=dict[str, bool])
def done(principal: Writer, ops: OpsDep, task_id: int = Path(ge=1, le=2**62)) -> dict[str, bool]:
    """Mark an open task done (by whoever calls)."""
    ops.complete_task(task_id, actor=principal.actor)
    return {"done": True}
