"""Actions (动作): intents to change the outside world, or shequn's own derived state.

Policies return actions; they never perform them. *External* actions (post, reply, delete, mute, remove …) go to the
outbox and from there to a connector, or become a staff task when the platform forbids the bot to act. *Internal*
actions (tag, award points, set policy state) change the engine's derived state and are replayed with the log.

Every action carries an idempotency ``key``: the same decision taken twice (a replay, a retry after a crash) has the
same key, so the platform sees it once.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from shequn.domain.records import Registry


class ActionKind(StrEnum):
    POST = "post"
    REPLY = "reply"
    DIRECT_MESSAGE = "direct_message"
    DELETE_MESSAGE = "delete_message"
    WARN = "warn"
    MUTE = "mute"
    UNMUTE = "unmute"
    REMOVE = "remove"
    BAN = "ban"
    SET_ANNOUNCEMENT = "set_announcement"
    CREATE_INVITE_LINK = "create_invite_link"
    INVITE = "invite"
    TAG = "tag"
    AWARD_POINTS = "award_points"
    SET_LEVEL = "set_level"
    SET_ROLE = "set_role"
    OPEN_STAFF_TASK = "open_staff_task"
    SET_STATE = "set_state"
    ADMIT = "admit"
    ANSWER_JOIN_REQUEST = "answer_join_request"
    CREATE_GROUP = "create_group"
    CLOSE_GROUP = "close_group"


ACTIONS = Registry("action")


@dataclass(frozen=True, slots=True, kw_only=True)
class Action:
    """Base of every action.

    Attributes:
        key: idempotency key (stable for the same decision).
        at: when the decision was taken.
        community: the community's name ("" when none applies).
        platform: the platform the action targets.
        group: the platform's chat id ("" for actions not in a chat).
        target: the platform user id the action is about ("" when none).
        policy: the policy that decided it.
        cause: the id of the event that led to it ("" for scheduled actions).
        extra: fields this version does not model.
    """

    kind: ClassVar[ActionKind]
    internal: ClassVar[bool] = False

    key: str
    at: datetime
    community: str = ""
    platform: str = ""
    group: str = ""
    target: str = ""
    policy: str = ""
    cause: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """The stable JSON form: ``kind`` first, then fields in declaration order (``compact``: defaults left out)."""
        return ACTIONS.codec(type(self)).encode(self, compact=compact)

    @property
    def text_or_empty(self) -> str:
        """The text a person would read, if the action has one."""
        return str(getattr(self, "text", ""))


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Post(Action):
    """Post a message in a group (发群消息)."""

    kind: ClassVar[ActionKind] = ActionKind.POST
    text: str
    pin: bool = False
    mentions: tuple[str, ...] = ()


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Reply(Action):
    kind: ClassVar[ActionKind] = ActionKind.REPLY
    message_id: str
    text: str


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class DirectMessage(Action):
    """A private message to ``target`` (私聊)."""

    kind: ClassVar[ActionKind] = ActionKind.DIRECT_MESSAGE
    text: str


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class DeleteMessage(Action):
    """Delete (redact, recall) a message."""

    kind: ClassVar[ActionKind] = ActionKind.DELETE_MESSAGE
    message_id: str
    reason: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Warn(Action):
    """Warn ``target``: privately (``public=False``) or in the group with the evidence."""

    kind: ClassVar[ActionKind] = ActionKind.WARN
    text: str
    level: int = 1
    public: bool = False
    evidence: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Mute(Action):
    """Stop ``target`` (or the whole group when ``target`` is "") from speaking until ``until``."""

    kind: ClassVar[ActionKind] = ActionKind.MUTE
    until: datetime | None = None
    reason: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Unmute(Action):
    kind: ClassVar[ActionKind] = ActionKind.UNMUTE


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Remove(Action):
    """Remove ``target`` from the group (踢出)."""

    kind: ClassVar[ActionKind] = ActionKind.REMOVE
    reason: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Ban(Action):
    """Ban ``target``: from the group, or (``scope="workspace"``) from every group via the shared blacklist."""

    kind: ClassVar[ActionKind] = ActionKind.BAN
    scope: str = "group"
    reason: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class SetAnnouncement(Action):
    """Set the group announcement (群公告) or pinned rules."""

    kind: ClassVar[ActionKind] = ActionKind.SET_ANNOUNCEMENT
    text: str


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class CreateInviteLink(Action):
    """Create a named invite link (or live-code state) for referral attribution."""

    kind: ClassVar[ActionKind] = ActionKind.CREATE_INVITE_LINK
    name: str
    member_limit: int = 0
    expires: datetime | None = None


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Invite(Action):
    """Bring ``target`` into ``group`` (拉人入群); most platforms leave this to a person, so it usually becomes a
    staff task. ``text`` is the note that goes with the invitation."""

    kind: ClassVar[ActionKind] = ActionKind.INVITE
    text: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class OpenStaffTask(Action):
    """Ask a person to do something (人工任务): the capability gap or a judgement only staff can make."""

    kind: ClassVar[ActionKind] = ActionKind.OPEN_STAFF_TASK
    title: str
    instructions: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Tag(Action):
    """Add (or remove) a tag on the member ``target``."""

    kind: ClassVar[ActionKind] = ActionKind.TAG
    internal: ClassVar[bool] = True
    tag: str
    remove: bool = False


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class AwardPoints(Action):
    """Add ``points`` (negative to spend or expire) to ``target``'s ledger, with the reason."""

    kind: ClassVar[ActionKind] = ActionKind.AWARD_POINTS
    internal: ClassVar[bool] = True
    points: int
    reason: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class SetLevel(Action):
    """Set ``target``'s level (等级)."""

    kind: ClassVar[ActionKind] = ActionKind.SET_LEVEL
    internal: ClassVar[bool] = True
    level: int
    reason: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class SetRole(Action):
    """Give ``target`` a role of the playbook (or take it away)."""

    kind: ClassVar[ActionKind] = ActionKind.SET_ROLE
    internal: ClassVar[bool] = True
    role: str
    remove: bool = False


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class SetState(Action):
    """Set one value of a policy's own state (``None`` deletes it). ``scope`` is the policy's state namespace.

    ``shared`` puts the value in the workspace's state instead of the community's: what every community of the
    workspace sees alike (the blacklist shared across groups, the ad classifier learned from operators' labels).
    """

    kind: ClassVar[ActionKind] = ActionKind.SET_STATE
    internal: ClassVar[bool] = True
    scope: str
    name: str
    value: Any = None
    shared: bool = False


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Admit(Action):
    """``target`` passed the entry threshold: give them the community's next member number if they have none.

    Member numbers go to admitted members only (book 1651: 管理员验证通过之后准许入群……对群成员进行编号) when a policy
    that admits is enabled; otherwise the engine numbers members at their first join.
    """

    kind: ClassVar[ActionKind] = ActionKind.ADMIT
    internal: ClassVar[bool] = True


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class AnswerJoinRequest(Action):
    """Let ``target`` in (``approve``) or turn them away, in answer to their request to join ``group`` (入群申请)."""

    kind: ClassVar[ActionKind] = ActionKind.ANSWER_JOIN_REQUEST
    approve: bool
    reason: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class CreateGroup(Action):
    """Create a chat group (建群) named ``name`` for ``community`` on ``platform``, invite ``invite`` (platform user
    ids) and post ``text`` there once it exists (the split's announcement). ``group`` is the group it comes from
    (a split's source), ``role`` the new group's role in the community. Most platforms keep this to a person."""

    kind: ClassVar[ActionKind] = ActionKind.CREATE_GROUP
    name: str
    role: str = "main"
    topic: str = ""
    invite: tuple[str, ...] = ()
    text: str = ""


@ACTIONS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class CloseGroup(Action):
    """Close ``group`` for good (解散群): its members are let go and the bot leaves. The farewell is a post before it;
    the members' data stays in shequn."""

    kind: ClassVar[ActionKind] = ActionKind.CLOSE_GROUP
    reason: str = ""


def action_from_dict(data: Mapping[str, Any]) -> Action:
    """Rebuild an action from its JSON form; raises ``ValueError`` naming what is wrong."""
    action: Action = ACTIONS.decode(data)
    return action
