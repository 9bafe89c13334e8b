"""Onboarding (入群的秩序和礼节, book 1635-1690): the newcomer guide, self-introduction, nickname, first connections.

How it works:
    The welcome itself is the ``welcome`` policy. This one, on each admitted join: posts the 新人必知必读 guide every
    ``guide_every`` newcomers of a group (book 1661: 有3~5人进入就发一遍); checks the newcomer's nickname against the
    community's ``nickname_format`` (book 788) and reminds privately (again after a nickname change that still
    doesn't fit, at most once per ``nickname_remind_hours``); sends the "connect within 24 hours" task with the
    group's most active members to start with (book 1686); and notes the newcomer, so that if they have said nothing
    ``intro_after_minutes`` later, the self-introduction prompt (book 1655) mentions them. Every day at
    ``connect_round_at`` each group is asked to connect with its newcomers of the last ``connect_hours``.

Things to keep in mind:
    * Joins are frequent, so they write little: the guide follows the group's own join counter, the first nickname
      reminder is dated by the join itself, and the most active members are kept a week per group.
    * Pending prompts live in ``i:<member>`` (due time, group), with ``next_intro`` the earliest, so a tick with
      nothing due costs one comparison.
    * History imported without ticks leaves prompts overdue: a tick drops those more than six hours late.
"""

from __future__ import annotations

import heapq
import re
from datetime import timedelta
from functools import cache
from typing import ClassVar

from pydantic import Field, field_validator

from shequn.domain import Action, DirectMessage, EventKind, Join, JoinMethod, NicknameChange, Post, SetState
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import MemberState
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings, decided
from shequn.policies.common import (
    STAFF_ROLES,
    BookSettings,
    at_local,
    book,
    check_hhmm,
    check_texts,
    chunk_names,
    has_role,
    local,
    local_day,
    say,
)
from shequn.policies.text import check_template, render

NAME = "onboarding"
STALE = timedelta(hours=6)  # prompts due longer ago than this come from imported history: dropped
_SEPARATORS = re.compile(r"\s*[-+_·|/丨—–~]+\s*|\s+")


