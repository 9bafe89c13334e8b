"""``/api/v1/me`` and the OpenAPI schema (published to authenticated clients)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request

from shequn.web.deps import Reader
from shequn.web.schemas import MeOut

router = APIRouter(tags=["meta"])


@router.get("/me", response_model=MeOut)
async def me(principal: Reader) -> MeOut:
    """Who the credentials belong to and what they may do."""
    return MeOut(
        username=principal.user.username,
        role=principal.user.role,
        permissions=sorted(p.value for p in principal.perms),
        via="token" if principal.token else "session",
    )


@router.get("/openapi.json", include_in_schema=False)
async def openapi(request: Request, principal: Reader) -> dict[str, Any]:
    schema: dict[str, Any] = request.app.openapi()
    return schema
