"""Telegram Desktop JSON exports (单个聊天 and the full-account export) → events.

How it works:
    Messages stream through :func:`~shequn.importers.jsonstream.array_items`. ``text`` is a string or a list of
    strings and entity objects; ``mention_name`` entities give user ids, ``mention`` entities ``@username``.
    Service messages become the matching events: members invited or added → :class:`~shequn.domain.Join`
    (invited), joined by link → Join (self), by request → Join (approved), removed → :class:`~shequn.domain.Leave`
    (removed); everything else (pins, title changes, calls …) a system message. ``edited`` becomes an
    :class:`~shequn.domain.Edit` and ``reactions`` :class:`~shequn.domain.Reaction` events (one per reacting user the
    export names, one for the rest with ``extra.count``). Replies to a forum topic's opening message are messages
    in that topic (``thread``).

Things to keep in mind:
    * Ids match the Bot API (what the Telegram connector sees): supergroups and channels ``-100<id>``, basic groups
      ``-<id>``, users without the ``user`` prefix. Event ids come from the message ids; exports without them
      (some tools strip them) fall back to content ids.
    * Service messages name invited or removed members only by display name: they are resolved to ids through the
      names seen earlier in the chat; otherwise the event keeps the name with no id (``extra.member``).
    * Times: ``date_unixtime`` when present, else ``date`` in the ``--tz`` zone.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from hashlib import blake2b
from typing import Any

import orjson

from shequn.domain import (
    ContentKind,
    Edit,
    Event,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    LogRow,
    Message,
    Reaction,
    iso_ms,
)
from shequn.importers.base import (
    ContentIds,
    Context,
    LocalTimes,
    event_from_row,
    from_unix,
    items,
    log_row,
    platform_id,
    to_ms,
)
from shequn.importers.jsonstream import array_items

PLATFORM = "telegram"

_MEDIA = {
    "sticker": ContentKind.STICKER,
    "animation": ContentKind.VIDEO,
    "video_file": ContentKind.VIDEO,
    "video_message": ContentKind.VIDEO,
    "voice_message": ContentKind.VOICE,
    "audio_file": ContentKind.VOICE,
}
_CHANNEL_TYPES = {"private_supergroup", "public_supergroup", "public_channel", "private_channel"}
_INVITED = {"invite_members", "create_group", "create_channel"}


def chat_id(raw_id: Any, chat_type: str) -> str:
    """The Bot API id of a chat from the export's ``id`` and ``type``."""
    s = str(raw_id)
    if not s.lstrip("-").isdigit() or s.startswith("-"):
        return s
    if chat_type in _CHANNEL_TYPES:
        return f"-100{s}"
    if chat_type == "private_group":
        return f"-{s}"
    return s


def user_id(raw: Any) -> str:
    """``user123`` → ``123``; ``channel123`` → ``-100123`` (a channel posting as itself); numbers as text."""
    s = str(raw)
    if s.startswith("user") and s[4:].isdigit():
        return s[4:]
    if s.startswith("channel") and s[7:].isdigit():
        return f"-100{s[7:]}"
    if s.startswith("chat") and s[4:].isdigit():
        return f"-{s[4:]}"
    return s


def plain_text(value: Any) -> tuple[str, list[str], bool]:
    """(text, mentioned user ids or @usernames, whether the text is only links) from a ``text`` field."""
    if value is None:
        return "", [], False
    if isinstance(value, str):
        return value, [], False
    if not isinstance(value, list):
        return str(value), [], False
    parts: list[str] = []
    mentions: list[str] = []
    links = 0
    other = False
    for piece in value:
        if isinstance(piece, str):
            parts.append(piece)
            other = other or bool(piece.strip())
        elif isinstance(piece, Mapping):
            text = piece.get("text", "")
            text = text if isinstance(text, str) else str(text)
            parts.append(text)
            kind = piece.get("type")
            if kind == "mention_name" and piece.get("user_id") is not None:
                mentions.append(user_id(piece["user_id"]))
            elif kind == "mention" and text.startswith("@"):
                mentions.append(text)
            elif kind in ("link", "text_link"):
                links += 1
            elif text.strip():
                other = True
    return "".join(parts), mentions, links > 0 and not other


