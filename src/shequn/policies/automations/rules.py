"""The automations' rule language: a community's ``automations:`` compiled into frozen rules, or its problems.

A rule is a trigger (``when``: an event kind, ``daily HH:MM`` or ``cron M H D M W`` in the community's time zone),
conditions over the member, the group and the community (``if``, all must hold), actions (``do``, in order) and
limits (``once_per_member``, ``once_per`` a duration, ``max_per_day`` per group). ``templates`` switch on the
playbook's book-derived rules; ``campaigns`` are timed sequences of actions a rule starts for a member.

Every problem names its field (``rules.0.if.streak``) and is worded in the operator's language (zh-CN / en).
Pure: no I/O.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec, in_window
from shequn.policies.text import check_template

EVENTS = ("join", "leave", "message", "checkin", "level_up", "order", "payment")
SCOPES = ("members", "groups", "community")
# Condition → what it reads: a number (range), a set of words, or a flag.
NUMBERS = frozenset(
    {"level", "points", "streak", "checkins", "messages", "days_silent", "days_since_joining", "member_number",
     "orders", "group_size", "members", "core_members"}
)  # fmt: skip
WORDS = {
    "tags": None,  # all of
    "not_tags": None,  # none of
    "roles": None,  # any of
    "joined_via": ("self", "invited", "referral", "live_code", "approved", "added_by_staff", "roster", "unknown"),
    "status": ("pending", "active", "left", "removed", "banned"),
    "membership": ("none", "active", "grace", "ended"),
    "group_role": ("main", "chitchat", "core", "admin", "paid", "fan", "temporary"),
    "upgrade": ("member", "admin", "core"),
    "text": None,  # the message contains one of these words
}
FLAGS = frozenset({"birthday", "holiday", "core"})
MEMBER_CONDITIONS = frozenset(
    {"level", "points", "streak", "checkins", "messages", "days_silent", "days_since_joining", "member_number",
     "orders", "tags", "not_tags", "roles", "joined_via", "status", "membership", "upgrade", "birthday", "core"}
)  # fmt: skip
ACTIONS = ("post", "dm", "tag", "untag", "points", "invite", "staff_task", "campaign")
_MEMBER_ACTIONS = frozenset({"dm", "tag", "untag", "points", "invite", "campaign"})
PLACEHOLDERS = frozenset(
    {"name", "number", "community", "group", "level", "points", "streak", "days_silent", "days_since_joining",
     "holiday", "core_members", "members", "group_size"}
)  # fmt: skip
_KEY = re.compile(r"^[a-z][a-z0-9_]*$")
_HHMM = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")
_DURATION = re.compile(r"^(\d+)\s*([mhd])$")
_SECONDS = {"m": 60, "h": 3600, "d": 86400}
_PARAM = re.compile(r"\$([a-z_][a-z0-9_]*)")
_DOC_KEYS = frozenset({"source", "quote", "note"})  # what a template's rule may carry for its reader only


@dataclass(frozen=True, slots=True)
class Condition:
    """One test: ``lo`` ≤ number ≤ ``hi``, one of (or all of) ``words``, or a ``flag``."""

    name: str
    lo: int | None = None
    hi: int | None = None
    words: frozenset[str] = frozenset()
    flag: bool | None = None


@dataclass(frozen=True, slots=True)
class Step:
    """One action: ``kind`` with its ``text`` (by locale), ``value`` (tag, points, group, campaign) and extras."""

    kind: str
    text: Mapping[str, str] = field(default_factory=dict)
    value: str | int = ""
    group: str = ""  # post: the group's id ("" = where the rule fired); invite: the group or role:ROLE
    instructions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Rule:
    key: str
    event: str = ""  # an event trigger, or
    daily: str = ""  # HH:MM, or
    cron: str = ""  # a cron expression (community-local time)
    scope: str = "members"
    conditions: tuple[Condition, ...] = ()
    steps: tuple[Step, ...] = ()
    once_per_member: bool = False
    once_per: int = 0  # seconds between two firings for one member / group (0: no cooldown)
    max_per_day: int = 0
    template: str = ""

    @property
    def scheduled(self) -> bool:
        return not self.event


@dataclass(frozen=True, slots=True)
class Campaign:
    key: str
    steps: tuple[tuple[int, tuple[Step, ...]], ...]  # (seconds after the start, actions), in order


@dataclass(frozen=True, slots=True)
class Program:
    """A community's compiled automations, indexed once: the rules by event, the scheduled ones, what they read."""

    rules: tuple[Rule, ...] = ()
    campaigns: Mapping[str, Campaign] = field(default_factory=dict)
    by_event: Mapping[str, tuple[Rule, ...]] = field(init=False)
    scheduled: tuple[Rule, ...] = field(init=False)
    reads: frozenset[str] = field(init=False)  # the conditions and placeholders used anywhere

    def __post_init__(self) -> None:
        by_event: dict[str, tuple[Rule, ...]] = {}
        for r in self.rules:
            if r.event:
                by_event[r.event] = (*by_event.get(r.event, ()), r)
        steps = [s for r in self.rules for s in r.steps] + [
            s for c in self.campaigns.values() for _, todo in c.steps for s in todo
        ]
        texts = [x for s in steps for x in (*s.text.values(), *s.instructions.values())]
        reads = {c.name for r in self.rules for c in r.conditions}
        reads |= {name for x in texts for name in PLACEHOLDERS if "{" + name + "}" in x}
        object.__setattr__(self, "by_event", by_event)
        object.__setattr__(self, "scheduled", tuple(r for r in self.rules if r.scheduled))
        object.__setattr__(self, "reads", frozenset(reads))

    def for_event(self, event: str) -> tuple[Rule, ...]:
        return self.by_event.get(event, ())

    def uses(self, name: str) -> bool:
        """Whether some rule reads ``name`` (a condition or a placeholder)."""
        return name in self.reads


