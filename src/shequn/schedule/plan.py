"""The planner: which jobs fire in a window of time, per community and group, in the community's time zone.

How it works:
    For every local day the window touches, each enabled job of ``spec.rhythm`` (and each cron job the operator
    added) gives at most one occurrence per group that gets the rhythm (``rhythm.roles``). The daily cap (book 2210:
    一天最多发文2~3则) is applied per group and local day: among the occurrences that count toward it, the ones with
    the lowest ``priority`` (then the earliest) are kept and the rest are marked ``capped`` (decided, shown, never
    sent). The weekly case study takes the daily activity's place on its day. Activity steps
    (:func:`~shequn.schedule.activities.run_of_show`) join the list; they are not capped, and while a guest talk
    holds its groups the rhythm's posts there are ``held`` (decided, never sent).

    Every occurrence has a deterministic key (community, group, local time, job), so deciding the same window twice
    (a restart, ``shequn schedule list`` and ``shequn run``) names the same actions, and the outbox keeps one.

Things to keep in mind:
    * Pure: no clock, no I/O. The same inputs give the same plan, in the same order.
    * Local times that do not exist (a DST gap) are taken as the next existing minute by ``zoneinfo``'s fold rules.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from cronsim import CronSim

from shequn.playbook import load_playbook
from shequn.playbook.models import WEEKDAYS
from shequn.playbook.spec import CommunitySpec, JobSpec
from shequn.policies import GroupConfig
from shequn.schedule.activities import Activity, ActivityKind, run_of_show

GroupTarget = GroupConfig

# Steps that go to the activity's first group only.
_HOME_ONLY = frozenset({"prepare", "queue", "poll", "survey"})


@dataclass(frozen=True, slots=True)
class Occurrence:
    """One job due at one moment in one group.

    Attributes:
        job: ``morning_report``, ``custom:<key>`` or ``activity:<key>:<step>[:n]``.
        kind: the content builder's key (``BUILDERS``): the job key for rhythm jobs, ``custom``, ``activity.<step>``.
        status: ``due``, ``capped`` (over the daily cap) or ``held`` (inside a guest talk): the last two are
            decided but not sent.
    """

    job: str
    kind: str
    community: str
    group: GroupConfig
    at: datetime
    local: datetime
    counts: bool = False
    priority: int = 50
    status: str = "due"
    text: str | None = None  # the operator's wording (rhythm.jobs.<key>.text or a custom job's text)
    activity: str = ""
    step: str = ""
    n: int = 0
    extra: dict[str, str] = field(default_factory=dict)
    key: str = field(init=False, compare=False)
    local_date: str = field(init=False, compare=False)

    def __post_init__(self) -> None:
        local = self.local
        day = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
        object.__setattr__(self, "local_date", day)
        if self.activity:
            key = f"{self.job}:{self.group.key}"
        else:
            key = f"rhythm:{self.community}:{self.group.key}:{day}T{local.hour:02d}:{local.minute:02d}:{self.job}"
        object.__setattr__(self, "key", key)


def _runs_on(days: str, day: date) -> bool:
    if days == "daily":
        return True
    if days == "weekdays":
        return day.weekday() < 5
    return WEEKDAYS.index(days) == day.weekday()


def _at(day: date, hhmm: str, tz: ZoneInfo) -> datetime:
    h, m = hhmm.split(":")
    return datetime.combine(day, time(int(h), int(m)), tzinfo=tz)


def rhythm_groups(spec: CommunitySpec, groups: Iterable[GroupConfig]) -> list[GroupConfig]:
    """The community's groups that get the rhythm (by role; not archived or dissolved), in a stable order."""
    roles = set(spec.rhythm.roles)
    chosen = (g for g in groups if g.community == spec.name and g.role in roles and g.state == "active")
    return sorted(chosen, key=lambda g: g.key)


def _day_jobs(spec: CommunitySpec, day: date, tz: ZoneInfo) -> list[tuple[str, JobSpec, datetime, int]]:
    """(job key, settings, local time, priority) of the built-in jobs firing on local ``day``."""
    r = spec.rhythm
    defaults = {j.key: j for j in load_playbook().rhythm.jobs}
    out = []
    for key, job in r.jobs.items():
        if not job.enabled or not job.at or not job.days:
            continue
        about = day + timedelta(days=defaults[key].offset_days)
        if key == "activity_preheat":
            # The preheat announces the next day's activity (or case study): only when there is one.
            if not _activity_day(spec, about):
                continue
        elif not _runs_on(job.days, about):
            continue
        if key == "daily_activity" and _case_day(spec, about):
            continue  # the case study is that day's activity
        out.append((key, job, _at(day, job.at, tz), job.priority if job.priority is not None else 50))
    return out


def _case_day(spec: CommunitySpec, day: date) -> bool:
    case = spec.rhythm.jobs.get("case_study")
    return bool(case and case.enabled and case.days and _runs_on(case.days, day))


def _activity_day(spec: CommunitySpec, day: date) -> bool:
    act = spec.rhythm.jobs.get("daily_activity")
    return bool(act and act.enabled and act.days and _runs_on(act.days, day)) or _case_day(spec, day)


def _custom_times(cron: str, day: date, tz: ZoneInfo) -> list[datetime]:
    start = datetime.combine(day, time(0, 0), tzinfo=tz) - timedelta(seconds=1)
    out = []
    for t in CronSim(cron, start):
        if t.date() != day:
            break
        out.append(t)
    return out


