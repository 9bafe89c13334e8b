"""FAQ (常见问题): keyword and pattern replies per community, each with a cooldown per group.

How it works:
    Each entry has ``keys`` (a message containing any of them triggers it) or a ``pattern`` (a regular expression),
    and an ``answer`` in the community's language (or ``{zh-CN: …, en: …}``), which may use {name}, {group},
    {community} and {rules}. The first matching entry replies, unless it replied in that group less than
    ``cooldown_minutes`` ago. Messages are matched through one combined expression, built once per community.
"""

from __future__ import annotations

import re
from datetime import timedelta
from typing import ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shequn.domain import EventKind, Message, Reply, SetState
from shequn.domain.records import iso, parse_iso
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, PerSettings, book, check_texts
from shequn.policies.text import check_template

NAME = "faq"
PLACEHOLDERS = ("name", "group", "community", "rules")


class Entry(BaseModel):
    """One question: keywords or a pattern, and the answer."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    keys: list[str] = Field(default_factory=list)
    pattern: str = ""
    answer: str | dict[str, str]

    @field_validator("pattern")
    @classmethod
    def _pattern(cls, v: str) -> str:
        if v:
            try:
                re.compile(v)
            except re.error as exc:
                raise ValueError(f"{v!r} is not a valid pattern: {exc}") from None
        return v

    def text(self, locale: str) -> str:
        if isinstance(self.answer, str):
            return self.answer
        return self.answer.get("en" if locale.startswith("en") else "zh-CN") or next(iter(self.answer.values()))


class FaqSettings(BookSettings):
    """``policies.faq``: the entries and the cooldown."""

    entries: list[Entry] = book(NAME, "entries")
    cooldown_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "cooldown_minutes"), ge=0)

    def match(self, text: str) -> int | None:
        """The index of the first entry ``text`` triggers, or None."""
        anything, each = _compiled(self)
        low = text.lower()
        if anything is None or not anything.search(low):
            return None
        return next((i for i, r in enumerate(each) if r is not None and r.search(low)), None)


def _compile(s: FaqSettings) -> tuple[re.Pattern[str] | None, list[re.Pattern[str] | None]]:
    """One expression for "any entry" (the common case: no match) and one per entry, on lower-cased text."""
    parts: list[str] = []
    each: list[re.Pattern[str] | None] = []
    for e in s.entries:
        alts = [re.escape(k.strip().lower()) for k in e.keys if k.strip()]
        if e.pattern:
            alts.append(f"(?:{e.pattern})")
        one = "|".join(alts)
        each.append(re.compile(one, re.IGNORECASE) if one else None)
        if one:
            parts.append(f"(?:{one})")
    return (re.compile("|".join(parts), re.IGNORECASE) if parts else None), each


_compiled: PerSettings[tuple[re.Pattern[str] | None, list[re.Pattern[str] | None]]] = PerSettings(_compile)


class Faq(Policy):
    """Answer common questions."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = FaqSettings
    kinds = frozenset({EventKind.MESSAGE})

    def decide(self, ctx: Context) -> Decision:
        e = ctx.event
        s = ctx.settings
        assert isinstance(s, FaqSettings)
        if not isinstance(e, Message) or not e.text or ctx.group is None:
            return NOTHING
        i = s.match(e.text)
        if i is None:
            return NOTHING
        key = f"cd:{ctx.group.key}:{i}"
        last = ctx.scope.get(key)
        if last and ctx.now - parse_iso(last) < timedelta(minutes=s.cooldown_minutes):
            return NOTHING
        spec = ctx.config.spec
        rules = "\n".join(v for v in spec.rules.sections.values() if v)
        group = (ctx.group_config.name if ctx.group_config else "") or spec.name
        member = ctx.member
        name = (member.name if member else "") or e.actor_name or e.actor
        text = s.entries[i].text(ctx.locale).format(name=name, group=group, community=spec.name, rules=rules)
        return Decision(
            (
                ctx.act(Reply, "answer", message_id=e.message_id or e.id, text=text),
                ctx.act(SetState, "cd", scope=NAME, name=key, value=iso(ctx.now)),
            )
        )

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, FaqSettings)
        problems = check_texts(NAME, settings)
        for i, e in enumerate(settings.entries):
            if not e.pattern and not any(k.strip() for k in e.keys):
                problems.append((f"entries.{i}", "needs keys or a pattern"))
            answers = [e.answer] if isinstance(e.answer, str) else list(e.answer.values())
            for a in answers:
                if problem := check_template(a, PLACEHOLDERS):
                    problems.append((f"entries.{i}.answer", problem))
        return problems