Problems = list[tuple[str, str]]


def _e(message: str, /, **values: Any) -> str:
    """A problem in the operator's language (the process locale: ``SHEQUN_LANG``, ``LANG``)."""
    return t(f"automations.err.{message}", None, **values)


def duration(text: Any) -> int | None:
    """Seconds in ``30m`` / ``12h`` / ``7d`` (None when it is not one)."""
    m = _DURATION.match(str(text).strip())
    return int(m[1]) * _SECONDS[m[2]] if m else None


def _substitute(value: Any, params: Mapping[str, Any]) -> Any:
    """A template's ``$param`` replaced by its value (a whole-string ``$param`` keeps the value's type)."""
    if isinstance(value, str):
        whole = _PARAM.fullmatch(value)
        if whole and whole[1] in params:
            return params[whole[1]]
        return _PARAM.sub(lambda m: str(params[m[1]]) if m[1] in params else m[0], value)
    if isinstance(value, list):
        return [_substitute(v, params) for v in value]
    if isinstance(value, dict):
        return {k: _substitute(v, params) for k, v in value.items()}
    return value


def expand_template(name: str, given: Mapping[str, Any]) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """The rules and campaigns of template ``name`` with its params (the playbook's, overridden by ``given``)."""
    tpl = load_playbook().automations.templates[name]
    thresholds = load_playbook().diagnoses.values()
    params: dict[str, Any] = {}
    for k, v in {**tpl.params, **given}.items():
        params[k] = int(thresholds[v[1:]]) if isinstance(v, str) and v.startswith("@") else v
    rules = [dict(_substitute(r, params), template=name) for r in tpl.rules]
    return rules, [_substitute(c, params) for c in tpl.campaigns]