def day_plan(
    spec: CommunitySpec,
    groups: Sequence[GroupConfig],
    day: date,
    window: tuple[datetime, datetime] | None = None,
) -> list[Occurrence]:
    """Every rhythm occurrence of local ``day`` in each of ``groups`` (already filtered), with the cap applied;
    with ``window`` (start, end], only those firing in it (the cap still looks at the whole day)."""
    if not spec.rhythm.enabled:
        return []
    tz = ZoneInfo(spec.timezone)
    cap = spec.rhythm.max_posts_per_day or 3
    # (job, kind, local time, counts, priority, text, group filter) for the whole day
    slots: list[tuple[str, str, datetime, bool, int, str | None, frozenset[str]]] = [
        (key, key, local, bool(job.counts_toward_cap), priority, job.text, frozenset())
        for key, job, local, priority in _day_jobs(spec, day, tz)
    ]
    for c in spec.rhythm.custom:
        for local in _custom_times(c.cron, day, tz):
            slots.append(
                (f"custom:{c.key}", "custom", local, c.counts_toward_cap, c.priority, c.text, frozenset(c.groups))
            )
    if not slots:
        return []
    firing = [
        (s, s[2].astimezone(UTC)) for s in slots if window is None or window[0] < s[2].astimezone(UTC) <= window[1]
    ]
    if not firing:
        return []
    capped_for: dict[frozenset[int], set[int]] = {}  # which slots a group gets → which of them are over the cap
    out: list[Occurrence] = []
    for g in groups:
        mine = frozenset(i for i, s in enumerate(slots) if not s[6] or g.platform_id in s[6] or g.key in s[6])
        over = capped_for.get(mine)
        if over is None:
            counted = sorted((i for i in mine if slots[i][3]), key=lambda i: (slots[i][4], slots[i][2], slots[i][0]))
            over = capped_for[mine] = set(counted[cap:])
        for s, at in firing:
            i = slots.index(s)
            if i not in mine:
                continue
            out.append(
                Occurrence(
                    job=s[0],
                    kind=s[1],
                    community=spec.name,
                    group=g,
                    at=at,
                    local=s[2],
                    counts=s[3],
                    priority=s[4],
                    text=s[5],
                    status="capped" if i in over else "due",
                )
            )
    return sorted(out, key=lambda o: (o.at, o.priority, o.group.key, o.job))


def _with_status(o: Occurrence, status: str) -> Occurrence:
    from dataclasses import replace

    return replace(o, status=status)


def activity_plan(spec: CommunitySpec, groups: dict[str, GroupConfig], activity: Activity) -> list[Occurrence]:
    """The activity's steps as occurrences, one per group it goes to."""
    tz = ZoneInfo(spec.timezone)
    quiet = spec.rhythm.quiet_hours
    assert quiet is not None
    out = []
    for st in run_of_show(activity, tz, quiet):
        targets = activity.groups[:1] if st.step in _HOME_ONLY else activity.groups
        for gkey in targets:
            g = groups.get(gkey)
            if g is None:
                continue
            out.append(
                Occurrence(
                    job=st.job,
                    kind=f"activity.{st.step}",
                    community=spec.name,
                    group=g,
                    at=st.at.astimezone(UTC),
                    local=st.at.astimezone(tz),
                    activity=activity.key,
                    step=st.step,
                    n=st.n,
                )
            )
    return out


def plan(
    spec: CommunitySpec,
    groups: Iterable[GroupConfig],
    start: datetime,
    end: datetime,
    activities: Iterable[Activity] = (),
) -> list[Occurrence]:
    """Every occurrence of one community firing in ``(start, end]``, in time order."""
    groups = list(groups)
    tz = ZoneInfo(spec.timezone)
    targets = rhythm_groups(spec, groups)
    first = start.astimezone(tz).date()
    last = end.astimezone(tz).date()
    out: list[Occurrence] = []
    day = first
    while day <= last:
        out.extend(day_plan(spec, targets, day, (start, end)))
        day += timedelta(days=1)
    by_key = {g.key: g for g in groups}
    mine = [a for a in activities if a.community == spec.name]
    out = hold_for_talks(out, mine)
    for a in mine:
        out.extend(o for o in activity_plan(spec, by_key, a) if start < o.at <= end)
    return sorted(out, key=lambda o: (o.at, o.priority, o.group.key, o.job))


def talk_holds(activities: Iterable[Activity]) -> list[tuple[frozenset[str], datetime, datetime]]:
    """(groups, from, until) of every guest talk that holds its groups: from its rules notice (10 minutes before)
    to its end. Nothing of the rhythm is posted then (其他时间不打扰群友; the 晚报 is no place inside a talk)."""
    out = []
    for a in activities:
        if a.kind is ActivityKind.GUEST_TALK and a.status != "cancelled" and a.starts and a.ends:
            out.append((frozenset(a.groups), a.starts - timedelta(minutes=10), a.ends))
    return out


def hold_for_talks(occurrences: list[Occurrence], activities: Iterable[Activity]) -> list[Occurrence]:
    """``occurrences`` with the rhythm's posts that fall inside a guest talk marked ``held`` (decided, never sent)."""
    holds = talk_holds(activities)
    if not holds:
        return occurrences
    return [
        _with_status(o, "held")
        if not o.activity and any(o.group.key in gs and a <= o.at < b for gs, a, b in holds)
        else o
        for o in occurrences
    ]
