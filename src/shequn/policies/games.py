"""Game time (红包+趣味游戏, book 1688): answers checked, the winner named, the red packet a staff task.

How it works:
    The scheduler's game-time post logs a ``game_round`` form (no actor) in the group with the games it asked
    (their right answers are patterns in ``topics.yaml``); answers count for ``answer_minutes``. This policy keeps
    the open round per group; each member's message in that time is checked against the games nobody has won yet,
    and the first right answer gets a post naming the member and a staff task to send them the red packet (bots
    cannot send red packets on the platforms of the book). A new round replaces the old one.

Things to keep in mind:
    * State: ``r:<group>`` the open round (until, the games and who won each).
    * Games without answer patterns (an open word chain in a language without one) are posted, never won.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta
from typing import ClassVar

from pydantic import Field

from shequn.domain import Action, EventKind, FormAnswer, Message, OpenStaffTask, Post
from shequn.domain.records import iso, parse_iso
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, display, say

NAME = "games"
ROUND_FORM = "game_round"


class GamesSettings(BookSettings):
    """``policies.games``: how long answers count after the game post."""

    answer_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "answer_minutes"), ge=1)


def round_event(event_id: str, at: datetime, platform: str, group: str, games: list[str]) -> FormAnswer:
    """The fact the game-time post logs: which games (playbook keys) were asked, in which group."""
    answers = {"games": ",".join(games)}
    return FormAnswer(id=event_id, at=at, platform=platform, group=group, actor="", form=ROUND_FORM, answers=answers)


def _right(game: str, text: str, locale: str) -> bool:
    found = next((g for g in load_playbook().topics.games if g.key == game), None)
    if found is None:
        return False
    patterns = found.answers.get("en" if locale.startswith("en") else "zh-CN", [])
    return any(re.search(p, text, re.IGNORECASE) for p in patterns)


class Games(Policy):
    """Check game-time answers; name the first right one; the red packet is a staff task."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = GamesSettings
    kinds = frozenset({EventKind.FORM_ANSWER, EventKind.MESSAGE})

    def decide(self, ctx: Context) -> Decision:
        e = ctx.event
        s = ctx.settings
        assert isinstance(s, GamesSettings)
        key = f"r:{e.platform}:{e.group}" if e is not None else ""
        if isinstance(e, FormAnswer):
            if e.form != ROUND_FORM or e.actor:
                return NOTHING
            games = [g for g in str(e.answers.get("games", "")).split(",") if g]
            value = {"until": iso(e.at + timedelta(minutes=s.answer_minutes)), "games": games, "won": {}}
            return Decision((), False, {key: value})
        if not isinstance(e, Message) or e.from_bot or not e.text or ctx.member is None:
            return NOTHING
        open_ = ctx.scope.get(key)
        if not open_:
            return NOTHING
        if parse_iso(open_["until"]) <= e.at:
            return Decision((), False, {key: None})
        won: dict[str, str] = dict(open_["won"])
        game = next((g for g in open_["games"] if g not in won and _right(g, e.text, ctx.locale)), None)
        if game is None:
            return NOTHING
        won[game] = ctx.member.key
        name = display(ctx.member, e.actor)
        title = next(g.name.get(ctx.locale) for g in load_playbook().topics.games if g.key == game)
        answer = " ".join(e.text.split())[:40]
        actions: list[Action] = [
            ctx.act(Post, f"win:{game}", text=say(ctx, NAME, "winner", name=name, game=title, answer=answer)),
            ctx.act(
                OpenStaffTask,
                f"red_packet:{game}",
                target=e.actor,
                title=t("policies.games.red_packet", ctx.locale, name=name, game=title),
                instructions=t("policies.games.red_packet_how", ctx.locale, name=name, answer=answer),
            ),
        ]
        done = all(g in won for g in open_["games"])
        return Decision(tuple(actions), False, {key: None if done else {**open_, "won": won}})
