"""The automations policy: a community's own rules (and the book-derived templates) carried out like any policy's.

How it works:
    Event rules fire on the member's join, leave, message, check-in (the check-in policy recorded a new day),
    level-up (the levels policy raised their level), paid order or payment; scheduled rules (``daily HH:MM``,
    ``cron …`` in the community's time zone) run on ticks, once per occurrence (up to ``misfire_minutes`` late),
    for every member, every group or the community. A rule fires when all its conditions hold and its limits allow:
    once per member, a cooldown (``once_per``), and ``max_per_day`` firings per group and local day (what is over
    is counted in ``capped:<rule>``). Scheduled posts of all the rules together keep to the rhythm's daily cap per
    group (``rhythm.max_posts_per_day``). Campaigns are timed sequences a rule starts for a member.

Things to keep in mind:
    * State (scope ``automations``): ``t:<rule>`` the last occurrence run, ``f:<rule>:<subject>`` when it last
      fired for a member or group, ``n:<rule>:<group>`` [day, firings], ``capped:<rule>``, ``p:<group>`` [day,
      scheduled posts] under the rhythm's daily cap (``capped:posts`` beyond it), ``b:<member>`` the
      birthday (MM-DD) from a self-introduction, ``ck:``/``lv:`` the check-ins and level last seen, ``o:<member>``
      paid orders, ``c:<campaign>:<member>`` [start, next step, group] and ``c_next`` the earliest step due.
    * A tick writes state only when an occurrence or a campaign step is due, so quiet ticks stay out of the log.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any, ClassVar

from pydantic import Field

from shequn.domain import (
    Action,
    AwardPoints,
    DirectMessage,
    EventKind,
    Invite,
    Message,
    OpenStaffTask,
    Order,
    OrderStatus,
    Post,
    Tag,
    identity_key,
)
from shequn.domain.records import parse_iso
from shequn.domain.state import GroupState, MemberState
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec, GroupSpec
from shequn.policies.automations.calendar import birthday_in, holiday_on, is_birthday
from shequn.policies.automations.rules import Campaign, Program, Rule, Step, compile_automations
from shequn.policies.base import NOTHING, CommunityConfig, Context, Decision, Policy, PolicySettings
from shequn.policies.checkin import Record, is_checkin_message
from shequn.policies.common import local, member_pid, member_platform

NAME = "automations"
_EVENTS = {
    EventKind.JOIN: "join",
    EventKind.LEAVE: "leave",
    EventKind.MESSAGE: "message",
    EventKind.PAYMENT: "payment",
}
_UPGRADE = ("fan", "member", "admin", "core")  # 粉丝群 → 会员群 → 管理群 → 核心群 (book 2065)
_LEVEL_OF_ROLE = {"fan": "fan", "main": "fan", "paid": "member", "admin": "admin", "core": "core"}
_CORE = frozenset({"core", "key_person"})


class AutomationsSettings(PolicySettings):
    """The spec's ``automations:`` section (``policies.automations.enabled: false`` switches every rule off)."""

    entries: dict[str, Any] = Field(default_factory=dict)


_PROGRAMS: dict[int, tuple[CommunityConfig, Program]] = {}


def program(config: CommunityConfig) -> Program:
    """The community's compiled rules (once per configuration)."""
    entry = _PROGRAMS.get(id(config))
    if entry is None or entry[0] is not config:
        s = config.settings.get(NAME)
        raw = s.entries if isinstance(s, AutomationsSettings) else {}
        if len(_PROGRAMS) > 512:
            _PROGRAMS.clear()
        entry = _PROGRAMS[id(config)] = (config, compile_automations(raw, config.spec)[0])
    return entry[1]


