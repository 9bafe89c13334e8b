"""The community spec (社群配置): the YAML an operator keeps, validated by Pydantic.

A spec selects a community type and overrides any default of the playbook. Fields left out take the defaults of
the type (threshold, size policy, KPI targets) and of the playbook (the seven rule sections), so the exported spec
of a community is complete and applying it elsewhere reproduces it exactly (1→N replication, 复制).

Policy settings (``policies:``) are validated by the policies themselves when the spec is applied; this module only
checks their shape.
"""

from __future__ import annotations

import re
import zoneinfo
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from shequn.domain import UserError
from shequn.playbook.loader import load_playbook
from shequn.playbook.models import WEEKDAYS, RuleSection

Locale = Literal["zh-CN", "en"]
GroupRole = Literal["main", "chitchat", "core", "admin", "paid", "fan", "temporary"]
ValueKind = Literal[
    "content", "platform", "resource", "consulting", "perks"
]  # 内容、平台、资源、咨询 (book 1560-1568); 福利 (000:26)


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class Goal(_Model):
    """A goal must be quantifiable (book 865): a metric, a number and a date."""

    text: str = ""
    metric: str = ""
    target: float | None = None
    deadline: date | None = None


class Persona(_Model):
    """Target persona (用户画像, 001_39f3881ca0c9e9e6.txt line 27)."""

    age: str = ""
    gender: str = ""
    region: str = ""
    occupation: str = ""
    interests: list[str] = Field(default_factory=list)


class Positioning(_Model):
    """Positioning (社群定位): the three questions, purpose, shared tags, goal, persona and value offered."""

    what: str = ""  # 你想要建一个什么样的群？
    why: str = ""  # 我们为什么要在一起？
    together: str = ""  # 我们在一起做些什么？
    purpose: str = ""
    tags: list[str] = Field(default_factory=list)  # 相同的属性标签
    goal: Goal = Field(default_factory=Goal)
    persona: Persona = Field(default_factory=Persona)
    value: list[ValueKind] = Field(default_factory=list)
    member_title: str = ""  # what members are called (身份感)


class RuleSet(_Model):
    """The group rules (群规) in the seven sections of book 786-800, in the community's language."""

    version: int = Field(default=1, ge=1)
    sections: dict[str, str] = Field(default_factory=dict)


class Privacy(_Model):
    """What a member's page shows of other members (issue 23): ``leaderboard_names`` ``display`` (display names, the
    default) or ``anonymised`` (a masked name: first character and asterisks)."""

    leaderboard_names: Literal["display", "anonymised"] = "display"


class Threshold(_Model):
    """The entry threshold (入群门槛): one of the playbook's kinds and its parameters."""

    kind: str = ""
    params: dict[str, Any] = Field(default_factory=dict)


class Size(_Model):
    """The size policy: a playbook policy key and optional overrides."""

    policy: str = ""
    capacity: int | None = Field(default=None, gt=0)
    warn_at: float | None = Field(default=None, gt=0, le=1)


class GroupSpec(_Model):
    """A chat room bound to the community."""

    platform: str = Field(min_length=1, pattern=r"^[a-z][a-z0-9_]*$")
    id: str = Field(min_length=1)
    name: str = ""
    role: GroupRole = "main"
    capacity: int | None = Field(default=None, gt=0)
    ends: datetime | None = None  # a temporary group's end (naive: the community's local time); see policies.lifecycle


_RHYTHM_ROLES: tuple[GroupRole, ...] = ("main", "paid", "fan")
_HHMM = r"^([01]\d|2[0-3]):[0-5]\d$"


def _minutes(hhmm: str) -> int:
    h, m = hhmm.split(":")
    return int(h) * 60 + int(m)


def in_window(minute: int, start: str, end: str) -> bool:
    """Whether ``minute`` of the day lies in [start, end), a window that may wrap past midnight."""
    a, b = _minutes(start), _minutes(end)
    return a <= minute < b if a <= b else minute >= a or minute < b


class JobSpec(_Model):
    """Overrides of one rhythm job of the playbook (``rhythm.yaml``); what is left out keeps the default."""

    enabled: bool | None = None
    at: str | None = Field(default=None, pattern=_HHMM)
    until: str | None = Field(default=None, pattern=_HHMM)
    days: str | None = None
    counts_toward_cap: bool | None = None
    priority: int | None = None
    text: str | None = None  # the operator's own wording, in the community's language (same placeholders)


