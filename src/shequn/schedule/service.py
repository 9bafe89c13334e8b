"""The scheduler: decides what is due, builds it, and hands it to the outbox with deterministic keys.

How it works:
    :class:`Scheduler` is the core, shared by ``shequn run`` (:class:`SchedulerService`, over the store) and the
    sandbox (:class:`MemoryData`, over what the session saw). On each pass over ``(last, now]`` it plans every
    community's occurrences (:func:`~shequn.schedule.plan.plan`), skips the ones already decided (by key), builds
    the rest with the registered content builders, and runs the live part of the activities that are on. Each
    occurrence becomes a *run* (sent, capped, held, empty, missed) with the same key as its actions.

    :class:`SchedulerService` persists a pass in three steps: the facts it observed (attendance, segment
    reports) go into the event log first (idempotent by id), then the runs, the actions (through the application's
    outbox path, so what a platform forbids becomes a staff task) and the cursor commit in one transaction. A crash
    between the two repeats the pass; nothing is enqueued twice because runs and actions are keyed.

Things to keep in mind:
    * After downtime, occurrences older than the grace (``misfire_grace_minutes``, 30) are recorded as ``missed``,
      not sent late: a 早报 at 14:00 would be wrong. On its very first pass the scheduler starts from now.
    * The cursor only moves forward; the clock is the host's (virtual in tests and the sandbox).
    * With ``shequn worker`` each worker runs a pass for the communities of the shards it holds (a :class:`Scope`):
      a cursor per shard, the leases checked and their rows locked in the transaction that records the runs, so a
      pass of a worker whose lease expired records nothing, and the next holder starts where the last committed pass
      stopped.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shequn.domain import Action, Clock, Event
from shequn.domain.state import CommunityState, State
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies import GroupConfig
from shequn.schedule import jobs as _jobs  # noqa: F401  (registers the rhythm's builders)
from shequn.schedule import live as _live
from shequn.schedule.activities import Activity, ActivityKind
from shequn.schedule.content import BUILDERS, JobContext
from shequn.schedule.plan import Occurrence, plan
from shequn.store import RunRow, Store
from shequn.store._sql import from_ms, to_ms

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger("shequn.schedule")

# Kinds whose text depends on the day's messages: previews show a note instead of a guess.
DYNAMIC = frozenset(
    {
        "morning_report",
        "evening_report",
        "level_bulletin",
        "activity.queue",
        "activity.summary",
        "activity.invite_contest",
    }
    | {f"activity.report_{s}" for s in ("warm_up", "talk", "qa")}
)


@dataclass(slots=True)
class Decided:
    """One decided occurrence (or live item): its run, its actions, the facts it observed."""

    key: str
    occ: Occurrence | None
    group: GroupConfig
    job: str
    at: datetime
    status: str  # sent | capped | held | empty | missed
    counts: bool = False
    actions: list[Action] = field(default_factory=list)
    events: list[Event] = field(default_factory=list)
    detail: dict[str, Any] = field(default_factory=dict)

    @property
    def local_date(self) -> str:
        return self.occ.local_date if self.occ else self.at.strftime("%Y-%m-%d")


class _Data(Protocol):
    def events(self, group_key: str, start: datetime, end: datetime) -> Sequence[Event]: ...

    def activities(self, community: str) -> Sequence[Activity]: ...

    def run_detail(self, key: str) -> dict[str, Any] | None: ...

    def community_state(self, community: str) -> CommunityState | None: ...


class Scheduler:
    """Plans and builds what is due for a set of communities (see the module docstring)."""

    def __init__(self, specs: Mapping[str, CommunitySpec], groups: Sequence[GroupConfig]) -> None:
        self.specs = dict(specs)
        self.groups = list(groups)
        self.by_key = {g.key: g for g in self.groups}

    def occurrences(self, start: datetime, end: datetime, activities: Sequence[Activity]) -> list[Occurrence]:
        out: list[Occurrence] = []
        by_community: dict[str, list[GroupConfig]] = {}
        for g in self.groups:
            by_community.setdefault(g.community, []).append(g)
        for name, spec in self.specs.items():
            mine = by_community.get(name, [])
            out.extend(plan(spec, mine, start, end, [a for a in activities if a.community == name]))
        return sorted(out, key=lambda o: (o.at, o.priority, o.group.key, o.job))

    def decide(
        self,
        start: datetime,
        end: datetime,
        data: _Data,
        activities: Sequence[Activity],
        known: Callable[[Iterable[str]], set[str]],
        *,
        missed_before: datetime | None = None,
        planned: list[Occurrence] | None = None,
    ) -> list[Decided]:
        """Everything due in ``(start, end]`` not decided before; occurrences before ``missed_before`` are missed."""
        occs = self.occurrences(start, end, activities) if planned is None else planned
        done = known([o.key for o in occs])
        acts = {a.key: a for a in activities}
        out: list[Decided] = []
        pending: dict[str, dict[str, Any]] = {}

        class _Seen:
            def events(self, group_key: str, s: datetime, e: datetime) -> Sequence[Event]:
                return data.events(group_key, s, e)

            def activities(self, community: str) -> Sequence[Activity]:
                return data.activities(community)

            def run_detail(self, key: str) -> dict[str, Any] | None:
                return pending.get(key) or data.run_detail(key)

            def community_state(self, community: str) -> CommunityState | None:
                return data.community_state(community)

        seen = _Seen()
        for o in occs:
            if o.key in done:
                continue
            d = Decided(o.key, o, o.group, o.job, o.at, "sent", counts=o.counts)
            if missed_before is not None and o.at < missed_before:
                d.status = "missed"
            elif o.status in ("capped", "held"):
                d.status = o.status
            else:
                builder = BUILDERS.get(o.kind)
                if builder is None:
                    d.status, d.detail = "empty", {"reason": "no content builder"}
                else:
                    ctx = JobContext(o, self.specs[o.community], seen, acts.get(o.activity))
                    try:
                        built = builder(ctx)
                    except Exception as exc:  # one broken builder must not stop the others
                        log.exception("building %s failed", o.key)
                        built, ctx.detail = None, {"error": f"{type(exc).__name__}: {exc}"}
                    d.actions = list(built or [])
                    d.events = list(ctx.emitted)
                    d.detail = dict(ctx.detail)
                    if not d.actions:
                        d.status = "empty"
            pending[o.key] = d.detail
            out.append(d)
        out.extend(self._live(start, end, data, activities, known))
        return out

    def _live(
        self,
        start: datetime,
        end: datetime,
        data: _Data,
        activities: Sequence[Activity],
        known: Callable[[Iterable[str]], set[str]],
    ) -> list[Decided]:
        out: list[Decided] = []
        for a in activities:
            spec = self.specs.get(a.community)
            if spec is None or not _is_on(a, start, end):
                continue
            frm = (
                (a.starts - timedelta(minutes=30))
                if a.kind is ActivityKind.GUEST_TALK and a.starts
                else (a.created or start)
            )
            frm = min(frm, start - timedelta(minutes=2))
            events_of = {g: data.events(g, frm, end + timedelta(seconds=1)) for g in a.groups}
            probe = next((g for g in self.groups if g.key == a.home), None)
            if probe is None:
                continue
            label = JobContext(
                Occurrence(job="live", kind="live", community=spec.name, group=probe, at=end, local=end), spec, data, a
            )
            # Events logged late (the platform's time is earlier than when it reached us) are caught by the lag.
            items = _live.live(spec, a, self.by_key, events_of, start - timedelta(minutes=2), end, label=label)
            done = known([i.key for i in items])
            for item in items:
                if item.key in done:
                    continue
                at = item.actions[0].at if item.actions else end
                out.append(
                    Decided(
                        item.key,
                        None,
                        item.group,
                        item.key.split(":")[2],
                        at,
                        "sent",
                        actions=item.actions,
                        events=item.events,
                    )
                )
        return out


def _is_on(a: Activity, start: datetime, end: datetime) -> bool:
    if a.status == "cancelled" or a.starts is None:
        return False
    if a.kind is ActivityKind.GUEST_TALK:
        return a.starts - timedelta(minutes=30) <= end and start <= (a.ends or a.starts) + timedelta(minutes=5)
    begin = a.created or a.starts - timedelta(days=14)
    return begin <= end and start <= a.starts


# -- over the store: shequn run --------------------------------------------------------------------------------


class Host(Protocol):
    """What the service needs of the application (:class:`shequn.app.App` is one)."""

    store: Store
    clock: Clock

    @property
    def ws(self) -> Any: ...

    def workspace_config(self, conn: Connection, only: Collection[int] | None = None) -> Any: ...

    def enqueue_actions(self, conn: Connection, actions: Sequence[Action]) -> Any: ...

    def ingest(self, events: Iterable[Event], *, history: bool = False) -> Any: ...

    def saved_state(self) -> State: ...


class StoreData:
    """The builders' view of the store within one pass: event windows (prefetched in bulk), activities, runs."""

    def __init__(
        self,
        host: Host,
        conn: Connection,
        activities: Sequence[Activity],
        group_ids: dict[str, int],
        *,
        scoped: bool = False,
    ) -> None:
        self.host = host
        self.conn = conn
        self.scoped = scoped  # read each community's state alone (a shard's pass: not the whole workspace)
        self._communities: dict[str, CommunityState | None] = {}
        self._activities = activities
        self.group_ids = group_ids
        self._windows: dict[str, tuple[int, int, list[Event]]] = {}
        self._runs: tuple[int, int, dict[str, dict[str, Any]]] | None = None
        self._state: State | None = None

    def prefetch(self, group_keys: Iterable[str], start: datetime, end: datetime) -> None:
        """Read the events of many groups over one window in a few queries (the 08:00 burst of 早报)."""
        keys = [k for k in set(group_keys) if k in self.group_ids]
        if not keys:
            return
        s, e = to_ms(start), to_ms(end)
        by_id = {self.group_ids[k]: k for k in keys}
        found: dict[str, list[Event]] = {k: [] for k in keys}
        for gid, ev in self.host.store.schedule.events_in(
            self.conn, self.host.ws.id, list(by_id), start_ms=s, end_ms=e
        ):
            found[by_id[gid]].append(ev)
        for k, evs in found.items():
            self._windows[k] = (s, e, evs)
        runs = self.host.store.schedule.runs(
            self.conn, self.host.ws.id, since_ms=s - 1, until_ms=e, limit=10**7, group_ids=list(by_id)
        )
        self._runs = (s, e, {r.key: r.detail for r in runs})

    def events(self, group_key: str, start: datetime, end: datetime) -> Sequence[Event]:
        s, e = to_ms(start), to_ms(end)
        cached = self._windows.get(group_key)
        if cached and cached[0] <= s and e <= cached[1]:
            return [ev for ev in cached[2] if start <= ev.at < end]
        gid = self.group_ids.get(group_key)
        if gid is None:
            return []
        return [
            ev for _, ev in self.host.store.schedule.events_in(self.conn, self.host.ws.id, [gid], start_ms=s, end_ms=e)
        ]

    def activities(self, community: str) -> Sequence[Activity]:
        return [a for a in self._activities if a.community == community]

    def run_detail(self, key: str) -> dict[str, Any] | None:
        if self._runs is not None:
            found = self._runs[2].get(key)
            if found is not None or key.startswith("rhythm:"):
                return found  # rhythm keys name their time: every recent one is in the prefetched window
        return self.host.store.schedule.run_detail(self.conn, self.host.ws.id, key)

    def community_state(self, community: str) -> CommunityState | None:
        if self.scoped:
            if community not in self._communities:
                store = self.host.store
                self._communities[community] = store.state.load_community(self.conn, self.host.ws.id, community)
            return self._communities[community]
        if self._state is None:
            self._state = self.host.saved_state()
        return self._state.communities.get(community)


