"""WeCom's chat archive (会话内容存档): every documented message type as an event; the Finance SDK through ctypes
against a fake compiled from the header's prototypes (random keys RSA-encrypted to a test key); the settings' errors
in both languages; and ``shequn run -c wecom`` end to end: a check-in recorded, an ad with a QR code ending in one
batched staff task with its evidence, a SIGKILL of the real process that loses and repeats nothing."""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
import pytest

from shequn.app import App
from shequn.connectors.base import MemoryCursors
from shequn.connectors.wecom.archive import ArchivePuller, load_keys
from shequn.connectors.wecom.connector import archive_from_env
from shequn.connectors.wecom.finance import FinanceError, FinanceSDK, sdk_from_env
from shequn.connectors.wecom.messages import message_event
from shequn.domain import ContentKind, Delete, Event, Message, Post
from shequn.playbook.spec import parse_spec
from tests.connectors.matrix.live import query, stop_run, wait_for
from tests.connectors.wecom.archive_fake import (
    ARCHIVE_SECRET,
    CORP,
    FakeArchive,
    compile_sdk,
    new_key,
    qr_png,
    write_key,
)
from tests.connectors.wecom.server import SECRET, FakeWeCom

CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
OTHER = "wrOgQhDgAAcwMTB7YmDkbeBsgT_KAAAA"  # a customer group of no community
MAIN = "from shequn.cli.main import main; main()"
AD = "加微信 money20459 招代理 一件代发 日赚500 扫码进群"


