"""``/api/v1/groups``: groups with their counters, one group's roster and activity heatmap."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from shequn.web.deps import OpsDep, Reader
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
