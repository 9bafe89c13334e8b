"""Clean-up of silent members (定时清理人员, book 1795) with the 20:00 roll-call "在的请打1".

How it works:
    On the first day of each period (``every``: month, quarter or half_year), at ``announce_at``, every group of
    the community hears the book's roll-call: tonight at ``roll_call_at`` long-silent members will be let go, reply
    1 if you're here. At ``roll_call_at`` the members who said nothing since the roll-call and nothing in the
    ``silent_days`` before it (staff and newer members aside) are removed — or, with ``confirm``, listed in a staff
    task for a person to decide — and the group hears how many answered and how many left. Whoever answers stays:
    any message after the roll-call counts, so the roll-call also wakes the group up (你会看到很多人在群里签到).

Things to keep in mind:
    * ``roll``: the period's roll-call (period, when announced, when due, done); nothing else is kept.
    * Groups are those the community's active members are in (the groups of the spec are not all there is).
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import Field, field_validator

from shequn.domain import Action, DirectMessage, OpenStaffTask, Post, Remove, SetState
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import MemberState
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import (
    BookSettings,
    at_local,
    book,
    check_hhmm,
    check_texts,
    chunk_names,
    has_role,
    hhmm,
    local,
    say,
)

NAME = "cleanup"
_MONTHS = {"month": 1, "quarter": 3, "half_year": 6}


class CleanupSettings(BookSettings):
    """``policies.cleanup``: the period, the roll-call times, who counts as silent, direct removal or staff."""

    enabled: bool = book(NAME, "enabled")
    every: Literal["month", "quarter", "half_year"] = book(NAME, "every")
    roll_call_at: str = book(NAME, "roll_call_at")
    announce_at: str = book(NAME, "announce_at")
    silent_days: int = Field(default_factory=lambda: load_playbook().default(NAME, "silent_days"), ge=1)
    confirm: bool = book(NAME, "confirm")
    staff_roles: list[str] = book(NAME, "staff_roles")

    @field_validator("roll_call_at", "announce_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        return check_hhmm(v)


def period_of(d: datetime, every: str) -> tuple[str, bool]:
    """(the period's name, whether ``d`` is its first day): ``2026-Q4`` for quarters, ``2026-11`` for months …"""
    step = _MONTHS[every]
    first = (d.month - 1) // step * step + 1
    if every == "month":
        name = f"{d.year}-{d.month:02d}"
    elif every == "quarter":
        name = f"{d.year}-Q{(d.month - 1) // 3 + 1}"
    else:
        name = f"{d.year}-H{(d.month - 1) // 6 + 1}"
    return name, d.month == first and d.day == 1


def silent(member: MemberState, since: datetime, silent_days: int) -> bool:
    """Whether ``member`` said nothing after ``since`` nor in the ``silent_days`` before it, and is not new."""
    cutoff = since - timedelta(days=silent_days)
    if member.joined_at is not None and member.joined_at > cutoff:
        return False
    return member.last_active_at is None or member.last_active_at < cutoff


class Cleanup(Policy):
    """Post the roll-call on the period's first day and let the silent go at 20:00."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = CleanupSettings
    ticks = True

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, CleanupSettings)
        lt = local(ctx.now, ctx.config.spec)
        roll: dict[str, Any] = ctx.scope.get("roll") or {}
        if roll and not roll.get("done") and parse_iso(roll["due"]) <= ctx.now:
            return Decision(tuple(self._clean(ctx, s, roll)))
        period, first_day = period_of(lt, s.every)
        if not first_day or roll.get("period") == period or lt < at_local(lt, s.announce_at):
            return NOTHING
        due = at_local(lt, s.roll_call_at)
        if lt >= due:
            return NOTHING  # too late today for a roll-call: wait for the next period
        groups = self._groups(ctx)
        out: list[Action] = [
            ctx.act(
                SetState,
                "roll",
                scope=NAME,
                name="roll",
                value={"period": period, "at": iso(ctx.now), "due": iso(due), "done": False},
            )
        ]
        text = say(ctx, NAME, "roll_call", at=s.roll_call_at)
        for gkey in groups:
            platform, _, gid = gkey.partition(":")
            out.append(ctx.act(Post, f"roll:{gkey}", platform=platform, group=gid, text=text))
        return Decision(tuple(out))

    @staticmethod
    def _groups(ctx: Context) -> list[str]:
        groups: set[str] = set()
        for m in ctx.community.members.values():
            if m.active:
                groups.update(m.groups)
        return sorted(groups)

    def _clean(self, ctx: Context, s: CleanupSettings, roll: dict[str, Any]) -> list[Action]:
        since = parse_iso(roll["at"])
        spec = ctx.config.spec
        out: list[Action] = [ctx.act(SetState, "done", scope=NAME, name="roll", value={**roll, "done": True})]
        gone: list[MemberState] = []
        answered = 0
        for m in sorted(ctx.community.members.values(), key=lambda m: m.number):
            if not m.active:
                continue
            if m.last_active_at is not None and m.last_active_at >= since:
                answered += 1
                continue
            pid = m.key.partition(":")[2]
            if has_role(spec, s.staff_roles, m, pid) or not silent(m, since, s.silent_days):
                continue
            gone.append(m)
        if s.confirm:
            if gone:
                names = chunk_names([m.name or m.key for m in gone], ctx.locale)
                title = t("policies.cleanup.confirm", ctx.locale, n=len(gone), period=roll["period"])
                out.append(ctx.act(OpenStaffTask, "confirm", title=title, instructions=names))
            return out
        for m in gone:
            platform, _, pid = m.key.partition(":")
            for gkey in sorted(m.groups):
                gplatform, _, gid = gkey.partition(":")
                out.append(
                    ctx.act(Remove, f"rm:{m.key}:{gid}", platform=gplatform, group=gid, target=pid, reason="cleanup")
                )
            gname = next(iter(sorted(m.groups)), "").partition(":")[2] or spec.name
            group_name = next((g.name for g in spec.groups if g.id == gname), "") or spec.name
            text = say(ctx, NAME, "removed", group=group_name)
            out.append(ctx.act(DirectMessage, f"dm:{m.key}", platform=platform, target=pid, text=text))
        done = say(ctx, NAME, "done", answered=answered, removed=len(gone))
        for gkey in self._groups(ctx):
            platform, _, gid = gkey.partition(":")
            out.append(ctx.act(Post, f"done:{gkey}", platform=platform, group=gid, text=done))
        return out

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, CleanupSettings)
        problems = check_texts(NAME, settings)
        if hhmm(settings.announce_at) >= hhmm(settings.roll_call_at):
            problems.append(("announce_at", f"must be before roll_call_at ({settings.roll_call_at})"))
        return problems
