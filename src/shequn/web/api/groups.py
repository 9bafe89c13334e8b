"""``/api/v1/groups``: groups with their counters, one group's roster and activity heatmap, its lifecycle steps."""

from __future__ import annotations

from datetime import datetime
from typing import Literal

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from shequn.domain import UserError
from shequn.web.deps import OpsDep, Reader, Writer
from shequn.web.schemas import GroupOut, MemberOut, group_json, json_response, member_json

router = APIRouter(tags=["groups"])
GroupId = Path(ge=1, le=2**62)


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(principal: Reader, ops: OpsDep, community: str | None = Query(None, max_length=100)) -> Response:
    return json_response([group_json(g) for g in ops.groups(community=community)])


@router.get("/groups/{group_id}", response_model=GroupOut)
async def get_group(principal: Reader, ops: OpsDep, group_id: int = GroupId) -> Response:
    return json_response(group_json(ops.group(group_id)))


@router.get("/groups/{group_id}/members", response_model=list[MemberOut])
async def roster(
    principal: Reader,
    ops: OpsDep,
    group_id: int = GroupId,
    limit: int = Query(200, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=10**7),
) -> Response:
    """Everyone in the group now, by member number, a page at a time."""
    return json_response([member_json(m) for m in ops.roster(group_id, limit=limit, offset=offset)])


@router.get("/groups/{group_id}/heatmap", response_model=dict[str, object])
async def heatmap(principal: Reader, ops: OpsDep, group_id: int = GroupId) -> Response:
    """Messages by weekday (Monday first) × local hour over the last 28 days of the group's activity."""
    return json_response(ops.heatmap(ops.group(group_id)))


class LifecycleIn(BaseModel):
    """A lifecycle step's options (each step reads its own): ``dry_run`` counts what it would do, writes nothing."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    into: str | None = Field(None, min_length=1, max_length=300, description="split/merge: the other group")
    by: str | None = Field(None, max_length=80, description="split: activity, joined or tag:NAME")
    count: int | None = Field(None, ge=1, le=100_000, description="split: how many move (half by default)")
    name: str = Field("", max_length=100, description="split: the new group's name")
    force: bool = Field(False, description="split: even under the cap")
    to: str = Field("", max_length=200, description="handover: the new holder's platform id")
    role: str = Field("architect", max_length=40, description="handover: the role handed over")
    from_: str = Field("", alias="from", max_length=200, description="handover: who leaves")
    ends: datetime | None = Field(None, description="temporary: the end (null: no end)")
    dry_run: bool = False


LifecycleVerb = Literal["split", "merge", "archive", "dissolve", "reopen", "handover", "temporary"]
_OPTIONS: dict[str, tuple[str, ...]] = {
    "split": ("by", "count", "into", "name", "force"),
    "merge": ("into",),
    "handover": ("to", "role", "from_"),
    "temporary": ("ends",),
}


@router.post("/groups/{group_id}/{verb}", response_model=dict[str, object])
def lifecycle(
    body: LifecycleIn, principal: Writer, ops: OpsDep, verb: LifecycleVerb, group_id: int = GroupId
) -> Response:
    """A step of the group's lifecycle (分群、合并、归档、解散、恢复、移交、临时群), as ``shequn group <verb>`` does it:
    the actions go to the outbox (or staff), the state to the log, the step to the audit log."""
    options = {k: getattr(body, k) for k in _OPTIONS.get(verb, ())}
    if verb == "merge" and not body.into:
        raise UserError("merge needs into: the group to merge into", exit_code=2)
    if verb == "handover" and not body.to:
        raise UserError("handover needs to: the new holder's platform id", exit_code=2)
    out = ops.lifecycle(verb, group_id, actor=principal.actor, dry_run=body.dry_run, **options)
    return json_response(out.to_dict())
