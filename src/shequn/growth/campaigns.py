"""Group-fill campaigns, the AB-group method and the upgrade path of community levels (book 2617-2620, 2065).

How it works:
    * :func:`fill_progress`: "今天如果群满400人，那么群主就发500元红包" (book 2620): a target member count and a reward;
      the progress, and whether the target was reached (the reward is then a staff task: bots cannot send red
      packets).
    * :func:`ab_candidates`: "筛选出互动积极、能够提出比较好的建议的用户，过滤到第二个群" (book 2620): the members of
      group A who engage most (messages, replies received, suggestions) and are not in group B yet.
    * :func:`promotions`: the upgrade path 粉丝群 → 会员群 → 管理群 → 核心群 (book 2065) as levels with rules: a
      member in a group of one level who meets the next level's rule (paid, level, points, tenure, tags, roles) is
      a candidate for promotion into a group of the next level.

Pure: the caller hands in the members' counters (:class:`Engagement`, :class:`Standing`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

LEVELS = ("fan", "member", "admin", "core")  # 粉丝群 → 会员群 → 管理群 → 核心群


@dataclass(frozen=True, slots=True)
class FillProgress:
    members: int
    target: int
    reached: bool
    missing: int
    share: float


def fill_progress(members: int, target: int) -> FillProgress:
    missing = max(0, target - members)
    return FillProgress(members, target, members >= target, missing, round(min(1.0, members / target), 4))


@dataclass(frozen=True, slots=True)
class Engagement:
    """A member's engagement in group A over the window."""

    member: str
    name: str = ""
    messages: int = 0
    replies_received: int = 0
    suggestions: int = 0  # messages the detector saw as suggestions or good questions


def ab_candidates(
    engagement: Iterable[Engagement], in_b: Iterable[str], *, top: int, min_messages: int = 1
) -> list[tuple[Engagement, float]]:
    """The ``top`` most engaged members of A who are not in B (score: messages + 2 × replies + 3 × suggestions)."""
    skip = set(in_b)
    scored = [
        (e, float(e.messages + 2 * e.replies_received + 3 * e.suggestions))
        for e in engagement
        if e.member not in skip and e.messages >= min_messages
    ]
    scored.sort(key=lambda x: (-x[1], x[0].member))
    return scored[:top]


@dataclass(frozen=True, slots=True)
class Rule:
    """What promotion into a level takes (any field left at its default is not asked)."""

    paid: bool = False
    min_level: int = 0
    min_points: int = 0
    min_days: int = 0
    tags: Sequence[str] = ()
    roles: Sequence[str] = ()


@dataclass(frozen=True, slots=True)
class Standing:
    """A member as the upgrade path sees them."""

    member: str
    name: str
    level_of_group: str  # the highest community level of the groups they are in
    paid: bool = False
    level: int = 0
    points: int = 0
    days: int = 0
    tags: frozenset[str] = frozenset()
    roles: frozenset[str] = frozenset()


@dataclass(frozen=True, slots=True)
class Promotion:
    member: str
    name: str
    source: str
    target: str
    reasons: tuple[str, ...] = field(default=())


def meets(s: Standing, rule: Rule) -> list[str]:
    """What ``s`` still lacks for ``rule`` (empty: meets it)."""
    missing = []
    if rule.paid and not s.paid:
        missing.append("paid")
    if s.level < rule.min_level:
        missing.append(f"level>={rule.min_level}")
    if s.points < rule.min_points:
        missing.append(f"points>={rule.min_points}")
    if s.days < rule.min_days:
        missing.append(f"days>={rule.min_days}")
    missing += [f"tag:{t}" for t in rule.tags if t not in s.tags]
    if rule.roles and not s.roles.intersection(rule.roles):
        missing.append("role:" + "|".join(rule.roles))
    return missing


def promotions(standings: Iterable[Standing], rules: Mapping[str, Rule]) -> list[Promotion]:
    """Members who meet the rule of the level after their group's level (one step at a time)."""
    out = []
    for s in standings:
        if s.level_of_group not in LEVELS or s.level_of_group == LEVELS[-1]:
            continue
        target = LEVELS[LEVELS.index(s.level_of_group) + 1]
        rule = rules.get(target)
        if rule is None or meets(s, rule):
            continue
        out.append(Promotion(s.member, s.name, s.level_of_group, target))
    out.sort(key=lambda p: (LEVELS.index(p.target), p.member))
    return out


def level_of_role(role: str) -> str | None:
    """The community level of a group role: fan → 粉丝群, paid/member → 会员群, admin → 管理群, core → 核心群."""
    return {"fan": "fan", "main": "fan", "paid": "member", "member": "member", "admin": "admin", "core": "core"}.get(
        role
    )
