"""Helpers: a community on the sandbox platform, a virtual clock, a scheduler ticking over a stretch of time."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime, timedelta

from shequn.app import App
from shequn.domain import Event, VirtualClock
from shequn.schedule.activities import Activity
from shequn.schedule.service import SchedulerService
from shequn.store._sql import to_ms
from tests.support.builders import spec

# Monday 2 November 2026, 07:00 in Shanghai.
MON_0700 = datetime(2026, 11, 1, 23, 0, tzinfo=UTC)


def local(day: int, hhmm: str) -> datetime:
    """Day ``day`` after Monday 2 Nov 2026 at ``hhmm`` in Shanghai, as UTC."""
    h, m = (int(x) for x in hhmm.split(":"))
    return datetime(2026, 11, 2, h, m, tzinfo=UTC) - timedelta(hours=8) + timedelta(days=day)


def community(
    url: str, *, groups: tuple[str, ...] = ("g1",), start: datetime = MON_0700, **extra: object
) -> tuple[App, SchedulerService]:
    app = App(url, clock=VirtualClock(start))
    app.apply_spec(spec(groups=groups, **extra))
    service = SchedulerService(app)
    service.tick()  # the first pass only sets the cursor: nothing before now is sent
    return app, service


def drive(
    app: App,
    service: SchedulerService,
    until: datetime,
    *,
    events: Iterable[Event] = (),
    every: timedelta = timedelta(minutes=5),
) -> None:
    """Move the clock to ``until`` in steps, ingesting each event when its time comes and ticking the scheduler."""
    clock = app.clock
    assert isinstance(clock, VirtualClock)
    pending = sorted(events, key=lambda e: e.at)
    while clock.now() < until:
        step = min(clock.now() + every, until)
        while pending and pending[0].at <= step:
            e = pending.pop(0)
            clock.set(max(clock.now(), e.at))
            app.ingest([e])
        clock.set(step)
        service.tick()


def outbox(app: App) -> list[tuple[str, object]]:
    """(key, action) of everything decided, in order."""
    with app.store.transaction() as conn:
        return [(i.action.key, i.action) for i in app.store.actions.items(conn, app.ws.id, limit=100_000)]


def save(app: App, activity: Activity) -> None:
    record = app.community(activity.community)
    with app.store.transaction() as conn:
        app.store.schedule.put_activity(
            conn,
            app.ws.id,
            community_id=record.id,
            key=activity.key,
            kind=activity.kind.value,
            title=activity.title,
            status=activity.status,
            starts_ms=to_ms(activity.starts) if activity.starts else None,
            ends_ms=to_ms(activity.ends) if activity.ends else None,
            spec=activity.to_dict(),
            now_ms=app.now_ms(),
        )
