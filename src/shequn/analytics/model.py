"""The analytics results as plain dataclasses (the API the report, the console and the digest read).

Every record has ``to_dict()`` giving JSON-able data (the ``--format json`` report). Times are ISO dates or
datetimes in the workspace's time zone; ratios are 0..1 floats or None when undefined (no denominator).
May import: the standard library only.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any


@dataclass(slots=True)
class Day:
    """One local day of one group or community (the daily series)."""

    date: str
    messages: int = 0
    speakers: int = 0
    joins: int = 0
    leaves: int = 0
    members: int = 0


@dataclass(slots=True)
class MemberRow:
    """One member of one group in the window (roster tiers, roles, silence)."""

    person: int
    name: str
    messages: int
    responses: int  # replies and reactions others gave their messages
    days_active: int
    tier: str  # high | mid | low | inactive
    roles: list[str]
    silent_days: int | None  # days since their last message (None: never spoke in the record)
    staff: bool


@dataclass(slots=True)
class Finding:
    """One diagnosis: a rule of the playbook whose signals hold, with its cause and prescription."""

    key: str
    severity: str  # high | medium | low
    title: str
    cause: str
    cause_key: str
    prescription: str
    evidence: dict[str, Any]
    sources: list[dict[str, str]]  # [{"source": "FILE:LINE", "quote": "…"}]
    commands: list[str] = field(default_factory=list)  # the `shequn group …` commands that carry it out


@dataclass(slots=True)
class Kpi:
    key: str
    name: str
    value: float | None
    target: float | None
    unit: str
    higher_is_better: bool
    met: bool | None
    detail: dict[str, Any] = field(default_factory=dict)
    source: str = ""
    estimated: bool = False  # read from keywords in imported history, for want of shequn's own records (估算)


@dataclass(slots=True)
class GroupHealth:
    """Everything measured about one group over the window."""

    key: str
    id: int
    name: str
    community: str
    type: str
    role: str
    # activity
    messages: int = 0
    staff_messages: int = 0
    speakers: int = 0
    members: int = 0
    members_start: int = 0
    speakers_ratio: float | None = None
    messages_per_member: float | None = None
    key_discussants: int = 0
    top10_share: float | None = None
    gini: float | None = None
    staff_share: float | None = None
    tiers: dict[str, int] = field(default_factory=dict)
    silent_members: int = 0
    silent_30d: int = 0
    # newcomers
    joins: int = 0
    leaves_voluntary: int = 0
    leaves_removed: int = 0
    net_growth: int = 0
    activation_24h: float | None = None
    activation_72h: float | None = None
    # conversation
    questions: int = 0
    answered: int = 0
    unanswered: int = 0
    median_answer_minutes: float | None = None
    replies_inferred: bool = False
    # health
    ad_accounts: int = 0
    ad_messages: int = 0
    ads_per_1k: float | None = None
    link_dumps: int = 0
    guest_talks: int = 0
    size_band: str = ""
    # lifecycle
    state: str = "active"  # active | archived | dissolved (shequn group …): a closed group is neither dead nor judged
    stage: str = ""
    stage_since: str = ""
    dead: bool = False
    dead_since: str | None = None
    last_message: str | None = None
    silent_days: int | None = None
    health: int = 0  # 0..100 score of the type-aware signals
    kpis: list[Kpi] = field(default_factory=list)
    findings: list[Finding] = field(default_factory=list)
    daily: list[Day] = field(default_factory=list)
    trajectory: list[dict[str, str]] = field(default_factory=list)  # [{"date", "stage"}] stage changes

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Funnel:
    """The AARRR funnel of one community (001_39f3881ca0c9e9e6.txt:37)."""

    acquisition: int = 0
    activation: int = 0
    retention: int = 0
    revenue: int = 0
    refer: int = 0
    by_method: dict[str, int] = field(default_factory=dict)
    by_channel: dict[str, dict[str, int]] = field(default_factory=dict)  # acquisition channel → stage → newcomers
    by_cohort: dict[str, dict[str, int]] = field(default_factory=dict)  # join week (Monday) → stage → newcomers


@dataclass(slots=True)
class CommunityHealth:
    name: str
    type: str
    type_name: str
    activity_judged: bool
    groups: list[str]
    messages: int = 0
    members: int = 0
    speakers: int = 0
    joins: int = 0
    leaves: int = 0
    dead_groups: int = 0
    revenue: int = 0  # minor units (fen): payments and paid orders in the window, less refunds
    payers: int = 0  # members who paid anything (a payment or a paid order) in the window
    stages: dict[str, int] = field(default_factory=dict)
    essentials: dict[str, bool] = field(default_factory=dict)
    kpis: list[Kpi] = field(default_factory=list)
    funnel: Funnel = field(default_factory=Funnel)
    findings: list[Finding] = field(default_factory=list)
    daily: list[Day] = field(default_factory=list)
    heatmap: list[list[int]] = field(default_factory=list)  # 7 weekdays (Mon first) × 24 hours
    retention: list[dict[str, Any]] = field(default_factory=list)  # join cohorts: week, size, w1, w4, w12
    health: int = 0
    # The operator's inbox over the window: items, responded, first_response_median and resolution_median
    # (minutes), unanswered (still waiting for a first answer past the target).
    inbox: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(slots=True)
class Report:
    """The whole analysis of one workspace over one window."""

    workspace: str
    timezone: str
    locale: str
    start: str
    end: str
    days: int
    generated: str
    communities: dict[str, CommunityHealth]
    groups: dict[str, GroupHealth]
    members: dict[str, list[MemberRow]]  # group key → its members (current), most active first
    ad_accounts: list[dict[str, Any]]  # [{"person", "name", "groups", "messages", "evidence"}]
    heatmap: list[list[int]]
    signals: dict[str, str]  # what each detector looks at, in words (for the report's "how we judge")
    timings: dict[str, float] = field(default_factory=dict)
    commerce: dict[str, Any] = field(default_factory=dict)  # community → commerce measures (issue 9), when known

    def to_dict(self) -> dict[str, Any]:
        return {
            "workspace": self.workspace,
            "timezone": self.timezone,
            "locale": self.locale,
            "start": self.start,
            "end": self.end,
            "days": self.days,
            "generated": self.generated,
            "communities": {k: c.to_dict() for k, c in self.communities.items()},
            "groups": {k: g.to_dict() for k, g in self.groups.items()},
            "members": {k: [asdict(m) for m in v] for k, v in self.members.items()},
            "ad_accounts": self.ad_accounts,
            "heatmap": self.heatmap,
            "signals": self.signals,
            "timings": self.timings,
            "commerce": self.commerce,
        }