class _Chat:
    """What the parser remembers about one chat while reading it (bounded: names, topics)."""

    def __init__(self, ctx: Context, group: str) -> None:
        self.group = group
        self.ids = ContentIds(PLATFORM, group)
        self.names: dict[str, str] = {}  # display name → user id, as seen
        self.topics: set[int] = set()
        self.message_prefix = f"{PLATFORM}\x1f{group}\x1fm\x1f"  # platform_id(PLATFORM, group, "m", …) before the id


def parse(ctx: Context) -> Iterator[Event]:
    """Events of a Telegram Desktop export (its rows, read back)."""
    return map(event_from_row, rows(ctx))


def rows(ctx: Context) -> Iterator[LogRow]:
    """Log rows of a Telegram Desktop export (one chat, or every chat of a full-account export)."""
    times = LocalTimes(ctx.options.tz)
    chats: dict[str, _Chat] = {}
    last: tuple[int, _Chat | None] = (-1, None)
    for around, item in array_items(ctx, frozenset({"messages"})):
        holder = around[-1] if around else {}
        key = id(holder)
        if key != last[0]:
            raw_id = holder.get("id")
            name = str(holder.get("name") or "")
            group = chat_id(raw_id, str(holder.get("type", ""))) if raw_id is not None else (name or _fallback(ctx))
            chat = ctx.chat(PLATFORM, group, name or group)
            state = chats.get(group)
            if state is None:
                state = chats[group] = _Chat(ctx, group)
            last = (key, state if ctx.wanted(chat) else None)
        state_or_none = last[1]
        if state_or_none is None:
            continue
        row = _message_row(ctx, state_or_none, item)
        if row is not None:
            yield row
        else:
            for e in _events(ctx, state_or_none, times, item):
                yield log_row(e)


_PLAIN_KEYS = frozenset(
    {"id", "type", "date", "date_unixtime", "from", "from_id", "text", "text_entities", "reply_to_message_id"}
)
_DUMPS = orjson.dumps


def _message_row(ctx: Context, chat: _Chat, m: dict[str, Any]) -> LogRow | None:
    """The row of a plain message (text, a reply, a photo: nearly every message of a big export), written straight
    from the item as :func:`_events` would encode it; None for anything else (service messages, edits, reactions,
    media kinds, forwards, mentions, masking …), which takes the full path."""
    if m.get("type") != "message" or ctx.options.mask is not None:
        return None
    photo = None
    if not _PLAIN_KEYS.issuperset(m):
        if "photo" not in m or not _PLAIN_KEYS.issuperset(k for k in m if k not in ("photo", "width", "height")):
            return None
        photo = m["photo"]
        if not isinstance(photo, str) or not photo:
            return None
    mid = m.get("id")
    unix = m.get("date_unixtime")
    name = m.get("from")
    raw_from = m.get("from_id")
    text = m.get("text", "")
    if not isinstance(mid, int) or not isinstance(unix, str) or not unix.isdigit() or len(unix) > 11:
        return None
    if not isinstance(name, str) or not name or not isinstance(raw_from, str) or not isinstance(text, str):
        return None
    if raw_from.startswith("user") and raw_from[4:].isdigit():
        actor = raw_from[4:]
    else:
        return None
    chat.names[name] = actor
    at_ms = int(unix) * 1000
    message_id = str(mid)
    group = chat.group
    eid = blake2b(f"{chat.message_prefix}{message_id}".encode(), digest_size=12).hexdigest()
    # Message.to_dict(compact=True), written out: the fields in declaration order, defaults left out.
    d: dict[str, Any] = {"kind": "message", "id": eid, "at": iso_ms(at_ms), "platform": PLATFORM}
    if group:
        d["group"] = group
    d["actor"] = actor
    d["actor_name"] = name
    d["message_id"] = message_id
    if photo is not None:
        d["content"] = "image"
    if text:
        d["text"] = text
    reply = m.get("reply_to_message_id")
    thread = ""
    if reply is not None:
        if isinstance(reply, int) and reply in chat.topics:
            thread = str(reply)
        else:
            d["reply_to"] = str(reply)
    if photo is not None:
        d["media"] = photo
    if thread:
        d["thread"] = thread
    return (eid, "message", at_ms, PLATFORM, group, actor, name, _DUMPS(d))


