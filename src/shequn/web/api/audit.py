"""``/api/v1/audit``: the audit log (owners only): who changed what, and when."""

from __future__ import annotations

from fastapi import APIRouter, Query

from shequn.store._sql import from_ms
from shequn.web.deps import Admin, OpsDep
from shequn.web.schemas import AuditOut

router = APIRouter(tags=["audit"])


@router.get("/audit", response_model=list[AuditOut])
async def audit(principal: Admin, ops: OpsDep, limit: int = Query(200, ge=1, le=5000)) -> list[AuditOut]:
    return [
        AuditOut(
            at=from_ms(a.at_ms),
            actor=a.actor,
            verb=a.verb,
            object_type=a.object_type,
            object_id=a.object_id,
            detail=a.detail,
        )
        for a in ops.audit(limit=limit)
    ]
