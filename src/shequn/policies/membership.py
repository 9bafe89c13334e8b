"""Membership (会员, book 1157-1182, 1494, 519, 1507): plans, expiry reminders, grace, removal or downgrade, renewals.

How it works:
    A payment whose purpose is one of ``purposes`` (``membership``, ``renewal``, ``entry_fee``; ``membership:year``
    names the plan) starts a membership, or renews one that is still running or in its grace period — a renewal
    extends from the current end, so paying early loses nothing. The plan is the one the purpose names, else the
    one whose price matches the amount, else the member's current plan, else the yearly one. The member carries
    the tag ``tier:<tier>`` of their plan (e.g. 铁杆 and 线上 as in book 1507).

    Every day at ``remind_at`` the policy reminds members ``remind_days`` before the end (7 and 1 by default),
    tells them when it has ended and how long the grace period lasts, and when the grace period is over either
    removes them from the paid groups (``at_expiry: remove``; from every group where entry is paid) or downgrades
    them (``downgrade``: tier ``downgrade_to``, tag ``expired``).

    Renewals and lapses are counted for the renewal-rate KPI of growth communities (000 line 62);
    :func:`renewal_rate` reads it.

Things to keep in mind:
    * ``s:<member>``: plan, tier, start, until (None: lifetime), grace_until, renewals, reminders sent, stage.
      ``kpi``: renewed and lapsed counts.
"""

from __future__ import annotations

import calendar
import math
from datetime import datetime, timedelta
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shequn.domain import Action, DirectMessage, EventKind, Payment, Remove, SetState, Tag
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import CommunityState, MemberState
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, at_local, book, check_hhmm, check_texts, day, local, say

NAME = "membership"


