"""DiscordChatExporter (JSON and CSV), Slack workspace exports and Element's Matrix export."""

from __future__ import annotations

import json
import zipfile
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import pytest

from shequn.domain import (
    ContentKind,
    Delete,
    Edit,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    Reaction,
)
from tests.importers.helpers import DATA, FIXTURES, import_files

DISCORD = sorted((DATA / "discord" / "mlomb").glob("*.json"))


@pytest.mark.parametrize("path", DISCORD, ids=lambda p: p.name)
def test_discord_json_counts_from_the_file(sqlite_url: str, path: Path) -> None:
    """Counts read with the json module; messages are counted once per id (SV_5A_5M repeats one, and its
    ``messageCount`` is not trusted)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    unique = {m["id"]: m for m in doc["messages"]}.values()
    default = [m for m in unique if m["type"] in ("Default", "Reply")]
    got = import_files(sqlite_url, path)
    msgs = got.messages()
    assert len(msgs) == len(default)
    assert len(got.messages(system=True)) - len(msgs) == len(unique) - len(default)  # calls, name/icon changes
    assert got.authors() == {m["author"]["id"] for m in default}
    assert got.replies() == sum(1 for m in default if m.get("reference"))
    assert sum(1 for e in got.events if isinstance(e, Edit)) == sum(1 for m in unique if m["timestampEdited"])
    assert sum(1 for e in got.events if isinstance(e, Reaction)) == sum(len(m["reactions"]) for m in unique)
    assert sum(1 for m in msgs if m.from_bot) == sum(1 for m in default if m["author"]["isBot"])
    assert got.report.groups[("discord", doc["channel"]["id"])].name == doc["channel"]["name"]
    names = {m.actor: m.actor_name for m in msgs}
    for m in default:  # the nickname when there is one, else the name
        assert names[m["author"]["id"]] == (m["author"].get("nickname") or m["author"]["name"])


def test_discord_attachments_stickers_reactions(sqlite_url: str) -> None:
    got = import_files(sqlite_url, DATA / "discord" / "mlomb" / "SV_5A_5M.json")
    kinds = {m.message_id: (m.content, m.media) for m in got.messages()}
    assert kinds["447793085255123005"] == (ContentKind.IMAGE, "unknown.png")
    counts = sorted((r.emoji, r.extra["count"]) for r in got.events if isinstance(r, Reaction))
    assert counts == [("paul", 3), ("❤", 2)]
    raw = json.loads((DATA / "discord" / "mlomb" / "SV_5A_5M.json").read_text(encoding="utf-8"))["messages"]
    tally = got.report.groups[("discord", "253601524398293010")]
    assert (tally.received["message"], tally.added["message"]) == (len(raw), len({m["id"] for m in raw}))


def test_discord_threads_joins_and_recipients(sqlite_url: str, tmp_path: Path) -> None:
    author = {"id": "1", "name": "a", "nickname": "A", "isBot": False}
    other = {"id": "2", "name": "b", "nickname": "B", "isBot": False}
    doc = {
        "guild": {"id": "9", "name": "G"},
        "channel": {"id": "77", "type": "GuildPublicThread", "categoryId": "70", "category": "general", "name": "t"},
        "messages": [
            {"id": "100", "type": "GuildMemberJoin", "timestamp": "2024-01-01T00:00:00+00:00", "content": "",
             "author": other, "attachments": [], "mentions": []},
            {"id": "101", "type": "RecipientAdd", "timestamp": "2024-01-01T00:01:00+00:00", "content": "",
             "author": author, "mentions": [other]},
            {"id": "102", "type": "RecipientRemove", "timestamp": "2024-01-01T00:02:00+00:00", "content": "",
             "author": author, "mentions": [other]},
            {"id": "103", "type": "Reply", "timestamp": "2024-01-01T00:03:00+00:00", "content": "yes <@2>",
             "author": author, "mentions": [other], "reference": {"messageId": "100"},
             "reactions": [{"emoji": {"name": "👍"}, "count": 2, "users": [other]}]},
        ],
    }  # fmt: skip
    path = tmp_path / "thread.json"
    path.write_text(json.dumps(doc, indent=2), encoding="utf-8")
    got = import_files(sqlite_url, path)
    joins = [(j.actor, j.method, j.inviter) for j in got.events if isinstance(j, Join)]
    assert joins == [("2", JoinMethod.SELF, ""), ("2", JoinMethod.INVITED, "1")]
    [leave] = [e for e in got.events if isinstance(e, Leave)]
    assert (leave.actor, leave.reason, leave.by) == ("2", LeaveReason.REMOVED, "1")
    [reply] = got.messages()
    assert (reply.group, reply.thread, reply.reply_to, reply.mentions) == ("70", "77", "100", ("2",))
    reactions = sorted((r.actor, dict(r.extra)) for r in got.events if isinstance(r, Reaction))
    assert reactions == [("", {"count": 1}), ("2", {})]


def test_discord_csv_built_from_the_spec(sqlite_url: str) -> None:
    """No real DiscordChatExporter CSV is vendored: the fixture follows the documented layout (header
    ``AuthorID,Author,Date,Content,Attachments,Reactions``, every field quoted) and names the channel id in
    brackets as DiscordChatExporter's file names do."""
    path = FIXTURES / "general [1064990764406419508].csv"
    got = import_files(sqlite_url, path)
    msgs = got.messages()
    assert [(m.actor, m.content, m.text) for m in msgs] == [
        ("111111111111111111", ContentKind.TEXT, "hello there"),
        ("222222222222222222", ContentKind.IMAGE, "look at this"),
        ("111111111111111111", ContentKind.TEXT, "multi\nline"),
        ("333333333333333333", ContentKind.TEXT, "hello there"),
    ]
    assert {m.group for m in msgs} == {"1064990764406419508"}
    assert msgs[2].at == datetime(2023, 1, 17, 19, 40, tzinfo=UTC)  # "17-Jan-23 07:40 PM" in --tz UTC
    assert sorted((r.emoji, r.extra["count"]) for r in got.events if isinstance(r, Reaction)) == [("❤", 1), ("👍", 3)]
    assert import_files(sqlite_url, path).report.added == 0


