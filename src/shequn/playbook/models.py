"""Typed shape of the playbook's YAML files (``shequn/playbook/data/*.yaml``).

Every default carries ``source``: the seed file and line(s) it comes from, written ``FILE:LINE`` or
``FILE:FIRST-LAST`` (e.g. ``002_f229b143e7e75e03.txt:786-800``), and where useful a short verbatim ``quote`` from
those lines, so anyone can check the claim against the seed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, field_validator, model_validator

SEED_FILES: dict[str, int] = {
    # file name → number of lines (a citation must fall inside the file). The files end without a newline, so
    # this is one more than `wc -l` prints: 000's last line, 130, is the industry type's 核心观点.
    "000_429f995354a731ff.txt": 130,
    "001_39f3881ca0c9e9e6.txt": 61,
    "002_f229b143e7e75e03.txt": 2884,
    "003_8f3d0b9471bfba30.txt": 649,
    "004_5ad426f3d3d43cef.txt": 74,
}

_SOURCE_RE = re.compile(r"^(?P<file>[0-9a-f_]+\.txt):(?P<first>\d+)(?:-(?P<last>\d+))?$")
LOCALES = ("zh-CN", "en")


def check_source(text: str) -> str:
    """Validate a ``FILE:LINE[-LINE]`` citation against the known seed files."""
    m = _SOURCE_RE.match(text)
    if not m:
        raise ValueError(f"source {text!r} is not FILE:LINE or FILE:FIRST-LAST")
    size = SEED_FILES.get(m["file"])
    if size is None:
        raise ValueError(f"source {text!r} names an unknown seed file")
    first = int(m["first"])
    last = int(m["last"] or first)
    if not 1 <= first <= last <= size:
        raise ValueError(f"source {text!r}: lines must be within 1-{size} and in order")
    return text


Source = Annotated[str, AfterValidator(check_source)]


def parse_source(text: str) -> tuple[str, int, int]:
    """(file, first line, last line) of a citation."""
    m = _SOURCE_RE.match(text)
    if not m:
        raise ValueError(f"not a source: {text!r}")
    first = int(m["first"])
    return m["file"], first, int(m["last"] or first)


class Text(BaseModel):
    """A text a person reads, in both languages."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True, frozen=True)

    zh: str = Field(alias="zh-CN", min_length=1)
    en: str = Field(min_length=1)

    def get(self, locale: str) -> str:
        return self.en if locale.startswith("en") else self.zh


class Cited(BaseModel):
    """Anything the playbook asserts: it says where in the seeds it comes from."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    source: Source
    quote: str | None = None  # a short verbatim excerpt of the cited line(s)


class CitedText(Cited):
    text: Text


class Kpi(Cited):
    """A key performance indicator of a community type (考核指标)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    definition: Text
    unit: str = "ratio"  # ratio | count | per_week | per_month | days | boolean | money
    higher_is_better: bool = True
    starting_target: float | None = None  # the planner's suggestion for a new community


class CommunityType(Cited):
    """One of the six community types of 000_429f995354a731ff.txt (消费型, 成长型 …)."""

    key: str = Field(pattern=r"^[a-z]+$")
    name: Text
    aliases: list[str] = Field(default_factory=list)  # other names accepted on input, any language
    definition: Text
    examples: list[Text] = Field(default_factory=list)
    notes: list[CitedText] = Field(default_factory=list)  # operating notes
    core_view: CitedText  # the article's 核心观点
    kpis: list[Kpi] = Field(min_length=1)
    activity_judged: bool = True  # False: chat activity is shown but never judged (消费型)
    recommended_threshold: str = "none"  # a threshold kind key
    recommended_size: str = "soft_cap"  # a size policy key
    monetization: list[str] = Field(default_factory=list)  # monetization mode keys that fit


class TypeMapping(Cited):
    """A type from another taxonomy and the six-type keys it corresponds to."""

    key: str
    name: Text
    description: Text | None = None
    maps_to: list[str] = Field(min_length=1)


