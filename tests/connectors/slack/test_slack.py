"""The Slack connector against the fake Slack, in one process: the importer's ids for the same messages, the Events
API with its signature, timestamp and declared length checked, Socket Mode's envelopes acknowledged, every send
mapped to its Web API method, Slack's errors turned into a pause or a reason, and a gap filled from history after a
disconnect, nothing lost or repeated."""

from __future__ import annotations

import asyncio
import json
import socket
import time
import zipfile
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import aiohttp
import pytest

from shequn.connectors import staff_reason
from shequn.connectors.base import MemoryCursors, SendResult, StaffReason
from shequn.connectors.slack.connector import SlackConnector
from shequn.connectors.slack.events import events_of
from shequn.domain import (
    Ban,
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
    UserError,
)
from shequn.outbox.errors import PermanentSendError, RetryAfterError
from tests.importers.helpers import DATA, import_files
from tests.support.slack import APP_TOKEN, BOT, BOT_TOKEN, SIGNING_SECRET, USER_TOKEN, FakeSlack

CH = "C0JL6CGQ2"
T0 = datetime(2026, 3, 2, 9, 0, tzinfo=UTC)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


async def until(check: Callable[[], Any], what: str, timeout: float = 10) -> Any:
    deadline = asyncio.get_running_loop().time() + timeout
    while not (value := check()):
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.02)
    return value


def run(
    test: Callable[[FakeSlack, SlackConnector, list[Event]], Awaitable[None]],
    *,
    socket_mode: bool = False,
    user_token: str = "",
    cursors: MemoryCursors | None = None,
    fill_every: float = 300.0,
) -> None:
    async def main() -> None:
        slack = FakeSlack()
        slack.channel(CH, "traveling-sailor", {"U0BMYT2FL": "abilinski", "U2": "Bo"})
        port = await slack.serve()
        api = f"http://127.0.0.1:{port}/api/"
        if socket_mode:
            conn = SlackConnector(bot_token=BOT_TOKEN, app_token=APP_TOKEN, api_url=api, user_token=user_token)
        else:
            listen = f"127.0.0.1:{free_port()}"
            slack.events_url = f"http://{listen}/slack/events"
            conn = SlackConnector(
                bot_token=BOT_TOKEN,
                listen=listen,
                signing_secret=SIGNING_SECRET,
                api_url=api,
                user_token=user_token,
                fill_every=fill_every,
            )
        conn.attach(cursors=cursors or MemoryCursors(), groups=frozenset({CH}))
        got: list[Event] = []

        async def sink(event: Event) -> None:
            got.append(event)

        await conn.start(sink)
        try:
            assert await conn.wait_connected(10)
            await test(slack, conn, got)
        finally:
            await conn.stop()
            await slack.close()

    asyncio.run(main())


def test_live_events_have_the_importers_ids() -> None:
    """Every message of a real workspace export, read as Slack's history returns it, gets the importer's id, group,
    author, text and thread."""
    path = DATA / "slack" / "traveling-sailor-export.zip"
    with zipfile.ZipFile(path) as z:
        raw = [
            m for n in sorted(z.namelist()) if n.count("/") == 1 and n.endswith(".json") for m in json.loads(z.read(n))
        ]
    imported = {e.id: e for e in import_files("sqlite://", path).events}
    live = [e for m in raw for e in events_of({**m, "channel": CH}, history=True)]
    assert live and all(e.id in imported for e in live), [e for e in live if e.id not in imported][:3]
    for e in live:
        twin = imported[e.id]
        assert (type(e), e.group, e.actor) == (type(twin), twin.group, twin.actor)
        if isinstance(e, Message):
            assert isinstance(twin, Message)
            assert (e.text, e.thread, e.reply_to, e.content) == (twin.text, twin.thread, twin.reply_to, twin.content)
    joins = [e for e in live if isinstance(e, Join)]
    assert len(joins) == 4 and {e.method for e in joins} <= {JoinMethod.SELF, JoinMethod.INVITED}


