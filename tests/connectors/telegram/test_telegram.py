"""Telegram offline: recorded Bot API updates in, the outgoing Bot API calls captured by a session that answers with
the documented shapes; long polling with offsets, the webhook's secret-token header, flood limits and 429s."""

from __future__ import annotations

import asyncio
import itertools
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from shequn.app import App
from shequn.connectors.base import MemoryCursors
from shequn.connectors.telegram import JOIN_REQUEST_FORM, TelegramConnector, events_of
from shequn.domain import (
    ContentKind,
    CreateInviteLink,
    Edit,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    Mute,
    Post,
    UserError,
    VirtualClock,
)
from shequn.outbox import OutboxRunner, Policies, VirtualTimer
from shequn.outbox.errors import PermanentSendError, RetryAfterError
from shequn.playbook.spec import parse_spec
from tests.connectors.telegram.session import RecordedSession
from tests.support.synapse import free_port

UPDATES: list[dict[str, Any]] = json.loads((Path(__file__).parent / "updates.json").read_text(encoding="utf-8"))
CHAT = "-1001234567890"
TOKEN = "900:AAH-test-token-not-real"
T0 = datetime(2026, 11, 20, 2, 0, tzinfo=UTC)
SPEC = f"""name: 读书会
type: growth
locale: zh-CN
timezone: Asia/Shanghai
threshold: {{kind: none}}
groups:
  - {{platform: telegram, id: "{CHAT}", name: 读书会}}
policies:
  moderation: {{ladder: [warn, remove]}}
rhythm: {{enabled: false}}
"""


def connector(session: RecordedSession) -> TelegramConnector:
    return TelegramConnector(TOKEN, session=session, poll_timeout=0)


def test_updates_become_events() -> None:
    by_id = {u["update_id"]: events_of(u) for u in UPDATES}
    self_join, invited = by_id[700001][0], by_id[700002][0]
    assert isinstance(self_join, Join) and self_join.method is JoinMethod.SELF and self_join.actor == "501"
    assert isinstance(invited, Join) and invited.method is JoinMethod.INVITED and invited.inviter == "501"
    assert invited.actor_name == "小李 Li" and invited.group == CHAT
    by_link = by_id[700003][0]  # the named invite link attributes the referral
    assert isinstance(by_link, Join) and by_link.invite_code == "小王的邀请" and by_link.inviter == "501"
    ad = by_id[700005][0]
    assert isinstance(ad, Message) and ad.message_id == "14" and ad.text.startswith("➕V")
    edit = by_id[700006][0]
    assert isinstance(edit, Edit) and edit.message_id == "13" and edit.text.endswith("产品经理")
    photo = by_id[700007][0]
    assert isinstance(photo, Message) and photo.content is ContentKind.IMAGE and photo.text == "今天的书单"
    assert photo.thread == "7"  # forum topic
    request = by_id[700008][0]
    assert (
        isinstance(request, FormAnswer) and request.form == JOIN_REQUEST_FORM and "产品经理" in request.answers["bio"]
    )
    left, kicked = by_id[700009][0], by_id[700010][0]
    assert isinstance(left, Leave) and left.reason is LeaveReason.VOLUNTARY
    assert isinstance(kicked, Leave) and kicked.reason is LeaveReason.BANNED and kicked.by == "900"
    assert by_id[700011] == []  # a private chat with the bot is nobody's group
    assert len({e.id for es in by_id.values() for e in es}) == sum(len(es) for es in by_id.values())


