"""The weekly task scheme (任务方案, book 794): leave, warning, temporary removal with a comeback week, elimination.

How it works:
    A member completes the week's task with a message carrying one of the ``keywords`` (#作业, #读书笔记 …) or the
    task form; ``leave_keywords`` (请假) excuses the current week. Every Monday at ``check_at`` the past week is
    settled for each active member who was in the community all week (staff aside): done or excused resets the
    count of missed weeks; otherwise it grows, and the ``steps`` apply (一周没完成，可以请假；两周没完成，给予警告；
    三周没完成，暂时移除微信群，给一周的复活机会；如果这周还没完成，就彻底被淘汰了): after 1 the member is reminded
    they may ask for leave, after 2 warned privately, after 3 removed for now with ``revival_days`` to hand the task
    in (a task form or a marked message to the owner, as an event in the group) and come back; a comeback week
    that passes with nothing eliminates them for good (tag ``eliminated``, which admission refuses).

Things to keep in mind:
    * ``t:<member>``: weeks done / excused, missed count, stage; ``suspended``: member → comeback deadline.
    * :func:`settle` is the state machine, pure.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any, ClassVar

from pydantic import BaseModel, ConfigDict, Field, field_validator

from shequn.domain import Action, DirectMessage, EventKind, FormAnswer, Message, Post, Remove, SetState, Tag, Warn
from shequn.domain.records import iso, parse_iso
from shequn.domain.state import MemberState
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import (
    BookSettings,
    at_local,
    book,
    check_hhmm,
    check_texts,
    has_role,
    local,
    say,
    week_start,
)
from shequn.policies.points import week_of

NAME = "tasks"


class Steps(BaseModel):
    """Missed weeks at which each step applies, and the comeback window."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    leave: int = Field(ge=1)
    warn: int = Field(ge=1)
    suspend: int = Field(ge=1)
    revival_days: int = Field(ge=1)


class TasksSettings(BookSettings):
    """``policies.tasks``: how a task is handed in, how leave is asked, the steps, when the week is settled."""

    enabled: bool = book(NAME, "enabled")
    keywords: list[str] = book(NAME, "keywords")
    forms: list[str] = book(NAME, "forms")
    leave_keywords: list[str] = book(NAME, "leave_keywords")
    steps: Steps = book(NAME, "steps")
    check_at: str = book(NAME, "check_at")
    staff_roles: list[str] = book(NAME, "staff_roles")

    @field_validator("check_at")
    @classmethod
    def _clock(cls, v: str) -> str:
        return check_hhmm(v)


def settle(record: dict[str, Any], week: str, steps: Steps) -> tuple[dict[str, Any], str]:
    """Close ``week`` for one member: (the new record, the step reached: "", "leave", "warn" or "suspend")."""
    done = week in (record.get("done") or []) or week in (record.get("leave") or [])
    missed = 0 if done else int(record.get("missed", 0)) + 1
    step = ""
    if not done:
        if missed == steps.suspend:
            step = "suspend"
        elif missed == steps.warn:
            step = "warn"
        elif missed == steps.leave:
            step = "leave"
    keep = [w for w in (record.get("done") or []) if w > week][-4:]
    leave = [w for w in (record.get("leave") or []) if w > week][-4:]
    return {**record, "missed": missed, "done": keep, "leave": leave}, step


