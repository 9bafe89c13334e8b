"""The HTTP API, versioned under ``/api/v1``: one router per resource, each route thin (parse, authorize, call one
operation, answer)."""

from __future__ import annotations

from fastapi import APIRouter

from shequn.web.api import (
    audit,
    communities,
    events,
    groups,
    growth,
    imports,
    members,
    meta,
    segments,
    tasks,
    tokens,
    users,
    webhooks,
)

router = APIRouter(prefix="/api/v1")
for module in (
    meta,
    communities,
    groups,
    members,
    events,
    tasks,
    segments,
    imports,
    tokens,
    users,
    audit,
    webhooks,
    growth,
):
    router.include_router(module.router)

__all__ = ["router"]