def test_long_polling_to_the_bot_api_calls(tmp_path: Path) -> None:
    """Recorded updates through getUpdates → the pipeline → the outbox → captured Bot API calls."""
    clock = VirtualClock(T0)
    app = App(str(tmp_path / "tg.db"), clock=clock)
    app.apply_spec(parse_spec(SPEC))
    session = RecordedSession([UPDATES[:5], UPDATES[5:]], now=clock.now)
    tg = connector(session)
    cursors = MemoryCursors()
    tg.attach(cursors=cursors, groups=frozenset({CHAT}))

    async def sink(event: Any) -> None:
        app.ingest([event])

    async def main() -> None:
        assert await tg.poll_once(sink) == 5
        assert cursors.get("offset") == "700006"
        assert await tg.poll_once(sink) == 6
        runner = OutboxRunner(app.store, app.ws.id, {"telegram": tg}, timer=VirtualTimer(clock), policies=Policies())
        await runner.run(until_idle=True)

    asyncio.run(main())
    polls = session.of("getUpdates")
    assert [p.get("offset") for p in polls] == [None, 700006]
    assert set(polls[0]["allowed_updates"]) >= {"chat_member", "chat_join_request"}
    texts = [p["text"] for p in session.of("sendMessage") if str(p["chat_id"]) == CHAT]
    assert any("小王" in t and "欢迎" in t for t in texts)
    assert any("小李" in t for t in texts)
    assert session.of("deleteMessage") == [{"chat_id": int(CHAT), "message_id": 14}]  # the ad, by its message id
    # 小李's first words were an ad: an ad account, removed and blacklisted at once (broken windows).
    assert session.of("banChatMember") == [{"chat_id": int(CHAT), "user_id": 502}]
    assert any(p["chat_id"] == 503 and "群规" in p["text"] for p in session.of("sendMessage"))  # the rules, privately
    app.close()


def test_an_ad_as_first_words_removes_the_account(tmp_path: Path) -> None:
    clock = VirtualClock(T0)
    app = App(str(tmp_path / "tg.db"), clock=clock)
    app.apply_spec(parse_spec(SPEC))
    session = RecordedSession([[UPDATES[1], UPDATES[4]]], now=clock.now)
    tg = connector(session)

    async def sink(event: Any) -> None:
        app.ingest([event])

    async def main() -> None:
        await tg.poll_once(sink)
        await OutboxRunner(app.store, app.ws.id, {"telegram": tg}, timer=VirtualTimer(clock)).run(until_idle=True)

    asyncio.run(main())
    assert session.of("deleteMessage") == [{"chat_id": int(CHAT), "message_id": 14}]
    assert session.of("banChatMember") == [{"chat_id": int(CHAT), "user_id": 502}]
    app.close()


def test_a_crash_mid_batch_neither_loses_nor_repeats(tmp_path: Path) -> None:
    app = App(str(tmp_path / "tg.db"), clock=VirtualClock(T0))
    app.apply_spec(parse_spec(SPEC))
    cursors = MemoryCursors()
    seen: list[str] = []

    async def crashing(event: Any) -> None:
        if len(seen) == 3:
            raise RuntimeError("the process died here")
        seen.append(event.id)
        app.ingest([event])

    first = connector(RecordedSession([UPDATES[:6]]))
    first.attach(cursors=cursors)
    with pytest.raises(RuntimeError):
        asyncio.run(first.poll_once(crashing))
    assert cursors.get("offset") == "700004"  # the three updates handed on, none further

    session = RecordedSession([[u for u in UPDATES[:6] if u["update_id"] >= 700004]])  # Telegram resends from there
    again = connector(session)
    again.attach(cursors=cursors)

    async def sink(event: Any) -> None:
        seen.append(event.id)
        app.ingest([event])

    asyncio.run(again.poll_once(sink))
    assert session.of("getUpdates")[0]["offset"] == 700004
    assert len(seen) == len(set(seen)) == sum(len(events_of(u)) for u in UPDATES[:6])
    assert sum(1 for _ in app.events()) == len(seen)
    app.close()