class CustomJob(_Model):
    """A job the operator adds: a cron expression (minute hour day month weekday) in the community's time zone."""

    key: str = Field(pattern=r"^[a-z][a-z0-9_]*$")
    cron: str
    text: str = Field(min_length=1)
    groups: list[str] = Field(default_factory=list)  # group ids; empty: every group that gets the rhythm
    counts_toward_cap: bool = True
    priority: int = 50

    @field_validator("cron")
    @classmethod
    def _valid_cron(cls, v: str) -> str:
        from cronsim import CronSim, CronSimError

        try:
            CronSim(v, datetime(2026, 1, 1, tzinfo=UTC))
        except CronSimError as exc:
            raise ValueError(f"not a cron expression (minute hour day month weekday): {exc}") from None
        return v


class TopicSpec(_Model):
    """A topic of the community's own library (one of the seven types of 004 line 38), optionally pinned to a date."""

    type: str
    text: str = Field(min_length=1)
    follow_up: str = ""
    day: date | None = None  # pin the topic to this date

    @field_validator("type")
    @classmethod
    def _known_topic_type(cls, v: str) -> str:
        for t in load_playbook().topics.types:
            if v in (t.key, t.name.zh, t.name.en):
                return t.key
        names = ", ".join(f"{t.name.zh}/{t.key}" for t in load_playbook().topics.types)
        raise ValueError(f"unknown topic type {v!r}; types are {names}")


class QuietHoursSpec(_Model):
    start: str = Field(pattern=_HHMM)
    end: str = Field(pattern=_HHMM)


class GuestTalkSpec(_Model):
    """The community's weekly guest-talk slot and how talks run (defaults: book 2626-2634, 004 lines 44-55)."""

    weekday: str = ""
    start: str | None = Field(default=None, pattern=_HHMM)
    end: str | None = Field(default=None, pattern=_HHMM)
    hold_chatter: bool = True  # mute the group during the talk (a staff task where the platform cannot)
    catch_up: bool = True  # DM latecomers what they missed