def test_documented_events_and_what_is_skipped() -> None:
    message = {"type": "message", "channel": CH, "user": "U2", "text": "hi <@U0BMYT2FL>", "ts": "1700000000.000100"}
    [m] = events_of({**message, "thread_ts": "1699999999.000001", "channel_type": "channel"})
    assert isinstance(m, Message) and m.mentions == ("U0BMYT2FL",) and m.thread == "1699999999.000001"
    assert events_of({**message, "user": BOT}, BOT) == []  # the bot's own words are in the outbox
    assert events_of({**message, "subtype": "channel_join"}) == []  # live, member_joined_channel says it
    joined = {"type": "member_joined_channel", "user": "U3", "channel": CH, "inviter": "U2", "event_ts": "1.000002"}
    [j] = events_of(joined)
    assert isinstance(j, Join) and (j.method, j.inviter) == (JoinMethod.INVITED, "U2")
    deleted = {"type": "message", "subtype": "message_deleted", "channel": CH, "deleted_ts": "1.5", "ts": "2.0"}
    assert [e.kind.value for e in events_of(deleted)] == ["delete"]
    dm = {"type": "message", "channel": "DU3", "channel_type": "im", "user": "U3", "text": "同意", "ts": "3.0"}
    assert events_of(dm) == []  # no group known for this person
    [f] = events_of(dm, BOT, {"U3": CH})
    assert isinstance(f, FormAnswer) and f.group == CH and f.form == "rules"


def test_configuration_errors_name_the_variable() -> None:
    with pytest.raises(UserError, match="SHEQUN_SLACK_BOT_TOKEN"):
        SlackConnector.from_env({"SHEQUN_SLACK_APP_TOKEN": APP_TOKEN})
    with pytest.raises(UserError, match="SHEQUN_SLACK_APP_TOKEN"):
        SlackConnector.from_env({"SHEQUN_SLACK_BOT_TOKEN": BOT_TOKEN})
    with pytest.raises(UserError, match="SHEQUN_SLACK_SIGNING_SECRET"):
        SlackConnector.from_env({"SHEQUN_SLACK_BOT_TOKEN": BOT_TOKEN, "SHEQUN_SLACK_LISTEN": "127.0.0.1:3000"})
    conn = SlackConnector.from_env({"SHEQUN_SLACK_BOT_TOKEN": BOT_TOKEN, "SHEQUN_SLACK_APP_TOKEN": APP_TOKEN})
    assert BOT_TOKEN not in repr(conn) and APP_TOKEN not in repr(conn)


def test_what_slack_forbids_every_bot_is_a_staff_task() -> None:
    mute = Mute(key="m", at=T0, platform="slack", group=CH, target="U2")
    assert staff_reason(mute) is StaffReason.CAPABILITY_MISSING  # Slack has no mute for apps
    assert staff_reason(Ban(key="b", at=T0, platform="slack", group=CH, target="U2")) is None  # removal + blacklist