def compile_automations(raw: Mapping[str, Any], spec: CommunitySpec) -> tuple[Program, Problems]:
    """The program of ``automations:`` and its problems as (field, message); the program holds the valid rules."""
    problems: Problems = []
    if not isinstance(raw, Mapping):
        return Program(), [("", _e("not_mapping"))]
    for k in sorted(set(raw) - {"templates", "rules", "campaigns"}):
        problems.append((str(k), _e("unknown_key", keys="templates, rules, campaigns")))
    rules: list[tuple[str, dict[str, Any]]] = []
    campaigns: list[tuple[str, dict[str, Any]]] = []
    known = load_playbook().automations.templates
    for i, use in enumerate(_list(raw.get("templates"), "templates", problems)):
        where = f"templates.{i}"
        name, given = (use, {}) if isinstance(use, str) else (None, {})
        if isinstance(use, Mapping):
            name = use.get("template") or use.get("name")
            given = {k: v for k, v in use.items() if k not in ("template", "name")}
        if not isinstance(name, str) or name not in known:
            problems.append((where, _e("unknown_template", name=name, known=", ".join(known))))
            continue
        bad = sorted(set(given) - set(known[name].params))
        if bad:
            problems.append((f"{where}.{bad[0]}", _e("unknown_param", known=", ".join(known[name].params) or "-")))
            continue
        more_rules, more_campaigns = expand_template(name, given)
        # A template's step into a level of groups the community lacks (no admin group) is left out, not an error.
        roles = {str(g.role) for g in spec.groups}
        more_rules = [r for r in more_rules if all(_invites_into(x, roles) for x in r.get("do", ()))]
        rules += [(f"{where}({name})", r) for r in more_rules]
        campaigns += [(f"{where}({name})", c) for c in more_campaigns]
    rules += [(f"rules.{i}", r) for i, r in enumerate(_list(raw.get("rules"), "rules", problems))]
    campaigns += [(f"campaigns.{i}", c) for i, c in enumerate(_list(raw.get("campaigns"), "campaigns", problems))]
    compiled_campaigns: dict[str, Campaign] = {}
    for where, c in campaigns:
        camp = _campaign(where, c, spec, problems)
        if camp is not None:
            if camp.key in compiled_campaigns:
                problems.append((f"{where}.key", _e("twice", key=camp.key)))
            compiled_campaigns[camp.key] = camp
    compiled: list[Rule] = []
    for where, r in rules:
        rule = _rule(where, r, spec, problems)
        if rule is None:
            continue
        if any(x.key == rule.key for x in compiled):
            problems.append((f"{where}.key", _e("twice", key=rule.key)))
            continue
        for j, s in enumerate(rule.steps):
            if s.kind == "campaign" and s.value not in compiled_campaigns:
                problems.append((f"{where}.do.{j}.campaign", _e("unknown_campaign", name=s.value)))
        compiled.append(rule)
    return Program(tuple(compiled), compiled_campaigns), problems


def _invites_into(step: Any, roles: set[str]) -> bool:
    """Whether ``step`` is no invitation by role, or one into a role some group of the community has."""
    target = str(step.get("invite", "")) if isinstance(step, Mapping) else ""
    return not target.startswith("role:") or target[5:] in roles


def _list(value: Any, where: str, problems: Problems) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        problems.append((where, _e("not_list")))
        return []
    return value


