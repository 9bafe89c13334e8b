"""Live codes (群活码): one entry point that sends each newcomer to the right group of a community.

How it works:
    :func:`route` looks at the community's groups (:class:`Slot`: members, capacity, owner, health) and picks the
    healthiest group that has room and whose owner (群主, the staff account that admits people: on WeCom a
    customer-group owner has limits of their own) has capacity left. Ties go to the group with fewer members, then
    by key. When every group is full it asks for a new group built from the community's template: on a platform
    where shequn can make the group itself (the sandbox), it is created; elsewhere a staff task asks a person to
    create it (Telegram's and WeCom's bots cannot create groups).

    :func:`health` is a cheap score of a group for routing (0-100): the share of members who spoke in the last
    7 days, messages per member, minus voluntary leaves and open staff tasks. (The full diagnosis lives in
    ``analytics``; routing runs on every newcomer and needs only the counters.)

Things to keep in mind:
    * ``reserve`` keeps a few places free in each group (people re-joining, staff); a group at
      ``capacity - reserve`` is full for the live code.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Literal


@dataclass(frozen=True, slots=True)
class Slot:
    """One group a live code may send people to."""

    key: str  # platform:id
    name: str
    members: int
    capacity: int
    owner: str = ""  # the staff account that owns the group ("" none known)
    health: int = 50
    active: bool = True


@dataclass(frozen=True, slots=True)
class Route:
    """Where a newcomer goes: an existing ``group``, or a new group to ``create`` / a ``staff_task`` to open."""

    kind: Literal["group", "create", "staff_task"]
    group: str = ""
    reason: str = ""
    skipped: Mapping[str, str] | None = None  # group key → why it was passed over


def health(members: int, speakers_7d: int, messages_7d: int, leaves_7d: int = 0, open_tasks: int = 0) -> int:
    """A group's routing health, 0-100 (a group nobody is in yet scores a neutral 50)."""
    if members <= 0:
        return 50
    speaking = min(1.0, speakers_7d / members)
    talk = min(1.0, messages_7d / (members * 3))
    leaving = min(1.0, leaves_7d / members * 5)
    score = 60 * speaking + 40 * talk - 30 * leaving - 5 * min(open_tasks, 4)
    return max(0, min(100, round(score)))


def route(
    slots: Iterable[Slot],
    *,
    owner_capacity: Mapping[str, int] | None = None,
    reserve: int = 0,
    can_create: bool = False,
) -> Route:
    """Pick a group for one newcomer (see the module's docstring)."""
    caps = owner_capacity or {}
    groups = list(slots)
    load: dict[str, int] = {}
    for s in groups:
        if s.owner and s.active:
            load[s.owner] = load.get(s.owner, 0) + s.members
    skipped: dict[str, str] = {}
    best: Slot | None = None
    for s in sorted(groups, key=lambda x: (-x.health, x.members, x.key)):
        if not s.active:
            skipped[s.key] = "inactive"
        elif s.members >= s.capacity - reserve:
            skipped[s.key] = "full"
        elif s.owner and s.owner in caps and load.get(s.owner, 0) >= caps[s.owner]:
            skipped[s.key] = "owner_full"
        elif best is None:
            best = s
    if best is not None:
        return Route("group", best.key, "healthiest_with_room", skipped)
    return Route("create" if can_create else "staff_task", "", "all_full" if groups else "no_groups", skipped)


def next_group_name(template: str, existing: Iterable[str]) -> str:
    """The name of the next group made from the template: ``{n}`` numbered after the existing ones (读书会3群)."""
    names = set(existing)
    pattern = template if "{n}" in template else template + "{n}"
    n = 1
    while pattern.replace("{n}", str(n)) in names:
        n += 1
    return pattern.replace("{n}", str(n))
