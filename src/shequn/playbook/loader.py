"""Load and check the playbook's YAML files.

The playbook is read once per process (:func:`load_playbook` is cached) and is immutable afterwards. A file that does
not match its model fails loudly at load time, naming the file and the field: the package is broken, not the user.
"""

from __future__ import annotations

import base64
import copy
import json
import unicodedata
from collections.abc import Iterator
from functools import cache
from importlib import resources
from pathlib import Path
from typing import Any, TypeVar

import yaml
from pydantic import BaseModel, TypeAdapter, ValidationError

from shequn.playbook.models import (
    WEEKDAYS,
    ActivityBook,
    AutomationBook,
    Cited,
    CommunityType,
    Diagnoses,
    Documented,
    LimitsBook,
    PlatformLimits,
    PolicyBook,
    RhythmBook,
    RoleBook,
    RuleBook,
    Sizes,
    Taxonomies,
    Template,
    Thresholds,
    TopicBook,
    parse_source,
)
from shequn.playbook.planner import SECTION_KEYS, CalendarItem, PlannerBook

M = TypeVar("M")

# The policies' defaults, one file per area (each maps policy names to their book).
POLICY_FILES = (
    "admission.yaml",
    "onboarding.yaml",
    "moderation.yaml",
    "incentives.yaml",
    "discipline.yaml",
    "membership.yaml",
    "faq.yaml",
    "growth.yaml",
    "lifecycle.yaml",
    "inbox.yaml",
)


def _read(name: str, model: Any) -> Any:
    text = resources.files("shequn.playbook").joinpath("data", name).read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    try:
        return TypeAdapter(model).validate_python(data)
    except ValidationError as exc:
        raise RuntimeError(f"playbook file data/{name} is invalid:\n{exc}") from exc


def _fold(name: str) -> str:
    """Case-, width- and space-insensitive form used to match type names typed by people."""
    return "".join(unicodedata.normalize("NFKC", name).lower().split())


