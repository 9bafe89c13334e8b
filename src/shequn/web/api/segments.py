"""``/api/v1/segments``: choose members by tags, roles, level, status, join cohort and silence; act on them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from fastapi import APIRouter, Query

from shequn.domain import UserError
from shequn.services.console import Operations
from shequn.store import Segment
from shequn.store._sql import to_ms
from shequn.web.deps import OpsDep, Reader, Writer
from shequn.web.schemas import MemberOut, SegmentActionIn, SegmentActionOut, SegmentIn, SegmentOut

router = APIRouter(tags=["segments"])


def _ms(dt: datetime | None) -> int | None:
    if dt is None:
        return None
    return to_ms(dt if dt.tzinfo else dt.replace(tzinfo=UTC))


def to_segment(ops: Operations, s: SegmentIn) -> Segment:
    cid = ops.community(s.community).id if s.community else None
    if s.level_min is not None and s.level_max is not None and s.level_min > s.level_max:
        raise UserError("level_min is above level_max", exit_code=2)
    silent = None
    if s.silent_days is not None:
        silent = ops.reference_ms() - int(timedelta(days=s.silent_days).total_seconds() * 1000)
    return Segment(
        community_id=cid,
        group_id=s.group_id,
        statuses=tuple(s.statuses),
        tags=tuple(s.tags),
        without_tags=tuple(s.without_tags),
        roles=tuple(s.roles),
        level_min=s.level_min,
        level_max=s.level_max,
        joined_from_ms=_ms(s.joined_from),
        joined_to_ms=_ms(s.joined_to),
        silent_since_ms=silent,
    )


@router.post("/segments/preview", response_model=SegmentOut)
def preview(body: SegmentIn, principal: Reader, ops: OpsDep, limit: int = Query(200, ge=1, le=5000)) -> SegmentOut:
    """Who the segment chooses (a count and the first ``limit``); changes nothing."""
    result = ops.segment(to_segment(ops, body), limit=limit)
    return SegmentOut(total=result.total, truncated=result.truncated, members=[MemberOut.of(m) for m in result.members])


@router.post("/segments/actions", response_model=SegmentActionOut)
def act(body: SegmentActionIn, principal: Writer, ops: OpsDep) -> SegmentActionOut:
    """Tag, untag, message or invite every member of the segment. The same ``idempotency_key`` never acts twice:
    tags are events deduplicated by id, messages and invitations actions deduplicated by key."""
    out = ops.act_on_segment(
        to_segment(ops, body.segment), body.action, actor=principal.actor, key=body.idempotency_key,
        value=body.value, text=body.text, group_id=body.group_id,
    )  # fmt: skip
    return SegmentActionOut(**out)
