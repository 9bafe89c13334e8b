"""The HTTP API, versioned under ``/api/v1``: one router per resource, each route thin (parse, authorize, call one
operation, answer). The modules' routes are copied onto one flat router (:mod:`shequn.web.routes`)."""

from __future__ import annotations

from fastapi import APIRouter

from shequn.web.api import (
    audit,
    communities,
    events,
    groups,
    growth,
    imports,
    inbox,
    members,
    meta,
    segments,
    tasks,
    tokens,
    users,
    webhooks,
)
from shequn.web.routes import flatten

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
    inbox,  # issue 20: the operator's inbox
):
    flatten(router, module.router)

__all__ = ["router"]
