"""Ground truth of a simulation (真值): what the generator meant, for tests, benchmarks and analytics checks.

Owns: :class:`Truth` and :class:`GroupTruth` (static: the plan; dynamic: what was actually emitted, filled when the
event stream has been drained once) and their JSON form. May import: :mod:`shequn.domain` and the standard library.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass(slots=True)
class GroupTruth:
    """One group: its plan (lifecycle, cast) and, once the events have been drained, what they show."""

    key: str  # "sim:g0007"
    platform_id: str
    name: str
    community: str
    type: str
    role: str
    shape: str
    trajectory: list[dict[str, str]]  # [{"date": "2026-09-01", "stage": "mature"}, …]
    dies_on: str | None
    dead: bool
    organizer: str
    organizer_active: bool
    assistant: str | None
    core_members: list[str]
    greeters: list[str]
    scouts: list[str]
    storytellers: list[str]
    big_names: list[str]
    size_band: str
    size_start: int
    ad_rate: float
    checkins: bool
    guest_talk_every_days: int
    # Filled from the emitted events:
    size_end: int = 0
    joins: int = 0
    leaves: int = 0
    messages: int = 0
    messages_by_day: list[int] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "platform_id": self.platform_id,
            "name": self.name,
            "community": self.community,
            "type": self.type,
            "role": self.role,
            "shape": self.shape,
            "trajectory": self.trajectory,
            "dies_on": self.dies_on,
            "dead": self.dead,
            "organizer": self.organizer,
            "organizer_active": self.organizer_active,
            "assistant": self.assistant,
            "core_members": self.core_members,
            "greeters": self.greeters,
            "scouts": self.scouts,
            "storytellers": self.storytellers,
            "big_names": self.big_names,
            "size_band": self.size_band,
            "size_start": self.size_start,
            "size_end": self.size_end,
            "joins": self.joins,
            "leaves": self.leaves,
            "messages": self.messages,
            "messages_by_day": self.messages_by_day,
            "ad_rate": round(self.ad_rate, 4),
            "checkins": self.checkins,
            "guest_talk_every_days": self.guest_talk_every_days,
        }


@dataclass(slots=True)
class Truth:
    """The whole ground truth. ``complete`` is true once the event stream has been drained."""

    params: dict[str, Any]
    communities: list[dict[str, Any]]
    groups: list[GroupTruth]
    complete: bool = False
    ad_accounts: list[str] = field(default_factory=list)
    ad_message_ids: list[str] = field(default_factory=list)
    hard_negative_message_ids: list[str] = field(default_factory=list)
    hard_negatives_by_kind: dict[str, int] = field(default_factory=dict)
    conversion: dict[str, dict[str, Any]] = field(default_factory=dict)
    renewals: dict[str, dict[str, Any]] = field(default_factory=dict)
    guest_talks: list[dict[str, Any]] = field(default_factory=list)
    cleanups: list[dict[str, Any]] = field(default_factory=list)
    events: dict[str, int] = field(default_factory=dict)

    def group(self, key: str) -> GroupTruth:
        """The truth of one group by key ("sim:g0007") or platform id ("g0007")."""
        for g in self.groups:
            if key in (g.key, g.platform_id):
                return g
        raise KeyError(key)

    def to_dict(self) -> dict[str, Any]:
        return {
            "params": self.params,
            "complete": self.complete,
            "communities": self.communities,
            "groups": [g.to_dict() for g in self.groups],
            "ad_accounts": self.ad_accounts,
            "ad_message_ids": self.ad_message_ids,
            "hard_negative_message_ids": self.hard_negative_message_ids,
            "hard_negatives_by_kind": self.hard_negatives_by_kind,
            "conversion": self.conversion,
            "renewals": self.renewals,
            "guest_talks": self.guest_talks,
            "cleanups": self.cleanups,
            "events": self.events,
        }
