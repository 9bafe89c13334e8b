"""Points (积分, book 2023, 2021): earning with anti-farming, spending on rewards, expiry; the ledger behind it.

How it works:
    Every change of a member's points is an ``AwardPoints`` action with its reason; the engine applies it and the
    application writes it to the points ledger (``shequn points ledger``), so the balance can be audited entry by
    entry. This policy awards points for messages, with MEE6's anti-farming: at most one award per
    ``cooldown_seconds``, nothing for messages shorter than ``min_chars`` or repeating the last awarded one, and at
    most ``daily_cap`` a day. Members redeem ``rewards`` ("兑换 课程优惠券": the points are spent and staff get a task
    to hand the reward over) and ask for their balance. Points expire ``expire_days`` after the month they were
    earned in, oldest first, checked daily at 04:00.

Things to keep in mind:
    * ``p:<member>`` keeps the anti-farming marks, this week's points (for the weekly board) and the lots by month.
      Points other policies award (check-ins, bonuses) are folded into the current month's lot the next time this
      policy looks at the member, so lots always add up to the balance.
    * Check-in messages earn check-in points (the check-in policy), not message points.
"""

from __future__ import annotations

import zlib
from datetime import date
from typing import Any, ClassVar

from pydantic import Field

from shequn.domain import Action, AwardPoints, EventKind, Message, OpenStaffTask, Post, SetState
from shequn.domain.state import MemberState
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.checkin import is_checkin_message
from shequn.policies.common import (
    BookSettings,
    PerSettings,
    book,
    check_texts,
    chunk_names,
    day,
    keywords,
    local,
    local_day,
    say,
    spend,
)

NAME = "points"
EXPIRE_AT = 4  # local hour of the daily expiry run


class PointsSettings(BookSettings):
    """``policies.points``: message points, anti-farming, rewards, expiry."""

    message: int = Field(default_factory=lambda: load_playbook().default(NAME, "message"), ge=0)
    cooldown_seconds: int = Field(default_factory=lambda: load_playbook().default(NAME, "cooldown_seconds"), ge=0)
    min_chars: int = Field(default_factory=lambda: load_playbook().default(NAME, "min_chars"), ge=0)
    daily_cap: int = Field(default_factory=lambda: load_playbook().default(NAME, "daily_cap"), ge=0)
    expire_days: int = Field(default_factory=lambda: load_playbook().default(NAME, "expire_days"), ge=0)
    rewards: dict[str, int] = book(NAME, "rewards")
    redeem_keywords: list[str] = book(NAME, "redeem_keywords")
    balance_keywords: list[str] = book(NAME, "balance_keywords")


_KEYWORDS: PerSettings[tuple[tuple[str, ...], tuple[str, ...]]] = PerSettings(
    lambda s: (keywords(s.redeem_keywords), keywords(s.balance_keywords))
)


def week_of(d: date) -> str:
    y, w, _ = d.isocalendar()
    return f"{y}-W{w:02d}"


def reconcile(member: MemberState, rec: dict[str, Any], month: str, week: str) -> dict[str, Any]:
    """``rec`` with its lots made to add up to the member's balance (awards by other policies land in ``month``)."""
    rec = {"last": 0, "h": 0, "day": "", "today": 0, "week": None, **rec}
    lots: dict[str, int] = {k: int(v) for k, v in (rec.get("lots") or {}).items() if int(v) > 0}
    diff = member.points - sum(lots.values())
    if diff > 0:
        lots[month] = lots.get(month, 0) + diff
        wk = rec.get("week") or [week, 0]
        rec["week"] = [week, (wk[1] if wk[0] == week else 0) + diff]
    elif diff < 0:
        for k in sorted(lots):
            take = min(lots[k], -diff)
            lots[k] -= take
            diff += take
            if not diff:
                break
        lots = {k: v for k, v in lots.items() if v > 0}
    return {**rec, "lots": lots}


def _month_index(month: str) -> int:
    y, m = month.split("-")
    return int(y) * 12 + int(m) - 1


