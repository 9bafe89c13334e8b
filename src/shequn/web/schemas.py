"""The API's request and response shapes (one model per use, as the OpenAPI schema publishes them).

The busiest reads answer with :func:`json_response`: the body built as plain dicts in the model's shape (the
``*_json`` functions below, which the models' ``of`` constructors use too) and serialized by orjson, the route still
declaring its ``response_model`` for the schema. Building Pydantic models, validating them again (FastAPI does for
a returned model) and serializing them cost more than the read's SQL; ``tests/web/test_api_shapes.py`` checks every
such answer against its model.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import orjson
from fastapi.responses import Response
from pydantic import BaseModel, ConfigDict, Field

from shequn.store import GroupRow, MemberRow, StaffTask, TokenRecord, UserRecord
from shequn.store._sql import from_ms


def _t(ms: int | None) -> datetime | None:
    return from_ms(ms) if ms is not None else None


def json_response(content: Any) -> Response:
    """``content`` (dicts, lists, datetimes) as JSON, datetimes written as Pydantic writes them (UTC as ``Z``)."""
    return Response(orjson.dumps(content, option=orjson.OPT_UTC_Z), media_type="application/json")


def group_json(g: GroupRow) -> dict[str, Any]:
    """A group as :class:`GroupOut`."""
    return {
        "id": g.id,
        "platform": g.platform,
        "platform_id": g.platform_id,
        "name": g.name,
        "role": g.role,
        "capacity": g.capacity,
        "state": g.state,
        "community": g.community,
        "members": g.members,
        "messages": g.messages,
        "joins": g.joins,
        "last_message_at": _t(g.last_message_ms),
        "open_tasks": g.open_tasks,
    }


def member_json(m: MemberRow) -> dict[str, Any]:
    """A membership as :class:`MemberOut`."""
    key = m.key
    platform, _, platform_id = key.partition(":")
    return {
        "person_id": m.person_id,
        "community": m.community,
        "key": key,
        "platform": platform,
        "platform_id": platform_id,
        "number": m.number,
        "name": m.name,
        "status": m.status,
        "joined_at": _t(m.joined_ms),
        "left_at": _t(m.left_ms),
        "points": m.points,
        "level": m.level,
        "roles": m.roles,
        "tags": m.tags,
        "messages": m.messages,
        "last_active_at": datetime.fromisoformat(m.last_active) if m.last_active else None,
        "via": m.via,
        "groups": m.groups,
    }


def task_json(t: StaffTask) -> dict[str, Any]:
    """A staff task as :class:`TaskOut`."""
    return {
        "id": t.id,
        "kind": t.kind,
        "reason": t.reason,
        "title": t.title,
        "status": t.status,
        "community_id": t.community_id,
        "group_id": t.group_id,
        "created_at": from_ms(t.created_ms),
        "done_at": _t(t.done_ms),
        "done_by": t.done_by,
        "action": t.detail.get("action"),
        "items": t.detail.get("items", []),  # a batch's (WeCom): what to do, each with its reason and evidence
    }


class _Out(BaseModel):
    model_config = ConfigDict(frozen=True)


class Problem(_Out):
    detail: str


class CommunityOut(_Out):
    name: str
    type: str
    type_name: str
    locale: str
    timezone: str
    groups: int
    members: int
    members_ever: int
    messages: int
    open_tasks: int
    last_message_at: datetime | None
    kpi_targets: dict[str, float]
    attention_groups: int
    inbox_open: int = 0  # inbox items waiting for staff
    inbox_pending: int = 0  # inbox items answered, not resolved yet
    inbox_oldest_waiting_minutes: float | None = None  # the oldest unresolved item has waited this long


class GroupOut(_Out):
    id: int
    platform: str
    platform_id: str
    name: str
    role: str
    capacity: int | None
    state: str
    community: str | None
    members: int
    messages: int
    joins: int
    last_message_at: datetime | None
    open_tasks: int

    @classmethod
    def of(cls, g: GroupRow) -> GroupOut:
        return cls(**group_json(g))


class AttentionOut(_Out):
    group: GroupOut
    reasons: list[dict[str, Any]]
    score: float


class OverviewOut(_Out):
    as_of: datetime
    totals: dict[str, int]
    communities: list[CommunityOut]
    attention: list[AttentionOut]
    inbox_oldest_waiting_minutes: float | None = None


class MemberOut(_Out):
    person_id: int | None
    community: str
    key: str
    platform: str
    platform_id: str
    number: int
    name: str
    status: str
    joined_at: datetime | None
    left_at: datetime | None
    points: int
    level: int
    roles: list[str]
    tags: list[str]
    messages: int
    last_active_at: datetime | None
    via: str
    groups: list[str]

    @classmethod
    def of(cls, m: MemberRow) -> MemberOut:
        return cls(**member_json(m))


class IdentityOut(_Out):
    platform: str
    platform_id: str
    display_name: str


class LedgerOut(_Out):
    at: datetime
    points: int
    balance: int
    reason: str
    policy: str


class PersonOut(_Out):
    id: int
    display_name: str
    identities: list[IdentityOut]
    memberships: list[MemberOut]
    ledger: dict[str, list[LedgerOut]] = Field(description="per community: the newest 50 entries, newest first")
    violations: dict[str, list[dict[str, Any]]] = Field(description="per community: offences, newest first")
    blacklist: dict[str, dict[str, Any]] = Field(description="identity key → the shared blacklist's entry")


class TimelineItem(_Out):
    seq: int
    kind: str
    at: datetime
    group_id: int | None
    group: str
    event: dict[str, Any]


class EventOut(_Out):
    seq: int
    event: dict[str, Any]


class TaskOut(_Out):
    id: int
    kind: str
    reason: str
    title: str
    status: str
    community_id: int | None
    group_id: int | None
    created_at: datetime
    done_at: datetime | None
    done_by: str
    action: dict[str, Any] | None
    items: list[dict[str, Any]] = []

    @classmethod
    def of(cls, t: StaffTask) -> TaskOut:
        return cls(**task_json(t))


class SegmentIn(BaseModel):
    """Who to choose; every condition given must hold."""

    model_config = ConfigDict(extra="forbid")

    community: str | None = Field(default=None, max_length=100)
    group_id: int | None = Field(default=None, ge=1, le=2**62)
    statuses: list[Literal["active", "left", "removed", "banned"]] = Field(default=["active"], max_length=4)
    tags: list[str] = Field(default_factory=list, max_length=20)
    without_tags: list[str] = Field(default_factory=list, max_length=20)
    roles: list[str] = Field(default_factory=list, max_length=20)
    level_min: int | None = Field(default=None, ge=0, le=1000)
    level_max: int | None = Field(default=None, ge=0, le=1000)
    joined_from: datetime | None = None
    joined_to: datetime | None = None
    silent_days: int | None = Field(
        default=None, ge=1, le=3650, description="no activity for this many days before the workspace's latest"
    )


class SegmentOut(_Out):
    total: int
    truncated: bool
    members: list[MemberOut]


class SegmentActionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    segment: SegmentIn
    action: Literal["tag", "untag", "message", "invite"]
    idempotency_key: str = Field(min_length=1, max_length=80, pattern=r"^[A-Za-z0-9_.:-]+$")
    value: str = Field(default="", max_length=40)
    text: str = Field(default="", max_length=2000)
    group_id: int | None = Field(default=None, ge=1, le=2**62)


class SegmentActionOut(_Out):
    members: int
    logged: int
    queued: int
    staff_tasks: int
    duplicates: int


class TagIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    community: str = Field(min_length=1, max_length=100)
    tag: str = Field(min_length=1, max_length=40)
    remove: bool = False


class SpecOut(_Out):
    name: str
    spec: dict[str, Any]
    yaml: str


class ApplyOut(_Out):
    name: str
    outcome: Literal["created", "updated", "unchanged"]


class UserOut(_Out):
    username: str
    role: str
    disabled: bool
    created_at: datetime
    last_login_at: datetime | None

    @classmethod
    def of(cls, u: UserRecord) -> UserOut:
        return cls(
            username=u.username,
            role=u.role,
            disabled=u.disabled,
            created_at=from_ms(u.created_ms),
            last_login_at=_t(u.last_login_ms),
        )


class MeOut(_Out):
    username: str
    role: str
    permissions: list[str]
    via: Literal["session", "token"]


class UserIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    username: str = Field(min_length=1, max_length=100, pattern=r"^[\w.@-]+$")
    password: str = Field(min_length=8, max_length=1024)
    role: Literal["owner", "operator", "viewer"]


class UserPatch(BaseModel):
    model_config = ConfigDict(extra="forbid")

    role: Literal["owner", "operator", "viewer"] | None = None
    disabled: bool | None = None


class TokenIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    name: str = Field(min_length=1, max_length=100)
    scopes: list[Literal["read", "write", "admin"]] = Field(min_length=1, max_length=3)
    expires_days: int | None = Field(default=None, ge=1, le=3650)


class TokenOut(_Out):
    id: int
    name: str
    prefix: str
    owner: str
    scopes: list[str]
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: TokenRecord) -> TokenOut:
        return cls(
            id=t.id,
            name=t.name,
            prefix=t.prefix,
            owner=t.user.username,
            scopes=sorted(t.scopes),
            created_at=from_ms(t.created_ms),
            expires_at=_t(t.expires_ms),
            last_used_at=_t(t.last_used_ms),
            revoked_at=_t(t.revoked_ms),
        )


class TokenCreated(TokenOut):
    token: str = Field(description="the token itself; shown only in this answer")


class OrderIn(BaseModel):
    """An order as a shop reports it. Money is an integer in minor units (fen for CNY) with its ISO 4217 currency."""

    model_config = ConfigDict(extra="forbid")

    order_id: str = Field(min_length=1, max_length=200)
    status: Literal["created", "paid", "refunded", "cancelled"] = "created"
    amount: int = Field(ge=0, le=10**12)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    product: str = Field(default="", max_length=500)
    quantity: int = Field(default=1, ge=1, le=1_000_000)
    buyer_platform: str = Field(default="shop", min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    buyer_id: str = Field(default="", max_length=255, description="the buyer's id on buyer_platform")
    buyer_name: str = Field(default="", max_length=255)
    group: str = Field(default="", max_length=255)
    at: datetime | None = None


class PaymentIn(BaseModel):
    """A payment as a shop reports it (minor units, ISO 4217 currency)."""

    model_config = ConfigDict(extra="forbid")

    payment_id: str = Field(min_length=1, max_length=200)
    amount: int = Field(ge=0, le=10**12)
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    order_id: str = Field(default="", max_length=200)
    purpose: str = Field(default="order", max_length=64)
    buyer_platform: str = Field(default="shop", min_length=1, max_length=32, pattern=r"^[a-z][a-z0-9_]*$")
    buyer_id: str = Field(default="", max_length=255, description="the buyer's id on buyer_platform")
    buyer_name: str = Field(default="", max_length=255)
    group: str = Field(default="", max_length=255)
    at: datetime | None = None


class WebhookOut(_Out):
    event_id: str
    duplicate: bool


class SecretOut(_Out):
    secret: str


class AuditOut(_Out):
    at: datetime
    actor: str
    verb: str
    object_type: str
    object_id: str
    detail: dict[str, Any]


class Health(_Out):
    status: Literal["ok"]
    version: str


class RhythmOut(_Out):
    local: str = Field(description="local time in the community's zone, ISO 8601 with offset")
    group: str
    job: str
    label: str
    status: Literal["due", "capped", "held"]


class ActivityOut(_Out):
    key: str
    kind: str
    title: str
    status: str
    starts: datetime | None
    ends: datetime | None
    groups: list[str]


class ImportJobOut(_Out):
    id: str
    file: str
    size: int
    status: Literal["queued", "running", "done", "failed"]
    by: str
    community: str
    bytes: int
    events: int
    messages: int
    stage: str
    report: dict[str, Any] | None
    error: str
