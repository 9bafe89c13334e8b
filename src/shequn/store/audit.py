"""The audit log (审计日志): who changed what, and when."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, insert, select

from shequn.store._sql import dumps, loads
from shequn.store.schema import AUDIT


@dataclass(frozen=True, slots=True)
class AuditEntry:
    at_ms: int
    actor: str
    verb: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


class AuditStore:
    def record(
        self,
        conn: Connection,
        ws_id: int,
        *,
        actor: str,
        verb: str,
        object_type: str,
        object_id: str,
        detail: dict[str, Any] | None = None,
        now_ms: int,
    ) -> None:
        conn.execute(
            insert(AUDIT).values(
                workspace_id=ws_id,
                at_ms=now_ms,
                actor=actor,
                verb=verb,
                object_type=object_type,
                object_id=object_id,
                detail=dumps(detail or {}),
            )
        )

    def list(self, conn: Connection, ws_id: int, *, limit: int = 200) -> list[AuditEntry]:
        t = AUDIT
        q = select(t).where(t.c.workspace_id == ws_id).order_by(t.c.id.desc()).limit(limit)
        return [
            AuditEntry(r.at_ms, r.actor, r.verb, r.object_type, r.object_id, loads(r.detail)) for r in conn.execute(q)
        ]
