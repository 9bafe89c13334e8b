"""Slack Events API payloads → shequn events (pure), with the Slack importer's ids.

How it works:
    :func:`events_of` takes the ``event`` object of an ``event_callback`` (Events API or Socket Mode, the same
    payload) or a message from ``conversations.history`` (with its channel added) and returns the shequn events it
    stands for. Ids are those of :mod:`shequn.importers.slack` for the same facts, so an export imported after (or
    before) the live channel adds nothing twice: a message is ``(slack, channel, "m", ts)``, its edit
    ``(…, "edit", "ts@edited_ts")``, a reaction ``(…, "reaction", "ts:emoji:user")``; groups are channel ids
    (``C…``/``G…``), people user ids (``U…``/``W…``).

    * ``message`` (no subtype, ``thread_broadcast``, ``file_share``, ``me_message``, ``bot_message``) →
      :class:`~shequn.domain.Message` (a thread reply gets ``thread`` and ``reply_to``, the parent's ``ts``);
      ``message_changed`` → :class:`~shequn.domain.Edit`; ``message_deleted`` → :class:`~shequn.domain.Delete`.
    * ``member_joined_channel`` → :class:`~shequn.domain.Join` (invited when Slack names an ``inviter``);
      ``member_left_channel`` → :class:`~shequn.domain.Leave`. The ``channel_join``/``channel_leave`` messages
      that Slack also posts are the same facts: live they are skipped, in a gap filled from history they stand
      for the membership events missed (the connector drops one it already handed on live).
    * ``reaction_added`` → :class:`~shequn.domain.Reaction`.
    * A direct message (``channel_type: im``) saying it accepts the rules → the ``rules`` form, in the group the
      bot last wrote to the person about.

Things to keep in mind:
    * The bot's own messages are not handed on: what it said is in the outbox.
    * Names are not in Slack's events: the connector fills ``actor_name`` from ``users.info``.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import datetime
from typing import Any

from shequn.connectors.base import accepts_rules
from shequn.domain import (
    RULES_FORM,
    ContentKind,
    Delete,
    Edit,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    Reaction,
    stable_id,
)
from shequn.importers.base import from_unix, platform_id

PLATFORM = "slack"
MENTION = re.compile(r"<@([UW][A-Z0-9]+)(?:\|[^>]*)?>")
_TEXTUAL = {None, "", "thread_broadcast", "me_message", "file_comment", "file_share", "bot_message", "reply_broadcast"}
MEMBERSHIP = {"channel_join": "join", "group_join": "join", "channel_leave": "leave", "group_leave": "leave"}
SKIPPED: dict[str, str] = {
    "channel_join": "the same join arrives as member_joined_channel",
    "channel_leave": "the same leave arrives as member_left_channel",
    "group_join": "the same join arrives as member_joined_channel",
    "group_leave": "the same leave arrives as member_left_channel",
    "message_replied": "the reply itself arrives as a message",
}

Raw = Mapping[str, Any]


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def at_of(ts: str) -> datetime:
    """The time a Slack ``ts`` (``1452988821.000002``) stands for."""
    return from_unix(float(ts or 0))


def message_event_id(channel: str, ts: str) -> str:
    """The event id of a channel message: the importer's, the live event's and the history's alike."""
    return platform_id(PLATFORM, channel, "m", ts)


def _content(m: Raw) -> tuple[ContentKind, str]:
    files = m.get("files") or ([m["file"]] if isinstance(m.get("file"), Mapping) else [])  # "file": older payloads
    if (
        not isinstance(files, list)
        or not files
        or not isinstance(files[0], Mapping)
        or m.get("subtype") == "file_comment"
    ):
        return (ContentKind.TEXT if m.get("subtype") in _TEXTUAL else ContentKind.SYSTEM), ""
    f = files[0]
    mime = _s(f.get("mimetype"))
    kind = (
        ContentKind.IMAGE
        if mime.startswith("image/")
        else ContentKind.VIDEO
        if mime.startswith("video/")
        else ContentKind.VOICE
        if mime.startswith("audio/")
        else ContentKind.FILE
    )
    return kind, _s(f.get("name") or f.get("title"))


def message(m: Raw, channel: str, bot_user: str, bot_id: str = "") -> list[Event]:
    """A channel message (or a membership message read from history)."""
    ts, user, subtype = _s(m.get("ts")), _s(m.get("user") or m.get("bot_id")), m.get("subtype")
    if not ts or not channel or (bot_user and user == bot_user) or (bot_id and m.get("bot_id") == bot_id):
        return []
    eid = message_event_id(channel, ts)
    if subtype in MEMBERSHIP:
        return [_member(eid, ts, channel, user, MEMBERSHIP[subtype] == "join", _s(m.get("inviter")))]
    text = _s(m.get("text"))
    if not text and isinstance(m.get("attachments"), list):  # an integration's message: its attachments' text
        text = "\n".join(_s(a.get("fallback") or a.get("text")) for a in m["attachments"] if isinstance(a, Mapping))
    content, media = _content(m)
    if subtype == "tombstone":  # a thread's parent deleted after replies came
        content, text = ContentKind.OTHER, ""
    thread = _s(m.get("thread_ts"))
    is_reply = bool(thread) and thread != ts
    return [
        Message(
            id=eid,
            at=at_of(ts),
            platform=PLATFORM,
            group=channel,
            actor=user,
            actor_name=_s(m.get("username")) if m.get("bot_id") else "",
            message_id=ts,
            content=content,
            text=text,
            reply_to=thread if is_reply else "",
            mentions=tuple(dict.fromkeys(MENTION.findall(text))),
            media=media,
            thread=thread if is_reply else "",
            from_bot=subtype == "bot_message" or bool(m.get("bot_id")),
            extra={"subtype": subtype} if content is ContentKind.SYSTEM else {},
        )
    ]


