"""Builders for events and specs used across tests."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

from shequn.domain import Join, JoinMethod, Leave, LeaveReason, Message, stable_id
from shequn.playbook.spec import CommunitySpec

_counter = itertools.count()


def spec(
    name: str = "读书会",
    type: str = "growth",
    *,
    groups: tuple[str, ...] = ("g1",),
    platform: str = "sandbox",
    **extra: Any,
) -> CommunitySpec:
    return CommunitySpec.model_validate(
        {
            "name": name,
            "type": type,
            "groups": [{"platform": platform, "id": g, "name": f"{name}{g}"} for g in groups],
            **extra,
        }
    )


def join(
    actor: str, at: datetime, *, group: str = "g1", platform: str = "sandbox", inviter: str = "", name: str = ""
) -> Join:
    return Join(
        id=stable_id("join", platform, group, actor, at.isoformat(), str(next(_counter))),
        at=at,
        platform=platform,
        group=group,
        actor=actor,
        actor_name=name or actor,
        method=JoinMethod.INVITED if inviter else JoinMethod.SELF,
        inviter=inviter,
    )


def leave(
    actor: str,
    at: datetime,
    *,
    group: str = "g1",
    platform: str = "sandbox",
    reason: LeaveReason = LeaveReason.VOLUNTARY,
) -> Leave:
    return Leave(
        id=stable_id("leave", platform, group, actor, at.isoformat(), str(next(_counter))),
        at=at,
        platform=platform,
        group=group,
        actor=actor,
        reason=reason,
    )


def msg(
    actor: str, at: datetime, text: str = "你好", *, group: str = "g1", platform: str = "sandbox", reply_to: str = ""
) -> Message:
    mid = stable_id("msg", platform, group, actor, at.isoformat(), text, str(next(_counter)))
    return Message(
        id=mid,
        at=at,
        platform=platform,
        group=group,
        actor=actor,
        actor_name=actor,
        message_id=mid,
        text=text,
        reply_to=reply_to,
    )


def timeline(start: datetime, step: timedelta = timedelta(minutes=1)) -> itertools.count[Any]:
    """An endless sequence of times (``next(t)``) one ``step`` apart."""
    return (start + i * step for i in itertools.count())  # type: ignore[return-value]