class Playbook:
    """The whole playbook, typed. Use :func:`load_playbook` rather than constructing it."""

    def __init__(self) -> None:
        self.taxonomies: Taxonomies = _read("types.yaml", Taxonomies)
        self.rules: RuleBook = _read("rules.yaml", RuleBook)
        self.sizes: Sizes = _read("sizes.yaml", Sizes)
        self.thresholds: Thresholds = _read("thresholds.yaml", Thresholds)
        self.roles: RoleBook = _read("roles.yaml", RoleBook)
        self.planner: PlannerBook = _read("planner.yaml", PlannerBook)
        templates: list[Template] = _read("templates.yaml", list[Template])
        self.templates: dict[str, Template] = {t.key: t for t in templates}
        self.diagnoses: Diagnoses = _read("diagnoses.yaml", Diagnoses)
        self.types: dict[str, CommunityType] = {t.key: t for t in self.taxonomies.types}
        self.rhythm: RhythmBook = _read("rhythm.yaml", RhythmBook)
        self.topics: TopicBook = _read("topics.yaml", TopicBook)
        self.activities: ActivityBook = _read("activities.yaml", ActivityBook)
        self.limits: LimitsBook = _read("platform_limits.yaml", LimitsBook)
        self.automations: AutomationBook = _read("automations.yaml", AutomationBook)
        self.policies: dict[str, PolicyBook] = {}
        for name in POLICY_FILES:
            part: dict[str, PolicyBook] = _read(name, dict[str, PolicyBook])
            for key, book in part.items():
                if key in self.policies:
                    raise RuntimeError(f"playbook file data/{name}: policy {key!r} is described twice")
                self.policies[key] = book
        self._type_names: dict[str, str] = {}
        for t in self.taxonomies.types:
            for name in (t.key, t.name.zh, t.name.en, *t.aliases):
                self._type_names[_fold(name)] = t.key
        self._check_references()
        self.planner = self.planner.model_copy(update={"calendar": [self._timed(c) for c in self.planner.calendar]})

    def _check_references(self) -> None:
        thresholds = {k.key for k in self.thresholds.kinds}
        sizes = {p.key for p in self.sizes.policies}
        for job in self.rhythm.jobs:
            unknown = set(job.types) - {t.key for t in self.taxonomies.types}
            if unknown:
                raise RuntimeError(f"rhythm.yaml: job {job.key} names unknown type(s) {sorted(unknown)}")
        for t in self.taxonomies.types:
            if t.recommended_threshold not in thresholds:
                raise RuntimeError(f"types.yaml: {t.key}.recommended_threshold {t.recommended_threshold!r} unknown")
            if t.recommended_size not in sizes:
                raise RuntimeError(f"types.yaml: {t.key}.recommended_size {t.recommended_size!r} unknown")
        self._check_planner()
        self._check_diagnoses()

    def _timed(self, item: CalendarItem) -> CalendarItem:
        """A calendar item that is a rhythm job, with the job's cadence, time, days and window."""
        if item.job is None:
            return item
        job = next(j for j in self.rhythm.jobs if j.key == item.job)
        if job.days in ("daily", "weekdays"):
            cadence, weekdays = "daily", [1, 2, 3, 4, 5] if job.days == "weekdays" else []
        else:
            cadence, weekdays = "weekly", [WEEKDAYS.index(job.days) + 1]
        duration = None
        if job.until:
            start, end = (int(x[:2]) * 60 + int(x[3:]) for x in (job.at, job.until))
            duration = (end - start) % 1440
        update = {"cadence": cadence, "time": job.at, "weekdays": weekdays, "duration_minutes": duration}
        return item.model_copy(update=update)

    def _check_diagnoses(self) -> None:
        for r in self.diagnoses.rules:
            unknown = set(r.types + r.except_types) - set(self.types)
            if unknown:
                raise RuntimeError(f"diagnoses.yaml: rule {r.key!r} names unknown type(s) {sorted(unknown)}")

    def _check_planner(self) -> None:
        """planner.yaml may only name types, roles, sections and monetization modes the rest of the playbook has."""
        p = self.planner
        types = set(self.types)
        modes = {m.key for m in p.monetization}
        for t in self.taxonomies.types:
            if set(t.monetization) - modes:
                raise RuntimeError(f"types.yaml: {t.key}.monetization names modes planner.yaml lacks")
        if [s.key for s in self.rules.sections] != list(SECTION_KEYS):
            raise RuntimeError("rules.yaml and planner.yaml disagree on the seven sections")
        named: list[set[str]] = [set(s.scores) for s in p.signals]
        named += [{c.type} for c in [*p.nickname_formats, *p.conduct, *p.weekly_tasks, *p.leaders_by_type]]
        named += [set(c.types) for c in p.calendar] + [set(c.types) for c in p.first_90_days]
        jobs = {j.key for j in self.rhythm.jobs}
        covered = {c.job for c in p.calendar if c.job is not None}
        if covered != jobs:  # every job the scheduler may run shows in the plan, and nothing else claims to be one
            raise RuntimeError(f"planner.yaml: calendar jobs {sorted(covered)} are not rhythm.yaml's {sorted(jobs)}")
        for keys in named:
            if keys - types:
                raise RuntimeError(f"planner.yaml names unknown type(s) {sorted(keys - types)}")
        for name in ("nickname_formats", "conduct", "leaders_by_type"):
            if {x.type for x in getattr(p, name)} != types:
                raise RuntimeError(f"planner.yaml: {name} must cover every type")
        roles = {r.key for r in self.roles.roles}
        if {r.role for r in p.role_plan} - roles:
            raise RuntimeError("planner.yaml: role_plan names an unknown role")
        options = {name: {o.key for o in p.options(name)} for name in ("purposes", "values", "leaders", "charging")}
        for s in p.signals:
            for name, field in (
                ("purposes", "purpose"),
                ("values", "value"),
                ("leaders", "leader"),
                ("charging", "charging"),
            ):
                if set(getattr(s.when, field) or ()) - options[name]:
                    raise RuntimeError(f"planner.yaml: signal {s.key} names an unknown {field}")

    def resolve_type(self, name: str) -> CommunityType | None:
        """The community type a person means by ``name`` (成长型, 成长型社群, growth, learning …), or None."""
        key = self._type_names.get(_fold(name))
        return self.types[key] if key else None

    def type_names(self) -> list[str]:
        """Every name accepted for a type, for error messages."""
        return [f"{t.name.zh} / {t.key}" for t in self.taxonomies.types]

    def platform_limits(self, platform: str) -> PlatformLimits:
        """The documented limits of ``platform`` (the fallback's for a platform with no entry)."""
        for p in self.limits.platforms:
            if p.platform == platform:
                return p
        return self.limits.fallback

    def documented(self) -> Iterator[tuple[str, Documented]]:
        """Every fact taken from a platform's documentation rather than the seeds, with where it sits."""
        for p in [*self.limits.platforms, self.limits.fallback]:
            for i, limit in enumerate(p.limits):
                yield f"platform_limits.{p.platform}.limits[{i}]", limit.documented
            for i, quota in enumerate(p.quotas):
                yield f"platform_limits.{p.platform}.quotas[{i}]", quota.documented
            for i, timing in enumerate(p.timings):
                yield f"platform_limits.{p.platform}.timings[{i}]", timing.documented

    def template(self, key: str, locale: str) -> str:
        return self.templates[key].text.get(locale)

    def default(self, policy: str, key: str) -> Any:
        """The default value of one setting of ``policy`` (a fresh copy: callers may keep it)."""
        return copy.deepcopy(self.policies[policy].defaults[key].value)

    def text(self, policy: str, key: str, locale: str) -> str:
        """A text ``policy`` posts, in ``locale``."""
        return self.policies[policy].texts[key].text.get(locale)

    def citations(self) -> Iterator[tuple[str, Cited]]:
        """Every cited item of the playbook, with a path naming where it sits."""
        for name, part in (
            ("types", self.taxonomies),
            ("rules", self.rules),
            ("sizes", self.sizes),
            ("thresholds", self.thresholds),
            ("roles", self.roles),
            ("planner", self.planner),
            ("rhythm", self.rhythm),
            ("topics", self.topics),
            ("activities", self.activities),
            ("diagnoses", self.diagnoses),
            ("automations", self.automations),
        ):
            yield from _walk(name, part)
        for key, tpl in self.templates.items():
            yield f"templates.{key}", tpl
        for policy, book in self.policies.items():
            yield f"policies.{policy}.about", book.about
            for key, item in book.defaults.items():
                yield f"policies.{policy}.defaults.{key}", item
            for key, text in book.texts.items():
                yield f"policies.{policy}.texts.{key}", text