def _rule(where: str, r: Any, spec: CommunitySpec, problems: Problems) -> Rule | None:
    if not isinstance(r, Mapping):
        problems.append((where, _e("not_mapping")))
        return None
    before = len(problems)
    allowed = {"key", "when", "for", "if", "do", "once_per_member", "once_per", "max_per_day", "enabled", "template"}
    for k in sorted(set(r) - allowed - _DOC_KEYS, key=str):
        problems.append((f"{where}.{k}", _e("unknown_key", keys=", ".join(sorted(allowed - {"template"})))))
    key = r.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        problems.append((f"{where}.key", _e("bad_key", value=key)))
    event, daily, cron = _trigger(f"{where}.when", r.get("when"), spec, problems)
    scope = r.get("for", "members")
    if scope not in SCOPES:
        problems.append((f"{where}.for", _e("one_of", value=scope, choices=", ".join(SCOPES))))
    elif event and scope != "members":
        problems.append((f"{where}.for", _e("for_events")))
    conditions = _conditions(f"{where}.if", r.get("if") or {}, event, scope, problems)
    steps = _steps(f"{where}.do", r.get("do"), spec, scope, problems, allow_campaign=True)
    once = r.get("once_per_member", False)
    if not isinstance(once, bool):
        problems.append((f"{where}.once_per_member", _e("not_flag")))
    cooldown = 0
    if r.get("once_per") is not None:
        cooldown = duration(r["once_per"]) or 0
        if not cooldown:
            problems.append((f"{where}.once_per", _e("bad_duration", value=r["once_per"])))
    cap = r.get("max_per_day", load_playbook().automations.limits["max_per_day"].value)
    if not isinstance(cap, int) or isinstance(cap, bool) or cap < 1:
        problems.append((f"{where}.max_per_day", _e("positive", value=cap)))
    if r.get("enabled", True) is False or len(problems) > before:
        return None
    assert isinstance(key, str)
    return Rule(
        key=key, event=event, daily=daily, cron=cron, scope=scope, conditions=conditions, steps=steps,
        once_per_member=bool(once), once_per=cooldown, max_per_day=cap, template=str(r.get("template", "")),
    )  # fmt: skip


def _trigger(where: str, when: Any, spec: CommunitySpec, problems: Problems) -> tuple[str, str, str]:
    text = str(when or "").strip()
    word, _, rest = text.partition(" ")
    if word in EVENTS and not rest:
        return word, "", ""
    quiet = spec.rhythm.quiet_hours
    if word == "daily" and _HHMM.match(rest.strip()):
        at = rest.strip()
        if quiet and in_window(int(at[:2]) * 60 + int(at[3:]), quiet.start, quiet.end):
            problems.append((where, _e("quiet", at=at, start=quiet.start, end=quiet.end)))
        return "", at, ""
    if word == "cron" and rest.strip():
        from cronsim import CronSim, CronSimError

        try:
            probe = CronSim(rest.strip(), datetime(2026, 1, 5, tzinfo=UTC))
        except CronSimError as exc:
            problems.append((where, _e("bad_cron", value=rest.strip(), why=str(exc))))
            return "", "", ""
        for _ in range(200):
            fires = next(probe)
            if fires > datetime(2026, 1, 12, tzinfo=UTC):
                break
            if quiet and in_window(fires.hour * 60 + fires.minute, quiet.start, quiet.end):
                problems.append((where, _e("quiet", at=f"{fires:%H:%M}", start=quiet.start, end=quiet.end)))
                break
        return "", "", rest.strip()
    problems.append((where, _e("bad_when", value=text or "-", events=", ".join(EVENTS))))
    return "", "", ""


def _conditions(where: str, raw: Any, event: str, scope: str, problems: Problems) -> tuple[Condition, ...]:
    if not isinstance(raw, Mapping):
        problems.append((where, _e("not_mapping")))
        return ()
    out: list[Condition] = []
    for name, value in raw.items():
        at = f"{where}.{name}"
        if name in MEMBER_CONDITIONS and scope != "members":
            problems.append((at, _e("needs_member", name=name)))
        elif name == "text" and event != "message":
            problems.append((at, _e("text_on_message")))
        elif name in NUMBERS:
            c = _range(at, name, value, problems)
            if c is not None:
                out.append(c)
        elif name in WORDS:
            words = [value] if isinstance(value, str) else value
            if not isinstance(words, list) or not words or not all(isinstance(w, str) and w for w in words):
                problems.append((at, _e("not_words")))
                continue
            choices = WORDS[name]
            bad = [w for w in words if choices is not None and w not in choices]
            if bad:
                problems.append((at, _e("one_of", value=bad[0], choices=", ".join(choices or ()))))
                continue
            out.append(Condition(name, words=frozenset(w.lower() if name == "text" else w for w in words)))
        elif name in FLAGS:
            if not isinstance(value, bool):
                problems.append((at, _e("not_flag")))
                continue
            out.append(Condition(name, flag=value))
        else:
            known = ", ".join(sorted(NUMBERS | set(WORDS) | FLAGS))
            problems.append((at, _e("unknown_condition", known=known)))
    return tuple(out)


