"""shequn live on a real Matrix homeserver, all through ``shequn run``: welcome, the guide after the third newcomer,
an ad redacted and its poster warned then banned, the room held during a guest talk, the 早报 at its minute, and an
operator's command in the admin room closing a staff task; then a crash and an outage lose and repeat nothing."""

from __future__ import annotations

import json
import signal
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shequn.app import App
from shequn.playbook import load_playbook
from tests.connectors.matrix.live import (
    bot_texts,
    community_yaml,
    query,
    running,
    shequn,
    start_run,
    stop_run,
    synced,
    wait_for,
)
from tests.support.live import book_talk
from tests.support.synapse import Account, MatrixHTTPError, Synapse

AD = "➕V：money20459，招代理，一件代发，日赚500"
pytestmark = pytest.mark.slow


def rooms(hs: Synapse, tag: str) -> tuple[Account, Account, str, str]:
    op = hs.register(f"op_{tag}")
    bot = hs.register(f"bot_{tag}")
    main = op.create_room(f"main {tag}", power={bot.user_id: 100})
    admin = op.create_room(f"admin {tag}", power={bot.user_id: 100})
    bot.join(main)
    bot.join(admin)
    return op, bot, main, admin


def rhythm(at: datetime) -> str:
    """Only the 早报, at ``at`` (UTC); the quiet hours far away from it."""
    quiet = (at + timedelta(hours=6)).strftime("%H:00"), (at + timedelta(hours=8)).strftime("%H:00")
    jobs = [f"    {j.key}: {{enabled: false}}" for j in load_playbook().rhythm.jobs if j.key != "morning_report"]
    return "\n".join(
        [
            "rhythm:",
            f'  quiet_hours: {{start: "{quiet[0]}", end: "{quiet[1]}"}}',
            "  jobs:",
            f'    morning_report: {{enabled: true, at: "{at:%H:%M}", days: daily}}',
            *jobs,
        ]
    )


def redacted(viewer: Account, room: str, event_id: str) -> bool:
    return "redacted_because" in (viewer.event(room, event_id).get("unsigned") or {})


def test_a_community_runs_live_on_matrix(synapse: Synapse, tmp_path: Path) -> None:
    hs = synapse
    op, bot, main, admin = rooms(hs, "live")
    people = {name: hs.register(f"{name}_live") for name in ("wang", "li", "zhang", "zhao")}
    for name, account in people.items():
        account.set_name(name)
    db = str(tmp_path / "live.db")
    now = datetime.now(UTC)
    report_at = (now + timedelta(seconds=85)).replace(second=0, microsecond=0)
    spec = tmp_path / "community.yaml"
    spec.write_text(community_yaml("测试群", main, admin, rhythm(report_at)), encoding="utf-8")
    shequn(db, "community", "apply", str(spec))
    secrets = tmp_path / "secrets.env"
    secrets.write_text(f"# the bot's credentials\nSHEQUN_MATRIX_TOKEN='{bot.token}'\n", encoding="utf-8")
    secrets.chmod(0o600)

    with running(db, hs, bot, secrets=secrets) as proc:
        # Newcomers: each is welcomed by name; after the third, the newcomer guide; near capacity, a staff task.
        for i, name in enumerate(("wang", "li", "zhang")):
            people[name].join(main)
            wait_for(lambda n=name: any(f"欢迎{n}" in t for t in bot_texts(op, main, bot)), 30, f"{name}'s welcome")
            guides = [t for t in bot_texts(op, main, bot) if "新人必知必读" in t]
            assert len(guides) == (1 if i == 2 else 0), guides
        tasks = wait_for(lambda: query(db, "select id, title from staff_task where status='open'"), 10, "a task")
        assert "3" in tasks[0][1] and "6" in tasks[0][1]

        # An ad: redacted, its poster warned in private; a repeat: redacted, poster banned, the ban announced.
        wang = people["wang"]
        wang.say(main, "大家好，我是小王，在上海做产品")
        first = wang.say(main, AD)
        wait_for(lambda: redacted(op, main, first), 30, "the first ad's redaction")
        dm = wait_for(wang.invites, 30, "the private warning")
        wang.join(dm[0])
        warning = [e["content"]["body"] for e in wang.messages(dm[0]) if e["type"] == "m.room.message"]
        assert any("私下警告" in t for t in warning), warning
        assert op.membership(main, wang.user_id) == "join"
        second = wang.say(main, AD)
        wait_for(lambda: redacted(op, main, second), 30, "the repeat's redaction")
        wait_for(lambda: op.membership(main, wang.user_id) == "ban", 30, "the ban")
        wait_for(lambda: any("移出公示" in t for t in bot_texts(op, main, bot)), 30, "the removal notice")

        # The 早报 at its minute (before the guest talk: the rhythm is held from 10 minutes before a talk).
        report = wait_for(
            lambda: [t for t in bot_texts(op, main, bot) if "测试群早报" in t],
            max(5.0, (report_at - datetime.now(UTC)).total_seconds() + 20),
            "the morning report",
            every=0.2,
        )
        arrived = datetime.now(UTC)
        assert len(report) == 1
        assert report_at <= arrived < report_at + timedelta(seconds=8), (report_at, arrived)

        # A guest talk: the room is held from its start until the questions, then open again.
        starts = datetime.now(UTC) + timedelta(seconds=4)
        book_talk(db, "测试群", f"matrix:{main}", "talk-live", starts, 12)
        li = people["li"]
        li.say(main, "分享开始前说一句")
        wait_for(lambda: op.state(main, "m.room.power_levels").get("events_default") == 50, 15, "the hold")
        with pytest.raises(MatrixHTTPError) as refused:
            li.say(main, "分享时插话")
        assert refused.value.status == 403
        wait_for(lambda: op.state(main, "m.room.power_levels").get("events_default") == 0, 20, "the release")
        li.say(main, "提问环节：请问嘉宾……")

        # The operator's command in the admin room closes the staff task.
        task_id = tasks[0][0]
        op.say(admin, "!tasks")
        wait_for(lambda: any(f"#{task_id}" in t for t in bot_texts(op, admin, bot)), 30, "the task list")
        op.say(admin, f"!approve {task_id}")
        wait_for(
            lambda: query(db, "select status, done_by from staff_task where id=?", task_id)[0][0] == "done", 30, "done"
        )
        assert query(db, "select done_by from staff_task where id=?", task_id)[0][0] == op.user_id
        wait_for(lambda: any("已通过任务" in t for t in bot_texts(op, admin, bot)), 30, "the confirmation")

        assert proc.poll() is None
    out, err = stop_run(proc)
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["failed"] == 0 and stats["sent"] >= 15, stats
    assert bot.token not in out + err, "the access token reached the output"


