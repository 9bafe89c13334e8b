"""Guest talks and offline events through the scheduler: the nine steps at their times, notices, rules, warm-up,
introduction with the group muted, the question queue from every group, latecomers' catch-up, relay into the other
groups, wrap-up, summary; engagement and attendance recorded as events; registrations typed in the chat."""

from __future__ import annotations

from datetime import timedelta

from shequn.domain import (
    Attendance,
    AttendanceStatus,
    DirectMessage,
    Mute,
    OpenStaffTask,
    Post,
    SegmentReport,
    SetAnnouncement,
    Unmute,
)
from shequn.schedule.activities import Activity, ActivityKind, agenda_problems, default_agenda, new_secret
from tests.schedule.conftest import community, drive, local, outbox, save
from tests.support.builders import join, msg

SUNDAY = 6  # days after Monday 2 November


def talk(**kw: object) -> Activity:
    return Activity(
        key="talk-1",
        community="读书会",
        kind=ActivityKind.GUEST_TALK,
        title="如何高效阅读",
        topic="高效阅读",
        guest="李老师",
        guest_id="guest",
        bio="十年阅读推广人",
        perk="送出3本签名书",
        starts=local(SUNDAY, "20:30"),
        ends=local(SUNDAY, "22:00"),
        groups=("sandbox:g1", "sandbox:g2"),
        checklist={"guest": True, "confirmed": True},
        secret=new_secret(),
        **kw,  # type: ignore[arg-type]
    )


def test_the_run_of_show_of_a_guest_talk(db_url: str) -> None:
    app, service = community(db_url, groups=("g1", "g2"), rhythm={"enabled": False})
    save(app, talk())
    live = [
        join("guest", local(SUNDAY, "20:00"), name="李老师"),
        msg("u1", local(SUNDAY, "20:20"), "来了来了"),
        msg("guest", local(SUNDAY, "20:35"), "第一个方法：带着问题读"),
        join("late", local(SUNDAY, "20:50"), group="g2", name="迟到的小张"),
        msg("u1", local(SUNDAY, "21:35"), "提问：一天读多久合适？"),
        msg("u2", local(SUNDAY, "21:36"), "纸质书还是电子书更好？", group="g2"),
    ]
    drive(app, service, local(SUNDAY, "19:00"), events=live, every=timedelta(minutes=20))
    drive(app, service, local(SUNDAY, "22:30"), events=live, every=timedelta(minutes=5))
    drive(app, service, local(SUNDAY + 1, "10:00"), events=live, every=timedelta(minutes=20))
    decided = outbox(app)
    mine = [(k, a) for k, a in decided if k.startswith("activity:talk-1:")]
    steps = [k.split(":")[2] for k, _ in mine if k.endswith(":sandbox:g1")]
    assert steps == [
        "prepare",  # three days before: a staff task for what is not ready
        "notice",  # two days before (and the group announcement)
        "notice",  # 09:00, 12:00, 19:00 on the day
        "notice",
        "notice",
        "rules",
        "warm_up",
        "introduce",  # (and the group muted)
        "questions",  # (and unmuted)
        "queue",
        "wrap_up",  # (and the perks)
        "summary",  # next morning (and a staff task to upload it)
    ]
    by_key = dict(mine)
    notice = by_key["activity:talk-1:notice:sandbox:g1"]
    assert isinstance(notice, Post) and notice.at == local(SUNDAY - 2, "20:30") and "李老师" in notice.text
    assert isinstance(by_key["activity:talk-1:notice:sandbox:g1:announcement"], SetAnnouncement)
    assert by_key["activity:talk-1:notice:1:sandbox:g2"].at == local(SUNDAY, "09:00")
    mute = by_key["activity:talk-1:introduce:sandbox:g2:hold"]
    assert isinstance(mute, Mute) and mute.target == "" and mute.until == local(SUNDAY, "21:30")
    assert isinstance(by_key["activity:talk-1:questions:sandbox:g1:release"], Unmute)
    queue = by_key["activity:talk-1:queue:1:sandbox:g1"]
    assert (
        isinstance(queue, Post)
        and "1. u1：提问：一天读多久合适？" in queue.text
        and "2. u2：纸质书还是电子书更好？" in queue.text
    )
    assert "activity:talk-1:queue:1:sandbox:g2" not in by_key  # the queue is for the guest, in the first group
    relay = by_key["activity:talk-1:relay:" + live[2].message_id + ":sandbox:g2"]
    assert isinstance(relay, Post) and relay.text == "【李老师】第一个方法：带着问题读"
    catch_up = by_key["activity:talk-1:catchup:sandbox:g2:late"]
    assert isinstance(catch_up, DirectMessage) and catch_up.target == "late" and "迟到的小张" in catch_up.text
    assert not any(":catchup:" in k and k.endswith(":u1") for k in by_key)  # was there before it began
    assert "送出3本签名书" in by_key["activity:talk-1:wrap_up:sandbox:g1:perks"].text  # type: ignore[attr-defined]
    summary = by_key["activity:talk-1:summary:sandbox:g1"]
    assert summary.at == local(SUNDAY + 1, "09:00") and "收到2个提问" in summary.text  # type: ignore[attr-defined]
    assert isinstance(by_key["activity:talk-1:summary:sandbox:g1:files"], OpenStaffTask)
    # The preparation left open three days before became a person's task; the summary's upload another.
    with app.store.transaction() as conn:
        tasks = app.store.tasks.list(conn, app.ws.id)
    assert any("嘉宾宣传海报" in t.title for t in tasks) and len(tasks) == 2
    # Engagement per segment and who took part, in the event log.
    log = list(app.events())
    reports = {(e.group, e.segment): e for e in log if isinstance(e, SegmentReport)}
    assert reports[("g1", "qa")].questions == 1 and reports[("g2", "qa")].questions == 1
    assert reports[("g1", "talk")].messages == 1 and reports[("g2", "talk")].joins == 1
    present = {(e.actor, e.segment) for e in log if isinstance(e, Attendance) and e.status is AttendanceStatus.PRESENT}
    assert {("u1", "warm_up"), ("guest", "talk"), ("u1", "qa"), ("u2", "qa")} <= present
    app.close()