def expired_lots(lots: dict[str, int], today: date, expire_days: int) -> list[str]:
    """The months whose points have expired by ``today``: ``expire_days`` after the end of the month earned."""
    out = []
    for month in sorted(lots):
        nxt = _month_index(month) + 1
        end = date(nxt // 12, nxt % 12 + 1, 1)
        if (today - end).days >= expire_days:
            out.append(month)
    return out


class Points(Policy):
    """Award message points with anti-farming; redeem rewards; report balances; expire old points."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = PointsSettings
    kinds = frozenset({EventKind.MESSAGE})
    ticks = True

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, PointsSettings)
        if not isinstance(e, Message) or member is None or not e.text:
            return NOTHING
        text = e.text.strip()
        redeem, balance = _KEYWORDS(s)
        head = text[:24].lower()
        if redeem and (s.rewards or s.redeem_keywords) and head.startswith(redeem):
            return self._redeem(ctx, s, member, text)
        if balance and head.startswith(balance):
            return self._balance(ctx, member)
        if not s.message or len(text) < s.min_chars:
            return NOTHING
        key = "p:" + member.key
        rec: dict[str, Any] | None = ctx.scope.get(key)
        now_s = int(ctx.now.timestamp())
        if rec is not None and now_s - rec["last"] < s.cooldown_seconds:
            return NOTHING
        h = zlib.crc32(text.encode())
        if (rec is not None and h == rec["h"]) or is_checkin_message(ctx.config, text):
            return NOTHING
        ld = local_day(ctx.now, ctx.config.spec)
        earned = rec["today"] if rec is not None and rec["day"] == ld.day else 0
        pts = min(s.message, s.daily_cap - earned) if s.daily_cap else s.message
        if pts <= 0:
            return NOTHING
        lots = dict(rec["lots"]) if rec is not None else {}
        lots[ld.month] = lots.get(ld.month, 0) + pts
        week = rec["week"] if rec is not None else None
        new = {
            "last": now_s,
            "h": h,
            "day": ld.day,
            "today": earned + pts,
            "lots": lots,
            "week": [ld.week, (week[1] if week and week[0] == ld.week else 0) + pts],
        }
        return Decision((ctx.act(AwardPoints, target=e.actor, points=pts, reason="message"),), state={key: new})

    def _redeem(self, ctx: Context, s: PointsSettings, member: MemberState, text: str) -> Decision:
        e = ctx.event
        assert e is not None
        head = text.lower()
        keyword = next(k for k in _KEYWORDS(s)[0] if head.startswith(k))
        item = text[len(keyword) :].strip(" :：")
        name = member.name or e.actor_name or e.actor
        items = chunk_names([f"{k}({v})" for k, v in s.rewards.items()], ctx.locale) or say(ctx, "faq", "none")
        cost = s.rewards.get(item)
        if cost is None or member.points < cost:
            reason = (item or "—") if cost is None else f"{member.points}/{cost}"
            return Decision(
                (ctx.act(Post, "refused", text=say(ctx, NAME, "refused", name=name, reason=reason, items=items)),)
            )
        lt = local(ctx.now, ctx.config.spec)
        rec = reconcile(member, ctx.scope.get(f"p:{member.key}") or {}, day(lt)[:7], week_of(lt.date()))
        left = member.points - cost
        rec = reconcile(_with_points(member, left), rec, day(lt)[:7], week_of(lt.date()))
        title = t("policies.points.reward_task", ctx.locale, name=name, item=item, cost=cost)
        return Decision(
            (
                *spend(ctx, member, e.actor, cost, f"spend:{item}", "spend"),
                ctx.act(SetState, "rec", scope=NAME, name=f"p:{member.key}", value=rec),
                ctx.act(OpenStaffTask, "reward", target=e.actor, title=title, instructions=text),
                ctx.act(
                    Post, "redeemed", text=say(ctx, NAME, "redeemed", name=name, item=item, cost=cost, points=left)
                ),
            )
        )

    def _balance(self, ctx: Context, member: MemberState) -> Decision:
        from shequn.policies.levels import distance, title_of

        e = ctx.event
        assert e is not None
        name = member.name or e.actor_name or e.actor
        title = title_of(ctx.config, member.level, ctx.locale)
        nxt = distance(ctx.config, ctx.community, member, ctx.locale)
        text = say(ctx, NAME, "balance", name=name, points=member.points, title=title, next=nxt)
        return Decision((ctx.act(Post, "balance", text=text.strip()),))

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, PointsSettings)
        if not s.expire_days:
            return NOTHING
        lt = local(ctx.now, ctx.config.spec)
        today = day(lt)
        if lt.hour < EXPIRE_AT or ctx.scope.get("expired_day") == today:
            return NOTHING
        actions: list[Action] = [ctx.act(SetState, "day", scope=NAME, name="expired_day", value=today)]
        month, week = today[:7], week_of(lt.date())
        members = ctx.community.members
        for name, rec in sorted(ctx.scope.items()):
            if not name.startswith("p:"):
                continue
            member = members.get(name[2:])
            if member is None:
                continue
            rec = reconcile(member, rec, month, week)
            gone = expired_lots(rec["lots"], lt.date(), s.expire_days)
            if not gone:
                continue
            lots = dict(rec["lots"])
            pid = member.key.partition(":")[2]
            for m in gone:
                pts = lots.pop(m)
                actions.append(
                    ctx.act(
                        AwardPoints,
                        f"expire:{member.key}:{m}",
                        platform=member.key.partition(":")[0],
                        group="",
                        target=pid,
                        points=-pts,
                        reason=f"expire:{m}",
                    )
                )
            actions.append(ctx.act(SetState, f"lots:{member.key}", scope=NAME, name=name, value={**rec, "lots": lots}))
        return Decision(tuple(actions))

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, PointsSettings)
        problems = check_texts(NAME, settings)
        problems += [(f"rewards.{k}", "a reward costs at least 1 point") for k, v in settings.rewards.items() if v < 1]
        return problems


def _with_points(member: MemberState, points: int) -> MemberState:
    """A stand-in for ``member`` with another balance (to reconcile lots after a spending)."""
    from dataclasses import replace

    return replace(member, points=points)