def _range(at: str, name: str, value: Any, problems: Problems) -> Condition | None:
    """A number (equal to it) or bounds: ``{min: 3}``, ``{max: 9}``, ``{below: 5}``, ``{above: 0}``."""

    def whole(v: Any) -> bool:
        return isinstance(v, int) and not isinstance(v, bool)

    if whole(value):
        return Condition(name, lo=value, hi=value)
    bounds = ("min", "max", "below", "above")
    if isinstance(value, Mapping) and value and set(value) <= set(bounds) and all(map(whole, value.values())):
        lows = [value[k] + (k == "above") for k in ("min", "above") if k in value]
        highs = [value[k] - (k == "below") for k in ("max", "below") if k in value]
        return Condition(name, lo=max(lows) if lows else None, hi=min(highs) if highs else None)
    problems.append((at, _e("not_range")))
    return None


def _text(at: str, value: Any, problems: Problems) -> dict[str, str]:
    """A text in one language (the community's) or in both (``{zh-CN: …, en: …}``), its placeholders checked."""
    texts = {"": value} if isinstance(value, str) else dict(value) if isinstance(value, Mapping) else None
    if (
        not texts
        or not all(isinstance(v, str) and v.strip() for v in texts.values())
        or not set(texts) <= {"", "zh-CN", "en"}
    ):
        problems.append((at, _e("not_text")))
        return {}
    for v in texts.values():
        if problem := check_template(v, PLACEHOLDERS):
            problems.append((at, _e("placeholder", problem=problem)))
            return {}
    return texts


def _steps(
    where: str, raw: Any, spec: CommunitySpec, scope: str, problems: Problems, *, allow_campaign: bool
) -> tuple[Step, ...]:
    if not isinstance(raw, list) or not raw:
        problems.append((where, _e("no_actions", actions=", ".join(ACTIONS))))
        return ()
    groups = {g.id for g in spec.groups}
    roles = {g.role for g in spec.groups}
    out: list[Step] = []
    for j, item in enumerate(raw):
        at = f"{where}.{j}"
        kinds = [k for k in ACTIONS if isinstance(item, Mapping) and k in item]
        if len(kinds) != 1:
            problems.append((at, _e("one_action", actions=", ".join(ACTIONS))))
            continue
        kind = kinds[0]
        assert isinstance(item, Mapping)
        extra = set(item) - {kind, "text", "group", "instructions"}
        if extra:
            problems.append((f"{at}.{sorted(extra)[0]}", _e("unknown_key", keys="text, group, instructions")))
            continue
        value = item[kind]
        at = f"{at}.{kind}"
        if kind in _MEMBER_ACTIONS and scope != "members":
            problems.append((at, _e("needs_member", name=kind)))
            continue
        if kind in ("post", "dm", "staff_task"):
            text = _text(at, value, problems)
            group = str(item.get("group", ""))
            if kind == "post" and group and group not in groups:
                problems.append((f"{where}.{j}.group", _e("unknown_group", value=group, groups=", ".join(groups))))
            instructions = _text(f"{where}.{j}.instructions", item["instructions"], problems) if (
                "instructions" in item
            ) else {}  # fmt: skip
            if text:
                out.append(Step(kind, text=text, group=group, instructions=instructions))
        elif kind in ("tag", "untag"):
            if not isinstance(value, str) or not value.strip():
                problems.append((at, _e("not_words")))
            else:
                out.append(Step(kind, value=value.strip()))
        elif kind == "points":
            if not isinstance(value, int) or isinstance(value, bool) or value == 0:
                problems.append((at, _e("points", value=value)))
            else:
                out.append(Step(kind, value=value))
        elif kind == "invite":
            target = str(value)
            if target.startswith("role:"):
                if target[5:] not in roles:
                    problems.append((at, _e("no_group_role", role=target[5:])))
                    continue
            elif target not in groups:
                problems.append((at, _e("unknown_group", value=target, groups=", ".join(groups) or "-")))
                continue
            text = _text(f"{where}.{j}.text", item["text"], problems) if "text" in item else {}
            out.append(Step(kind, value=target, text=text))
        elif kind == "campaign":
            if not allow_campaign:
                problems.append((at, _e("campaign_in_campaign")))
            elif not isinstance(value, str) or not _KEY.match(value):
                problems.append((at, _e("bad_key", value=value)))
            else:
                out.append(Step(kind, value=value))
    return tuple(out)