def test_a_crash_and_an_outage_lose_and_repeat_nothing(synapse: Synapse, tmp_path: Path) -> None:
    hs = synapse
    op, bot, main, admin = rooms(hs, "resume")
    members = [hs.register(f"m{i}_resume") for i in range(6)]
    db = str(tmp_path / "resume.db")
    spec = tmp_path / "community.yaml"
    spec.write_text(
        community_yaml("续跑群", main, admin)
        .replace("capacity: 6", "capacity: 50")
        .replace("{ladder: [warn, remove]}", "{enabled: false}")  # forty lines in a row would be flooding
        + "rhythm: {enabled: false}\n",
        encoding="utf-8",
    )
    shequn(db, "community", "apply", str(spec))
    said: list[str] = []

    def messages_logged() -> int:
        return int(query(db, "select count(*) from event where kind='message' and platform='matrix'")[0][0])

    proc = start_run(db, hs, bot)
    try:
        wait_for(lambda: synced(db), 60, "the first sync")
        members[0].join(main)
        said += [members[0].say(main, f"第{i}条") for i in range(20)]
        wait_for(lambda: messages_logged() >= 20, 30, "the first messages")
        said += [members[0].say(main, f"第{i}条") for i in range(20, 40)]
        time.sleep(0.05)  # kill while the bot may be mid-sync
    finally:
        stop_run(proc, signal.SIGKILL)
    # While shequn is down: people join and talk.
    for m in members[1:4]:
        m.join(main)
        said.append(m.say(main, "我来了"))
    # The homeserver restarts while shequn runs again: the connector reconnects and resumes from its token.
    proc = start_run(db, hs, bot)
    try:
        wait_for(lambda: messages_logged() >= len(said), 60, "the messages sent while down")
        hs.stop()
        time.sleep(1.0)
        hs.start()
        for m in members[4:]:
            m.join(main)
            said.append(m.say(main, "服务器重启后"))
        wait_for(lambda: messages_logged() >= len(said), 90, "the messages after the restart", every=0.2)
        wait_for(lambda: sum("热烈欢迎" in t for t in bot_texts(op, main, bot)) >= len(members), 60, "every welcome")
        time.sleep(1.5)  # a repeat would show up now
    finally:
        _out, err = stop_run(proc)
    assert proc.returncode == 0, err
    ids = [json.loads(p)["message_id"] for (p,) in query(db, "select payload from event where kind='message'")]
    assert sorted(ids) == sorted(said), "a message was lost or logged twice"
    joins = query(db, "select count(*) from event where kind='join'")[0][0]
    assert joins == len(members)
    welcomes = [t for t in bot_texts(op, main, bot) if "热烈欢迎" in t]
    assert len(welcomes) == len(members), welcomes
    reconnects = query(db, "select count(*) from connector_cursor where connector='matrix' and name='since'")[0][0]
    assert reconnects == 1
    assert "matrix sync failed" in err, err[-2000:]  # the connector noticed the outage and backed off


