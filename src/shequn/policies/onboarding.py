"""Onboarding (入群的秩序和礼节, book 1635-1690): the newcomer guide, self-introduction, nickname, first connections.

How it works:
    The welcome itself is the ``welcome`` policy. This one, on each admitted join: counts newcomers per group and
    posts the 新人必知必读 guide every ``guide_every`` of them (book 1661: 有3~5人进入就发一遍); checks the newcomer's
    nickname against the community's ``nickname_format`` (book 788) and reminds privately (again after a nickname
    change that still doesn't fit, at most once per ``nickname_remind_hours``); sends the "connect within 24 hours"
    task with the group's most active members to start with (book 1686); and notes the newcomer, so that if they
    have said nothing ``intro_after_minutes`` later, the self-introduction prompt (book 1655) mentions them, and a
    day later the group is asked to connect with the day's newcomers.

Things to keep in mind:
    * The most active members are recomputed at most once a week per group (a scan of the group), not per join.
    * Pending prompts live in ``i:<member>`` (due time, group), with ``next_intro`` the earliest, so a tick with
      nothing due costs one comparison; ``rounds`` holds group → due time, newcomers' names.
    * History imported without ticks leaves prompts overdue: a tick drops those more than six hours late.
"""

from __future__ import annotations

import heapq
import re
from datetime import timedelta
from functools import cache
from typing import Any, ClassVar

from pydantic import Field

from shequn.domain import Action, DirectMessage, EventKind, Join, JoinMethod, NicknameChange, Post, SetState
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import MemberState
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import (
    STAFF_ROLES,
    BookSettings,
    book,
    check_texts,
    chunk_names,
    has_role,
    local_day,
    say,
)

NAME = "onboarding"
STALE = timedelta(hours=6)  # prompts due longer ago than this come from imported history: dropped
_SEPARATORS = re.compile(r"\s*[-+_·|/丨—–~]+\s*|\s+")


class OnboardingSettings(BookSettings):
    """``policies.onboarding``: guide batching, the self-introduction prompt, nickname checks, the connect task."""

    guide_every: int = Field(default_factory=lambda: load_playbook().default(NAME, "guide_every"), ge=0)
    intro_after_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "intro_after_minutes"), ge=0)
    nickname_check: bool = book(NAME, "nickname_check")
    nickname_remind_hours: int = Field(
        default_factory=lambda: load_playbook().default(NAME, "nickname_remind_hours"), ge=1
    )
    connect_hours: int = Field(default_factory=lambda: load_playbook().default(NAME, "connect_hours"), ge=0)
    connect_suggest: int = Field(default_factory=lambda: load_playbook().default(NAME, "connect_suggest"), ge=0)


@cache
def nickname_parts(fmt: str) -> int:
    """How many parts a nickname format asks for (``昵称-城市-爱好`` → 3; a format without separators → 0)."""
    parts = [p for p in _SEPARATORS.split(fmt.strip()) if p]
    return len(parts) if len(parts) > 1 else 0


def nickname_fits(name: str, fmt: str) -> bool:
    """Whether ``name`` has as many non-empty parts as ``fmt`` (separators - + _ · | / or spaces)."""
    want = nickname_parts(fmt)
    if not want:
        return True
    return len([p for p in _SEPARATORS.split(name.strip()) if p]) >= want


