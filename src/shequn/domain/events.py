"""Events (事件): normalized facts from outside, the same for live platforms and imported history.

Every event names the platform, the group (the platform's chat id, as text) and the actor (the platform's user id,
as text), the time as an aware UTC datetime, and a stable ``id`` that deduplicates it: importing an export twice or
receiving a webhook twice yields the same id (see :func:`stable_id`).

Two events are equal when all their fields are equal. Events never act: a connector turns platform updates into
events, and the engine turns events into actions.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar

from shequn.domain.records import Registry


class EventKind(StrEnum):
    """The kinds of the normalized event log."""

    MESSAGE = "message"
    JOIN = "join"
    LEAVE = "leave"
    EDIT = "edit"
    DELETE = "delete"
    REACTION = "reaction"
    NICKNAME_CHANGE = "nickname_change"
    ORDER = "order"
    PAYMENT = "payment"
    COUPON_CLAIM = "coupon_claim"
    CHECK_IN = "check_in"
    FORM_ANSWER = "form_answer"
    ATTENDANCE = "attendance"
    SEGMENT_REPORT = "segment_report"
    LABEL = "label"
    TICK = "tick"
    OPERATOR_ACTION = "operator_action"


class ContentKind(StrEnum):
    """What a message carries (文本, 图片, 链接, 文件, 表情, 语音, 视频, 小程序, 红包, 系统消息 …)."""

    TEXT = "text"
    IMAGE = "image"
    LINK = "link"
    FILE = "file"
    STICKER = "sticker"
    VOICE = "voice"
    VIDEO = "video"
    LOCATION = "location"
    CONTACT_CARD = "contact_card"
    MINI_PROGRAM = "mini_program"
    RED_PACKET = "red_packet"
    POLL = "poll"
    SYSTEM = "system"
    OTHER = "other"


class JoinMethod(StrEnum):
    """How a member came in (入群方式)."""

    UNKNOWN = "unknown"
    SELF = "self"  # by link, QR code or search, no inviter known
    INVITED = "invited"  # added or invited by a member (邀请)
    APPROVED = "approved"  # an application (join request) was approved
    ADDED_BY_STAFF = "added_by_staff"
    LIVE_CODE = "live_code"  # through a group live code (群活码)
    ROSTER = "roster"  # already in the group when the record begins (a roster snapshot, not a new join)


class LeaveReason(StrEnum):
    """Why a member left (退群 / 被移出)."""

    UNKNOWN = "unknown"
    VOLUNTARY = "voluntary"
    REMOVED = "removed"
    BANNED = "banned"
    EXPIRED = "expired"


class AttendanceStatus(StrEnum):
    """Where a person stands with one activity (活动): registered, waiting, cancelled, checked in, present."""

    REGISTERED = "registered"  # 报名
    WAITLISTED = "waitlisted"  # the activity was full
    CANCELLED = "cancelled"
    CHECKED_IN = "checked_in"  # 签到 at the venue (QR ticket) or in the group
    PRESENT = "present"  # took part in a segment of an online talk (spoke, asked)


class OrderStatus(StrEnum):
    CREATED = "created"
    PAID = "paid"
    REFUNDED = "refunded"
    CANCELLED = "cancelled"


EVENTS = Registry("event")


def stable_id(*parts: str) -> str:
    """A short, stable id from the parts that identify a fact (platform, group, platform message id …)."""
    return hashlib.blake2b("\x1f".join(parts).encode(), digest_size=12).hexdigest()


@dataclass(frozen=True, slots=True, kw_only=True)
class Event:
    """Base of every event.

    Attributes:
        id: stable identifier; the event log keeps one event per id.
        at: when it happened (aware, UTC).
        platform: ``matrix``, ``telegram``, ``wecom``, ``wechat``, ``sandbox`` …
        group: the platform's id of the chat, as text ("" when the fact belongs to no chat, e.g. a shop order).
        actor: the platform's id of the person who did it, as text ("" for the system).
        actor_name: the actor's display name when the event happened, if known.
        extra: fields this version does not model, kept verbatim.
    """

    kind: ClassVar[EventKind]

    id: str
    at: datetime
    platform: str
    group: str = ""
    actor: str = ""
    actor_name: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)

    def to_dict(self, *, compact: bool = False) -> dict[str, Any]:
        """The stable JSON form: ``kind`` first, then fields in declaration order (``compact``: defaults left out)."""
        return EVENTS.codec(type(self)).encode(self, compact=compact)


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Message(Event):
    """A message in a group. ``content`` says what it carries; ``text`` is its text or caption."""

    kind: ClassVar[EventKind] = EventKind.MESSAGE
    message_id: str = ""
    content: ContentKind = ContentKind.TEXT
    text: str = ""
    reply_to: str = ""  # platform message id this replies to
    mentions: tuple[str, ...] = ()  # platform user ids
    media: str = ""  # file name, URL or description of an attachment
    thread: str = ""  # thread or forum-topic id
    forwarded: bool = False
    from_bot: bool = False


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Join(Event):
    """A member joined a group (入群)."""

    kind: ClassVar[EventKind] = EventKind.JOIN
    method: JoinMethod = JoinMethod.UNKNOWN
    inviter: str = ""  # platform user id of the inviter
    invite_code: str = ""  # invite link name, live-code state or referral code


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Leave(Event):
    """A member left or was removed (退群 / 踢出)."""

    kind: ClassVar[EventKind] = EventKind.LEAVE
    reason: LeaveReason = LeaveReason.UNKNOWN
    by: str = ""  # who removed them, if removed


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Edit(Event):
    kind: ClassVar[EventKind] = EventKind.EDIT
    message_id: str
    text: str = ""


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Delete(Event):
    """A message was deleted or recalled (撤回)."""

    kind: ClassVar[EventKind] = EventKind.DELETE
    message_id: str
    by: str = ""


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Reaction(Event):
    kind: ClassVar[EventKind] = EventKind.REACTION
    message_id: str
    emoji: str = ""
    removed: bool = False


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class NicknameChange(Event):
    """A member changed their group nickname (群昵称 / 群名片)."""

    kind: ClassVar[EventKind] = EventKind.NICKNAME_CHANGE
    old: str = ""
    new: str = ""


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Order(Event):
    """A shop order. Money is in integer minor units (fen for CNY) with its currency."""

    kind: ClassVar[EventKind] = EventKind.ORDER
    order_id: str
    status: OrderStatus = OrderStatus.CREATED
    amount: int = 0
    currency: str = "CNY"
    product: str = ""
    quantity: int = 1


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Payment(Event):
    """Money received: for an order, a membership, an entry fee, a red packet … (``purpose``)."""

    kind: ClassVar[EventKind] = EventKind.PAYMENT
    payment_id: str
    amount: int
    currency: str = "CNY"
    order_id: str = ""
    purpose: str = "order"


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class CouponClaim(Event):
    """A member claimed a coupon (领券): the first step of the 消费型 KPI."""

    kind: ClassVar[EventKind] = EventKind.COUPON_CLAIM
    coupon_id: str
    campaign: str = ""


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class CheckIn(Event):
    """A check-in (签到 / 打卡) recorded by a platform feature or a mini program."""

    kind: ClassVar[EventKind] = EventKind.CHECK_IN
    note: str = ""


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class FormAnswer(Event):
    """Answers to a form: an entry application, a survey, a rules acceptance …"""

    kind: ClassVar[EventKind] = EventKind.FORM_ANSWER
    form: str
    answers: Mapping[str, str] = field(default_factory=dict)


RULES_FORM = "rules"  # the form whose answer ``version`` records which rules a member accepted (群规确认)


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Label(Event):
    """An operator's correction of the moderation: the message ``message_id`` was (not) an ad (人工标注).

    It names the labelled message's group and author so that the policies see it where the message was, and
    carries the message's text, so the classifier that learns from labels is rebuilt by replaying the log alone.
    ``actor`` stays empty (an operator is not a member); ``by`` says who labelled.
    """

    kind: ClassVar[EventKind] = EventKind.LABEL
    message_id: str  # the labelled message's event id
    label: str  # "ad" or "not_ad"
    text: str = ""
    author: str = ""  # platform user id of the message's author
    content: ContentKind = ContentKind.TEXT
    by: str = ""


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Attendance(Event):
    """A person's registration for, check-in at or presence in an activity (活动报名 / 签到 / 出席).

    ``activity`` is the activity's key; ``segment`` the run-of-show segment (online talks); ``inviter`` the platform
    id of whoever brought them (the invitation contest, 邀约比赛).
    """

    kind: ClassVar[EventKind] = EventKind.ATTENDANCE
    activity: str
    status: AttendanceStatus = AttendanceStatus.REGISTERED
    segment: str = ""
    seats: int = 1
    inviter: str = ""
    via: str = ""  # chat, qr, staff, form


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentReport(Event):
    """Engagement in one segment of an activity's run-of-show, in one group (分享环节数据), measured when it ended."""

    kind: ClassVar[EventKind] = EventKind.SEGMENT_REPORT
    activity: str
    segment: str
    started: datetime
    ended: datetime
    messages: int = 0
    speakers: int = 0
    questions: int = 0
    joins: int = 0


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class Tick(Event):
    """A moment of the clock at which time-driven policies ran (logged only when it changed something), for every
    community or only the ``communities`` named (a worker ticks the communities of its shard)."""

    kind: ClassVar[EventKind] = EventKind.TICK
    job: str = ""
    communities: tuple[str, ...] = ()


@EVENTS.register
@dataclass(frozen=True, slots=True, kw_only=True)
class OperatorAction(Event):
    """A change an operator made by hand in the console or the API (运营操作), logged like any fact so that a replay
    gives the same state: ``op`` ``tag`` or ``untag`` with ``value`` on the member ``target`` (a platform id on
    ``platform``) of ``community``; ``by`` names the operator."""

    kind: ClassVar[EventKind] = EventKind.OPERATOR_ACTION
    community: str
    op: str
    target: str
    value: str = ""
    by: str = ""


def event_from_dict(data: Mapping[str, Any]) -> Event:
    """Rebuild an event from its JSON form; raises ``ValueError`` naming what is wrong."""
    event: Event = EVENTS.decode(data)
    return event
