"""Typed shape of ``data/planner.yaml``: what the planner (建群规划) asks and builds a plan from.

The questions before building (book 676-684) and their other phrasings, the six purposes (715-725), the value
kinds (1560-1568), who leads, how it charges, the interview, the signals that point the answers to a type, the
checks that send a question back, the three essentials of a community (666-672), and the tailored pieces of a plan
(nickname formats, rule texts, conduct, the rhythm calendar, the first 90 days, role assignment, monetization).
Everything is :class:`~shequn.playbook.models.Cited`.
"""

from __future__ import annotations

import string
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from shequn.playbook.models import Cited, CitedText, Text

QuestionKind = Literal["text", "texts", "choice", "choices", "int", "number", "date", "bool"]
Cadence = Literal["daily", "weekly", "monthly", "quarterly"]
Phase = Literal["before_launch", "week_1", "weeks_2_4", "month_2", "month_3"]
FilledBy = Literal["owner", "team", "seed", "members", "shequn"]
SECTION_KEYS = ("hard_requirements", "prohibitions", "removal", "tasks", "red_packets", "welfare", "activities")
OPTION_LISTS = ("purposes", "values", "leaders", "charging", "periods", "ads")


def placeholders(text: str) -> set[str]:
    """The ``{field}`` names a str.format template uses."""
    return {f.split(":")[0].split("!")[0] for _, f, _, _ in string.Formatter().parse(text) if f}


