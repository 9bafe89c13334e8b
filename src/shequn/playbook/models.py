"""Typed shape of the playbook's YAML files (``shequn/playbook/data/*.yaml``).

Every default carries ``source``: the seed file and line(s) it comes from, written ``FILE:LINE`` or
``FILE:FIRST-LAST`` (e.g. ``002_f229b143e7e75e03.txt:786-800``), and where useful a short verbatim ``quote`` from
those lines, so anyone can check the claim against the seed.
"""

from __future__ import annotations

import re
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

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