def _fallback(ctx: Context) -> str:
    return ctx.options.group or ctx.source.filename.rsplit(".", 1)[0]


def _when(ctx: Context, times: LocalTimes, item: Mapping[str, Any], key: str = "date") -> datetime:
    unix = item.get(f"{key}_unixtime")
    try:
        if unix is not None:
            return from_unix(int(unix))
        text = item.get(key)
        if not isinstance(text, str):
            raise ValueError
        dt = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except (ValueError, TypeError, OverflowError):
        raise ctx.error("bad_time", value=str(item.get(key, unix)), expected="date_unixtime or ISO date") from None
    if dt.tzinfo is not None:
        return dt.astimezone(UTC)
    return times.utc(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)


def _events(ctx: Context, chat: _Chat, times: LocalTimes, m: Mapping[str, Any]) -> Iterator[Event]:
    at = _when(ctx, times, m)
    kind = m.get("type", "message")
    group = chat.group
    if kind == "service":
        yield from _service(ctx, chat, at, m)
        return
    if kind != "message":
        return  # unknown record types are kept out rather than guessed
    text, mentions, only_links = plain_text(m.get("text"))
    name = str(m.get("from") or "")
    raw_from = m.get("from_id")
    actor = user_id(raw_from) if raw_from is not None else name
    if name and actor:
        chat.names[name] = actor
    content, media = _content(m, only_links)
    mid = m.get("id")
    if mid is not None:
        message_id = str(mid)
        eid = platform_id(PLATFORM, group, "m", message_id)
    else:
        message_id = ""
        eid = chat.ids.make(to_ms(at), actor, text)
    reply = m.get("reply_to_message_id")
    thread = ""
    reply_to = ""
    if isinstance(reply, int) and reply in chat.topics:
        thread = str(reply)
    elif reply is not None:
        reply_to = str(reply)
    actor_id = ctx.mask_id(actor)
    actor_name = ctx.mask_text(name)
    yield Message(
        id=eid,
        at=at,
        platform=PLATFORM,
        group=group,
        actor=actor_id,
        actor_name=actor_name,
        message_id=message_id,
        content=content,
        text=ctx.mask_text(text),
        reply_to=reply_to,
        mentions=tuple(ctx.mask_id(x) for x in mentions),
        media=media,
        thread=thread,
        forwarded=bool(m.get("forwarded_from")),
    )
    if message_id and ("edited" in m or "edited_unixtime" in m):
        edited = _when(ctx, times, m, "edited")
        yield Edit(
            id=platform_id(PLATFORM, group, "edit", f"{message_id}@{to_ms(edited)}"),
            at=edited,
            platform=PLATFORM,
            group=group,
            actor=actor_id,
            actor_name=actor_name,
            message_id=message_id,
            text=ctx.mask_text(text),
        )
    reactions = m.get("reactions")
    if message_id and isinstance(reactions, list):
        yield from _reactions(ctx, group, at, message_id, reactions)


def _content(m: Mapping[str, Any], only_links: bool) -> tuple[ContentKind, str]:
    media_type = m.get("media_type")
    if isinstance(media_type, str) and media_type in _MEDIA:
        return _MEDIA[media_type], str(m.get("file") or "")
    if "photo" in m:
        return ContentKind.IMAGE, str(m.get("photo") or "")
    if "poll" in m:
        poll = m.get("poll")
        return ContentKind.POLL, str(poll.get("question", "")) if isinstance(poll, Mapping) else ""
    if "location_information" in m or "place_name" in m:
        return ContentKind.LOCATION, ""
    if "contact_information" in m or "contact_vcard" in m:
        return ContentKind.CONTACT_CARD, ""
    if "file" in m:
        return ContentKind.FILE, str(m.get("file_name") or m.get("file") or "")
    if only_links:
        return ContentKind.LINK, ""
    return ContentKind.TEXT, ""


