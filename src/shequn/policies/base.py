"""The policy contract: a pure function from (community config, state, event or tick, now) to a decision.

How it works:
    The engine calls :meth:`Policy.decide` for every event whose kind is in the policy's ``kinds``, and
    :meth:`Policy.on_tick` on clock ticks when ``ticks`` is true. The policy reads the :class:`Context` (never
    changes it) and returns a :class:`Decision`: the actions to take and whether later policies should still see
    the event (``stop``: a deleted ad earns no points).

Things to keep in mind:
    * No I/O, no clock, no randomness: replaying the log must give the same decisions. Use ``ctx.now``.
    * Remember things only through internal actions (``SetState``, ``AwardPoints``, ``Tag`` …) or the decision's
      ``state`` (the policy's own scope, the cheap way); the engine applies them before the next policy runs, and
      they are replayed with the log.
    * Build actions with :meth:`Context.act` so their idempotency keys are stable.
"""

from __future__ import annotations

from abc import ABC
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any, ClassVar, NamedTuple, TypeVar

from pydantic import BaseModel, ConfigDict

from shequn.domain import Action, Event, EventKind, identity_key
from shequn.domain.state import CommunityState, GroupState, MemberState
from shequn.playbook.spec import CommunitySpec

A = TypeVar("A", bound=Action)


class PolicySettings(BaseModel):
    """Base of every policy's settings: the keys of ``policies.<name>`` in a community spec."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    enabled: bool = True


@dataclass(frozen=True, slots=True)
class GroupConfig:
    """A group bound to a community, as configured (not derived)."""

    key: str
    platform: str
    platform_id: str
    community: str
    name: str = ""
    role: str = "main"
    capacity: int | None = None
    state: str = "active"  # the lifecycle (policies.lifecycle): an archived or dissolved group gets no rhythm


@dataclass(frozen=True, slots=True)
class CommunityConfig:
    """A community's validated spec and the settings of every policy for it."""

    spec: CommunitySpec
    settings: Mapping[str, PolicySettings] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return self.spec.name

    @property
    def locale(self) -> str:
        return self.spec.locale


class Decision(NamedTuple):
    """What a policy decided: actions to take, whether to stop the event here, and its own state's changes.

    ``state`` (name → value, ``None`` deletes) changes the deciding policy's own community state exactly like
    ``SetState`` actions on its scope would, without building an action per value: the hot paths (a message's
    points, a flood window) remember something on most events. (A named tuple: immutable and cheap to make, as
    every policy makes one for every event it looks at.)
    """

    actions: tuple[Action, ...] = ()
    stop: bool = False
    state: Mapping[str, Any] | None = None


NOTHING = Decision()


def decided(actions: list[Action] | tuple[Action, ...], *, stop: bool = False) -> Decision:
    """A decision with ``actions`` (the shared :data:`NOTHING` when there are none and nothing stops)."""
    if not actions and not stop:
        return NOTHING
    return Decision(tuple(actions), stop)


_NO_SETTINGS = PolicySettings()  # what a Context holds before the engine hands it to a policy
_EMPTY: Mapping[str, Any] = MappingProxyType({})


