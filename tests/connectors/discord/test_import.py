"""A DiscordChatExporter export and the live channel are one group: the importer and the connector give the same
group, the same member ids and the same event ids, so history read back after a gap lands on what was imported."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

from shequn.connectors.base import MemoryCursors
from shequn.connectors.discord.connector import DiscordConnector
from shequn.domain import Event, Message
from tests.connectors.matrix.live import query, shequn
from tests.support.discord_fake import TOKEN, FakeDiscord

GUILD, CHANNEL = 700000000000000001, 700000000000000011


def export(fake: FakeDiscord) -> dict[str, object]:
    """DiscordChatExporter's JSON layout (guild, channel, messages with author and reactions) for the fake's channel."""
    messages = [
        {
            "id": m["id"], "type": "Default", "timestamp": m["timestamp"], "timestampEdited": None,
            "isPinned": False, "content": m["content"],
            "author": {"id": m["author"]["id"], "name": m["author"]["username"], "discriminator": "0000",
                       "nickname": m["author"]["global_name"], "isBot": False},
            "attachments": [], "embeds": [], "stickers": [], "reactions": [], "mentions": [],
        }
        for m in fake.messages[CHANNEL]
    ]  # fmt: skip
    return {
        "guild": {"id": str(GUILD), "name": "读书会", "iconUrl": ""},
        "channel": {"id": str(CHANNEL), "type": "GuildTextChat", "categoryId": "1", "category": "Text Channels",
                    "name": "general", "topic": None},
        "dateRange": {"after": None, "before": None},
        "messages": messages,
        "messageCount": len(messages),
    }  # fmt: skip


def test_an_imported_channel_is_the_same_group_live(tmp_path: Path) -> None:
    fake = FakeDiscord()
    fake.guild(GUILD, "读书会", {CHANNEL: "general"}, {555: "小王", 556: "小赵"})
    before = fake.message(CHANNEL, 556, "导出之前")
    fake.message(CHANNEL, 555, "导出里的第一句")
    fake.message(CHANNEL, 556, "导出里的第二句")
    (tmp_path / "general.json").write_text(json.dumps(export(fake), ensure_ascii=False), encoding="utf-8")
    db = str(tmp_path / "a.db")
    shequn(db, "import", str(tmp_path / "general.json"))
    imported = {
        json.loads(p)["text"]: (i, json.loads(p)["group"], json.loads(p)["actor"])
        for i, p in query(db, "select uid, payload from event where platform='discord' and kind='message'")
    }
    assert imported["导出里的第一句"][1:] == (str(CHANNEL), "555")

    seen: list[Event] = []

    async def live() -> None:
        port = await fake.serve()
        conn = DiscordConnector(token=TOKEN, api=f"http://127.0.0.1:{port}/api/v10")
        # the bot last handed on the message before the export: the history after it is read back on connecting
        conn.attach(cursors=MemoryCursors({f"seen:{CHANNEL}": before["id"]}), groups=frozenset({str(CHANNEL)}))

        async def sink(event: Event) -> None:
            seen.append(event)

        await conn.start(sink)
        try:
            assert await conn.wait_live(30)
            await fake.say(CHANNEL, 555, "上线之后")
            for _ in range(400):
                if any(isinstance(e, Message) and e.text == "上线之后" for e in seen):
                    break
                await asyncio.sleep(0.05)
        finally:
            await conn.stop()
            await fake.close()

    asyncio.run(live())
    got = {e.text: (e.id, e.group, e.actor) for e in seen if isinstance(e, Message)}
    assert got["导出里的第一句"] == imported["导出里的第一句"]  # the same event: stored once
    assert got["导出里的第二句"] == imported["导出里的第二句"]
    assert got["上线之后"][1:] == (str(CHANNEL), "555")  # the same group and member as the history