def test_flood_limits_and_retry_after_through_the_outbox(tmp_path: Path) -> None:
    """25 posts to one group: at most 20 a minute and one a second (Telegram's FAQ); a 429 pauses the group for
    exactly its ``retry_after`` without costing an attempt."""
    clock = VirtualClock(T0)
    app = App(str(tmp_path / "tg.db"), clock=clock)
    app.apply_spec(parse_spec(SPEC))
    session = RecordedSession(now=clock.now)
    session.fail("sendMessage", 429, "Too Many Requests: retry after 7", retry_after=7)
    tg = connector(session)
    posts = [
        Post(key=f"t:{i}", at=T0, community="读书会", platform="telegram", group=CHAT, text=f"#{i}") for i in range(25)
    ]
    with app.store.transaction() as conn:
        app.enqueue_actions(conn, posts)
    runner = OutboxRunner(app.store, app.ws.id, {"telegram": tg}, timer=VirtualTimer(clock), policies=Policies())
    stats = asyncio.run(runner.run(until_idle=True))
    times = [at for name, _, at in session.calls if name == "sendMessage"]
    assert len(times) == 26 and stats.sent == 25 and stats.rate_limited == 1 and stats.failed == 0
    assert times[1] - times[0] >= timedelta(seconds=7)  # retry_after honoured
    assert [int(p["text"][1:]) for p in session.of("sendMessage")[1:]] == list(range(25))  # in order
    assert all(b - a >= timedelta(seconds=1) for a, b in itertools.pairwise(times[1:]))
    for i, t in enumerate(times[1:]):
        within = [u for u in times[1:] if t <= u < t + timedelta(seconds=60)]
        assert len(within) <= 20, (i, len(within))
    app.close()


def test_errors_map_to_the_outbox() -> None:
    session = RecordedSession()
    session.fail("sendMessage", 429, "Too Many Requests: retry after 3", retry_after=3)
    session.fail("sendMessage", 403, "Forbidden: bot was blocked by the user")
    tg = connector(session)
    post = Post(key="k", at=T0, platform="telegram", group=CHAT, text="hi")
    with pytest.raises(RetryAfterError) as limited:
        asyncio.run(tg.send(post))
    assert limited.value.seconds == 3
    with pytest.raises(PermanentSendError):
        asyncio.run(tg.send(post))
    mute = Mute(key="m", at=T0, platform="telegram", group=CHAT, target="502", until=T0 + timedelta(hours=2))
    asyncio.run(tg.send(mute))
    restrict = session.of("restrictChatMember")[0]
    assert restrict["user_id"] == 502 and restrict["permissions"]["can_send_messages"] is False
    assert int(restrict["until_date"]) == int((T0 + timedelta(hours=2)).timestamp())  # Unix time on the wire
    link = CreateInviteLink(key="l", at=T0, platform="telegram", group=CHAT, name="小王的邀请", member_limit=10)
    result = asyncio.run(tg.send(link))
    assert result.platform_id.startswith("https://t.me/+")
    assert session.of("createChatInviteLink")[0] == {"chat_id": int(CHAT), "name": "小王的邀请", "member_limit": 10}
    assert "token" not in repr(tg) and TOKEN not in repr(tg)


def test_webhook_checks_the_secret_token_header() -> None:
    port = free_port()
    secret = "s3cret-token-0123456789"
    tg = TelegramConnector(TOKEN, session=RecordedSession(), webhook_secret=secret, listen=f"127.0.0.1:{port}")
    got: list[Any] = []

    async def sink(event: Any) -> None:
        got.append(event)

    async def main() -> list[int]:
        await tg.start(sink)
        url = f"http://127.0.0.1:{port}/telegram/webhook"
        body = json.dumps(UPDATES[3]).encode()
        try:
            async with httpx.AsyncClient() as client:
                codes = [(await client.post(url, content=body)).status_code]
                header = "X-Telegram-Bot-Api-Secret-Token"
                codes.append((await client.post(url, content=body, headers={header: "wrong"})).status_code)
                codes.append((await client.post(url, content=body, headers={header: secret})).status_code)
                codes.append((await client.post(url, content=body, headers={header: secret})).status_code)  # redelivery
                codes.append((await client.post(url, content=b"{not json", headers={header: secret})).status_code)
                codes.append(
                    (
                        await client.post(url, content=body, headers={header: "s3cret-t\xf6k\xe9n".encode("latin-1")})
                    ).status_code
                )
                return codes
        finally:
            await tg.stop()

    assert asyncio.run(main()) == [401, 401, 200, 200, 400, 401]  # a non-ASCII header: refused, not a crash
    assert len(got) == 2 and got[0].id == got[1].id  # the redelivery has the same id: the log keeps one
    assert tg.stats["webhook_refused"] == 3


