"""Levels (等级身份, book 1639, 2371, 1239): titles by thresholds, kept with hysteresis, and the daily bulletin.

How it works:
    A level has a title and thresholds (points, and optionally messages and check-ins). Its points are those the
    member earned (book 1239: 根据贡献及参与度), balance plus what they spent on rewards, so spending points never
    costs a level; expired points do, as participation lapses. A member reaches the highest
    level whose thresholds they all meet, and keeps a level until they fall below ``keep_ratio`` (90%) of one of
    its thresholds — Discourse's low-water mark — so a member near a boundary does not flap between levels. The
    actor's level is recomputed on their messages and check-ins (after points were awarded); everybody's once a day
    (points expire). A promotion is announced in the group (公布天下, book 1997); a demotion is told privately.

    :func:`bulletin` is the daily level bulletin (每天都会对等级进行最新公示, book 2371) with each member's distance
    to the next level, a pure function for the scheduler; :func:`distance` and :func:`title_of` serve replies.

Things to keep in mind:
    * Level 0 means "not yet placed"; the first event places a member without an announcement.
"""

from __future__ import annotations

import itertools
from datetime import datetime
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shequn.domain import Action, DirectMessage, EventKind, SetLevel, SetState
from shequn.domain.state import CommunityState, MemberState
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.acks import ack
from shequn.policies.base import NOTHING, CommunityConfig, Context, Decision, Policy, PolicySettings, decided
from shequn.policies.common import BookSettings, PerSettings, book, check_texts, day, earned, local, say, text_of

NAME = "levels"


class Level(BaseModel):
    """One level: its number, title (text or {zh-CN, en}) and thresholds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    level: int = Field(ge=1)
    title: str | dict[str, str]
    points: int = Field(default=0, ge=0)
    messages: int = Field(default=0, ge=0)
    checkins: int = Field(default=0, ge=0)

    def name(self, locale: str) -> str:
        if isinstance(self.title, str):
            return self.title
        return self.title.get("en" if locale.startswith("en") else "zh-CN") or next(iter(self.title.values()))


class LevelsSettings(BookSettings):
    """``policies.levels``: the ladder, the hysteresis ratio, announcements, the bulletin's length."""

    ladder: list[Level] = book(NAME, "ladder")
    keep_ratio: float = Field(default_factory=lambda: load_playbook().default(NAME, "keep_ratio"), gt=0, le=1)
    announce: bool = book(NAME, "announce")
    bulletin_size: int = Field(default_factory=lambda: load_playbook().default(NAME, "bulletin_size"), ge=1)

    @field_validator("ladder")
    @classmethod
    def _ordered(cls, v: list[Level]) -> list[Level]:
        if not v:
            raise ValueError("needs at least one level")
        numbers = [lv.level for lv in v]
        if numbers != sorted(set(numbers)):
            raise ValueError("levels must be numbered in increasing order, each once")
        for a, b in itertools.pairwise(v):
            if b.points < a.points or b.messages < a.messages or b.checkins < a.checkins:
                raise ValueError(f"level {b.level} must not ask less than level {a.level}")
        return v


def _checkins(community: CommunityState, member: MemberState) -> int:
    rec = (community.policy.get("checkin") or {}).get(f"m:{member.key}")
    return int(rec.get("total", 0)) if rec else 0


def _meets(lv: Level, points: int, messages: int, checkins: int, ratio: float) -> bool:
    return points >= lv.points * ratio and messages >= lv.messages * ratio and checkins >= lv.checkins * ratio


def target(ladder: list[Level], current: int, points: int, messages: int, checkins: int, keep: float) -> int:
    """The level a member should hold: promoted to the highest level met in full, kept until below ``keep``."""
    reached = 0
    for lv in ladder:
        if _meets(lv, points, messages, checkins, 1.0):
            reached = lv.level
    if reached >= current:
        return reached
    held = 0
    for lv in ladder:
        if lv.level <= current and _meets(lv, points, messages, checkins, keep):
            held = lv.level
    return max(held, reached)


def _settings(config: CommunityConfig) -> LevelsSettings:
    s = config.settings.get(NAME)
    return s if isinstance(s, LevelsSettings) else LevelsSettings()


def title_of(config: CommunityConfig, level: int, locale: str) -> str:
    """The title of ``level`` (the first level's for 0)."""
    ladder = _settings(config).ladder
    lv = next((x for x in ladder if x.level == level), ladder[0])
    return lv.name(locale)


def _next(ladder: list[Level], member: MemberState, points: int) -> tuple[Level | None, int]:
    nxt = next((x for x in ladder if x.level > member.level), None)
    return nxt, (max(nxt.points - points, 0) if nxt else 0)