@pytest.fixture(scope="module")
def sdk_lib(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return compile_sdk(tmp_path_factory.mktemp("sdk"))


@pytest.fixture(scope="module")
def key1() -> Any:
    return new_key()


@pytest.fixture
def fake(tmp_path: Path, key1: Any, monkeypatch: pytest.MonkeyPatch) -> FakeArchive:
    archive = FakeArchive(tmp_path / "archive", {1: key1})
    monkeypatch.setenv("FAKE_WEWORK_DIR", str(archive.folder))
    monkeypatch.setenv("FAKE_WEWORK_CORP", CORP)
    monkeypatch.setenv("FAKE_WEWORK_SECRET", ARCHIVE_SECRET)
    return archive


def env_of(fake: FakeArchive, lib: Path, keys: dict[int, Path]) -> dict[str, str]:
    return fake.env(lib, keys)


# -- the message formats ------------------------------------------------------------------------------------------

BASE = {"msgid": "CAQQluDa4QUY0On2rYSAgAMgzPrShAE=", "action": "send", "from": "wmA", "tolist": ["wmB"]}
SAMPLES: dict[str, tuple[dict[str, Any], ContentKind, str]] = {
    "text": ({"text": {"content": "test"}}, ContentKind.TEXT, "test"),
    "image": ({"image": {"md5sum": "50de8e5ae8ffe4f1df7a93841f71993a", "filesize": 70961, "sdkfileid": "CtYBMzA2OQ"}},
              ContentKind.IMAGE, ""),
    "agree": ({"agree": {"userid": "wmA", "agree_time": 1547087894783}}, ContentKind.SYSTEM, ""),
    "voice": ({"voice": {"md5sum": "9db09c7fa627c9e53f17736c786a74d5", "voice_size": 6810, "play_length": 10,
                         "sdkfileid": "kcRZ2RJ"}}, ContentKind.VOICE, ""),
    "video": ({"video": {"md5sum": "d06fc80c01d6fbffcca3b229ba41eac6", "filesize": 15169724, "play_length": 108,
                         "sdkfileid": "Cr4BMz"}}, ContentKind.VIDEO, ""),
    "card": ({"card": {"corpname": "微信联系人", "userid": "wmXXX"}}, ContentKind.CONTACT_CARD, "微信联系人 wmXXX"),
    "location": ({"location": {"longitude": 116.586, "latitude": 39.911, "address": "北京市东城区", "title": "国贸",
                               "zoom": 15}}, ContentKind.LOCATION, "国贸 北京市东城区"),
    "emotion": ({"emotion": {"type": 1, "width": 290, "height": 290, "imagesize": 962604, "md5sum": "94c2b0bba5",
                             "sdkfileid": "Cs4BMzA2"}}, ContentKind.STICKER, ""),
    "file": ({"file": {"md5sum": "18e93fc2ea884df23b3d2d3b8667b9f0", "filename": "资料.docx", "fileext": "docx",
                       "filesize": 18181, "sdkfileid": "E4ODRkZjIzYjNkMmQzYjg2"}}, ContentKind.FILE, "资料.docx"),
    "link": ({"link": {"title": "邀请你加入群聊", "description": "进群领红包", "link_url": "https://ad.example/x",
                       "image_url": "https://wx.qlogo.cn/x"}}, ContentKind.LINK, "邀请你加入群聊 进群领红包 https://ad.example/x"),
    "weapp": ({"weapp": {"title": "开始聊天前请仔细阅读服务须知事项", "description": "客户需同意存档聊天记录",
                         "username": "xxx@app", "displayname": "服务须知"}}, ContentKind.MINI_PROGRAM,
              "开始聊天前请仔细阅读服务须知事项 服务须知 客户需同意存档聊天记录 xxx@app"),
    "chatrecord": ({"chatrecord": {"title": "群聊", "item": [
        {"type": "ChatRecordText", "msgtime": 1, "content": "{\"content\":\"转发的一句话\"}", "from_chatroom": True},
        {"type": "ChatRecordLink", "msgtime": 2, "content": "{\"title\":\"一篇文章\",\"link_url\":\"https://a.example\"}"},
    ]}}, ContentKind.OTHER, "群聊 转发的一句话 一篇文章 https://a.example"),
    "todo": ({"todo": {"title": "测试待办", "content": "买票"}}, ContentKind.TEXT, "测试待办 买票"),
    "vote": ({"vote": {"votetitle": "去哪玩", "voteitem": ["A", "B"], "votetype": 101, "voteid": "2009"}},
             ContentKind.POLL, "去哪玩 A B"),
    "collect": ({"collect": {"room_name": "群", "creator": "x", "create_time": "2020-03-06 12:38:24", "title": "报名",
                             "details": [{"id": 1, "ques": "姓名", "type": "Text"}]}}, ContentKind.POLL, "报名 姓名"),
    "redpacket": ({"redpacket": {"type": 1, "wish": "恭喜发财，大吉大利", "totalcnt": 1, "totalamount": 3000}},
                  ContentKind.RED_PACKET, "恭喜发财，大吉大利"),
    "meeting": ({"meeting": {"topic": "夕会", "starttime": 1, "endtime": 2, "address": "", "remarks": "",
                             "meetingtype": 102, "meetingid": 1}}, ContentKind.OTHER, "夕会"),
    "docmsg": ({"doc": {"title": "共享文档", "doc_creator": "x", "link_url": "https://doc.weixin.qq.com/x"}},
               ContentKind.LINK, "共享文档 https://doc.weixin.qq.com/x"),
    "markdown": ({"info": {"content": "**加粗**"}}, ContentKind.TEXT, "**加粗**"),
    "news": ({"info": {"item": [{"title": "图文", "description": "说明", "url": "https://n.example", "picurl": ""}]}},
             ContentKind.LINK, "图文 说明 https://n.example"),
    "calendar": ({"calendar": {"title": "读书会", "creatorname": "x", "attendeename": [], "starttime": 1, "endtime": 2,
                               "place": "线上", "remarks": ""}}, ContentKind.OTHER, "读书会 线上"),
    "mixed": ({"mixed": {"item": [{"type": "text", "content": "{\"content\":\"看图\"}"},
                                  {"type": "image", "content": "{\"sdkfileid\":\"IMG1\",\"filesize\":12}"}]}},
              ContentKind.TEXT, "看图"),
    "meeting_voice_call": ({"voiceid": "v1", "meeting_voice_call": {"endtime": 1, "sdkfileid": "V"}},
                           ContentKind.OTHER, ""),
    "voip_doc_share": ({"voipid": "p1", "voip_doc_share": {"filename": "a.pdf", "md5sum": "", "filesize": 1,
                                                          "sdkfileid": "D"}}, ContentKind.OTHER, "a.pdf"),
    "external_redpacket": ({"redpacket": {"type": 1, "wish": "红包", "totalcnt": 2, "totalamount": 200}},
                           ContentKind.RED_PACKET, "红包"),
    "sphfeed": ({"sphfeed": {"feed_type": 4, "sph_name": "视频号", "feed_desc": "一段视频"}}, ContentKind.LINK,
                "视频号 一段视频"),
    "qydiskfile": ({"info": {"filename": "微盘.xlsx"}}, ContentKind.FILE, "微盘.xlsx"),
    "voiptext": ({"info": {"callduration": 10, "invitetype": 1}}, ContentKind.OTHER, ""),
}  # fmt: skip


@pytest.mark.parametrize("msgtype", sorted(SAMPLES))
def test_every_documented_message_type_becomes_an_event(msgtype: str) -> None:
    body, content, text = SAMPLES[msgtype]
    msg = {**BASE, "roomid": CHAT, "msgtime": 1547087894783, "msgtype": msgtype, **body}
    event = message_event(msg, 7)
    assert isinstance(event, Message)
    assert (event.content, event.text, event.group, event.actor) == (content, text, CHAT, "wmA")
    assert event.at == datetime.fromtimestamp(1547087894.783, tz=UTC)
    assert event.extra["msgtype"] == msgtype and event.extra["seq"] == 7 and not event.extra.get("unknown")
    if msgtype in ("image", "voice", "video", "emotion", "file", "mixed", "meeting_voice_call", "voip_doc_share"):
        assert event.media and event.extra["sdkfileid"] == event.media  # referenced, not fetched
    if msgtype == "redpacket":
        assert event.extra["amount"] == 3000  # moderation credits a red packet with its amount (fen)


def test_revoke_switch_and_unknown_types() -> None:
    revoke = {**BASE, "roomid": CHAT, "msgtime": 1, "msgtype": "revoke", "action": "recall",
              "revoke": {"pre_msgid": "14417052512158124597_1580788542"}}  # fmt: skip
    event = message_event(revoke, 1)
    assert isinstance(event, Delete) and event.message_id == "14417052512158124597_1580788542" and event.by == "wmA"
    assert message_event({"msgid": "x", "action": "switch", "time": 1554119421840, "user": "XuJinSheng"}, 2) is None
    future = message_event({**BASE, "roomid": CHAT, "msgtime": 1, "msgtype": "hologram", "hologram": {"x": 1}}, 3)
    assert isinstance(future, Message) and future.content is ContentKind.OTHER
    assert future.extra["unknown"] and future.extra["body"]["hologram"] == {"x": 1}  # kept as it came
    again = message_event({**BASE, "roomid": CHAT, "msgtime": 1, "msgtype": "text", "text": {"content": "x"}}, 9)
    first = message_event({**BASE, "roomid": CHAT, "msgtime": 1, "msgtype": "text", "text": {"content": "x"}}, 4)
    assert again is not None and first is not None and again.id == first.id  # one event per msgid, whatever the seq


# -- the SDK through ctypes ---------------------------------------------------------------------------------------


def test_sdk_pulls_decrypts_and_fetches_media_in_chunks(sdk_lib: Path, fake: FakeArchive, key1: Any) -> None:
    for i in range(3):
        fake.text(CHAT, "wmA", f"第{i}条")
    big = os.urandom(200_000)  # more than one 64 KB chunk of the fake (WeCom's are 512 KB)
    fake.image(CHAT, "wmA", big)
    sdk = FinanceSDK(str(sdk_lib), CORP, ARCHIVE_SECRET)
    keys = load_keys(f"1={write_key(key1, fake.folder / 'v1.pem')}")
    rows = sdk.chat_data(0, 5000)  # asked for more than allowed: the call asks for 1000
    assert [r["seq"] for r in rows] == [1, 2, 3, 4] and fake.calls() == [(0, 1000)]
    msg = sdk.decrypt(keys.random_key(1, rows[0]["encrypt_random_key"]), rows[0]["encrypt_chat_msg"])
    assert msg["text"] == {"content": "第0条"} and msg["roomid"] == CHAT
    image = sdk.decrypt(keys.random_key(1, rows[3]["encrypt_random_key"]), rows[3]["encrypt_chat_msg"])
    assert sdk.media(image["image"]["sdkfileid"], max_bytes=10**6) == big
    assert sdk.chat_data(4, 1000) == []
    sdk.close()


def test_a_puller_pass_takes_bound_rooms_saves_the_cursor_and_reads_qr_codes(
    sdk_lib: Path, fake: FakeArchive, key1: Any
) -> None:
    fake.text(CHAT, "wmA", "早上好")
    fake.text(OTHER, "wmB", "别的群")
    fake.text("", "zhangsan", "单聊")  # no roomid: a one-to-one chat
    fake.image(CHAT, "wmC", qr_png("https://ad.example/join"))
    fake.image(CHAT, "wmC", qr_png("https://ad.example/2"))
    keys = load_keys(f"1={write_key(key1, fake.folder / 'v1.pem', pkcs8=True)}")  # PKCS#8 reads as well
    puller = ArchivePuller(FinanceSDK(str(sdk_lib), CORP, ARCHIVE_SECRET), keys, call_gap=0, limit=2)
    got: list[Event] = []

    async def sink(event: Event) -> None:
        got.append(event)

    cursors = MemoryCursors()
    moderated = {CHAT}.__contains__
    assert asyncio.run(puller.pull(sink, cursors, frozenset({CHAT}), moderated)) == 3
    assert cursors.get("archive_seq") == "5" and puller.stats["skipped"] == 2
    assert fake.calls() == [(0, 2), (2, 2), (4, 2)]  # a full page is followed at once; a short one ends the pass
    text, qr, _ = got
    assert isinstance(qr, Message) and qr.extra["qr"] and qr.extra["qr_text"] == ["https://ad.example/join"]
    assert "https://ad.example/join" in qr.text and text.extra["seq"] == 1
    # Not moderated: the image stays a reference, nothing is fetched.
    fake.image(CHAT, "wmC", qr_png("https://ad.example/3"))
    asyncio.run(puller.pull(sink, cursors, frozenset({CHAT}), lambda room: False))
    assert isinstance(got[-1], Message) and "qr" not in got[-1].extra and puller.stats["media"] == 2
    puller.close()


# -- errors name the setting, in both languages -------------------------------------------------------------------


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_missing_library_names_the_setting(
    tmp_path: Path, key1: Any, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUN_LANG", lang)
    env = {"SHEQUN_WECOM_CORP_ID": CORP, "SHEQUN_WECOM_ARCHIVE_SECRET": "s", "SHEQUN_WECOM_ARCHIVE_KEYS": "1=/x.pem"}
    with pytest.raises(FinanceError) as missing:
        sdk_from_env({**env, "SHEQUN_WECOM_FINANCE_SDK": str(tmp_path / "libWeWorkFinanceSdk_C.so")})
    not_sdk = tmp_path / "libother.so"
    src = tmp_path / "other.c"
    src.write_text("int NewSdk(void) { return 0; }\n")
    subprocess.run(["gcc", "-shared", "-fPIC", "-o", str(not_sdk), str(src)], check=True)
    with pytest.raises(FinanceError) as wrong:
        sdk_from_env({**env, "SHEQUN_WECOM_FINANCE_SDK": str(not_sdk)})
    for exc in (missing.value, wrong.value):
        assert "SHEQUN_WECOM_FINANCE_SDK" in str(exc) and exc.exit_code == 2
    assert ("找不到" if lang == "zh-CN" else "does not exist") in str(missing.value)
    assert ("缺少函数 Init" if lang == "zh-CN" else "lacks Init") in str(wrong.value)
    with pytest.raises(FinanceError) as partial:
        archive_from_env({"SHEQUN_WECOM_FINANCE_SDK": str(not_sdk), "SHEQUN_WECOM_CORP_ID": CORP})
    assert "SHEQUN_WECOM_ARCHIVE_SECRET" in str(partial.value) and "SHEQUN_WECOM_ARCHIVE_KEYS" in str(partial.value)


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_wrong_or_missing_key_stops_the_pull_before_the_message(
    sdk_lib: Path, fake: FakeArchive, key1: Any, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUN_LANG", lang)
    fake.text(CHAT, "wmA", "一")
    fake.text(CHAT, "wmA", "二")
    other = write_key(new_key(), fake.folder / "not-v1.pem")
    puller = ArchivePuller(FinanceSDK(str(sdk_lib), CORP, ARCHIVE_SECRET), load_keys(f"1={other}"), call_gap=0)
    cursors = MemoryCursors()

    async def sink(event: Event) -> None:
        raise AssertionError("nothing can be opened with the wrong key")

    with pytest.raises(FinanceError) as wrong:
        asyncio.run(puller.pull(sink, cursors, frozenset({CHAT})))
    assert "SHEQUN_WECOM_ARCHIVE_KEYS" in str(wrong.value) and str(other) in str(wrong.value)
    assert ("不是管理后台登记为版本 1" if lang == "zh-CN" else "not the private half") in str(wrong.value)
    assert cursors.get("archive_seq") is None  # nothing skipped: fixing the key resumes at the first message
    fake.keys[3] = new_key()
    fake.text(CHAT, "wmA", "三")
    good = ArchivePuller(puller.sdk, load_keys(f"1={write_key(key1, fake.folder / 'v1.pem')}"), call_gap=0)
    seen: list[str] = []

    async def take(event: Event) -> None:
        seen.append(event.text if isinstance(event, Message) else "")

    fake.add({"from": "wmA", "roomid": CHAT, "msgtype": "text", "text": {"content": "四"}}, version=3)
    with pytest.raises(FinanceError) as rotated:
        asyncio.run(good.pull(take, cursors, frozenset({CHAT})))
    assert seen == ["一", "二", "三"] and cursors.get("archive_seq") == "3"  # up to the message of the unknown version
    assert "SHEQUN_WECOM_ARCHIVE_KEYS" in str(rotated.value) and (
        "publickey_ver 3" in str(rotated.value) or "公钥版本 3" in str(rotated.value)
    )
    with pytest.raises(FinanceError) as bad_item:
        load_keys("v2=/a.pem")
    assert "SHEQUN_WECOM_ARCHIVE_KEYS" in str(bad_item.value) and "v2" in str(bad_item.value)
    good.close()


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_sdk_error_codes_and_wecoms_refusal_name_the_setting(
    sdk_lib: Path, fake: FakeArchive, lang: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUN_LANG", lang)
    sdk = FinanceSDK(str(sdk_lib), CORP, ARCHIVE_SECRET)
    fake.fail_next(10009)
    with pytest.raises(FinanceError) as ip:
        sdk.chat_data(0, 10)
    assert ip.value.code == 10009 and not ip.value.retryable and "10009" in str(ip.value)
    assert ("IP 非法" if lang == "zh-CN" else "IP not allowed") in str(ip.value)
    fake.fail_next(10001)
    with pytest.raises(FinanceError) as network:
        sdk.chat_data(0, 10)
    assert network.value.retryable  # the loop tries again at its next pass
    assert sdk.chat_data(0, 10) == []
    sdk.close()
    stranger = FinanceSDK(str(sdk_lib), CORP, "another-secret")
    with pytest.raises(FinanceError) as refused:
        stranger.chat_data(0, 10)
    assert refused.value.code == 40001 and "SHEQUN_WECOM_ARCHIVE_SECRET" in str(refused.value)
    assert "another-secret" not in str(refused.value)  # the secret never reaches a message
    stranger.close()


# -- shequn run -c wecom ------------------------------------------------------------------------------------------

SPEC = f"""name: 读书会
type: growth
locale: zh-CN
timezone: UTC
threshold: {{kind: none}}
groups:
  - {{platform: wecom, id: "{CHAT}", name: 微信一群}}
policies:
  checkin: {{opens_at: "00:00"}}
  acks: {{batch_minutes: 0}}  # the check-in answered at once (by default gathered for 5 minutes)
"""


@contextlib.contextmanager
def wecom_api() -> Iterator[FakeWeCom]:
    """The WeCom server API (the roster pass, 群发) on a loop of its own thread, for a child ``shequn run``."""
    loop = asyncio.new_event_loop()
    server = FakeWeCom()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    asyncio.run_coroutine_threadsafe(server.start(), loop).result(10)
    try:
        yield server
    finally:
        asyncio.run_coroutine_threadsafe(server.stop(), loop).result(10)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(5)


def start(db: str, env: dict[str, str]) -> subprocess.Popen[str]:
    args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "wecom", "--no-scheduler", "--tick", "1"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def logged(db: str) -> list[dict[str, Any]]:
    with contextlib.suppress(Exception):
        rows = query(db, "select payload from event where platform='wecom' and kind in ('message', 'delete')")
        return [orjson.loads(r[0]) for r in rows]
    return []


@pytest.mark.slow
def test_shequn_run_lives_on_the_archive_and_a_sigkill_loses_and_repeats_nothing(
    tmp_path: Path, sdk_lib: Path, key1: Any
) -> None:
    fake = FakeArchive(tmp_path / "archive", {1: key1})
    keys = {1: write_key(key1, tmp_path / "v1.pem")}
    db = str(tmp_path / "w.db")
    app = App(db)
    app.apply_spec(parse_spec(SPEC))
    app.close()
    t0 = int(time.time() * 1000) - 6 * 3600 * 1000  # a message a minute, over the last hours
    for i in range(300):
        fake.text(CHAT, f"wm{i % 7}", f"今天读到第{i}页", msgtime=t0 + i * 60_000)
    fake.text(OTHER, "wmX", "别的群的消息")
    with wecom_api() as api:
        api.group(CHAT, "owner1", [{"userid": f"wm{i}", "type": 2, "join_time": 1795000000} for i in range(7)])
        env = {**os.environ, **fake.env(sdk_lib, keys), "SHEQUN_WECOM_SECRET": SECRET, "SHEQUN_WECOM_API": api.url}
        env |= {"SHEQUN_WECOM_ARCHIVE_EVERY": "0.2", "SHEQUN_LANG": "en"}
        proc = start(db, env)
        try:
            wait_for(lambda: len(logged(db)) >= 50 or proc.poll() is not None, 60, "the first messages")
            assert proc.poll() is None, proc.communicate()[1]
        finally:
            stop_run(proc, signal.SIGKILL)  # the real process, killed mid-stream
        assert logged(db)  # killed with part of the first page logged (its cursor not yet saved, as a rule)
        # While it is down: more talk, a check-in, an ad account's first message (a QR code) and its text ad.
        for i in range(300, 330):
            fake.text(CHAT, f"wm{i % 7}", f"今天读到第{i}页", msgtime=t0 + i * 60_000)
        fake.text(CHAT, "wm3", "打卡", msgtime=t0 + 331 * 60_000)
        fake.text(CHAT, "wmAD", AD, msgtime=t0 + 332 * 60_000)
        fake.image(CHAT, "wmAD", qr_png("https://ad.example/join?from=wechat"), msgtime=t0 + 333 * 60_000)
        proc = start(db, env)
        try:
            ours = [m for m, room in zip(fake.msgids, rooms(fake), strict=True) if room == CHAT]
            wait_for(lambda: {e.get("message_id") for e in logged(db)} >= set(ours) or proc.poll() is not None, 90,
                     "every message")  # fmt: skip
            wait_for(lambda: batch_tasks(db) or proc.poll() is not None, 30, "the staff task")
            assert proc.poll() is None, proc.communicate()[1]
        finally:
            _, err = stop_run(proc)
        # A third start resumes from the saved sequence number, not from the archive's beginning.
        saved, calls = fake.seq, len(fake.calls())
        for i in range(340, 345):
            fake.text(CHAT, f"wm{i % 7}", f"今天读到第{i}页", msgtime=t0 + i * 60_000)
        proc = start(db, env)
        try:
            ours = [m for m, room in zip(fake.msgids, rooms(fake), strict=True) if room == CHAT]
            wait_for(lambda: {e.get("message_id") for e in logged(db)} >= set(ours) or proc.poll() is not None, 60,
                     "the last messages")  # fmt: skip
            wait_for(lambda: cursor(db) == str(fake.seq) or proc.poll() is not None, 30, "the cursor")
        finally:
            stop_run(proc, signal.SIGKILL)
        assert fake.calls()[calls][0] == saved
    events = logged(db)
    ids = [e["message_id"] for e in events]
    assert sorted(ids) == sorted(ours)  # nothing lost, nothing twice; nothing of the other group
    assert cursor(db) == str(fake.seq)
    assert "Traceback" not in err
    app = App(db)
    with app.store.transaction() as conn:
        ledger = app.store.points.entries(conn, app.ws.id, community="读书会", member_key="wecom:wm3")
    assert [e.reason for e in ledger if e.reason == "checkin"] == ["checkin"]  # the check-in counted once
    tasks = batch_tasks(db)
    assert len(tasks) == 1  # the burst is one task for the owner: recall, remove, the replies
    items = tasks[0]["items"]
    kinds = [i["action"]["kind"] for i in items]
    assert "delete_message" in kinds and ("ban" in kinds or "remove" in kinds), kinds
    recalls = {i["evidence"]["content"]: i for i in items if i["action"]["kind"] == "delete_message"}
    assert recalls["text"]["evidence"]["text"] == AD and recalls["text"]["evidence"]["actor"] == "wmAD"
    # The picture was fetched because the group moderates, and its QR code read: the evidence says where it leads.
    assert "ad.example/join" in recalls["image"]["evidence"]["text"] and "qr" in recalls["image"]["action"]["reason"]
    replies = [i for i in items if i["action"]["kind"] == "post"]
    assert any("wm3" in str(i["action"].get("mentions", "")) for i in replies)  # the check-in's answer, by hand
    assert not api.templates  # no 群发 spent on answers
    app.close()


def rooms(fake: FakeArchive) -> list[str]:
    lines = (fake.folder / "chatdata.jsonl").read_bytes().splitlines()
    return [room_of(fake, orjson.loads(line)) for line in lines]


def room_of(fake: FakeArchive, entry: dict[str, Any]) -> str:
    import base64

    from cryptography.hazmat.primitives.asymmetric import padding

    key = fake.keys[entry["publickey_ver"]].decrypt(base64.b64decode(entry["encrypt_random_key"]), padding.PKCS1v15())
    raw = bytes.fromhex(entry["encrypt_chat_msg"])
    plain = bytes(b ^ key[i % len(key)] for i, b in enumerate(raw))[3:]
    return str(orjson.loads(plain).get("roomid", ""))


def cursor(db: str) -> str | None:
    with contextlib.suppress(Exception):
        rows = query(db, "select value from connector_cursor where connector='wecom' and name='archive_seq'")
        return str(rows[0][0]) if rows else None
    return None


def batch_tasks(db: str) -> list[dict[str, Any]]:
    with contextlib.suppress(Exception):
        rows = query(db, "select detail from staff_task where kind='batch' and status='open'")
        return [orjson.loads(r[0]) for r in rows]
    return []


def test_a_reply_on_wecom_is_handed_over_and_a_scheduled_post_stays_a_mass_post() -> None:
    from shequn.connectors import StaffReason, staff_reason

    at = datetime(2026, 12, 1, tzinfo=UTC)
    reply = Post(key="r", at=at, platform="wecom", group=CHAT, policy="checkin", cause="e1", text="打卡成功")
    scheduled = Post(key="s", at=at, platform="wecom", group=CHAT, policy="rhythm", text="早报")
    welcome = Post(key="w", at=at, platform="wecom", group=CHAT, policy="welcome", cause="e2", text="欢迎")
    assert staff_reason(reply) is StaffReason.CAPABILITY_MISSING
    assert staff_reason(scheduled) is None and staff_reason(welcome) is None


@pytest.mark.slow
@pytest.mark.parametrize(("lang", "words"), [("zh-CN", "找不到"), ("en", "does not exist")])
def test_shequn_run_refuses_to_start_without_the_library(tmp_path: Path, key1: Any, lang: str, words: str) -> None:
    db = str(tmp_path / "w.db")
    app = App(db)
    app.apply_spec(parse_spec(SPEC))
    app.close()
    fake = FakeArchive(tmp_path / "archive", {1: key1})
    env = {**os.environ, **fake.env(tmp_path / "nowhere.so", {1: write_key(key1, tmp_path / "v1.pem")})}
    env |= {"SHEQUN_WECOM_SECRET": SECRET, "SHEQUN_LANG": lang}
    out = subprocess.run(
        [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "wecom", "--for", "5"],
        env=env, capture_output=True, text=True, timeout=60, check=False,
    )  # fmt: skip
    assert out.returncode == 2 and "SHEQUN_WECOM_FINANCE_SDK" in out.stderr and words in out.stderr
    assert "Traceback" not in out.stderr


@pytest.mark.slow
def test_shequn_run_with_a_wrong_key_says_so_and_skips_nothing(tmp_path: Path, sdk_lib: Path, key1: Any) -> None:
    db = str(tmp_path / "w.db")
    app = App(db)
    app.apply_spec(parse_spec(SPEC))
    app.close()
    fake = FakeArchive(tmp_path / "archive", {1: key1})
    fake.text(CHAT, "wmA", "早")
    wrong = write_key(new_key(), tmp_path / "wrong.pem")
    with wecom_api() as api:
        env = {
            **os.environ,
            **fake.env(sdk_lib, {1: wrong}),
            "SHEQUN_WECOM_SECRET": SECRET,
            "SHEQUN_WECOM_API": api.url,
        }
        env |= {"SHEQUN_LANG": "en"}
        out = subprocess.run(
            [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "wecom", "--no-scheduler", "--for", "3"],
            env=env, capture_output=True, text=True, timeout=60, check=False,
        )  # fmt: skip
    assert out.returncode == 0, out.stderr
    assert "SHEQUN_WECOM_ARCHIVE_KEYS" in out.stderr and str(wrong) in out.stderr and "version 1" in out.stderr
    assert logged(db) == [] and not query(db, "select 1 from connector_cursor where name='archive_seq'")


def test_the_archive_copy_of_a_confirmed_mass_post_counts_once() -> None:
    from shequn.connectors.wecom.archive import mass_post_twin
    from shequn.domain import stable_id

    cursors = MemoryCursors()
    cursors.put("mass_recent", '["msgGZ1"]')
    cursors.put("mass:msgGZ1", orjson.dumps({"chat": CHAT, "owner": "owner1", "text": "本周读书会周六晚八点"}).decode())
    copy = message_event({**BASE, "from": "owner1", "roomid": CHAT, "msgtime": 1, "msgtype": "text",
                          "text": {"content": "本周读书会周六晚八点"}}, 5)  # fmt: skip
    assert isinstance(copy, Message)
    twin = mass_post_twin(copy, cursors)
    assert twin is not None and twin.from_bot and twin.id == stable_id("wecom", CHAT, "groupmsg", "msgGZ1")
    other = message_event({**BASE, "from": "wmA", "roomid": CHAT, "msgtime": 1, "msgtype": "text",
                           "text": {"content": "本周读书会周六晚八点"}}, 6)  # fmt: skip
    assert isinstance(other, Message) and mass_post_twin(other, cursors) is None  # a member quoting it is a member


def test_staff_tasks_gather_per_group_until_the_batch_is_closed(tmp_path: Path) -> None:
    from shequn.domain import DeleteMessage, Remove

    at = datetime(2026, 12, 1, tzinfo=UTC)
    app = App(str(tmp_path / "b.db"))
    app.apply_spec(parse_spec(SPEC))
    burst = [
        DeleteMessage(key=f"d{i}", at=at, community="读书会", platform="wecom", group=CHAT, message_id=f"m{i}")
        for i in range(3)
    ]
    with app.store.transaction() as conn:
        app.enqueue_actions(conn, [*burst, Remove(key="r", at=at, community="读书会", platform="wecom", group=CHAT,
                                                  target="wmAD")])  # fmt: skip
        app.enqueue_actions(conn, burst)  # decided again: nothing added
        tasks = app.store.tasks.list(conn, app.ws.id)
    assert len(tasks) == 1 and tasks[0].kind == "batch" and len(tasks[0].detail["items"]) == 4
    assert "4" in tasks[0].title
    with app.store.transaction() as conn:
        app.store.tasks.complete(conn, app.ws.id, tasks[0].id, by="owner1", now_ms=0)
        app.enqueue_actions(conn, [DeleteMessage(key="d9", at=at, community="读书会", platform="wecom", group=CHAT,
                                                 message_id="m9")])  # fmt: skip
        opened = app.store.tasks.list(conn, app.ws.id)
    assert len(opened) == 1 and opened[0].id != tasks[0].id and len(opened[0].detail["items"]) == 1
    app.close()


def test_the_task_list_shows_a_batchs_items_with_their_evidence() -> None:
    from shequn.services.live import batch_lines

    detail = {
        "batch": True,
        "items": [
            {"what": "撤回消息", "action": {"kind": "delete_message"}, "evidence": {"actor": "wmAD", "text": AD}},
            *[{"what": "回复", "action": {"kind": "post", "target": f"wm{i}"}} for i in range(11)],
        ],
    }
    lines = batch_lines(detail)
    assert lines[0] == f"  · 撤回消息 — wmAD: {AD[:40]}" and lines[1] == "  · 回复 — wm0"
    assert len(lines) == 11 and lines[-1] == "  · … +2"
