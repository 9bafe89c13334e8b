"""Badges (虚拟勋章, 荣誉激励, book 1641, 2017, 1868): declarative rules, granted and revoked automatically.

How it works:
    A badge is a rule: ``when`` maps metrics to minimums (points, level, messages, streak, checkins, invites, days
    since joining), ``tags`` lists tags the member must carry. After each of a member's messages and check-ins (and,
    for their inviter, each admitted join), every rule is evaluated: a member who meets one gets the badge (a tag
    ``badge:<key>``) and the group hears of it (公开表扬, book 1868); a member who no longer meets a ``revoke`` rule
    loses it and is told privately. Everyone is re-evaluated once a day (streaks lapse without any event).

    :func:`evaluate` is the rule check, pure: one rule, one member's metrics.
"""

from __future__ import annotations

from datetime import datetime
from typing import ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shequn.domain import Action, DirectMessage, EventKind, Join, Message, SetState, Tag
from shequn.domain.state import CommunityState, MemberState
from shequn.playbook.spec import CommunitySpec
from shequn.policies.acks import ack
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings, decided
from shequn.policies.checkin import is_checkin_message
from shequn.policies.common import BookSettings, LocalDay, PerSettings, book, check_texts, day, local, local_day, say

NAME = "badges"
Metric = Literal["points", "level", "messages", "streak", "checkins", "invites", "days"]


class Badge(BaseModel):
    """One badge: its key, name, the minimums it takes, and whether it is taken back when they are no longer met."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str | dict[str, str]
    when: dict[Metric, int] = Field(default_factory=dict)
    tags: list[str] = Field(default_factory=list)
    revoke: bool = False

    def title(self, locale: str) -> str:
        if isinstance(self.name, str):
            return self.name
        return self.name.get("en" if locale.startswith("en") else "zh-CN") or next(iter(self.name.values()))


class BadgesSettings(BookSettings):
    """``policies.badges``: the rules, and whether grants are announced."""

    rules: list[Badge] = book(NAME, "rules")
    announce: bool = book(NAME, "announce")

    @field_validator("rules")
    @classmethod
    def _unique(cls, v: list[Badge]) -> list[Badge]:
        keys = [b.key for b in v]
        dup = sorted({k for k in keys if keys.count(k) > 1})
        if dup:
            raise ValueError(f"badge keys must be unique; repeated: {dup}")
        for b in v:
            if not b.when and not b.tags:
                raise ValueError(f"badge {b.key!r} has no condition (when or tags)")
        return v


class Figures:
    """A member's figures for badge rules, each worked out when a rule first asks for it."""

    __slots__ = ("_community", "_day", "_member", "_now", "_values")

    def __init__(self, community: CommunityState, member: MemberState, now: datetime, day: LocalDay) -> None:
        self._community = community
        self._member = member
        self._now = now
        self._day = day
        self._values: dict[str, int] = {}

    def __getitem__(self, metric: str) -> int:
        v = self._values.get(metric)
        if v is None:
            v = self._values[metric] = self._compute(metric)
        return v

    def _compute(self, metric: str) -> int:
        m = self._member
        if metric == "points":
            return m.points
        if metric == "level":
            return m.level
        if metric == "messages":
            return m.messages
        if metric == "days":
            return (self._now - m.joined_at).days if m.joined_at else 0
        policy = self._community.policy
        if metric == "invites":
            return int((policy.get("admission") or {}).get(f"invites:{m.key}", 0))
        rec = (policy.get("checkin") or {}).get(f"m:{m.key}")
        if not rec:
            return 0
        if metric == "checkins":
            return int(rec["total"])
        return int(rec["streak"]) if rec["last"] in (self._day.day, self._day.yesterday) else 0

    def as_dict(self) -> dict[str, int]:
        return {k: self[k] for k in ("points", "level", "messages", "streak", "checkins", "invites", "days")}


def metrics(community: CommunityState, member: MemberState, now: datetime, day: LocalDay) -> dict[str, int]:
    """A member's figures for badge rules, all of them."""
    return Figures(community, member, now, day).as_dict()


def evaluate(badge: Badge, figures: Figures | dict[str, int], tags: set[str]) -> bool:
    """Whether a member with ``figures`` and ``tags`` meets ``badge``."""
    return all(figures[k] >= v for k, v in badge.when.items()) and all(t in tags for t in badge.tags)


