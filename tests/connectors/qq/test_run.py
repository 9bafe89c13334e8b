"""shequn live in QQ groups, all through ``shequn run -c qq`` against the fake OneBot v11 implementation: a join
request answered by the threshold (approved, and refused with the reason), the welcome, an ad account's first-message
ad recalled and the account kicked with ``reject_add_request``, a member's ladder (warned privately, then removed),
a check-in answered, a guest talk muting the whole group, the 早报 at its minute, and a reconnection that loses and
repeats nothing; then the reverse WebSocket with its token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from tests.connectors.matrix.live import MAIN, query, shequn, stop_run, wait_for
from tests.support.live import book_talk, live_spec, relaxed_limits
from tests.support.onebot import BOT, FakeOneBot, ThreadedOneBot

pytestmark = pytest.mark.slow
MAIN_GROUP, ADMIN_GROUP = 123456789, 987654321
TOKEN = "onebot-test-token"
AD = "➕V：money20459，招代理，一件代发，日赚500"
LIMITS = relaxed_limits("qq", "https://docs.go-cqhttp.org/guide/config.html")


def spec(at: datetime) -> str:
    return live_spec(
        "qq",
        [(MAIN_GROUP, "读书会一群", ""), (ADMIN_GROUP, "管理群", "admin")],
        at,
        settings=["threshold: {kind: tag_screening}", "size: {capacity: 500, warn_at: 0.9}"],
        policies=['  admission: {screening: {answer: "读书|阅读"}}'],
    )


@pytest.fixture
def fake() -> Iterator[ThreadedOneBot]:
    bot = FakeOneBot(token=TOKEN, heartbeat=1.0)
    bot.group(MAIN_GROUP, "读书会一群", members={555: "小王", 556: "小赵"})
    bot.group(ADMIN_GROUP, "读书会管理群", members={900: "运营"})
    threaded = ThreadedOneBot(bot)
    yield threaded
    threaded.close()


def start(db: str, env: dict[str, str]) -> subprocess.Popen[str]:
    limits = Path(db).with_suffix(".limits.yaml")
    limits.write_text(LIMITS, encoding="utf-8")
    args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "qq", "--tick", "1", "--json", "--limits", str(limits)]
    return subprocess.Popen(args, env={**os.environ, **env}, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def messages(db: str, text: str) -> int:
    rows = query(db, "select payload from event where platform='qq' and kind='message'")
    return sum(1 for (p,) in rows if json.loads(p).get("text") == text)


def test_a_reading_club_runs_live_in_qq_groups(fake: ThreadedOneBot, tmp_path: Path) -> None:
    bot = fake.bot
    port = fake(bot.serve())
    db = str(tmp_path / "qq.db")
    report_at = (datetime.now(UTC) + timedelta(seconds=100)).replace(second=0, microsecond=0)
    (tmp_path / "club.yaml").write_text(spec(report_at), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    env = {"SHEQUN_ONEBOT_WS": f"ws://127.0.0.1:{port}/", "SHEQUN_ONEBOT_TOKEN": TOKEN}
    proc = start(db, env)
    try:
        wait_for(lambda: len(bot.of("get_group_msg_history")) + len(bot.of("get_group_member_list")) >= 2, 60, "setup")
        assert bot.refused == 0

        # A join request whose answer fits the screening is approved; the newcomer is welcomed.
        fake(bot.request(MAIN_GROUP, 700, "问题：你为什么加入读书会？\n答案：喜欢读书"))
        wait_for(lambda: any(a["user_id"] == 700 for a in bot.answered), 30, "the approval")
        assert [a["approve"] for a in bot.answered if a["user_id"] == 700] == [True]
        fake(bot.join(MAIN_GROUP, 700, "小广告"))
        wait_for(lambda: any("欢迎" in t and "小广告" in t for t in bot.texts(MAIN_GROUP)), 30, "the welcome")
        # The rules, privately (a temporary session through the group); a private 同意 accepts them.
        wait_for(lambda: any(p["user_id"] == 700 and p.get("group_id") == MAIN_GROUP for p in bot.private), 30, "rules")
        fake(bot.private_message(700, "同意"))
        wait_for(lambda: len([p for p in bot.private if p["user_id"] == 700]) >= 2, 30, "the thanks for accepting")

        # One that does not fit is refused, with the policy's words as QQ's reason.
        fake(bot.request(MAIN_GROUP, 701, "问题：你为什么加入读书会？\n答案：加我微信"))
        wait_for(lambda: any(a["user_id"] == 701 for a in bot.answered), 40, "the refusal")
        (refusal,) = [a for a in bot.answered if a["user_id"] == 701]
        assert refusal["approve"] is False and "加我微信" in refusal["reason"], refusal

        # The ad account's first words are an ad: recalled, the account kicked and its requests refused.
        ad = fake(bot.say(MAIN_GROUP, 700, AD))
        wait_for(lambda: any(p["message_id"] == ad for p in bot.of("delete_msg")), 30, "the recall")
        wait_for(
            lambda: {"group_id": MAIN_GROUP, "user_id": 700, "reject_add_request": True} in bot.of("set_group_kick"),
            30,
            "the kick with reject_add_request",
        )
        assert not any(m["message_id"] == ad for m in bot.groups[MAIN_GROUP].messages)

        # A member's ladder: an ad is recalled and warned privately; a second one removes them.
        fake(bot.say(MAIN_GROUP, 555, "大家好，我是小王，在上海做产品"))
        first = fake(bot.say(MAIN_GROUP, 555, AD))
        wait_for(lambda: any(p["message_id"] == first for p in bot.of("delete_msg")), 30, "the first recall")
        wait_for(
            lambda: any(p["user_id"] == 555 and "警告" in json.dumps(p, ensure_ascii=False) for p in bot.private),
            30,
            "the private warning",
        )
        assert 555 in bot.groups[MAIN_GROUP].members
        second = fake(bot.say(MAIN_GROUP, 555, AD))
        wait_for(lambda: any(p["message_id"] == second for p in bot.of("delete_msg")), 30, "the second recall")
        wait_for(lambda: 555 not in bot.groups[MAIN_GROUP].members, 30, "the removal")

        # A check-in is answered.
        fake(bot.say(MAIN_GROUP, 556, "签到"))
        wait_for(lambda: any("签到" in t for t in bot.texts(MAIN_GROUP)), 30, "the check-in answer")

        # A guest talk: the whole group is muted from its start until the questions.
        starts = datetime.now(UTC) + timedelta(seconds=3)
        book_talk(db, "读书会", f"qq:{MAIN_GROUP}", "talk-qq", starts, 10)
        wait_for(lambda: bot.groups[MAIN_GROUP].whole_ban, 20, "the whole-group mute")
        wait_for(lambda: not bot.groups[MAIN_GROUP].whole_ban, 30, "the release")
        assert [p["enable"] for p in bot.of("set_group_whole_ban")][:2] == [True, False]

        # The implementation restarts: what is said meanwhile arrives once, what came before is not repeated.
        fake(bot.drop())
        fake(bot.say(MAIN_GROUP, 556, "断线时说的话"))
        lost_ad = fake(bot.say(MAIN_GROUP, 556, AD))
        fake(bot.serve(port))
        wait_for(lambda: any(p["message_id"] == lost_ad for p in bot.of("delete_msg")), 60, "the missed ad recalled")
        fake(bot.say(MAIN_GROUP, 556, "重连之后"))
        wait_for(lambda: messages(db, "重连之后") == 1, 30, "live again")
        assert messages(db, "断线时说的话") == 1
        assert messages(db, "大家好，我是小王，在上海做产品") == 1
        assert bot.connections == 2

        # The 早报 at its minute.
        report = wait_for(
            lambda: [t for t in bot.texts(MAIN_GROUP) if "读书会早报" in t],
            max(5.0, (report_at - datetime.now(UTC)).total_seconds() + 25),
            "the morning report",
            every=0.2,
        )
        arrived = datetime.now(UTC)
        assert len(report) == 1
        assert report_at <= arrived < report_at + timedelta(seconds=10), (report_at, arrived)
        assert proc.poll() is None
    except AssertionError:
        for row in query(db, "select kind, status, last_error, substr(payload, 1, 300) from action order by id"):
            print("ACTION", row)
        for (p,) in query(db, "select substr(payload, 1, 200) from event order by seq"):
            print("EVENT", p)
        print("SENT", bot.texts(MAIN_GROUP))
        raise
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["failed"] == 0 and stats["sent"] >= 10, stats
    assert TOKEN not in out + err, "the access token reached the output"
    # The live group keeps its QQ name, for imports to match.
    assert query(db, "select value from connector_cursor where connector='qq' and name=?", f"name:{MAIN_GROUP}") == [
        ("读书会一群",)
    ]


def test_the_reverse_socket_refuses_a_wrong_token_and_sends_over_the_right_one(
    fake: ThreadedOneBot, tmp_path: Path
) -> None:
    import socket

    bot = fake.bot
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    db = str(tmp_path / "qq.db")
    (tmp_path / "club.yaml").write_text(spec(datetime.now(UTC) + timedelta(hours=3)), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    proc = start(db, {"SHEQUN_ONEBOT_LISTEN": f"127.0.0.1:{port}", "SHEQUN_ONEBOT_TOKEN": TOKEN})
    url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
    try:
        assert fake(bot.dial(url, "not-the-token"), timeout=60) == 401
        fake.background(bot.dial(url, TOKEN))
        wait_for(lambda: bot.of("get_group_member_list"), 30, "the connection")
        fake(bot.request(MAIN_GROUP, 702, "喜欢阅读"))
        wait_for(lambda: any(a["user_id"] == 702 and a["approve"] for a in bot.answered), 30, "the approval")
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    assert bot.refused == 1
    assert TOKEN not in out + err


def test_a_killed_run_resumes_and_what_the_bot_may_not_do_goes_to_staff(fake: ThreadedOneBot, tmp_path: Path) -> None:
    import signal

    bot = fake.bot
    bot.groups[MAIN_GROUP].members[BOT]["role"] = "member"  # the operator forgot to make the bot an admin
    port = fake(bot.serve())
    db = str(tmp_path / "qq.db")
    (tmp_path / "club.yaml").write_text(spec(datetime.now(UTC) + timedelta(hours=3)), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    env = {"SHEQUN_ONEBOT_WS": f"ws://127.0.0.1:{port}/", "SHEQUN_ONEBOT_TOKEN": TOKEN}
    proc = start(db, env)
    try:
        wait_for(lambda: len(bot.of("get_group_msg_history")) + len(bot.of("get_group_member_list")) >= 2, 60, "setup")
        fake(bot.say(MAIN_GROUP, 556, "大家早上好"))
        ad = fake(bot.say(MAIN_GROUP, 555, AD))  # an ad as first words: recall and ban, neither allowed
        wait_for(lambda: len(query(db, "select id from staff_task")) >= 2, 30, "both staff tasks")
        tasks = query(db, "select kind, title from staff_task order by id")
        assert {k for k, _ in tasks} >= {"delete_message", "ban"}, tasks
        for kind in ("delete_message", "ban"):  # the reason names the group and the missing right
            title = next(title for k, title in tasks if k == kind)
            assert str(MAIN_GROUP) in title and ("不是管理员" in title or "not an admin" in title), title
        assert bot.of("set_group_kick") == []  # the bot's role is known: refused before asking QQ
        assert any(m["message_id"] == ad for m in bot.groups[MAIN_GROUP].messages)
        wait_for(lambda: messages(db, "大家早上好") == 1, 30, "the first message logged")
    finally:
        stop_run(proc, signal.SIGKILL)
    # While shequn is down, the group goes on; a restart picks up from the last message it handed on.
    for text in ("停机时一", "停机时二", "停机时三"):
        fake(bot.say(MAIN_GROUP, 556, text))
    proc = start(db, env)
    try:
        wait_for(lambda: all(messages(db, t) == 1 for t in ("停机时一", "停机时二", "停机时三")), 60, "the gap")
        fake(bot.say(MAIN_GROUP, 556, "重启之后"))
        wait_for(lambda: messages(db, "重启之后") == 1, 30, "live again")
        assert messages(db, "大家早上好") == 1 and messages(db, AD) == 1
        assert len(query(db, "select id from staff_task")) == len(tasks)  # nothing decided twice
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    assert TOKEN not in out + err