def test_a_cancelled_or_ready_talk_asks_nothing_of_staff(sqlite_url: str) -> None:
    app, service = community(sqlite_url, rhythm={"enabled": False})
    ready = talk(status="scheduled").with_(
        checklist=dict.fromkeys(("guest", "confirmed", "poster", "team", "announcement"), True)
    )
    save(app, ready.with_(groups=("sandbox:g1",)))
    save(app, talk().with_(key="talk-2", status="cancelled", groups=("sandbox:g1",)))
    drive(app, service, local(SUNDAY, "12:30"), every=timedelta(minutes=30))
    keys = [k for k, _ in outbox(app)]
    assert keys and all(k.startswith("activity:talk-1:") for k in keys)
    assert not any(":prepare:" in k for k in keys)
    app.close()


def test_an_offline_event_registers_in_the_chat_within_its_capacity(sqlite_url: str) -> None:
    app, service = community(sqlite_url, rhythm={"enabled": False})
    meetup = Activity(
        key="meetup-1",
        community="读书会",
        kind=ActivityKind.OFFLINE,
        title="线下读书沙龙",
        venue="上海图书馆",
        starts=local(5, "14:00"),
        ends=local(5, "16:00"),
        groups=("sandbox:g1",),
        capacity=3,
        agenda=default_agenda(120, locale="zh-CN"),
        created=local(0, "07:00"),
        secret=new_secret(),
    )
    save(app, meetup)
    chat = [
        msg("u1", local(0, "09:00"), "报名"),
        msg("u2", local(0, "09:10"), "报名+1"),
        msg("u3", local(0, "09:20"), "报名"),  # one place left? no: 1 + 2 = 3, full
        msg("u1", local(0, "09:30"), "报名"),  # already registered: ignored
    ]
    drive(app, service, local(6, "11:00"), events=chat, every=timedelta(minutes=30))
    by_key = dict(outbox(app))
    assert "上海图书馆" in by_key["activity:meetup-1:announce:sandbox:g1"].text  # type: ignore[attr-defined]
    replies = [a.text for k, a in outbox(app) if ":register:" in k]  # type: ignore[attr-defined]
    assert replies == [
        "u1 报名成功（1人），目前已报名1人，剩余名额2。",
        "u2 报名成功（2人），目前已报名3人，剩余名额0。",
        "u3，名额已满，已为你登记候补。",
    ]
    assert by_key["activity:meetup-1:reminder:sandbox:g1"].at == local(4, "20:00")
    assert by_key["activity:meetup-1:survey:sandbox:g1"].at == local(6, "10:00")
    regs = [e for e in app.events() if isinstance(e, Attendance)]
    assert [(e.actor, e.status.value, e.seats) for e in regs] == [
        ("u1", "registered", 1),
        ("u2", "registered", 2),
        ("u3", "waitlisted", 1),
    ]
    app.close()


