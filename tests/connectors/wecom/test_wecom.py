"""WeCom customer groups: callback crypto built to the spec (tampered, foreign and replayed payloads refused), the
callback through ``shequn serve``, the API client against a local server (token refresh on 42001, 45009), roster
diffs, 群发 with its monthly quota, staff tasks for what WeCom forbids, and live-code rotation."""

from __future__ import annotations

import asyncio
import base64
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.app import App
from shequn.connectors import StaffReason, capabilities, route
from shequn.connectors.base import MemoryCursors
from shequn.connectors.wecom.api import WeComAPI
from shequn.connectors.wecom.connector import WeComConnector, handle_callback
from shequn.connectors.wecom.crypto import CallbackCrypto, CallbackError, signature
from shequn.domain import (
    ActionKind,
    CreateInviteLink,
    DeleteMessage,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Mute,
    Post,
    Remove,
    VirtualClock,
)
from shequn.outbox import OutboxRunner, VirtualTimer
from shequn.outbox.errors import RetryAfterError
from shequn.playbook.spec import parse_spec
from tests.connectors.wecom.server import CORP, SECRET, FakeWeCom

TOKEN = "QDG6eK"
AES = base64.b64encode(bytes(range(32))).decode().rstrip("=")  # 43 characters
CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SPEC = f'name: 客户群\ntype: growth\nthreshold: {{kind: none}}\ngroups:\n  - {{platform: wecom, id: "{CHAT}"}}\n'


def change_xml(
    detail: str, members: list[str], *, scene: str = "JoinScene", value: str = "3", ts: int = 1795000000
) -> bytes:
    items = "".join(f"<Item><![CDATA[{m}]]></Item>" for m in members)
    return (
        f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><FromUserName><![CDATA[sys]]></FromUserName>"
        f"<CreateTime>{ts}</CreateTime><MsgType><![CDATA[event]]></MsgType>"
        f"<Event><![CDATA[change_external_chat]]></Event><ChatId><![CDATA[{CHAT}]]></ChatId>"
        f"<ChangeType><![CDATA[update]]></ChangeType><UpdateDetail><![CDATA[{detail}]]></UpdateDetail>"
        f"<{scene}>{value}</{scene}><MemChangeCnt>{len(members)}</MemChangeCnt>"
        f"<MemChangeList>{items}</MemChangeList><CurMemVer>v{ts}</CurMemVer></xml>"
    ).encode()


def envelope(
    crypto: CallbackCrypto, inner: bytes, *, nonce: str = "n1", ts: str | None = None
) -> tuple[dict[str, str], bytes]:
    ts = ts or str(int(time.time()))
    enc = crypto.encrypt(inner)
    body = f"<xml><ToUserName><![CDATA[{CORP}]]></ToUserName><Encrypt><![CDATA[{enc}]]></Encrypt></xml>".encode()
    return {"msg_signature": signature(TOKEN, ts, nonce, enc), "timestamp": ts, "nonce": nonce}, body


# -- crypto -----------------------------------------------------------------------------------------------------


def test_crypto_round_trip_and_url_verification() -> None:
    crypto = CallbackCrypto(TOKEN, AES, CORP)
    enc = crypto.encrypt(b"hello", random16=b"0" * 16)
    raw = base64.b64decode(enc)
    assert len(raw) % 32 == 0  # PKCS#7 to 32-byte blocks
    assert crypto.decrypt(enc) == b"hello"
    ts = str(int(time.time()))
    status, reply, events = handle_callback(
        crypto,
        "GET",
        {"msg_signature": signature(TOKEN, ts, "x", enc), "timestamp": ts, "nonce": "x", "echostr": enc},
        b"",
    )
    assert (status, reply, events) == (200, b"hello", [])


