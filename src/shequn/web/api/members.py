"""``/api/v1/members``: a member's profile (identities, memberships, tags), timeline, and tagging."""

from __future__ import annotations

from fastapi import APIRouter, Path, Query
from fastapi.responses import Response

from shequn.store._sql import from_ms
from shequn.web.deps import OpsDep, Reader, Writer
from shequn.web.schemas import PersonOut, TagIn, TimelineItem, json_response, member_json

router = APIRouter(tags=["members"])
PersonId = Path(ge=1, le=2**62)


@router.get("/members/{person_id}", response_model=PersonOut)
async def get_member(principal: Reader, ops: OpsDep, person_id: int = PersonId) -> Response:
    p = ops.member(person_id)
    return json_response(
        {
            "id": p["id"],
            "display_name": p["display_name"],
            "identities": p["identities"],
            "memberships": [member_json(m) for m in p["memberships"]],
            "ledger": {
                c: [
                    {"at": e.at, "points": e.points, "balance": e.balance, "reason": e.reason, "policy": e.policy}
                    for e in es
                ]
                for c, es in p["ledger"].items()
            },
            "violations": p["violations"],
            "blacklist": p["blacklist"],
        }
    )


@router.get("/members/{person_id}/timeline", response_model=list[TimelineItem])
async def timeline(
    principal: Reader,
    ops: OpsDep,
    person_id: int = PersonId,
    before: int | None = Query(None, ge=1, le=2**62, description="only events before this seq (paging)"),
    limit: int = Query(50, ge=1, le=500),
) -> Response:
    return json_response(
        [
            {
                "seq": e["seq"],
                "kind": e["kind"],
                "at": from_ms(e["at_ms"]),
                "group_id": e["group_id"],
                "group": e["group"],
                "event": e["event"],
            }
            for e in ops.timeline(person_id, before_seq=before, limit=limit)
        ]
    )


@router.post("/members/{person_id}/tags", response_model=dict[str, bool])
def tag(body: TagIn, principal: Writer, ops: OpsDep, person_id: int = PersonId) -> dict[str, bool]:
    """Tag (or untag) the member in one community; logged as an event, so a replay keeps it."""
    changed = ops.tag_member(person_id, body.community, body.tag, remove=body.remove, actor=principal.actor)
    return {"logged": changed}