class Onboarding(Policy):
    """Guide, nickname, first connections and the self-introduction prompt for newcomers."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = OnboardingSettings
    kinds = frozenset({EventKind.JOIN, EventKind.NICKNAME_CHANGE, EventKind.MESSAGE})
    ticks = True

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, OnboardingSettings)
        if e is None or member is None:
            return NOTHING
        if e.kind is EventKind.MESSAGE:
            key = "i:" + member.key
            if key in ctx.scope:  # they spoke: no prompt needed
                return Decision((ctx.act(SetState, scope=NAME, name=key, value=None),))
            return NOTHING
        if isinstance(e, NicknameChange):
            return Decision(tuple(self._nickname(ctx, s, member, e.new, changed=True)))
        if isinstance(e, Join) and e.method is not JoinMethod.ROSTER:
            return Decision(tuple(self._join(ctx, s, e, member)))
        return NOTHING

    def _join(self, ctx: Context, s: OnboardingSettings, e: Join, member: MemberState) -> list[Action]:
        group = ctx.group
        assert group is not None
        spec = ctx.config.spec
        gname = (ctx.group_config.name if ctx.group_config else "") or spec.name
        name = member.name or e.actor_name or e.actor
        out: list[Action] = []
        if s.guide_every:
            count = int(ctx.scope.get(f"n:{group.key}", 0)) + 1
            if count >= s.guide_every:
                guide = load_playbook().template("newcomer_guide", ctx.locale).format(group=gname, community=spec.name)
                out.append(ctx.act(Post, "guide", text=guide))
                count = 0
            out.append(ctx.act(SetState, "count", scope=NAME, name=f"n:{group.key}", value=count or None))
        out.extend(self._nickname(ctx, s, member, name, changed=False))
        if s.connect_suggest and s.connect_hours:
            helpers, refresh = self._helpers(ctx, s, member)
            if refresh is not None:
                out.append(refresh)
            if helpers:
                text = say(
                    ctx, NAME, "connect", name=name, hours=s.connect_hours, people=chunk_names(helpers, ctx.locale)
                )
                out.append(ctx.act(DirectMessage, "connect", target=e.actor, text=text))
            rounds = dict(ctx.scope.get("rounds") or {})
            due, names = rounds.get(group.key) or [iso(ctx.now + timedelta(hours=s.connect_hours)), []]
            if name not in names:
                rounds[group.key] = [due, [*names, name][-20:]]
                out.append(ctx.act(SetState, "round", scope=NAME, name="rounds", value=rounds))
        if s.intro_after_minutes and not has_role(spec, STAFF_ROLES, member, e.actor):
            due = ctx.now + timedelta(minutes=s.intro_after_minutes)
            out.append(ctx.act(SetState, "intro", scope=NAME, name=f"i:{member.key}", value=[iso(due), e.group]))
            nxt = ctx.scope.get("next_intro")
            if nxt is None or parse_iso(nxt) > due:
                out.append(ctx.act(SetState, "next", scope=NAME, name="next_intro", value=iso(due)))
        return out

    def _helpers(self, ctx: Context, s: OnboardingSettings, member: MemberState) -> tuple[list[str], Action | None]:
        """The group's most active members (recomputed at most weekly), and the state update if recomputed."""
        group = ctx.group
        assert group is not None
        today = local_day(ctx.now, ctx.config.spec).week  # refreshed weekly: a scan of the group is not free
        cached = ctx.scope.get(f"h:{group.key}")
        if cached and cached[0] == today:
            names = [n for n in cached[1] if n != member.name]
            return names[: s.connect_suggest], None
        members = ctx.community.members
        top = heapq.nlargest(
            s.connect_suggest + 1,
            (m for k in group.members if (m := members.get(k)) is not None and m.messages > 0 and m.name),
            key=lambda m: (m.messages, -m.number),
        )
        names = [m.name for m in top]
        found = [n for n in names if n != member.name][: s.connect_suggest]
        if len(names) <= s.connect_suggest:
            return found, None  # too few yet to keep for the week: ask again next time
        update = ctx.act(SetState, "helpers", scope=NAME, name=f"h:{group.key}", value=[today, names])
        return found, update

    def _nickname(
        self, ctx: Context, s: OnboardingSettings, member: MemberState, name: str, *, changed: bool
    ) -> list[Action]:
        fmt = ctx.config.spec.nickname_format
        if (
            not s.nickname_check
            or not fmt
            or has_role(ctx.config.spec, STAFF_ROLES, member, member.key.partition(":")[2])
        ):
            return []
        key = f"nick:{member.key}"
        last = ctx.scope.get(key)
        if nickname_fits(name, fmt):
            return [ctx.act(SetState, "nick", scope=NAME, name=key, value=None)] if last else []
        if last and ctx.now - parse_iso(last) < timedelta(hours=s.nickname_remind_hours):
            return []
        e = ctx.event
        assert e is not None
        text = load_playbook().template("nickname_reminder", ctx.locale).format(nickname_format=fmt)
        return [
            ctx.act(DirectMessage, "nickname", target=e.actor, text=text),
            ctx.act(SetState, "nick", scope=NAME, name=key, value=iso(ctx.now)),
        ]

    def on_tick(self, ctx: Context) -> Decision:
        out: list[Action] = []
        nxt = ctx.scope.get("next_intro")
        if nxt is not None and parse_iso(nxt) <= ctx.now:
            out.extend(self._intros(ctx))
        rounds: dict[str, Any] = ctx.scope.get("rounds") or {}
        ready = [g for g, v in rounds.items() if parse_iso(v[0]) <= ctx.now]
        if ready:
            for gkey in sorted(ready):
                if ctx.now - parse_iso(rounds[gkey][0]) > STALE:
                    continue  # a round from imported history: too late to ask
                platform, _, group = gkey.partition(":")
                names = chunk_names(rounds[gkey][1], ctx.locale)
                text = say(ctx, NAME, "connect_round", names=names)
                out.append(ctx.act(Post, f"round:{gkey}", platform=platform, group=group, text=text))
            rest = {g: v for g, v in rounds.items() if g not in ready}
            out.append(ctx.act(SetState, "rounds", scope=NAME, name="rounds", value=rest or None))
        return Decision(tuple(out))

    def _intros(self, ctx: Context) -> list[Action]:
        """Prompt the newcomers whose quiet time is up; forget prompts too old to make sense (imported history)."""
        out: list[Action] = []
        later: list[str] = []
        for name, value in sorted(ctx.scope.items()):
            if not name.startswith("i:"):
                continue
            due = parse_iso(value[0])
            if due > ctx.now:
                later.append(value[0])
                continue
            key = name[2:]
            platform = key.partition(":")[0]
            group = value[1]
            out.append(ctx.act(SetState, f"intro:{key}", scope=NAME, name=name, value=None))
            m = ctx.community.members.get(key)
            if ctx.now - due > STALE or m is None or not m.active or f"{platform}:{group}" not in m.groups:
                continue
            pid = key.partition(":")[2]
            text = load_playbook().template("self_intro", ctx.locale).format(name=m.name or pid)
            out.append(
                ctx.act(Post, f"prompt:{key}", platform=platform, group=group, target=pid, text=text, mentions=(pid,))
            )
        out.append(
            ctx.act(SetState, "next", scope=NAME, name="next_intro", value=min(later, key=parse_iso) if later else None)
        )
        return out

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, OnboardingSettings)
        return check_texts(NAME, settings)