def test_configuration_errors_are_plain() -> None:
    with pytest.raises(UserError, match="SHEQUN_TELEGRAM_TOKEN"):
        TelegramConnector.from_env({})
    with pytest.raises(UserError, match="16"):
        TelegramConnector.from_env({"SHEQUN_TELEGRAM_TOKEN": TOKEN, "SHEQUN_TELEGRAM_WEBHOOK_LISTEN": "127.0.0.1:1"})


# -- join requests answered by the admission policy -----------------------------------------------------------------


def _answer_join_request(tmp_path: Path, spec: str) -> RecordedSession:
    """The recorded join request (update 700008, user 505) through the pipeline and the outbox."""
    clock = VirtualClock(T0)
    app = App(str(tmp_path / "jr.db"), clock=clock)
    app.apply_spec(parse_spec(spec))
    request = [u for u in UPDATES if "chat_join_request" in u]
    session = RecordedSession([request], now=clock.now)
    tg = connector(session)
    tg.attach(cursors=MemoryCursors(), groups=frozenset({CHAT}))

    async def sink(event: Any) -> None:
        app.ingest([event])

    async def main() -> None:
        assert await tg.poll_once(sink) == 1
        runner = OutboxRunner(app.store, app.ws.id, {"telegram": tg}, timer=VirtualTimer(clock), policies=Policies())
        await runner.run(until_idle=True)

    asyncio.run(main())
    app.close()
    return session


def test_a_join_request_that_meets_the_threshold_is_approved(tmp_path: Path) -> None:
    session = _answer_join_request(tmp_path, SPEC)
    assert session.of("approveChatJoinRequest") == [{"chat_id": int(CHAT), "user_id": 505}]
    assert session.of("declineChatJoinRequest") == []


def test_a_join_request_that_fails_the_threshold_is_told_why_then_declined(tmp_path: Path) -> None:
    paid = SPEC.replace("threshold: {kind: none}", "threshold: {kind: paid, params: {fee: 9900, currency: CNY}}")
    session = _answer_join_request(tmp_path, paid)
    assert session.of("approveChatJoinRequest") == []
    assert session.of("declineChatJoinRequest") == [{"chat_id": int(CHAT), "user_id": 505}]
    calls = [(name, params, at) for name, params, at in session.calls if name != "getUpdates"]
    why = [(params, at) for name, params, at in calls if name == "sendMessage" and params["chat_id"] == 505]
    assert len(why) == 1 and "99" in why[0][0]["text"]  # the fee, privately, while the request is still open
    declined_at = next(at for name, _, at in calls if name == "declineChatJoinRequest")
    assert why[0][1] is not None and declined_at is not None and why[0][1] < declined_at


def test_an_answered_request_is_not_an_error() -> None:
    session = RecordedSession()
    session.fail("approveChatJoinRequest", 400, "Bad Request: HIDE_REQUESTER_MISSING")
    session.fail("declineChatJoinRequest", 400, "Bad Request: USER_ID_INVALID")
    tg = connector(session)
    from shequn.domain import AnswerJoinRequest

    def answer(approve: bool) -> AnswerJoinRequest:
        return AnswerJoinRequest(key="a", at=T0, platform="telegram", group=CHAT, target="505", approve=approve)

    result = asyncio.run(tg.send(answer(True)))
    assert result.detail == {"approved": True, "already_answered": True}
    with pytest.raises(PermanentSendError, match="USER_ID_INVALID"):
        asyncio.run(tg.send(answer(False)))