class Taxonomies(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[CommunityType] = Field(min_length=6, max_length=6)
    d1_types: list[TypeMapping]  # 001_39f3881ca0c9e9e6.txt's three types
    d3_categories: list[TypeMapping]  # 003_8f3d0b9471bfba30.txt's six categories

    @model_validator(mode="after")
    def _mappings_name_known_types(self) -> Taxonomies:
        keys = {t.key for t in self.types}
        for m in [*self.d1_types, *self.d3_categories]:
            unknown = set(m.maps_to) - keys
            if unknown:
                raise ValueError(f"mapping {m.key!r} names unknown type(s) {sorted(unknown)}")
        return self


class RuleSection(Cited):
    """One of the seven sections of a complete rule set (一个完整的群规, book 786-800)."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    purpose: Text
    default: Text  # default wording, ready to post
    # The default wording under another ad rule (policies.moderation.ads: forbid | window), so the default rules
    # announce what moderation enforces; ``{window}`` is the ad window (rhythm.jobs.ad_window) in words.
    by_ads: dict[str, Text] = Field(default_factory=dict)
    # The default wording while the policy that enforces the section is off (the weekly task: policies.tasks), so the
    # default rules never announce what nothing enforces.
    policy: str = ""
    when_off: Text | None = None


class RuleBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    sections: list[RuleSection] = Field(min_length=7, max_length=7)
    requirements: list[CitedText] = Field(min_length=4)  # 简单明了、主次分明、人性化、不断完善


class SizeBand(Cited):
    """A group-size threshold and what the seeds say happens around it."""

    members: int = Field(gt=0)
    meaning: Text


class SizePolicy(Cited):
    """A way to bound a group's size (one-in-one-out 69, soft cap 150, platform hard caps …)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")  # digits allowed: hard_cap_500
    name: Text
    description: Text
    capacity: int = Field(gt=0)
    mode: str = Field(pattern=r"^(one_in_one_out|soft_cap|hard_cap)$")
    warn_at: float = Field(default=0.9, gt=0, le=1)  # warn when this share of capacity is reached


class PlatformCap(Cited):
    platform: str
    members: int = Field(gt=0)
    note: Text


class Sizes(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    policies: list[SizePolicy] = Field(min_length=2)
    bands: list[SizeBand] = Field(min_length=5)
    platform_caps: list[PlatformCap] = Field(min_length=2)


class ThresholdKind(Cited):
    """One of the five entry thresholds (入群门槛, book 1710-1727), or ``none``."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    description: Text
    params: dict[str, Any] = Field(default_factory=dict)  # parameter name → default value


class Thresholds(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[ThresholdKind] = Field(min_length=5)
    theories: list[CitedText] = Field(default_factory=list)  # 社群筛选的三大理论


class Role(Cited):
    """A role in a community (社群角色, book 804-832)."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    duties: Text
    core: bool = True  # the nine roles; False for the two extra member kinds (从众追随者, 沉默者)
    inferable: bool = False  # analytics can spot it from behaviour


class RoleBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    roles: list[Role] = Field(min_length=11)


class Template(Cited):
    """A message template; placeholders are ``{name}`` style (str.format)."""

    key: str = Field(pattern=r"^[a-z_.]+$")
    text: Text


# -- rhythm, topics and activities (节奏、话题、活动) -------------------------------------------------------------

_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"
WEEKDAYS = ("monday", "tuesday", "wednesday", "thursday", "friday", "saturday", "sunday")


class JobDefault(Cited):
    """A recurring job of the rhythm (早报, 签到, 游戏时间 …) with its default time and wording.

    ``days`` is ``daily``, ``weekdays`` or one weekday name; ``offset_days`` posts that many days before the day it
    is about (the preheat goes out the evening before the activity). ``priority``: when more posts are planned in a
    group than ``max_posts_per_day`` allows, lower numbers go first.
    """

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    at: str = Field(pattern=_HHMM)
    until: str | None = Field(default=None, pattern=_HHMM)  # end of a window (the ad window)
    days: str = "daily"
    offset_days: int = Field(default=0, ge=0, le=7)
    counts_toward_cap: bool = True
    priority: int = 50
    enabled: bool = True
    types: list[str] = Field(default_factory=list)  # community types it is on for by default (empty: all)
    text: Text | None = None  # the post; placeholders depend on the job (see rhythm.yaml)

    @model_validator(mode="after")
    def _days_known(self) -> JobDefault:
        if self.days not in ("daily", "weekdays", *WEEKDAYS):
            raise ValueError(f"job {self.key}: days must be daily, weekdays or a weekday name, not {self.days!r}")
        return self


class CitedValue(Cited):
    value: int


class QuietHours(Cited):
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)


class RhythmBook(BaseModel):
    """``rhythm.yaml``: quiet hours, the daily cap and the default jobs, plus the labels of the reports."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    quiet_hours: QuietHours
    max_posts_per_day: CitedValue
    misfire_grace_minutes: int = Field(default=30, gt=0)
    jobs: list[JobDefault] = Field(min_length=8)
    labels: dict[str, Text]


class TopicType(Cited):
    """One of the seven topic types of ``004_5ad426f3d3d43cef.txt`` line 38 (热点事件 … 社群自带)."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text


class Topic(BaseModel):
    """A topic of the library: a question to open the discussion and the follow-up the content loop moves on to."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    type: str
    text: Text
    follow_up: Text


class Game(BaseModel):
    """A little game of game time; ``answers`` are the patterns (per language) a right answer matches: the games
    policy checks them and names the first member who gets one right."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str
    name: Text
    text: Text
    answers: dict[Literal["zh-CN", "en"], list[str]] = Field(default_factory=dict)

    @field_validator("answers")
    @classmethod
    def _patterns(cls, v: dict[str, list[str]]) -> dict[str, list[str]]:
        for patterns in v.values():
            for pattern in patterns:
                re.compile(pattern)
        return v


class Threshold(Cited):
    """A number a detector or a diagnosis uses (诊断阈值); ``text`` says what it means."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    value: float
    text: Text


class Cause(Cited):
    """A cause the seeds give for a community going wrong (the four causes of low vitality, book 2345-2353 …)."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    text: Text


class TopicBook(BaseModel):
    """``topics.yaml``: the topic types, the default library, the content loop and the games."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    types: list[TopicType] = Field(min_length=7, max_length=7)
    loop: list[CitedText] = Field(min_length=6, max_length=6)
    topics: list[Topic] = Field(min_length=7)
    case_study: CitedText
    games_source: Cited
    games: list[Game] = Field(min_length=2)

    @model_validator(mode="after")
    def _types_known(self) -> TopicBook:
        keys = {t.key for t in self.types}
        for topic in self.topics:
            if topic.type not in keys:
                raise ValueError(f"topic {topic.text.zh!r} has unknown type {topic.type!r}")
        missing = keys - {t.type for t in self.topics}
        if missing:
            raise ValueError(f"no default topic for type(s) {sorted(missing)}")
        return self


class Step(Cited):
    """One step of a run-of-show: when it happens relative to the activity, and what is posted or done."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    name: Text
    text: Text | None = None


class GuestTalkBook(BaseModel):
    """The guest talk (嘉宾分享): the weekly slot and the nine steps (004 lines 44-55) with the book's practice."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    slot: Cited
    weekday: str
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)
    qa_minutes: int = Field(gt=0)
    notice: Cited
    notice_days_before: int = Field(ge=1, le=14)
    same_day_notices: list[str]
    checklist: list[CitedText] = Field(min_length=5)
    steps: list[Step] = Field(min_length=9)
    queue_every_minutes: int = Field(default=10, gt=0)


class OfflineBook(BaseModel):
    """Offline events (线下活动, book 1405-1436): the agenda rules, the five steps and their texts."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    max_minutes: CitedValue
    break_after_minutes: CitedValue
    break_minutes: CitedValue
    steps: list[Step] = Field(min_length=5)


class ActivityBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    guest_talk: GuestTalkBook
    offline: OfflineBook
    labels: dict[str, Text]


# -- platform limits (documented by the platforms, not the seeds) --------------------------------------------------


class Documented(BaseModel):
    """Where a platform documents a limit: the page and a short verbatim quote (not a seed: these are facts of the
    platforms)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str = Field(pattern=r"^https://")
    quote: str = Field(min_length=4)
    note: str = ""


class RateLimitDefault(BaseModel):
    """At most ``count`` actions in any ``seconds`` (a sliding window), per platform, per bot token or per group."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    scope: str = Field(pattern=r"^(platform|bot|group)$")
    count: int = Field(gt=0)
    seconds: float = Field(gt=0)
    kinds: list[str] = Field(default_factory=list)  # action kinds it applies to (empty: all)
    documented: Documented


class QuotaDefault(BaseModel):
    """At most ``count`` actions of ``kinds`` per group per calendar ``period`` (WeCom 群发: 4 a month)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    kinds: list[str] = Field(min_length=1)
    count: int = Field(gt=0)
    period: str = Field(pattern=r"^(day|week|month)$")
    timezone: str = "Asia/Shanghai"
    documented: Documented


class TimingDefault(BaseModel):
    """How long a connector waits for something on a platform before it acts (``name``: what it waits for)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: str = Field(pattern=r"^[a-z_]+$")
    seconds: float = Field(gt=0)
    documented: Documented


class PlatformLimits(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platform: str
    limits: list[RateLimitDefault] = Field(default_factory=list)
    quotas: list[QuotaDefault] = Field(default_factory=list)
    timings: list[TimingDefault] = Field(default_factory=list)

    def timing(self, name: str) -> float | None:
        """Seconds of the timing ``name`` (None when the platform has none)."""
        return next((x.seconds for x in self.timings if x.name == name), None)


class LimitsBook(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    platforms: list[PlatformLimits]
    fallback: PlatformLimits  # for a platform with no entry


class Default(Cited):
    """One default setting of a policy and where the seeds say so.

    ``value`` is what the policy's settings take when a community's spec says nothing. Where the seeds give the
    rule but not the figure (how many messages make flooding, how long a grace period lasts), ``note`` says which
    part is shequn's own choice, so nobody mistakes it for the book's.
    """

    value: Any
    note: Text | None = None


class PolicyBook(BaseModel):
    """A policy's defaults and the texts it posts in groups, each citing the seeds."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    about: CitedText  # what the mechanism is, in the book's words
    defaults: dict[str, Default] = Field(default_factory=dict)
    texts: dict[str, CitedText] = Field(default_factory=dict)


class Condition(BaseModel):
    """``signal op value``: a measured signal compared with a value (``in`` takes a list)."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    signal: str = Field(pattern=r"^[a-z][a-z0-9_.]*$")
    op: str = Field(pattern=r"^(==|!=|<|<=|>|>=|in)$")
    value: Any


class DiagnosisRule(BaseModel):
    """When every condition holds for a group (or community), the cause is named and the prescription given."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    scope: str = Field(pattern=r"^(group|community)$")
    severity: str = Field(pattern=r"^(high|medium|low)$")
    judges_activity: bool  # True: never applied to a type whose activity is not judged (消费型 …)
    when: list[Condition] = Field(min_length=1)
    types: list[str] = Field(default_factory=list)  # only these types (empty: all)
    except_types: list[str] = Field(default_factory=list)
    cause: str
    title: Text
    prescription: CitedText


class Diagnoses(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    thresholds: list[Threshold] = Field(min_length=1)
    causes: list[Cause] = Field(min_length=4)
    rules: list[DiagnosisRule] = Field(min_length=1)

    @model_validator(mode="after")
    def _references(self) -> Diagnoses:
        causes = {c.key for c in self.causes}
        for r in self.rules:
            if r.cause not in causes:
                raise ValueError(f"rule {r.key!r} names unknown cause {r.cause!r}")
        keys = [r.key for r in self.rules]
        if len(keys) != len(set(keys)):
            raise ValueError("rule keys must be unique")
        return self

    def values(self) -> dict[str, float]:
        """Threshold key → value."""
        return {t.key: t.value for t in self.thresholds}

    def cause(self, key: str) -> Cause:
        return next(c for c in self.causes if c.key == key)


# -- automations (自动化) -----------------------------------------------------------------------------------------


class AutomationLimit(Cited):
    value: int = Field(gt=0)
    note: Text


class AutomationTemplate(Cited):
    """A book-derived set of rules (and campaigns) in the spec's rule language; ``$param`` stands for a param."""

    about: Text
    params: dict[str, Any] = Field(default_factory=dict)
    rules: list[dict[str, Any]] = Field(min_length=1)
    campaigns: list[dict[str, Any]] = Field(default_factory=list)


class HolidayDay(BaseModel):
    """One day of the greetings' calendar: exactly one of ``date``, ``rule``, ``after``, ``weekday``."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    date: str | None = Field(default=None, pattern=r"^(0[1-9]|1[0-2])-(0[1-9]|[12]\d|3[01])$")
    rule: tuple[str, str] | None = None  # (country code, the holiday's English name in the `holidays` library)
    after: tuple[str, int] | None = None  # (another day's key, days after it)
    weekday: tuple[int, int, int] | None = None  # (month, n, weekday 0=Monday): the n-th weekday of the month

    @model_validator(mode="after")
    def _one_way(self) -> HolidayDay:
        if sum(x is not None for x in (self.date, self.rule, self.after, self.weekday)) != 1:
            raise ValueError(f"holiday {self.key}: give exactly one of date, rule, after, weekday")
        return self


class HolidayBook(Cited):
    days: list[HolidayDay] = Field(min_length=1)


class AutomationBook(BaseModel):
    """``automations.yaml``: the limits every rule keeps, the templates, the holidays' calendar."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    limits: dict[str, AutomationLimit]
    templates: dict[str, AutomationTemplate]
    holidays: HolidayBook
