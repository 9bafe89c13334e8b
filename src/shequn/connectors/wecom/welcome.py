"""The community's welcome as a WeCom group welcome template (入群欢迎语素材), pure.

WeCom sends a group's welcome itself when a customer joins, once a staff member has attached a template to the group
in the client; the only placeholder it fills is ``%NICKNAME%`` (the customer's nickname, case-sensitive, any number
of times). So the community's welcome becomes one template per community: ``{name}`` → ``%NICKNAME%``,
``{community}`` and ``{group}`` → the community's name (one template serves all its groups), and every sentence that
needs what WeCom cannot know (``{number}``, ``{inviter}``) is left out rather than sent with a hole in it.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass

NICKNAME = "%NICKNAME%"
MAX_BYTES = 3000  # text.content: 最长为3000字节
_FILLED = frozenset({"name", "community", "group"})
# A sentence ends at a CJK terminator, or at . ! ? followed by space and a capital (so "No. {number}" stays whole).
_SENTENCE = re.compile(r"(?<=[。！？])|(?<=[.!?])\s+(?=[A-Z\"“‘(])")


@dataclass(frozen=True, slots=True)
class WelcomeTemplate:
    """What one community's WeCom groups should greet newcomers with."""

    community: str
    template: str  # the welcome policy's template, shequn placeholders
    groups: tuple[str, ...]
    locale: str = "zh-CN"


def _fields(sentence: str) -> set[str]:
    return {f for _, f, _, _ in string.Formatter().parse(sentence) if f is not None}


def to_wecom(template: str, community: str) -> tuple[str, list[str]]:
    """WeCom's template text for ``template`` and the placeholders left out with their sentence (sorted)."""
    kept: list[str] = []
    dropped: set[str] = set()
    for sentence in _SENTENCE.split(template):
        missing = _fields(sentence) - _FILLED
        if missing:
            dropped |= missing
            continue
        kept.append(sentence)
    joiner = "" if re.search(r"[\u3000-\u9fff]", template) else " "
    text = joiner.join(s.strip() for s in kept if s.strip())
    text = text.format(name=NICKNAME, community=community, group=community) if text else ""
    data = text.encode()
    if len(data) > MAX_BYTES:
        text = data[:MAX_BYTES].decode(errors="ignore")
    return text, sorted(dropped)