def _changed(e: Raw, channel: str, bot_user: str) -> list[Event]:
    m = e.get("message")
    if not isinstance(m, Mapping):
        return []
    edited = m.get("edited")
    ts, user = _s(m.get("ts")), _s(m.get("user"))
    if not isinstance(edited, Mapping) or not edited.get("ts") or not ts or user == bot_user:
        return []  # an unfurl or a thread's reply count changed, not the text
    ets = _s(edited["ts"])
    return [
        Edit(
            id=platform_id(PLATFORM, channel, "edit", f"{ts}@{ets}"),
            at=at_of(ets),
            platform=PLATFORM,
            group=channel,
            actor=_s(edited.get("user") or user),
            message_id=ts,
            text=_s(m.get("text")),
        )
    ]


def _deleted(e: Raw, channel: str) -> list[Event]:
    ts = _s(e.get("deleted_ts"))
    if not ts:
        return []
    return [
        Delete(
            id=f"{message_event_id(channel, ts)}-del",
            at=at_of(_s(e.get("event_ts") or e.get("ts") or ts)),
            platform=PLATFORM,
            group=channel,
            message_id=ts,
        )
    ]


def _direct(e: Raw, dm: Mapping[str, str], bot_user: str) -> list[Event]:
    user, text = _s(e.get("user")), _s(e.get("text"))
    group = dm.get(user, "")
    if not user or user == bot_user or e.get("subtype") or not group:
        return []
    if not accepts_rules(text):
        return []
    ts = _s(e.get("ts"))
    return [
        FormAnswer(
            id=stable_id(PLATFORM, "im", user, ts),
            at=at_of(ts),
            platform=PLATFORM,
            group=group,
            actor=user,
            form=RULES_FORM,
        )
    ]


def _member(eid: str, ts: str, channel: str, user: str, joined: bool, inviter: str) -> Event:
    if joined:
        return Join(
            id=eid, at=at_of(ts), platform=PLATFORM, group=channel, actor=user,
            method=JoinMethod.INVITED if inviter else JoinMethod.SELF, inviter=inviter,
        )  # fmt: skip
    return Leave(id=eid, at=at_of(ts), platform=PLATFORM, group=channel, actor=user, reason=LeaveReason.VOLUNTARY)


def _membership(e: Raw, joined: bool) -> list[Event]:
    channel, user, ts = _s(e.get("channel")), _s(e.get("user")), _s(e.get("event_ts"))
    if not channel or not user:
        return []
    eid = stable_id(PLATFORM, channel, "join" if joined else "leave", user, ts)
    return [_member(eid, ts, channel, user, joined, _s(e.get("inviter")) if joined else "")]


def _reaction(e: Raw) -> list[Event]:
    item = e.get("item")
    if not isinstance(item, Mapping) or item.get("type") != "message":
        return []
    channel, ts, emoji, user = _s(item.get("channel")), _s(item.get("ts")), _s(e.get("reaction")), _s(e.get("user"))
    if not channel or not ts or not user:
        return []
    return [
        Reaction(
            id=platform_id(PLATFORM, channel, "reaction", f"{ts}:{emoji}:{user}"),
            at=at_of(_s(e.get("event_ts") or ts)),
            platform=PLATFORM,
            group=channel,
            actor=user,
            message_id=ts,
            emoji=emoji,
        )
    ]


def events_of(
    e: Raw, bot_user: str = "", dm: Mapping[str, str] | None = None, *, history: bool = False, bot_id: str = ""
) -> list[Event]:
    """The shequn events one Slack event stands for (none for what is skipped or unknown).

    ``dm`` maps a person to the group the bot last wrote to them about; ``history``: a message read from
    ``conversations.history``, where the membership messages stand for the membership events missed."""
    kind = e.get("type")
    if kind in {"member_joined_channel", "member_left_channel"}:
        return [] if _s(e.get("user")) == bot_user else _membership(e, kind == "member_joined_channel")
    if kind == "reaction_added":
        return [] if _s(e.get("user")) == bot_user else _reaction(e)
    if kind != "message":
        return []
    channel, subtype = _s(e.get("channel")), e.get("subtype")
    if e.get("channel_type") == "im" or channel.startswith("D"):
        return _direct(e, {} if dm is None else dm, bot_user)
    if subtype == "message_changed":
        return _changed(e, channel, bot_user)
    if subtype == "message_deleted":
        return _deleted(e, channel)
    if subtype in SKIPPED and not (history and subtype in MEMBERSHIP):
        return []
    return message(e, channel, bot_user, bot_id)