def _walk(path: str, obj: Any) -> Iterator[tuple[str, Cited]]:
    if isinstance(obj, Cited):
        yield path, obj
    if isinstance(obj, BaseModel):
        for name in type(obj).model_fields:
            yield from _walk(f"{path}.{name}", getattr(obj, name))
    elif isinstance(obj, list):
        for i, item in enumerate(obj):
            label = getattr(item, "key", None) or str(i)
            yield from _walk(f"{path}[{label}]", item)


@cache
def load_lexicon(name: str) -> tuple[str, ...]:
    """A word list shipped in ``data/lexicons/`` (one base64-encoded word per line), deduplicated, in file order.

    The Chinese advertising lexicon ``cn_advertisement.bin`` comes from cleanse-speech 0.1.3 (MIT; its licence and
    notice sit next to it).
    """
    raw = resources.files("shequn.playbook").joinpath("data", "lexicons", name).read_text(encoding="ascii")
    words: dict[str, None] = {}
    for n, line in enumerate(raw.splitlines(), 1):
        if not line.strip():
            continue
        try:
            word = base64.b64decode(line.strip(), validate=True).decode("utf-8").strip()
        except ValueError as exc:
            raise RuntimeError(f"playbook lexicon {name}:{n} is not base64 UTF-8: {exc}") from exc
        if word:
            words[word] = None
    return tuple(words)


@cache
def load_playbook() -> Playbook:
    """The playbook of this installation (read once, then shared)."""
    return Playbook()


def verify_sources(seeds: Path, playbook: Playbook | None = None) -> list[str]:
    """Check every citation's quote against the seed files in ``seeds``; return the problems found.

    A quote matches when, ignoring whitespace, it appears within the cited lines (one line of slack either side,
    for paragraphs that wrap).
    """
    playbook = playbook or load_playbook()
    lines: dict[str, list[str]] = {}
    problems: list[str] = []
    for path, item in playbook.citations():
        file, first, last = parse_source(item.source)
        if file not in lines:
            clean = seeds / file.replace(".txt", ".clean.txt")  # 003 ships a copy without its junk line suffix
            seed = clean if clean.exists() else seeds / file
            if not seed.exists():
                problems.append(f"{path}: seed file {file} not found in {seeds}")
                lines[file] = []
                continue
            lines[file] = seed.read_text(encoding="utf-8").splitlines()
        if not item.quote or not lines[file]:
            continue
        window = "".join(lines[file][max(first - 2, 0) : last + 1])
        if "".join(item.quote.split()) not in "".join(window.split()):
            problems.append(f"{path}: quote {item.quote!r} not found at {item.source}")
    return problems


@cache
def load_sentiment_lexicon() -> dict[str, Any]:
    """The complaint detector's lexicon (``data/sentiment.yaml``) as read; ``policies/sentiment.py`` checks it."""
    text = resources.files("shequn.playbook").joinpath("data", "sentiment.yaml").read_text(encoding="utf-8")
    data = yaml.safe_load(text)
    if not isinstance(data, dict):
        raise RuntimeError("playbook file data/sentiment.yaml is not a mapping")
    return data


@cache
def load_sentiment_model() -> dict[str, Any]:
    """The complaint detector's learned token weights (``data/sentiment_model.json``, written by ``shequn bench
    sentiment --train`` from the tuning sets)."""
    text = resources.files("shequn.playbook").joinpath("data", "sentiment_model.json").read_text(encoding="utf-8")
    data = json.loads(text)
    if not isinstance(data, dict):
        raise RuntimeError("playbook file data/sentiment_model.json is not a mapping")
    return data
