"""Leaderboards (排行榜, book 2013-2015): points, check-in streaks and this week's points, on request.

How it works:
    A message starting with one of the ``keywords`` (排行榜, 签到榜, 本周榜 …) posts that board's top ``size`` and
    tells the asker their own rank and the share of the group they are ahead of (你击败了x%的用户). A board is posted
    at most once per ``cooldown_minutes`` in a group. :func:`board` ranks members (a pure function the scheduler can
    use for weekly boards too).
"""

from __future__ import annotations

from datetime import date, datetime, timedelta
from typing import ClassVar, Literal

from pydantic import Field

from shequn.domain import EventKind, Message, Post, SetState
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import CommunityState, MemberState
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, CommunityConfig, Context, Decision, Policy, PolicySettings
from shequn.policies.checkin import Record
from shequn.policies.common import BookSettings, PerSettings, book, check_texts, keywords, local, text_of
from shequn.policies.points import week_of

NAME = "leaderboard"
Board = Literal["points", "streak", "week"]


_KEYWORDS: PerSettings[tuple[tuple[str, ...], list[tuple[str, str]]]] = PerSettings(
    lambda s: (keywords(s.keywords), [(k.strip().lower(), b) for k, b in s.keywords.items() if k.strip()])
)


class LeaderboardSettings(BookSettings):
    """``policies.leaderboard``: keyword → board, how many to list, how often per group."""

    keywords: dict[str, Board] = book(NAME, "keywords")
    size: int = Field(default_factory=lambda: load_playbook().default(NAME, "size"), ge=1)
    cooldown_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "cooldown_minutes"), ge=0)


def value_of(community: CommunityState, member: MemberState, which: str, today: date) -> int:
    """A member's figure on a board."""
    if which == "points":
        return member.points
    if which == "streak":
        return Record.of((community.policy.get("checkin") or {}).get(f"m:{member.key}")).current_streak(today)
    rec = (community.policy.get("points") or {}).get(f"p:{member.key}") or {}
    wk = rec.get("week")
    return int(wk[1]) if wk and wk[0] == week_of(today) else 0


def board(
    config: CommunityConfig, community: CommunityState, which: str, now: datetime
) -> list[tuple[MemberState, int]]:
    """Every active member with a figure above zero on board ``which``, best first (ties: lower number first)."""
    today = local(now, config.spec).date()
    rows = [(m, value_of(community, m, which, today)) for m in community.members.values() if m.active]
    return sorted(((m, v) for m, v in rows if v > 0), key=lambda r: (-r[1], r[0].number))


def beaten(index: int, everyone: int) -> int:
    """The share (percent) of the ``everyone`` active members that the one at ``index`` (0: first) is ahead of."""
    return round(100 * (everyone - index - 1) / max(everyone - 1, 1))


def board_text(
    config: CommunityConfig, community: CommunityState, which: str, now: datetime, size: int, asker: MemberState | None
) -> str:
    """The board as posted: heading, the top ``size``, and the asker's own line."""
    s = config.settings.get(NAME)
    own = s.texts if isinstance(s, LeaderboardSettings) else {}
    locale = config.locale
    rows = board(config, community, which, now)
    title = text_of(NAME, f"b_{which}", locale, own)
    lines = [text_of(NAME, "head", locale, own, board=title)]
    for rank, (m, v) in enumerate(rows[:size], 1):
        lines.append(text_of(NAME, "line", locale, own, rank=rank, name=m.name or m.key, value=v))
    if asker is not None:
        mine = next((i for i, (m, _) in enumerate(rows) if m.key == asker.key), None)
        if mine is not None:
            everyone = sum(1 for m in community.members.values() if m.active)
            beat = beaten(mine, everyone)
            lines.append(text_of(NAME, "you", locale, own, name=asker.name or asker.key, rank=mine + 1, beat=beat))
    return "\n".join(lines)


class Leaderboard(Policy):
    """Post a board when asked."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = LeaderboardSettings
    kinds = frozenset({EventKind.MESSAGE})

    def decide(self, ctx: Context) -> Decision:
        e = ctx.event
        s = ctx.settings
        assert isinstance(s, LeaderboardSettings)
        if not isinstance(e, Message) or ctx.group is None:
            return NOTHING
        head = e.text[:24].lstrip()[:16].lower()
        keys, boards = _KEYWORDS(s)
        if not head or not head.startswith(keys):
            return NOTHING
        which = next(b for k, b in boards if head.startswith(k))
        key = f"cd:{ctx.group.key}:{which}"
        last = ctx.scope.get(key)
        if last and ctx.now - parse_iso(last) < timedelta(minutes=s.cooldown_minutes):
            return NOTHING
        text = board_text(ctx.config, ctx.community, which, ctx.now, s.size, ctx.member)
        return Decision(
            (ctx.act(Post, "board", text=text), ctx.act(SetState, "cd", scope=NAME, name=key, value=iso(ctx.now)))
        )

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, LeaderboardSettings)
        return check_texts(NAME, settings)