class Context:
    """What a policy may look at for one event or tick. Read it; never change it.

    Attributes:
        now: the time of the event (or of the tick).
        event: the event, or None on a tick.
        config: the community's spec and policy settings.
        community: the community's derived state.
        group: the group the event happened in (None on ticks and for events outside a group).
        group_config: how that group is configured (name, role, capacity).
        member: the actor's member state, if the actor is known in this community.
        settings: the settings of the policy being asked.
        scope: the policy's own state (a read-only view by contract).
        workspace: the workspace-wide policy state (scope → name → value), shared by every community; read it
            with :meth:`shared`, write it with ``SetState(shared=True)``.
        previous_active_at: when the actor was last active before this event (None: never, or not an activity);
            ``member.last_active_at`` is already this event's time.
    """

    __slots__ = (
        "community",
        "config",
        "event",
        "group",
        "group_config",
        "member",
        "now",
        "policy",
        "previous_active_at",
        "scope",
        "settings",
        "workspace",
    )

    def __init__(
        self,
        *,
        now: datetime,
        config: CommunityConfig,
        community: CommunityState,
        event: Event | None = None,
        group: GroupState | None = None,
        group_config: GroupConfig | None = None,
        member: MemberState | None = None,
        workspace: Mapping[str, Mapping[str, Any]] | None = None,
        previous_active_at: datetime | None = None,
    ) -> None:
        self.now = now
        self.previous_active_at = previous_active_at
        self.config = config
        self.community = community
        self.event = event
        self.group = group
        self.group_config = group_config
        self.member = member
        self.policy = ""
        self.settings: PolicySettings = _NO_SETTINGS
        self.scope: Mapping[str, Any] = {}
        self.workspace: Mapping[str, Mapping[str, Any]] = workspace if workspace is not None else {}

    @property
    def locale(self) -> str:
        return self.config.spec.locale

    def shared(self, scope: str) -> Mapping[str, Any]:
        """One namespace of the workspace-wide state (empty when nothing was written there yet)."""
        return self.workspace.get(scope) or _EMPTY

    def member_of(self, platform: str, platform_id: str) -> MemberState | None:
        return self.community.members.get(identity_key(platform, platform_id))

    def act(self, cls: type[A], suffix: str = "", **fields: Any) -> A:
        """Build an action of this policy about the current event or tick, with a stable idempotency key.

        ``platform`` and ``group`` default to the event's; ``suffix`` tells several actions of one decision apart.
        """
        e = self.event
        if e is not None:
            cause = base = e.id
            if "platform" not in fields:
                fields["platform"] = e.platform
            if "group" not in fields:
                fields["group"] = e.group
        else:
            cause, base = "", f"tick@{self.now.isoformat()}"
            fields.setdefault("platform", "")
            fields.setdefault("group", "")
        policy = self.policy
        return cls(
            key=f"{policy}:{base}:{suffix}" if suffix else f"{policy}:{base}",
            at=self.now,
            community=self.config.spec.name,
            policy=policy,
            cause=cause,
            **fields,
        )


class Policy(ABC):
    """Base of every policy. Subclasses set the class attributes and override what they need.

    Attributes:
        name: the key under ``policies:`` in a spec and the policy's state scope.
        settings_model: its settings (defaults come from the playbook).
        kinds: the event kinds it looks at (the engine asks no other).
        ticks: whether it also runs on clock ticks.
        admits: whether it decides who is admitted: while it is enabled for a community, member numbers go only to
            the members it admits (with an ``Admit`` action) instead of to everyone at their first join.
        direct: whether it also hears private messages to the bot (message events with ``extra.direct`` and no
            group, handed over with the community of their sender and ``ctx.group`` None).
    """

    name: ClassVar[str]
    settings_model: ClassVar[type[PolicySettings]] = PolicySettings
    kinds: ClassVar[frozenset[EventKind]] = frozenset()
    ticks: ClassVar[bool] = False
    admits: ClassVar[bool] = False
    direct: ClassVar[bool] = False

    def active(self, settings: PolicySettings) -> bool:
        """Whether the policy acts at all under ``settings`` (asked once per community: inert policies cost nothing)."""
        return settings.enabled

    def decide(self, ctx: Context) -> Decision:
        """Decide about ``ctx.event``."""
        return NOTHING

    def on_tick(self, ctx: Context) -> Decision:
        """Decide what the passing of time calls for (``ctx.event`` is None)."""
        return NOTHING

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        """Problems of these settings for this community, as (field, message); checked when a spec is applied."""
        return []

    def raw_settings(self, spec: CommunitySpec) -> tuple[str, Mapping[str, Any]]:
        """Where in the spec the settings are (the path errors name) and what they are validated from:
        ``policies.<name>`` unless a policy has a section of its own (``automations:``)."""
        return f"policies.{self.name}", spec.policies.get(self.name) or {}
