"""What a scheduled job says: a registry of content builders keyed by job kind, and the context they read.

How it works:
    The scheduler calls ``BUILDERS[occurrence.kind](ctx)``; the builder returns the actions to take (usually one
    :class:`~shequn.domain.Post` made with :meth:`JobContext.post`, whose key is the occurrence's) or None when it
    has nothing to say (the occurrence is recorded as ``empty``). Builders read the day's data through
    ``ctx.data`` (the event log of the group, the activities, what earlier occurrences recorded) and may leave notes
    for later occurrences in ``ctx.detail`` (the daily topic writes the topic it posted; the evening report reads it).

Things to keep in mind:
    * Another package plugs its content in with ``@register("level_bulletin")`` (the policies' level bulletin): the
      scheduler owns *when*, the builder owns *what*.
    * Builders are deterministic: same data, same text, same keys. No clock: use ``ctx.occ.at`` / ``ctx.occ.local``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, time, timedelta
from typing import Any, Protocol, TypeVar
from zoneinfo import ZoneInfo

from shequn.domain import Action, Event, Post
from shequn.domain.state import CommunityState
from shequn.playbook import Text, load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.schedule.activities import Activity
from shequn.schedule.plan import Occurrence

A = TypeVar("A", bound=Action)


class ScheduleData(Protocol):
    """What builders may read; the scheduler service implements it over the store, the sandbox over memory."""

    def events(self, group_key: str, start: datetime, end: datetime) -> Sequence[Event]: ...

    def activities(self, community: str) -> Sequence[Activity]: ...

    def run_detail(self, key: str) -> dict[str, Any] | None: ...

    def community_state(self, community: str) -> CommunityState | None: ...


class _Keep(dict[str, Any]):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(template: str, **values: Any) -> str:
    """Fill ``{placeholders}``; unknown ones stay as written (an operator's typo shows, it does not crash)."""
    try:
        return template.format_map(_Keep(values))
    except (ValueError, IndexError, KeyError, AttributeError):
        return template


@dataclass(slots=True)
class JobContext:
    """One occurrence being built: the job, the community, the data, and notes for later occurrences."""

    occ: Occurrence
    spec: CommunitySpec
    data: ScheduleData
    activity: Activity | None = None
    detail: dict[str, Any] = field(default_factory=dict)
    emitted: list[Event] = field(default_factory=list)  # facts for the event log (attendance, segment reports)

    @property
    def locale(self) -> str:
        return self.spec.locale

    @property
    def tz(self) -> ZoneInfo:
        return ZoneInfo(self.spec.timezone)

    def label(self, key: str, book: str = "rhythm", **values: Any) -> str:
        pb = load_playbook()
        labels = pb.rhythm.labels if book == "rhythm" else pb.activities.labels
        return render(labels[key].get(self.locale), **values)

    def template(self, default: Text | None) -> str:
        """The operator's wording for this job, else the playbook's in the community's language."""
        if self.occ.text:
            return self.occ.text
        return default.get(self.locale) if default else ""

    def weekday(self, when: datetime | None = None) -> str:
        local = (when or self.occ.local).astimezone(self.tz)
        return self.label(f"weekday_{local.weekday()}")

    def day_window(self, offset: int = 0) -> tuple[datetime, datetime]:
        """The local day ``offset`` days from the occurrence's, as a UTC [start, end)."""
        day = self.occ.local.date() + timedelta(days=offset)
        start = datetime.combine(day, time(0, 0), tzinfo=self.tz)
        return start.astimezone(UTC), (start + timedelta(days=1)).astimezone(UTC)

    def events(self, start: datetime, end: datetime) -> Sequence[Event]:
        return self.data.events(self.occ.group.key, start, end)

    def act(self, cls: type[A], suffix: str = "", **fields: Any) -> A:
        """An action of this occurrence: its key is the occurrence's (plus ``suffix``), so it is sent once."""
        fields.setdefault("platform", self.occ.group.platform)
        fields.setdefault("group", self.occ.group.platform_id)
        return cls(
            key=f"{self.occ.key}:{suffix}" if suffix else self.occ.key,
            at=self.occ.at,
            community=self.spec.name,
            policy=f"schedule.{self.occ.kind}",
            **fields,
        )

    def post(self, text: str, suffix: str = "", **fields: Any) -> Post:
        return self.act(Post, suffix, text=text, **fields)


Builder = Callable[[JobContext], Sequence[Action] | None]
BUILDERS: dict[str, Builder] = {}


def register(kind: str) -> Callable[[Builder], Builder]:
    """Register the content builder of job ``kind`` (a later registration replaces an earlier one)."""

    def add(fn: Builder) -> Builder:
        BUILDERS[kind] = fn
        return fn

    return add
