"""The group lifecycle (群的生命周期) as state and as time: which groups are archived or dissolved, and temporary groups
(the spec's ``temporary`` role) reminded of their end and archived when it comes.

How it works:
    A group's lifecycle lives in the community's ``lifecycle`` state under the group's key: ``state`` (``active``,
    ``archived``, ``dissolved``), ``since``, ``by``, and for a temporary group ``ends`` (ISO) and ``reminded`` (the
    fewest days-before of the reminders already posted). Operators change it with ``shequn group …``
    (:mod:`shequn.services.lifecycle`), which logs an ``operator_action`` event (``group_state``, ``group_ends``) that
    the engine applies here, so a replay rebuilds it. On each tick this policy posts the reminders
    (``remind_days``: book 1690, 你需要多发几遍) and, at the end, the farewell, holds the group (a whole-group mute) and
    records it ``archived``.

Things to keep in mind:
    * A temporary group's end comes from its spec entry (``groups: [{role: temporary, ends: …}]``) or from
      ``shequn group temporary … --ends``, which wins; a naive time is the community's local time.
    * Pure: it reads the spec and its own state, nothing else.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field

from shequn.domain import Action, Mute, Post
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import MemberState
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, book, check_texts, say, zone

NAME = LIFECYCLE = "lifecycle"
ACTIVE, ARCHIVED, DISSOLVED = "active", "archived", "dissolved"
STATES = (ACTIVE, ARCHIVED, DISSOLVED)
# The operator_action ops the engine applies to the lifecycle state.
LIFECYCLE_OPS = frozenset({"group_state", "group_ends"})


class LifecycleSettings(BookSettings):
    """``policies.lifecycle``: how a split picks its segment, when temporary groups are reminded."""

    split_by: str = book(NAME, "split_by")
    remind_days: list[int] = book(NAME, "remind_days")
    merge_active_days: int = Field(default_factory=lambda: _default("merge_active_days"), ge=1)


def _default(key: str) -> Any:
    from shequn.playbook import load_playbook

    return load_playbook().default(NAME, key)


def group_state(scope: Any, gkey: str) -> str:
    """A group's lifecycle state in a community's ``lifecycle`` state (``active`` when never changed)."""
    entry = scope.get(gkey) if scope else None
    return str(entry.get("state", ACTIVE)) if isinstance(entry, dict) else ACTIVE


def local_end(value: str | datetime, timezone: str) -> datetime:
    """An end date or time as an aware instant: a naive one is local time of the community."""
    at = parse_iso(value) if isinstance(value, str) else value
    return at if at.tzinfo is not None else at.replace(tzinfo=zone(timezone))


def temporary_ends(spec: CommunitySpec, scope: Any) -> dict[str, datetime]:
    """Group key → when it ends, for every temporary group with an end (the operator's over the spec's)."""
    out = {
        f"{g.platform}:{g.id}": local_end(g.ends, spec.timezone)
        for g in spec.groups
        if g.role == "temporary" and g.ends is not None
    }
    for gkey, entry in (scope or {}).items():
        if isinstance(entry, dict) and entry.get("ends"):
            out[gkey] = local_end(str(entry["ends"]), spec.timezone)
    return out


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def split_segment(members: Sequence[MemberState], by: str, count: int | None = None) -> list[MemberState]:
    """Who a split invites to the new group: with ``by`` ``tag:NAME`` the members with that tag; with ``activity``
    the quietest (fewest messages, then longest silent), with ``joined`` the latest to join; ``count`` of them
    (half the group by default)."""
    if by.startswith("tag:"):
        tagged = sorted((m for m in members if by[4:] in m.tags), key=lambda m: m.key)
        return tagged[:count] if count else tagged
    n = count or len(members) // 2
    if by == "joined":
        order = sorted(members, key=lambda m: (m.joined_at or _EPOCH, m.key), reverse=True)
    else:
        order = sorted(members, key=lambda m: (m.messages, m.last_active_at or _EPOCH, m.key))
    return order[:n]


class Lifecycle(Policy):
    """Temporary groups end on time: reminders before, then the farewell and the archive."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = LifecycleSettings
    ticks = True

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, LifecycleSettings)
        problems = check_texts(NAME, settings)
        by = settings.split_by
        if by not in ("activity", "joined") and not (by.startswith("tag:") and len(by) > 4):
            problems.append(("split_by", f"{by!r}: use activity, joined or tag:NAME"))
        if any(d < 1 for d in settings.remind_days):
            problems.append(("remind_days", "each reminder is at least 1 day before the end"))
        return problems

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, LifecycleSettings)
        spec = ctx.config.spec
        ends = temporary_ends(spec, ctx.scope)
        if not ends:
            return NOTHING
        actions: list[Action] = []
        changes: dict[str, Any] = {}
        for gkey, end in sorted(ends.items()):
            entry = dict(ctx.scope.get(gkey) or {})
            if entry.get("state", ACTIVE) != ACTIVE:
                continue
            platform, _, group = gkey.partition(":")
            common: dict[str, Any] = dict(at=ctx.now, community=spec.name, platform=platform, group=group, policy=NAME)
            if ctx.now >= end:
                key = f"{NAME}:{gkey}:{iso(end)}"
                actions.append(Post(key=f"{key}:farewell", text=say(ctx, NAME, "archive"), **common))
                actions.append(Mute(key=f"{key}:hold", reason="archived", **common))
                entry.update(state=ARCHIVED, since=iso(ctx.now), by=NAME)
                changes[gkey] = entry
                continue
            left = math.ceil((end - ctx.now) / timedelta(days=1))
            due = [d for d in s.remind_days if left <= d]
            if not due or min(due) >= int(entry.get("reminded", 1 << 30)):
                continue
            entry["reminded"] = min(due)
            changes[gkey] = entry
            text = say(ctx, NAME, "temporary_reminder", ends=end.astimezone(zone(spec.timezone)).date(), days=left)
            actions.append(Post(key=f"{NAME}:{gkey}:{iso(end)}:remind:{min(due)}", text=text, **common))
        if not changes:
            return NOTHING
        return Decision(tuple(actions), False, changes)