def distance(config: CommunityConfig, community: CommunityState, member: MemberState, locale: str) -> str:
    """ "{gap} more to [{next}]." for a member, or "" at the top level."""
    s = _settings(config)
    nxt, gap = _next(s.ladder, member, earned(community, member))
    if nxt is None:
        return ""
    return text_of(NAME, "next_gap", locale, s.texts, next=nxt.name(locale), gap=gap)


def bulletin(config: CommunityConfig, community: CommunityState, now: datetime, *, size: int | None = None) -> str:
    """The daily level bulletin: the top members by points, their titles and their distance to the next level."""
    s = _settings(config)
    locale = config.locale
    members = sorted(
        ((m, earned(community, m)) for m in community.members.values() if m.active and m.level > 0),
        key=lambda mp: (-mp[1], mp[0].number),
    )[: size or s.bulletin_size]
    lines = [text_of(NAME, "bulletin_head", locale, s.texts, date=day(local(now, config.spec)))]
    for rank, (m, points) in enumerate(members, 1):
        nxt, gap = _next(s.ladder, m, points)
        title = title_of(config, m.level, locale)
        name = m.name or m.key.partition(":")[2]
        if nxt is None:
            lines.append(
                text_of(NAME, "bulletin_top", locale, s.texts, rank=rank, name=name, title=title, points=points)
            )
        else:
            lines.append(
                text_of(
                    NAME,
                    "bulletin_line",
                    locale,
                    s.texts,
                    rank=rank,
                    name=name,
                    title=title,
                    points=points,
                    next=nxt.name(locale),
                    gap=gap,
                )
            )
    return "\n".join(lines)


_LADDER: PerSettings[tuple[list[Level], dict[int, int], bool]] = PerSettings(
    lambda s: (s.ladder, {lv.level: i for i, lv in enumerate(s.ladder)}, any(lv.checkins for lv in s.ladder))
)


class Levels(Policy):
    """Place members on the ladder after each of their messages and check-ins, and all of them daily."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = LevelsSettings
    kinds = frozenset({EventKind.MESSAGE, EventKind.CHECK_IN})
    ticks = True

    def decide(self, ctx: Context) -> Decision:
        member = ctx.member
        if member is None or ctx.event is None:
            return NOTHING
        s = ctx.settings
        assert isinstance(s, LevelsSettings)
        return decided(self._place(ctx, s, member, announce=True))

    def _place(self, ctx: Context, s: LevelsSettings, member: MemberState, *, announce: bool) -> list[Action]:
        ladder, index, uses_checkins = _LADDER(s)
        i = index.get(member.level)
        checkins = _checkins(ctx.community, member) if uses_checkins else 0
        if i is not None:
            # The common case, checked without the full search: the level is still held and the next not reached.
            cur = ladder[i]
            nxt = ladder[i + 1] if i + 1 < len(ladder) else None
            keep = s.keep_ratio
            pts, msgs = earned(ctx.community, member), member.messages
            holds = pts >= cur.points * keep and msgs >= cur.messages * keep and checkins >= cur.checkins * keep
            if holds and (nxt is None or pts < nxt.points or msgs < nxt.messages or checkins < nxt.checkins):
                return []
        points = earned(ctx.community, member)
        new = target(ladder, member.level, points, member.messages, checkins, s.keep_ratio)
        if new == member.level:
            return []
        pid = member.key.partition(":")[2]
        platform = member.key.partition(":")[0]
        old = member.level
        out: list[Action] = [
            ctx.act(SetLevel, f"level:{member.key}", platform=platform, target=pid, level=new, reason=f"{old}->{new}")
        ]
        title = title_of(ctx.config, new, ctx.locale)
        name = member.name or pid
        if new > old and old > 0 and s.announce and announce and ctx.event is not None:
            out.append(ack(ctx, "up", say(ctx, NAME, "up", name=name, title=title), (pid,)))
        elif new < old:
            previous = title_of(ctx.config, old, ctx.locale)
            lv = next(x for x in s.ladder if x.level == old)
            gap = max(lv.points - points, 0)
            out.append(
                ctx.act(
                    DirectMessage,
                    f"down:{member.key}",
                    platform=platform,
                    target=pid,
                    text=say(ctx, NAME, "down", name=name, title=title, gap=gap, previous=previous),
                )
            )
        return out

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, LevelsSettings)
        lt = local(ctx.now, ctx.config.spec)
        today = day(lt)
        if lt.hour < 5 or ctx.scope.get("placed_day") == today:
            return NOTHING  # after the points' expiry at 04:00
        out: list[Action] = [ctx.act(SetState, "day", scope=NAME, name="placed_day", value=today)]
        for m in ctx.community.members.values():
            if m.active and m.level:
                out.extend(self._place(ctx, s, m, announce=False))
        return Decision(tuple(out))

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, LevelsSettings)
        return check_texts(NAME, settings)
