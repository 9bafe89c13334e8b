"""Acknowledgements gathered (确认播报, book 2210: 一天最多发文2~3则; 2365: 其他时间不打扰群友).

How it works:
    The check-in's 签到成功, a level-up and a badge granted are acknowledgements: instead of a post each, the policy
    that makes one records its line (:func:`ack`) in this policy's state, per group; on the first tick
    ``batch_minutes`` after the first line of a batch (or when the quiet hours end), the lines gathered go out as one
    post in that group (with everyone named in them mentioned) and the batch is cleared. With ``batch_minutes: 0``
    each is posted at once.

Things to keep in mind:
    * ``p:<group key>``: the batch waiting (since when, the lines, the people mentioned). It is policy state, so a
      restart or a replay of the log has the same batch and flushes it on the same tick (never an in-memory timer).
    * A batch older than :data:`STALE` (gathered from imported history, or before a long stop) is dropped unposted.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import Field

from shequn.domain import Action, Post, SetState
from shequn.domain.records import iso, parse_iso
from shequn.playbook import load_playbook
from shequn.playbook.spec import in_window
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import BookSettings, local

NAME = "acks"
STALE = timedelta(hours=12)  # a batch older than this is dropped, not posted (a night's quiet hours are shorter)


class AcksSettings(BookSettings):
    """``policies.acks``: how long acknowledgements are gathered before they go out as one post."""

    batch_minutes: int = Field(default_factory=lambda: load_playbook().default(NAME, "batch_minutes"), ge=0, le=60)


def ack(ctx: Context, suffix: str, text: str, mentions: tuple[str, ...] = ()) -> Action:
    """An acknowledgement in the event's group: added to the group's batch, or posted at once when batching is off."""
    s = ctx.config.settings.get(NAME)
    e = ctx.event
    if e is None or not isinstance(s, AcksSettings) or not s.enabled or not s.batch_minutes:
        return ctx.act(Post, suffix, text=text, mentions=mentions)
    name = f"p:{e.platform}:{e.group}"
    batch: dict[str, Any] = dict((ctx.community.policy.get(NAME) or {}).get(name) or {})
    value = {
        "since": batch.get("since") or iso(ctx.now),
        "lines": [*batch.get("lines", []), text],
        "mentions": list(dict.fromkeys([*batch.get("mentions", []), *mentions])),
    }
    return ctx.act(SetState, f"ack:{suffix}", scope=NAME, name=name, value=value)


class Acks(Policy):
    """Post the acknowledgements gathered in each group, one post per batch."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = AcksSettings
    kinds = frozenset()
    ticks = True

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, AcksSettings)
        out: list[Action] = []
        quiet = ctx.config.spec.rhythm.quiet_hours
        lt = local(ctx.now, ctx.config.spec)
        if quiet is not None and in_window(lt.hour * 60 + lt.minute, quiet.start, quiet.end):
            return NOTHING  # 其他时间不打扰群友: what was gathered late at night goes out when the quiet hours end
        for name, batch in sorted(ctx.scope.items()):
            since = parse_iso(batch["since"]) if name.startswith("p:") else None
            if since is None or ctx.now < since + timedelta(minutes=s.batch_minutes):
                continue
            if ctx.now - since > STALE:  # gathered from imported history, or before a long stop: old news
                out.append(ctx.act(SetState, f"{name}@{batch['since']}:stale", scope=NAME, name=name, value=None))
                continue
            platform, _, group = name[2:].partition(":")
            text = "\n".join(batch["lines"])
            out.append(
                ctx.act(
                    Post,
                    f"{name}@{batch['since']}",
                    platform=platform,
                    group=group,
                    text=text,
                    mentions=tuple(batch.get("mentions", ())),
                )
            )
            out.append(ctx.act(SetState, f"{name}@{batch['since']}:done", scope=NAME, name=name, value=None))
        return Decision(tuple(out)) if out else NOTHING