def test_tampered_foreign_stale_and_replayed_callbacks_are_refused() -> None:
    crypto = CallbackCrypto(TOKEN, AES, CORP)
    params, body = envelope(crypto, change_xml("add_member", ["wmA"]))
    assert handle_callback(crypto, "POST", params, body)[0] == 200
    assert handle_callback(crypto, "POST", params, body)[0] == 403  # replayed
    params, body = envelope(crypto, change_xml("add_member", ["wmB"]), nonce="n2")
    at = body.index(b"<Encrypt><![CDATA[") + 30  # one byte inside the ciphertext (not every copy of it in the XML)
    tampered = body[:at] + (b"A" if body[at : at + 1] != b"A" else b"B") + body[at + 1 :]
    assert handle_callback(crypto, "POST", params, tampered)[0] == 403  # the signature no longer matches
    resigned = dict(params, msg_signature="0" * 40)
    assert handle_callback(crypto, "POST", resigned, body)[0] == 403
    stale = str(int(time.time()) - 3600)
    params, body = envelope(crypto, change_xml("add_member", ["wmC"]), nonce="n3", ts=stale)
    assert handle_callback(crypto, "POST", params, body)[0] == 403
    other = CallbackCrypto(TOKEN, AES, "ww-another-corp")  # same keys, another corp's receive id
    params, body = envelope(other, change_xml("add_member", ["wmD"]), nonce="n4")
    assert handle_callback(crypto, "POST", params, body)[0] == 403
    with pytest.raises(CallbackError, match="receive id"):
        crypto.decrypt(other.encrypt(b"x"))


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=200))
def test_decrypt_refuses_garbage_cleanly(data: bytes) -> None:
    crypto = CallbackCrypto(TOKEN, AES, CORP)
    with pytest.raises(CallbackError):
        crypto.decrypt(base64.b64encode(data).decode())


def test_change_events() -> None:
    crypto = CallbackCrypto(TOKEN, AES, CORP)
    params, body = envelope(crypto, change_xml("add_member", ["wmA", "wmB"], value="0"))
    _, _, joins = handle_callback(crypto, "POST", params, body)
    assert [(e.actor, e.method) for e in joins if isinstance(e, Join)] == [
        ("wmA", JoinMethod.INVITED),
        ("wmB", JoinMethod.INVITED),
    ]
    params, body = envelope(crypto, change_xml("del_member", ["wmA"], scene="QuitScene", value="1"), nonce="n9")
    _, _, leaves = handle_callback(crypto, "POST", params, body)
    assert isinstance(leaves[0], Leave) and leaves[0].reason is LeaveReason.REMOVED