class OnboardingSettings(BookSettings):
    """``policies.onboarding``: guide batching, the self-introduction prompt, nickname checks, the connect task."""

    guide_every: int = Field(default_factory=lambda: load_playbook().default(NAME, "guide_every"), ge=0)
    guide: str = ""  # the 新人必知必读 post in the community's own words ({group}, {community}); "": the playbook's
    intro_after_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "intro_after_minutes"), ge=0)
    nickname_check: bool = book(NAME, "nickname_check")
    nickname_remind_hours: int = Field(
        default_factory=lambda: load_playbook().default(NAME, "nickname_remind_hours"), ge=1
    )
    connect_hours: int = Field(default_factory=lambda: load_playbook().default(NAME, "connect_hours"), ge=0)
    connect_suggest: int = Field(default_factory=lambda: load_playbook().default(NAME, "connect_suggest"), ge=0)
    connect_round_at: str = book(NAME, "connect_round_at")

    @field_validator("connect_round_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        return check_hhmm(v)


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
                return Decision(state={key: None})
            return NOTHING
        if isinstance(e, NicknameChange):
            return decided(self._nickname(ctx, s, member, e.new, changed=True))
        if isinstance(e, Join) and e.method is not JoinMethod.ROSTER:
            return decided(self._join(ctx, s, e, member))
        return NOTHING

    def _join(self, ctx: Context, s: OnboardingSettings, e: Join, member: MemberState) -> list[Action]:
        group = ctx.group
        assert group is not None
        spec = ctx.config.spec
        gname = (ctx.group_config.name if ctx.group_config else "") or spec.name
        name = member.name or e.actor_name or e.actor
        out: list[Action] = []
        # The group's own join counter times the guide: no state of ours (roster snapshots count too, harmlessly).
        if s.guide_every and group.joins % s.guide_every == 0:
            template = s.guide or load_playbook().template("newcomer_guide", ctx.locale)
            guide = render(template, group=gname, community=spec.name)
            out.append(ctx.act(Post, "guide", text=guide))
        out.extend(self._nickname(ctx, s, member, name, changed=False))
        if s.connect_suggest and s.connect_hours:
            helpers, refresh = self._helpers(ctx, s, member)
            if refresh is not None:
                out.append(refresh)
            if helpers:
                people = chunk_names(helpers, ctx.locale)
                text = say(ctx, NAME, "connect", name=name, hours=s.connect_hours, people=people)
                out.append(ctx.act(DirectMessage, "connect", target=e.actor, text=text))
        if s.intro_after_minutes and not has_role(spec, STAFF_ROLES, member, e.actor):
            due = int((ctx.now + timedelta(minutes=s.intro_after_minutes)).timestamp())
            out.append(ctx.act(SetState, "intro", scope=NAME, name=f"i:{member.key}", value=[due, e.group]))
            nxt = ctx.scope.get("next_intro")
            if nxt is None or nxt > due:
                out.append(ctx.act(SetState, "next", scope=NAME, name="next_intro", value=due))
        return out

    def _helpers(self, ctx: Context, s: OnboardingSettings, member: MemberState) -> tuple[list[str], Action | None]:
        """The group's most active members, and the state update when they were worked out again.

        A scan of the group is not free: the result is kept for a week, or for a day while the group has fewer
        talkers than asked for.
        """
        group = ctx.group
        assert group is not None
        now = int(ctx.now.timestamp())
        cached = ctx.scope.get(f"h:{group.key}")
        if cached:
            at, names = cached
            fresh = 7 * 86400 if len(names) > s.connect_suggest else 86400
            if now - at < fresh:
                return [n for n in names if n != member.name][: s.connect_suggest], None
        members = ctx.community.members
        top = heapq.nlargest(
            s.connect_suggest + 1,
            (m for k in group.members if (m := members.get(k)) is not None and m.messages > 0 and m.name),
            key=lambda m: (m.messages, -m.number),
        )
        names = [m.name for m in top]
        update = ctx.act(SetState, "helpers", scope=NAME, name=f"h:{group.key}", value=[now, names])
        return [n for n in names if n != member.name][: s.connect_suggest], update

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
        if changed:
            # The join reminded them already if their name did not fit then: reminders are spaced from there.
            since = parse_iso(last) if last else member.joined_at
            if since is not None and ctx.now - since < timedelta(hours=s.nickname_remind_hours):
                return []
        e = ctx.event
        assert e is not None
        text = load_playbook().template("nickname_reminder", ctx.locale).format(nickname_format=fmt)
        out: list[Action] = [ctx.act(DirectMessage, "nickname", target=e.actor, text=text)]
        if changed:
            out.append(ctx.act(SetState, "nick", scope=NAME, name=key, value=iso(ctx.now)))
        return out

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, OnboardingSettings)
        out: list[Action] = []
        nxt = ctx.scope.get("next_intro")
        if nxt is not None and nxt <= ctx.now.timestamp():
            out.extend(self._intros(ctx))
        if s.connect_suggest and s.connect_hours:
            today = local_day(ctx.now, ctx.config.spec).day
            if ctx.scope.get("round_day") != today and ctx.now >= at_local(
                local(ctx.now, ctx.config.spec), s.connect_round_at
            ):
                out.append(ctx.act(SetState, "round", scope=NAME, name="round_day", value=today))
                out.extend(self._rounds(ctx, s))
        return Decision(tuple(out))

    def _rounds(self, ctx: Context, s: OnboardingSettings) -> list[Action]:
        """The day's connect round: in each group, the newcomers of the last ``connect_hours`` (book 1686)."""
        since = ctx.now - timedelta(hours=s.connect_hours)
        newcomers: dict[str, list[str]] = {}
        for m in sorted(ctx.community.members.values(), key=lambda m: m.number):
            if m.active and m.joined_at is not None and m.joined_at > since and m.via != "roster":
                for gkey in sorted(m.groups):
                    newcomers.setdefault(gkey, []).append(m.name or m.key.partition(":")[2])
        out: list[Action] = []
        for gkey in sorted(newcomers):
            platform, _, group = gkey.partition(":")
            names = chunk_names(newcomers[gkey][-20:], ctx.locale)
            text = say(ctx, NAME, "connect_round", names=names)
            out.append(ctx.act(Post, f"round:{gkey}", platform=platform, group=group, text=text))
        return out

    def _intros(self, ctx: Context) -> list[Action]:
        """Prompt the newcomers whose quiet time is up; forget prompts too old to make sense (imported history)."""
        out: list[Action] = []
        later: list[int] = []
        now = ctx.now.timestamp()
        for name, value in sorted(ctx.scope.items()):
            if not name.startswith("i:"):
                continue
            due = value[0]
            if due > now:
                later.append(due)
                continue
            key = name[2:]
            platform = key.partition(":")[0]
            group = value[1]
            out.append(ctx.act(SetState, f"intro:{key}", scope=NAME, name=name, value=None))
            m = ctx.community.members.get(key)
            if now - due > STALE.total_seconds() or m is None or not m.active or f"{platform}:{group}" not in m.groups:
                continue
            pid = key.partition(":")[2]
            text = load_playbook().template("self_intro", ctx.locale).format(name=m.name or pid)
            out.append(
                ctx.act(Post, f"prompt:{key}", platform=platform, group=group, target=pid, text=text, mentions=(pid,))
            )
        out.append(ctx.act(SetState, "next", scope=NAME, name="next_intro", value=min(later) if later else None))
        return out

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, OnboardingSettings)
        guide = check_template(settings.guide, ("group", "community"))
        return check_texts(NAME, settings) + ([("guide", guide)] if guide else [])
