"""Rate limits and quotas the outbox keeps to, per platform, per bot token and per group (pure, in milliseconds).

Every limit is a sliding window: at most ``count`` sends in any ``seconds``. A send is counted when it is handed to
the connector. Quotas count per group per calendar period in the platform's time zone (WeCom 群发: 4 a month).
Defaults come from ``playbook/data/platform_limits.yaml``, which cites each platform's documentation.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from zoneinfo import ZoneInfo

from shequn.playbook import load_playbook
from shequn.playbook.models import LimitsBook, PlatformLimits


@dataclass(frozen=True, slots=True)
class Window:
    """At most ``count`` sends per ``ms`` milliseconds, for the action kinds ``kinds`` (empty: every kind)."""

    count: int
    ms: int
    kinds: frozenset[str] = frozenset()

    def applies(self, kind: str) -> bool:
        return not self.kinds or kind in self.kinds


@dataclass(frozen=True, slots=True)
class Quota:
    """At most ``count`` sends of ``kinds`` per group per calendar ``period`` (day, week, month) in ``tz``."""

    kinds: frozenset[str]
    count: int
    period: str
    tz: str = "Asia/Shanghai"

    def period_of(self, ms: int) -> str:
        local = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZoneInfo(self.tz))
        if self.period == "day":
            return local.strftime("%Y-%m-%d")
        if self.period == "week":
            year, week, _ = local.isocalendar()
            return f"{year}-W{week:02d}"
        return local.strftime("%Y-%m")

    def period_start_ms(self, ms: int) -> int:
        local = datetime.fromtimestamp(ms / 1000, tz=UTC).astimezone(ZoneInfo(self.tz))
        start = local.replace(hour=0, minute=0, second=0, microsecond=0)
        if self.period == "week":
            start = start.fromordinal(start.toordinal() - start.weekday()).replace(tzinfo=start.tzinfo)
        elif self.period == "month":
            start = start.replace(day=1)
        return int(start.timestamp() * 1000)


@dataclass(frozen=True, slots=True)
class PlatformPolicy:
    """The windows and quotas of one platform, by scope."""

    platform: str
    per_platform: tuple[Window, ...] = ()
    per_bot: tuple[Window, ...] = ()
    per_group: tuple[Window, ...] = ()
    quotas: tuple[Quota, ...] = ()

    @property
    def longest_ms(self) -> int:
        return max((w.ms for w in (*self.per_platform, *self.per_bot, *self.per_group)), default=0)


def _policy(entry: PlatformLimits, platform: str) -> PlatformPolicy:
    by: dict[str, list[Window]] = {"platform": [], "bot": [], "group": []}
    for limit in entry.limits:
        by[limit.scope].append(Window(limit.count, round(limit.seconds * 1000), frozenset(limit.kinds)))
    quotas = tuple(Quota(frozenset(q.kinds), q.count, q.period, q.timezone) for q in entry.quotas)
    return PlatformPolicy(platform, tuple(by["platform"]), tuple(by["bot"]), tuple(by["group"]), quotas)


class Policies:
    """The limits of every platform: the playbook's documented defaults, or an operator's file of the same shape."""

    def __init__(self, book: LimitsBook | None = None) -> None:
        self.book = book or load_playbook().limits
        self._cache: dict[str, PlatformPolicy] = {}

    @classmethod
    def from_mapping(cls, data: Mapping[str, Any]) -> Policies:
        """Overrides from an operator's YAML: platforms listed replace the defaults; the rest keep them."""
        given = LimitsBook.model_validate({"fallback": load_playbook().limits.fallback.model_dump(), **data})
        merged = {p.platform: p for p in load_playbook().limits.platforms}
        merged.update({p.platform: p for p in given.platforms})
        return cls(LimitsBook(platforms=list(merged.values()), fallback=given.fallback))

    def __call__(self, platform: str) -> PlatformPolicy:
        policy = self._cache.get(platform)
        if policy is None:
            entry = next((p for p in self.book.platforms if p.platform == platform), self.book.fallback)
            policy = self._cache[platform] = _policy(entry, platform)
        return policy


