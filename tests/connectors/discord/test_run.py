"""shequn live on Discord, all through ``shequn run -c discord`` against the fake Discord with the real discord.py:
the welcome, a member's ladder on ads (deleted and warned by DM, then kicked), a check-in answered, the operators'
``/tasks`` slash command answered as the interaction's follow-up, a session Discord will not resume filled in from the
channel's history, the 早报 at its minute, and the first level's role given."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from shequn.playbook import load_playbook
from shequn.policies.levels import LevelsSettings
from tests.connectors.matrix.live import MAIN, query, shequn, stop_run, wait_for
from tests.support.discord_fake import TOKEN, FakeDiscord, ThreadedDiscord

pytestmark = pytest.mark.slow
GUILD, CHANNEL, STAFF, ROLE = 700000000000000001, 700000000000000011, 700000000000000012, 800000000000000001
AD = "➕V：money20459，招代理，一件代发，日赚500"
LIMITS = (
    "platforms:\n  - platform: discord\n    limits: [{scope: bot, count: 1000, seconds: 1, documented: {url: "
    '"https://discord.com/developers/docs/topics/rate-limits", quote: "relaxed for tests"}}]\n'
)


def spec(at: datetime) -> str:
    quiet = (at + timedelta(hours=6)).strftime("%H:00"), (at + timedelta(hours=8)).strftime("%H:00")
    jobs = [f"    {j.key}: {{enabled: false}}" for j in load_playbook().rhythm.jobs if j.key != "morning_report"]
    return "\n".join(
        [
            "name: 读书会",
            "type: growth",
            "locale: zh-CN",
            "timezone: UTC",
            "threshold: {kind: none}",
            "groups:",
            f'  - {{platform: discord, id: "{CHANNEL}", name: general}}',
            f'  - {{platform: discord, id: "{STAFF}", name: staff, role: admin}}',
            "policies:",
            "  moderation: {ladder: [warn, remove]}",
            '  checkin: {opens_at: "00:00"}',
            "  acks: {batch_minutes: 0}",
            "rhythm:",
            f'  quiet_hours: {{start: "{quiet[0]}", end: "{quiet[1]}"}}',
            "  jobs:",
            f'    morning_report: {{enabled: true, at: "{at:%H:%M}", days: daily}}',
            *jobs,
            "",
        ]
    )


@pytest.fixture
def fake() -> Iterator[ThreadedDiscord]:
    d = FakeDiscord()
    g = d.guild(GUILD, "读书会", {CHANNEL: "general", STAFF: "staff"}, {555: "小王", 556: "小赵", 900: "运营"})
    g.roles = {ROLE: LevelsSettings().ladder[0].name("zh-CN")}  # the first level's title: 新成员
    threaded = ThreadedDiscord(d)
    yield threaded
    threaded.close()


def start(db: str, port: int, limits: Path) -> subprocess.Popen[str]:
    env = {"SHEQUN_DISCORD_TOKEN": TOKEN, "SHEQUN_DISCORD_API": f"http://127.0.0.1:{port}/api/v10"}
    args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "discord", "--tick", "1", "--json"]
    return subprocess.Popen(
        [*args, "--limits", str(limits)], env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        text=True,
    )  # fmt: skip


def messages(db: str, text: str) -> int:
    rows = query(db, "select payload from event where platform='discord' and kind='message'")
    return sum(1 for (p,) in rows if json.loads(p).get("text") == text)


def test_a_reading_club_runs_live_on_discord(fake: ThreadedDiscord, tmp_path: Path) -> None:
    d = fake.fake
    port = fake(d.serve())
    db = str(tmp_path / "discord.db")
    report_at = (datetime.now(UTC) + timedelta(seconds=100)).replace(second=0, microsecond=0)
    (tmp_path / "club.yaml").write_text(spec(report_at), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    limits = tmp_path / "limits.yaml"
    limits.write_text(LIMITS, encoding="utf-8")
    proc = start(db, port, limits)
    try:
        wait_for(lambda: d.of("members") and d.commands.get(GUILD), 60, "setup (roster, slash commands)")

        # A newcomer is welcomed in the server's system channel.
        fake(d.join(GUILD, 700, "新朋友"))
        wait_for(lambda: any("新朋友" in t for t in d.texts(CHANNEL)), 30, "the welcome")

        # A member's ladder: an ad is deleted and warned by DM; a second one removes them from the server.
        fake(d.say(CHANNEL, 555, "大家好，我是小王，在上海做产品"))
        first = fake(d.say(CHANNEL, 555, AD))
        wait_for(lambda: not any(m["id"] == str(first) for m in d.messages[CHANNEL]), 30, "the first delete")
        wait_for(lambda: any(str(b.get("recipient_id")) == "555" for b in d.of("open_dm")), 30, "the DM warning")
        assert 555 in d.guilds[GUILD].members
        second = fake(d.say(CHANNEL, 555, AD))
        wait_for(lambda: not any(m["id"] == str(second) for m in d.messages[CHANNEL]), 30, "the second delete")
        wait_for(lambda: 555 not in d.guilds[GUILD].members, 30, "the kick")

        # A check-in is answered.
        fake(d.say(CHANNEL, 556, "签到"))
        wait_for(lambda: any("签到" in t for t in d.texts(CHANNEL)), 30, "the check-in answer")

        # /tasks in the admin channel: deferred at once, answered as the interaction's follow-up.
        fake(d.slash(STAFF, 900, "tasks"))
        wait_for(lambda: d.of("followup"), 30, "the /tasks follow-up")
        assert d.callbacks and d.callbacks[0]["type"] == 5  # DEFERRED_CHANNEL_MESSAGE_WITH_SOURCE

        # Discord will not resume the session: what was said meanwhile is read back from the history, once.
        fake(d.drop(forget=True))
        fake(d.say(CHANNEL, 556, "断线时说的话"))
        lost = fake(d.say(CHANNEL, 556, AD))
        wait_for(lambda: not any(m["id"] == str(lost) for m in d.messages[CHANNEL]), 60, "the missed ad deleted")
        fake(d.say(CHANNEL, 556, "重连之后"))
        wait_for(lambda: messages(db, "重连之后") == 1, 30, "live again")
        assert messages(db, "断线时说的话") == 1 and messages(db, "大家好，我是小王，在上海做产品") == 1
        assert d.identifies == 2

        # The 早报 at its minute.
        report = wait_for(
            lambda: [t for t in d.texts(CHANNEL) if "读书会早报" in t],
            max(5.0, (report_at - datetime.now(UTC)).total_seconds() + 25),
            "the morning report",
            every=0.2,
        )
        arrived = datetime.now(UTC)
        assert len(report) == 1 and report_at <= arrived < report_at + timedelta(seconds=10)

        # The members placed at the first level hold its role (the level roles pass, once a minute).
        wait_for(lambda: str(ROLE) in d.guilds[GUILD].members[556]["roles"], 70, "the level role")
        assert proc.poll() is None
    except AssertionError:
        for row in query(db, "select kind, status, last_error, substr(payload, 1, 300) from action order by id"):
            print("ACTION", row)
        print("SENT", d.texts(CHANNEL))
        raise
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["failed"] == 0 and stats["sent"] >= 8, stats
    assert TOKEN not in out + err, "the bot token reached the output"


def test_a_killed_run_resumes_and_what_discord_forbids_goes_to_staff(fake: ThreadedDiscord, tmp_path: Path) -> None:
    import signal

    d = fake.fake
    d.forbid |= {"delete", "ban"}  # the bot's role lacks Manage Messages and Ban Members: 403, code 50013
    port = fake(d.serve())
    db = str(tmp_path / "discord.db")
    (tmp_path / "club.yaml").write_text(spec(datetime.now(UTC) + timedelta(hours=3)), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    limits = tmp_path / "limits.yaml"
    limits.write_text(LIMITS, encoding="utf-8")
    proc = start(db, port, limits)
    try:
        wait_for(lambda: d.of("members") and d.commands.get(GUILD), 60, "setup")
        fake(d.say(CHANNEL, 556, "大家早上好"))
        fake(d.join(GUILD, 701, "广告号"))
        ad = fake(d.say(CHANNEL, 701, AD))  # an ad account's first words: delete and ban, neither allowed
        wait_for(lambda: len(query(db, "select id from staff_task")) >= 2, 40, "both staff tasks")
        tasks = query(db, "select kind, title from staff_task order by id")
        assert {k for k, _ in tasks} >= {"delete_message", "ban"}, tasks
        for kind in ("delete_message", "ban"):  # the reason names the channel, the missing permission and 50013
            title = next(title for k, title in tasks if k == kind)
            assert str(CHANNEL) in title and "50013" in title and ("缺少权限" in title or "lacks" in title), title
        assert any(m["id"] == str(ad) for m in d.messages[CHANNEL])
        wait_for(lambda: messages(db, "大家早上好") == 1, 30, "the first message logged")
    finally:
        stop_run(proc, signal.SIGKILL)
    # While shequn is down, the channel goes on; a restart picks up from the last message it handed on.
    for text in ("停机时一", "停机时二", "停机时三"):
        fake(d.say(CHANNEL, 556, text))
    proc = start(db, port, limits)
    try:
        wait_for(lambda: all(messages(db, t) == 1 for t in ("停机时一", "停机时二", "停机时三")), 60, "the gap")
        fake(d.say(CHANNEL, 556, "重启之后"))
        wait_for(lambda: messages(db, "重启之后") == 1, 30, "live again")
        assert messages(db, "大家早上好") == 1 and messages(db, AD) == 1
        assert len(query(db, "select id from staff_task")) == len(tasks)  # nothing decided twice
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    assert TOKEN not in out + err