def test_events_api_checks_the_signature_timestamp_and_length() -> None:
    async def test(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        ts = await slack.say(CH, "U2", "大家好")
        [m] = await until(lambda: [e for e in got if isinstance(e, Message)], "the message")
        assert (m.group, m.actor, m.actor_name, m.message_id) == (CH, "U2", "Bo", ts)
        body = {"type": "event_callback", "event": {"type": "message", "channel": CH, "user": "U2", "text": "x"}}
        assert await slack.post_event(body, secret="not-the-secret-0000000000000000") == 401
        assert await slack.post_event(body, stamp=int(time.time()) - 6 * 60) == 401  # older than five minutes
        async with aiohttp.ClientSession() as s:
            headers = {"X-Slack-Request-Timestamp": str(int(time.time())), "X-Slack-Signature": "v0=00"}
            async with s.post(slack.events_url, data=b"x" * (2 << 20), headers=headers) as r:
                assert r.status == 413  # refused by its declared length
        challenge = {"type": "url_verification", "challenge": "3eZbrw1aBm2rZgRNFdxV2595E9CY3gmdALWMmHkvFXO7tYXAYM8P"}
        async with aiohttp.ClientSession() as s:
            data = json.dumps(challenge).encode()
            stamp = int(time.time())
            from tests.support.slack import sign

            headers = {"X-Slack-Request-Timestamp": str(stamp), "X-Slack-Signature": sign(SIGNING_SECRET, data, stamp)}
            async with s.post(slack.events_url, data=data, headers=headers) as r:
                assert r.status == 200 and challenge["challenge"] in await r.text()
        assert conn.stats["refused"] == 3
        assert len([e for e in got if isinstance(e, Message)]) == 1
        await slack.say(CH, "U2", "大家好", thread=ts)  # a thread reply
        reply = await until(lambda: [e for e in got if isinstance(e, Message) and e.thread == ts], "the reply")
        assert reply[0].reply_to == ts

    run(test)


def test_sends_map_to_web_api_methods() -> None:
    async def test(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        base: dict[str, Any] = {"at": T0, "platform": "slack", "group": CH}
        posted = await conn.send(Post(key="p", text="早报 <b> & 晚报", pin=True, mentions=("U2",), **base))
        assert slack.of("chat.postMessage")[-1]["text"] == "<@U2> 早报 &lt;b&gt; &amp; 晚报"  # Slack's escaping
        assert slack.channels[CH].pins == [posted.platform_id]
        parent = await slack.say(CH, "U2", "问题")
        await conn.send(Reply(key="r", message_id=parent, text="回答", **base))
        assert slack.of("chat.postMessage")[-1]["thread_ts"] == parent  # replies go into the thread
        await conn.send(DirectMessage(key="d", target="U2", text="群规", **base))
        assert slack.of("conversations.open") == [{"users": "U2"}]
        assert slack.of("chat.postMessage")[-1]["channel"] == "DU2"
        await slack.direct("U2", "同意")  # the DM answer belongs to the channel the bot wrote about
        [accepted] = await until(lambda: [e for e in got if isinstance(e, FormAnswer)], "the rules accepted")
        assert (accepted.group, accepted.actor, accepted.form) == (CH, "U2", "rules")
        await conn.send(SetAnnouncement(key="a", text="公告", **base))
        assert len(slack.channels[CH].pins) == 2
        # The bot's own message it deletes with its token; a member's it may not: the reason says what is needed.
        assert (await conn.send(DeleteMessage(key="x", message_id=posted.platform_id, target=BOT, **base))).detail == {}
        ad = await slack.say(CH, "U2", "加V")
        with pytest.raises(PermanentSendError, match="SHEQUN_SLACK_USER_TOKEN"):
            await conn.send(DeleteMessage(key="y", message_id=ad, target="U2", **base))
        with pytest.raises(PermanentSendError, match="SHEQUN_SLACK_USER_TOKEN"):  # author unknown: Slack says so
            await conn.send(DeleteMessage(key="y2", message_id=ad, **base))
        assert [p["ts"] for p in slack.of("chat.delete")] == [posted.platform_id, ad]
        await conn.send(Remove(key="k", target="U2", **base))
        assert "U2" not in slack.channels[CH].members
        await slack.emit({"type": "member_left_channel", "user": "U2", "channel": CH, "event_ts": slack.next_ts()})
        [left] = await until(lambda: [e for e in got if isinstance(e, Leave)], "the leave")
        assert (left.reason, left.by) == (LeaveReason.REMOVED, BOT)  # Slack does not say who: the bot did
        assert (await conn.send(Remove(key="k2", target="U2", **base))).detail == {"already_out": True}

    run(test)


def test_an_admins_user_token_deletes_members_messages() -> None:
    async def test(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        ad = await slack.say(CH, "U2", "加V")
        await conn.send(DeleteMessage(key="y", at=T0, platform="slack", group=CH, message_id=ad))  # author not told
        assert ad not in [m["ts"] for m in slack.channels[CH].messages]
        assert [kind for m, _, kind in slack.calls if m == "chat.delete"] == ["user"]
        again = DeleteMessage(key="z", at=T0, platform="slack", group=CH, message_id=ad, target="U2")
        assert (await conn.send(again)).detail == {"already_gone": True}

    run(test, user_token=USER_TOKEN)


def test_slack_errors_become_a_pause_or_a_reason() -> None:
    async def test(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        post = Post(key="p", at=T0, platform="slack", group=CH, text="hi")
        slack.fail["chat.postMessage"] = [(429, "ratelimited", {"Retry-After": "7"})]
        with pytest.raises(RetryAfterError) as limited:
            await conn.send(post)
        assert (limited.value.seconds, limited.value.scope) == (7.0, "group")
        slack.fail["chat.postMessage"] = [(200, "not_in_channel", {})]
        with pytest.raises(PermanentSendError, match="/invite"):
            await conn.send(post)
        slack.fail["conversations.kick"] = [(200, "missing_scope", {})]
        with pytest.raises(PermanentSendError, match="scope"):
            await conn.send(Remove(key="k", at=T0, platform="slack", group=CH, target="U2"))
        slack.fail["conversations.kick"] = [(200, "restricted_action", {})]
        with pytest.raises(PermanentSendError, match="workspace"):
            await conn.send(Remove(key="k", at=T0, platform="slack", group=CH, target="U2"))
        with pytest.raises(PermanentSendError, match="itself"):
            await conn.send(Remove(key="k", at=T0, platform="slack", group=CH, target=BOT))
        assert (await conn.send(post)).platform_id  # and it goes out once Slack lets it

    run(test)


def test_a_gap_is_filled_from_history_once() -> None:
    cursors = MemoryCursors()

    async def first(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        await slack.say(CH, "U2", "before")
        await until(lambda: got, "the first message")

    run(first, cursors=cursors)
    saved = cursors.get(f"seen:{CH}")
    assert saved

    async def second(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        await until(lambda: conn.stats["gap_filled"] >= 0, "start")

    # While shequn is down the channel goes on: the next start asks history from the saved ts.
    async def main() -> list[Event]:
        slack = FakeSlack()
        slack.channel(CH, "traveling-sailor", {"U2": "Bo", "U3": "Cy"})
        slack.channels[CH].messages.append({"type": "message", "user": "U2", "text": "before", "ts": saved})
        slack.delivering = False
        parent = await slack.say(CH, "U2", "down 1")
        await slack.join(CH, "U3", "Cy")
        await slack.say(CH, "U3", "down 2", thread=parent)
        slack.delivering = True
        port = await slack.serve()
        listen = f"127.0.0.1:{free_port()}"
        slack.events_url = f"http://{listen}/slack/events"
        conn = SlackConnector(
            bot_token=BOT_TOKEN, listen=listen, signing_secret=SIGNING_SECRET, api_url=f"http://127.0.0.1:{port}/api/"
        )
        conn.attach(cursors=cursors, groups=frozenset({CH}))
        got: list[Event] = []

        async def sink(event: Event) -> None:
            got.append(event)

        await conn.start(sink)
        await slack.say(CH, "U3", "live again")
        await until(lambda: any(isinstance(e, Message) and e.text == "live again" for e in got), "live again")
        await conn.stop()
        await slack.close()
        return got

    got = asyncio.run(main())
    texts = [e.text for e in got if isinstance(e, Message)]
    assert texts == ["down 1", "down 2", "live again"]  # oldest first, the thread reply included, nothing repeated
    assert [(e.actor, e.actor_name) for e in got if isinstance(e, Join)] == [("U3", "Cy")]


def test_socket_mode_acknowledges_and_resumes_after_a_disconnect() -> None:
    async def test(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        await slack.say(CH, "U2", "over the socket")
        await until(lambda: any(isinstance(e, Message) for e in got), "the socket message")
        await until(lambda: slack.acks, "the ack")
        slack.delivering = False
        await slack.drop_socket()
        await slack.say(CH, "U2", "while disconnected")
        slack.delivering = True
        await until(lambda: slack.connections == 2, "the reconnection", timeout=40)
        await until(lambda: any(isinstance(e, Message) and e.text == "while disconnected" for e in got), "the gap")
        await slack.say(CH, "U2", "after")
        await until(lambda: any(isinstance(e, Message) and e.text == "after" for e in got), "live again")
        texts = [e.text for e in got if isinstance(e, Message)]
        assert texts == ["over the socket", "while disconnected", "after"]
        assert conn.stats["gap_filled"] == 1

    run(test, socket_mode=True)


def test_what_slack_gave_up_delivering_is_read_from_history() -> None:
    async def test(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        await slack.say(CH, "U2", "delivered")
        await until(lambda: got, "the first message")
        slack.fail["conversations.history"] = [(429, "ratelimited", {"Retry-After": "1"})] * 3
        slack.delivering = False  # the proxy is down: Slack's retries run out
        await slack.say(CH, "U2", "never delivered")
        slack.delivering = True
        await until(lambda: len(slack.fail["conversations.history"]) < 3, "a pass refused")
        await slack.say(CH, "U2", "delivered after")  # live again, while history still answers 429
        await until(lambda: not slack.fail["conversations.history"], "the refused passes")
        await until(lambda: any(isinstance(e, Message) and e.text == "never delivered" for e in got), "the pass", 5)
        await asyncio.sleep(0.5)  # more passes find nothing new
        assert [e.text for e in got if isinstance(e, Message)] == ["delivered", "delivered after", "never delivered"]
        assert conn.cursors.get(f"gap:{CH}") is None

    run(test, fill_every=0.2)


def test_a_message_left_in_flight_is_confirmed_by_its_key() -> None:
    """After a crash the outbox asks whether a message went out: the key in the message's metadata says so."""

    async def test(slack: FakeSlack, conn: SlackConnector, got: list[Event]) -> None:
        at = datetime.now(UTC)
        base: dict[str, Any] = {"at": at, "platform": "slack", "group": CH}
        post = Post(key="rhythm:morning", text="早报", **base)
        sent = await conn.send(post)
        assert slack.channels[CH].messages[-1]["metadata"]["event_payload"] == {"key": "rhythm:morning"}
        assert (await conn.confirm(post)) == SendResult(sent.platform_id, {"channel": CH, "confirmed": True})
        assert await conn.confirm(Post(key="never-sent", text="早报", **base)) is None
        parent = await slack.say(CH, "U2", "问题")
        reply = Reply(key="answer", message_id=parent, text="回答", **base)
        assert (await conn.confirm(reply)) is None
        sent = await conn.send(reply)
        assert (await conn.confirm(reply)) is not None  # found in the thread
        dm = DirectMessage(key="rules", target="U2", text="群规", **base)
        await conn.send(dm)
        assert (await conn.confirm(dm)) is not None  # found in the DM
        assert await conn.confirm(Remove(key="k", target="U2", **base)) is None  # safe to repeat: sent again

    run(test)


def test_slack_unreachable_at_start_is_waited_for() -> None:
    """``shequn run`` goes on when Slack cannot be reached; the connector keeps trying and then resumes."""

    async def main() -> list[Event]:
        slack = FakeSlack()
        slack.channel(CH, "traveling-sailor", {"U2": "Bo"})
        api_port, listen = free_port(), f"127.0.0.1:{free_port()}"
        slack.events_url = f"http://{listen}/slack/events"
        conn = SlackConnector(
            bot_token=BOT_TOKEN,
            listen=listen,
            signing_secret=SIGNING_SECRET,
            api_url=f"http://127.0.0.1:{api_port}/api/",
            backoff=(0.05, 0.2),
        )
        conn.attach(cursors=MemoryCursors(), groups=frozenset({CH}))
        got: list[Event] = []

        async def sink(event: Event) -> None:
            got.append(event)

        await conn.start(sink)  # returns at once: nothing listens on the API port yet
        assert not await conn.wait_connected(0.3)
        await slack.serve(api_port)
        assert await conn.wait_connected(10)
        await slack.say(CH, "U2", "hello")
        await until(lambda: got, "the message")
        await conn.stop()
        await slack.close()
        return got

    assert [e.text for e in asyncio.run(main()) if isinstance(e, Message)] == ["hello"]


def test_a_refused_bot_token_stops_the_start() -> None:
    async def main() -> None:
        slack = FakeSlack()
        port = await slack.serve()
        conn = SlackConnector(
            bot_token="xoxb-not-a-known-token", app_token=APP_TOKEN, api_url=f"http://127.0.0.1:{port}/api/"
        )
        try:
            with pytest.raises(UserError, match="invalid_auth"):
                await conn.start(lambda e: asyncio.sleep(0))
        finally:
            await conn.stop()
            await slack.close()

    asyncio.run(main())