def test_a_timed_mute_is_lifted_when_it_ends_even_after_a_restart(synapse: Synapse, tmp_path: Path) -> None:
    """A mute with ``until`` lowers the member's level; the due unmute is kept in the store's cursors, so a connector
    started afresh restores the level once ``until`` has passed (and not before)."""
    import asyncio

    from shequn.connectors.matrix import MUTED_LEVEL, MatrixConnector
    from shequn.domain import Mute, VirtualClock
    from shequn.services.live import StoreCursors

    op = synapse.register("op_mute")
    bot = synapse.register("bot_mute")
    member = synapse.register("member_mute")
    room = op.create_room("mute", power={bot.user_id: 100, member.user_id: 10})
    bot.join(room)
    member.join(room)
    clock = VirtualClock(datetime.now(UTC))
    app = App(str(tmp_path / "mute.db"), clock=clock)

    def level() -> object:
        return op.state(room, "m.room.power_levels").get("users", {}).get(member.user_id)

    async def connector() -> MatrixConnector:
        c = MatrixConnector(synapse.url, bot.user_id, token=bot.token, clock=clock)
        c.attach(cursors=StoreCursors(app, "matrix"))
        return c

    async def main() -> None:
        first = await connector()
        until = clock.now() + timedelta(minutes=10)
        await first.send(
            Mute(key="m1", at=clock.now(), platform="matrix", group=room, target=member.user_id, until=until)
        )
        assert level() == MUTED_LEVEL
        assert await first.lift_due_mutes() == 0  # not yet
        await first.stop()
        clock.advance(timedelta(minutes=10, seconds=1))
        again = await connector()  # a new process: only the store remembers the mute
        assert await again.lift_due_mutes() == 1
        assert level() == 10  # the level the member had before
        assert await again.lift_due_mutes() == 0 and StoreCursors(app, "matrix").get("unmutes") == "[]"
        await again.stop()

    asyncio.run(main())
    app.close()


def test_an_ad_account_is_cleared_before_any_courtesy_and_dms_are_no_groups(synapse: Synapse, tmp_path: Path) -> None:
    """Seen from a real room: a newcomer is welcomed and gets the rules in a direct room, which stays no group (what
    they write there is logged as a private message, for the inbox); an
    ad account that joins and posts an evasive first message while the bot catches up (one sync, one batch) is
    redacted and banned, and gets neither a welcome nor a rules DM."""
    hs = synapse
    op, bot, main, admin = rooms(hs, "adacct")
    newbie = hs.register("newbie_adacct")
    newbie.set_name("小新")
    acct = hs.register("acct_adacct")
    acct.set_name("推广号")
    db = str(tmp_path / "adacct.db")
    spec = tmp_path / "community.yaml"
    spec.write_text(community_yaml("广告群", main, admin) + "rhythm: {enabled: false}\n", encoding="utf-8")
    shequn(db, "community", "apply", str(spec))

    with running(db, hs, bot):
        newbie.join(main)
        wait_for(lambda: any("欢迎小新" in t for t in bot_texts(op, main, bot)), 30, "the newcomer's welcome")
        dm = wait_for(newbie.invites, 30, "the rules in a direct room")[0]
        newbie.join(dm)
        newbie.say(dm, "收到，已读群规")
        time.sleep(1.5)  # the bot syncs the direct room's events now, if it were to take them
    # While the bot is down, the ad account joins and posts: the next sync brings both in one batch.
    acct.join(main)
    ad = acct.say(main, "加扣扣 ①②③④⑤⑥⑦⑧⑨ 有好货")
    with running(db, hs, bot):
        wait_for(lambda: redacted(op, main, ad), 30, "the ad's redaction")
        wait_for(lambda: op.membership(main, acct.user_id) == "ban", 30, "the ban")
        wait_for(lambda: any("移出公示" in t for t in bot_texts(op, main, bot)), 30, "the removal notice")
        time.sleep(1.5)  # a welcome or a rules DM would show up now
    texts = bot_texts(op, main, bot)
    assert not any("推广号" in t and "欢迎" in t for t in texts), texts
    assert acct.invites() == [], "the ad account was sent the rules"
    groups = query(db, "select platform_id from chat_group where platform='matrix'")
    assert sorted(g for (g,) in groups) == sorted([main, admin]), groups  # the direct room is no group
    payloads = [json.loads(p) for (p,) in query(db, "select payload from event where platform='matrix'")]
    direct = [p for p in payloads if (p.get("extra") or {}).get("direct")]
    assert all(p.get("group") in (main, admin) for p in payloads if p not in direct), [p.get("group") for p in payloads]
    # What the newcomer wrote in the direct room is a private message (for the operators' inbox), in no group.
    assert [(p.get("text"), p.get("group")) for p in direct] == [("收到，已读群规", None)]