def test_slack_export_counts_from_the_zip(sqlite_url: str) -> None:
    path = DATA / "slack" / "traveling-sailor-export.zip"
    with zipfile.ZipFile(path) as z:
        raw = [m for n in z.namelist() if n.count("/") == 1 and n.endswith(".json") for m in json.loads(z.read(n))]
    subtypes = Counter(m.get("subtype") for m in raw)
    got = import_files(sqlite_url, path)
    joins = [e for e in got.events if isinstance(e, Join)]
    assert len(joins) == subtypes["channel_join"] == 4
    assert [j.method for j in joins].count(JoinMethod.INVITED) == sum(1 for m in raw if m.get("inviter"))
    msgs = got.messages()
    assert len(got.messages(system=True)) == len(raw) - subtypes["channel_join"]
    bots = sum(1 for m in raw if m.get("bot_id") or m.get("subtype") == "bot_message")
    assert sum(1 for m in got.messages(system=True) if m.from_bot) == bots  # with "added an integration" (bot_add)
    assert sum(1 for m in msgs if m.content is ContentKind.FILE) == subtypes["file_share"]
    assert sum(1 for e in got.events if isinstance(e, Edit)) == sum(1 for m in raw if "edited" in m)
    assert {e.group for e in got.events} == {"C0JL6CGQ2"}
    assert got.report.groups[("slack", "C0JL6CGQ2")].name == "traveling-sailor"
    names = {m.actor: m.actor_name for m in msgs if not m.from_bot}
    assert names["U0BMYT2FL"] == "abilinski"  # users.json's display name
    times = [m.at for m in got.messages(system=True)]
    assert times == sorted(times)  # day files in date order