def test_agenda_advice_from_the_book() -> None:
    assert default_agenda(120, locale="zh-CN") == ((60, "1"), (15, "茶歇"), (45, "2"))
    assert agenda_problems(((150, "沙龙"),), locale="zh-CN") == [
        "agenda: 150 min is longer than 120 min (002_f229b143e7e75e03.txt:1418)",
        "agenda: no break in the first 60 min (002_f229b143e7e75e03.txt:1418)",
    ]
    assert agenda_problems(default_agenda(110, locale="en"), locale="en") == []


def test_a_member_there_before_the_talk_is_not_late_and_the_guests_lines_are_no_questions(sqlite_url: str) -> None:
    app, service = community(sqlite_url, groups=("g1", "g2"), rhythm={"enabled": False})
    save(app, talk())
    live = [
        join("old", local(SUNDAY - 5, "10:00"), name="老成员"),  # in the group all week, silent before the talk
        join("guest", local(SUNDAY, "20:00"), name="李老师"),
        msg("guest", local(SUNDAY, "20:35"), "大家平时是怎么读书的呢？"),  # the guest asks the room: the talk
        msg("old", local(SUNDAY, "20:45"), "老师讲得真好"),
        join("new", local(SUNDAY, "20:50"), name="新来的"),
        msg("guest", local(SUNDAY, "21:40"), "还有别的问题吗？"),
        msg("u1", local(SUNDAY, "21:35"), "提问：一天读多久合适？"),
        join("spam", local(SUNDAY, "21:31"), name="推广号"),
        msg("spam", local(SUNDAY, "21:32"), "请问有人要代购吗？加我薇 lily2023"),  # an ad account: banned
    ]
    drive(app, service, local(SUNDAY, "19:00"), events=live, every=timedelta(minutes=20))
    drive(app, service, local(SUNDAY, "22:30"), events=live, every=timedelta(minutes=5))
    drive(app, service, local(SUNDAY + 1, "10:00"), events=live, every=timedelta(minutes=20))
    by_key = dict((k, a) for k, a in outbox(app) if k.startswith("activity:talk-1:"))
    queued = " ".join(a.text_or_empty for k, a in by_key.items() if ":queue:" in k)
    assert "一天读多久合适" in queued and "代购" not in queued and "lily2023" not in queued
    assert not any(":catchup:" in k and k.endswith(":spam") for k in by_key)  # no courtesy to the banned
    assert "activity:talk-1:catchup:sandbox:g1:new" in by_key  # joined during the talk: caught up
    assert not any(":catchup:" in k and k.endswith(":old") for k in by_key), sorted(by_key)  # present before
    summary = by_key["activity:talk-1:summary:sandbox:g1"].text_or_empty
    assert "一天读多久合适" in summary and "收到1个提问" in summary, summary
    assert "怎么读书的呢" not in summary and "还有别的问题吗" not in summary
    reports = {(e.group, e.segment): e for e in app.events() if isinstance(e, SegmentReport)}
    assert reports[("g1", "qa")].questions == 1 and reports[("g1", "talk")].questions == 0
    app.close()