class RhythmSpec(_Model):
    """When shequn speaks in the community's groups (节奏): quiet hours, the daily cap, the jobs, the topic library.

    Defaults come from the playbook (``rhythm.yaml``, ``topics.yaml``, ``activities.yaml``); the complete spec
    lists every job with its effective time and whether it is on (jobs are on by default for the types they suit).
    """

    enabled: bool = True
    quiet_hours: QuietHoursSpec | None = None
    max_posts_per_day: int | None = Field(default=None, ge=1, le=50)
    roles: list[GroupRole] = Field(default_factory=lambda: list(_RHYTHM_ROLES))  # groups that get the rhythm
    jobs: dict[str, JobSpec] = Field(default_factory=dict)
    custom: list[CustomJob] = Field(default_factory=list)
    topics: list[TopicSpec] = Field(default_factory=list)
    use_default_topics: bool = True
    products: list[str] = Field(default_factory=list)  # the weekly sales day's picks, in turn
    guest_talk: GuestTalkSpec = Field(default_factory=GuestTalkSpec)

    def job(self, key: str) -> JobSpec:
        return self.jobs.get(key) or JobSpec()

    def ad_window_open(self, local: datetime) -> bool:
        """Whether ``local`` (the community's local time) falls in the weekly ad window (book 1858)."""
        ad = self.job("ad_window")
        if not ad.enabled or not ad.at or not ad.until or not ad.days:
            return False
        if ad.days not in ("daily", "weekdays") and WEEKDAYS.index(ad.days) != local.weekday():
            return False
        if ad.days == "weekdays" and local.weekday() >= 5:
            return False
        return in_window(local.hour * 60 + local.minute, ad.at, ad.until)

    def ad_window_words(self, locale: str) -> str:
        """The ad window in words, "周六 14:00-18:00" (empty when the job is off)."""
        ad = self.job("ad_window")
        if not ad.enabled or not ad.at or not ad.until or not ad.days:
            return ""
        labels = load_playbook().rhythm.labels
        key = f"days_{ad.days}" if ad.days in ("daily", "weekdays") else f"weekday_{WEEKDAYS.index(ad.days)}"
        days = labels[key].get(locale)
        return labels["window"].get(locale).format(days=days, start=ad.at, until=ad.until)

    def fill(self, community_type: str, ads: object = None) -> None:
        """Fill every default in place (called by the community spec's validator); raise ValueError on conflicts.

        ``ads`` is the community's ad rule (``policies.moderation.ads``): when given, the ad-window job is on
        exactly when it is ``window``, so what the scheduler announces is what moderation enforces (book 1858)."""
        pb = load_playbook()
        book = pb.rhythm
        known = {j.key: j for j in book.jobs}
        unknown = set(self.jobs) - known.keys()
        if unknown:
            raise ValueError(f"rhythm.jobs: unknown job(s) {sorted(unknown)}; jobs are {list(known)}")
        if self.quiet_hours is None:
            self.__dict__["quiet_hours"] = QuietHoursSpec(start=book.quiet_hours.start, end=book.quiet_hours.end)
        if self.max_posts_per_day is None:
            self.__dict__["max_posts_per_day"] = book.max_posts_per_day.value
        filled: dict[str, JobSpec] = {}
        for key, default in known.items():
            given = self.jobs.get(key) or JobSpec()
            days = given.days or default.days
            if days not in ("daily", "weekdays", *WEEKDAYS):
                raise ValueError(f"rhythm.jobs.{key}.days: use daily, weekdays or a weekday name, not {days!r}")
            on = given.enabled
            if on is None and key == "ad_window" and ads is not None:
                on = ads == "window"
            if on is None:
                on = default.enabled and (not default.types or community_type in default.types)
            job = JobSpec.model_construct(
                enabled=on,
                at=given.at or default.at,
                until=given.until or default.until,
                days=days,
                counts_toward_cap=default.counts_toward_cap
                if given.counts_toward_cap is None
                else given.counts_toward_cap,
                priority=default.priority if given.priority is None else given.priority,
                text=given.text,
            )
            filled[key] = job
        self.__dict__["jobs"] = filled
        quiet = self.quiet_hours
        assert quiet is not None
        for key, job in filled.items():
            if job.enabled and job.at and in_window(_minutes(job.at), quiet.start, quiet.end):
                raise ValueError(
                    f"rhythm.jobs.{key}.at: {job.at} falls in the quiet hours {quiet.start}-{quiet.end}; "
                    "move the job or the quiet hours"
                )
        seen: set[str] = set()
        for i, custom in enumerate(self.custom):
            if custom.key in seen or custom.key in known:
                raise ValueError(f"rhythm.custom.{i}.key: {custom.key!r} is used twice or names a built-in job")
            seen.add(custom.key)
            from cronsim import CronSim

            probe = CronSim(custom.cron, datetime(2026, 1, 5, tzinfo=UTC))  # a week is enough to see every time
            for _ in range(200):
                t = next(probe)
                if t > datetime(2026, 1, 12, tzinfo=UTC):
                    break
                if in_window(t.hour * 60 + t.minute, quiet.start, quiet.end):
                    raise ValueError(
                        f"rhythm.custom.{i}.cron: {custom.cron!r} fires at {t:%H:%M}, in the quiet hours "
                        f"{quiet.start}-{quiet.end}"
                    )
        g = self.guest_talk
        talk = pb.activities.guest_talk
        if g.weekday and g.weekday not in WEEKDAYS:
            raise ValueError(f"rhythm.guest_talk.weekday: use a weekday name such as sunday, not {g.weekday!r}")
        g.__dict__.update(weekday=g.weekday or talk.weekday, start=g.start or talk.start, end=g.end or talk.end)


