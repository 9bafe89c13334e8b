"""Derived state: what the engine knows about communities, groups and members after the events so far.

Everything here is rebuilt by replaying the event log; :meth:`State.to_dict` gives a canonical form, so a replay
can be compared with the state a live run persisted.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from enum import StrEnum
from typing import Any

from shequn.domain.records import iso, parse_iso


class MemberStatus(StrEnum):
    PENDING = "pending"  # known (an application, a payment) but not in any group yet: no member number
    ACTIVE = "active"
    LEFT = "left"
    REMOVED = "removed"
    BANNED = "banned"


def _t(dt: datetime | None) -> str | None:
    return iso(dt) if dt else None


def _pt(text: str | None) -> datetime | None:
    return parse_iso(text) if text else None


@dataclass(slots=True)
class MemberState:
    """A person in a community (成员), known by their identity key ``platform:id``."""

    key: str
    number: int  # member number (成员编号), given at first join (0: none yet), never reused
    name: str = ""
    status: MemberStatus = MemberStatus.ACTIVE
    joined_at: datetime | None = None
    left_at: datetime | None = None
    via: str = ""  # join method
    inviter: str = ""  # identity key of the inviter
    invite_code: str = ""
    groups: set[str] = field(default_factory=set)  # group keys the member is in now
    roles: set[str] = field(default_factory=set)
    tags: set[str] = field(default_factory=set)
    points: int = 0
    level: int = 0
    messages: int = 0
    last_active_at: datetime | None = None
    rules_version: int = 0  # version of the rules accepted (0: none)

    @property
    def active(self) -> bool:
        return self.status is MemberStatus.ACTIVE

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "number": self.number,
            "name": self.name,
            "status": self.status.value,
            "joined_at": _t(self.joined_at),
            "left_at": _t(self.left_at),
            "via": self.via,
            "inviter": self.inviter,
            "invite_code": self.invite_code,
            "groups": sorted(self.groups),
            "roles": sorted(self.roles),
            "tags": sorted(self.tags),
            "points": self.points,
            "level": self.level,
            "messages": self.messages,
            "last_active_at": _t(self.last_active_at),
            "rules_version": self.rules_version,
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> MemberState:
        return cls(
            key=d["key"],
            number=d["number"],
            name=d.get("name", ""),
            status=MemberStatus(d.get("status", "active")),
            joined_at=_pt(d.get("joined_at")),
            left_at=_pt(d.get("left_at")),
            via=d.get("via", ""),
            inviter=d.get("inviter", ""),
            invite_code=d.get("invite_code", ""),
            groups=set(d.get("groups", ())),
            roles=set(d.get("roles", ())),
            tags=set(d.get("tags", ())),
            points=d.get("points", 0),
            level=d.get("level", 0),
            messages=d.get("messages", 0),
            last_active_at=_pt(d.get("last_active_at")),
            rules_version=d.get("rules_version", 0),
        )


@dataclass(slots=True)
class GroupState:
    """One chat room as the engine sees it."""

    key: str  # platform:id
    community: str
    members: dict[str, datetime] = field(default_factory=dict)  # member key → joined at
    joins: int = 0  # joins ever seen (for "every N newcomers")
    messages: int = 0
    last_message_at: datetime | None = None

    def to_dict(self) -> dict[str, Any]:
        return {
            "key": self.key,
            "community": self.community,
            "members": {k: iso(v) for k, v in sorted(self.members.items())},
            "joins": self.joins,
            "messages": self.messages,
            "last_message_at": _t(self.last_message_at),
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> GroupState:
        return cls(
            key=d["key"],
            community=d["community"],
            members={k: parse_iso(v) for k, v in d.get("members", {}).items()},
            joins=d.get("joins", 0),
            messages=d.get("messages", 0),
            last_message_at=_pt(d.get("last_message_at")),
        )


@dataclass(slots=True)
class CommunityState:
    """A community's members and the policies' own state (namespaced by scope)."""

    name: str
    members: dict[str, MemberState] = field(default_factory=dict)
    next_number: int = 1
    policy: dict[str, dict[str, Any]] = field(default_factory=dict)  # scope → name → JSON value

    def scope(self, name: str) -> dict[str, Any]:
        """The state namespace of one policy (created empty on first use)."""
        s = self.policy.get(name)
        if s is None:
            s = self.policy[name] = {}
        return s

    @property
    def pristine(self) -> bool:
        """Nothing has happened in this community yet."""
        return not self.members and self.next_number == 1 and not any(self.policy.values())

    def to_dict(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "next_number": self.next_number,
            "members": {k: m.to_dict() for k, m in sorted(self.members.items())},
            "policy": {s: dict(sorted(v.items())) for s, v in sorted(self.policy.items()) if v},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> CommunityState:
        return cls(
            name=d["name"],
            next_number=d.get("next_number", 1),
            members={k: MemberState.from_dict(m) for k, m in d.get("members", {}).items()},
            policy={s: dict(v) for s, v in d.get("policy", {}).items()},
        )


@dataclass(slots=True)
class State:
    """All derived state of one workspace.

    ``workspace`` is the policies' state shared by every community of the workspace (scope → name → JSON value):
    the blacklist that follows a member across groups, the classifier learned from the operators' labels.
    """

    communities: dict[str, CommunityState] = field(default_factory=dict)
    groups: dict[str, GroupState] = field(default_factory=dict)
    events: int = 0  # events applied
    workspace: dict[str, dict[str, Any]] = field(default_factory=dict)

    def community(self, name: str) -> CommunityState:
        c = self.communities.get(name)
        if c is None:
            c = self.communities[name] = CommunityState(name)
        return c

    def shared(self, scope: str) -> dict[str, Any]:
        """One namespace of the workspace-wide policy state (created empty on first use)."""
        s = self.workspace.get(scope)
        if s is None:
            s = self.workspace[scope] = {}
        return s

    def to_dict(self) -> dict[str, Any]:
        """Canonical form: equal states give equal dictionaries."""
        return {
            "events": self.events,
            "communities": {k: c.to_dict() for k, c in sorted(self.communities.items()) if not c.pristine},
            "groups": {k: g.to_dict() for k, g in sorted(self.groups.items())},
            "workspace": {s: dict(sorted(v.items())) for s, v in sorted(self.workspace.items()) if v},
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> State:
        return cls(
            events=d.get("events", 0),
            communities={k: CommunityState.from_dict(c) for k, c in d.get("communities", {}).items()},
            groups={k: GroupState.from_dict(g) for k, g in d.get("groups", {}).items()},
            workspace={s: dict(v) for s, v in d.get("workspace", {}).items()},
        )