@dataclass(slots=True)
class PassReport:
    decided: int = 0
    sent: int = 0  # runs that produced actions
    actions: int = 0
    capped: int = 0  # over the daily cap, or held by a guest talk
    empty: int = 0
    missed: int = 0
    events: int = 0


def load_activities(store: Store, conn: Connection, ws_id: int, *, since: datetime | None = None) -> list[Activity]:
    rows = store.schedule.activities(conn, ws_id, ends_after_ms=to_ms(since) if since else None)
    return [Activity.from_dict({**r.spec, "key": r.key, "community": r.community, "status": r.status}) for r in rows]


@dataclass(frozen=True, slots=True)
class Scope:
    """The part of a workspace one pass decides, with workers: the communities of the shards one worker holds, and
    the check that their leases are still held (run first in the transaction that records the runs, holding the lease
    rows until it commits; it raises when a lease is lost, so nothing is recorded by a worker that lost a shard). The
    pass starts from the earliest of the shards' cursors (one behind after a take-over decides again only what is not
    recorded yet: runs are keyed) and moves them all."""

    shards: tuple[int, ...]
    communities: frozenset[str]
    ids: frozenset[int]  # the communities' ids: only their configuration and state are read
    fence: Callable[[Connection], None]


class SchedulerService:
    """The scheduler over the store, for ``shequn run`` (and ``shequn schedule list``), and for one shard's
    communities under ``shequn worker`` (``scope``: its own cursor, fenced by the shard's lease)."""

    def __init__(self, host: Host, *, every: float = 15.0, scope: Scope | None = None) -> None:
        self.host = host
        self.every = every
        self.scope = scope
        self.grace = timedelta(minutes=load_playbook().rhythm.misfire_grace_minutes)

    def _setup(self, conn: Connection, now: datetime) -> tuple[Scheduler, list[Activity], dict[str, int]]:
        cfg = self.host.workspace_config(conn, None if self.scope is None else self.scope.ids)
        specs = {name: c.spec for name, c in cfg.communities.items()}
        groups = list(cfg.groups.values())
        activities = load_activities(self.host.store, conn, self.host.ws.id, since=now - timedelta(days=3))
        if self.scope is not None:
            mine = self.scope.communities
            specs = {name: spec for name, spec in specs.items() if name in mine}
            groups = [g for g in groups if g.community in mine]
            activities = [a for a in activities if a.community in mine]
        ids = self.host.store.groups.ids(
            conn, self.host.ws.id, {(g.platform, g.platform_id) for g in groups}, now_ms=to_ms(now)
        )
        return Scheduler(specs, groups), activities, ids

    def _cursor(self, conn: Connection) -> int | None:
        store, ws = self.host.store, self.host.ws.id
        if self.scope is None:
            return store.schedule.cursor(conn, ws)
        found = [store.schedule.cursor(conn, ws, shard=s) for s in self.scope.shards]
        known = [c for c in found if c is not None]  # a shard new to the jobs starts with the others
        return min(known) if known else None

    def tick(self, now: datetime | None = None) -> PassReport:
        """One pass up to ``now`` (the host's clock by default)."""
        now = now or self.host.clock.now()
        store, ws = self.host.store, self.host.ws.id
        report = PassReport()
        with store.transaction() as conn:
            last_ms = self._cursor(conn)
            last = from_ms(last_ms) if last_ms is not None else now - timedelta(seconds=1)
            if now <= last:
                return report
            scheduler, activities, ids = self._setup(conn, now)
            data = StoreData(self.host, conn, activities, ids, scoped=self.scope is not None)
            due = scheduler.occurrences(last, now, activities)
            day_start = min((o.at for o in due), default=now) - timedelta(days=2)
            data.prefetch({o.group.key for o in due}, day_start, now + timedelta(seconds=1))
            missed_before = now - self.grace if last < now - self.grace else None
            decided = scheduler.decide(
                last,
                now,
                data,
                activities,
                lambda keys: store.schedule.known(conn, ws, keys),
                missed_before=missed_before,
                planned=due,
            )
        facts = [e for d in decided for e in d.events]
        if facts:
            self.host.ingest(facts)  # idempotent by id: a repeated pass logs nothing twice
            report.events = len(facts)
        with store.transaction() as conn:
            if self.scope is not None:
                self.scope.fence(conn)
                if (self._cursor(conn) or 0) >= to_ms(now):
                    return report  # decided meanwhile by the shards' previous holders
            cids = store.communities.ids(conn, ws)
            gids = store.groups.ids(
                conn, ws, {(d.group.platform, d.group.platform_id) for d in decided}, now_ms=to_ms(now)
            )
            rows = [
                RunRow(
                    key=d.key,
                    community_id=cids.get(d.group.community),
                    group_id=gids.get(d.group.key),
                    job=d.job,
                    at_ms=to_ms(d.at),
                    local_date=d.local_date,
                    status=d.status,
                    counts=d.counts,
                    actions=len(d.actions),
                    detail=d.detail,
                )
                for d in decided
            ]
            fresh = store.schedule.add_runs(conn, ws, rows, now_ms=to_ms(now))
            actions = [a for d in decided if d.key in fresh and d.status == "sent" for a in d.actions]
            if actions:
                self.host.enqueue_actions(conn, actions)
            for shard in self.scope.shards if self.scope is not None else (None,):
                store.schedule.set_cursor(conn, ws, to_ms(now), now_ms=to_ms(now), shard=shard)
        for d in decided:
            if d.key not in fresh:
                continue
            report.decided += 1
            if d.status == "sent":
                report.sent += 1
                report.actions += len(d.actions)
            elif d.status in ("capped", "held"):
                report.capped += 1
            elif d.status == "empty":
                report.empty += 1
            elif d.status == "missed":
                report.missed += 1
        return report

    async def loop(self, stop: asyncio.Event, *, wake: asyncio.Event | None = None, until_idle: bool = False) -> None:
        """Pass every ``every`` seconds until ``stop``; wake the outbox when something was enqueued."""
        while not stop.is_set():
            try:
                report = self.tick()
            except Exception:
                log.exception("scheduler pass failed; trying again next time")
                report = PassReport()
            if report.actions and wake is not None:
                wake.set()
            if until_idle:
                return
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=self.every)

    def preview(self, start: datetime, end: datetime) -> list[tuple[Decided, str]]:
        """What will be sent in ``(start, end]``, without deciding anything: (occurrence, state) pairs, where state
        is ``sent``/``capped``/``empty``/``missed`` for what was decided already, else ``planned``/``capped``."""
        store, ws = self.host.store, self.host.ws.id
        out: list[tuple[Decided, str]] = []
        with store.transaction() as conn:
            scheduler, activities, ids = self._setup(conn, start)
            data = StoreData(self.host, conn, activities, ids)
            occs = scheduler.occurrences(start, end, activities)
            past = {r.key: r for r in store.schedule.runs(conn, ws, since_ms=to_ms(start) - 1, until_ms=to_ms(end))}
            for o in occs:
                d = Decided(o.key, o, o.group, o.job, o.at, o.status, counts=o.counts)
                if o.key in past:
                    out.append((d, past[o.key].status))
                    continue
                if o.status in ("capped", "held"):
                    out.append((d, o.status))
                    continue
                builder = BUILDERS.get(o.kind)
                if builder is not None and o.kind not in DYNAMIC:
                    try:
                        ctx = JobContext(
                            o,
                            scheduler.specs[o.community],
                            data,
                            next((a for a in activities if a.key == o.activity), None),
                        )
                        d.actions = list(builder(ctx) or [])
                    except Exception:  # a preview never fails the command
                        d.actions = []
                out.append((d, "planned" if builder is not None else "empty"))
        return out


# -- over memory: the sandbox ----------------------------------------------------------------------------------


class MemoryData:
    """The builders' view in the sandbox: the events the session fed, its activities, its own runs."""

    def __init__(self, state: Callable[[], State]) -> None:
        self.log: list[Event] = []
        self.runs: dict[str, dict[str, Any]] = {}
        self.acts: list[Activity] = []
        self._state = state

    def events(self, group_key: str, start: datetime, end: datetime) -> Sequence[Event]:
        return [e for e in self.log if f"{e.platform}:{e.group}" == group_key and start <= e.at < end]

    def activities(self, community: str) -> Sequence[Activity]:
        return [a for a in self.acts if a.community == community]

    def run_detail(self, key: str) -> dict[str, Any] | None:
        return self.runs.get(key)

    def community_state(self, community: str) -> CommunityState | None:
        return self._state().communities.get(community)

    def known(self, keys: Iterable[str]) -> set[str]:
        return {k for k in keys if k in self.runs}


__all__ = [
    "DYNAMIC",
    "Decided",
    "MemoryData",
    "PassReport",
    "Scheduler",
    "SchedulerService",
    "Scope",
    "StoreData",
    "load_activities",
]
