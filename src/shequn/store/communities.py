"""Communities and their specs."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Literal

from sqlalchemy import Connection, insert, select, update

from shequn.playbook.spec import CommunitySpec
from shequn.store._sql import dumps, loads
from shequn.store.schema import COMMUNITY

ApplyOutcome = Literal["created", "updated", "unchanged"]


@dataclass(frozen=True, slots=True)
class CommunityRecord:
    id: int
    name: str
    type: str
    spec: CommunitySpec
    spec_hash: str
    created_ms: int
    updated_ms: int


def spec_hash(spec: CommunitySpec) -> str:
    """A hash of the complete spec: equal specs (after defaults are filled) hash equal."""
    return hashlib.sha256(dumps(spec.model_dump(mode="json")).encode()).hexdigest()


class CommunityStore:
    def _record(self, r: object) -> CommunityRecord:
        return CommunityRecord(
            id=r.id,  # type: ignore[attr-defined]
            name=r.name,  # type: ignore[attr-defined]
            type=r.type,  # type: ignore[attr-defined]
            spec=CommunitySpec.model_validate(loads(r.spec)),  # type: ignore[attr-defined]
            spec_hash=r.spec_hash,  # type: ignore[attr-defined]
            created_ms=r.created_ms,  # type: ignore[attr-defined]
            updated_ms=r.updated_ms,  # type: ignore[attr-defined]
        )

    def get(self, conn: Connection, ws_id: int, *, name: str) -> CommunityRecord | None:
        t = COMMUNITY
        r = conn.execute(select(t).where(t.c.workspace_id == ws_id, t.c.name == name)).first()
        return self._record(r) if r else None

    def list(self, conn: Connection, ws_id: int) -> list[CommunityRecord]:
        t = COMMUNITY
        rows = conn.execute(select(t).where(t.c.workspace_id == ws_id).order_by(t.c.id))
        return [self._record(r) for r in rows]

    def ids(self, conn: Connection, ws_id: int) -> dict[str, int]:
        t = COMMUNITY
        return {r.name: r.id for r in conn.execute(select(t.c.id, t.c.name).where(t.c.workspace_id == ws_id))}

    def put(self, conn: Connection, ws_id: int, spec: CommunitySpec, *, now_ms: int) -> tuple[int, ApplyOutcome]:
        """Create the community named by ``spec`` or update it; report which (or that nothing changed)."""
        t = COMMUNITY
        h = spec_hash(spec)
        body = dumps(spec.model_dump(mode="json"))
        existing = conn.execute(
            select(t.c.id, t.c.spec_hash).where(t.c.workspace_id == ws_id, t.c.name == spec.name)
        ).first()
        if existing is None:
            res = conn.execute(
                insert(t).values(
                    workspace_id=ws_id,
                    name=spec.name,
                    type=spec.type,
                    spec=body,
                    spec_hash=h,
                    created_ms=now_ms,
                    updated_ms=now_ms,
                )
            )
            return int(res.inserted_primary_key[0]), "created"  # type: ignore[index]
        if existing.spec_hash == h:
            return existing.id, "unchanged"
        conn.execute(
            update(t).where(t.c.id == existing.id).values(type=spec.type, spec=body, spec_hash=h, updated_ms=now_ms)
        )
        return existing.id, "updated"
