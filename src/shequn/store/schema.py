"""Tables of the store, as SQLAlchemy 2 declarative models.

Conventions: times are integer milliseconds since the epoch in UTC (``*_ms``), identical on SQLite and PostgreSQL and
cheap to scan from DuckDB; platform ids are text; structured values are JSON text written with orjson. The event log
(``event``) is append-only: rows are never updated or deleted. Changing a table means a new Alembic revision in
``migrations/versions``.
"""

from __future__ import annotations

from typing import cast

from sqlalchemy import BigInteger, Boolean, ForeignKey, Index, Integer, String, Table, Text, UniqueConstraint
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

# SQLite only aliases ROWID for INTEGER PRIMARY KEY, so big integer keys use INTEGER there.
BigId = BigInteger().with_variant(Integer(), "sqlite")


class Base(DeclarativeBase):
    pass


class Workspace(Base):
    """A tenant: one operator or business, with its communities."""

    __tablename__ = "workspace"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    name: Mapped[str] = mapped_column(String(200), unique=True)
    timezone: Mapped[str] = mapped_column(String(64), default="Asia/Shanghai")
    locale: Mapped[str] = mapped_column(String(16), default="zh-CN")
    settings: Mapped[str] = mapped_column(Text, default="{}")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Community(Base):
    """A community (社群) and its spec (the YAML an operator keeps), stored as JSON."""

    __tablename__ = "community"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    name: Mapped[str] = mapped_column(String(200))
    type: Mapped[str] = mapped_column(String(32))
    spec: Mapped[str] = mapped_column(Text)
    spec_hash: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class Group(Base):
    """One chat room on one platform (群), optionally bound to a community."""

    __tablename__ = "chat_group"
    __table_args__ = (UniqueConstraint("workspace_id", "platform", "platform_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True, index=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_id: Mapped[str] = mapped_column(String(255))
    name: Mapped[str] = mapped_column(String(255), default="")
    role: Mapped[str] = mapped_column(String(32), default="main")
    capacity: Mapped[int | None] = mapped_column(Integer, nullable=True)
    state: Mapped[str] = mapped_column(String(16), default="active")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Person(Base):
    """A human. Identities on several platforms can point at one person."""

    __tablename__ = "person"
    __table_args__ = (UniqueConstraint("workspace_id", "origin"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    origin: Mapped[str] = mapped_column(String(300))  # the identity key that first made this person
    display_name: Mapped[str] = mapped_column(String(255), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Identity(Base):
    """An account on one platform: (platform, platform id as text) → person."""

    __tablename__ = "identity"
    __table_args__ = (UniqueConstraint("workspace_id", "platform", "platform_id"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    person_id: Mapped[int] = mapped_column(ForeignKey("person.id"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_id: Mapped[str] = mapped_column(String(255))
    display_name: Mapped[str] = mapped_column(String(255), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)


class Membership(Base):
    """A person in a community: derived by the engine from the event log, rebuilt by replay."""

    __tablename__ = "membership"
    __table_args__ = (
        UniqueConstraint("community_id", "member_key"),
        Index("ix_membership_status", "community_id", "status"),  # revision i8a: member counts (console)
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True, index=True)
    member_key: Mapped[str] = mapped_column(String(300))  # the identity key the engine knows the member by
    number: Mapped[int] = mapped_column(Integer)  # member number (成员编号)
    status: Mapped[str] = mapped_column(String(16))
    joined_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    left_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    points: Mapped[int] = mapped_column(Integer, default=0)
    level: Mapped[int] = mapped_column(Integer, default=0)
    data: Mapped[str] = mapped_column(Text)  # the rest of the member state, JSON


class GroupMember(Base):
    """A person's presence in one group (derived, like membership)."""

    __tablename__ = "group_member"
    group_id: Mapped[int] = mapped_column(ForeignKey("chat_group.id"), primary_key=True)
    member_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True, index=True)
    joined_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CommunityStateRow(Base):
    """A community's derived counters."""

    __tablename__ = "community_state"
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), primary_key=True)
    next_number: Mapped[int] = mapped_column(Integer, default=1)


class GroupStateRow(Base):
    """A group's derived counters."""

    __tablename__ = "group_state"
    group_id: Mapped[int] = mapped_column(ForeignKey("chat_group.id"), primary_key=True)
    joins: Mapped[int] = mapped_column(Integer, default=0)
    messages: Mapped[int] = mapped_column(BigInteger, default=0)
    last_message_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class PolicyState(Base):
    """One value of one policy's own state in one community (derived)."""

    __tablename__ = "policy_state"
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class WorkspacePolicyState(Base):
    """One value of a policy's state shared by every community of a workspace (the blacklist, the classifier)."""

    __tablename__ = "workspace_policy_state"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    scope: Mapped[str] = mapped_column(String(64), primary_key=True)
    name: Mapped[str] = mapped_column(String(300), primary_key=True)
    value: Mapped[str] = mapped_column(Text)


class PointsLedgerRow(Base):
    """The points ledger (积分流水): every award, spending and expiry, with its reason and the balance after it.

    Derived like the membership it belongs to: written from the engine's point awards, cleared and rebuilt by a
    replay. ``key`` is the award's idempotency key.
    """

    __tablename__ = "points_ledger"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        Index("ix_points_ledger_member", "community_id", "member_key", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    member_key: Mapped[str] = mapped_column(String(300))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    points: Mapped[int] = mapped_column(Integer)
    balance: Mapped[int] = mapped_column(Integer)
    reason: Mapped[str] = mapped_column(String(200), default="")
    policy: Mapped[str] = mapped_column(String(64), default="")
    cause: Mapped[str] = mapped_column(String(64), default="")  # the event id that led to it ("" on ticks)
    key: Mapped[str] = mapped_column(String(255))


class EngineCursor(Base):
    """How far the engine's persisted state has consumed the event log."""

    __tablename__ = "engine_cursor"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    last_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    events: Mapped[int] = mapped_column(BigInteger, default=0)  # events the state has applied (ticks included)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class EventRow(Base):
    """The append-only event log. ``seq`` is the processing order; ``uid`` deduplicates."""

    __tablename__ = "event"
    __table_args__ = (
        Index("ux_event_uid", "workspace_id", "uid", unique=True),  # revision p1a: a bulk load may defer it
        Index("ix_event_group_at", "group_id", "at_ms"),
        Index("ix_event_group_kind_at", "group_id", "kind", "at_ms"),  # counts by kind from the index alone
    )
    seq: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    uid: Mapped[str] = mapped_column(String(64))
    kind: Mapped[str] = mapped_column(String(32))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    platform: Mapped[str] = mapped_column(String(32))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id"), nullable=True)
    person_id: Mapped[int | None] = mapped_column(ForeignKey("person.id"), nullable=True, index=True)
    payload: Mapped[str] = mapped_column(Text)  # the event's compact JSON form
    ingested_ms: Mapped[int] = mapped_column(BigInteger)


class ActionRow(Base):
    """The outbox: every external action decided, with its delivery state."""

    __tablename__ = "action"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        Index("ix_action_status_due", "status", "due_ms"),
        Index("ix_action_ws_status_due", "workspace_id", "status", "due_ms", "id"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    key: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    platform: Mapped[str] = mapped_column(String(32))
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id"), nullable=True, index=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    payload: Mapped[str] = mapped_column(Text)
    status: Mapped[str] = mapped_column(String(16))  # pending | sending | sent | failed | staff | dropped
    due_ms: Mapped[int] = mapped_column(BigInteger)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    result: Mapped[str] = mapped_column(Text, default="{}")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    sent_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    next_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # next attempt (None: due_ms)
    claimed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # handed to the connector at
    worker: Mapped[str] = mapped_column(String(64), default="", server_default="")


class OutboxLease(Base):
    """Which runner delivers a workspace's outbox now: one at a time, so no two processes send the same action."""

    __tablename__ = "outbox_lease"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    holder: Mapped[str] = mapped_column(String(200))
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    until_ms: Mapped[int] = mapped_column(BigInteger)
    started_ms: Mapped[int] = mapped_column(BigInteger)


class BotLease(Base):
    """Which process holds a bot account's connection (Matrix sync, Telegram polling, a OneBot socket) and sends
    for it, until when (PostgreSQL with several ``shequn run`` processes): one at a time, the others stand by."""

    __tablename__ = "bot_lease"
    platform: Mapped[str] = mapped_column(String(32), primary_key=True)
    account: Mapped[str] = mapped_column(String(200), primary_key=True)
    holder: Mapped[str | None] = mapped_column(String(200), nullable=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    generation: Mapped[int] = mapped_column(BigInteger)


class SendMark(Base):
    """One send handed to a platform, counted against the sliding windows by every sender process (PostgreSQL);
    rows older than the longest window are pruned."""

    __tablename__ = "send_mark"
    __table_args__ = (Index("ix_send_mark_platform_at", "platform", "at_ms"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    platform: Mapped[str] = mapped_column(String(32))
    bot: Mapped[str] = mapped_column(String(200))
    chat: Mapped[str] = mapped_column(String(255))
    kind: Mapped[str] = mapped_column(String(32))
    at_ms: Mapped[int] = mapped_column(BigInteger)


class ShardConfig(Base):
    """How many virtual shards the communities of this database are hashed into (one row, written once)."""

    __tablename__ = "shard_config"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    shards: Mapped[int] = mapped_column(Integer)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ShardLease(Base):
    """One virtual shard: which worker holds it until when, its fencing generation, and up to which event seq its
    communities' derived state is committed (the shard's offset)."""

    __tablename__ = "shard_lease"
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    owner: Mapped[str | None] = mapped_column(String(200), nullable=True)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    generation: Mapped[int] = mapped_column(BigInteger)
    last_seq: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ShardWorker(Base):
    """A live ``shequn worker`` process (its heartbeat), so each can work out its fair share of the shards."""

    __tablename__ = "shard_worker"
    id: Mapped[str] = mapped_column(String(200), primary_key=True)
    host: Mapped[str] = mapped_column(String(200))
    pid: Mapped[int] = mapped_column(Integer)
    started_ms: Mapped[int] = mapped_column(BigInteger)
    seen_ms: Mapped[int] = mapped_column(BigInteger)


class SharedStateVersion(Base):
    """Bumped by every commit that changes a workspace's shared policy state (blacklist, classifier), so a worker
    whose batch read an older version retries instead of overwriting another shard's update."""

    __tablename__ = "shared_state_version"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    version: Mapped[int] = mapped_column(BigInteger)


class SchedulerCursor(Base):
    """Up to when the scheduler has decided the rhythm and run-of-show of a workspace."""

    __tablename__ = "scheduler_cursor"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class SchedulerShardCursor(Base):
    """Up to when the scheduled jobs of one shard's communities of a workspace are decided (with ``shequn worker``:
    the shard's lease holder runs them; the cursor moves in the fenced transaction that records their runs)."""

    __tablename__ = "scheduler_shard_cursor"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    shard: Mapped[int] = mapped_column(Integer, primary_key=True)
    last_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ConnectorCursor(Base):
    """Where a connector resumes after a restart, and what it keeps between runs (连接器游标): Matrix's sync token,
    Telegram's update offset, WeCom's roster snapshots and live-code (群活码) state. One value per name."""

    __tablename__ = "connector_cursor"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    connector: Mapped[str] = mapped_column(String(32), primary_key=True)
    name: Mapped[str] = mapped_column(String(200), primary_key=True)
    value: Mapped[str] = mapped_column(Text)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ScheduleRun(Base):
    """One occurrence of a scheduled job that the scheduler decided (sent, skipped by the cap, empty, missed)."""

    __tablename__ = "schedule_run"
    __table_args__ = (
        UniqueConstraint("workspace_id", "key"),
        Index("ix_schedule_run_day", "workspace_id", "local_date"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    key: Mapped[str] = mapped_column(String(255))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id"), nullable=True)
    job: Mapped[str] = mapped_column(String(64))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    local_date: Mapped[str] = mapped_column(String(10))
    status: Mapped[str] = mapped_column(String(16))
    counts: Mapped[bool] = mapped_column(Boolean)  # counts toward the daily cap
    actions: Mapped[int] = mapped_column(Integer)
    detail: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ActivityRow(Base):
    """An activity (活动) of a community: a guest talk or an offline event, with its plan as JSON."""

    __tablename__ = "activity"
    __table_args__ = (UniqueConstraint("workspace_id", "key"), Index("ix_activity_starts", "workspace_id", "starts_ms"))
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))
    title: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    starts_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    ends_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    spec: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class StaffTaskRow(Base):
    """A task for a person: what the bot may not do on that platform, or what needs judgement (人工任务)."""

    __tablename__ = "staff_task"
    __table_args__ = (
        Index("ix_staff_task_status", "workspace_id", "status"),
        Index("ix_staff_task_group", "group_id", "status"),  # revision i8a: open tasks per group (console)
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    action_id: Mapped[int | None] = mapped_column(ForeignKey("action.id"), nullable=True, unique=True)
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    group_id: Mapped[int | None] = mapped_column(ForeignKey("chat_group.id"), nullable=True)
    kind: Mapped[str] = mapped_column(String(32))
    reason: Mapped[str] = mapped_column(String(64))
    title: Mapped[str] = mapped_column(Text)
    detail: Mapped[str] = mapped_column(Text, default="{}")
    status: Mapped[str] = mapped_column(String(16), default="open")  # open | done | cancelled
    created_ms: Mapped[int] = mapped_column(BigInteger)
    done_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    done_by: Mapped[str] = mapped_column(String(200), default="")


class AuditRow(Base):
    """Who changed what, when (审计日志)."""

    __tablename__ = "audit_log"
    __table_args__ = (Index("ix_audit_ws_at", "workspace_id", "at_ms"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    at_ms: Mapped[int] = mapped_column(BigInteger)
    actor: Mapped[str] = mapped_column(String(200))
    verb: Mapped[str] = mapped_column(String(64))
    object_type: Mapped[str] = mapped_column(String(64))
    object_id: Mapped[str] = mapped_column(String(300))
    detail: Mapped[str] = mapped_column(Text, default="{}")


class WebUser(Base):
    """A person who logs in to the console (控制台用户), with a role: owner, operator or viewer."""

    __tablename__ = "web_user"
    __table_args__ = (UniqueConstraint("workspace_id", "username"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    username: Mapped[str] = mapped_column(String(100))
    password_hash: Mapped[str] = mapped_column(String(255))  # argon2id, PHC string
    role: Mapped[str] = mapped_column(String(16))
    locale: Mapped[str] = mapped_column(String(16), default="")
    disabled: Mapped[int] = mapped_column(Integer, default=0)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    last_login_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WebSession(Base):
    """A login session; only the SHA-256 of the cookie's token is stored, never the token."""

    __tablename__ = "web_session"
    id: Mapped[str] = mapped_column(String(64), primary_key=True)  # sha256 hex of the session token
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), index=True)
    csrf: Mapped[str] = mapped_column(String(64))
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int] = mapped_column(BigInteger)
    last_seen_ms: Mapped[int] = mapped_column(BigInteger)


class ApiToken(Base):
    """A scoped, revocable API token (only its SHA-256 is stored; the prefix identifies it in lists)."""

    __tablename__ = "api_token"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    prefix: Mapped[str] = mapped_column(String(16), unique=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    scopes: Mapped[str] = mapped_column(String(100))  # space-separated: read write admin
    created_ms: Mapped[int] = mapped_column(BigInteger)
    expires_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    last_used_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class WorkspaceSecret(Base):
    """A workspace's secret by name (the webhook signing secret): needed in clear to verify HMAC signatures."""

    __tablename__ = "workspace_secret"
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), primary_key=True)
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    value: Mapped[str] = mapped_column(String(255))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class LoginFailure(Base):
    """A failed console login, by user name or client address (revision h18a): kept in the store so that every web
    worker throttles on the same count."""

    __tablename__ = "login_failure"
    __table_args__ = (Index("ix_login_failure_key", "workspace_id", "key", "at_ms"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    key: Mapped[str] = mapped_column(String(200))
    at_ms: Mapped[int] = mapped_column(BigInteger)


# -- growth and commerce (revision i9a) -----------------------------------------------------------------------


class InviteLinkRow(Base):
    """An invite link or code (邀请链接 / 渠道码): a member's personal one, or a channel's."""

    __tablename__ = "invite_link"
    __table_args__ = (UniqueConstraint("workspace_id", "code"), Index("ix_invite_link_owner", "community_id", "owner"))
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    code: Mapped[str] = mapped_column(String(128))
    owner: Mapped[str] = mapped_column(String(300), default="")  # member key of the referrer ("" a channel link)
    channel: Mapped[str] = mapped_column(String(64), default="member")
    platform: Mapped[str] = mapped_column(String(32), default="")
    group_platform_id: Mapped[str] = mapped_column(String(255), default="")
    campaign: Mapped[str] = mapped_column(String(100), default="")
    url: Mapped[str] = mapped_column(Text, default="")  # the platform's link once created (Telegram, WeCom)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    revoked_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class GrowthCampaignRow(Base):
    """A growth campaign: a referral contest, a group-fill campaign or a live code (活码), with its settings."""

    __tablename__ = "growth_campaign"
    __table_args__ = (UniqueConstraint("workspace_id", "key"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"))
    key: Mapped[str] = mapped_column(String(100))
    kind: Mapped[str] = mapped_column(String(32))  # referral | group_fill | live_code
    params: Mapped[str] = mapped_column(Text, default="{}")
    state: Mapped[str] = mapped_column(Text, default="{}")  # e.g. a group-fill's reached groups
    start_ms: Mapped[int] = mapped_column(BigInteger)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    closed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class SettlementRow(Base):
    """One settled period of a referral contest (结算): the ranking and what was thrown out."""

    __tablename__ = "referral_settlement"
    __table_args__ = (UniqueConstraint("campaign_id", "period_end_ms"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    campaign_id: Mapped[int] = mapped_column(ForeignKey("growth_campaign.id"))
    period_start_ms: Mapped[int] = mapped_column(BigInteger)
    period_end_ms: Mapped[int] = mapped_column(BigInteger)
    result: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class ChapterRow(Base):
    """A chapter of the benchmark-group programme (标杆社群, book 2311-2331): a leader, a city, a stage."""

    __tablename__ = "chapter"
    __table_args__ = (UniqueConstraint("workspace_id", "name"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    template_id: Mapped[int] = mapped_column(ForeignKey("community.id"))  # the community it replicates
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)  # once created
    name: Mapped[str] = mapped_column(String(200))
    leader: Mapped[str] = mapped_column(String(300), default="")
    city: Mapped[str] = mapped_column(String(100), default="")
    stage: Mapped[str] = mapped_column(String(32))
    history: Mapped[str] = mapped_column(Text, default="[]")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ProductRow(Base):
    """A product or offer (产品 / 报价) and its definition (JSON, see ``commerce.offers.Product``)."""

    __tablename__ = "product"
    __table_args__ = (UniqueConstraint("workspace_id", "sku"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    sku: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class ShopOrderRow(Base):
    """An order in the commerce ledger (订单): amount due in minor units with its currency, status, payment."""

    __tablename__ = "shop_order"
    __table_args__ = (
        UniqueConstraint("workspace_id", "source", "order_id"),
        Index("ix_shop_order_product", "workspace_id", "sku", "status"),
        Index("ix_shop_order_member", "workspace_id", "member_key"),
    )
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    source: Mapped[str] = mapped_column(String(40))
    order_id: Mapped[str] = mapped_column(String(128))
    sku: Mapped[str] = mapped_column(String(64), default="")
    member_key: Mapped[str] = mapped_column(String(300), default="")
    quantity: Mapped[int] = mapped_column(Integer, default=1)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))
    tier: Mapped[str] = mapped_column(String(64), default="")
    coupon: Mapped[str] = mapped_column(String(64), default="")
    discount: Mapped[int] = mapped_column(BigInteger, default=0)
    referrer: Mapped[str] = mapped_column(String(300), default="")
    payment_id: Mapped[str] = mapped_column(String(128), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    paid_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


class CouponRow(Base):
    """A coupon (优惠券) and its definition (JSON, see ``commerce.coupons.Coupon``)."""

    __tablename__ = "coupon"
    __table_args__ = (UniqueConstraint("workspace_id", "code"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int | None] = mapped_column(ForeignKey("community.id"), nullable=True)
    code: Mapped[str] = mapped_column(String(64))
    spec: Mapped[str] = mapped_column(Text)
    created_ms: Mapped[int] = mapped_column(BigInteger)


class CouponClaimRow(Base):
    """A member's claim of a coupon (领券) and its redemption (核销) by an order."""

    __tablename__ = "coupon_claim"
    coupon_id: Mapped[int] = mapped_column(ForeignKey("coupon.id"), primary_key=True)
    member_key: Mapped[str] = mapped_column(String(300), primary_key=True)
    claimed_ms: Mapped[int] = mapped_column(BigInteger)
    order_row_id: Mapped[int | None] = mapped_column(ForeignKey("shop_order.id"), nullable=True)
    redeemed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class CommissionRow(Base):
    """A distributor's commission on a paid order (分销佣金); voided when the order is refunded."""

    __tablename__ = "commission"
    __table_args__ = (UniqueConstraint("order_row_id", "beneficiary"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"), index=True)
    order_row_id: Mapped[int] = mapped_column(ForeignKey("shop_order.id"))
    beneficiary: Mapped[str] = mapped_column(String(300))
    level: Mapped[int] = mapped_column(Integer)
    amount: Mapped[int] = mapped_column(BigInteger)
    currency: Mapped[str] = mapped_column(String(3))
    status: Mapped[str] = mapped_column(String(16))  # due | void
    created_ms: Mapped[int] = mapped_column(BigInteger)


class WebhookRejectionRow(Base):
    """A shop delivery that was refused or deduplicated, with the reason (nothing was credited)."""

    __tablename__ = "webhook_rejection"
    __table_args__ = (Index("ix_webhook_rejection_ws_at", "workspace_id", "at_ms"),)
    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    source: Mapped[str] = mapped_column(String(40))
    kind: Mapped[str] = mapped_column(String(16))
    ref: Mapped[str] = mapped_column(String(200))
    reason: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    at_ms: Mapped[int] = mapped_column(BigInteger)


class ResourceRow(Base):
    """What a member offers or needs (资源 / 需求), for resource matching."""

    __tablename__ = "resource"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    member_key: Mapped[str] = mapped_column(String(300))
    side: Mapped[str] = mapped_column(String(8))
    text: Mapped[str] = mapped_column(Text)
    tags: Mapped[str] = mapped_column(Text, default="[]")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    closed_ms: Mapped[int | None] = mapped_column(BigInteger, nullable=True)


class IntroductionRow(Base):
    """An introduction between two members (资源对接) and its outcome."""

    __tablename__ = "introduction"
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), index=True)
    need_id: Mapped[int | None] = mapped_column(ForeignKey("resource.id"), nullable=True)
    offer_id: Mapped[int | None] = mapped_column(ForeignKey("resource.id"), nullable=True)
    a_key: Mapped[str] = mapped_column(String(300))
    b_key: Mapped[str] = mapped_column(String(300))
    status: Mapped[str] = mapped_column(String(16))
    value: Mapped[int] = mapped_column(BigInteger, default=0)
    currency: Mapped[str] = mapped_column(String(3), default="CNY")
    note: Mapped[str] = mapped_column(Text, default="")
    by: Mapped[str] = mapped_column(String(200), default="")
    created_ms: Mapped[int] = mapped_column(BigInteger)
    updated_ms: Mapped[int] = mapped_column(BigInteger)


# -- the operator's inbox (revision inbox20_a) ----------------------------------------------------------------


class StaffIdentityRow(Base):
    """A console user's chat identity on one platform (工作人员身份): what makes an @mention of them an inbox item
    and their replies in a group count as responses."""

    __tablename__ = "staff_identity"
    __table_args__ = (UniqueConstraint("workspace_id", "platform", "platform_id"),)
    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    workspace_id: Mapped[int] = mapped_column(ForeignKey("workspace.id"))
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), index=True)
    platform: Mapped[str] = mapped_column(String(32))
    platform_id: Mapped[str] = mapped_column(String(200))
    created_ms: Mapped[int] = mapped_column(BigInteger)


class StaffCommunityRow(Base):
    """A community a console user serves (负责的社群): inbox items of that community are routed to them."""

    __tablename__ = "staff_community"
    user_id: Mapped[int] = mapped_column(ForeignKey("web_user.id"), primary_key=True)
    community_id: Mapped[int] = mapped_column(ForeignKey("community.id"), primary_key=True)
    created_ms: Mapped[int] = mapped_column(BigInteger)


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


WORKSPACE = _table(Workspace)
COMMUNITY = _table(Community)
GROUP = _table(Group)
PERSON = _table(Person)
IDENTITY = _table(Identity)
MEMBERSHIP = _table(Membership)
GROUP_MEMBER = _table(GroupMember)
COMMUNITY_STATE = _table(CommunityStateRow)
GROUP_STATE = _table(GroupStateRow)
POLICY_STATE = _table(PolicyState)
WORKSPACE_POLICY_STATE = _table(WorkspacePolicyState)
POINTS_LEDGER = _table(PointsLedgerRow)
ENGINE_CURSOR = _table(EngineCursor)
EVENT = _table(EventRow)
ACTION = _table(ActionRow)
STAFF_TASK = _table(StaffTaskRow)
AUDIT = _table(AuditRow)
WEB_USER = _table(WebUser)
WEB_SESSION = _table(WebSession)
API_TOKEN = _table(ApiToken)
WORKSPACE_SECRET = _table(WorkspaceSecret)
LOGIN_FAILURE = _table(LoginFailure)
OUTBOX_LEASE = _table(OutboxLease)
BOT_LEASE = _table(BotLease)
SEND_MARK = _table(SendMark)
SHARD_CONFIG = _table(ShardConfig)
SHARD_LEASE = _table(ShardLease)
SHARD_WORKER = _table(ShardWorker)
SHARED_STATE_VERSION = _table(SharedStateVersion)
SCHEDULER_CURSOR = _table(SchedulerCursor)
SCHEDULER_SHARD_CURSOR = _table(SchedulerShardCursor)
CONNECTOR_CURSOR = _table(ConnectorCursor)
SCHEDULE_RUN = _table(ScheduleRun)
ACTIVITY = _table(ActivityRow)
INVITE_LINK = _table(InviteLinkRow)
GROWTH_CAMPAIGN = _table(GrowthCampaignRow)
SETTLEMENT = _table(SettlementRow)
CHAPTER = _table(ChapterRow)
PRODUCT = _table(ProductRow)
SHOP_ORDER = _table(ShopOrderRow)
COUPON = _table(CouponRow)
COUPON_CLAIM = _table(CouponClaimRow)
COMMISSION = _table(CommissionRow)
WEBHOOK_REJECTION = _table(WebhookRejectionRow)
RESOURCE = _table(ResourceRow)
INTRODUCTION = _table(IntroductionRow)
STAFF_IDENTITY = _table(StaffIdentityRow)
STAFF_COMMUNITY = _table(StaffCommunityRow)