@dataclass(slots=True)
class _Log:
    window: Window
    times: deque[int] = field(default_factory=deque)

    def free_at(self, now: int) -> int:
        """When the next send fits in the window (``now`` if it fits now)."""
        times, span = self.times, self.window.ms
        while times and times[0] <= now - span:
            times.popleft()
        if len(times) < self.window.count:
            return now
        return times[len(times) - self.window.count] + span


class RateLimiter:
    """Sliding windows per platform, bot and group; pauses asked for by the platforms (429 ``retry_after``)."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        self._logs: dict[tuple[str, ...], list[_Log]] = {}
        self._paused: dict[tuple[str, ...], int] = {}

    def _scopes(self, platform: str, bot: str, group: str) -> list[tuple[tuple[str, ...], tuple[Window, ...]]]:
        p = self.policies(platform)
        return [
            (("platform", platform), p.per_platform),
            (("bot", platform, bot), p.per_bot),
            (("group", platform, group), p.per_group),
        ]

    def _logs_of(self, scope: tuple[str, ...], windows: tuple[Window, ...]) -> list[_Log]:
        logs = self._logs.get(scope)
        if logs is None:
            logs = self._logs[scope] = [_Log(w) for w in windows]
        return logs

    def free_at(self, platform: str, bot: str, group: str, kind: str, now: int) -> tuple[int, str]:
        """The earliest time a send of ``kind`` may go (``now`` when it may go now) and the scope that holds it."""
        when, why = now, ""
        for scope, windows in self._scopes(platform, bot, group):
            paused = self._paused.get(scope, 0)
            if paused > when:
                when, why = paused, scope[0]
            for log in self._logs_of(scope, windows):
                if log.window.applies(kind):
                    t = log.free_at(now)
                    if t > when:
                        when, why = t, scope[0]
        return when, why

    def record(self, platform: str, bot: str, group: str, kind: str, at: int) -> None:
        for scope, windows in self._scopes(platform, bot, group):
            for log in self._logs_of(scope, windows):
                if log.window.applies(kind):
                    log.times.append(at)

    def pause(self, platform: str, bot: str, group: str, scope: str, until: int) -> None:
        """Hold a scope (``group``, ``bot`` or ``platform``) until ``until``: the platform said so."""
        key = {"group": ("group", platform, group), "bot": ("bot", platform, bot)}.get(scope, ("platform", platform))
        self._paused[key] = max(self._paused.get(key, 0), until)

    def reset(self, sends: Iterable[tuple[str, str, str, str, int]]) -> None:
        """Forget the sends counted so far and count ``sends`` instead (every process's, read from the store); the
        pauses the platforms asked for stay."""
        self._logs.clear()
        self.seed(sends)

    def seed(self, sends: Iterable[tuple[str, str, str, str, int]]) -> None:
        """Count sends made before a restart: (platform, bot, group, kind, when), oldest first."""
        for platform, bot, group, kind, at in sorted(sends, key=lambda s: s[4]):
            self.record(platform, bot, group, kind, at)


class QuotaBook:
    """Sends counted against per-group quotas, per period (seeded from the store when the runner starts)."""

    def __init__(self, policies: Policies) -> None:
        self.policies = policies
        self._used: dict[tuple[str, str, str, str], int] = {}

    def _quotas(self, platform: str, kind: str) -> list[Quota]:
        return [q for q in self.policies(platform).quotas if kind in q.kinds]

    def exhausted(self, platform: str, group: str, kind: str, now: int) -> Quota | None:
        for q in self._quotas(platform, kind):
            if self._used.get((platform, group, ",".join(sorted(q.kinds)), q.period_of(now)), 0) >= q.count:
                return q
        return None

    def record(self, platform: str, group: str, kind: str, at: int) -> None:
        for q in self._quotas(platform, kind):
            key = (platform, group, ",".join(sorted(q.kinds)), q.period_of(at))
            self._used[key] = self._used.get(key, 0) + 1

    def used(self, platform: str, group: str, kind: str, now: int) -> int:
        qs = self._quotas(platform, kind)
        if not qs:
            return 0
        q = qs[0]
        return self._used.get((platform, group, ",".join(sorted(q.kinds)), q.period_of(now)), 0)
