"""What the methodology's policies share: settings drawn from the playbook, texts, local time, staff, money.

Every policy of this package keeps its defaults in the playbook (``playbook/data/*.yaml``, each citing the seeds) and
lets a community override any of them, texts included, under ``policies.<name>`` of its spec. Texts are rendered in
the community's language; an operator's own text must use only the placeholders of the text it replaces (checked
when the spec is applied).

May import: ``domain``, ``playbook``, ``i18n`` (like every policy). Pure: no I/O, no clock.
"""

from __future__ import annotations

import re
import string
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from functools import cache
from typing import Any, Generic, TypeVar
from zoneinfo import ZoneInfo

from pydantic import ConfigDict, Field

from shequn.domain import Action, AwardPoints, SetState
from shequn.domain.state import CommunityState, MemberState
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import Context, PolicySettings
from shequn.policies.text import check_template

_FORMATTER = string.Formatter()
_HHMM = re.compile(r"^([01]?\d|2[0-3]):([0-5]\d)$")


def book(policy: str, key: str) -> Any:
    """A settings field whose default is the playbook's value for ``policies.<policy>.<key>``."""
    return Field(default_factory=lambda: load_playbook().default(policy, key))


class BookSettings(PolicySettings):
    """Settings of a policy whose defaults and texts live in the playbook.

    ``texts`` overrides any text the policy posts (key → text in the community's language). Defaults are
    validated like a community's own values, so a broken playbook default fails loudly.
    """

    model_config = ConfigDict(extra="forbid", frozen=True, validate_default=True)

    texts: dict[str, str] = Field(default_factory=dict)


def placeholders(template: str) -> set[str]:
    return {f for _, f, _, _ in _FORMATTER.parse(template) if f}


def check_texts(policy: str, settings: BookSettings) -> list[tuple[str, str]]:
    """Problems of ``settings.texts``: unknown keys, or placeholders the replaced text does not offer."""
    known = load_playbook().policies[policy].texts
    problems: list[tuple[str, str]] = []
    for key, text in settings.texts.items():
        if key not in known:
            problems.append((f"texts.{key}", f"unknown text; texts are {', '.join(sorted(known))}"))
            continue
        allowed = placeholders(known[key].text.zh) | placeholders(known[key].text.en)
        if problem := check_template(text, allowed or {"name"}):
            problems.append((f"texts.{key}", problem))
    return problems


def say(ctx: Context, policy: str, key: str, /, **values: Any) -> str:
    """The text ``key`` of ``policy`` in the community's language (the community's own if it set one), filled in."""
    settings = ctx.settings
    own = settings.texts.get(key) if isinstance(settings, BookSettings) else None
    template = own or load_playbook().text(policy, key, ctx.locale)
    return template.format(**values) if values else template


def text_of(policy: str, key: str, locale: str, own: Mapping[str, str] | None = None, **values: Any) -> str:
    """Like :func:`say`, for the pure helpers that have no :class:`Context` (bulletins, announcements)."""
    template = (own or {}).get(key) or load_playbook().text(policy, key, locale)
    return template.format(**values) if values else template


# -- caches ----------------------------------------------------------------------------------------------------


T = TypeVar("T")


class PerSettings(Generic[T]):
    """What a policy builds once from one community's settings (compiled patterns, word indexes), kept by identity.

    Settings objects are immutable and live as long as the community's configuration, so their identity names
    them; the entry keeps the settings alive, so an id is never reused while its entry exists.
    """

    def __init__(self, build: Callable[[Any], T]) -> None:
        self._build = build
        self._cache: dict[int, tuple[Any, T]] = {}

    def __call__(self, settings: Any) -> T:
        entry = self._cache.get(id(settings))
        if entry is None or entry[0] is not settings:
            if len(self._cache) > 512:
                self._cache.clear()
            entry = self._cache[id(settings)] = (settings, self._build(settings))
        return entry[1]


# -- time ------------------------------------------------------------------------------------------------------


@cache
def zone(name: str) -> ZoneInfo:
    return ZoneInfo(name)


@dataclass(frozen=True, slots=True)
class LocalDay:
    """The community-local calendar day of a moment: its date, ISO week and month, and the day before."""

    date: date
    day: str  # YYYY-MM-DD
    month: str  # YYYY-MM
    week: str  # YYYY-Www (ISO)
    yesterday: str  # YYYY-MM-DD
    start: float  # its first and last instants, as UTC timestamps: [start, end)
    end: float


_DAYS: dict[str, LocalDay] = {}  # time zone → the local day last asked for (events arrive in order)


def local_day(now: datetime, spec: CommunitySpec) -> LocalDay:
    """The community-local day of ``now`` (cached per time zone: consecutive events share a day)."""
    ts = now.timestamp()
    tz = spec.timezone
    d = _DAYS.get(tz)
    if d is not None and d.start <= ts < d.end:
        return d
    at = now.astimezone(zone(tz))
    day0 = at.date()
    midnight = datetime(day0.year, day0.month, day0.day, tzinfo=zone(tz))
    nxt = day0 + timedelta(days=1)
    end = datetime(nxt.year, nxt.month, nxt.day, tzinfo=zone(tz))
    y, w, _ = day0.isocalendar()
    iso_day = day0.isoformat()
    d = LocalDay(
        day0, iso_day, iso_day[:7], f"{y}-W{w:02d}", (day0 - timedelta(days=1)).isoformat(), midnight.timestamp(),
        end.timestamp(),
    )  # fmt: skip
    _DAYS[tz] = d
    return d


