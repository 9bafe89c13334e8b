"""The engine: events in, through the ordered policies, actions and derived state out.

How it works:
    :meth:`Engine.handle` first applies the event's facts to the derived state (a join makes a member and gives a
    member number; a message counts as activity), then asks each policy that looks at this kind of event, in
    order. Internal actions (points, tags, levels, roles, policy state) are applied at once, so a later policy sees
    them; external actions are returned for the outbox. A policy may stop the event for the policies after it.

    :meth:`Engine.tick` asks the time-driven policies what the passing of time calls for. When they decide
    something, the tick is returned as a :class:`~shequn.domain.Tick` event for the log, so that a replay decides
    the same at the same moment; ticks that decide nothing are not logged (they changed nothing).

Things to keep in mind:
    * The engine does no I/O and never reads the wall clock: ``now`` is the event's time or the tick's.
    * Replaying the log into a fresh engine gives the same state (``State.to_dict()`` equal): keep it so.
    * A policy that raises is logged with the event and skipped for that event only.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime

from shequn.domain import (
    Action,
    ActionKind,
    AwardPoints,
    Event,
    EventKind,
    Join,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    OperatorAction,
    SetLevel,
    SetRole,
    SetState,
    Tag,
    Tick,
    identity_key,
    stable_id,
)
from shequn.domain.records import iso
from shequn.domain.state import CommunityState, GroupState, MemberState, MemberStatus, State
from shequn.engine.config import WorkspaceConfig
from shequn.policies import Context, Decision, Policy, default_policies

log = logging.getLogger("shequn.engine")

_LEAVE_STATUS = {
    LeaveReason.REMOVED: MemberStatus.REMOVED,
    LeaveReason.BANNED: MemberStatus.BANNED,
}
_ACTIVITY = frozenset({EventKind.MESSAGE, EventKind.REACTION, EventKind.EDIT, EventKind.CHECK_IN})


class Engine:
    """Runs policies over events for one workspace.

    Args:
        config: communities and bound groups.
        policies: the policies in the order they run (default: :func:`shequn.policies.default_policies`).
        state: state to continue from (default: empty).
    """

    def __init__(
        self, config: WorkspaceConfig, policies: Sequence[Policy] | None = None, state: State | None = None
    ) -> None:
        self.config = config
        self.policies = list(default_policies() if policies is None else policies)
        self.state = state or State()
        self.errors = 0
        self._by_kind: dict[EventKind, list[Policy]] = {}
        for p in self.policies:
            for kind in p.kinds:
                self._by_kind.setdefault(kind, []).append(p)
        self._tickers = [p for p in self.policies if p.ticks]
        self.dirty = Dirty()
        self._applied = 0  # internal actions applied so far (tells a tick that decided nothing)

    @property
    def has_tickers(self) -> bool:
        """Whether any policy runs on clock ticks."""
        return bool(self._tickers)

    # -- events ---------------------------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        """Apply ``event`` and return the external actions the policies decided (internal ones are applied)."""
        state = self.state
        if event.kind is EventKind.TICK:
            state.events += 1
            return self._run_tickers(event.at)
        state.events += 1
        if event.kind is EventKind.OPERATOR_ACTION:
            assert isinstance(event, OperatorAction)
            self._apply_operator(event)
            return []
        gkey = f"{event.platform}:{event.group}"
        gconf = self.config.groups.get(gkey)
        if gconf is None:
            return []  # a group bound to no community: logged, not acted on
        community = state.community(gconf.community)
        group = state.groups.get(gkey)
        if group is None:
            group = state.groups[gkey] = GroupState(gkey, gconf.community)
        self.dirty.groups.add(gkey)
        member = self._apply_facts(event, community, group) if event.actor else None
        policies = self._by_kind.get(event.kind)
        if not policies:
            return []
        cconf = self.config.communities[gconf.community]
        ctx = Context(
            now=event.at,
            config=cconf,
            community=community,
            event=event,
            group=group,
            group_config=gconf,
            member=member,
        )
        return self._run(policies, ctx, _decide)

    def _apply_facts(self, event: Event, community: CommunityState, group: GroupState) -> MemberState:
        akey = f"{event.platform}:{event.actor}"
        member = community.members.get(akey)
        kind = event.kind
        if member is None:
            # First sight: a join, or history that starts after the member joined.
            member = MemberState(key=akey, number=community.next_number, name=event.actor_name)
            community.next_number += 1
            community.members[akey] = member
            self.dirty.communities.add(community.name)
            if kind is not EventKind.JOIN:
                member.groups.add(group.key)
                group.members.setdefault(akey, event.at)
        elif event.actor_name and event.actor_name != member.name and kind is not EventKind.NICKNAME_CHANGE:
            member.name = event.actor_name
        self.dirty.members.add((community.name, akey))
        if kind is EventKind.MESSAGE:
            assert isinstance(event, Message)
            group.messages += 1
            group.last_message_at = event.at
            member.messages += 1
            member.last_active_at = event.at
        elif kind in _ACTIVITY:
            member.last_active_at = event.at
        elif kind is EventKind.JOIN:
            assert isinstance(event, Join)
            if member.joined_at is None or not member.active:
                member.joined_at = member.joined_at or event.at
                member.via = event.method.value
                member.inviter = identity_key(event.platform, event.inviter) if event.inviter else ""
                member.invite_code = event.invite_code
            member.status = MemberStatus.ACTIVE
            member.left_at = None
            member.groups.add(group.key)
            group.members[akey] = event.at
            group.joins += 1
        elif kind is EventKind.LEAVE:
            assert isinstance(event, Leave)
            member.groups.discard(group.key)
            group.members.pop(akey, None)
            if not member.groups:
                member.status = _LEAVE_STATUS.get(event.reason, MemberStatus.LEFT)
                member.left_at = event.at
        elif kind is EventKind.NICKNAME_CHANGE:
            assert isinstance(event, NicknameChange)
            member.name = event.new
        return member

    def _apply_operator(self, event: OperatorAction) -> None:
        """A change an operator made by hand (a tag on a member): applied like an internal action."""
        if event.community not in self.config.communities or event.op not in ("tag", "untag"):
            log.warning("operator action %s on %s ignored", event.op, event.community)
            return
        community = self.state.community(event.community)
        member = community.members.get(identity_key(event.platform, event.target))
        if member is None:
            log.warning("operator action for unknown member %s:%s ignored", event.platform, event.target)
            return
        (member.tags.add if event.op == "tag" else member.tags.discard)(event.value)
        self.dirty.members.add((community.name, member.key))

    # -- ticks ----------------------------------------------------------------------------------------------

    def tick(self, now: datetime) -> tuple[Tick | None, list[Action]]:
        """Run the time-driven policies at ``now``; return the tick to log (None if nothing was decided)."""
        if not self._tickers:
            return None, []
        applied = self._applied
        actions = self._run_tickers(now)
        if not actions and self._applied == applied:
            return None, []
        self.state.events += 1
        return Tick(id=stable_id("tick", iso(now)), at=now, platform="shequn", job="policies"), actions

    def _run_tickers(self, now: datetime) -> list[Action]:
        out: list[Action] = []
        for name, cconf in self.config.communities.items():
            ctx = Context(now=now, config=cconf, community=self.state.community(name))
            out.extend(self._run(self._tickers, ctx, _on_tick))
        return out

    # -- running policies ----------------------------------------------------------------------------------

    def _run(
        self, policies: Iterable[Policy], ctx: Context, call: Callable[[Policy, Context], Decision]
    ) -> list[Action]:
        out: list[Action] = []
        settings = ctx.config.settings
        community = ctx.community
        for policy in policies:
            s = settings.get(policy.name)
            if s is None or not s.enabled:
                continue
            ctx.policy = policy.name
            ctx.settings = s
            ctx.scope = community.policy.get(policy.name) or {}
            try:
                decision = call(policy, ctx)
            except Exception:
                self.errors += 1
                log.exception(
                    "policy %s failed on %s; skipped for this event",
                    policy.name,
                    ctx.event.id if ctx.event else f"tick {iso(ctx.now)}",
                )
                continue
            for action in decision.actions:
                if action.internal:
                    self._apply_internal(action, community)
                else:
                    out.append(action)
            if decision.stop:
                break
        return out

    def _apply_internal(self, action: Action, community: CommunityState) -> None:
        self._applied += 1
        kind = action.kind
        if kind is ActionKind.SET_STATE:
            assert isinstance(action, SetState)
            scope = community.scope(action.scope)
            self.dirty.policy.add((community.name, action.scope, action.name))
            if action.value is None:
                scope.pop(action.name, None)
            else:
                scope[action.name] = action.value
            return
        member = community.members.get(identity_key(action.platform, action.target))
        if member is None:
            log.warning("%s for unknown member %s:%s ignored", kind.value, action.platform, action.target)
            return
        self.dirty.members.add((community.name, member.key))
        if kind is ActionKind.AWARD_POINTS:
            assert isinstance(action, AwardPoints)
            member.points += action.points
        elif kind is ActionKind.TAG:
            assert isinstance(action, Tag)
            (member.tags.discard if action.remove else member.tags.add)(action.tag)
        elif kind is ActionKind.SET_LEVEL:
            assert isinstance(action, SetLevel)
            member.level = action.level
        elif kind is ActionKind.SET_ROLE:
            assert isinstance(action, SetRole)
            (member.roles.discard if action.remove else member.roles.add)(action.role)

    def take_dirty(self) -> Dirty:
        """What changed since the last call (for saving only that), and start afresh."""
        dirty, self.dirty = self.dirty, Dirty()
        return dirty


@dataclass(slots=True)
class Dirty:
    """The parts of the state changed since the engine last handed them over for saving."""

    members: set[tuple[str, str]] = field(default_factory=set)  # (community, member key)
    groups: set[str] = field(default_factory=set)  # group keys
    communities: set[str] = field(default_factory=set)  # communities whose counters changed
    policy: set[tuple[str, str, str]] = field(default_factory=set)  # (community, scope, name)


def _decide(policy: Policy, ctx: Context) -> Decision:
    return policy.decide(ctx)


def _on_tick(policy: Policy, ctx: Context) -> Decision:
    return policy.on_tick(ctx)


def replay(config: WorkspaceConfig, events: Iterable[Event], policies: Sequence[Policy] | None = None) -> Engine:
    """A fresh engine fed ``events`` in order (actions are decided and dropped): the state the log implies."""
    engine = Engine(config, policies)
    for e in events:
        engine.handle(e)
    return engine
