"""Check-in (签到 / 打卡, book 2365, 1979, 2023): daily check-ins with streaks, make-up cards and points.

How it works:
    A check-in is a platform's check-in event or a message starting with one of the ``keywords`` (签到, 打卡 …).
    The first one of a local day, from ``opens_at`` on, is recorded: the streak grows when the last check-in was
    yesterday, a gap is bridged with make-up cards (补签卡) when the member holds enough, otherwise the streak starts
    again. Every ``makeup_every`` days of streak earn a card (up to ``makeup_max``); a card can also be bought with
    points (a message starting with a ``makeup_keywords`` word). Check-ins award ``points`` and the
    ``streak_bonus`` at milestones, and the reply tells the member what share of the group's check-in members
    they are ahead of (你击败了x%的用户, book 2015).

    :func:`record` (the streak arithmetic) and :func:`announcement` (the text the scheduler posts when the day's
    check-in opens at 07:30) are pure functions for the rhythm engine to call.

Things to keep in mind:
    * State: ``m:<member>`` (last day, streak, total, best, cards), ``hist`` (total days → members, for the
      percentage without scanning everyone) and ``d:<day>`` (check-ins per day, the last few days kept).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field, field_validator

from shequn.domain import Action, AwardPoints, CheckIn, EventKind, Message, Post, SetState
from shequn.domain.state import CommunityState, MemberState
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.acks import ack
from shequn.policies.base import NOTHING, CommunityConfig, Context, Decision, Policy, PolicySettings
from shequn.policies.common import (
    BookSettings,
    PerSettings,
    book,
    check_hhmm,
    check_texts,
    hhmm,
    local,
    say,
    spend,
    text_of,
)

NAME = "checkin"
_KEEP_DAYS = 3


class CheckinSettings(BookSettings):
    """``policies.checkin``: keywords, when the day's check-in opens, points, streak bonuses, make-up cards."""

    keywords: list[str] = book(NAME, "keywords")
    opens_at: str = book(NAME, "opens_at")
    points: int = Field(default_factory=lambda: load_playbook().default(NAME, "points"), ge=0)
    streak_bonus: dict[int, int] = book(NAME, "streak_bonus")
    makeup_every: int = Field(default_factory=lambda: load_playbook().default(NAME, "makeup_every"), ge=0)
    makeup_cost: int = Field(default_factory=lambda: load_playbook().default(NAME, "makeup_cost"), ge=0)
    makeup_max: int = Field(default_factory=lambda: load_playbook().default(NAME, "makeup_max"), ge=0)
    makeup_keywords: list[str] = book(NAME, "makeup_keywords")

    @field_validator("opens_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        return check_hhmm(v) if v else v

    @field_validator("keywords", "makeup_keywords")
    @classmethod
    def _lower(cls, v: list[str]) -> list[str]:
        return [k.strip().lower() for k in v if k.strip()]


@dataclass(frozen=True, slots=True)
class Record:
    """A member's check-in record."""

    last: str = ""  # the local day of the last check-in (YYYY-MM-DD)
    streak: int = 0
    total: int = 0
    best: int = 0
    cards: int = 0

    @classmethod
    def of(cls, value: Any) -> Record:
        return cls(**value) if value else cls()

    def to_json(self) -> dict[str, Any]:
        return {"last": self.last, "streak": self.streak, "total": self.total, "best": self.best, "cards": self.cards}

    def streak_on(self, today: str, yesterday: str) -> int:
        """The streak as of the day ``today`` (ISO dates; 0 when the last check-in is older than ``yesterday``)."""
        return self.streak if self.last in (today, yesterday) else 0

    def current_streak(self, today: date) -> int:
        """The streak as of ``today`` (0 when the last check-in is older than yesterday)."""
        if not self.last:
            return 0
        return self.streak if (today - date.fromisoformat(self.last)).days <= 1 else 0


def record(old: Record, today: date, *, makeup_every: int, makeup_max: int) -> tuple[Record, int, bool]:
    """A check-in on ``today``: (the new record, make-up cards used, whether a card was earned).

    The streak continues from yesterday, or across a gap of missed days when the member holds a card per missed
    day; otherwise it starts again at 1.
    """
    used = 0
    cards = old.cards
    if not old.last:
        streak = 1
    else:
        missed = (today - date.fromisoformat(old.last)).days - 1
        if missed <= 0:
            streak = old.streak + 1
        elif missed <= cards:
            used, cards, streak = missed, cards - missed, old.streak + 1
        else:
            streak = 1
    earned = bool(makeup_every) and streak % makeup_every == 0 and cards < makeup_max
    if earned:
        cards += 1
    new = Record(today.isoformat(), streak, old.total + 1, max(old.best, streak), cards)
    return new, used, earned


_KEYWORDS: PerSettings[tuple[tuple[str, ...], tuple[str, ...]]] = PerSettings(
    lambda s: (tuple(s.keywords), tuple(s.makeup_keywords))
)


def is_checkin_message(config: CommunityConfig, text: str) -> bool:
    """Whether a message is a check-in under the community's check-in settings."""
    last = _LAST_CHECKIN
    if last[1] is text and last[0] is config:
        return bool(last[2])  # several policies ask about the same message in a row
    s = config.settings.get(NAME)
    if not isinstance(s, CheckinSettings) or not s.enabled or not text:
        found = False
    else:
        found = text[:24].lstrip()[:16].lower().startswith(_KEYWORDS(s)[0])
    last[:] = (config, text, found)
    return found


# The last answer of is_checkin_message, by identity of its arguments (both immutable): [config, text, answer].
_LAST_CHECKIN: list[object] = [None, None, False]


def announcement(config: CommunityConfig, community: CommunityState, now: datetime) -> str:
    """The text that opens the day's check-in (for the scheduler to post at ``opens_at``)."""
    s = config.settings.get(NAME)
    own = s.texts if isinstance(s, CheckinSettings) else {}
    keyword = s.keywords[0] if isinstance(s, CheckinSettings) and s.keywords else "签到"
    scope = community.policy.get(NAME) or {}
    today = local(now, config.spec).date()
    yesterday = (today - timedelta(days=1)).isoformat()
    leader, best = "", 0
    for name, value in scope.items():
        if name.startswith("m:"):
            streak = Record.of(value).current_streak(today)
            m = community.members.get(name[2:])
            if streak > best and m is not None and m.active:
                leader, best = m.name or name[2:], streak
    return text_of(
        NAME,
        "announcement",
        config.locale,
        own,
        date=today.isoformat(),
        keyword=keyword,
        yesterday=int(scope.get(f"d:{yesterday}", 0)),
        leader=leader or "—",
        streak=best,
    )


class Checkin(Policy):
    """Record daily check-ins with streaks, make-up cards and points."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = CheckinSettings
    kinds = frozenset({EventKind.CHECK_IN, EventKind.MESSAGE})

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, CheckinSettings)
        if e is None or member is None:
            return NOTHING
        if isinstance(e, Message):
            head = e.text[:24].lstrip()[:16].lower()
            if not head:
                return NOTHING
            checkin, makeup = _KEYWORDS(s)
            if makeup and head.startswith(makeup):
                return self._buy(ctx, s, member)
            if not head.startswith(checkin):
                return NOTHING
        elif not isinstance(e, CheckIn):
            return NOTHING
        return self._check_in(ctx, s, member)

    def _check_in(self, ctx: Context, s: CheckinSettings, member: MemberState) -> Decision:
        e = ctx.event
        assert e is not None
        lt = local(ctx.now, ctx.config.spec)
        name = member.name or e.actor_name or e.actor
        if s.opens_at and lt.time() < hhmm(s.opens_at):
            return Decision((ctx.act(Post, "early", text=say(ctx, NAME, "early", name=name, opens=s.opens_at)),))
        key = f"m:{member.key}"
        old = Record.of(ctx.scope.get(key))
        today = lt.date()
        if old.last == today.isoformat():
            return Decision((ctx.act(Post, "again", text=say(ctx, NAME, "again", name=name)),))
        new, used, earned = record(old, today, makeup_every=s.makeup_every, makeup_max=s.makeup_max)
        hist: dict[str, int] = dict(ctx.scope.get("hist") or {})
        if old.total:
            hist[str(old.total)] = hist.get(str(old.total), 1) - 1
            if hist[str(old.total)] <= 0:
                del hist[str(old.total)]
        hist[str(new.total)] = hist.get(str(new.total), 0) + 1
        everyone = sum(hist.values())
        behind = sum(n for total, n in hist.items() if int(total) < new.total)
        beat = round(100 * behind / (everyone - 1)) if everyone > 1 else 100  # of the others who check in
        day_key = f"d:{today.isoformat()}"
        changes: dict[str, Any] = {key: new.to_json(), "hist": hist, day_key: int(ctx.scope.get(day_key, 0)) + 1}
        if day_key not in ctx.scope:
            old_day = f"d:{(today - timedelta(days=_KEEP_DAYS)).isoformat()}"
            if old_day in ctx.scope:
                changes[old_day] = None
        actions: list[Action] = []
        extra: list[str] = []
        if used:
            extra.append(say(ctx, NAME, "card_used", used=used, cards=new.cards))
        if s.points:
            actions.append(ctx.act(AwardPoints, "points", target=e.actor, points=s.points, reason="checkin"))
        bonus = s.streak_bonus.get(new.streak)
        if bonus:
            actions.append(ctx.act(AwardPoints, "bonus", target=e.actor, points=bonus, reason=f"streak:{new.streak}"))
            extra.append(say(ctx, NAME, "bonus", days=new.streak, points=bonus))
        if earned:
            extra.append(say(ctx, NAME, "card_earned", cards=new.cards))
        text = say(
            ctx, NAME, "done", name=name, streak=new.streak, total=new.total, beat=beat, extra="".join(extra)
        ).strip()
        actions.append(ack(ctx, "done", text, (e.actor,)))
        return Decision(tuple(actions), state=changes)

    def _buy(self, ctx: Context, s: CheckinSettings, member: MemberState) -> Decision:
        e = ctx.event
        assert e is not None
        key = f"m:{member.key}"
        old = Record.of(ctx.scope.get(key))
        name = member.name or e.actor_name or e.actor
        reason = ""
        if not s.makeup_cost or not s.makeup_max:
            reason = "—"
        elif old.cards >= s.makeup_max:
            reason = f"{old.cards}/{s.makeup_max}"
        elif member.points < s.makeup_cost:
            reason = f"{member.points}/{s.makeup_cost}"
        if reason:
            return Decision((ctx.act(Post, "card", text=say(ctx, NAME, "card_refused", name=name, reason=reason)),))
        new = Record(old.last, old.streak, old.total, old.best, old.cards + 1)
        return Decision(
            (
                *spend(ctx, member, e.actor, s.makeup_cost, "spend:makeup_card", "buy"),
                ctx.act(SetState, "card", scope=NAME, name=key, value=new.to_json()),
                ctx.act(
                    Post,
                    "card",
                    text=say(
                        ctx,
                        NAME,
                        "card_bought",
                        name=name,
                        cost=s.makeup_cost,
                        cards=new.cards,
                        points=member.points - s.makeup_cost,
                    ),
                ),
            )
        )

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, CheckinSettings)
        problems = check_texts(NAME, settings)
        if not settings.keywords:
            problems.append(("keywords", "needs at least one keyword (e.g. 签到)"))
        problems += [
            (f"streak_bonus.{k}", "streak lengths and bonuses must be positive")
            for k, v in settings.streak_bonus.items()
            if k <= 0 or v < 0
        ]
        return problems