def test_callback_through_shequn_serve(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from shequn.web.app import create_app

    monkeypatch.setenv("SHEQUN_WECOM_TOKEN", TOKEN)
    monkeypatch.setenv("SHEQUN_WECOM_AES_KEY", AES)
    monkeypatch.setenv("SHEQUN_WECOM_CORP_ID", CORP)
    app = App(str(tmp_path / "w.db"))
    app.apply_spec(parse_spec(SPEC))
    client = TestClient(create_app(app, secure_cookies=False))
    crypto = CallbackCrypto(TOKEN, AES, CORP)
    ts = str(int(time.time()))
    echo = crypto.encrypt(b"echo-123")
    r = client.get(
        "/wecom/callback",
        params={"msg_signature": signature(TOKEN, ts, "e", echo), "timestamp": ts, "nonce": "e", "echostr": echo},
    )
    assert r.status_code == 200 and r.text == "echo-123"
    params, body = envelope(crypto, change_xml("add_member", ["wmA"]), nonce="s1")
    r = client.post("/wecom/callback", params=params, content=body)
    assert r.status_code == 200 and r.text == "success"
    assert client.post("/wecom/callback", params=params, content=body).status_code == 403  # replay
    stale = {**params, "timestamp": str(int(time.time()) - 3600)}
    assert client.post("/wecom/callback", params=stale, content=body).status_code == 403
    assert client.post("/wecom/callback", params=params, content=b"x" * 70_000).status_code == 413
    odd = {**params, "msg_signature": "\xe9" * 40}
    assert client.post("/wecom/callback", params=odd, content=body).status_code == 403  # not a crash
    joins = [e for e in app.events() if isinstance(e, Join)]
    assert [(e.actor, e.group) for e in joins] == [("wmA", CHAT)]
    with app.store.transaction() as conn:
        actions = app.store.actions.count_by_status(conn, app.ws.id)
    assert actions.get("pending", 0) >= 1  # the welcome (a 群发) waits in the outbox
    app.close()


# -- the API and the connector ------------------------------------------------------------------------------------


def with_server(test: Any) -> Any:
    async def run() -> Any:
        server = FakeWeCom()
        await server.start()
        try:
            return await test(server)
        finally:
            await server.stop()

    return asyncio.run(run())


def test_token_refresh_on_42001_and_rate_limit_45009() -> None:
    async def test(server: FakeWeCom) -> None:
        server.group(CHAT, "owner1", [{"userid": "wmA", "type": 2, "join_time": 1795000000, "join_scene": 3}])
        api = WeComAPI(CORP, SECRET, base_url=server.url)
        assert (await api.group(CHAT))["owner"] == "owner1"
        await api.group(CHAT)
        assert api.token_fetches == 1  # cached
        server.expire_tokens()
        assert (await api.group(CHAT))["chat_id"] == CHAT  # 42001 → a new token → the same call again
        assert api.token_fetches == 2
        server.fail_next["externalcontact/groupchat/get"] = 45009
        with pytest.raises(RetryAfterError) as limited:
            await api.group(CHAT)
        assert limited.value.scope == "bot" and limited.value.seconds > 0
        assert SECRET not in repr(api)
        await api.close()

    with_server(test)


def test_roster_diff_live_codes_and_mass_posts(tmp_path: Path) -> None:
    async def test(server: FakeWeCom) -> None:
        member = {"userid": "wmA", "type": 2, "join_time": 1795000000, "join_scene": 3}
        server.group(CHAT, "owner1", [member])
        server.group("chat2", "owner1", [])
        wecom = WeComConnector(WeComAPI(CORP, SECRET, base_url=server.url), capacity=2)
        wecom.attach(cursors=MemoryCursors(), groups=frozenset({CHAT, "chat2"}))
        got: list[Any] = []

        async def sink(event: Any) -> None:
            got.append(event)

        await wecom.sync_rosters(sink, now=T0)
        assert got == []  # the first pass takes the roster as it is
        link = CreateInviteLink(
            key="l1", at=T0, platform="wecom", group=CHAT, name="poster-a", extra={"overflow_groups": ["chat2"]}
        )
        made = await wecom.send(link)
        assert made.detail["state"] == "poster-a" and server.join_ways[made.platform_id]["chat_id_list"] == [
            CHAT,
            "chat2",
        ]
        # The callbacks missed one join (through the live code) and one leave.
        server.groups[CHAT]["member_list"] = [
            {"userid": "wmB", "type": 2, "join_time": 1795000500, "join_scene": 3, "state": "poster-a"},
            {"userid": "wmC", "type": 2, "join_time": 1795000600, "join_scene": 0, "invitor": {"userid": "owner1"}},
        ]
        await wecom.sync_rosters(sink, now=T0)
        joins = {e.actor: e for e in got if isinstance(e, Join)}
        assert joins["wmB"].method is JoinMethod.LIVE_CODE and joins["wmB"].invite_code == "poster-a"
        assert joins["wmC"].inviter == "owner1"
        assert [(e.actor, type(e)) for e in got if isinstance(e, Leave)] == [("wmA", Leave)]
        # The group is now full (capacity 2): the live code moves on to the next group.
        assert server.join_ways[made.platform_id]["chat_id_list"] == ["chat2"] and wecom.stats["rotations"] == 1
        # A group post is a 群发 the owner confirms.
        result = await wecom.send(Post(key="p", at=T0, platform="wecom", group=CHAT, text="本周分享预告"))
        assert server.templates[-1] == {
            "chat_type": "group",
            "sender": "owner1",
            "chat_id_list": [CHAT],
            "text": {"content": "本周分享预告"},
        }
        assert result.detail["awaiting_confirmation_by"] == "owner1"
        await wecom.api.close()

    with_server(test)


def test_what_wecom_forbids_goes_to_staff_and_the_monthly_quota_holds(tmp_path: Path) -> None:
    caps = capabilities("wecom")
    assert caps is not None and ActionKind.POST in caps
    for action in (
        Remove(key="r", at=T0, platform="wecom", group=CHAT, target="wmA"),
        Mute(key="m", at=T0, platform="wecom", group=CHAT, target="wmA"),
        DeleteMessage(key="d", at=T0, platform="wecom", group=CHAT, message_id="x"),
    ):
        assert route(action, caps) is StaffReason.CAPABILITY_MISSING

    async def test(server: FakeWeCom) -> dict[str, int]:
        server.group(CHAT, "owner1", [])
        clock = VirtualClock(T0)
        app = App(str(tmp_path / "q.db"), clock=clock)
        app.apply_spec(parse_spec(SPEC))
        posts = [
            Post(key=f"p{i}", at=T0, community="客户群", platform="wecom", group=CHAT, text=f"#{i}") for i in range(5)
        ]
        with app.store.transaction() as conn:
            app.enqueue_actions(conn, posts)
        wecom = WeComConnector(WeComAPI(CORP, SECRET, base_url=server.url))
        await OutboxRunner(app.store, app.ws.id, {"wecom": wecom}, timer=VirtualTimer(clock)).run(until_idle=True)
        with app.store.transaction() as conn:
            counts = app.store.actions.count_by_status(conn, app.ws.id)
            tasks = app.store.tasks.list(conn, app.ws.id)
        await wecom.api.close()
        app.close()
        assert len(tasks) == 1
        return counts

    counts = with_server(test)
    assert counts.get("sent") == 4  # four 群发 a month per group; the fifth is a person's


# -- the welcome: WeCom's group welcome template, never a 群发 ------------------------------------------------------


def test_welcome_text_for_wecom() -> None:
    from shequn.connectors.wecom.welcome import to_wecom

    text, dropped = to_wecom("热烈欢迎{name}加入{group}！你是{community}的第{number}位成员。请改好群昵称。", "读书会")
    assert text == "热烈欢迎%NICKNAME%加入读书会！请改好群昵称。" and dropped == ["number"]
    text, dropped = to_wecom("Welcome {name}! You are member No. {number}. Thanks {inviter}. Say hi!", "C")
    assert text == "Welcome %NICKNAME%! Say hi!" and dropped == ["inviter", "number"]
    assert to_wecom("第{number}位", "C") == ("", ["number"])


def test_welcome_template_is_created_edited_recreated_and_attached_once_per_group() -> None:
    from shequn.connectors.wecom.welcome import WelcomeTemplate
    from shequn.domain import OpenStaffTask

    async def test(server: FakeWeCom) -> None:
        server.group(CHAT, "owner1", [])
        cursors = MemoryCursors({f"owner:{CHAT}": "owner1"})
        tasks: list[Any] = []
        wecom = WeComConnector(WeComAPI(CORP, SECRET, base_url=server.url))
        wecom.attach(cursors=cursors)
        welcome = WelcomeTemplate("客户群", "欢迎{name}！你是第{number}位。请改群昵称。", (CHAT, "chat2"))
        wecom.configure([welcome], tasks.extend)
        ids = await wecom.sync_welcome(T0)
        assert ids == {"客户群": "tpl1"}
        assert server.welcome_templates["tpl1"]["text"] == {"content": "欢迎%NICKNAME%！请改群昵称。"}
        assert [(a.group, a.target, a.key) for a in tasks] == [
            (CHAT, "owner1", f"wecom:welcome_template:{CHAT}:tpl1"),
            ("chat2", "", "wecom:welcome_template:chat2:tpl1"),
        ]
        assert all(isinstance(a, OpenStaffTask) and "欢迎%NICKNAME%" in a.instructions for a in tasks)
        assert "{number}" in tasks[0].instructions  # the staff task says what was left out
        await wecom.sync_welcome(T0)  # nothing changed: no call that writes, no new task
        writes = [p for p, _ in server.calls if not p.endswith("/get") and "welcome" in p]
        assert writes == ["externalcontact/group_welcome_template/add"] and len(tasks) == 2
        # The operator edits the welcome: the same template is edited, nobody needs to attach it again.
        wecom.configure([WelcomeTemplate("客户群", "Hi {name}", (CHAT, "chat2"))], tasks.extend)
        await wecom.sync_welcome(T0)
        assert server.welcome_templates["tpl1"]["text"] == {"content": "Hi %NICKNAME%"} and len(tasks) == 2
        # Someone deletes it in the admin console; after a restart it is made again and attaching is asked again.
        del server.welcome_templates["tpl1"]
        again = WeComConnector(WeComAPI(CORP, SECRET, base_url=server.url))
        again.attach(cursors=cursors)
        again.configure([WelcomeTemplate("客户群", "Hi {name}", (CHAT, "chat2"))], tasks.extend)
        assert await again.sync_welcome(T0) == {"客户群": "tpl2"}
        assert [a.key for a in tasks[2:]] == [
            f"wecom:welcome_template:{CHAT}:tpl2",
            "wecom:welcome_template:chat2:tpl2",
        ]
        await wecom.api.close()
        await again.api.close()

    with_server(test)


def test_welcomes_are_sent_by_wecom_and_leave_the_mass_post_quota_alone(tmp_path: Path) -> None:
    from sqlalchemy import select

    from shequn.services.live import configure
    from shequn.store.schema import ACTION

    async def test(server: FakeWeCom) -> None:
        server.group(CHAT, "owner1", [])
        clock = VirtualClock(T0)
        app = App(str(tmp_path / "w.db"), clock=clock)
        # The newcomer guide (onboarding) is a post of its own, a 群发 like any other: left out here.
        app.apply_spec(parse_spec(SPEC + "policies:\n  onboarding: {enabled: false}\n"))
        wecom = WeComConnector(WeComAPI(CORP, SECRET, base_url=server.url))
        wecom.attach(cursors=MemoryCursors(), groups=frozenset({CHAT}))
        configure(app, {"wecom": wecom})
        await wecom.sync_welcome(T0)
        joins = [
            Join(id=f"j{i}", at=T0, platform="wecom", group=CHAT, actor=f"wm{i}", method=JoinMethod.SELF)
            for i in range(6)
        ]
        app.ingest(joins)
        posts = [
            Post(key=f"p{i}", at=T0, community="客户群", platform="wecom", group=CHAT, text=f"#{i}") for i in range(5)
        ]
        with app.store.transaction() as conn:
            app.enqueue_actions(conn, posts)
        await OutboxRunner(app.store, app.ws.id, {"wecom": wecom}, timer=VirtualTimer(clock)).run(until_idle=True)
        with app.store.transaction() as conn:
            found = conn.execute(select(ACTION.c.key, ACTION.c.status, ACTION.c.result))
            rows = {r.key: (r.status, r.result) for r in found}
            tasks = app.store.tasks.list(conn, app.ws.id, limit=100)
        welcomes = {k: v for k, v in rows.items() if k.startswith("welcome:")}
        assert len(welcomes) == 6 and all(status == "sent" for status, _ in welcomes.values())
        assert all('"delivered_by":"platform"' in result.replace(" ", "") for _, result in welcomes.values())
        # No welcome went out as a 群发, and the four 群发 of the month all went to the operator's posts.
        assert [b["text"]["content"] for b in server.templates] == ["#0", "#1", "#2", "#3"]
        assert [rows[f"p{i}"][0] for i in range(5)] == ["sent"] * 4 + ["staff"]
        reasons = [t.reason for t in tasks]  # (the rest: private messages WeCom gives bots no API for)
        assert reasons.count("outbox_quota") == 1 and reasons.count("requested") == 1  # the 5th post; attach it
        assert wecom.stats["welcomes_by_platform"] == 6
        await wecom.api.close()
        app.close()

    with_server(test)


# -- 群发 confirmation followed up ------------------------------------------------------------------------------------


def test_mass_post_confirmation_is_polled_reminded_once_and_recorded(tmp_path: Path) -> None:
    from datetime import timedelta

    from shequn.domain import Message, OpenStaffTask
    from shequn.playbook import load_playbook

    documented = load_playbook().platform_limits("wecom").timing("mass_post_confirm_reminder")
    assert documented == 4 * 3600

    async def test(server: FakeWeCom) -> None:
        server.group(CHAT, "owner1", [])
        clock = VirtualClock(T0)
        cursors = MemoryCursors()
        tasks: list[Any] = []
        events: list[Any] = []

        async def sink(event: Any) -> None:
            events.append(event)

        wecom = WeComConnector(WeComAPI(CORP, SECRET, base_url=server.url), clock=clock)
        assert wecom.remind_after == documented
        wecom.attach(cursors=cursors)
        wecom.configure([], tasks.extend)
        first = await wecom.send(Post(key="p1", at=T0, community="客户群", platform="wecom", group=CHAT, text="预告"))
        second = await wecom.send(Post(key="p2", at=T0, platform="wecom", group=CHAT, text="第二条"))
        assert await wecom.follow_up_mass_posts(sink) == {first.platform_id: "waiting", second.platform_id: "waiting"}
        assert tasks == [] and server.reminders == []  # not late yet
        clock.advance(timedelta(hours=4, seconds=1))
        await wecom.follow_up_mass_posts(sink)
        assert [(a.key, a.target) for a in tasks] == [
            (f"wecom:confirm:{first.platform_id}", "owner1"),
            (f"wecom:confirm:{second.platform_id}", "owner1"),
        ]
        assert all(isinstance(a, OpenStaffTask) for a in tasks)
        assert server.reminders == [first.platform_id, second.platform_id]
        await wecom.follow_up_mass_posts(sink)
        assert len(tasks) == 2 and len(server.reminders) == 2  # once per 群发
        # The owner confirms the first one; a restarted connector (same cursors) records it, once.
        server.confirm(first.platform_id, 1795003600)
        again = WeComConnector(WeComAPI(CORP, SECRET, base_url=server.url), clock=clock)
        again.attach(cursors=cursors)
        assert (await again.follow_up_mass_posts(sink))[first.platform_id] == "sent"
        assert list(await again.follow_up_mass_posts(sink)) == [second.platform_id]
        sent = [e for e in events if isinstance(e, Message)]
        assert len(sent) == 1 and sent[0].text == "预告" and sent[0].from_bot
        assert sent[0].extra["action"] == "p1" and sent[0].at.timestamp() == 1795003600
        await wecom.api.close()
        await again.api.close()

    with_server(test)


def test_remind_after_from_the_environment() -> None:
    env = {"SHEQUN_WECOM_CORP_ID": CORP, "SHEQUN_WECOM_SECRET": SECRET, "SHEQUN_WECOM_CONFIRM_REMIND_AFTER": "600"}
    assert WeComConnector.from_env(env).remind_after == 600
    from shequn.domain import UserError

    with pytest.raises(UserError, match="SHEQUN_WECOM_CONFIRM_REMIND_AFTER"):
        WeComConnector.from_env({**env, "SHEQUN_WECOM_CONFIRM_REMIND_AFTER": "4h"})