class Plan(BaseModel):
    """A membership plan: months (None: lifetime), price in fen (0: matched by purpose only), tier."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z0-9_]+$")
    name: str | dict[str, str]
    months: int | None = Field(default=12, ge=1)
    price_fen: int = Field(default=0, ge=0)
    tier: str = "member"

    def title(self, locale: str) -> str:
        if isinstance(self.name, str):
            return self.name
        return self.name.get("en" if locale.startswith("en") else "zh-CN") or next(iter(self.name.values()))


class MembershipSettings(BookSettings):
    """``policies.membership``: plans, purposes, reminders, grace, what happens at the end."""

    plans: list[Plan] = book(NAME, "plans")
    purposes: list[str] = book(NAME, "purposes")
    remind_days: list[int] = book(NAME, "remind_days")
    remind_at: str = book(NAME, "remind_at")
    grace_days: int = Field(default_factory=lambda: load_playbook().default(NAME, "grace_days"), ge=0)
    at_expiry: Literal["remove", "downgrade"] = book(NAME, "at_expiry")
    downgrade_to: str = book(NAME, "downgrade_to")

    @field_validator("remind_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        return check_hhmm(v)

    @field_validator("plans")
    @classmethod
    def _plans(cls, v: list[Plan]) -> list[Plan]:
        if not v:
            raise ValueError("needs at least one plan")
        keys = [p.key for p in v]
        if len(set(keys)) != len(keys):
            raise ValueError("plan keys must be unique")
        return v


def add_months(d: datetime, months: int) -> datetime:
    """``d`` plus whole calendar months (the day clamped to the month's length)."""
    m = d.month - 1 + months
    year, month = d.year + m // 12, m % 12 + 1
    return d.replace(year=year, month=month, day=min(d.day, calendar.monthrange(year, month)[1]))


def renewal_rate(community: CommunityState) -> float | None:
    """Renewed ÷ (renewed + lapsed) so far, or None before any membership came to its end."""
    kpi = (community.policy.get(NAME) or {}).get("kpi") or {}
    renewed, lapsed = int(kpi.get("renewed", 0)), int(kpi.get("lapsed", 0))
    return renewed / (renewed + lapsed) if renewed + lapsed else None


class Membership(Policy):
    """Start and renew memberships from payments; remind, expire and end them on time."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = MembershipSettings
    kinds = frozenset({EventKind.PAYMENT})
    ticks = True

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, MembershipSettings)
        if not isinstance(e, Payment) or member is None:
            return NOTHING
        base, _, named = e.purpose.partition(":")
        if e.purpose not in s.purposes and base not in s.purposes:
            return NOTHING
        key = f"s:{member.key}"
        sub: dict[str, Any] = dict(ctx.scope.get(key) or {})
        plan = self._plan(s, named, e.amount, sub)
        running = bool(sub) and sub.get("stage") != "ended"
        start = ctx.now
        if running and sub.get("until") is not None:
            start = max(parse_iso(sub["until"]), ctx.now)
        until = None if plan.months is None else add_months(start, plan.months)
        sub.update(
            plan=plan.key,
            tier=plan.tier,
            until=iso(until) if until else None,
            grace_until=iso(until + timedelta(days=s.grace_days)) if until else None,
            reminded=[],
            stage="active",
        )
        actions: list[Action] = []
        name = member.name or e.actor_name or e.actor
        shown = day(local(until, ctx.config.spec)) if until else "∞"
        if running:
            sub["renewals"] = int(sub.get("renewals", 0)) + 1
            kpi = dict(ctx.scope.get("kpi") or {})
            kpi["renewed"] = int(kpi.get("renewed", 0)) + 1
            actions.append(ctx.act(SetState, "kpi", scope=NAME, name="kpi", value=kpi))
            text = say(ctx, NAME, "renewed", name=name, plan=plan.title(ctx.locale), until=shown)
        else:
            sub.setdefault("renewals", 0)
            sub["start"] = iso(ctx.now)
            text = say(ctx, NAME, "started", name=name, plan=plan.title(ctx.locale), until=shown)
        actions.insert(0, ctx.act(SetState, "sub", scope=NAME, name=key, value=sub))
        actions.extend(self._tier_tags(ctx, member, plan.tier, e.actor))
        actions.append(ctx.act(DirectMessage, "dm", target=e.actor, text=text))
        return Decision(tuple(actions))

    @staticmethod
    def _plan(s: MembershipSettings, named: str, amount: int, sub: dict[str, Any]) -> Plan:
        by_key = {p.key: p for p in s.plans}
        if named in by_key:
            return by_key[named]
        priced = next((p for p in s.plans if p.price_fen and p.price_fen == amount), None)
        if priced is not None:
            return priced
        if sub.get("plan") in by_key:
            return by_key[sub["plan"]]
        return next((p for p in s.plans if p.months == 12), s.plans[0])

    def _tier_tags(self, ctx: Context, member: MemberState, tier: str, pid: str) -> list[Action]:
        platform = member.key.partition(":")[0]
        out: list[Action] = []
        for tag in sorted(member.tags):
            if (tag.startswith("tier:") and tag != f"tier:{tier}") or tag == "expired":
                out.append(
                    ctx.act(Tag, f"untag:{tag}:{member.key}", platform=platform, target=pid, tag=tag, remove=True)
                )
        if tier and f"tier:{tier}" not in member.tags:
            out.append(ctx.act(Tag, f"tag:{member.key}", platform=platform, target=pid, tag=f"tier:{tier}"))
        return out

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, MembershipSettings)
        lt = local(ctx.now, ctx.config.spec)
        today = day(lt)
        if lt < at_local(lt, s.remind_at) or ctx.scope.get("checked_day") == today:
            return NOTHING
        out: list[Action] = [ctx.act(SetState, "day", scope=NAME, name="checked_day", value=today)]
        kpi = dict(ctx.scope.get("kpi") or {})
        lapsed = 0
        for name, sub in sorted(ctx.scope.items()):
            if not name.startswith("s:") or sub.get("until") is None or sub.get("stage") == "ended":
                continue
            member = ctx.community.members.get(name[2:])
            if member is None:
                continue
            acts, ended = self._review(ctx, s, member, dict(sub))
            out.extend(acts)
            lapsed += ended
        if lapsed:
            kpi["lapsed"] = int(kpi.get("lapsed", 0)) + lapsed
            out.append(ctx.act(SetState, "kpi", scope=NAME, name="kpi", value=kpi))
        return Decision(tuple(out))

    def _review(
        self, ctx: Context, s: MembershipSettings, member: MemberState, sub: dict[str, Any]
    ) -> tuple[list[Action], int]:
        platform, _, pid = member.key.partition(":")
        until = parse_iso(sub["until"])
        grace = parse_iso(sub.get("grace_until") or sub["until"])
        plan = next((p for p in s.plans if p.key == sub.get("plan")), s.plans[0])
        title = plan.title(ctx.locale)
        name = member.name or pid
        spec = ctx.config.spec
        shown = day(local(until, spec))
        out: list[Action] = []
        key = f"s:{member.key}"
        if ctx.now >= grace:
            sub["stage"] = "ended"
            out.append(ctx.act(SetState, f"end:{member.key}", scope=NAME, name=key, value=sub))
            if s.at_expiry == "remove":
                paid_entry = spec.threshold.kind == "paid"
                roles = {g.id: g.role for g in spec.groups}
                for gkey in sorted(member.groups):
                    gplatform, _, gid = gkey.partition(":")
                    if paid_entry or roles.get(gid) == "paid":
                        out.append(
                            ctx.act(
                                Remove,
                                f"rm:{member.key}:{gid}",
                                platform=gplatform,
                                group=gid,
                                target=pid,
                                reason="expired",
                            )
                        )
                what = say(ctx, NAME, "ended_removed")
            else:
                tier = s.downgrade_to
                out.extend(
                    ctx.act(Tag, f"untag:{t}:{member.key}", platform=platform, target=pid, tag=t, remove=True)
                    for t in sorted(member.tags)
                    if t.startswith("tier:") and t != f"tier:{tier}"
                )
                if tier:
                    out.append(ctx.act(Tag, f"tier:{member.key}", platform=platform, target=pid, tag=f"tier:{tier}"))
                out.append(ctx.act(Tag, f"expired:{member.key}", platform=platform, target=pid, tag="expired"))
                what = say(ctx, NAME, "ended_downgraded", tier=tier or "—")
            text = say(ctx, NAME, "ended", name=name, plan=title, what=what)
            out.append(ctx.act(DirectMessage, f"ended:{member.key}", platform=platform, target=pid, text=text))
            return out, 1
        if ctx.now >= until:
            if sub.get("stage") != "expired":
                sub["stage"] = "expired"
                out.append(ctx.act(SetState, f"exp:{member.key}", scope=NAME, name=key, value=sub))
                text = say(ctx, NAME, "expired", name=name, plan=title, until=shown, grace=day(local(grace, spec)))
                out.append(ctx.act(DirectMessage, f"expired:{member.key}", platform=platform, target=pid, text=text))
            return out, 0
        left = until - ctx.now
        reminded = list(sub.get("reminded") or [])
        due = [d for d in s.remind_days if left <= timedelta(days=d) and d not in reminded]
        if due:
            sub["reminded"] = sorted({*reminded, *due}, reverse=True)
            days = max(1, math.ceil(left.total_seconds() / 86400))
            out.append(ctx.act(SetState, f"rem:{member.key}", scope=NAME, name=key, value=sub))
            text = say(ctx, NAME, "reminder", name=name, plan=title, until=shown, days=days)
            out.append(ctx.act(DirectMessage, f"remind:{member.key}", platform=platform, target=pid, text=text))
        return out, 0

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, MembershipSettings)
        problems = check_texts(NAME, settings)
        problems += [(f"remind_days.{i}", "must be at least 1") for i, d in enumerate(settings.remind_days) if d < 1]
        return problems