class CommunitySpec(_Model):
    """A whole community: type, positioning, rules, threshold, size, roles, KPI targets, groups, policies."""

    name: str = Field(min_length=1, max_length=100)
    type: str
    also: list[str] = Field(default_factory=list)  # secondary types (multi-label)
    locale: Locale = "zh-CN"
    timezone: str = "Asia/Shanghai"
    nickname_format: str = ""  # e.g. 昵称-城市-爱好 (book 788, 1647)
    positioning: Positioning = Field(default_factory=Positioning)
    rules: RuleSet = Field(default_factory=RuleSet)
    threshold: Threshold = Field(default_factory=Threshold)
    size: Size = Field(default_factory=Size)
    roles: dict[str, list[str]] = Field(default_factory=dict)  # role key → who fills it
    kpis: dict[str, float] = Field(default_factory=dict)  # KPI key → target
    groups: list[GroupSpec] = Field(default_factory=list)
    policies: dict[str, dict[str, Any]] = Field(default_factory=dict)
    rhythm: RhythmSpec = Field(default_factory=RhythmSpec)
    privacy: Privacy = Field(default_factory=Privacy)
    # Rules (trigger → conditions → actions), book-derived templates and campaigns (issue 21); their meaning is
    # checked by the automations policy when the spec is applied, in the operator's language.
    automations: dict[str, Any] = Field(default_factory=dict)

    @field_validator("automations", mode="before")
    @classmethod
    def _automations_shape(cls, v: Any) -> Any:
        """``automations:`` as a list (rules, and templates as ``- template: NAME`` or ``- NAME``) is the mapping's
        short form."""
        if v is None:
            return {}
        if isinstance(v, list):

            def is_template(x: Any) -> bool:
                return isinstance(x, str) or (isinstance(x, dict) and "template" in x)

            templates = [x for x in v if is_template(x)]
            rules = [x for x in v if not is_template(x)]
            return {k: x for k, x in (("templates", templates), ("rules", rules)) if x}
        return v

    @field_validator("name")
    @classmethod
    def _name_is_trimmed(cls, v: str) -> str:
        if v != v.strip():
            raise ValueError("must not start or end with spaces")
        return v

    @field_validator("type")
    @classmethod
    def _known_type(cls, v: str) -> str:
        t = load_playbook().resolve_type(v)
        if t is None:
            raise ValueError(f"unknown community type {v!r}; use one of: {'; '.join(load_playbook().type_names())}")
        return t.key

    @field_validator("also")
    @classmethod
    def _known_types(cls, v: list[str]) -> list[str]:
        return [cls._known_type(x) for x in v]

    @field_validator("timezone")
    @classmethod
    def _known_zone(cls, v: str) -> str:
        try:
            zoneinfo.ZoneInfo(v)
        except (zoneinfo.ZoneInfoNotFoundError, ValueError):
            raise ValueError(f"unknown time zone {v!r} (use an IANA name such as Asia/Shanghai)") from None
        return v

    @model_validator(mode="after")
    def _fill_and_check(self) -> CommunitySpec:
        pb = load_playbook()
        ctype = pb.types[self.type]
        sections = {s.key: s for s in pb.rules.sections}
        unknown = set(self.rules.sections) - sections.keys()
        if unknown:
            raise ValueError(f"rules.sections: unknown section(s) {sorted(unknown)}; sections are {list(sections)}")
        self.rhythm.fill(self.type, (self.policies.get("moderation") or {}).get("ads"))
        # Fill every missing default in place, keeping the book's section order.
        defaults = self.default_rules()
        filled = {k: self.rules.sections.get(k) or defaults[k] for k in sections}
        kinds = {k.key: k for k in pb.thresholds.kinds}
        kind = self.threshold.kind or ctype.recommended_threshold
        if kind not in kinds:
            raise ValueError(f"threshold.kind: unknown threshold {kind!r}; kinds are {list(kinds)}")
        params = {**kinds[kind].params, **self.threshold.params}
        policies = {p.key: p for p in pb.sizes.policies}
        size_key = self.size.policy or ctype.recommended_size
        if size_key not in policies:
            raise ValueError(f"size.policy: unknown size policy {size_key!r}; policies are {list(policies)}")
        roles = {r.key for r in pb.roles.roles}
        bad_roles = set(self.roles) - roles
        if bad_roles:
            raise ValueError(f"roles: unknown role(s) {sorted(bad_roles)}; roles are {sorted(roles)}")
        kpi_keys = {k.key for t in [ctype, *(pb.types[a] for a in self.also)] for k in t.kpis}
        bad_kpis = set(self.kpis) - kpi_keys
        if bad_kpis:
            raise ValueError(f"kpis: {sorted(bad_kpis)} are not KPIs of this community's type(s): {sorted(kpi_keys)}")
        kpis = {k.key: k.starting_target for k in ctype.kpis if k.starting_target is not None}
        seen: set[tuple[str, str]] = set()
        for g in self.groups:
            if (g.platform, g.id) in seen:
                raise ValueError(f"groups: {g.platform}:{g.id} is listed twice")
            seen.add((g.platform, g.id))
        # Assign through __dict__ so validate_assignment does not re-enter this validator.
        self.rules.__dict__["sections"] = filled
        self.threshold.__dict__.update(kind=kind, params=params)
        self.size.__dict__["policy"] = size_key
        self.__dict__["kpis"] = {**kpis, **self.kpis}
        return self

    def default_rules(self) -> dict[str, str]:
        """The playbook's wording of each rule section for this community (its rhythm filled in): the prohibitions
        follow the ad rule moderation enforces (forbid, red packet, or the rhythm's ad window), and a section whose
        policy is off (the weekly task) says so, so the default rules never announce what nothing enforces."""
        pb = load_playbook()
        ads = (self.policies.get("moderation") or {}).get("ads")
        if ads is None:
            ads = "window" if self.rhythm.job("ad_window").enabled else "red_packet"
        window = self.rhythm.ad_window_words(self.locale)

        def wording(s: RuleSection) -> str:
            on = (self.policies.get(s.policy) or {}).get("enabled", pb.default(s.policy, "enabled")) if s.policy else 1
            text = s.when_off if s.when_off is not None and not on else s.by_ads.get(ads, s.default)
            return text.get(self.locale).replace("{window}", window)

        out = {s.key: wording(s) for s in pb.rules.sections}
        out["removal"] += self.removal_extra()
        return out

    def removal_extra(self) -> str:
        """What the removal section adds for the policies that remove people beyond the ladder: one in, one out
        (003:497) for that size policy, and the clean-up (1795) when it is on, with its own figures."""
        pb, loc = load_playbook(), self.locale
        extra = ""
        key = self.size.policy or pb.types[self.type].recommended_size
        size = next(p for p in pb.sizes.policies if p.key == key)
        if size.mode == "one_in_one_out":
            capacity = self.size.capacity or size.capacity
            extra += pb.planner.rule_text("removal.one_in_one_out").text.get(loc).format(capacity=capacity)
        cleanup = {k: pb.default("cleanup", k) for k in ("enabled", "every", "silent_days", "roll_call_at")}
        cleanup.update(self.policies.get("cleanup") or {})
        every_words = pb.rhythm.labels.get(f"every_{cleanup['every']}")
        if cleanup["enabled"] and every_words is not None:  # a wrong period is the cleanup policy's to report
            every = every_words.get(loc)
            text = pb.planner.rule_text("removal.cleanup").text.get(loc)
            extra += text.format(silent_days=cleanup["silent_days"], every=every, roll_call_at=cleanup["roll_call_at"])
        return extra

    def to_yaml(self) -> str:
        """The spec as YAML, complete (every default written out), in a stable order."""
        data = self.model_dump(mode="json")
        return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