class Tasks(Policy):
    """Track the weekly task; escalate misses as the book's task scheme says."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = TasksSettings
    kinds = frozenset({EventKind.MESSAGE, EventKind.FORM_ANSWER})
    ticks = True

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, TasksSettings)
        if e is None or member is None:
            return NOTHING
        if isinstance(e, Message):
            text = e.text.strip().lower()
            if any(k.lower() in text for k in s.keywords):
                return self._done(ctx, s, member)
            if text and any(text.startswith(k.lower()) for k in s.leave_keywords):
                return self._leave(ctx, member)
            return NOTHING
        if isinstance(e, FormAnswer) and e.form in s.forms:
            return self._done(ctx, s, member)
        return NOTHING

    def _week(self, ctx: Context) -> str:
        return week_of(local(ctx.now, ctx.config.spec).date())

    def _done(self, ctx: Context, s: TasksSettings, member: MemberState) -> Decision:
        e = ctx.event
        assert e is not None
        key = f"t:{member.key}"
        rec: dict[str, Any] = dict(ctx.scope.get(key) or {})
        week = self._week(ctx)
        name = member.name or e.actor_name or e.actor
        actions: list[Action] = []
        suspended: dict[str, str] = ctx.scope.get("suspended") or {}
        if member.key in suspended:
            if parse_iso(suspended[member.key]) < ctx.now:
                return NOTHING  # too late: the settle will eliminate them
            rest = {k: v for k, v in suspended.items() if k != member.key}
            gname = (ctx.group_config.name if ctx.group_config else "") or ctx.config.name
            rec.update(missed=0, stage="revived")
            actions += [
                ctx.act(SetState, "suspended", scope=NAME, name="suspended", value=rest or None),
                ctx.act(
                    DirectMessage, "revived", target=e.actor, text=say(ctx, NAME, "revived", name=name, group=gname)
                ),
            ]
        done = list(rec.get("done") or [])
        if week in done and not actions:
            return NOTHING
        if week not in done:
            done.append(week)
        rec["done"] = done[-4:]
        actions.insert(0, ctx.act(SetState, "done", scope=NAME, name=key, value=rec))
        if member.active and ctx.event is not None and isinstance(ctx.event, Message):
            actions.append(ctx.act(Post, "ack", text=say(ctx, NAME, "done", name=name)))
        return Decision(tuple(actions))

    def _leave(self, ctx: Context, member: MemberState) -> Decision:
        e = ctx.event
        assert e is not None
        key = f"t:{member.key}"
        rec: dict[str, Any] = dict(ctx.scope.get(key) or {})
        week = self._week(ctx)
        leave = list(rec.get("leave") or [])
        if week in leave:
            return NOTHING
        rec["leave"] = [*leave, week][-4:]
        name = member.name or e.actor_name or e.actor
        return Decision(
            (
                ctx.act(SetState, "leave", scope=NAME, name=key, value=rec),
                ctx.act(Post, "leave", text=say(ctx, NAME, "leave_ok", name=name)),
            )
        )

    def on_tick(self, ctx: Context) -> Decision:
        s = ctx.settings
        assert isinstance(s, TasksSettings)
        lt = local(ctx.now, ctx.config.spec)
        monday = week_start(lt)
        due = at_local(monday, s.check_at)
        closing = week_of((monday - timedelta(days=1)).date())
        if lt < due or ctx.scope.get("settled") == closing:
            return NOTHING
        out: list[Action] = [ctx.act(SetState, "settled", scope=NAME, name="settled", value=closing)]
        # One value of ``suspended`` for the whole settle: actions apply only after the decision.
        suspended: dict[str, str] = dict(ctx.scope.get("suspended") or {})
        for key in sorted(k for k, until in suspended.items() if parse_iso(until) <= ctx.now):
            del suspended[key]
            out.extend(self._eliminate(ctx, key))
        start = monday - timedelta(days=7)
        for m in sorted(ctx.community.members.values(), key=lambda m: m.number):
            if not m.active or (m.joined_at is not None and m.joined_at > start):
                continue
            pid = m.key.partition(":")[2]
            if has_role(ctx.config.spec, s.staff_roles, m, pid):
                continue
            key = f"t:{m.key}"
            rec, step = settle(dict(ctx.scope.get(key) or {}), closing, s.steps)
            out.append(ctx.act(SetState, f"rec:{m.key}", scope=NAME, name=key, value=rec))
            if step == "suspend":
                suspended[m.key] = iso(ctx.now + timedelta(days=s.steps.revival_days))
            out.extend(self._step(ctx, s, m, step, int(rec["missed"])))
        if suspended != (ctx.scope.get("suspended") or {}):
            out.append(ctx.act(SetState, "suspended", scope=NAME, name="suspended", value=suspended or None))
        return Decision(tuple(out))

    def _step(self, ctx: Context, s: TasksSettings, m: MemberState, step: str, missed: int) -> list[Action]:
        platform, _, pid = m.key.partition(":")
        name = m.name or pid
        if step == "leave":
            text = say(ctx, NAME, "missed", name=name)
            return [ctx.act(DirectMessage, f"missed:{m.key}", platform=platform, target=pid, text=text)]
        if step == "warn":
            text = say(ctx, NAME, "warned", name=name, weeks=missed)
            return [ctx.act(Warn, f"warn:{m.key}", platform=platform, target=pid, text=text, level=2)]
        if step != "suspend":
            return []
        keyword = s.keywords[0] if s.keywords else (s.forms[0] if s.forms else "")
        out: list[Action] = []
        for gkey in sorted(m.groups):
            gplatform, _, gid = gkey.partition(":")
            out.append(ctx.act(Remove, f"out:{m.key}:{gid}", platform=gplatform, group=gid, target=pid, reason="tasks"))
        days = s.steps.revival_days
        text = say(ctx, NAME, "suspended", name=name, weeks=missed, group=ctx.config.name, days=days, keyword=keyword)
        out.append(ctx.act(DirectMessage, f"suspended:{m.key}", platform=platform, target=pid, text=text))
        return out

    def _eliminate(self, ctx: Context, key: str) -> list[Action]:
        platform, _, pid = key.partition(":")
        m = ctx.community.members.get(key)
        name = (m.name if m else "") or pid
        return [
            ctx.act(Tag, f"tag:{key}", platform=platform, target=pid, tag="eliminated"),
            ctx.act(
                DirectMessage, f"bye:{key}", platform=platform, target=pid, text=say(ctx, NAME, "eliminated", name=name)
            ),
        ]

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, TasksSettings)
        problems = check_texts(NAME, settings)
        st = settings.steps
        if not st.leave <= st.warn <= st.suspend:
            problems.append(("steps", "must grow: leave ≤ warn ≤ suspend"))
        if settings.enabled and not settings.keywords and not settings.forms:
            problems.append(("keywords", "a task needs keywords or forms to be handed in"))
        return problems