def local(now: datetime, spec: CommunitySpec) -> datetime:
    """``now`` in the community's time zone."""
    return now.astimezone(zone(spec.timezone))


def keywords(values: Iterable[str]) -> tuple[str, ...]:
    """Keywords as matched: stripped, lower case, empty ones dropped (for ``text.lower().startswith(tuple)``)."""
    return tuple(k.strip().lower() for k in values if k.strip())


def check_hhmm(value: str) -> str:
    """Validate ``HH:MM`` (24-hour)."""
    if not _HHMM.match(value):
        raise ValueError(f"{value!r} is not a time of day such as 07:30")
    return value


def hhmm(value: str) -> time:
    h, m = value.split(":")
    return time(int(h), int(m))


def check_span(value: str) -> str:
    """Validate ``HH:MM-HH:MM`` (may run past midnight, e.g. 22:00-01:00)."""
    start, sep, end = value.partition("-")
    if not sep:
        raise ValueError(f"{value!r} is not a span of the day such as 12:00-13:30")
    check_hhmm(start.strip())
    check_hhmm(end.strip())
    return value


def in_span(t: time, span: str) -> bool:
    start_s, _, end_s = span.partition("-")
    start, end = hhmm(start_s.strip()), hhmm(end_s.strip())
    return start <= t < end if start <= end else (t >= start or t < end)


def day(d: datetime) -> str:
    return d.date().isoformat()


def at_local(d: datetime, clock: str) -> datetime:
    """The moment ``clock`` (``HH:MM``) on the local date of ``d`` (same zone)."""
    t = hhmm(clock)
    return d.replace(hour=t.hour, minute=t.minute, second=0, microsecond=0)


def week_start(d: datetime) -> datetime:
    """Midnight of the Monday of ``d``'s week (local)."""
    return (d - timedelta(days=d.weekday())).replace(hour=0, minute=0, second=0, microsecond=0)


# -- people ----------------------------------------------------------------------------------------------------

STAFF_ROLES = ("architect", "decision_maker")  # the people who run a community (book 812-814)


def has_role(spec: CommunitySpec, roles: Iterable[str], member: MemberState | None, platform_id: str = "") -> bool:
    """Whether the person holds one of ``roles``: given by a policy (``SetRole``) or listed in the spec's ``roles``.

    The spec may name people by platform id, by identity key (``platform:id``) or by display name.
    """
    for role in roles:
        if member is not None and role in member.roles:
            return True
        who = spec.roles.get(role)
        if not who:
            continue
        if platform_id and platform_id in who:
            return True
        if member is not None and (member.key in who or (member.name and member.name in who)):
            return True
    return False


class RoleHolders:
    """Who holds some roles in one community, worked out once from its spec (ids, identity keys and names)."""

    __slots__ = ("names", "roles")

    def __init__(self, spec: CommunitySpec, roles: Iterable[str]) -> None:
        self.roles = frozenset(roles)
        self.names = frozenset(who for r in self.roles for who in spec.roles.get(r, ()))

    def holds(self, member: MemberState | None, platform_id: str = "") -> bool:
        """The same answer as :func:`has_role`, without walking the spec."""
        if member is not None:
            if member.roles and not self.roles.isdisjoint(member.roles):
                return True
            if self.names and (member.key in self.names or (member.name and member.name in self.names)):
                return True
        return bool(platform_id) and platform_id in self.names


def display(member: MemberState | None, fallback: str = "") -> str:
    return (member.name if member else "") or fallback


def member_pid(member: MemberState) -> str:
    """The platform id of a member (the part of the key after the platform)."""
    return member.key.partition(":")[2]


def member_platform(member: MemberState) -> str:
    return member.key.partition(":")[0]


# -- money -----------------------------------------------------------------------------------------------------


def money(fen: int, currency: str = "CNY") -> str:
    """``¥99`` / ``¥99.50`` for CNY; other currencies as ``12.00 USD``."""
    whole, part = divmod(fen, 100)
    amount = f"{whole}" if part == 0 else f"{whole}.{part:02d}"
    return f"¥{amount}" if currency == "CNY" else f"{amount} {currency}"


def chunk_names(names: list[str], locale: str) -> str:
    return ("、" if not locale.startswith("en") else ", ").join(names)


# Points spent on rewards and make-up cards, per member, in the points policy's scope: a level follows what a member
# contributed (book 1239: 根据贡献及参与度), so what they spend on a reward still counts toward it.
SPENT_SCOPE = "points"


def spent_of(community: CommunityState, member: MemberState) -> int:
    """The points ``member`` has spent so far."""
    return int((community.policy.get(SPENT_SCOPE) or {}).get(f"s:{member.key}", 0))


def earned(community: CommunityState, member: MemberState) -> int:
    """The points ``member`` earned and still holds or spent (expired points aside): what their level follows."""
    return member.points + spent_of(community, member)


def spend(ctx: Context, member: MemberState, target: str, cost: int, reason: str, suffix: str) -> list[Action]:
    """Take ``cost`` points from ``member`` and remember them as spent (so the level they earned stays)."""
    total = spent_of(ctx.community, member) + cost
    return [
        ctx.act(AwardPoints, suffix, target=target, points=-cost, reason=reason),
        ctx.act(SetState, f"{suffix}:spent", scope=SPENT_SCOPE, name=f"s:{member.key}", value=total),
    ]