class _Frozen(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class KeyedText(Cited):
    key: str = Field(pattern=r"^[a-z_]+$")
    text: Text


class Option(Cited):
    """One answer of a choice question (a purpose, a value kind, a leader, a charging model …)."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    aliases: list[str] = Field(default_factory=list)  # other names accepted on input, any language
    description: Text


class ValueOption(Option):
    gain: Text  # what a member gets, phrased for the announcement and the benefits section


class AdsOption(Option):
    short: Text  # the rule in a few words, for the announcement


class Question(Cited):
    """One question of the interview; ``key`` is the answer's field (``goal.target``)."""

    key: str = Field(pattern=r"^[a-z_]+(\.[a-z_]+)?$")
    kind: QuestionKind
    prompt: Text
    hint: Text | None = None
    options: str | None = None  # the option list a choice draws from
    required: bool = True
    none_ok: bool = False  # "none" is an answer: the essential is absent (goal)
    default: Any = None
    ask_if: dict[str, Any] = Field(default_factory=dict)  # field → "present" or a list of accepted values

    @model_validator(mode="after")
    def _choices_name_a_list(self) -> Question:
        if (self.kind in ("choice", "choices")) != (self.options is not None):
            raise ValueError(f"question {self.key}: choice questions (and only they) name their options")
        if self.options is not None and self.options not in OPTION_LISTS:
            raise ValueError(f"question {self.key}: unknown option list {self.options!r}")
        return self


class SignalWhen(_Frozen):
    """When a signal fires. Exactly one condition per signal keeps each reason about one thing."""

    purpose: list[str] | None = None
    value: list[str] | None = None
    leader: list[str] | None = None
    charging: list[str] | None = None
    product: bool | None = None
    offline: bool | None = None
    size_at_most: int | None = None  # members per group
    size_at_least: int | None = None
    keywords: list[str] | None = None

    @model_validator(mode="after")
    def _one_condition(self) -> SignalWhen:
        set_ = [k for k, v in self.__dict__.items() if v is not None]
        if len(set_) != 1:
            raise ValueError(f"a signal has exactly one condition, not {set_}")
        return self


class Signal(Cited):
    """Evidence in the answers for one or more types; its reason is shown with the recommendation."""

    key: str = Field(pattern=r"^[a-z_]+$")
    when: SignalWhen
    scores: dict[str, int] = Field(min_length=1)
    reason: Text

    @field_validator("reason")
    @classmethod
    def _only_words_placeholder(cls, v: Text) -> Text:
        for text in (v.zh, v.en):
            if placeholders(text) - {"words"}:
                raise ValueError("a signal's reason may only use {words}")
        return v


class Check(Cited):
    """A check on the answers: ``question`` sends a question back on ``field``; ``warning`` only notes it."""

    key: str = Field(pattern=r"^[a-z_]+$")
    field: str
    severity: Literal["question", "warning"]
    params: dict[str, float] = Field(default_factory=dict)
    message: Text


class Essential(Cited):
    """One of the three essentials of a community (社群三要素, book 666-672)."""

    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    missing: Text


class ByType(Cited):
    type: str


class NicknameFormat(ByType):
    format: Text
    reason: Text


class RuleText(Cited):
    """A tailored piece of one of the seven rule sections (book 786-800); a str.format template."""

    key: str = Field(pattern=r"^[a-z_]+\.[a-z_]+$")
    section: str
    text: Text

    @field_validator("section")
    @classmethod
    def _known_section(cls, v: str) -> str:
        if v not in SECTION_KEYS:
            raise ValueError(f"unknown rule section {v!r}")
        return v


class Conduct(ByType):
    encouraged: Text
    discouraged: Text
    intro: Text  # what a newcomer says about themselves, besides name and city


class TypedText(ByType):
    text: Text


class CalendarItem(Cited):
    """A recurring item of the rhythm calendar (节奏日历).

    An item that names a rhythm ``job`` (``rhythm.yaml``) is that job: its cadence, time, days and window are the
    job's, filled in when the playbook loads, so the plan and the scheduler cannot disagree; the plan's spec turns
    the job on or off where ``types`` differs from the job's default. Items without a job (guest talks, meet-ups,
    clean-ups) are the operator's own appointments and carry their time here.
    """

    key: str = Field(pattern=r"^[a-z_]+$")
    job: str | None = None
    cadence: Cadence = "daily"
    time: str = Field(default="", pattern=r"^(([01]\d|2[0-3]):[0-5]\d)?$")
    weekdays: list[int] = Field(default_factory=list)  # ISO: 1 = Monday … 7 = Sunday; empty: every day
    duration_minutes: int | None = Field(default=None, gt=0)
    types: list[str] = Field(min_length=1)  # the community types it is planned for
    when: dict[str, Any] = Field(default_factory=dict)  # answer field → required value(s)
    name: Text
    description: Text

    @field_validator("weekdays")
    @classmethod
    def _iso_days(cls, v: list[int]) -> list[int]:
        if any(not 1 <= d <= 7 for d in v):
            raise ValueError("weekdays are 1 (Monday) to 7 (Sunday)")
        return v

    @model_validator(mode="after")
    def _time_or_job(self) -> CalendarItem:
        if self.job is None and not self.time:
            raise ValueError(f"calendar item {self.key!r}: give its time, or the rhythm job it is")
        if self.job is not None and (self.time or self.weekdays or self.duration_minutes):
            raise ValueError(f"calendar item {self.key!r} is rhythm job {self.job!r}: its time and days are the job's")
        return self


class ChecklistItem(Cited):
    """A step of the first 90 days (book 838); ``types`` empty means every type."""

    key: str = Field(pattern=r"^[a-z_0-9]+$")
    phase: Phase
    text: Text
    types: list[str] = Field(default_factory=list)


class RolePlan(Cited):
    """Who fills a role at the start (book 804-832)."""

    role: str
    filled_by: FilledBy
    guidance: Text


class MonetizationOption(Cited):
    key: str = Field(pattern=r"^[a-z_]+$")
    name: Text
    description: Text


class PlannerBook(_Frozen):
    """The whole of ``planner.yaml``."""

    three_questions: list[KeyedText] = Field(min_length=3, max_length=3)
    alternatives: list[CitedText] = Field(min_length=3)
    purposes: list[Option] = Field(min_length=6, max_length=6)
    values: list[ValueOption] = Field(min_length=4)
    leaders: list[Option] = Field(min_length=1)
    charging: list[Option] = Field(min_length=2)
    periods: list[Option] = Field(min_length=1)
    ads: list[AdsOption] = Field(min_length=1)
    questions: list[Question] = Field(min_length=10)
    signals: list[Signal] = Field(min_length=1)
    essentials: list[Essential] = Field(min_length=3, max_length=3)
    maintenance_group: CitedText
    checks: list[Check]
    nickname_formats: list[NicknameFormat]
    rule_texts: list[RuleText]
    conduct: list[Conduct]
    weekly_tasks: list[TypedText]
    calendar: list[CalendarItem]
    first_90_days: list[ChecklistItem]
    role_plan: list[RolePlan]
    leaders_by_type: list[TypedText]
    monetization: list[MonetizationOption]
    monetization_timing: CitedText

    @model_validator(mode="after")
    def _unique_keys(self) -> PlannerBook:
        for name in (*OPTION_LISTS, "questions", "signals", "checks", "rule_texts", "calendar", "first_90_days"):
            keys = [item.key for item in getattr(self, name)]
            dupes = {k for k in keys if keys.count(k) > 1}
            if dupes:
                raise ValueError(f"{name}: duplicate key(s) {sorted(dupes)}")
        return self

    def options(self, name: str) -> list[Option]:
        """An option list by name (``purposes``, ``values`` …)."""
        items: list[Option] = getattr(self, name)
        return items

    def option(self, name: str, key: str) -> Option:
        return next(o for o in self.options(name) if o.key == key)

    def question(self, key: str) -> Question:
        return next(q for q in self.questions if q.key == key)

    def check(self, key: str) -> Check:
        return next(c for c in self.checks if c.key == key)

    def rule_text(self, key: str) -> RuleText:
        return next(r for r in self.rule_texts if r.key == key)

    def for_type(self, name: str, type_key: str) -> Any:
        """The item of a by-type list (``nickname_formats``, ``conduct`` …) for ``type_key``, or None."""
        return next((x for x in getattr(self, name) if x.type == type_key), None)
