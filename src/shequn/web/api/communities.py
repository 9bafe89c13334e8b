"""``/api/v1/communities``: the communities at a glance, one community, its spec (get and put), the overview."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Body, Query
from fastapi.responses import Response

from shequn.services.console import CommunityCard
from shequn.store._sql import from_ms
from shequn.web.deps import FreshDep, LocaleDep, OpsDep, Reader, Writer
from shequn.web.schemas import (
    ActivityOut,
    ApplyOut,
    CommunityOut,
    GroupOut,
    OverviewOut,
    RhythmOut,
    SpecOut,
    group_json,
    json_response,
)

router = APIRouter(tags=["communities"])


def _card(c: CommunityCard) -> dict[str, Any]:
    """A community's card as :class:`CommunityOut`."""
    spec = c.record.spec
    return {
        "name": c.record.name,
        "type": c.record.type,
        "type_name": c.type_name,
        "locale": spec.locale,
        "timezone": spec.timezone,
        "groups": c.groups,
        "members": c.members,
        "members_ever": c.members_ever,
        "messages": c.messages,
        "open_tasks": c.open_tasks,
        "last_message_at": from_ms(c.last_message_ms) if c.last_message_ms else None,
        "kpi_targets": dict(spec.kpis),
        "attention_groups": c.attention,
        "inbox_open": c.inbox_open,
        "inbox_pending": c.inbox_pending,
        "inbox_oldest_waiting_minutes": c.inbox_oldest_minutes,
    }


@router.get("/overview", response_model=OverviewOut)
async def overview(
    principal: Reader, ops: OpsDep, locale: LocaleDep, fresh: FreshDep, limit: int = Query(50, ge=1, le=1000)
) -> Response:
    """Every community with its figures, and the groups needing attention first (computed at most every few
    seconds; ``Cache-Control: no-cache`` asks for it computed now)."""
    ov = ops.overview(locale, limit=limit, fresh=fresh)
    return json_response(
        {
            "as_of": from_ms(ov.as_of_ms),
            "totals": ov.totals,
            "inbox_oldest_waiting_minutes": ov.inbox_oldest_minutes,
            "communities": [_card(c) for c in ov.communities],
            "attention": [
                {
                    "group": group_json(a.group),
                    "reasons": [{"code": c, **p} for c, p in a.reasons],
                    "score": float(a.score),
                }
                for a in ov.attention
            ],
        }
    )


@router.get("/communities", response_model=list[CommunityOut])
async def list_communities(principal: Reader, ops: OpsDep, locale: LocaleDep, fresh: FreshDep) -> Response:
    return json_response([_card(c) for c in ops.overview(locale, limit=1, fresh=fresh).communities])


@router.get("/communities/{name}", response_model=CommunityOut)
async def get_community(name: str, principal: Reader, ops: OpsDep, locale: LocaleDep) -> Response:
    ops.community(name)
    card = next(c for c in ops.overview(locale, limit=1).communities if c.record.name == name)
    return json_response(_card(card))


@router.get("/communities/{name}/spec", response_model=SpecOut)
async def get_spec(name: str, principal: Reader, ops: OpsDep) -> SpecOut:
    """The complete spec (every default written out), as JSON and as the YAML an operator keeps."""
    spec = ops.community(name).spec
    return SpecOut(name=name, spec=spec.model_dump(mode="json"), yaml=spec.to_yaml())


@router.put(
    "/communities/{name}/spec",
    response_model=ApplyOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/yaml": {"schema": {"type": "string"}},
                "text/plain": {"schema": {"type": "string"}},
            },
        }
    },
)
def put_spec(name: str, principal: Writer, ops: OpsDep, body: bytes = Body(b"", include_in_schema=False)) -> ApplyOut:
    """Create or replace the community's spec from YAML (JSON is YAML too); bad specs are refused with the line."""
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError:
        from shequn.domain import UserError

        raise UserError("the spec must be UTF-8 text", exit_code=2) from None
    outcome = ops.put_spec(name, text, actor=principal.actor)
    return ApplyOut(name=name, outcome=outcome)


@router.get("/communities/{name}/groups", response_model=list[GroupOut])
def community_groups(name: str, principal: Reader, ops: OpsDep) -> list[GroupOut]:
    return [GroupOut.of(g) for g in ops.community_groups(ops.community(name))]


@router.get("/communities/{name}/trends")
def trends(name: str, principal: Reader, ops: OpsDep) -> dict[str, object]:
    """Daily messages, joins and leaves over the last 30 days (the community's local days)."""
    record = ops.community(name)
    return ops.trends(record, ops.community_groups(record))


@router.get("/communities/{name}/rhythm", response_model=list[RhythmOut])
def rhythm(
    name: str, principal: Reader, ops: OpsDep, locale: LocaleDep, days: int = Query(7, ge=1, le=31)
) -> list[RhythmOut]:
    """What the scheduler plans to post in the community's groups over the next ``days`` (local times)."""
    record = ops.community(name)
    return [
        RhythmOut(local=r.local.isoformat(), group=r.group, job=r.job, label=r.label, status=r.status)
        for r in ops.rhythm(record, ops.community_groups(record), locale, days=days)
    ]


@router.get("/communities/{name}/activities", response_model=list[ActivityOut])
async def activities(name: str, principal: Reader, ops: OpsDep) -> list[ActivityOut]:
    """Guest talks and offline events not yet done or cancelled, soonest first."""
    return [
        ActivityOut(
            key=a.key,
            kind=a.kind,
            title=a.title,
            status=a.status,
            starts=from_ms(a.starts_ms) if a.starts_ms is not None else None,
            ends=from_ms(a.ends_ms) if a.ends_ms is not None else None,
            groups=list(a.spec.get("groups", [])),
        )
        for a in ops.activities(ops.community(name))
    ]
