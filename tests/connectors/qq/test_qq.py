"""The QQ connector against the fake OneBot v11 implementation, in one process: the documented payloads become
events, both WebSocket directions with the token checked, echo and heartbeats, retcodes for a missing action and a
missing admin right, and a gap filled from the history after a reconnection, nothing lost or repeated."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from shequn.connectors.base import MemoryCursors
from shequn.connectors.qq.connector import QQConnector
from shequn.connectors.qq.events import SKIPPED, answers_of, events_of
from shequn.connectors.qq.segments import compose, parse_cq, read
from shequn.domain import (
    AnswerJoinRequest,
    Ban,
    ContentKind,
    Delete,
    DirectMessage,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    Mute,
    NicknameChange,
    Post,
    SetAnnouncement,
    Unmute,
    UserError,
)
from shequn.outbox.errors import PermanentSendError
from tests.support.onebot import BOT, FakeOneBot

GROUP = 123456789
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
MINI = (
    '{"app":"com.tencent.miniapp_01","prompt":"[QQ小程序]赚钱","meta":{"detail_1":{"title":"日赚500",'
    '"desc":"加V money20459","qqdocurl":"https://m.q.qq.com/a/s/abc"}}}'
)


def test_documented_payloads_become_events() -> None:
    msg = {
        "time": 1700000000,
        "self_id": BOT,
        "post_type": "message",
        "message_type": "group",
        "sub_type": "normal",
        "message_id": 42,
        "group_id": GROUP,
        "user_id": 555,
        "message": [
            {"type": "reply", "data": {"id": "41"}},
            {"type": "at", "data": {"qq": "666"}},
            {"type": "at", "data": {"qq": "all"}},
            {"type": "text", "data": {"text": " 看这个"}},
            {"type": "json", "data": {"data": MINI}},
        ],
        "sender": {"user_id": 555, "nickname": "小王", "card": "王五-上海"},
    }
    (m,) = events_of(msg, str(BOT))
    assert isinstance(m, Message)
    assert (m.group, m.actor, m.actor_name, m.message_id, m.reply_to) == (str(GROUP), "555", "王五-上海", "42", "41")
    assert m.mentions == ("666",) and m.content is ContentKind.MINI_PROGRAM
    assert "看这个" in m.text and "money20459" in m.text and "https://m.q.qq.com/a/s/abc" in m.text
    assert m.extra["segments"] == ["reply", "at", "at", "text", "json"]
    # The same message as CQ codes (message_format: string) reads the same.
    assert read("[CQ:reply,id=41][CQ:at,qq=666] 看这个&#91;1&#93;").text == "看这个[1]"
    assert parse_cq("a[CQ:image,file=x.png,url=http://i/x.png]b")[1] == {
        "type": "image",
        "data": {"file": "x.png", "url": "http://i/x.png"},
    }
    assert read([{"type": "image", "data": {"file": "x.png"}}]).content is ContentKind.IMAGE
    assert read([{"type": "face", "data": {"id": "1"}}]).content is ContentKind.STICKER
    assert read([{"type": "record", "data": {"file": "a.amr"}}]).content is ContentKind.VOICE
    assert read([{"type": "forward", "data": {"id": "f"}}]).forwarded
    assert read([{"type": "contact", "data": {"type": "qq", "id": "777"}}]).media == "qq:777"
    # The bot's own messages are not handed on.
    assert events_of({**msg, "user_id": BOT}, str(BOT)) == []
    base = {"time": 1700000000, "self_id": BOT, "post_type": "notice", "group_id": GROUP, "user_id": 555}
    (j,) = events_of({**base, "notice_type": "group_increase", "sub_type": "invite", "operator_id": 666})
    assert isinstance(j, Join) and j.method is JoinMethod.INVITED and j.inviter == "666"
    (left,) = events_of({**base, "notice_type": "group_decrease", "sub_type": "kick", "operator_id": 666})
    assert isinstance(left, Leave) and left.reason is LeaveReason.REMOVED and left.by == "666"
    assert events_of({**base, "notice_type": "group_decrease", "sub_type": "kick_me", "user_id": BOT}, str(BOT)) == []
    (d,) = events_of({**base, "notice_type": "group_recall", "operator_id": 555, "message_id": 42})
    assert isinstance(d, Delete) and d.message_id == "42"
    (n,) = events_of({**base, "notice_type": "group_card", "card_old": "小王", "card_new": "王五-上海"})
    assert isinstance(n, NicknameChange) and n.new == "王五-上海"
    app, req = events_of(
        {
            **base,
            "post_type": "request",
            "request_type": "group",
            "sub_type": "add",
            "comment": "问题：你为什么加入读书会？\n答案：喜欢读书",
            "flag": "f1",
        }
    )
    assert isinstance(app, FormAnswer) and app.form == "application" and app.answers["answer"] == "喜欢读书"
    assert isinstance(req, FormAnswer) and req.form == "join_request"
    assert answers_of("想进群") == {"answer": "想进群", "comment": "想进群"}
    for post, kind in SKIPPED:
        assert events_of({**base, "post_type": post, "notice_type": kind, "message_type": kind}) == []
    # A private "同意" belongs to the group the bot wrote to the person about.
    private = {
        "time": 1,
        "post_type": "message",
        "message_type": "private",
        "user_id": 555,
        "message_id": 9,
        "message": "同意",
    }
    (rules,) = events_of(private, str(BOT), {"555": str(GROUP)})
    assert isinstance(rules, FormAnswer) and rules.form == "rules" and rules.group == str(GROUP)
    assert events_of(private, str(BOT), {}) == []


def test_compose_puts_the_reply_then_the_mentions_then_the_text() -> None:
    assert compose("你好", reply_to="41", mentions=("666",)) == [
        {"type": "reply", "data": {"id": "41"}},
        {"type": "at", "data": {"qq": "666"}},
        {"type": "text", "data": {"text": " 你好"}},
    ]


def test_configuration_errors_are_plain() -> None:
    with pytest.raises(UserError, match=r"SHEQUN_ONEBOT_WS.*SHEQUN_ONEBOT_LISTEN"):
        QQConnector.from_env({})
    with pytest.raises(UserError, match="SHEQUN_ONEBOT_TOKEN"):
        QQConnector.from_env({"SHEQUN_ONEBOT_LISTEN": "127.0.0.1:6700"})
    with pytest.raises(UserError, match="SHEQUN_ONEBOT_LISTEN"):
        QQConnector.from_env({"SHEQUN_ONEBOT_LISTEN": "localhost", "SHEQUN_ONEBOT_TOKEN": "long-enough"})
    with pytest.raises(UserError, match="SHEQUN_ONEBOT_WS"):
        QQConnector.from_env({"SHEQUN_ONEBOT_WS": "http://127.0.0.1:3001"})
    c = QQConnector.from_env({"SHEQUN_ONEBOT_WS": "ws://127.0.0.1:3001", "SHEQUN_ONEBOT_TOKEN": "s3cret-token"})
    assert "s3cret" not in repr(c)


def act(cls: Any, **fields: Any) -> Any:
    fields.setdefault("group", str(GROUP))
    return cls(key=f"k:{cls.__name__}:{fields.get('target', '')}", at=T0, platform="qq", **fields)


async def until(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


def run(test: Callable[[FakeOneBot, QQConnector, list[Event]], Awaitable[None]], **fake: Any) -> None:
    async def main() -> None:
        bot = FakeOneBot(token="s3cret-token", heartbeat=0.2, **fake)
        bot.group(GROUP, "读书会一群", members={555: "小王", 666: "小李"})
        port = await bot.serve()
        qq = QQConnector(url=f"ws://127.0.0.1:{port}/", token="s3cret-token", backoff=(0.05, 0.2))
        qq.attach(cursors=MemoryCursors(), groups=frozenset({str(GROUP)}))
        got: list[Event] = []

        async def sink(event: Event) -> None:
            got.append(event)

        await qq.start(sink)
        try:
            assert await qq.wait_connected(10)
            await test(bot, qq, got)
        finally:
            await qq.stop()
            await bot.drop()

    asyncio.run(main())


def test_forward_socket_join_request_and_actions() -> None:
    async def test(bot: FakeOneBot, qq: QQConnector, got: list[Event]) -> None:
        assert qq.self_id == str(BOT) and qq.implementation == "FakeOneBot 1.0"
        assert qq.cursors.get(f"name:{GROUP}") == "读书会一群"
        roster = [e for e in got if isinstance(e, Join)]
        assert {e.actor for e in roster} == {"555", "666"} and all(e.method is JoinMethod.ROSTER for e in roster)
        await bot.request(GROUP, 777, "问题：为什么加入？\n答案：加我微信")
        await until(lambda: any(isinstance(e, FormAnswer) and e.form == "join_request" for e in got), "the request")
        # The refusal's private message becomes the reason QQ shows the applicant; then the answer.
        await qq.send(act(DirectMessage, target="777", text="抱歉，回答不符合要求"))
        assert bot.private == []
        await qq.send(act(AnswerJoinRequest, target="777", approve=False, reason="refused_screening"))
        assert bot.answered[0]["approve"] is False and bot.answered[0]["reason"] == "抱歉，回答不符合要求"
        mid = await bot.say(GROUP, 555, "➕V：money20459")
        await until(lambda: any(isinstance(e, Message) and e.message_id == str(mid) for e in got), "the message")
        from shequn.domain import DeleteMessage

        await qq.send(act(DeleteMessage, target="555", message_id=str(mid)))
        await until(lambda: any(isinstance(e, Delete) for e in got), "the recall notice")
        await qq.send(act(Ban, target="555"))
        assert bot.of("set_group_kick")[-1] == {"group_id": GROUP, "user_id": 555, "reject_add_request": True}
        await qq.send(act(Mute))
        assert bot.groups[GROUP].whole_ban
        await qq.send(act(Unmute))
        assert not bot.groups[GROUP].whole_ban
        await qq.send(act(Mute, target="666", until=None))
        assert bot.groups[GROUP].bans[666] == 30 * 24 * 3600
        pinned = await qq.send(act(Post, text="群规第二版", pin=True, mentions=("666",)))
        assert bot.groups[GROUP].essence == [int(pinned.platform_id)]
        assert bot.sent(GROUP)[-1]["message"][0] == {"type": "at", "data": {"qq": "666"}}
        await qq.send(act(SetAnnouncement, text="本周读《乡土中国》"))
        assert bot.groups[GROUP].notices == ["本周读《乡土中国》"]
        assert bot.connections == 1 and bot.refused == 0

    run(test)


def test_a_missing_action_and_a_missing_admin_right_become_reasons() -> None:
    async def test(bot: FakeOneBot, qq: QQConnector, got: list[Event]) -> None:
        with pytest.raises(PermanentSendError, match="_send_group_notice") as missing:
            await qq.send(act(SetAnnouncement, text="公告"))
        assert "FakeOneBot 1.0" in str(missing.value) and "1404" in str(missing.value)
        with pytest.raises(PermanentSendError, match="_send_group_notice"):  # remembered: not asked again
            await qq.send(act(SetAnnouncement, text="公告"))
        assert len(bot.of("_send_group_notice")) == 1
        bot.groups[GROUP].members[BOT]["role"] = "member"
        await bot.push(
            {
                "post_type": "notice",
                "notice_type": "group_admin",
                "sub_type": "unset",
                "group_id": GROUP,
                "user_id": BOT,
            }
        )
        await until(lambda: qq._roles.get(str(GROUP)) == "member", "the admin notice")
        with pytest.raises(PermanentSendError, match="不是管理员") as no_right:
            await qq.send(act(Ban, target="555"))
        assert str(GROUP) in str(no_right.value)
        assert bot.of("set_group_kick") == []  # checked before asking
        qq._roles[str(GROUP)] = ""  # the role unknown: the implementation's own refusal counts the same
        with pytest.raises(PermanentSendError, match="NOT_MANAGEABLE"):
            await qq.send(act(Mute))

    run(test, missing=frozenset({"_send_group_notice"}))


def test_a_reconnection_fills_the_gap_and_repeats_nothing() -> None:
    async def test(bot: FakeOneBot, qq: QQConnector, got: list[Event]) -> None:
        before = [await bot.say(GROUP, 555, f"断线前 {i}") for i in range(3)]
        await until(lambda: len([e for e in got if isinstance(e, Message)]) == 3, "the live messages")
        port = bot.port
        await bot.drop()
        await until(lambda: not qq._connected.is_set(), "the disconnection")
        missed = [await bot.say(GROUP, 666, f"断线中 {i}") for i in range(60)]  # more than one history page
        await bot.serve(port)
        await until(lambda: bot.connections == 2 and qq._connected.is_set(), "the reconnection")
        after = await bot.say(GROUP, 555, "重连后")
        await until(lambda: any(isinstance(e, Message) and e.message_id == str(after) for e in got), "live again")
        ids = [e.message_id for e in got if isinstance(e, Message)]
        assert ids == [str(m) for m in before + missed + [after]]
        assert qq.stats["gap_filled"] == 60

    run(test)


def test_reverse_socket_checks_the_token_and_answers_over_it() -> None:
    async def main() -> None:
        bot = FakeOneBot(heartbeat=0.2)
        bot.group(GROUP, "读书会一群", members={555: "小王"})
        qq = QQConnector(listen="127.0.0.1:0", token="right-token-123")
        qq.attach(cursors=MemoryCursors(), groups=frozenset({str(GROUP)}))
        got: list[Event] = []

        async def sink(event: Event) -> None:
            got.append(event)

        import socket

        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        qq.listen = f"127.0.0.1:{port}"
        await qq.start(sink)
        url = f"ws://127.0.0.1:{port}/onebot/v11/ws"
        try:
            assert await bot.dial(url, "wrong-token") == 401
            assert await bot.dial(url, "") == 401
            dialled = asyncio.create_task(bot.dial(url, "right-token-123"))
            assert await qq.wait_connected(10)
            await bot.request(GROUP, 777, "喜欢读书")
            await until(lambda: any(isinstance(e, FormAnswer) and e.form == "join_request" for e in got), "request")
            await qq.send(act(AnswerJoinRequest, target="777", approve=True))
            assert bot.answered == [
                {
                    "group_id": GROUP,
                    "user_id": 777,
                    "flag": bot.answered[0]["flag"],
                    "sub_type": "add",
                    "type": "add",
                    "approve": True,
                }
            ]
            assert qq._server is not None and qq._server.refused == 2
        finally:
            await qq.stop()
            await bot.drop()
        await asyncio.wait_for(dialled, 5)

    asyncio.run(main())
