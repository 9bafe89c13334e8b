"""Element's Matrix room export (JSON) → events.

How it works:
    The export is ``{room_name, room_creator, topic, export_date, exported_by, messages: [raw Matrix events]}``;
    the events stream through :func:`~shequn.importers.jsonstream.array_items`. ``m.room.message`` (and
    ``m.sticker``) become messages, the ``msgtype`` giving the media kind, ``m.in_reply_to`` the reply, an
    ``m.thread`` relation the thread and ``m.mentions`` the mentioned users; a message that replaces another
    (``m.replace``) is an edit, ``m.reaction`` a reaction, ``m.room.redaction`` a deletion. Membership events
    become joins (invited when someone else added them), leaves (voluntary, removed or banned) and nickname
    changes. Other state events (name, topic, avatar …) are system messages.

Things to keep in mind:
    * The room is the events' ``room_id`` (the export has no id of its own); people are their Matrix ids
      (``@name:server``), as the Matrix connector knows them.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

from shequn.domain import (
    ContentKind,
    Delete,
    Edit,
    Event,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    Reaction,
)
from shequn.importers.base import EPOCH, Context, fields, items, platform_id
from shequn.importers.jsonstream import array_items

PLATFORM = "matrix"

_MSGTYPES = {
    "m.text": ContentKind.TEXT,
    "m.notice": ContentKind.TEXT,
    "m.emote": ContentKind.TEXT,
    "m.image": ContentKind.IMAGE,
    "m.file": ContentKind.FILE,
    "m.video": ContentKind.VIDEO,
    "m.audio": ContentKind.VOICE,
    "m.location": ContentKind.LOCATION,
}


def parse(ctx: Context) -> Iterator[Event]:
    """Events of an Element JSON room export."""
    from datetime import timedelta

    keep: dict[str, bool] = {}
    for around, e in array_items(ctx, frozenset({"messages"})):
        root = around[0] if around else {}
        room = str(e.get("room_id") or root.get("room_id") or ctx.options.group or root.get("room_name") or "")
        if not room:
            raise ctx.error("missing_field", field="room_id")
        if room not in keep:
            keep[room] = ctx.wanted(ctx.chat(PLATFORM, room, str(root.get("room_name") or room)))
        if not keep[room]:
            continue
        event_id = e.get("event_id")
        ts = e.get("origin_server_ts")
        if not isinstance(event_id, str) or not isinstance(ts, int):
            raise ctx.error("missing_field", field="event_id/origin_server_ts")
        try:
            at = EPOCH + timedelta(milliseconds=ts)
        except OverflowError:
            raise ctx.error("bad_time", value=str(ts), expected="milliseconds since 1970") from None
        yield from _event(ctx, room, at, event_id, e)


def _event(ctx: Context, room: str, at: Any, event_id: str, e: Mapping[str, Any]) -> Iterator[Event]:
    kind = str(e.get("type") or "")
    sender = str(e.get("sender") or "")
    actor = ctx.mask_id(sender)
    c = fields(e.get("content"))
    rel = fields(c.get("m.relates_to"))
    eid = platform_id(PLATFORM, room, "m", event_id)
    base: dict[str, Any] = {"at": at, "platform": PLATFORM, "group": room, "actor": actor}
    if kind in ("m.room.message", "m.sticker"):
        if rel.get("rel_type") == "m.replace" and rel.get("event_id"):
            new = fields(c.get("m.new_content")) or c
            yield Edit(id=eid, message_id=str(rel["event_id"]), text=ctx.mask_text(str(new.get("body") or "")), **base)
            return
        msgtype = str(c.get("msgtype") or "")
        content = ContentKind.STICKER if kind == "m.sticker" else _MSGTYPES.get(msgtype, ContentKind.OTHER)
        reply = fields(rel.get("m.in_reply_to"))
        thread = str(rel.get("event_id") or "") if rel.get("rel_type") == "m.thread" else ""
        mentions = fields(c.get("m.mentions"))
        body = str(c.get("body") or "")
        yield Message(
            id=eid,
            message_id=event_id,
            content=content,
            text=ctx.mask_text(body) if content in (ContentKind.TEXT, ContentKind.OTHER) else "",
            reply_to=str(reply.get("event_id") or "") if not thread or not rel.get("is_falling_back") else "",
            mentions=tuple(ctx.mask_id(str(u)) for u in items(mentions.get("user_ids"))),
            media=body if content not in (ContentKind.TEXT, ContentKind.OTHER) else str(c.get("url") or ""),
            thread=thread,
            from_bot=msgtype == "m.notice",
            **base,
        )
        return
    if kind == "m.reaction":
        if rel.get("event_id"):
            yield Reaction(id=eid, message_id=str(rel["event_id"]), emoji=str(rel.get("key") or ""), **base)
        return
    if kind == "m.room.redaction":
        target = e.get("redacts") or c.get("redacts")
        if target:
            yield Delete(id=eid, message_id=str(target), by=actor, **base)
        return
    if kind == "m.room.member":
        yield from _member(ctx, eid, base, sender, e, c)
        return
    yield Message(
        id=eid,
        message_id=event_id,
        content=ContentKind.OTHER if kind == "m.room.encrypted" else ContentKind.SYSTEM,
        text=ctx.mask_text(str(c.get("name") or c.get("topic") or c.get("body") or kind)),
        extra={"type": kind},
        **base,
    )


def _member(
    ctx: Context, eid: str, base: dict[str, Any], sender: str, e: Mapping[str, Any], c: Mapping[str, Any]
) -> Iterator[Event]:
    target = str(e.get("state_key") or sender)
    who = ctx.mask_id(target)
    membership = c.get("membership")
    unsigned = fields(e.get("unsigned"))
    prev = fields(unsigned.get("prev_content"))
    name = ctx.mask_text(str(c.get("displayname") or prev.get("displayname") or target))
    facts = {**base, "actor": who, "actor_name": name}  # an invitation, or one withdrawn or refused: system
    if membership == "join":
        if prev.get("membership") == "join":
            old, new = str(prev.get("displayname") or ""), str(c.get("displayname") or "")
            if old != new:
                yield NicknameChange(id=eid, old=ctx.mask_text(old), new=ctx.mask_text(new), **facts)
            return
        invited = prev.get("membership") == "invite"
        yield Join(
            id=eid,
            method=JoinMethod.INVITED if invited or target != sender else JoinMethod.SELF,
            inviter=ctx.mask_id(sender) if target != sender else "",
            **facts,
        )
        return
    if membership in ("leave", "ban") and prev.get("membership") in (None, "join"):
        reason = (
            LeaveReason.BANNED
            if membership == "ban"
            else LeaveReason.VOLUNTARY
            if target == sender
            else LeaveReason.REMOVED
        )
        yield Leave(id=eid, reason=reason, by="" if target == sender else ctx.mask_id(sender), **facts)
        return
    yield Message(
        id=eid,
        message_id=str(e.get("event_id") or ""),
        content=ContentKind.SYSTEM,
        text=f"{membership}: {name}",
        extra={"type": "m.room.member", "membership": str(membership)},
        **{**base, "actor": ctx.mask_id(sender)},
    )
