"""The scheduler over the store: a day of rhythm in the outbox, once each after a restart, missed jobs after
downtime, the content loop from one day to the next."""

from __future__ import annotations

from datetime import timedelta

from shequn.domain import Post
from shequn.schedule.service import SchedulerService
from tests.schedule.conftest import community, drive, local, outbox
from tests.support.builders import join, msg


def test_a_day_of_rhythm_goes_to_the_outbox_once_even_after_a_restart(db_url: str) -> None:
    on = {"enabled": True}
    rhythm = {"max_posts_per_day": 6, "jobs": {"morning_report": on, "level_bulletin": on, "evening_report": on}}
    app, service = community(db_url, groups=("g1", "g2"), rhythm=rhythm)
    yesterday = [
        join("u1", local(-1, "10:00"), name="小王"),
        msg("u1", local(-1, "10:05"), "请问这周读哪本书？"),
        msg("u2", local(-1, "11:00"), "我在读《穷查理宝典》"),
    ]
    app.ingest(yesterday, history=True)
    drive(app, service, local(0, "22:00"))
    decided = outbox(app)
    per_group = [k.split(":")[-1] for k, _ in decided if ":sandbox:g1:" in k]
    assert per_group == [
        "check_in",
        "morning_report",
        "daily_activity",
        "activity_preheat",
        "level_bulletin",
        "evening_report",
    ]
    morning = next(a for k, a in decided if k.endswith("g1:2026-11-02T08:00:morning_report"))
    assert isinstance(morning, Post) and morning.group == "g1" and morning.platform == "sandbox"
    assert "请问这周读哪本书？" in morning.text and "欢迎新伙伴：u1" in morning.text  # unanswered, newcomer
    with app.store.transaction() as conn:
        runs = app.store.schedule.runs(conn, app.ws.id, since_ms=0, until_ms=10**15)
    bulletin = next(a for k, a in decided if k.endswith("g1:2026-11-02T20:30:level_bulletin"))
    assert isinstance(bulletin, Post) and "u2【新成员】1分" in bulletin.text  # the levels policy's ranking
    assert {r.job: r.status for r in runs}["level_bulletin"] == "sent"
    # A restart that lost its cursor decides the same day again: the same keys, nothing new.
    app.close()
    from shequn.app import App

    again = App(db_url, clock=app.clock)
    with again.store.transaction() as conn:
        again.store.schedule.set_cursor(conn, again.ws.id, int(local(0, "07:00").timestamp() * 1000), now_ms=0)
    report = SchedulerService(again).tick()
    assert report.actions == 0 and len(outbox(again)) == len(decided)
    again.close()


def test_jobs_missed_during_downtime_are_recorded_not_sent_late(sqlite_url: str) -> None:
    app, service = community(sqlite_url)
    app.clock.set(local(0, "08:20"))  # type: ignore[attr-defined]
    report = service.tick()
    keys = [k.split(":")[-1] for k, _ in outbox(app)]
    assert keys == ["daily_activity"] and report.missed == 1  # the 07:30 check-in was 50 min ago
    app.close()


def test_the_content_loop_carries_a_lively_topic_into_the_next_day(sqlite_url: str) -> None:
    app, service = community(sqlite_url, rhythm={"max_posts_per_day": 4, "jobs": {"evening_report": {"enabled": True}}})
    drive(app, service, local(0, "08:30"))
    topic = next(a for k, a in outbox(app) if k.endswith("daily_activity")).text  # type: ignore[attr-defined]
    chat = [msg(f"u{i}", local(0, f"09:{10 + i:02d}"), f"我的看法是第{i}点") for i in range(4)]
    drive(app, service, local(1, "08:30"), events=chat)
    actions = dict(outbox(app))
    evening = actions["rhythm:读书会:sandbox:g1:2026-11-02T21:00:evening_report"].text  # type: ignore[attr-defined]
    assert "4条讨论，4人参与" in evening and "明天接着聊" in evening
    preheat = actions["rhythm:读书会:sandbox:g1:2026-11-02T20:00:activity_preheat"].text  # type: ignore[attr-defined]
    # Tuesday is the growth type's case-study day, so the follow-up waits for Wednesday's topic.
    assert "案例" in preheat
    drive(app, service, local(2, "08:30"))
    wednesday = dict(outbox(app))["rhythm:读书会:sandbox:g1:2026-11-04T08:00:daily_activity"].text  # type: ignore[attr-defined]
    assert wednesday.split("】", 1)[1].split("\n")[0] != topic.split("】", 1)[1].split("\n")[0]
    app.close()


def test_monday_topic_follow_up_on_a_community_without_case_studies(sqlite_url: str) -> None:
    app, service = community(sqlite_url, rhythm={"jobs": {"case_study": {"enabled": False}}})
    drive(app, service, local(0, "08:30"))
    first = dict(outbox(app))["rhythm:读书会:sandbox:g1:2026-11-02T08:00:daily_activity"].text  # type: ignore[attr-defined]
    from shequn.playbook import load_playbook

    library = {t.text.zh: t.follow_up.zh for t in load_playbook().topics.topics}
    asked = first.split("】", 1)[1].split("\n")[0]
    chat = [msg(f"u{i}", local(0, f"10:{i:02d}"), "同意") for i in range(3)]
    drive(app, service, local(1, "08:30"), events=chat)
    actions = dict(outbox(app))
    preheat = actions["rhythm:读书会:sandbox:g1:2026-11-02T20:00:activity_preheat"].text  # type: ignore[attr-defined]
    tuesday = actions["rhythm:读书会:sandbox:g1:2026-11-03T08:00:daily_activity"].text  # type: ignore[attr-defined]
    assert library[asked] in tuesday and library[asked] in preheat  # 二次话题输出
    # A quiet Tuesday: Wednesday moves on to a fresh topic instead of a follow-up of the follow-up.
    drive(app, service, local(2, "08:30"))
    wednesday = dict(outbox(app))["rhythm:读书会:sandbox:g1:2026-11-04T08:00:daily_activity"].text  # type: ignore[attr-defined]
    assert wednesday.split("】", 1)[1].split("\n")[0] in library
    _ = timedelta
    app.close()
