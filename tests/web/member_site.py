"""A community for the member pages: rules, rewards, check-in and badges on, an activity with two places, members
with points, one invited by another. Used by the HTTP tests and the browser tests."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

from shequn.app import App
from shequn.schedule.activities import Activity, ActivityKind, new_secret
from shequn.services.console import Operations
from shequn.services.member import MemberPages
from shequn.store._sql import to_ms
from tests.conftest import T0
from tests.support.builders import join, msg, spec

COMMUNITY = "读书会"


def populate(app: App) -> None:
    app.apply_spec(
        spec(
            COMMUNITY,
            "growth",
            groups=("g1",),
            rules={
                "version": 2,
                "sections": {"hard_requirements": "一起读书，每周分享。", "prohibitions": "禁止广告和拉人。"},
            },
            policies={
                "points": {"rewards": {"书签": 5, "课程优惠券": 500}, "cooldown_seconds": 0, "min_chars": 1},
                "acks": {"batch_minutes": 0},
            },
        )
    )
    events = [join("alice", T0, name="Alice 李"), join("bob", T0 + timedelta(minutes=1), name="Bob 王")]
    events += [join(f"m{i}", T0 + timedelta(minutes=2 + i), name=f"成员{i}") for i in range(6)]
    events.append(join("carol", T0 + timedelta(minutes=20), name="Carol", inviter="alice"))
    for i in range(12):
        events.append(
            replace(
                msg("alice", T0 + timedelta(hours=1, minutes=i), f"今天读了第{i}章，很有收获"), actor_name="Alice 李"
            )
        )
    for i in range(4):
        events.append(
            replace(msg("bob", T0 + timedelta(hours=2, minutes=i), f"bob 的第{i}条发言"), actor_name="Bob 王")
        )
    app.ingest(events)
    record = app.community(COMMUNITY)
    act = Activity(
        key="meetup", community=COMMUNITY, kind=ActivityKind.OFFLINE, title="线下读书会", groups=("sandbox:g1",),
        starts=T0 + timedelta(days=10), ends=T0 + timedelta(days=10, hours=2), venue="图书馆", capacity=2,
        secret=new_secret(), created=T0,
    )  # fmt: skip
    with app.store.transaction() as conn:
        app.store.schedule.put_activity(
            conn, app.ws.id, community_id=record.id, key=act.key, kind=act.kind.value, title=act.title,
            status=act.status, starts_ms=to_ms(act.starts) if act.starts else None,
            ends_ms=to_ms(act.ends) if act.ends else None, spec=act.to_dict(), now_ms=app.now_ms(),
        )  # fmt: skip


def link(app: App, who: str, *, days: int = 30) -> str:
    token, _ = MemberPages(Operations(app)).link(COMMUNITY, who, days=days)
    return f"/m/{token}"