# The figures an event of each kind can change: only rules that read them are checked on it (all, daily).
_CHANGES = {
    EventKind.MESSAGE: {"messages", "points", "level"},
    EventKind.CHECK_IN: {"streak", "checkins", "points", "level", "messages"},
    EventKind.JOIN: {"invites", "days"},
}


def _by_kind(s: BadgesSettings) -> tuple[dict[EventKind, list[tuple[Badge, str]]], bool]:
    """The rules to check for each event kind, and whether a check-in message needs more than a message."""
    by_kind = {
        kind: [(b, f"badge:{b.key}") for b in s.rules if b.tags or changes.intersection(b.when)]
        for kind, changes in _CHANGES.items()
    }
    return by_kind, by_kind[EventKind.CHECK_IN] != by_kind[EventKind.MESSAGE]


_MEMBER_FIGURES = {"points": "points", "level": "level", "messages": "messages"}


def _simple_miss(badge: Badge, member: MemberState) -> bool:
    """Whether a figure kept on the member record already falls short (no lookups needed)."""
    for metric, minimum in badge.when.items():
        attr = _MEMBER_FIGURES.get(metric)
        if attr is not None and getattr(member, attr) < minimum:
            return True
    return False


_RULES: PerSettings[tuple[dict[EventKind, list[tuple[Badge, str]]], bool]] = PerSettings(_by_kind)


class Badges(Policy):
    """Grant and revoke badges by their rules."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = BadgesSettings
    kinds = frozenset({EventKind.MESSAGE, EventKind.CHECK_IN, EventKind.JOIN})
    ticks = True

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, BadgesSettings)
        if e is None or member is None:
            return NOTHING
        by_kind, checkin_differs = _RULES(s)
        kind = e.kind
        if checkin_differs and isinstance(e, Message) and is_checkin_message(ctx.config, e.text):
            kind = EventKind.CHECK_IN  # a check-in by message changes what a check-in event does (and more)
        rules = by_kind.get(kind)
        if not rules:
            return NOTHING
        if isinstance(e, Join):
            inviter = ctx.community.members.get(member.inviter) if member.inviter else None
            return decided(self._review(ctx, s, inviter, rules, announce=True)) if inviter else NOTHING
        return decided(self._review(ctx, s, member, rules, announce=True))

    def _review(
        self,
        ctx: Context,
        s: BadgesSettings,
        member: MemberState,
        rules: list[tuple[Badge, str]],
        *,
        announce: bool,
    ) -> list[Action]:
        figures: Figures | None = None
        out: list[Action] = []
        granted: list[str] = []
        tags = member.tags
        for b, tag in rules:
            has = tag in tags
            if has:
                if not b.revoke:
                    continue
            elif not b.tags and _simple_miss(b, member):
                continue  # the quick check: a member figure is short of the minimum
            if figures is None:
                figures = Figures(ctx.community, member, ctx.now, local_day(ctx.now, ctx.config.spec))
            met = evaluate(b, figures, tags)
            if met == has:
                continue
            platform, _, pid = member.key.partition(":")
            name = member.name or pid
            if met:
                out.append(ctx.act(Tag, f"{tag}:{member.key}", platform=platform, target=pid, tag=tag))
                if s.announce and announce and ctx.event is not None:
                    granted.append(say(ctx, NAME, "granted", name=name, badge=b.title(ctx.locale)))
            else:
                out.append(ctx.act(Tag, f"{tag}:{member.key}", platform=platform, target=pid, tag=tag, remove=True))
                text = say(ctx, NAME, "revoked", name=name, badge=b.title(ctx.locale))
                out.append(
                    ctx.act(DirectMessage, f"revoked:{b.key}:{member.key}", platform=platform, target=pid, text=text)
                )
        if granted:  # one acknowledgement for every badge this event earned (公开表扬, 1868)
            pid = member.key.partition(":")[2]
            out.append(ack(ctx, f"granted:{member.key}", "\n".join(granted), (pid,)))
        return out

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, BadgesSettings)
        lt = local(ctx.now, ctx.config.spec)
        today = day(lt)
        if lt.hour < 5 or ctx.scope.get("reviewed_day") == today or not any(b.revoke for b in s.rules):
            return NOTHING
        out: list[Action] = [ctx.act(SetState, "day", scope=NAME, name="reviewed_day", value=today)]
        every = [(b, f"badge:{b.key}") for b in s.rules]
        for m in ctx.community.members.values():
            if m.active and any(t.startswith("badge:") for t in m.tags):
                out.extend(self._review(ctx, s, m, every, announce=False))
        return Decision(tuple(out))

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, BadgesSettings)
        return check_texts(NAME, settings)
