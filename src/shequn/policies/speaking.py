"""Speaking rules (发言制度三大技巧, book 1850-1860): chat hours (灌水时间), a muted main group, heavy media.

How it works:
    In a community's main groups: with ``mute_main`` on, the main group is for content and announcements, and a
    member who chats there is pointed to the chit-chat group (把主群禁言, 建立一个专门用于闲聊的群, book 1860). With
    ``chat_hours`` set, small talk outside them (stickers, voice messages when ``heavy_media`` is on, and the
    short bursts — 哈哈哈, 666, a lone emoji — that carry no topic) gets a reminder of the hours (book 1856); what
    has content is left alone, since "off-topic" cannot be judged from the text. Reminders to one member are at
    least ``remind_minutes`` apart. The reminded message stops there (chatter earns no points).

Things to keep in mind:
    * Only groups whose role is ``main`` are concerned; chit-chat groups are for chatting.
    * The people who run the group (moderation's ``exempt_roles``) are never reminded.
"""

from __future__ import annotations

import re
import unicodedata
from datetime import timedelta
from typing import ClassVar

from pydantic import Field, field_validator

from shequn.domain import ContentKind, EventKind, Message, Post, SetState
from shequn.domain.records import iso, parse_iso
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, book, check_span, check_texts, has_role, in_span, local, say

NAME = "speaking"
_CHATTER = re.compile(r"^(?:[哈嘿呵嘻啊哦噢嗯呀哇6６+1１。.!！?？~～]|\s)+$")
_SHORT = 4


class SpeakingSettings(BookSettings):
    """``policies.speaking``: chat hours, mute mode and its chit-chat group, heavy media, reminder spacing."""

    chat_hours: list[str] = book(NAME, "chat_hours")
    mute_main: bool = book(NAME, "mute_main")
    chitchat_group: str = book(NAME, "chitchat_group")
    heavy_media: bool = book(NAME, "heavy_media")
    remind_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "remind_minutes"), ge=0)

    @field_validator("chat_hours")
    @classmethod
    def _spans(cls, v: list[str]) -> list[str]:
        return [check_span(x) for x in v]


def is_chatter(msg: Message, heavy_media: bool) -> bool:
    """Small talk with no topic to judge: a sticker, voice (if heavy media is ruled out), 哈哈哈, 666, a lone emoji."""
    if msg.content is ContentKind.STICKER:
        return True
    if msg.content is ContentKind.VOICE:
        return heavy_media
    if msg.content is not ContentKind.TEXT:
        return False
    text = msg.text.strip()
    if not text:
        return False
    if _CHATTER.match(text):
        return True
    return len(text) <= _SHORT and all(unicodedata.category(c) in ("So", "Sk", "Po", "Zs") for c in text)


class Speaking(Policy):
    """Keep chatter to its hours and to the chit-chat group."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = SpeakingSettings
    kinds = frozenset({EventKind.MESSAGE})

    def active(self, settings: PolicySettings) -> bool:
        assert isinstance(settings, SpeakingSettings)
        return settings.enabled and (settings.mute_main or bool(settings.chat_hours))

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, SpeakingSettings)
        if not isinstance(e, Message) or member is None or not (s.mute_main or s.chat_hours):
            return NOTHING
        gconf = ctx.group_config
        if gconf is None or gconf.role != "main":
            return NOTHING
        mod = ctx.config.settings.get("moderation")
        exempt = getattr(mod, "exempt_roles", ("architect", "decision_maker"))
        if has_role(ctx.config.spec, exempt, member, e.actor):
            return NOTHING
        chitchat = self._chitchat(ctx, s)
        name = member.name or e.actor_name or e.actor
        if s.mute_main:
            key = "muted"
            text = say(ctx, NAME, "muted", name=name, chitchat=chitchat or "—")
        else:
            t = local(ctx.now, ctx.config.spec).time()
            if any(in_span(t, span) for span in s.chat_hours) or not is_chatter(e, s.heavy_media):
                return NOTHING
            key = "off_hours"
            hint = say(ctx, NAME, "chitchat_hint", group=chitchat) if chitchat else ""
            text = say(ctx, NAME, "off_hours", name=name, hours="、".join(s.chat_hours), chitchat=hint)
        last = ctx.scope.get(f"r:{member.key}")
        if last and ctx.now - parse_iso(last) < timedelta(minutes=s.remind_minutes):
            return Decision(stop=True)
        return Decision(
            (
                ctx.act(Post, key, text=text, mentions=(e.actor,)),
                ctx.act(SetState, "r", scope=NAME, name=f"r:{member.key}", value=iso(ctx.now)),
            ),
            stop=True,
        )

    @staticmethod
    def _chitchat(ctx: Context, s: SpeakingSettings) -> str:
        groups = ctx.config.spec.groups
        chosen = next(
            (
                g
                for g in groups
                if (s.chitchat_group and g.id == s.chitchat_group) or (not s.chitchat_group and g.role == "chitchat")
            ),
            None,
        )
        return (chosen.name or chosen.id) if chosen else s.chitchat_group

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, SpeakingSettings)
        problems = check_texts(NAME, settings)
        ids = {g.id for g in spec.groups}
        if settings.chitchat_group and ids and settings.chitchat_group not in ids:
            problems.append(("chitchat_group", f"no group {settings.chitchat_group!r} in this community"))
        if settings.mute_main and not settings.chitchat_group and not any(g.role == "chitchat" for g in spec.groups):
            problems.append(("mute_main", "a muted main group needs a chit-chat group: set chitchat_group or add one"))
        return problems
