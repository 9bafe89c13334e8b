"""shequn live in Feishu chats, all through ``shequn run -c feishu`` against the fake open platform: events over the
SDK's long connection, the welcome, the rules as a card whose button is accepted, an ad account's first-message ad
recalled and the account removed, a member's ladder (warned privately, then removed), a check-in answered, a guest
talk muting the whole chat and releasing it, the 早报
at its minute, and a dropped connection whose gap is filled, nothing lost or repeated; then the HTTP callback, which
takes signed deliveries and refuses a forged signature or a wrong token."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import urllib.error
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import orjson
import pytest

from tests.connectors.matrix.live import MAIN, query, shequn, stop_run, wait_for
from tests.support.feishu import APP_ID, APP_SECRET, FakeFeishu, ThreadedFeishu
from tests.support.live import book_talk, live_spec, relaxed_limits

pytestmark = pytest.mark.slow
MAIN_CHAT, ADMIN_CHAT = "oc_5ad11d72b830411d72b836c20", "oc_0a9b8c7d6e5f40312233445566"
AD = "➕V：money20459，招代理，一件代发，日赚500"
KEY, TOKEN = "encrypt-key-abc", "verification-token-xyz"
LIMITS = relaxed_limits("feishu", "https://open.feishu.cn/document/server-docs/im-v1/message/create")


def spec(at: datetime) -> str:
    return live_spec(
        "feishu",
        [(MAIN_CHAT, "读书会一群", ""), (ADMIN_CHAT, "管理群", "admin")],
        at,
        settings=["size: {capacity: 500, warn_at: 0.9}"],
    )


@pytest.fixture
def fake() -> Iterator[ThreadedFeishu]:
    platform = FakeFeishu()
    platform.chat(MAIN_CHAT, "读书会一群", {"ou_555": "小王", "ou_556": "小赵"})
    platform.chat(ADMIN_CHAT, "读书会管理群", {"ou_900": "运营"})
    threaded = ThreadedFeishu(platform)
    yield threaded
    threaded.close()


def start(db: str, env: dict[str, str]) -> subprocess.Popen[str]:
    limits = Path(db).with_suffix(".limits.yaml")
    limits.write_text(LIMITS, encoding="utf-8")
    args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "feishu", "--tick", "1", "--json"]
    args += ["--limits", str(limits)]
    full = {**os.environ, "SHEQUN_FEISHU_APP_ID": APP_ID, "SHEQUN_FEISHU_APP_SECRET": APP_SECRET, **env}
    return subprocess.Popen(args, env=full, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def messages(db: str, text: str) -> int:
    rows = query(db, "select payload from event where platform='feishu' and kind='message'")
    return sum(1 for (p,) in rows if json.loads(p).get("text") == text)


def direct_to(platform: FakeFeishu, user: str) -> list[str]:
    return [m["body"]["content"] for m in platform.direct if m["receive_id"] == user]


def test_a_reading_club_runs_live_in_feishu_chats(fake: ThreadedFeishu, tmp_path: Path) -> None:
    platform = fake.fake
    port = fake(platform.serve())
    db = str(tmp_path / "feishu.db")
    report_at = (datetime.now(UTC) + timedelta(seconds=100)).replace(second=0, microsecond=0)
    (tmp_path / "club.yaml").write_text(spec(report_at), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    proc = start(db, {"SHEQUN_FEISHU_DOMAIN": f"http://127.0.0.1:{port}"})

    def say(user: str, text: str) -> str:
        mid, event = platform.say(MAIN_CHAT, user, text)
        fake(platform.push(event))
        return mid

    try:
        wait_for(
            lambda: platform.connections == 1 and len(platform.of("GET", "/open-apis/im/v1/chats/")) >= 4, 60, "setup"
        )

        # A newcomer is welcomed in the chat, and gets the rules as a card; its button accepts them.
        fake(platform.push(platform.join(MAIN_CHAT, "ou_700", "小周", operator="ou_555")))
        wait_for(lambda: any("欢迎" in t and "小周" in t for t in platform.texts(MAIN_CHAT)), 30, "the welcome")
        card = wait_for(lambda: direct_to(platform, "ou_700"), 30, "the rules card")
        button = orjson.loads(card[0])["elements"][1]["actions"][0]
        assert button["value"] == {"shequn_form": "rules", "group": MAIN_CHAT}
        fake(platform.push(platform.click("ou_700", button["value"])))
        wait_for(lambda: len(direct_to(platform, "ou_700")) >= 2, 30, "the thanks for accepting")
        assert query(db, "select count(*) from event where kind='form_answer'") == [(1,)]

        # An ad account's first words are an ad: recalled, the account removed (Feishu keeps no ban list).
        fake(platform.push(platform.join(MAIN_CHAT, "ou_701", "推广号", operator="ou_556")))
        ad = say("ou_701", AD)
        wait_for(lambda: ad in [p.rsplit("/", 1)[-1] for p in deleted(platform)], 30, "the recall")
        wait_for(lambda: "ou_701" not in platform.chats[MAIN_CHAT].members, 30, "the removal")

        # A member's ladder: an ad is recalled and warned privately; a second one removes them.
        say("ou_555", "大家好，我是小王，在上海做产品")
        first = say("ou_555", AD)
        wait_for(lambda: first in [p.rsplit("/", 1)[-1] for p in deleted(platform)], 30, "the first recall")
        wait_for(lambda: any("警告" in t for t in direct_to(platform, "ou_555")), 30, "the private warning")
        assert "ou_555" in platform.chats[MAIN_CHAT].members
        second = say("ou_555", AD)
        wait_for(lambda: second in [p.rsplit("/", 1)[-1] for p in deleted(platform)], 30, "the second recall")
        wait_for(lambda: "ou_555" not in platform.chats[MAIN_CHAT].members, 30, "the removal")

        # A check-in is answered.
        say("ou_556", "签到")
        wait_for(lambda: any("签到" in t for t in platform.texts(MAIN_CHAT)), 30, "the check-in answer")

        # A guest talk: only the owner and admins speak from its start until the questions (the chat's moderation).
        starts = datetime.now(UTC) + timedelta(seconds=3)
        book_talk(db, "读书会", f"feishu:{MAIN_CHAT}", "talk-feishu", starts, 10)
        wait_for(lambda: platform.chats[MAIN_CHAT].moderation == "only_owner", 20, "the whole-chat mute")
        wait_for(lambda: platform.chats[MAIN_CHAT].moderation == "all_members", 30, "the release")
        settings = [
            b["moderation_setting"] for b in platform.of("PUT", f"/open-apis/im/v1/chats/{MAIN_CHAT}/moderation")
        ]
        assert settings[:2] == ["only_owner", "all_members"]

        # The connection drops: what is said meanwhile arrives once, from the history, and the ad in it is recalled.
        fake(platform.drop())
        platform.say(MAIN_CHAT, "ou_556", "断线时说的话")
        lost_ad, _ = platform.say(MAIN_CHAT, "ou_556", AD)
        wait_for(lambda: platform.connections == 2, 60, "the SDK's reconnection")
        wait_for(lambda: lost_ad in [p.rsplit("/", 1)[-1] for p in deleted(platform)], 60, "the missed ad recalled")
        say("ou_556", "重连之后")
        wait_for(lambda: messages(db, "重连之后") == 1, 30, "live again")
        assert messages(db, "断线时说的话") == 1
        assert messages(db, "大家好，我是小王，在上海做产品") == 1

        # The 早报 at its minute.
        report = wait_for(
            lambda: [t for t in platform.texts(MAIN_CHAT) if "读书会早报" in t],
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
        print("SENT", platform.texts(MAIN_CHAT))
        raise
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    stats = json.loads(out.strip().splitlines()[-1])
    assert stats["failed"] == 0 and stats["sent"] >= 10, stats
    assert APP_SECRET not in out + err and "t-fake-tenant-token" not in out + err
    assert query(db, "select value from connector_cursor where connector='feishu' and name=?", f"name:{MAIN_CHAT}") == [
        ("读书会一群",)
    ]


def deleted(platform: FakeFeishu) -> list[str]:
    return [p for m, p, _, _ in platform.calls if m == "DELETE" and p.startswith("/open-apis/im/v1/messages/")]


def post(url: str, headers: dict[str, str], body: bytes) -> int:
    request = urllib.request.Request(url, data=body, headers=headers, method="POST")
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def test_the_http_callback_takes_signed_events_and_refuses_forgeries(fake: ThreadedFeishu, tmp_path: Path) -> None:
    import socket

    platform = fake.fake
    port = fake(platform.serve())
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        listen = s.getsockname()[1]
    db = str(tmp_path / "feishu.db")
    (tmp_path / "club.yaml").write_text(spec(datetime.now(UTC) + timedelta(hours=3)), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    env = {
        "SHEQUN_FEISHU_DOMAIN": f"http://127.0.0.1:{port}",
        "SHEQUN_FEISHU_LISTEN": f"127.0.0.1:{listen}",
        "SHEQUN_FEISHU_VERIFICATION_TOKEN": TOKEN,
        "SHEQUN_FEISHU_ENCRYPT_KEY": KEY,
    }
    proc = start(db, env)
    url = f"http://127.0.0.1:{listen}/feishu/events"
    try:
        wait_for(lambda: len(platform.of("GET", "/open-apis/im/v1/chats/")) >= 4, 60, "setup")
        _, forged = platform.say(MAIN_CHAT, "ou_556", "伪造的消息")
        wait_for(lambda: post(url, *platform.delivery(forged, encrypt_key=KEY, sign_with="guess")) == 401, 30, "up")
        wrong = {**forged, "header": {**forged["header"], "token": "not-the-token"}}
        assert post(url, *platform.delivery(wrong, encrypt_key=KEY)) == 401
        _, event = platform.say(MAIN_CHAT, "ou_556", "签到")
        assert post(url, *platform.delivery(event, encrypt_key=KEY)) == 200
        wait_for(lambda: any("签到" in t for t in platform.texts(MAIN_CHAT)), 30, "the check-in answer")
        assert messages(db, "伪造的消息") == 0
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    assert platform.connections == 0
    assert KEY not in out + err and TOKEN not in out + err and APP_SECRET not in out + err


def test_a_killed_run_resumes_and_what_the_bot_may_not_do_goes_to_staff(fake: ThreadedFeishu, tmp_path: Path) -> None:
    import signal

    platform = fake.fake
    platform.chats[MAIN_CHAT].bot_admin = False  # the operator forgot to make the bot a chat admin
    port = fake(platform.serve())
    db = str(tmp_path / "feishu.db")
    (tmp_path / "club.yaml").write_text(spec(datetime.now(UTC) + timedelta(hours=3)), encoding="utf-8")
    shequn(db, "community", "apply", str(tmp_path / "club.yaml"))
    env = {"SHEQUN_FEISHU_DOMAIN": f"http://127.0.0.1:{port}"}

    def say(user: str, text: str) -> str:
        mid, event = platform.say(MAIN_CHAT, user, text)
        fake(platform.push(event))
        return mid

    proc = start(db, env)
    try:
        wait_for(
            lambda: platform.connections == 1 and len(platform.of("GET", "/open-apis/im/v1/chats/")) >= 4, 60, "setup"
        )
        say("ou_556", "大家早上好")
        ad = say("ou_555", AD)  # an ad as first words: recall and removal, neither allowed
        wait_for(lambda: len(query(db, "select id from staff_task")) >= 2, 30, "both staff tasks")
        tasks = query(db, "select kind, title from staff_task order by id")
        assert {k for k, _ in tasks} >= {"delete_message", "ban"}, tasks
        for kind in ("delete_message", "ban"):  # the reason names the chat and the missing right
            title = next(title for k, title in tasks if k == kind)
            assert MAIN_CHAT in title and ("无权" in title or "may not" in title), title
        assert not any(m["deleted"] for m in platform.chats[MAIN_CHAT].messages if m["message_id"] == ad)
        assert "ou_555" in platform.chats[MAIN_CHAT].members
        wait_for(lambda: messages(db, "大家早上好") == 1, 30, "the first message logged")
    finally:
        stop_run(proc, signal.SIGKILL)
    # While shequn is down, the chat goes on; a restart picks up from the last message it handed on.
    for text in ("停机时一", "停机时二", "停机时三"):
        platform.say(MAIN_CHAT, "ou_556", text)
    proc = start(db, env)
    try:
        wait_for(lambda: all(messages(db, t) == 1 for t in ("停机时一", "停机时二", "停机时三")), 60, "the gap")
        wait_for(lambda: platform.connections == 2, 30, "the long connection")
        say("ou_556", "重启之后")
        wait_for(lambda: messages(db, "重启之后") == 1, 30, "live again")
        assert messages(db, "大家早上好") == 1 and messages(db, AD) == 1
        assert len(query(db, "select id from staff_task")) == len(tasks)  # nothing decided twice
    finally:
        out, err = stop_run(proc)
    assert proc.returncode == 0, err
    assert APP_SECRET not in out + err
