"""The Feishu connector against the fake open platform (``bench/feishu_fake.py``), in one process: the documented
payloads become events, the HTTP callback's encryption, signature and token (real AES and SHA-256), the SDK's long
connection with its protobuf frames, a gap filled from ``im.v1.message.list`` after a disconnection (nothing lost or
repeated), a card's button as the ``rules`` form, and the Open API's answers mapped to retries and staff tasks."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Awaitable, Callable
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson
import pytest

from shequn.connectors.base import MemoryCursors
from shequn.connectors.feishu.callback import RefusedError, encrypt, open_delivery, signature
from shequn.connectors.feishu.connector import FeishuConnector
from shequn.connectors.feishu.events import SKIPPED, events_of, history_message, read
from shequn.domain import (
    Ban,
    ContentKind,
    Delete,
    DeleteMessage,
    DirectMessage,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    Mute,
    Post,
    Remove,
    Reply,
    SetAnnouncement,
    Unmute,
    UserError,
)
from shequn.outbox.errors import PermanentSendError, RetryAfterError
from tests.support.feishu import APP_ID, APP_SECRET, FakeFeishu, ThreadedFeishu

CHAT = "oc_a0553eda9014c201e6969b478895c230"
KEY, TOKEN = "encrypt-key-abc", "verification-token-xyz"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def envelope(kind: str, event: dict[str, Any]) -> dict[str, Any]:
    return FakeFeishu.envelope(kind, event)


def received(msg_type: str, content: Any, **message: Any) -> dict[str, Any]:
    return envelope(
        "im.message.receive_v1",
        {
            "sender": {"sender_id": {"open_id": "ou_555", "union_id": "on_555"}, "sender_type": "user"},
            "message": {
                "message_id": "om_1",
                "create_time": "1700000000123",
                "chat_id": CHAT,
                "chat_type": "group",
                "message_type": msg_type,
                "content": orjson.dumps(content).decode(),
                **message,
            },
        },
    )


def test_documented_payloads_become_events() -> None:
    mention = {"key": "@_user_1", "id": {"open_id": "ou_666"}, "name": "小李"}
    (m,) = events_of(received("text", {"text": "@_user_1 看这个"}, mentions=[mention], parent_id="om_0"), APP_ID)
    assert isinstance(m, Message)
    assert (m.group, m.actor, m.message_id, m.reply_to, m.text) == (CHAT, "ou_555", "om_1", "om_0", "@小李 看这个")
    assert m.mentions == ("ou_666",) and m.at == datetime.fromtimestamp(1700000000.123, tz=UTC)
    post = {
        "title": "招聘",
        "content": [[{"tag": "text", "text": "加V"}, {"tag": "a", "href": "https://x.cn/a", "text": "链接"}]],
    }
    (p,) = events_of(received("post", post), APP_ID)
    assert isinstance(p, Message) and p.content is ContentKind.LINK and "加V" in p.text and "https://x.cn/a" in p.text
    assert read("post", orjson.dumps({"zh_cn": post}).decode()).text == p.text  # the history's locale wrapper
    image = read("image", '{"image_key":"img_v2_1"}')
    assert image.content is ContentKind.IMAGE and image.media == "img_v2_1"
    assert read("file", '{"file_key":"f","file_name":"a.pdf"}').media == "a.pdf"
    share = read("share_chat", '{"chat_id":"oc_other"}')
    assert share.content is ContentKind.CONTACT_CARD and share.media == "feishu-chat:oc_other"
    card = read("interactive", orjson.dumps({"elements": [{"tag": "div", "text": {"content": "日赚500"}}]}).decode())
    assert card.content is ContentKind.OTHER and "日赚500" in card.text
    # A private chat is not a group's business, except a 同意 to the rules the bot sent about a group.
    assert events_of(received("text", {"text": "hi"}, chat_type="p2p"), APP_ID, {"ou_555": CHAT}) == []
    assert events_of(received("text", {"text": "同意"}, chat_type="p2p"), APP_ID, {}) == []
    (agreed,) = events_of(received("text", {"text": "同意。"}, chat_type="p2p"), APP_ID, {"ou_555": CHAT})
    assert isinstance(agreed, FormAnswer) and (agreed.form, agreed.group, agreed.actor) == ("rules", CHAT, "ou_555")
    added = envelope(
        "im.chat.member.user.added_v1",
        {
            "chat_id": CHAT,
            "operator_id": {"open_id": "ou_900"},
            "users": [{"name": "小王", "user_id": {"open_id": "ou_7"}}],
        },
    )
    (j,) = events_of(added, APP_ID)
    assert isinstance(j, Join) and j.method is JoinMethod.INVITED and j.inviter == "ou_900" and j.actor_name == "小王"
    users = [{"name": "小王", "user_id": {"open_id": "ou_7"}}]
    (left,) = events_of(
        envelope(
            "im.chat.member.user.deleted_v1", {"chat_id": CHAT, "operator_id": {"open_id": "ou_7"}, "users": users}
        )
    )
    assert isinstance(left, Leave) and left.reason is LeaveReason.VOLUNTARY
    (kicked,) = events_of(
        envelope(
            "im.chat.member.user.deleted_v1", {"chat_id": CHAT, "operator_id": {"open_id": "ou_900"}, "users": users}
        )
    )
    assert isinstance(kicked, Leave) and kicked.reason is LeaveReason.REMOVED and kicked.by == "ou_900"
    (d,) = events_of(
        envelope("im.message.recalled_v1", {"chat_id": CHAT, "message_id": "om_1", "recall_type": "message_owner"})
    )
    assert isinstance(d, Delete) and d.message_id == "om_1"
    # A card's button names the form and the group.
    (f,) = events_of(FakeFeishu().click("ou_7", {"shequn_form": "rules", "group": CHAT}))
    assert isinstance(f, FormAnswer) and (f.form, f.group, f.actor) == ("rules", CHAT, "ou_7")
    assert events_of(FakeFeishu().click("ou_7", {"other": 1})) == []
    for kind in SKIPPED:
        assert events_of(envelope(kind, {"chat_id": CHAT})) == []
    # The history's item is the same message as the live event; the bot's own is not handed on.
    item = {
        "message_id": "om_1",
        "msg_type": "text",
        "create_time": "1700000000123",
        "chat_id": CHAT,
        "sender": {"id": "ou_555", "id_type": "open_id", "sender_type": "user"},
        "body": {"content": '{"text":"@_user_1 看这个"}'},
        "mentions": [{**mention, "id": "ou_666"}],
        "parent_id": "om_0",
    }
    (h,) = history_message(item, APP_ID)
    assert h.id == m.id and h == m
    assert history_message({**item, "sender": {"id": APP_ID, "sender_type": "app"}}, APP_ID) == []


def test_the_callback_checks_signature_token_and_freshness_with_real_encryption() -> None:
    fake = FakeFeishu()
    event = received("text", {"text": "hi"})
    headers, body = fake.delivery(event, encrypt_key=KEY)
    opened = open_delivery(headers, body, verification_token=TOKEN, encrypt_key=KEY)
    assert opened.event == event and opened.challenge is None
    with pytest.raises(RefusedError, match="signature"):
        open_delivery(
            *fake.delivery(event, encrypt_key=KEY, sign_with="guess"), verification_token=TOKEN, encrypt_key=KEY
        )
    with pytest.raises(RefusedError, match="token"):
        open_delivery(headers, body, verification_token="another-token", encrypt_key=KEY)
    with pytest.raises(RefusedError, match="stale"):
        old = fake.delivery(event, encrypt_key=KEY, timestamp=int(time.time()) - 3600)
        open_delivery(*old, verification_token=TOKEN, encrypt_key=KEY)
    with pytest.raises(RefusedError, match="plain"):
        open_delivery(headers, orjson.dumps(event), verification_token=TOKEN, encrypt_key=KEY)
    with pytest.raises(RefusedError, match="signature"):  # an event without the signature headers
        open_delivery({}, body, verification_token=TOKEN, encrypt_key=KEY)
    with pytest.raises(RefusedError, match="decrypt"):  # encrypted with another key
        open_delivery(
            *fake.delivery(event, encrypt_key="other", sign_with=KEY), verification_token=TOKEN, encrypt_key=KEY
        )
    # The URL challenge comes encrypted but unsigned; it is answered with its challenge.
    challenge = {"challenge": "ajls384kdjx98XX", "token": TOKEN, "type": "url_verification"}
    plain = orjson.dumps({"encrypt": encrypt(orjson.dumps(challenge), KEY, os.urandom(16))})
    assert open_delivery({}, plain, verification_token=TOKEN, encrypt_key=KEY).challenge == "ajls384kdjx98XX"
    # Without an encrypt key: the token alone, in the clear.
    assert open_delivery({}, orjson.dumps(event), verification_token=TOKEN, encrypt_key="").event == event
    # The signature is Feishu's documented one: sha256(timestamp + nonce + encrypt_key + body), hex.
    import hashlib

    assert signature("1", "n", "k", b"{}") == hashlib.sha256(b"1nk{}").hexdigest()


def test_configuration_errors_are_plain() -> None:
    with pytest.raises(UserError, match="SHEQUN_FEISHU_APP_ID"):
        FeishuConnector.from_env({})
    env = {"SHEQUN_FEISHU_APP_ID": APP_ID, "SHEQUN_FEISHU_APP_SECRET": APP_SECRET}
    with pytest.raises(UserError, match="SHEQUN_FEISHU_VERIFICATION_TOKEN"):
        FeishuConnector.from_env({**env, "SHEQUN_FEISHU_LISTEN": "127.0.0.1:9000"})
    with pytest.raises(UserError, match="SHEQUN_FEISHU_LISTEN"):
        FeishuConnector.from_env({**env, "SHEQUN_FEISHU_LISTEN": "localhost", "SHEQUN_FEISHU_VERIFICATION_TOKEN": "t"})
    with pytest.raises(UserError, match="SHEQUN_FEISHU_DOMAIN"):
        FeishuConnector.from_env({**env, "SHEQUN_FEISHU_DOMAIN": "larksuite"})
    assert FeishuConnector.from_env({**env, "SHEQUN_FEISHU_DOMAIN": "lark"}).domain == "https://open.larksuite.com"
    assert FeishuConnector.from_env(env).domain == "https://open.feishu.cn"
    assert APP_SECRET not in repr(FeishuConnector.from_env(env))


async def until(check: Callable[[], Any], what: str, timeout: float = 15) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)
    return value


def run(test: Callable[[ThreadedFeishu, FeishuConnector, list[Event]], Awaitable[None]], **options: Any) -> None:
    fake = FakeFeishu()
    fake.chat(CHAT, "读书会一群", {"ou_555": "小王", "ou_666": "小李"})
    threaded = ThreadedFeishu(fake)
    port = threaded(fake.serve())

    async def main() -> None:
        feishu = FeishuConnector(app_id=APP_ID, app_secret=APP_SECRET, domain=f"http://127.0.0.1:{port}", **options)
        feishu.attach(cursors=MemoryCursors(), groups=frozenset({CHAT}))
        got: list[Event] = []

        async def sink(event: Event) -> None:
            got.append(event)

        await feishu.start(sink)
        try:
            await test(threaded, feishu, got)
        finally:
            await feishu.stop()

    try:
        asyncio.run(main())
    finally:
        threaded.close()


def texts(got: list[Event]) -> list[str]:
    return [e.text for e in got if isinstance(e, Message)]


def test_the_long_connection_delivers_and_a_disconnection_loses_and_repeats_nothing() -> None:
    async def test(threaded: ThreadedFeishu, feishu: FeishuConnector, got: list[Event]) -> None:
        fake = threaded.fake
        await until(lambda: fake.connections == 1 and feishu.stats["fills"] == 1, "the long connection")
        await until(lambda: len([e for e in got if isinstance(e, Join)]) == 2, "the roster")
        assert feishu.cursors.get(f"name:{CHAT}") == "读书会一群"
        _, event = fake.say(CHAT, "ou_555", "大家好")
        threaded(fake.push(event))
        await until(lambda: "大家好" in texts(got), "the live message")
        (hello,) = [e for e in got if isinstance(e, Message)]
        assert hello.actor_name == "小王"  # from the member list: Feishu's messages carry no name
        await until(lambda: fake.acks, "the SDK's answer to the frame")
        assert fake.acks[0]["code"] == 200
        # The connection drops; what is said meanwhile is never pushed, and comes from the history.
        threaded(fake.drop())
        for text in ("断线时一", "断线时二"):
            fake.say(CHAT, "ou_666", text)
        await until(lambda: fake.connections == 2, "the SDK's reconnection", timeout=30)
        await until(lambda: "断线时二" in texts(got), "the gap filled")
        _, event = fake.say(CHAT, "ou_555", "重连之后")
        threaded(fake.push(event))
        threaded(fake.push(event))  # Feishu may deliver an event twice
        await until(lambda: "重连之后" in texts(got), "live again")
        await asyncio.sleep(0.3)
        assert texts(got) == ["大家好", "断线时一", "断线时二", "重连之后"]
        assert feishu.stats["gap_filled"] == 2 and feishu.stats["repeats"] >= 1
        # The rules card's button comes back over the same connection as the rules form; the answer is a toast.
        threaded(fake.push(fake.click("ou_666", {"shequn_form": "rules", "group": CHAT})))
        form = await until(lambda: [e for e in got if isinstance(e, FormAnswer)], "the rules form")
        assert form[0].form == "rules" and form[0].actor == "ou_666" and form[0].group == CHAT
        await until(lambda: len(fake.acks) >= 4, "the card's answer")
        assert any(
            "toast" in orjson.loads(__import__("base64").b64decode(a["data"])) for a in fake.acks if a.get("data")
        )

    run(test)


def act(cls: Any, **fields: Any) -> Any:
    fields.setdefault("group", CHAT)
    return cls(
        key=f"k:{cls.__name__}:{fields.get('target', '')}:{fields.get('message_id', '')}:{fields.get('text')}",
        at=T0,
        platform="feishu",
        **fields,
    )


def test_actions_go_through_the_open_api_and_refusals_become_retries_or_staff_reasons() -> None:
    async def test(threaded: ThreadedFeishu, feishu: FeishuConnector, got: list[Event]) -> None:
        fake = threaded.fake
        chat = fake.chats[CHAT]
        posted = await feishu.send(act(Post, text="读书会早报", pin=True, mentions=("ou_555",)))
        assert chat.pins == [posted.platform_id]
        assert fake.texts(CHAT)[-1] == '<at user_id="ou_555"></at> 读书会早报'
        again = await feishu.send(act(Post, text="读书会早报", pin=True, mentions=("ou_555",)))  # a resend: same key
        assert again.platform_id == posted.platform_id and len(fake.texts(CHAT)) == 1
        mid, _ = fake.say(CHAT, "ou_555", "签到")
        await feishu.send(act(Reply, message_id=mid, text="签到成功"))
        assert chat.messages[-1]["parent_id"] == mid
        # The rules go privately as a card whose button answers the rules form in this chat.
        rules = act(DirectMessage, target="ou_666", text="群规：不发广告", policy="rules")
        await feishu.send(replace(rules, key="rules:e1:rules"))
        (card,) = fake.direct
        assert card["msg_type"] == "interactive" and card["receive_id"] == "ou_666"
        button = orjson.loads(card["body"]["content"])["elements"][1]["actions"][0]
        assert button["value"] == {"shequn_form": "rules", "group": CHAT}
        assert feishu.cursors.get("dm:ou_666") == CHAT  # where a typed 同意 belongs
        ad, _ = fake.say(CHAT, "ou_666", "加V")
        assert (await feishu.send(act(DeleteMessage, message_id=ad))).detail == {}
        assert (await feishu.send(act(DeleteMessage, message_id=ad))).detail == {"already_gone": True}
        await feishu.send(act(Remove, target="ou_666"))
        assert "ou_666" not in chat.members
        assert (await feishu.send(act(Ban, target="ou_666"))).detail["already_gone"] is True
        await feishu.send(act(Mute, target=""))
        assert chat.moderation == "only_owner"
        await feishu.send(act(Unmute, target=""))
        assert chat.moderation == "all_members"
        with pytest.raises(PermanentSendError, match=r"per-member mute|单人禁言"):
            await feishu.send(act(Mute, target="ou_555"))
        chat.announcement = ["旧公告"]
        await feishu.send(act(SetAnnouncement, text="第一行\n第二行"))
        assert chat.announcement == ["第一行", "第二行"]
        # Rate limited: retry after the reset the platform names, for the whole bot.
        fake.fail_next["/open-apis/im/v1/messages"] = (429, 99991400, {"x-ogw-ratelimit-reset": "7"})
        with pytest.raises(RetryAfterError) as limited:
            await feishu.send(act(Post, text="太快了"))
        assert limited.value.seconds == 7 and limited.value.scope == "bot"
        # Not an admin: a staff task's reason naming the chat; not in the chat: another.
        chat.bot_admin = False
        with pytest.raises(PermanentSendError, match=CHAT):
            await feishu.send(act(Remove, target="ou_555"))
        with pytest.raises(PermanentSendError, match=r"not in Feishu chat|不在飞书群"):
            await feishu.send(act(Post, text="x", group="oc_elsewhere"))
        # The bot added to a chat: a bound one's members are read again; another one is only logged (to bind it).
        before = len(fake.of("GET", f"/open-apis/im/v1/chats/{CHAT}/members"))
        await feishu.receive(envelope("im.chat.member.bot.added_v1", {"chat_id": CHAT}))
        await feishu.receive(envelope("im.chat.member.bot.added_v1", {"chat_id": "oc_new"}))
        assert len(fake.of("GET", f"/open-apis/im/v1/chats/{CHAT}/members")) == before + 1
        assert fake.of("GET", "/open-apis/im/v1/chats/oc_new") == []

    run(test)


def test_the_http_callback_takes_signed_events_and_refuses_the_rest() -> None:
    import socket

    import aiohttp

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        listen_port = s.getsockname()[1]

    async def test(threaded: ThreadedFeishu, feishu: FeishuConnector, got: list[Event]) -> None:
        fake = threaded.fake
        url = f"http://127.0.0.1:{listen_port}/feishu/events"
        await until(lambda: feishu.stats["fills"] == 1 and not feishu._gate.locked(), "the catch-up")
        _, event = fake.say(CHAT, "ou_555", "回调来的消息")
        async with aiohttp.ClientSession() as http:
            headers, body = fake.delivery(event, encrypt_key=KEY)
            async with http.post(url, data=body, headers=headers) as r:
                assert r.status == 200
            bad_headers, bad_body = fake.delivery(event, encrypt_key=KEY, sign_with="forged")
            async with http.post(url, data=bad_body, headers=bad_headers) as r:
                assert r.status == 401
            wrong = {**event, "header": {**event["header"], "token": "wrong"}}
            async with http.post(
                url, data=fake.delivery(wrong, encrypt_key=KEY)[1], headers=fake.delivery(wrong, encrypt_key=KEY)[0]
            ) as r:
                assert r.status == 401
            challenge = {"challenge": "c-123", "token": TOKEN, "type": "url_verification"}
            plain = orjson.dumps({"encrypt": encrypt(orjson.dumps(challenge), KEY, os.urandom(16))})
            async with http.post(url, data=plain) as r:
                assert r.status == 200 and (await r.json()) == {"challenge": "c-123"}
            async with http.post(url, data=b"x" * (2 << 20)) as r:
                assert r.status == 413
            card = fake.click("ou_555", {"shequn_form": "rules", "group": CHAT})
            ch, cb = fake.delivery(card, encrypt_key=KEY)
            async with http.post(url, data=cb, headers=ch) as r:
                assert r.status == 200 and "toast" in await r.json()
        assert texts(got) == ["回调来的消息"]
        assert [e.form for e in got if isinstance(e, FormAnswer)] == ["rules"]
        assert feishu.stats["refused"] == 2
        assert fake.connections == 0  # no long connection in callback mode

    run(test, listen=f"127.0.0.1:{listen_port}", verification_token=TOKEN, encrypt_key=KEY)


def test_a_wrong_app_secret_is_logged_without_the_secret_and_stops_cleanly(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeFeishu()
    threaded = ThreadedFeishu(fake)
    port = threaded(fake.serve())

    async def main() -> None:
        feishu = FeishuConnector(app_id=APP_ID, app_secret="not-the-secret", domain=f"http://127.0.0.1:{port}")
        feishu.attach(cursors=MemoryCursors(), groups=frozenset())

        async def sink(event: Event) -> None:
            raise AssertionError(event)

        await feishu.start(sink)
        try:
            await until(lambda: "long connection failed" in caplog.text, "the error line")
        finally:
            await feishu.stop()

    try:
        asyncio.run(main())
    finally:
        threaded.close()
    assert fake.connections == 0 and "not-the-secret" not in caplog.text
