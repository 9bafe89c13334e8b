"""discord.py objects → shequn events (pure): the same ids as the DiscordChatExporter importer.

How it works:
    A channel is a group (``group`` = the channel id). A thread belongs to its parent channel: ``group`` is the parent,
    ``thread`` the thread id, as :mod:`shequn.importers.discord` does with DiscordChatExporter's ``categoryId``. Event
    ids are built the importer's way (``platform_id("discord", group, "m", message_id)`` …), so an export imported
    after the bot went live (or before) lands on the same events and members, never twice. The actor's name is the
    member's display name (server nickname, else global name, else user name): DiscordChatExporter's ``nickname``.

Things to keep in mind:
    * Guild-wide facts (a member joining or leaving the server) have no channel: the connector decides which bound
      channel they belong to (:func:`home_channel`).
    * System messages (joins, pins, boosts) are read as ``system`` content by the importer; live, the join is the
      ``GUILD_MEMBER_ADD`` event, so the join message is skipped.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

import discord

from shequn.connectors.base import accepts_rules
from shequn.domain import (
    RULES_FORM,
    ContentKind,
    Delete,
    Edit,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    Reaction,
    stable_id,
)
from shequn.importers.base import platform_id, to_ms

PLATFORM = "discord"
_TEXT_TYPES = {
    discord.MessageType.default,
    discord.MessageType.reply,
    discord.MessageType.thread_starter_message,
    discord.MessageType.chat_input_command,
    discord.MessageType.context_menu_command,
}
_EXT_KIND = {
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "webp", "bmp", "heic"), ContentKind.IMAGE),
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "avi"), ContentKind.VIDEO),
    **dict.fromkeys(("mp3", "ogg", "wav", "m4a", "opus", "flac"), ContentKind.VOICE),
}


def place(channel: Any) -> tuple[str, str]:
    """(group, thread) of a channel: a thread belongs to its parent channel."""
    parent = getattr(channel, "parent_id", None)
    if isinstance(channel, discord.Thread) and parent:
        return str(parent), str(channel.id)
    return str(channel.id), ""


def message_event_id(group: str, message_id: str) -> str:
    """The id of a message event: the importer's (``platform_id(discord, group, "m", id)``)."""
    return platform_id(PLATFORM, group, "m", message_id)


def name_of(user: Any) -> str:
    return str(getattr(user, "display_name", "") or getattr(user, "name", "") or "")


def _kind_of(name: str) -> ContentKind:
    ext = name.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower() if "." in name else ""
    return _EXT_KIND.get(ext, ContentKind.FILE)


def message(m: discord.Message, group: str, thread: str) -> Message | None:
    """A guild message (None for the join system message: the member event stands for it)."""
    if m.type is discord.MessageType.new_member:
        return None
    mid = str(m.id)
    text = m.content or ""
    content = ContentKind.TEXT if m.type in _TEXT_TYPES else ContentKind.SYSTEM
    media = ""
    if content is ContentKind.TEXT:
        if m.attachments:
            media = m.attachments[0].filename
            content = _kind_of(media)
        elif m.stickers:
            content, media = ContentKind.STICKER, m.stickers[0].name
        elif m.embeds and re.fullmatch(r"\s*https?://\S+\s*", text):
            content = ContentKind.LINK
    ref = m.reference.message_id if m.reference is not None and m.type in _TEXT_TYPES else None
    return Message(
        id=message_event_id(group, mid),
        at=m.created_at.astimezone(UTC),
        platform=PLATFORM,
        group=group,
        actor=str(m.author.id),
        actor_name=name_of(m.author),
        message_id=mid,
        content=content,
        text=text,
        reply_to=str(ref) if ref else "",
        mentions=tuple(str(u.id) for u in m.mentions),
        media=media,
        thread=thread,
        from_bot=bool(m.author.bot or m.webhook_id),
        extra={} if content is not ContentKind.SYSTEM else {"type": m.type.name},
    )


def edit(group: str, message_id: str, actor: str, actor_name: str, text: str, when: datetime) -> Edit:
    return Edit(
        id=platform_id(PLATFORM, group, "edit", f"{message_id}@{to_ms(when)}"),
        at=when.astimezone(UTC),
        platform=PLATFORM,
        group=group,
        actor=actor,
        actor_name=actor_name,
        message_id=message_id,
        text=text,
    )


def delete(group: str, message_id: str, now: datetime) -> Delete:
    return Delete(
        id=platform_id(PLATFORM, group, "delete", message_id), at=now, platform=PLATFORM, group=group,
        message_id=message_id,
    )  # fmt: skip


def reaction(
    group: str, message_id: str, user: str, user_name: str, emoji: str, now: datetime, removed: bool
) -> Reaction:
    ident = platform_id(PLATFORM, group, "reaction", f"{message_id}:{emoji}:{user}")
    if removed:
        ident = stable_id(ident, "removed", str(to_ms(now)))
    return Reaction(
        id=ident, at=now, platform=PLATFORM, group=group, actor=user, actor_name=user_name, message_id=message_id,
        emoji=emoji, removed=removed,
    )  # fmt: skip


def join(group: str, member: discord.Member) -> Join:
    when = (member.joined_at or datetime.now(UTC)).astimezone(UTC)
    return Join(
        id=stable_id(PLATFORM, group, "join", str(member.id), str(to_ms(when))), at=when, platform=PLATFORM,
        group=group, actor=str(member.id), actor_name=name_of(member), method=JoinMethod.SELF,
    )  # fmt: skip


def roster_join(group: str, member: discord.Member, now: datetime) -> Join:
    return Join(
        id=stable_id(PLATFORM, group, "roster", str(member.id)),
        at=(member.joined_at or now).astimezone(UTC), platform=PLATFORM, group=group, actor=str(member.id),
        actor_name=name_of(member), method=JoinMethod.ROSTER,
    )  # fmt: skip


def leave(group: str, user: Any, now: datetime, *, removed_by: str = "", banned: bool = False) -> Leave:
    reason = LeaveReason.REMOVED if removed_by or banned else LeaveReason.VOLUNTARY
    return Leave(
        id=stable_id(PLATFORM, group, "leave", str(user.id), str(to_ms(now))), at=now, platform=PLATFORM,
        group=group, actor=str(user.id), actor_name=name_of(user), reason=reason, by=removed_by,
    )  # fmt: skip


def rules_accepted(m: discord.Message, group: str) -> FormAnswer | None:
    """A direct message accepting the rules (``同意`` / ``accept``) for ``group``, the channel the bot wrote about."""
    if not group or not accepts_rules(m.content or ""):
        return None
    return FormAnswer(
        id=stable_id(PLATFORM, "dm", str(m.author.id), str(m.id)), at=m.created_at.astimezone(UTC),
        platform=PLATFORM, group=group, actor=str(m.author.id), actor_name=name_of(m.author), form=RULES_FORM,
    )  # fmt: skip


def home_channel(guild: Any, bound: Iterable[str]) -> str:
    """Where a server-wide fact (a join, a leave) goes: the server's system channel when it is bound, else the first
    bound text channel of the server ("" when none of its channels is bound)."""
    mine = {str(c.id) for c in getattr(guild, "text_channels", ())} & set(bound)
    system = getattr(guild, "system_channel", None)
    if system is not None and str(system.id) in mine:
        return str(system.id)
    return min(mine, key=int) if mine else ""
