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
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import MappingProxyType
from typing import Any

from shequn.domain import (
    RULES_FORM,
    Action,
    ActionKind,
    AwardPoints,
    Event,
    EventKind,
    FormAnswer,
    Join,
    JoinMethod,
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
from shequn.policies import NOTHING, CommunityConfig, Context, Decision, Policy, PolicySettings, default_policies
from shequn.policies.lifecycle import LIFECYCLE, LIFECYCLE_OPS

log = logging.getLogger("shequn.engine")

_LEAVE_STATUS = {
    LeaveReason.REMOVED: MemberStatus.REMOVED,
    LeaveReason.BANNED: MemberStatus.BANNED,
}
_ACTIVITY = frozenset({EventKind.MESSAGE, EventKind.REACTION, EventKind.EDIT, EventKind.CHECK_IN})
# Facts that happen outside the chat: they make a person known (an applicant, a payer), not present in the group.
_ABSENT = frozenset({EventKind.FORM_ANSWER, EventKind.ORDER, EventKind.PAYMENT, EventKind.COUPON_CLAIM})
_NO = frozenset({"no", "false", "0", "否", "不同意"})
_NO_SCOPE: Mapping[str, Any] = MappingProxyType({})  # a policy with no state yet reads this (read-only by contract)
# One policy's turn in a plan: its name, its settings for the community, and what to call (decide or on_tick).
_Step = tuple[str, PolicySettings, Callable[[Context], Decision]]


class Engine:
    """Runs policies over events for one workspace.

    Args:
        config: communities and bound groups.
        policies: the policies in the order they run (default: :func:`shequn.policies.default_policies`).
        state: state to continue from (default: empty).
        ledger: hand every points award over with the dirty state, for the points ledger (the application saves
            them; an engine nobody saves leaves it off).
    """

    def __init__(
        self,
        config: WorkspaceConfig,
        policies: Sequence[Policy] | None = None,
        state: State | None = None,
        *,
        ledger: bool = False,
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
        self._direct = frozenset(p.name for p in self.policies if p.direct)
        self.dirty = Dirty()
        self.ledger = ledger  # keep each points award for the ledger (whoever saves the state takes them)
        self._applied = 0  # internal actions applied so far (tells a tick that decided nothing)
        self._defers: dict[str, bool] = {}  # community → numbers wait for an Admit (an admitting policy is on)
        self._previous: datetime | None = None  # the actor's activity before the event being handled
        # (community, event kind or None for ticks) → (its config, the policies that act and their settings)
        self._plans: dict[tuple[str, EventKind | None], tuple[CommunityConfig, list[_Step]]] = {}

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
            assert isinstance(event, Tick)
            return self._run_tickers(event.at, event.communities)
        state.events += 1
        if event.kind is EventKind.OPERATOR_ACTION:
            assert isinstance(event, OperatorAction)
            if event.op in ("tag", "untag") or event.op in LIFECYCLE_OPS:
                self._apply_operator(event)
                return []
            return self._outside(event, event.community)  # the inbox's: an item assigned, answered, resolved
        gkey = f"{event.platform}:{event.group}"
        gconf = self.config.groups.get(gkey)
        if gconf is None:
            if event.kind is EventKind.MESSAGE and not event.group and event.extra.get("direct"):
                return self._outside(event, self._community_of(event), direct=True)
            return []  # a group bound to no community: logged, not acted on
        community = state.community(gconf.community)
        group = state.groups.get(gkey)
        if group is None:
            group = state.groups[gkey] = GroupState(gkey, gconf.community)
        self.dirty.groups.add(gkey)
        cconf = self.config.communities[gconf.community]
        self._previous = None
        member = self._apply_facts(event, community, group, cconf) if event.actor else None
        policies = self._plan(cconf, event.kind)
        if not policies:
            return []
        closed = community.policy.get(LIFECYCLE)
        if closed and gkey in closed and closed[gkey].get("state", "active") != "active":
            return []  # an archived or dissolved group: its facts count, no policy acts there any more
        ctx = Context(
            now=event.at,
            config=cconf,
            community=community,
            event=event,
            group=group,
            group_config=gconf,
            member=member,
            workspace=state.workspace,
            previous_active_at=self._previous,
        )
        return self._run(policies, ctx)

    def _outside(self, event: Event, community: str | None, *, direct: bool = False) -> list[Action]:
        """An event that belongs to a community but to none of its groups: an operator's action (an inbox item
        assigned, answered or resolved; staff linked) or a private message to the bot. Only the policies that
        look at its kind hear it (for a private message, those that take them: ``direct``), with no group."""
        cconf = self.config.communities.get(community or "")
        if cconf is None:
            return []
        plan = self._plan(cconf, event.kind)
        if direct:
            plan = [step for step in plan if step[0] in self._direct]
        if not plan:
            return []
        state = self.state.community(cconf.name)
        member = state.members.get(identity_key(event.platform, event.actor)) if event.actor else None
        ctx = Context(
            now=event.at, config=cconf, community=state, event=event, member=member, workspace=self.state.workspace
        )
        return self._run(plan, ctx)

    def _community_of(self, event: Event) -> str | None:
        """The community a private message belongs to: the first (by name) where its sender is a member."""
        key = identity_key(event.platform, event.actor)
        for name in sorted(self.config.communities):
            c = self.state.communities.get(name)
            if c is not None and key in c.members:
                return name
        return None

    def _plan(self, cconf: CommunityConfig, kind: EventKind | None) -> list[_Step]:
        """The policies that act for ``kind`` (None: on ticks) in a community, in order, with their settings.

        Worked out once per community and kind: a disabled policy, or one its settings make inert, costs nothing.
        """
        entry = self._plans.get((cconf.name, kind))
        if entry is None or entry[0] is not cconf:
            candidates = self._tickers if kind is None else self._by_kind.get(kind, [])
            plan: list[_Step] = []
            for p in candidates:
                s = cconf.settings.get(p.name)
                if s is not None and p.active(s):
                    plan.append((p.name, s, p.decide if kind is not None else p.on_tick))
            entry = self._plans[(cconf.name, kind)] = (cconf, plan)
        return entry[1]

    def _defers_numbers(self, cconf: CommunityConfig) -> bool:
        """Whether an admitting policy is enabled for the community (then it hands out the member numbers)."""
        defers = self._defers.get(cconf.name)
        if defers is None:
            settings = cconf.settings
            defers = self._defers[cconf.name] = any(
                p.admits and (s := settings.get(p.name)) is not None and s.enabled for p in self.policies
            )
        return defers

    def _number(self, member: MemberState, community: CommunityState) -> None:
        if member.number == 0:
            member.number = community.next_number
            community.next_number += 1
            self.dirty.communities.add(community.name)

    def _apply_facts(
        self, event: Event, community: CommunityState, group: GroupState, cconf: CommunityConfig
    ) -> MemberState:
        akey = f"{event.platform}:{event.actor}"
        member = community.members.get(akey)
        kind = event.kind
        if member is None or (member.status is MemberStatus.PENDING and kind not in _ABSENT):
            if member is None:
                member = MemberState(key=akey, number=0, name=event.actor_name)
                community.members[akey] = member
            self.dirty.communities.add(community.name)
            if kind in _ABSENT:
                # An application or a payment before joining: known, but in no group and without a number.
                member.status = MemberStatus.PENDING
            elif kind is not EventKind.JOIN:
                # History that starts after the member joined: they are evidently in the group.
                member.status = MemberStatus.ACTIVE
                member.groups.add(group.key)
                group.members.setdefault(akey, event.at)
                self.dirty.presence.add((community.name, akey))
                self._number(member, community)
            else:
                assert isinstance(event, Join)
                if event.method is JoinMethod.ROSTER or not self._defers_numbers(cconf):
                    self._number(member, community)
        if event.actor_name and event.actor_name != member.name and kind is not EventKind.NICKNAME_CHANGE:
            member.name = event.actor_name  # the latest display name (also for someone first known from a payment)
        self.dirty.members.add((community.name, akey))
        if kind is EventKind.MESSAGE:
            assert isinstance(event, Message)
            group.messages += 1
            group.last_message_at = event.at
            member.messages += 1
            self._previous = member.last_active_at
            member.last_active_at = event.at
            if member.number == 0:
                self._number(member, community)  # speaking in the group: in it, whatever a join decided (history)
        elif kind in _ACTIVITY:
            self._previous = member.last_active_at
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
            self.dirty.presence.add((community.name, akey))
        elif kind is EventKind.LEAVE:
            assert isinstance(event, Leave)
            member.groups.discard(group.key)
            group.members.pop(akey, None)
            self.dirty.presence.add((community.name, akey))
            if not member.groups:
                member.status = _LEAVE_STATUS.get(event.reason, MemberStatus.LEFT)
                member.left_at = event.at
        elif kind is EventKind.NICKNAME_CHANGE:
            assert isinstance(event, NicknameChange)
            member.name = event.new
        elif kind is EventKind.FORM_ANSWER:
            assert isinstance(event, FormAnswer)
            if event.form == RULES_FORM and str(event.answers.get("accept", "yes")).strip().lower() not in _NO:
                version = str(event.answers.get("version", "")).strip()
                member.rules_version = int(version) if version.isdigit() else cconf.spec.rules.version
        return member

    def _apply_operator(self, event: OperatorAction) -> None:
        """A change an operator made by hand (a tag on a member, a group's lifecycle): applied like an internal
        action."""
        if event.community in self.config.communities and event.op in LIFECYCLE_OPS:
            self._apply_lifecycle(event)
            return
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

    def _apply_lifecycle(self, event: OperatorAction) -> None:
        """A group's lifecycle (archived, dissolved, active again; a temporary group's end): kept in the community's
        ``lifecycle`` state under the group's key, where the lifecycle policy and the analytics read it."""
        gkey = f"{event.platform}:{event.group}"
        community = self.state.community(event.community)
        entry = dict(community.scope(LIFECYCLE).get(gkey) or {})
        if event.op == "group_state":
            entry.update(state=event.value, since=iso(event.at), by=event.by)
            entry.update({k: v for k, v in event.extra.items() if k in ("into", "reason")})
        else:  # group_ends: a temporary group's end ("" takes it away)
            entry.pop("reminded", None)
            if event.value:
                entry["ends"] = event.value
            else:
                entry.pop("ends", None)
        entry.setdefault("state", "active")
        community.scope(LIFECYCLE)[gkey] = entry
        self.dirty.policy.add((community.name, LIFECYCLE, gkey))

    # -- ticks ----------------------------------------------------------------------------------------------

    def tick(self, now: datetime, communities: Sequence[str] = ()) -> tuple[Tick | None, list[Action]]:
        """Run the time-driven policies at ``now`` (for the ``communities`` named, or every one); return the tick
        to log (None if nothing was decided)."""
        if not self._tickers:
            return None, []
        applied = self._applied
        only = tuple(sorted(communities))
        actions = self._run_tickers(now, only)
        if not actions and self._applied == applied:
            return None, []
        self.state.events += 1
        tick_id = stable_id("tick", iso(now), *only)
        return Tick(id=tick_id, at=now, platform="shequn", job="policies", communities=only), actions

    def _run_tickers(self, now: datetime, only: Sequence[str] = ()) -> list[Action]:
        out: list[Action] = []
        for name, cconf in self.config.communities.items():
            if only and name not in only:
                continue
            plan = self._plan(cconf, None)
            if not plan:
                continue
            ctx = Context(now=now, config=cconf, community=self.state.community(name), workspace=self.state.workspace)
            out.extend(self._run(plan, ctx))
        return out

    # -- running policies ----------------------------------------------------------------------------------

    def _run(self, plan: Iterable[_Step], ctx: Context) -> list[Action]:
        out: list[Action] = []
        community = ctx.community
        scopes = community.policy
        for name, s, decide in plan:
            ctx.policy = name
            ctx.settings = s
            ctx.scope = scopes.get(name) or _NO_SCOPE
            try:
                decision = decide(ctx)
            except Exception:
                self.errors += 1
                log.exception(
                    "policy %s failed on %s; skipped for this event",
                    name,
                    ctx.event.id if ctx.event else f"tick {iso(ctx.now)}",
                )
                continue
            if decision is NOTHING:
                continue  # the common case: nothing decided, nothing to apply
            actions, stop, changes = decision
            for action in actions:
                if action.internal:
                    self._apply_internal(action, community)
                else:
                    out.append(action)
            if changes:
                self._apply_state(name, changes, community)
            if stop:
                break
        return out

    def _apply_state(self, scope_name: str, changes: Mapping[str, Any], community: CommunityState) -> None:
        """A decision's changes to its policy's own state: the same as ``SetState`` actions on that scope."""
        self._applied += 1
        scope = community.scope(scope_name)
        mark = self.dirty.policy.add
        for name, value in changes.items():
            mark((community.name, scope_name, name))
            if value is None:
                scope.pop(name, None)
            else:
                scope[name] = value

    def _apply_internal(self, action: Action, community: CommunityState) -> None:
        self._applied += 1
        kind = action.kind
        if kind is ActionKind.SET_STATE:
            assert isinstance(action, SetState)
            if action.shared:
                scope = self.state.shared(action.scope)
                self.dirty.workspace.add((action.scope, action.name))
            else:
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
            if self.ledger:
                self.dirty.ledger.append((community.name, member.key, member.points, action))
        elif kind is ActionKind.ADMIT:
            if member.number == 0:
                self._number(member, community)
                self.dirty.communities.add(community.name)
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
    # (community, member key) whose groups changed (joined, left, first seen in a group): a subset of ``members``
    presence: set[tuple[str, str]] = field(default_factory=set)
    groups: set[str] = field(default_factory=set)  # group keys
    communities: set[str] = field(default_factory=set)  # communities whose counters changed
    policy: set[tuple[str, str, str]] = field(default_factory=set)  # (community, scope, name)
    workspace: set[tuple[str, str]] = field(default_factory=set)  # (scope, name) of the workspace-wide state
    # Points ledger entries (积分流水) in the order applied: (community, member key, balance after, the award).
    ledger: list[tuple[str, str, int, AwardPoints]] = field(default_factory=list)


def replay(config: WorkspaceConfig, events: Iterable[Event], policies: Sequence[Policy] | None = None) -> Engine:
    """A fresh engine fed ``events`` in order (actions are decided and dropped): the state the log implies."""
    engine = Engine(config, policies)
    for e in events:
        engine.handle(e)
    return engine