def test_slack_threads_mentions_reactions(sqlite_url: str, tmp_path: Path) -> None:
    z = tmp_path / "export.zip"
    day = [
        {"type": "message", "user": "U1", "text": "question for <@U2>", "ts": "1700000000.000100",
         "thread_ts": "1700000000.000100", "reactions": [{"name": "eyes", "users": ["U2"], "count": 1}]},
        {"type": "message", "user": "U2", "text": "answer", "ts": "1700000060.000200",
         "thread_ts": "1700000000.000100", "parent_user_id": "U1"},
        {"type": "message", "subtype": "channel_leave", "user": "U2", "text": "left", "ts": "1700000120.000300"},
    ]  # fmt: skip
    with zipfile.ZipFile(z, "w") as f:
        f.writestr("users.json", json.dumps([{"id": "U1", "name": "u1"}, {"id": "U2", "name": "u2"}]))
        f.writestr("channels.json", json.dumps([{"id": "C1", "name": "general"}]))
        f.writestr("general/2023-11-14.json", json.dumps(day))
    got = import_files(sqlite_url, z)
    q, a = got.messages()
    assert q.mentions == ("U2",) and (a.thread, a.reply_to) == ("1700000000.000100", "1700000000.000100")
    assert [(r.actor, r.emoji) for r in got.events if isinstance(r, Reaction)] == [("U2", "eyes")]
    assert [(e.actor, e.reason) for e in got.events if isinstance(e, Leave)] == [("U2", LeaveReason.VOLUNTARY)]


def test_element_export_built_from_the_spec(sqlite_url: str) -> None:
    """No real Element export is vendored: the fixture follows the documented shape ``{room_name, room_creator,
    topic, export_date, exported_by, messages: [raw Matrix events]}`` with the events of the Matrix spec."""
    got = import_files(sqlite_url, FIXTURES / "element-export.json")
    room = "!abcDEF:example.org"
    assert {e.group for e in got.events} == {room}
    assert got.report.groups[("matrix", room)].name == "Book club"
    joins = [(j.actor, j.method, j.inviter) for j in got.events if isinstance(j, Join)]
    assert joins == [("@alice:example.org", JoinMethod.SELF, ""), ("@bob:example.org", JoinMethod.INVITED, "")]
    msgs = {m.message_id: m for m in got.messages()}
    assert msgs["$e4"].mentions == ("@bob:example.org",)
    assert msgs["$e5"].reply_to == "$e4"
    assert (msgs["$e6"].content, msgs["$e6"].media) == (ContentKind.IMAGE, "cat.png")
    assert msgs["$e13"].thread == "$e4"
    [edit] = [e for e in got.events if isinstance(e, Edit)]
    assert (edit.message_id, edit.text) == ("$e5", "Thanks a lot!")
    [reaction] = [e for e in got.events if isinstance(e, Reaction)]
    assert (reaction.message_id, reaction.emoji) == ("$e6", "😻")
    [delete] = [e for e in got.events if isinstance(e, Delete)]
    assert (delete.message_id, delete.by) == ("$e9", "@alice:example.org")
    [nick] = [e for e in got.events if isinstance(e, NicknameChange)]
    assert (nick.old, nick.new) == ("Bob", "Bobby")
    leaves = [(e.actor, e.reason, e.by) for e in got.events if isinstance(e, Leave)]
    assert leaves == [
        ("@carol:example.org", LeaveReason.REMOVED, "@alice:example.org"),
        ("@bob:example.org", LeaveReason.VOLUNTARY, ""),
    ]
    system = [m.extra["type"] for m in got.messages(system=True) if m.content is ContentKind.SYSTEM]
    assert system == ["m.room.create", "m.room.member", "m.room.topic"]  # the create, the invitation, the topic
    assert all(isinstance(e, Message | Join | Leave | Edit | Reaction | Delete | NicknameChange) for e in got.events)