def _campaign(where: str, c: Any, spec: CommunitySpec, problems: Problems) -> Campaign | None:
    if not isinstance(c, Mapping):
        problems.append((where, _e("not_mapping")))
        return None
    before = len(problems)
    key = c.get("key")
    if not isinstance(key, str) or not _KEY.match(key):
        problems.append((f"{where}.key", _e("bad_key", value=key)))
    steps: list[tuple[int, tuple[Step, ...]]] = []
    for j, s in enumerate(_list(c.get("steps"), f"{where}.steps", problems)):
        at = f"{where}.steps.{j}"
        if not isinstance(s, Mapping):
            problems.append((at, _e("not_mapping")))
            continue
        after = duration(s.get("after"))
        if not after:
            problems.append((f"{at}.after", _e("bad_duration", value=s.get("after"))))
            continue
        steps.append((after, _steps(f"{at}.do", s.get("do"), spec, "members", problems, allow_campaign=False)))
    if not steps and len(problems) == before:
        problems.append((f"{where}.steps", _e("no_steps")))
    if len(problems) > before:
        return None
    assert isinstance(key, str)
    return Campaign(key, tuple(sorted(steps, key=lambda x: x[0])))


def describe(program: Program, locale: str) -> list[dict[str, Any]]:
    """Each rule in words for ``shequn community show``: when, for whom, if, do, limits (and the campaigns)."""

    def condition(c: Condition) -> str:
        if c.words:
            return f"{c.name}={'|'.join(sorted(c.words))}"
        if c.flag is not None:
            return c.name if c.flag else f"not {c.name}"
        if c.lo == c.hi:
            return f"{c.name}={c.lo}"
        return " ".join(x for x in (f"{c.name}>={c.lo}" if c.lo is not None else "",
                                    f"{c.name}<={c.hi}" if c.hi is not None else "") if x)  # fmt: skip

    def step(s: Step) -> str:
        text = s.text.get(locale) or s.text.get("") or next(iter(s.text.values()), "")
        shown = str(s.value) if s.value != "" else ""
        return f"{s.kind} {shown} {text}".replace("  ", " ").strip()

    def span(seconds: int) -> str:
        for unit, size in (("d", 86400), ("h", 3600), ("m", 60)):
            if seconds % size == 0:
                return f"{seconds // size}{unit}"
        return f"{seconds}s"

    out = []
    for r in program.rules:
        limits = [t("automations.show.once_per_member", locale)] if r.once_per_member else []
        if r.once_per:
            limits.append(t("automations.show.once_per", locale, value=span(r.once_per)))
        limits.append(t("automations.show.max_per_day", locale, value=r.max_per_day))
        out.append(
            {
                "key": r.key,
                "template": r.template,
                "when": r.event or (f"daily {r.daily}" if r.daily else f"cron {r.cron}"),
                "for": r.scope,
                "if": [condition(c) for c in r.conditions],
                "do": [step(s) for s in r.steps],
                "limits": limits,
            }
        )
    for c in program.campaigns.values():
        steps = "; ".join(f"+{span(after)}: " + ", ".join(step(s) for s in todo) for after, todo in c.steps)
        out.append({"key": c.key, "campaign": t("automations.show.campaign", locale, name=c.key, steps=steps)})
    return out
