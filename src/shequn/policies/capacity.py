"""Capacity (规模控制): one in, one out (秋叶PPT's 69, 003 line 497), soft caps and platform caps with warnings.

How it works:
    The group's size policy comes from the spec (``size.policy``, with ``size.capacity`` / the group's own
    ``capacity`` overriding the playbook's figure). On each join into a one-in-one-out group that is now over
    capacity, the member silent longest makes room (never staff; book 003:497 要进一个,就得踢出一个), or with
    ``confirm`` staff get a task naming them, for a person to confirm; or, with ``when_full: newcomer_waits``, the
    newcomer waits (removed, told their place on the waiting list, offered the next free seat, which is held for
    them for ``seat_hours``). For every
    policy, staff get a task when a group reaches its warning share of capacity, and again when a soft cap is
    passed; the warning re-arms when the group shrinks below the mark.

Things to keep in mind:
    * State per group: ``wait:<group>`` (waiting list of member keys), ``held:<group>`` (the seat offered, until
      when), ``warned:<group>`` (the highest mark warned about).
"""

from __future__ import annotations

import math
from datetime import timedelta
from functools import cache
from typing import ClassVar, Literal

from pydantic import Field

from shequn.domain import Action, DirectMessage, EventKind, Join, JoinMethod, Leave, OpenStaffTask, Remove, SetState
from shequn.domain.records import iso, parse_iso
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, book, check_texts, has_role, say

NAME = "capacity"


class CapacitySettings(BookSettings):
    """``policies.capacity``: what happens when a one-in-one-out group is full."""

    when_full: Literal["newcomer_waits", "least_active_leaves"] = book(NAME, "when_full")
    confirm: bool = book(NAME, "confirm")
    seat_hours: int = Field(default_factory=lambda: load_playbook().default(NAME, "seat_hours"), ge=1)
    staff_roles: list[str] = book(NAME, "staff_roles")


@cache
def _size_policy(key: str) -> tuple[str, int, float]:
    p = next(p for p in load_playbook().sizes.policies if p.key == key)
    return p.mode, p.capacity, p.warn_at


def size_of(ctx: Context) -> tuple[str, int, float]:
    """(mode, capacity, warning share) of the event's group."""
    size = ctx.config.spec.size
    mode, capacity, warn_at = _size_policy(size.policy)
    gcap = ctx.group_config.capacity if ctx.group_config else None
    return mode, gcap or size.capacity or capacity, size.warn_at or warn_at