def _reactions(ctx: Context, group: str, at: datetime, message_id: str, reactions: list[Any]) -> Iterator[Reaction]:
    for r in reactions:
        if not isinstance(r, Mapping):
            continue
        emoji = str(r.get("emoji") or r.get("document_id") or r.get("type") or "")
        recent = items(r.get("recent"))
        named = 0
        for who in recent:
            if not isinstance(who, Mapping) or who.get("from_id") is None:
                continue
            actor = user_id(who["from_id"])
            when = at
            if who.get("date"):
                try:
                    when = datetime.fromisoformat(str(who["date"])).replace(tzinfo=at.tzinfo)
                except ValueError:
                    when = at
            named += 1
            yield Reaction(
                id=platform_id(PLATFORM, group, "reaction", f"{message_id}:{emoji}:{actor}"),
                at=max(at, when.astimezone(UTC)),
                platform=PLATFORM,
                group=group,
                actor=ctx.mask_id(actor),
                actor_name=ctx.mask_text(str(who.get("from") or "")),
                message_id=message_id,
                emoji=emoji,
            )
        count = r.get("count")
        rest = (count if isinstance(count, int) else 0) - named
        if rest > 0:
            yield Reaction(
                id=platform_id(PLATFORM, group, "reactions", f"{message_id}:{emoji}"),
                at=at,
                platform=PLATFORM,
                group=group,
                message_id=message_id,
                emoji=emoji,
                extra={"count": rest},
            )


def _service(ctx: Context, chat: _Chat, at: datetime, m: Mapping[str, Any]) -> Iterator[Event]:
    group = chat.group
    action = str(m.get("action") or "")
    name = str(m.get("actor") or "")
    raw_actor = m.get("actor_id")
    actor = user_id(raw_actor) if raw_actor is not None else chat.names.get(name, "")
    if name and actor:
        chat.names[name] = actor
    mid = m.get("id")
    key = str(mid) if mid is not None else f"{to_ms(at)}:{action}:{actor}"
    if isinstance(mid, int) and action == "topic_created":
        chat.topics.add(mid)
    members = [str(x) for x in items(m.get("members")) if x]
    if action in _INVITED and members:
        for member in members:
            member_id = chat.names.get(member, "")
            self_join = member_id == actor or member == name
            yield Join(
                id=platform_id(PLATFORM, group, "join", f"{key}:{member}"),
                at=at,
                platform=PLATFORM,
                group=group,
                actor=ctx.mask_id(actor if self_join else member_id),
                actor_name=ctx.mask_text(member),
                method=JoinMethod.SELF if self_join else JoinMethod.INVITED,
                inviter="" if self_join else ctx.mask_id(actor),
                extra={} if (member_id or self_join) else {"member": ctx.mask_text(member)},
            )
        if action == "invite_members":
            return
    elif action in ("join_group_by_link", "join_group_by_request"):
        yield Join(
            id=platform_id(PLATFORM, group, "join", key),
            at=at,
            platform=PLATFORM,
            group=group,
            actor=ctx.mask_id(actor),
            actor_name=ctx.mask_text(name),
            method=JoinMethod.SELF if action == "join_group_by_link" else JoinMethod.APPROVED,
        )
        return
    elif action == "remove_members" and members:
        for member in members:
            member_id = chat.names.get(member, "")
            voluntary = member_id == actor or member == name
            yield Leave(
                id=platform_id(PLATFORM, group, "leave", f"{key}:{member}"),
                at=at,
                platform=PLATFORM,
                group=group,
                actor=ctx.mask_id(actor if voluntary else member_id),
                actor_name=ctx.mask_text(member),
                reason=LeaveReason.VOLUNTARY if voluntary else LeaveReason.REMOVED,
                by="" if voluntary else ctx.mask_id(actor),
                extra={} if (member_id or voluntary) else {"member": ctx.mask_text(member)},
            )
        return
    text, _, _ = plain_text(m.get("text"))
    extra: dict[str, Any] = {"action": action}
    for field_name in ("title", "message_id", "duration_seconds", "discard_reason", "new_title"):
        if m.get(field_name) is not None:
            extra[field_name] = m[field_name]
    yield Message(
        id=platform_id(PLATFORM, group, "m", key) if mid is not None else chat.ids.make(to_ms(at), actor, action),
        at=at,
        platform=PLATFORM,
        group=group,
        actor=ctx.mask_id(actor),
        actor_name=ctx.mask_text(name),
        message_id=key if mid is not None else "",
        content=ContentKind.SYSTEM,
        text=ctx.mask_text(text or action),
        extra=extra,
    )
