"""The Discord connector with the real discord.py against the fake Discord (tests/support/discord_fake.py): events
with the importer's ids, sends and their failures, a resumed session and a gap filled after a new one."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta

import pytest

from shequn.connectors.base import MemoryCursors
from shequn.connectors.discord.connector import DiscordConnector, automod_trigger
from shequn.domain import Ban, DeleteMessage, Event, Join, Message, Mute, Post, Reaction, Remove
from shequn.importers.base import platform_id
from shequn.outbox.errors import PermanentSendError, RetryAfterError
from tests.support.discord_fake import TOKEN, FakeDiscord

GUILD, MAIN, ADMIN, THREAD = 700000000000000001, 700000000000000011, 700000000000000012, 700000000000000021
AT = datetime(2026, 1, 1, tzinfo=UTC)


async def until(check: Callable[[], object], timeout: float = 20) -> None:
    end = asyncio.get_running_loop().time() + timeout
    while not check():
        assert asyncio.get_running_loop().time() < end, "timed out"
        await asyncio.sleep(0.05)


async def world(
    body: Callable[[FakeDiscord, DiscordConnector, list[Event]], Awaitable[None]],
    *,
    automod: bool = False,
    forbidden: dict[str, tuple[str, ...]] | None = None,
    levels: dict[str, str] | None = None,
) -> None:
    fake = FakeDiscord()
    g = fake.guild(GUILD, "读书会", {MAIN: "general", ADMIN: "staff"}, {555: "小王", 556: "小赵"})
    g.roles = {800000000000000001: "新人", 800000000000000002: "书虫"}
    fake.thread(MAIN, THREAD, "读书笔记")
    port = await fake.serve()
    conn = DiscordConnector(token=TOKEN, api=f"http://127.0.0.1:{port}/api/v10", automod=automod)
    titles = frozenset({"新人", "书虫", "学霸"})
    conn.configure(
        forbidden=forbidden or {},
        admin_groups=frozenset({str(ADMIN)}),
        locale="zh-CN",
        levels=(lambda: (levels, titles)) if levels is not None else None,
    )
    conn.attach(cursors=MemoryCursors(), groups=frozenset({str(MAIN), str(ADMIN)}))
    seen: list[Event] = []

    async def sink(event: Event) -> None:
        seen.append(event)

    await conn.start(sink)
    try:
        assert await conn.wait_live(30)
        await body(fake, conn, seen)
    finally:
        await conn.stop()
        await fake.close()


def test_messages_reactions_joins_carry_the_importers_ids() -> None:
    async def body(fake: FakeDiscord, conn: DiscordConnector, seen: list[Event]) -> None:
        assert {e.actor for e in seen if isinstance(e, Join)} == {"555", "556"}  # the roster, once
        mid = await fake.say(MAIN, 555, "大家好")
        await until(lambda: any(isinstance(e, Message) for e in seen))
        (m,) = [e for e in seen if isinstance(e, Message)]
        assert m.id == platform_id("discord", str(MAIN), "m", str(mid)) and m.actor_name == "小王"
        await fake.react(MAIN, mid, 556, "👍")
        await until(lambda: any(isinstance(e, Reaction) for e in seen))
        (r,) = [e for e in seen if isinstance(e, Reaction)]
        assert r.id == platform_id("discord", str(MAIN), "reaction", f"{mid}:👍:556")
        tid = await fake.say(THREAD, 556, "第一章读完了")  # a thread's message belongs to its parent channel
        await until(lambda: any(isinstance(e, Message) and e.thread for e in seen))
        (t,) = [e for e in seen if isinstance(e, Message) and e.thread]
        assert (t.group, t.thread, t.id) == (str(MAIN), str(THREAD), platform_id("discord", str(MAIN), "m", str(tid)))
        await fake.join(GUILD, 700, "新人")
        await until(lambda: any(isinstance(e, Join) and e.actor == "700" for e in seen))
        (j,) = [e for e in seen if isinstance(e, Join) and e.actor == "700"]
        assert j.group == str(MAIN)  # the server's system channel
        assert fake.commands[GUILD] and {c["name"] for c in fake.commands[GUILD]} == {"tasks", "approve", "reject"}

    asyncio.run(world(body))


def test_sends_and_what_discord_forbids() -> None:
    async def body(fake: FakeDiscord, conn: DiscordConnector, seen: list[Event]) -> None:
        post = Post(key="p1", at=AT, platform="discord", group=str(MAIN), text="早报", mentions=("556",))
        out = await conn.send(post)
        again = await conn.send(post)  # the nonce: a resend is the same message
        assert out.platform_id == again.platform_id and fake.texts(MAIN) == ["<@556> 早报"]
        mid = await fake.say(MAIN, 555, "广告")
        await conn.send(DeleteMessage(key="d", at=AT, platform="discord", group=str(MAIN), message_id=str(mid)))
        assert not any(m["id"] == str(mid) for m in fake.messages[MAIN])
        gone = await conn.send(DeleteMessage(key="d2", at=AT, platform="discord", group=str(MAIN), message_id=str(mid)))
        assert gone.detail == {"already_gone": True}
        until_ = datetime.now(UTC) + timedelta(hours=2)
        await conn.send(Mute(key="m", at=AT, platform="discord", group=str(MAIN), target="556", until=until_))
        assert fake.guilds[GUILD].members[556]["communication_disabled_until"]
        await conn.send(Mute(key="mw", at=AT, platform="discord", group=str(MAIN)))  # the whole channel
        (ow,) = fake.guilds[GUILD].channels[MAIN]["permission_overwrites"]
        assert ow["id"] == str(GUILD) and int(ow["deny"]) & (1 << 11)  # @everyone: no SEND_MESSAGES
        fake.forbid.add("kick")
        with pytest.raises(PermanentSendError, match="50013"):
            await conn.send(Remove(key="r", at=AT, platform="discord", group=str(MAIN), target="555"))
        fake.rate_limit_once.add("ban")
        with pytest.raises(RetryAfterError) as limited:
            await conn.send(Ban(key="b", at=AT, platform="discord", group=str(MAIN), target="555"))
        assert limited.value.seconds == pytest.approx(41.0, abs=1)
        await conn.send(Ban(key="b", at=AT, platform="discord", group=str(MAIN), target="555"))
        assert 555 in fake.guilds[GUILD].bans

    asyncio.run(world(body))


def test_a_resumed_session_loses_nothing_and_a_new_one_fills_the_gap() -> None:
    async def body(fake: FakeDiscord, conn: DiscordConnector, seen: list[Event]) -> None:
        def texts() -> list[str]:
            return [e.text for e in seen if isinstance(e, Message)]

        await fake.say(MAIN, 555, "一")
        await until(lambda: texts() == ["一"])
        await fake.drop()
        await fake.say(MAIN, 555, "二")  # kept for the session: replayed on RESUME
        await until(lambda: texts() == ["一", "二"])
        assert fake.resumes == 1
        await fake.drop(forget=True)
        await fake.say(MAIN, 556, "三")  # the session is gone: read back from the channel's history
        await fake.say(MAIN, 556, "四")
        await until(lambda: texts() == ["一", "二", "三", "四"])
        assert fake.identifies == 2 and conn.stats["gap_filled"] == 2
        await fake.say(MAIN, 556, "五")
        await until(lambda: texts()[-1:] == ["五"])
        assert texts() == ["一", "二", "三", "四", "五"]

    asyncio.run(world(body))


def test_automod_mirrors_the_forbidden_words() -> None:
    async def body(fake: FakeDiscord, conn: DiscordConnector, seen: list[Event]) -> None:
        (rule,) = fake.guilds[GUILD].automod.values()
        assert rule["name"] == "shequn" and rule["enabled"] and rule["event_type"] == 1
        assert rule["trigger_metadata"]["keyword_filter"] == ["*赌博*"]
        assert rule["trigger_metadata"]["regex_patterns"] == ["代[开发]票"]
        assert rule["actions"][0]["type"] == 1  # BLOCK_MESSAGE

    asyncio.run(world(body, automod=True, forbidden={str(MAIN): ("赌博", "代[开发]票")}))


def test_automod_trigger_keeps_to_discords_limits() -> None:
    keywords, regexes, left = automod_trigger(["x" * 70, "ok", *(f"a{i}|b" for i in range(12))])
    assert keywords == ["*ok*"] and len(regexes) == 10 and left[0] == "x" * 70 and len(left) == 3


def test_a_level_is_held_as_the_role_of_its_title() -> None:
    levels = {"555": "新人", "556": "学霸", "999": "书虫"}  # 学霸 has no role in the server; 999 is no member

    async def body(fake: FakeDiscord, conn: DiscordConnector, seen: list[Event]) -> None:
        members = fake.guilds[GUILD].members
        assert await conn.sync_level_roles() == 2  # 555 given 新人; 999 noted as not a member
        assert members[555]["roles"] == ["800000000000000001"] and members[556]["roles"] == []
        levels["555"] = "书虫"  # promoted: the new title's role given, the old one taken
        assert await conn.sync_level_roles() == 1
        assert members[555]["roles"] == ["800000000000000002"]
        assert await conn.sync_level_roles() == 0  # nothing changed, nothing asked
        assert len(fake.of("add_role")) == 3

    asyncio.run(world(body, levels=levels))


def test_slash_commands_outside_an_admin_channel_answer_privately() -> None:
    async def body(fake: FakeDiscord, conn: DiscordConnector, seen: list[Event]) -> None:
        await fake.slash(MAIN, 556, "approve", 3)
        await until(lambda: fake.callbacks)
        (answer,) = fake.callbacks
        assert answer["type"] == 4 and answer["data"]["flags"] & 64  # CHANNEL_MESSAGE_WITH_SOURCE, EPHEMERAL
        assert "管理频道" in answer["data"]["content"]
        await fake.slash(ADMIN, 556, "approve", 3)
        await until(lambda: any(isinstance(e, Message) and e.text == "!approve 3" for e in seen))
        assert fake.callbacks[-1]["type"] == 5  # deferred: the answer follows once the command ran

    asyncio.run(world(body))


def test_the_token_comes_from_the_environment_and_never_shows() -> None:
    from shequn.domain import UserError

    with pytest.raises(UserError, match="SHEQUN_DISCORD_TOKEN"):
        DiscordConnector.from_env({})
    with pytest.raises(UserError, match="SHEQUN_DISCORD_API"):
        DiscordConnector.from_env({"SHEQUN_DISCORD_TOKEN": TOKEN, "SHEQUN_DISCORD_API": "discord.com"})
    conn = DiscordConnector.from_env({"SHEQUN_DISCORD_TOKEN": TOKEN, "SHEQUN_DISCORD_AUTOMOD": "1"})
    assert conn.automod and TOKEN not in repr(conn)