class Capacity(Policy):
    """Keep groups within their size: one in, one out, and warnings before caps."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = CapacitySettings
    kinds = frozenset({EventKind.JOIN, EventKind.LEAVE})

    def decide(self, ctx: Context) -> Decision:
        e, group = ctx.event, ctx.group
        s = ctx.settings
        assert isinstance(s, CapacitySettings)
        if e is None or group is None or ctx.member is None:
            return NOTHING
        mode, capacity, warn_at = size_of(ctx)
        n = len(group.members)
        actions: list[Action] = []
        if isinstance(e, Join):
            if e.method is JoinMethod.ROSTER:
                return NOTHING
            if mode == "one_in_one_out":
                decision = self._full(ctx, s, e, capacity, n)
                if decision is not None:
                    if decision.stop:
                        return decision
                    actions.extend(decision.actions)
                    n -= 1
            actions.extend(self._warn(ctx, mode, capacity, warn_at, n))
        elif isinstance(e, Leave):
            actions.extend(self._rearm(ctx, capacity, warn_at, n))
            if mode == "one_in_one_out" and n < capacity:
                actions.extend(self._offer_seat(ctx, s, capacity))
        return Decision(tuple(actions))

    def _full(self, ctx: Context, s: CapacitySettings, e: Join, capacity: int, n: int) -> Decision | None:
        member = ctx.member
        group = ctx.group
        assert member is not None and group is not None
        gkey = group.key
        held = ctx.scope.get(f"held:{gkey}")
        holder_ok = bool(held and held["member"] == member.key)
        seats = capacity - (1 if held and not holder_ok and parse_iso(held["until"]) > ctx.now else 0)
        actions: list[Action] = []
        if holder_ok:
            actions.append(ctx.act(SetState, "taken", scope=NAME, name=f"held:{gkey}", value=None))
        if n <= seats or has_role(ctx.config.spec, s.staff_roles, member, e.actor):
            return Decision(tuple(actions)) if actions else None
        gname = (ctx.group_config.name if ctx.group_config else "") or ctx.config.name
        if s.when_full == "newcomer_waits":
            wait = list(ctx.scope.get(f"wait:{gkey}") or [])
            if member.key not in wait:
                wait.append(member.key)
            position = wait.index(member.key) + 1
            text = say(ctx, NAME, "waitlist", group=gname, capacity=capacity, position=position)
            actions += [
                ctx.act(Remove, "full", target=e.actor, reason="full"),
                ctx.act(DirectMessage, "wait", target=e.actor, text=text),
                ctx.act(SetState, "wait", scope=NAME, name=f"wait:{gkey}", value=wait),
            ]
            return Decision(tuple(actions), stop=True)
        community = ctx.community
        candidates = [
            m
            for k in group.members
            if k != member.key
            and (m := community.members.get(k)) is not None
            and not has_role(ctx.config.spec, s.staff_roles, m, k.partition(":")[2])
        ]
        if not candidates:
            return Decision(tuple(actions)) if actions else None
        leaving = min(candidates, key=lambda m: (m.last_active_at or group.members[m.key], m.number))
        pid = leaving.key.partition(":")[2]
        if s.confirm:
            title = t("policies.capacity.confirm", ctx.locale, group=gname, capacity=capacity, name=leaving.name or pid)
            why = t(
                "policies.capacity.confirm_why", ctx.locale, newcomer=member.name or e.actor, name=leaving.name or pid
            )
            actions.append(ctx.act(OpenStaffTask, "room", title=title, instructions=why))
            return Decision(tuple(actions))
        actions += [
            ctx.act(Remove, "room", target=pid, reason="one_in_one_out"),
            ctx.act(
                DirectMessage, "room", target=pid, text=say(ctx, NAME, "made_room", group=gname, capacity=capacity)
            ),
        ]
        return Decision(tuple(actions))

    def _offer_seat(self, ctx: Context, s: CapacitySettings, capacity: int) -> list[Action]:
        group = ctx.group
        assert group is not None
        gkey = group.key
        held = ctx.scope.get(f"held:{gkey}")
        if held and parse_iso(held["until"]) > ctx.now:
            return []
        wait = list(ctx.scope.get(f"wait:{gkey}") or [])
        while wait:
            key = wait.pop(0)
            m = ctx.community.members.get(key)
            if m is None or gkey in m.groups:
                continue
            gname = (ctx.group_config.name if ctx.group_config else "") or ctx.config.name
            until = ctx.now + timedelta(hours=s.seat_hours)
            return [
                ctx.act(SetState, "wait", scope=NAME, name=f"wait:{gkey}", value=wait or None),
                ctx.act(SetState, "held", scope=NAME, name=f"held:{gkey}", value={"member": key, "until": iso(until)}),
                ctx.act(
                    DirectMessage,
                    "seat",
                    target=key.partition(":")[2],
                    text=say(ctx, NAME, "seat_free", group=gname, hours=s.seat_hours),
                ),
            ]
        return (
            [ctx.act(SetState, "wait", scope=NAME, name=f"wait:{gkey}", value=None)]
            if ctx.scope.get(f"wait:{gkey}")
            else []
        )

    def _warn(self, ctx: Context, mode: str, capacity: int, warn_at: float, n: int) -> list[Action]:
        group = ctx.group
        assert group is not None
        mark = math.ceil(capacity * warn_at)
        level = 2 if n > capacity else 1 if n >= mark else 0
        warned = int(ctx.scope.get(f"warned:{group.key}", 0))
        if level <= warned or (level == 2 and mode == "one_in_one_out"):
            return []
        gname = (ctx.group_config.name if ctx.group_config else "") or group.key
        key = "policies.capacity.over" if level == 2 else "policies.capacity.near"
        title = t(key, ctx.locale, group=gname, n=n, capacity=capacity)
        advice = t(f"policies.capacity.advice_{mode}", ctx.locale)
        return [
            ctx.act(OpenStaffTask, f"warn{level}", title=title, instructions=advice),
            ctx.act(SetState, "warned", scope=NAME, name=f"warned:{group.key}", value=level),
        ]

    def _rearm(self, ctx: Context, capacity: int, warn_at: float, n: int) -> list[Action]:
        group = ctx.group
        assert group is not None
        warned = int(ctx.scope.get(f"warned:{group.key}", 0))
        level = 2 if n > capacity else 1 if n >= math.ceil(capacity * warn_at) else 0
        if level >= warned:
            return []
        return [ctx.act(SetState, "rearm", scope=NAME, name=f"warned:{group.key}", value=level or None)]

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, CapacitySettings)
        problems = check_texts(NAME, settings)
        roles = {r.key for r in load_playbook().roles.roles}
        problems += [
            (f"staff_roles.{i}", f"unknown role {r!r}; roles are {sorted(roles)}")
            for i, r in enumerate(settings.staff_roles)
            if r not in roles
        ]
        return problems
