"""Building the plan (建群规划) from the answers and the playbook, every choice citing where it comes from.

How it works:
    :func:`build_plan` recommends a type, runs the checks (open questions stop it: :class:`OpenQuestionsError`), then
    takes each part of the plan from the playbook and tailors it to the answers: the seven rule sections (book
    786-800) with the nickname format, the ad rule and the red-packet rule for the expected group size; the
    three-point announcement (1645); the welcome and the 新人必知必读 post (1653-1678); the entry threshold and size
    policy for the type; the rhythm calendar (daily, weekly, monthly); the roles and who fills them (804-832); the
    type's KPIs with starting targets; the first 90 days (838); the monetization modes that fit (969). The result
    holds both the community spec, which validates and applies as it is, and everything the plan documents show.

Things to keep in mind:
    * Two languages: texts posted in the groups are in the community's language (``spec.locale``); everything
      else in the plan is in the document's language (``Plan.locale``).
    * The calendar's items that are rhythm jobs take their times from ``rhythm.yaml``; the plan writes the spec's
      ``rhythm`` section only where it turns a job on or off against the type's default (and the guest-talk slot),
      so the scheduler runs what the plan shows. Each entry also carries an RFC 5545 ``RRULE``.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from shequn.i18n import t
from shequn.planner.answers import Answers
from shequn.planner.checks import (
    PAYING,
    Finding,
    OpenQuestionsError,
    check_answers,
    effective_type,
    missing_essentials,
    platform_cap,
    questions,
)
from shequn.planner.recommend import Recommendation, aliases, facts_from_answers, recommend
from shequn.playbook import Cited, load_playbook
from shequn.playbook.models import WEEKDAYS
from shequn.playbook.planner import CalendarItem, Essential
from shequn.playbook.spec import CommunitySpec
from shequn.policies import Cleanup, Moderation, Policy, Tasks
from shequn.policies.cleanup import CleanupSettings
from shequn.policies.common import money
from shequn.policies.moderation.policy import ModerationSettings, ad_rule
from shequn.policies.tasks import TasksSettings
from shequn.policies.welcome import Welcome, WelcomeSettings

PHASES = ("before_launch", "week_1", "weeks_2_4", "month_2", "month_3")
RRULE_DAYS = ("MO", "TU", "WE", "TH", "FR", "SA", "SU")
_PLACEHOLDER = re.compile(r"\{(\w+)\}")
# The policies whose settings the rules text is rendered from.
_ENFORCING: dict[str, Policy] = {p.name: p for p in (Moderation(), Cleanup(), Tasks())}
# charging model → the monetization mode it already is
CHARGING_MODE = {"entry_fee": "membership", "membership": "membership", "products": "ecommerce", "courses": "product"}


@dataclass(frozen=True, slots=True)
class Ref:
    """Where a choice comes from: a seed file and line(s), and a short verbatim quote."""

    source: str
    quote: str | None = None

    @classmethod
    def of(cls, item: Cited) -> Ref:
        return cls(item.source, item.quote)


def refs_of(*items: Cited) -> tuple[Ref, ...]:
    """The citations of ``items``, each once."""
    return tuple(dict.fromkeys(Ref.of(i) for i in items))


@dataclass(frozen=True, slots=True)
class Item:
    """One decision or text of the plan, with its sources."""

    title: str
    text: str
    refs: tuple[Ref, ...] = ()
    key: str = ""


@dataclass(frozen=True, slots=True)
class CalendarEntry:
    """A recurring item of the rhythm calendar (节奏日历)."""

    key: str
    job: str | None  # the rhythm job (rhythm.yaml) it is, if any
    cadence: str
    time: str
    weekdays: tuple[int, ...]
    duration_minutes: int | None
    name: str
    description: str
    when: str  # "每天 07:30", "every Sunday at 20:30" …
    rrule: str  # RFC 5545, in the community's time zone
    refs: tuple[Ref, ...]


@dataclass(frozen=True, slots=True)
class RoleAssignment:
    role: str
    name: str
    duties: str
    who: tuple[str, ...]  # empty: to be found among members
    filled_by: str
    guidance: str
    refs: tuple[Ref, ...]


@dataclass(frozen=True, slots=True)
class KpiTarget:
    key: str
    name: str
    definition: str
    target: float
    shown: str  # the target formatted for its unit
    higher_is_better: bool
    refs: tuple[Ref, ...]


@dataclass(frozen=True, slots=True)
class TypeScoreRow:
    type: str
    name: str
    score: int


@dataclass(slots=True)
class Plan:
    """A complete community plan: the spec that runs it and everything a person reads about it."""

    locale: str
    answers: Answers
    spec: CommunitySpec
    recommendation: Recommendation
    type: str
    type_name: str
    chosen_by_operator: bool
    core_view: Item
    reasons: list[Item]
    scores: list[TypeScoreRow]
    aliases: list[Item]
    runner_up: Item | None
    type_notes: list[Item]
    maintenance: list[Essential]
    maintenance_note: Item | None
    warnings: list[Finding]
    positioning: list[Item]
    rules: list[Item]
    announcement: Item
    welcome: Item
    welcome_invited: Item
    newcomer_guide: Item
    nickname: Item
    threshold: Item
    size: Item
    calendar: list[CalendarEntry]
    roles: list[RoleAssignment]
    kpis: list[KpiTarget]
    goal: Item | None
    first_90_days: list[tuple[str, list[Item]]]
    monetization: list[Item]
    monetization_timing: Item
    extra_refs: list[Ref] = field(default_factory=list)

    @property
    def is_maintenance_group(self) -> bool:
        return bool(self.maintenance)

    def sources(self) -> list[Ref]:
        """Every seed line the plan cites, once, in file and line order."""
        refs: list[Ref] = list(self.extra_refs)
        items = [
            self.core_view,
            *self.reasons,
            *self.aliases,
            *self.type_notes,
            *self.positioning,
            *self.rules,
            self.announcement,
            self.welcome,
            self.welcome_invited,
            self.newcomer_guide,
            self.nickname,
            self.threshold,
            self.size,
            *(i for _, items in self.first_90_days for i in items),
            *self.monetization,
            self.monetization_timing,
        ]
        for x in [self.runner_up, self.maintenance_note, self.goal]:
            if x is not None:
                items.append(x)
        for i in items:
            refs.extend(i.refs)
        refs.extend(r for c in self.calendar for r in c.refs)
        refs.extend(r for ra in self.roles for r in ra.refs)
        refs.extend(r for k in self.kpis for r in k.refs)
        refs.extend(Ref(f.source, f.quote) for f in self.warnings)
        refs.extend(Ref.of(e) for e in self.maintenance)
        unique = {(r.source, r.quote): r for r in refs}

        def order(r: Ref) -> tuple[str, int]:
            file, _, lines = r.source.partition(":")
            return file, int(lines.split("-")[0])

        return sorted(unique.values(), key=order)


def fill(template: str, **values: Any) -> str:
    """Fill the named ``{placeholders}`` and leave the others for later (the welcome policy fills {name} …)."""
    return _PLACEHOLDER.sub(lambda m: str(values[m[1]]) if m[1] in values else m[0], template)


def colon(locale: str) -> str:
    return t("planner.colon", locale)


def paren(text: str, locale: str) -> str:
    return t("planner.paren", locale, x=text)


def _join(items: list[str], locale: str) -> str:
    return ("、" if locale != "en" else ", ").join(items)


def _days(weekdays: tuple[int, ...], locale: str) -> str:
    if weekdays == (1, 2, 3, 4, 5):
        return t("planner.cal.weekdays", locale)
    return _join([t(f"planner.weekday.{d}", locale) for d in weekdays], locale)


def describe_when(item: CalendarItem, locale: str) -> str:
    """When a calendar item happens, in words: 每天 07:30, 工作日 14:00, 每周日 20:30, 每月一次 …"""
    days = tuple(item.weekdays)
    if item.cadence == "daily":
        key = "planner.cal.daily" if not days else "planner.cal.on_days"
    else:
        key = f"planner.cal.{item.cadence}"
    return t(key, locale, time=item.time, days=_days(days, locale) if days else "")


def rrule(item: CalendarItem) -> str:
    """The item as an RFC 5545 recurrence rule (local time of the community)."""
    hour, minute = item.time.split(":")
    at = f"BYHOUR={int(hour)};BYMINUTE={int(minute)}"
    days = ",".join(RRULE_DAYS[d - 1] for d in item.weekdays)
    if item.cadence == "daily":
        return f"FREQ=DAILY;{at}" if not days else f"FREQ=WEEKLY;BYDAY={days};{at}"
    if item.cadence == "weekly":
        return f"FREQ=WEEKLY;BYDAY={days or 'MO'};{at}"
    interval = ";INTERVAL=3" if item.cadence == "quarterly" else ""
    on = f"BYDAY=1{RRULE_DAYS[item.weekdays[0] - 1]}" if item.weekdays else "BYMONTHDAY=1"  # as the clean-up runs
    return f"FREQ=MONTHLY{interval};{on};{at}"


def _calendar_applies(item: CalendarItem, ctype: str, a: Answers) -> bool:
    if ctype not in item.types:
        return False
    for fld, wanted in item.when.items():
        value: Any = {"product": bool(a.product.strip()), "offline": a.offline, "ads": a.ads}.get(fld)
        if isinstance(wanted, list) and value not in wanted:
            return False
        if not isinstance(wanted, list) and value != wanted:
            return False
    return True


def _format_target(unit: str, value: float, locale: str) -> str:
    if unit == "ratio":
        return f"{value:.0%}"
    if unit == "boolean":
        return t("planner.yes" if value else "planner.no", locale)
    return t(f"planner.unit.{unit}", locale, v=value)


def _gains(a: Answers, locale: str) -> str:
    p = load_playbook().planner
    return _join([next(v for v in p.values if v.key == k).gain.get(locale) for k in a.value], locale)


class _Builder:
    """Builds one plan; holds the answers, the type and both languages while it does."""

    def __init__(self, answers: Answers, rec: Recommendation, locale: str, warnings: list[Finding]) -> None:
        self.pb = load_playbook()
        self.p = self.pb.planner
        self.a = answers
        self.rec = rec
        self.doc = locale  # the plan document's language
        self.loc = answers.locale or locale  # the community's language
        self.type = effective_type(answers, rec)
        self.ctype = self.pb.types[self.type]
        self.warnings = warnings
        self.member_title = answers.member_title or t("planner.member", self.loc)
        self.activities = ""  # the activities of the calendar in words, set by rules()

    # -- type ---------------------------------------------------------------------------------------------------

    def type_section(self) -> dict[str, Any]:
        rec, doc = self.rec, self.doc
        best = rec.score_of(self.type)
        reasons = [Item("", r.text(doc), (Ref(r.source, r.quote),), r.signal.key) for r in best.reasons]
        names = {k: v.name.get(doc) for k, v in self.pb.types.items()}
        runner = rec.close_runner_up() if not self.a.type else None
        runner_item = None
        if runner is not None:
            runner_item = Item(
                t("planner.runner_up", doc, type=names[runner.type]),
                "; ".join(r.text(doc) for r in runner.reasons[:3]),
                tuple(Ref(r.source, r.quote) for r in runner.reasons[:3]),
            )
        return {
            "type_name": names[self.type],
            "core_view": Item(
                self.ctype.name.get(doc), self.ctype.core_view.text.get(doc), (Ref.of(self.ctype.core_view),)
            ),
            "reasons": reasons,
            "scores": [TypeScoreRow(s.type, names[s.type], s.score) for s in rec.scores],
            "aliases": [
                Item(m.name.get(doc), (m.description or m.name).get(doc), (Ref.of(m),)) for m in aliases(self.type)
            ],
            "runner_up": runner_item,
            "type_notes": [Item("", n.text.get(doc), (Ref.of(n),)) for n in self.ctype.notes],
        }

    # -- positioning --------------------------------------------------------------------------------------------

    def positioning(self) -> list[Item]:
        a, doc, p = self.a, self.doc, self.p
        items = [Item(q.text.get(doc), getattr(a, q.key), (Ref.of(q),), q.key) for q in p.three_questions]
        purpose = p.option("purposes", a.purpose)
        items.append(
            Item(
                t("planner.h.purpose", doc),
                purpose.name.get(doc) + colon(doc) + purpose.description.get(doc),
                (Ref.of(purpose),),
            )
        )
        q_persona = p.question("persona.age")
        persona = a.persona
        if persona is not None or a.tags:
            parts = [
                x for x in ([persona.age, persona.gender, persona.region, persona.occupation] if persona else []) if x
            ]
            parts += persona.interests if persona else []
            text = _join(parts, doc)
            if a.tags:
                tags = _join(a.tags, doc)
                text = text + paren(t("planner.tags", doc) + colon(doc) + tags, doc) if text else tags
            items.append(Item(t("planner.h.persona", doc), text, (Ref.of(q_persona),)))
        values = [next(v for v in p.values if v.key == k) for k in a.value]
        items.append(
            Item(
                t("planner.h.value", doc),
                _join([v.name.get(doc) + paren(v.description.get(doc), doc) for v in values], doc),
                tuple(Ref.of(v) for v in values),
            )
        )
        leader = p.option("leaders", a.team.leader)
        team = t("planner.team_text", doc, leader=leader.name.get(doc), size=a.team.size)
        items.append(Item(t("planner.h.team", doc), team, (Ref.of(leader), Ref.of(p.question("team.size")))))
        if a.resources:
            items.append(
                Item(t("planner.h.resources", doc), _join(a.resources, doc), (Ref.of(p.question("resources")),))
            )
        items.append(
            Item(t("planner.h.acquisition", doc), _join(a.acquisition, doc), (Ref.of(p.question("acquisition")),))
        )
        if a.product:
            items.append(Item(t("planner.h.product", doc), a.product, (Ref.of(p.question("product")),)))
        return items

    def goal(self) -> Item | None:
        g = self.a.goal
        if g is None:
            return None
        text = t(
            "planner.goal_text",
            self.doc,
            text=g.text,
            metric=g.metric or g.text,
            target=f"{g.target:g}" if g.target is not None else "?",
            deadline=g.deadline.isoformat() if g.deadline else "?",
        )
        return Item(t("planner.h.goal", self.doc), text, (Ref.of(self.p.question("goal.target")),))

    # -- rules and texts ----------------------------------------------------------------------------------------

    def nickname(self) -> tuple[str, Item]:
        nf = self.p.for_type("nickname_formats", self.type)
        fmt_local: str = nf.format.get(self.loc)
        return fmt_local, Item(
            t("planner.h.nickname", self.doc),
            nf.format.get(self.doc) + colon(self.doc) + nf.reason.get(self.doc),
            refs_of(nf, self.pb.templates["nickname_reminder"]),
        )

    def _jobs_on_by_default(self) -> dict[str, bool]:
        """Whether each rhythm job runs for this type when the spec says nothing (as ``RhythmSpec.fill`` decides)."""
        return {j.key: j.enabled and (not j.types or self.type in j.types) for j in self.pb.rhythm.jobs}

    def calendar(self) -> list[CalendarEntry]:
        out = []
        for item in self.p.calendar:
            if _calendar_applies(item, self.type, self.a):
                out.append(
                    CalendarEntry(
                        key=item.key,
                        job=item.job,
                        cadence=item.cadence,
                        time=item.time,
                        weekdays=tuple(item.weekdays),
                        duration_minutes=item.duration_minutes,
                        name=item.name.get(self.doc),
                        description=item.description.get(self.doc),
                        when=describe_when(item, self.doc),
                        rrule=rrule(item),
                        refs=(Ref.of(item),),
                    )
                )
        order = {"daily": 0, "weekly": 1, "monthly": 2, "quarterly": 3}
        out.sort(key=lambda c: (order[c.cadence], c.weekdays[:1] if c.cadence != "daily" else (), c.time))
        return out

    def rhythm(self, calendar: list[CalendarEntry]) -> dict[str, Any]:
        """The spec's ``rhythm`` section: the jobs the calendar turns on or off against the type's default, and the
        weekly guest-talk slot (book 2626-2628)."""
        planned = {c.job for c in calendar if c.job is not None}
        jobs = {k: {"enabled": k in planned} for k, on in self._jobs_on_by_default().items() if (k in planned) != on}
        out: dict[str, Any] = {"jobs": jobs}
        talk = next((c for c in calendar if c.key == "guest_talk"), None)
        if talk is not None and talk.weekdays:
            h, m = map(int, talk.time.split(":"))
            end = h * 60 + m + (talk.duration_minutes or 0)
            weekday = WEEKDAYS[talk.weekdays[0] - 1]
            out["guest_talk"] = {"weekday": weekday, "start": talk.time, "end": f"{end // 60 % 24:02d}:{end % 60:02d}"}
        return out

    def enforced(self, calendar: list[CalendarEntry]) -> dict[str, dict[str, Any]]:
        """The settings of the policies that enforce what the rules will announce: the ad rule (792 forbids, 790 a
        red packet, 1858 the ad window, which turns the rhythm's ad-window job on), the weekly task (794) when the
        type has one, and the clean-up (1795) when the calendar has it."""
        out: dict[str, dict[str, Any]] = {"moderation": {"ads": self.a.ads}}
        if self.p.for_type("weekly_tasks", self.type) is not None:
            out["tasks"] = {"enabled": True}
        cleanup = next((c for c in calendar if c.key == "cleanup"), None)
        if cleanup is not None:
            every = {"monthly": "month", "quarterly": "quarter"}.get(cleanup.cadence, "quarter")
            out["cleanup"] = {"enabled": True, "every": every, "roll_call_at": cleanup.time}
        return out

    def rules(self, nickname: str, spec: CommunitySpec, calendar: list[CalendarEntry]) -> list[Item]:
        """The seven sections, rendered from the settings the policies read in ``spec`` (one source: what the
        rules announce is what moderation, capacity, tasks and clean-up enforce)."""
        p, loc, a = self.p, self.loc, self.a
        per_group = a.per_group
        settings = {k: m.settings_model.model_validate(spec.policies.get(k) or {}) for k, m in _ENFORCING.items()}
        moderation = settings["moderation"]
        assert isinstance(moderation, ModerationSettings)
        sections = {s.key: s for s in self.pb.rules.sections}
        conduct = p.for_type("conduct", self.type)
        out: dict[str, tuple[str, list[Cited]]] = {}
        # 1 硬性指标
        if self.type == "consumption":
            rt = p.rule_text("hard_requirements.no_intro")
            out["hard_requirements"] = (fill(rt.text.get(loc), nickname_format=nickname), [rt])
        else:
            rt = p.rule_text("hard_requirements.intro")
            text = fill(rt.text.get(loc), nickname_format=nickname, intro_topic=conduct.intro.get(loc))
            out["hard_requirements"] = (text, [rt, self.pb.templates["self_intro"]])
        # 2 令行禁止
        rule = ad_rule(moderation, spec)
        base, ads = p.rule_text("prohibitions.base"), p.rule_text(f"prohibitions.{rule}")
        forbidden = fill(
            ads.text.get(loc),
            window=spec.rhythm.ad_window_words(loc),
            red_packet=money(moderation.red_packet_fen),
            per_char=money(moderation.per_char_fen),
        )
        text = fill(
            base.text.get(loc),
            encouraged=conduct.encouraged.get(loc),
            discouraged=conduct.discouraged.get(loc),
            forbidden=forbidden,
        )
        out["prohibitions"] = (text, [base, ads, conduct])
        # 3 踢人方案
        removal, cites = p.rule_text("removal.base"), []
        if {s.key: s for s in self.pb.sizes.policies}[spec.size.policy].mode == "one_in_one_out":
            cites.append(p.rule_text("removal.one_in_one_out"))
        cleanup = settings["cleanup"]
        assert isinstance(cleanup, CleanupSettings)
        if cleanup.enabled:
            cites.append(p.rule_text("removal.cleanup"))
        extra = spec.removal_extra()  # the same words as a spec's own default rules
        out["removal"] = (fill(removal.text.get(loc), extra=extra), [removal, *cites])
        # 4 任务方案
        task = p.for_type("weekly_tasks", self.type)
        tasks = settings["tasks"]
        assert isinstance(tasks, TasksSettings)
        if task is not None and tasks.enabled:
            rt = p.rule_text("tasks.homework")
            marks = _join([f"「{k}」" if loc != "en" else f'"{k}"' for k in tasks.keywords[:2]], loc)
            out["tasks"] = (fill(rt.text.get(loc), task=task.text.get(loc), keywords=marks), [rt, task])
        else:
            rt = p.rule_text("tasks.sharing")
            out["tasks"] = (rt.text.get(loc), [rt])
        # 5 红包方案: 小群大红包，中群不发红包，大群小红包 (book 796), split at the book's bands of 50 and 150
        bands = {b.members: b for b in self.pb.sizes.bands}
        band = "small" if per_group <= 50 else "medium" if per_group <= 150 else "large"
        rt = p.rule_text(f"red_packets.{band}")
        out["red_packets"] = (rt.text.get(loc), [rt, bands[50] if band == "small" else bands[150]])
        # 6 福利方案
        rt = p.rule_text("welfare.base")
        values = [v for v in p.values if v.key in a.value]
        out["welfare"] = (fill(rt.text.get(loc), gains=_gains(a, loc)), [rt, *values])
        # 7 活动方案
        rt = p.rule_text("activities.base")
        by_key = {c.key: c for c in p.calendar}
        acts = [
            t("planner.cal.activity", loc, when=describe_when(by_key[c.key], loc), name=by_key[c.key].name.get(loc))
            for c in calendar
        ]
        sep = "；" if loc != "en" else "; "
        self.activities = sep.join(acts) or "—"
        out["activities"] = (fill(rt.text.get(loc), activities=self.activities), [rt])
        return [Item(sections[k].name.get(self.doc), out[k][0], refs_of(*out[k][1]), k) for k in sections]

    def texts(self, nickname: str, rules: list[Item], rule: str) -> dict[str, Any]:
        pb, p, loc, a, doc = self.pb, self.p, self.loc, self.a, self.doc
        tpl = pb.templates
        ads = next(o for o in p.ads if o.key == rule)
        rule_summary = fill(p.rule_text("announcement.rules").text.get(loc), ads=ads.short.get(loc))
        ann = tpl["announcement.planned"]
        announcement = fill(ann.text.get(loc), gains=_gains(a, loc), rules=rule_summary, nickname_format=nickname)
        perks = self.type == "consumption"
        w, wi = (
            (tpl["welcome.perks"], tpl["welcome.perks_invited"])
            if perks
            else (
                tpl["welcome.planned"],
                tpl["welcome.planned_invited"],
            )
        )
        known = {"nickname_format": nickname, "member_title": self.member_title}
        guide_tpl = tpl["newcomer_guide.planned"]
        by_key = {r.key: r for r in rules}
        guide_rules = "\n".join(
            f"{i}. {by_key[k].text}" for i, k in enumerate(("hard_requirements", "prohibitions", "removal"), 1)
        )
        guide = fill(
            guide_tpl.text.get(loc),
            group=a.name,
            community=a.name,
            mission=a.what,
            purpose=f"{a.why} {a.together}",
            rules=guide_rules,
            activities=self.activities,
        )
        return {
            "announcement": Item(
                t("planner.h.announcement", doc), announcement, (Ref.of(ann), Ref.of(p.rule_text("announcement.rules")))
            ),
            "welcome": Item(t("planner.h.welcome", doc), fill(w.text.get(loc), **known), (Ref.of(w),)),
            "welcome_invited": Item(
                t("planner.h.welcome_invited", doc), fill(wi.text.get(loc), **known), (Ref.of(wi),)
            ),
            "newcomer_guide": Item(t("planner.h.newcomer_guide", doc), guide, (Ref.of(guide_tpl),)),
        }

    # -- threshold and size -------------------------------------------------------------------------------------

    def threshold(self) -> tuple[dict[str, Any], Item]:
        a, doc, pb = self.a, self.doc, self.pb
        kinds = {k.key: k for k in pb.thresholds.kinds}
        refs: list[Ref] = []
        why: list[str] = []
        params: dict[str, Any] = {}
        charging = a.charging
        if charging.model in PAYING:
            kind = "paid"
            params = {"fee": round((charging.amount or 0) * 100), "currency": "CNY"}
            if charging.period:
                params["period"] = charging.period
            option = self.p.option("charging", charging.model)
            why.append(option.description.get(doc))
            refs.append(Ref.of(option))
        else:
            kind = self.ctype.recommended_threshold
            if kind == "paid":  # a growth community that does not charge: a task instead (000:60)
                kind = "task"
                growth_free = self.p.check("growth_free")
                why.append(growth_free.message.get(doc))
                refs.append(Ref.of(growth_free))
            else:
                why.append(t("planner.threshold_for_type", doc, type=self.ctype.name.get(doc)))
                refs.append(Ref.of(self.ctype))
        if kind == "tag_screening":
            persona = a.persona
            asks = [t("planner.screen.company_role", self.loc)]
            if persona and persona.region:
                asks.append(t("planner.screen.region", self.loc, region=persona.region))
            if persona and persona.occupation:
                asks.append(t("planner.screen.occupation", self.loc, occupation=persona.occupation))
            params["required_answers"] = asks
        chosen = kinds[kind]
        refs.insert(0, Ref.of(chosen))
        text = chosen.name.get(doc) + colon(doc) + chosen.description.get(doc) + " " + " ".join(why)
        if kind == "paid":
            text += " " + t(
                "planner.fee_text",
                doc,
                amount=charging.amount or 0,
                period=self.p.option("periods", charging.period).name.get(doc)
                if charging.period
                else t("planner.once", doc),
            )
        return {"kind": kind, "params": params}, Item(t("planner.h.threshold", doc), text.strip(), tuple(refs), kind)

    def size(self) -> tuple[dict[str, Any], str, Item]:
        a, doc, pb = self.a, self.doc, self.pb
        policies = {s.key: s for s in pb.sizes.policies}
        policy = policies[self.ctype.recommended_size]
        capacity = policy.capacity
        spec_size: dict[str, Any] = {"policy": policy.key}
        cap = platform_cap(a.platform)
        refs = [Ref.of(policy)]
        if cap is not None and capacity > cap:
            capacity = cap
            spec_size["capacity"] = cap
            refs.append(Ref.of(next(c for c in pb.sizes.platform_caps if c.platform == a.platform)))
        needed = -(-a.expected_size // capacity)
        text = (
            policy.name.get(doc)
            + colon(doc)
            + policy.description.get(doc)
            + " "
            + t("planner.size_text", doc, size=a.expected_size, groups=a.groups, per_group=a.per_group)
        )
        if needed > a.groups:
            text += " " + t("planner.size_split", doc, capacity=capacity, needed=needed)
            ideal = next(b for b in pb.sizes.bands if b.members == 100)  # 100~200 人 is ideal; 清理＋分割 (book 1781)
            refs.append(Ref.of(ideal))
        return spec_size, policy.key, Item(t("planner.h.size", doc), text, tuple(refs), policy.key)

    # -- roles, KPIs, checklist, money ---------------------------------------------------------------------------

    def roles(self) -> tuple[dict[str, list[str]], list[RoleAssignment]]:
        a, doc, pb = self.a, self.doc, self.pb
        names = list(a.team.members)
        owner = names[0] if names else t("planner.owner", doc)
        others = names[1:]
        while len(others) < a.team.size - 1:  # people counted but not named
            others.append(t("planner.team_member", doc, n=len(others) + 2))
        helpers = others or [owner]
        roles_by_key = {r.key: r for r in pb.roles.roles}
        leader_note = self.p.for_type("leaders_by_type", self.type)
        spec_roles: dict[str, list[str]] = {}
        out = []
        next_helper = 0
        for plan in self.p.role_plan:
            who: list[str]
            if plan.filled_by == "owner":
                who = [owner]
            elif plan.filled_by == "team":
                who = [helpers[next_helper % len(helpers)]]
                next_helper += 1
            elif plan.filled_by == "shequn":
                who = ["shequn", helpers[-1]]
            else:
                who = []
            if who:
                spec_roles[plan.role] = who
            role = roles_by_key[plan.role]
            guidance = plan.guidance.get(doc)
            refs = [Ref.of(plan)]
            if plan.role == "architect":
                guidance += " " + leader_note.text.get(doc)
                refs.append(Ref.of(leader_note))
            out.append(
                RoleAssignment(
                    role=plan.role,
                    name=role.name.get(doc),
                    duties=role.duties.get(doc),
                    who=tuple(who),
                    filled_by=plan.filled_by,
                    guidance=guidance,
                    refs=tuple(dict.fromkeys((*refs, Ref.of(role)))),
                )
            )
        return spec_roles, out

    def kpis(self) -> tuple[dict[str, float], list[KpiTarget]]:
        out, targets = [], {}
        for k in self.ctype.kpis:
            if k.key == "renewal_rate" and self.a.charging.model != "membership":
                continue  # nothing to renew: a one-time fee, free, or courses sold one by one
            target = float(k.starting_target or 0)
            if k.key == "group_size":  # the smaller the better, and never above what is planned per group
                target = float(min(target, self.a.per_group))
            targets[k.key] = target
            out.append(
                KpiTarget(
                    key=k.key,
                    name=k.name.get(self.doc),
                    definition=k.definition.get(self.doc),
                    target=target,
                    shown=_format_target(k.unit, target, self.doc),
                    higher_is_better=k.higher_is_better,
                    refs=(Ref.of(k),),
                )
            )
        return targets, out

    def first_90_days(self) -> list[tuple[str, list[Item]]]:
        out = []
        for phase in PHASES:
            items = [
                Item("", c.text.get(self.doc), (Ref.of(c),), c.key)
                for c in self.p.first_90_days
                if c.phase == phase and (not c.types or self.type in c.types)
            ]
            if items:
                out.append((t(f"planner.phase.{phase}", self.doc), items))
        return out

    def monetization(self) -> list[Item]:
        modes = {m.key: m for m in self.p.monetization}
        current = CHARGING_MODE.get(self.a.charging.model)
        keys = list(self.ctype.monetization)
        if current in keys:
            keys.remove(current)
            keys.insert(0, current)
        out = []
        for k in keys:
            m = modes[k]
            title = m.name.get(self.doc) + (
                paren(t("planner.current_mode", self.doc), self.doc) if k == current else ""
            )
            out.append(Item(title, m.description.get(self.doc), (Ref.of(m),), k))
        return out


def build_plan(answers: Answers, *, locale: str = "zh-CN", today: date) -> Plan:
    """The plan for ``answers``; raises :class:`OpenQuestionsError` while questions are open.

    Args:
        answers: the operator's answers.
        locale: the language of the plan documents (the community's own is ``answers.locale``, default the same).
        today: the date the goal's deadline is checked against.
    """
    rec = recommend(facts_from_answers(answers))
    findings = check_answers(answers, rec, today=today)
    open_questions = questions(findings)
    if open_questions:
        raise OpenQuestionsError(open_questions, locale)
    b = _Builder(answers, rec, locale, findings)
    typ = b.type_section()
    nickname, nickname_item = b.nickname()
    threshold, threshold_item = b.threshold()
    size, _, size_item = b.size()
    calendar = b.calendar()
    spec_roles, roles = b.roles()
    spec_kpis, kpis = b.kpis()
    maintenance = missing_essentials(answers)
    mg = b.p.maintenance_group
    g = answers.goal
    persona = answers.persona
    enforced = b.enforced(calendar)
    data: dict[str, Any] = {
        "name": answers.name,
        "type": b.type,
        "locale": b.loc,
        "timezone": answers.timezone,
        "nickname_format": nickname,
        "positioning": {
            "what": answers.what,
            "why": answers.why,
            "together": answers.together,
            "purpose": answers.purpose,
            "tags": answers.tags,
            "goal": ({"text": g.text, "metric": g.metric, "target": g.target, "deadline": g.deadline} if g else {}),
            "persona": persona.model_dump() if persona else {},
            "value": answers.value,
            "member_title": answers.member_title,
        },
        "threshold": threshold,
        "size": size,
        "roles": spec_roles,
        "kpis": spec_kpis,
        "rhythm": b.rhythm(calendar),
        "policies": enforced,
    }
    # The rules are rendered from the settings the policies read (the spec as it will run), then written into it.
    rules = b.rules(nickname, CommunitySpec.model_validate(data), calendar)
    texts = b.texts(nickname, rules, enforced["moderation"]["ads"])
    spec = CommunitySpec.model_validate(
        {
            **data,
            "rules": {"version": 1, "sections": {r.key: r.text for r in rules}},
            "policies": {
                **enforced,
                "welcome": {"template": texts["welcome"].text, "invited_template": texts["welcome_invited"].text},
                "onboarding": {"guide": texts["newcomer_guide"].text.replace("{", "{{").replace("}", "}}")},
            },
        }
    )
    welcome = WelcomeSettings.model_validate(spec.policies["welcome"])
    problems = Welcome().check(welcome, spec)
    if problems:  # the templates are the playbook's: a problem here is a bug, not the operator's
        raise RuntimeError(f"planner built an invalid welcome template: {problems}")
    timing = b.p.monetization_timing
    return Plan(
        locale=locale,
        answers=answers,
        spec=spec,
        recommendation=rec,
        type=b.type,
        chosen_by_operator=bool(answers.type),
        maintenance=maintenance,
        maintenance_note=Item(t("planner.h.maintenance", locale), mg.text.get(locale), (Ref.of(mg),))
        if maintenance
        else None,
        warnings=[f for f in findings if f.severity == "warning"],
        positioning=b.positioning(),
        rules=rules,
        nickname=nickname_item,
        threshold=threshold_item,
        size=size_item,
        calendar=calendar,
        roles=roles,
        kpis=kpis,
        goal=b.goal(),
        first_90_days=b.first_90_days(),
        monetization=b.monetization(),
        monetization_timing=Item(t("planner.h.timing", locale), timing.text.get(locale), (Ref.of(timing),)),
        extra_refs=[Ref.of(q) for q in b.p.three_questions],
        **typ,
        **texts,
    )