_PATH_PREFIX = re.compile(r"^([a-z_][a-z0-9_]*(?:\.[a-z0-9_]+)*): (.*)$", re.DOTALL)


def line_of(root: yaml.Node | None, loc: tuple[int | str, ...]) -> int | None:
    """The 1-based line in the YAML source of the value at ``loc`` (or of its nearest parent)."""
    node, line = root, (root.start_mark.line + 1) if root else None
    for part in loc:
        if isinstance(node, yaml.MappingNode):
            match = next((v for k, v in node.value if getattr(k, "value", None) == part), None)
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            match = node.value[part]
        else:
            match = None
        if match is None:
            break
        node, line = match, match.start_mark.line + 1
    return line


def describe_validation_error(exc: ValidationError, *, source: str, root: yaml.Node | None = None) -> str:
    """One line per problem: ``FILE:LINE: field: what is wrong``."""
    lines = []
    for err in exc.errors():
        loc = tuple(err["loc"])
        msg = err["msg"].removeprefix("Value error, ")
        # Checks across fields (model validators) have no location; they start their message with the field path.
        m = _PATH_PREFIX.match(msg) if not loc else None
        if m:
            loc = tuple(int(p) if p.isdecimal() else p for p in m[1].split("."))
            msg = m[2]
        field = ".".join(str(p) for p in loc) or "(top level)"
        line = line_of(root, loc)
        where = f"{source}:{line}" if line else source
        lines.append(f"{where}: {field}: {msg}")
    return "\n".join(lines)


def parse_spec(text: str, *, source: str = "<spec>") -> CommunitySpec:
    """Validate a spec given as YAML text; raise :class:`UserError` (exit 2) naming the file, line and field."""
    try:
        root = yaml.compose(text)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f"{source}:{mark.line + 1}" if mark else source
        problem = getattr(exc, "problem", None) or str(exc)
        raise UserError(f"{where}: not valid YAML: {problem}", exit_code=2) from None
    if not isinstance(data, dict):
        raise UserError(f"{source}: a community spec must be a YAML mapping (name: …, type: …)", exit_code=2)
    try:
        return CommunitySpec.model_validate(data)
    except ValidationError as exc:
        raise UserError(describe_validation_error(exc, source=source, root=root), exit_code=2) from None


def load_spec_file(path: Path) -> CommunitySpec:
    """Read and validate a spec file."""
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: cannot read: {exc.strerror}", exit_code=2) from None
    except UnicodeDecodeError as exc:
        raise UserError(f"{path}: not UTF-8 text (byte {exc.start})", exit_code=2) from None
    return parse_spec(text, source=str(path))