class _Run:
    """One decision's working set: the state changes so far (read back before the scope) and the actions."""

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.changes: dict[str, Any] = {}
        self.actions: list[Action] = []
        spec = ctx.config.spec
        self.groups: dict[str, GroupSpec] = {f"{g.platform}:{g.id}": g for g in spec.groups}
        self.today = local(ctx.now, spec).date()
        self.program = program(ctx.config)
        self._sizes: Counter[str] | None = None
        self._core: int | None = None
        self._members: int | None = None

    def get(self, name: str, default: Any = None) -> Any:
        if name in self.changes:
            return self.changes[name]
        return self.ctx.scope.get(name, default)

    def decision(self) -> Decision:
        if not self.actions and not self.changes:
            return NOTHING
        return Decision(tuple(self.actions), state=self.changes or None)

    # -- what conditions read ------------------------------------------------------------------------------

    def size(self, gkey: str, group: GroupState | None) -> int:
        if group is not None and group.key == gkey:
            return len(group.members)
        if self._sizes is None:
            self._sizes = Counter(g for m in self.ctx.community.members.values() if m.active for g in m.groups)
        return self._sizes[gkey]

    def is_core(self, m: MemberState) -> bool:
        if not _CORE.isdisjoint(m.roles) or not _CORE.isdisjoint(m.tags):
            return True
        return any(self.groups[g].role == "core" for g in m.groups if g in self.groups)

    def core_members(self) -> int:
        if self._core is None:
            self._core = sum(1 for m in self.ctx.community.members.values() if m.active and self.is_core(m))
        return self._core

    def checkin(self, m: MemberState) -> Record:
        return Record.of((self.ctx.community.policy.get("checkin") or {}).get(f"m:{m.key}"))

    def membership(self, m: MemberState) -> str:
        sub = (self.ctx.community.policy.get("membership") or {}).get(f"s:{m.key}")
        if not sub:
            return "none"
        if sub.get("stage") == "ended":
            return "ended"
        until, grace = sub.get("until"), sub.get("grace_until") or sub.get("until")
        if until is None or parse_iso(until) > self.ctx.now:
            return "active"
        return "grace" if parse_iso(grace) > self.ctx.now else "ended"

    def days(self, since: datetime | None) -> int | None:
        return None if since is None else (self.ctx.now - since).days

    def upgrade_level(self, m: MemberState) -> int:
        """The highest step of the upgrade path among the groups ``m`` is in (-1: none)."""
        levels = [_LEVEL_OF_ROLE.get(self.groups[g].role, "") for g in m.groups if g in self.groups]
        return max((_UPGRADE.index(x) for x in levels if x in _UPGRADE), default=-1)

    def meets_upgrade(self, m: MemberState, target: str) -> bool:
        """``m`` is below ``target`` on the upgrade path and meets its rule (growth.yaml's ``upgrade.rules``)."""
        if self.upgrade_level(m) >= _UPGRADE.index(target):
            return False
        rule = (load_playbook().default("upgrade", "rules") or {}).get(target) or {}
        paid = self.membership(m) in ("active", "grace") or int(self.get(f"o:{m.key}", 0)) > 0
        joined = self.days(m.joined_at) or 0
        return (
            (not rule.get("paid") or paid)
            and m.level >= rule.get("min_level", 0)
            and m.points >= rule.get("min_points", 0)
            and joined >= rule.get("min_days", 0)
            and all(tag in m.tags for tag in rule.get("tags", ()))
            and (not rule.get("roles") or not set(rule["roles"]).isdisjoint(m.roles | m.tags))
        )

    def values(self, m: MemberState | None, gkey: str, group: GroupState | None) -> dict[str, Any]:
        """What a condition or a text may read about the subject."""
        ctx = self.ctx
        g = self.groups.get(gkey)
        prog = self.program
        v: dict[str, Any] = {
            "community": ctx.config.name,
            "group": (g.name or g.id) if g else "",
            "group_role": g.role if g else "",
            "holiday": holiday_on(self.today, ctx.locale) if prog.uses("holiday") else "",
        }
        # What walks every member is worked out only for the rules that read it, once per decision.
        if prog.uses("group_size"):
            v["group_size"] = self.size(gkey, group) if gkey else 0
        if prog.uses("members"):
            if self._members is None:
                self._members = sum(1 for x in ctx.community.members.values() if x.active)
            v["members"] = self._members
        if prog.uses("core_members"):
            v["core_members"] = self.core_members()
        if m is not None:
            rec = self.checkin(m)
            last = m.last_active_at or m.joined_at
            v.update(
                name=m.name or member_pid(m),
                number=m.number,
                level=m.level,
                points=m.points,
                streak=rec.current_streak(self.today),
                checkins=rec.total,
                messages=m.messages,
                days_silent=self.days(last),
                days_since_joining=self.days(m.joined_at),
                member_number=m.number or None,
                orders=int(self.get(f"o:{m.key}", 0)),
            )
        return v

    def holds(self, rule: Rule, m: MemberState | None, gkey: str, group: GroupState | None) -> dict[str, Any] | None:
        """The subject's values when every condition of ``rule`` holds, else None."""
        v = self.values(m, gkey, group)
        ctx = self.ctx
        for c in rule.conditions:
            n = c.name
            if c.lo is not None or c.hi is not None:
                x = v.get(n)
                if x is None or (c.lo is not None and x < c.lo) or (c.hi is not None and x > c.hi):
                    return None
            elif n == "group_role":
                if v["group_role"] not in c.words:
                    return None
            elif n == "holiday":
                if bool(v["holiday"]) is not c.flag:
                    return None
            elif n == "text":
                e = ctx.event
                text = e.text.lower() if isinstance(e, Message) else ""
                if not any(w in text for w in c.words):
                    return None
            elif m is None or not self._member_holds(c.name, c.words, c.flag, m):
                return None
        return v

    def _member_holds(self, n: str, words: frozenset[str], flag: bool | None, m: MemberState) -> bool:
        if n == "tags":
            return words <= m.tags
        if n == "not_tags":
            return words.isdisjoint(m.tags)
        if n == "roles":
            named = {r for r in words if m.key in self.ctx.config.spec.roles.get(r, ())}
            return not words.isdisjoint(m.roles) or bool(named)
        if n == "joined_via":
            via = {m.via}
            if m.inviter or m.invite_code.startswith("r"):
                via.add("referral")
            return not words.isdisjoint(via)
        if n == "status":
            return m.status.value in words
        if n == "membership":
            return self.membership(m) in words
        if n == "upgrade":
            return all(self.meets_upgrade(m, w) for w in words)
        if n == "birthday":
            return is_birthday(str(self.get(f"b:{m.key}", "")), self.today) is flag
        if n == "core":
            return self.is_core(m) is flag
        return False

    # -- firing --------------------------------------------------------------------------------------------

    def fire(self, rule: Rule, m: MemberState | None, gkey: str, group: GroupState | None) -> None:
        """Carry ``rule`` out for one subject if its conditions hold and its limits allow."""
        v = self.holds(rule, m, gkey, group)
        if v is None:
            return
        now = int(self.ctx.now.timestamp())
        subject = m.key if m is not None else gkey or "community"
        mark = f"f:{rule.key}:{subject}"
        last = self.get(mark)
        if last is not None and (rule.once_per_member or (rule.once_per and now - int(last) < rule.once_per)):
            return
        if gkey:
            count = f"n:{rule.key}:{gkey}"
            day, n = self.get(count) or ["", 0]
            n = n if day == self.today.isoformat() else 0
            if n >= rule.max_per_day:
                self.changes[f"capped:{rule.key}"] = int(self.get(f"capped:{rule.key}", 0)) + 1
                return
            self.changes[count] = [self.today.isoformat(), n + 1]
        if rule.once_per_member or rule.once_per:
            self.changes[mark] = now
        self.carry_out(rule.steps, f"{rule.key}:{subject}", m, gkey, v)

    def carry_out(
        self, steps: tuple[Step, ...], suffix: str, m: MemberState | None, gkey: str, v: Mapping[str, Any]
    ) -> None:
        ctx = self.ctx
        loc = ctx.locale
        pid, platform = (member_pid(m), member_platform(m)) if m is not None else ("", "")
        home = self.groups.get(gkey)
        for j, s in enumerate(steps):
            key = f"{suffix}:{j}"
            reason = f"automation:{suffix.partition(':')[0]}"
            if s.kind == "post":
                targets = [self.groups[k] for k in self.groups if self.groups[k].id == s.group] if s.group else (
                    [home] if home else [g for g in self.groups.values() if g.role in ctx.config.spec.rhythm.roles]
                )  # fmt: skip
                for g in targets:
                    if ctx.event is None and not self._within_cap(f"{g.platform}:{g.id}"):
                        continue
                    mentions = (pid,) if pid and g.platform == platform else ()
                    text = _render(s.text, loc, v)
                    self.actions.append(
                        ctx.act(Post, f"{key}:{g.id}", platform=g.platform, group=g.id, text=text, mentions=mentions)
                    )
            elif s.kind == "dm" and m is not None:
                self.actions.append(
                    ctx.act(DirectMessage, key, platform=platform, group=home.id if home else "", target=pid,
                            text=_render(s.text, loc, v))
                )  # fmt: skip
            elif s.kind in ("tag", "untag") and m is not None:
                self.actions.append(
                    ctx.act(Tag, key, platform=platform, target=pid, tag=str(s.value), remove=s.kind == "untag")
                )
            elif s.kind == "points" and m is not None:
                assert isinstance(s.value, int)
                self.actions.append(
                    ctx.act(AwardPoints, key, platform=platform, target=pid, points=s.value, reason=reason)
                )
            elif s.kind == "invite" and m is not None:
                self._invite(s, key, m, v)
            elif s.kind == "staff_task":
                self.actions.append(
                    ctx.act(OpenStaffTask, key, platform=home.platform if home else platform,
                            group=home.id if home else "", target=pid, title=_render(s.text, loc, v),
                            instructions=_render(s.instructions, loc, v) if s.instructions else "")
                )  # fmt: skip
            elif s.kind == "campaign" and m is not None:
                self._enroll(str(s.value), m, gkey)

    def _within_cap(self, gkey: str) -> bool:
        """Whether one more scheduled post fits the group's day under the rhythm's daily cap (book 2210: 一天最多发文
        2~3则), counted over every automation; what is over is counted in ``capped:posts``."""
        name, today = f"p:{gkey}", self.today.isoformat()
        day, n = self.get(name) or ["", 0]
        n = n if day == today else 0
        if n >= (self.ctx.config.spec.rhythm.max_posts_per_day or 3):
            self.changes["capped:posts"] = int(self.get("capped:posts", 0)) + 1
            return False
        self.changes[name] = [today, n + 1]
        return True

    def _invite(self, s: Step, key: str, m: MemberState, v: Mapping[str, Any]) -> None:
        ctx = self.ctx
        target = str(s.value)
        if target.startswith("role:"):
            g = next((g for g in self.groups.values() if g.role == target[5:]), None)
        else:
            g = next((g for g in self.groups.values() if g.id == target), None)
        if g is None or f"{g.platform}:{g.id}" in m.groups:
            return  # already in it
        text = _render(s.text, ctx.locale, v) if s.text else ""
        pid = member_pid(m)
        if g.platform != member_platform(m):
            # Another platform's group: a person brings them over (the bot cannot invite across platforms).
            title = t("automations.invite_elsewhere", ctx.locale, name=v.get("name", pid), group=g.name or g.id)
            self.actions.append(ctx.act(OpenStaffTask, key, platform=g.platform, group=g.id, target=pid,
                                        title=title, instructions=text))  # fmt: skip
            return
        self.actions.append(ctx.act(Invite, key, platform=g.platform, group=g.id, target=pid, text=text))

    def _enroll(self, campaign: str, m: MemberState, gkey: str) -> None:
        c = self.program.campaigns[campaign]
        start = int(self.ctx.now.timestamp())
        self.changes[f"c:{campaign}:{m.key}"] = [start, 0, gkey]
        due = start + c.steps[0][0]
        nxt = self.get("c_next")
        if nxt is None or due < int(nxt):
            self.changes["c_next"] = due

    def campaigns(self) -> None:
        """The campaign steps due now, each once, in order of enrolment."""
        now = int(self.ctx.now.timestamp())
        nxt = self.get("c_next")
        if nxt is None or int(nxt) > now:
            return
        prog = self.program
        earliest: int | None = None
        for name in sorted(n for n in self.ctx.scope if n.startswith("c:")):
            _, campaign, member_key = name.split(":", 2)
            start, step, gkey = self.get(name)
            c: Campaign | None = prog.campaigns.get(campaign)
            m = self.ctx.community.members.get(member_key)
            if c is None or m is None or not m.active:
                self.changes[name] = None
                continue
            while step < len(c.steps) and start + c.steps[step][0] <= now:
                v = self.values(m, gkey, None)
                self.carry_out(c.steps[step][1], f"{campaign}:{m.key}:step{step}", m, gkey, v)
                step += 1
            if step >= len(c.steps):
                self.changes[name] = None
                continue
            self.changes[name] = [start, step, gkey]
            due = start + c.steps[step][0]
            earliest = due if earliest is None else min(earliest, due)
        self.changes["c_next"] = earliest


