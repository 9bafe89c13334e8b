"""The topic library and the content loop (话题库, 内容闭环: 004 lines 38 and 43).

How it works:
    The library is the community's own topics (``rhythm.topics``) and, unless switched off, the playbook's. Each
    day has a *base* topic: the day's number picks one of the seven types in turn (so every type gets its day), then
    a topic of that type; a topic pinned to the date wins. The loop: when yesterday's topic drew a real discussion
    (at least :data:`LOOP_SPEAKERS` members before the preheat time), today continues with its follow-up
    (二次话题输出); a follow-up is not followed up again.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec

LOOP_SPEAKERS = 3  # members who must join in for the loop to carry a topic on (shequn's default)
_EPOCH = date(2024, 1, 1)  # a Monday; day numbers count from it


@dataclass(frozen=True, slots=True)
class TopicPick:
    type: str
    type_name: str
    text: str
    follow_up: str
    is_follow_up: bool = False
    pinned: bool = False

    def to_detail(self) -> dict[str, object]:
        return {
            "topic": self.text,
            "type": self.type,
            "follow_up": self.follow_up,
            "is_follow_up": self.is_follow_up,
        }


def library(spec: CommunitySpec) -> list[tuple[str, str, str]]:
    """(type, text, follow-up) of every topic the community draws from, its own first."""
    locale = spec.locale
    own = [(t.type, t.text, t.follow_up) for t in spec.rhythm.topics if t.day is None]
    if not spec.rhythm.use_default_topics:
        return own
    return own + [(t.type, t.text.get(locale), t.follow_up.get(locale)) for t in load_playbook().topics.topics]


def type_name(key: str, locale: str) -> str:
    for t in load_playbook().topics.types:
        if t.key == key:
            return t.name.get(locale)
    return key


def base_topic(spec: CommunitySpec, day: date) -> TopicPick | None:
    """The day's topic before the loop is considered (None: the library is empty)."""
    locale = spec.locale
    for t in spec.rhythm.topics:
        if t.day == day:
            return TopicPick(t.type, type_name(t.type, locale), t.text, t.follow_up, pinned=True)
    lib = library(spec)
    if not lib:
        return None
    types = [t.key for t in load_playbook().topics.types]
    n = (day - _EPOCH).days
    for shift in range(len(types)):
        kind = types[(n + shift) % len(types)]
        mine = [x for x in lib if x[0] == kind]
        if mine:
            picked, text, follow = mine[(n // len(types)) % len(mine)]
            return TopicPick(picked, type_name(picked, locale), text, follow)
    return None


def todays_topic(
    spec: CommunitySpec, day: date, yesterday: dict[str, object] | None, speakers: int
) -> TopicPick | None:
    """The topic of ``day``: yesterday's follow-up when its discussion took off, else the base topic."""
    if yesterday and not yesterday.get("is_follow_up") and yesterday.get("follow_up") and speakers >= LOOP_SPEAKERS:
        pinned = base_topic(spec, day)
        if pinned is None or not pinned.pinned:
            kind = str(yesterday.get("type", ""))
            return TopicPick(kind, type_name(kind, spec.locale), str(yesterday["follow_up"]), "", is_follow_up=True)
    return base_topic(spec, day)
