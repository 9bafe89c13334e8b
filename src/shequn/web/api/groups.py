"""``/api/v1/groups``: groups with their counters, one group's roster and activity heatmap."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query

from shequn.web.deps import OpsDep, Reader
from shequn.web.schemas import GroupOut, MemberOut

router = APIRouter(tags=["groups"])
GroupId = Path(ge=1, le=2**62)


@router.get("/groups", response_model=list[GroupOut])
async def list_groups(
    principal: Reader, ops: OpsDep, community: str | None = Query(None, max_length=100)
) -> list[GroupOut]:
    return [GroupOut.of(g) for g in ops.groups(community=community)]


@router.get("/groups/{group_id}", response_model=GroupOut)
async def get_group(principal: Reader, ops: OpsDep, group_id: int = GroupId) -> GroupOut:
    return GroupOut.of(ops.group(group_id))


@router.get("/groups/{group_id}/members", response_model=list[MemberOut])
async def roster(
    principal: Reader,
    ops: OpsDep,
    group_id: int = GroupId,
    limit: int = Query(200, ge=1, le=5000),
    offset: int = Query(0, ge=0, le=10**7),
) -> list[MemberOut]:
    """Everyone in the group now, by member number, a page at a time."""
    return [MemberOut.of(m) for m in ops.roster(group_id, limit=limit, offset=offset)]


@router.get("/groups/{group_id}/heatmap")
async def heatmap(principal: Reader, ops: OpsDep, group_id: int = GroupId) -> dict[str, object]:
    """Messages by weekday (Monday first) × local hour over the last 28 days of the group's activity."""
    return ops.heatmap(ops.group(group_id))