def _render(text: Mapping[str, str], locale: str, values: Mapping[str, Any]) -> str:
    """The text in ``locale`` (a one-language text is the community's own), its placeholders filled."""
    other = "en" if locale == "zh-CN" else "zh-CN"
    template = text.get(locale) or text.get("") or text.get(other) or ""
    return template.format_map(_Blank({k: "" if x is None else x for k, x in values.items()}))


class _Blank(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return ""


def last_occurrence(rule: Rule, now: datetime, spec: CommunitySpec) -> datetime | None:
    """The latest time ``rule``'s schedule fired at or before ``now`` (aware, community-local)."""
    here = local(now, spec)
    if rule.daily:
        at = here.replace(hour=int(rule.daily[:2]), minute=int(rule.daily[3:]), second=0, microsecond=0)
        return at if at <= here else at - timedelta(days=1)
    if rule.cron:
        from cronsim import CronSim

        return next(CronSim(rule.cron, here + timedelta(seconds=1), reverse=True), None)
    return None


class Automations(Policy):
    """The community's automations: its rules and the book-derived templates it switched on."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = AutomationsSettings
    kinds = frozenset({EventKind.JOIN, EventKind.LEAVE, EventKind.MESSAGE, EventKind.CHECK_IN, EventKind.ORDER,
                       EventKind.PAYMENT})  # fmt: skip
    ticks: ClassVar[bool] = True

    def raw_settings(self, spec: CommunitySpec) -> tuple[str, Mapping[str, Any]]:
        return NAME, {**(spec.policies.get(NAME) or {}), "entries": spec.automations}

    def active(self, settings: PolicySettings) -> bool:
        assert isinstance(settings, AutomationsSettings)
        return settings.enabled and bool(settings.entries.get("rules") or settings.entries.get("templates"))

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, AutomationsSettings)
        return compile_automations(settings.entries, spec)[1]

    def decide(self, ctx: Context) -> Decision:
        e, m = ctx.event, ctx.member
        if e is None or m is None:
            return NOTHING
        run = _Run(ctx)
        prog = run.program
        triggers = []
        if (word := _EVENTS.get(e.kind)) is not None and not (isinstance(e, Message) and e.from_bot):
            triggers.append(word)
        if isinstance(e, Message) and e.text and prog.uses("birthday"):
            born = birthday_in(e.text)
            if born and run.get(f"b:{m.key}") != born:
                run.changes[f"b:{m.key}"] = born
        if isinstance(e, Order) and e.status is OrderStatus.PAID:
            triggers.append("order")
            if prog.uses("orders") or prog.uses("upgrade"):
                run.changes[f"o:{m.key}"] = int(run.get(f"o:{m.key}", 0)) + 1
        if prog.for_event("checkin") and (
            e.kind is EventKind.CHECK_IN or (isinstance(e, Message) and is_checkin_message(ctx.config, e.text))
        ):
            total = run.checkin(m).total  # grown: the check-in policy recorded a new day (not "already checked in")
            if total > int(run.get(f"ck:{m.key}", 0)):
                run.changes[f"ck:{m.key}"] = total
                triggers.append("checkin")
        seen = int(run.get(f"lv:{m.key}", 0))
        if prog.for_event("level_up") and m.level != seen:
            if m.level > seen >= 1:  # level 0 is "not placed yet": the first placement is no level-up
                triggers.append("level_up")
            run.changes[f"lv:{m.key}"] = m.level
        gkey = identity_key(e.platform, e.group) if e.group else ""
        for word in triggers:
            for rule in prog.for_event(word):
                run.fire(rule, m, gkey, ctx.group)
        return run.decision()

    def on_tick(self, ctx: Context) -> Decision:
        run = _Run(ctx)
        prog = run.program
        grace = timedelta(minutes=load_playbook().automations.limits["misfire_minutes"].value)
        members = None
        for rule in prog.scheduled:
            due = last_occurrence(rule, ctx.now, ctx.config.spec)
            if due is None or ctx.now - due > grace:
                continue
            stamp = int(due.timestamp())
            if int(run.get(f"t:{rule.key}", 0)) >= stamp:
                continue
            run.changes[f"t:{rule.key}"] = stamp
            if rule.scope == "community":
                run.fire(rule, None, "", None)
            elif rule.scope == "groups":
                for gkey in run.groups:
                    run.fire(rule, None, gkey, None)
            else:
                if members is None:
                    members = sorted((m for m in ctx.community.members.values() if m.active), key=lambda m: m.key)
                for m in members:
                    home = next((g for g in sorted(m.groups) if g in run.groups), "")
                    run.fire(rule, m, home, None)
        run.campaigns()
        return run.decision()
