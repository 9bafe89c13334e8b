"""``/api/v1/events``: the event log, in order, paged by sequence number."""

from __future__ import annotations

from fastapi import APIRouter, Query
from fastapi.responses import Response

from shequn.domain import EventKind
from shequn.web.deps import OpsDep, Reader
from shequn.web.schemas import EventOut, json_response

router = APIRouter(tags=["events"])


@router.get("/events", response_model=list[EventOut])
async def list_events(
    principal: Reader,
    ops: OpsDep,
    after: int = Query(0, ge=0, le=2**62, description="events after this seq"),
    limit: int = Query(100, ge=1, le=1000),
    kind: EventKind | None = None,
) -> Response:
    page = ops.events(after_seq=after, limit=limit, kind=kind.value if kind else None)
    return json_response([{"seq": s, "event": e} for s, e in page])
