"""Telegram Desktop JSON: every vendored export counted against the file itself, chat-miner's expected parse,
full-account exports, service messages, Bot API ids, and the streaming reader on other layouts."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from shequn.domain import ContentKind, Edit, Join, JoinMethod, Leave, LeaveReason, Message, Reaction, UserError
from tests.importers.helpers import DATA, import_files

TG = DATA / "telegram"
EXPORTS = sorted([p for p in TG.rglob("*.json") if p.name not in ("metadata.json", "target.json")], key=str)


def _expected(path: Path) -> dict[str, Any]:
    """Counts read straight from the file with the json module (not with the importer)."""
    doc = json.loads(path.read_text(encoding="utf-8"))
    chats = doc["chats"]["list"] if "chats" in doc else [doc]
    msgs = [m for c in chats for m in c["messages"]]
    topics = {m["id"] for m in msgs if m.get("action") == "topic_created"}
    plain = [m for m in msgs if m["type"] == "message"]
    return {
        "messages": len(plain),
        "service": sum(1 for m in msgs if m["type"] == "service"),
        "authors": len({str(m.get("from_id", m.get("from"))) for m in plain}),
        "replies": sum(1 for m in plain if m.get("reply_to_message_id") and m["reply_to_message_id"] not in topics),
        "threads": sum(1 for m in plain if m.get("reply_to_message_id") in topics),
        "photos": sum(1 for m in plain if "photo" in m),
        "stickers": sum(1 for m in plain if m.get("media_type") == "sticker"),
        "edits": sum(1 for m in plain if "edited" in m and "id" in m),
        "forwarded": sum(1 for m in plain if m.get("forwarded_from")),
        "reactions": sum(len(m.get("reactions", [])) for m in plain),
    }


@pytest.mark.parametrize("path", EXPORTS, ids=lambda p: str(p.relative_to(TG)))
def test_every_export_imports_with_its_counts(sqlite_url: str, path: Path) -> None:
    want = _expected(path)
    got = import_files(sqlite_url, path)
    msgs = got.messages()
    system = [m for m in got.messages(system=True) if m.content is ContentKind.SYSTEM]
    assert len(msgs) == want["messages"]
    assert len(system) == want["service"]  # none of the vendored service messages is a join or a leave
    assert len(got.authors()) == want["authors"]
    assert got.replies() == want["replies"]
    assert sum(1 for m in msgs if m.thread) == want["threads"]
    assert got.contents()["image"] == want["photos"]
    assert got.contents()["sticker"] == want["stickers"]
    assert sum(1 for e in got.events if isinstance(e, Edit)) == want["edits"]
    assert sum(1 for m in msgs if m.forwarded) == want["forwarded"]
    assert sum(1 for e in got.events if isinstance(e, Reaction)) == want["reactions"]
    assert got.report.added == len(got.events)


def test_mlomb_big_sample_has_20_authors_and_5475_messages(sqlite_url: str) -> None:
    got = import_files(sqlite_url, TG / "mlomb" / "BIG_20A_5475M.json")
    assert (len(got.messages()), len(got.authors())) == (5475, 20)
    assert got.messages()[0].at == datetime(2017, 1, 1, 6, 20, 9, 248000, tzinfo=UTC)
    assert got.messages()[0].group == "-1001111111111"  # a supergroup: the Bot API's -100 prefix


def test_chat_miner_expected_parse(sqlite_url: str) -> None:
    """chat-miner's target.json. chat-miner joins the pieces of a formatted text with spaces ("Link:
    https://…"); Telegram's text is their concatenation ("Link:https://…"), which shequn keeps."""
    target = json.loads((TG / "chat-miner" / "target.json").read_text(encoding="utf-8"))
    for name in ("test_single_export.json", "test_batch_export.json"):
        got = import_files(sqlite_url, TG / "chat-miner" / name, group=None)
        group = "Chatname" if "batch" in name else "test_single_export"
        rows = [(m.at.strftime("%Y-%m-%dT%H:%M:%S"), m.actor_name, m.text) for m in got.messages() if m.group == group]
        assert [(t, a, x.replace(" ", "")) for t, a, x in rows] == [
            (t["timestamp"], t["author"], t["message"].replace(" ", "")) for t in target
        ]
        assert rows[1][2] == "Link:https://telegram.org/"


def _write(path: Path, doc: dict[str, Any], indent: int | None = 1) -> Path:
    path.write_text(json.dumps(doc, ensure_ascii=False, indent=indent), encoding="utf-8")
    return path


SERVICE_CHAT: dict[str, Any] = {
    "name": "读书会",
    "type": "private_group",
    "id": 4242,
    "messages": [
        {"id": 1, "type": "message", "date": "2024-03-01T10:00:00", "date_unixtime": "1709287200",
         "from": "Ann", "from_id": "user11", "text": "hi"},
        {"id": 2, "type": "service", "date": "2024-03-01T10:01:00", "actor": "Ann", "actor_id": "user11",
         "action": "invite_members", "members": ["Bo", "Ann"], "text": ""},
        {"id": 3, "type": "service", "date": "2024-03-01T10:02:00", "actor": "Cy", "actor_id": "user33",
         "action": "join_group_by_link", "inviter": "Group", "text": ""},
        {"id": 4, "type": "message", "date": "2024-03-01T10:03:00", "from": "Cy", "from_id": "user33",
         "text": ["hey ", {"type": "mention", "text": "@ann"}, " and ", {"type": "mention_name", "text": "Bo",
                  "user_id": 22}], "reply_to_message_id": 1, "edited": "2024-03-01T10:04:00",
         "reactions": [{"type": "emoji", "count": 3, "emoji": "👍",
                        "recent": [{"from": "Ann", "from_id": "user11", "date": "2024-03-01T10:05:00"}]}]},
        {"id": 5, "type": "service", "date": "2024-03-01T10:06:00", "actor": "Ann", "actor_id": "user11",
         "action": "remove_members", "members": ["Cy"], "text": ""},
        {"id": 6, "type": "service", "date": "2024-03-01T10:07:00", "actor": "Ann", "actor_id": "user11",
         "action": "pin_message", "message_id": 4, "text": ""},
        {"id": 7, "type": "message", "date": "2024-03-01T10:08:00", "from": "Bo", "from_id": "user22",
         "media_type": "voice_message", "file": "voice/1.ogg", "text": ""},
    ],
}  # fmt: skip


def test_service_messages_become_joins_leaves_and_system_messages(sqlite_url: str, tmp_path: Path) -> None:
    got = import_files(sqlite_url, _write(tmp_path / "result.json", SERVICE_CHAT), tz="Asia/Shanghai")
    group = "-4242"  # a basic group: the Bot API's negative id
    joins = [(j.actor, j.actor_name, j.method, j.inviter, dict(j.extra)) for j in got.events if isinstance(j, Join)]
    assert joins == [
        ("", "Bo", JoinMethod.INVITED, "11", {"member": "Bo"}),  # Bo had not spoken yet: no id in the export
        ("11", "Ann", JoinMethod.SELF, "", {}),
        ("33", "Cy", JoinMethod.SELF, "", {}),
    ]
    [leave] = [e for e in got.events if isinstance(e, Leave)]
    assert (leave.actor, leave.reason, leave.by) == ("33", LeaveReason.REMOVED, "11")  # resolved: Cy spoke
    cy = next(m for m in got.messages() if m.actor == "33")
    assert (cy.reply_to, cy.mentions, cy.text) == ("1", ("@ann", "22"), "hey @ann and Bo")
    assert cy.at == datetime(2024, 3, 1, 2, 3, tzinfo=UTC)  # no date_unixtime: "date" read in --tz
    [edit] = [e for e in got.events if isinstance(e, Edit)]
    assert (edit.message_id, edit.at) == ("4", datetime(2024, 3, 1, 2, 4, tzinfo=UTC))
    reactions = sorted((r.actor, r.emoji, dict(r.extra)) for r in got.events if isinstance(r, Reaction))
    assert reactions == [("", "👍", {"count": 2}), ("11", "👍", {})]
    [pin] = [m for m in got.messages(system=True) if m.content is ContentKind.SYSTEM]
    assert pin.extra["action"] == "pin_message" and pin.extra["message_id"] == 4
    assert {m.group for m in got.messages()} == {group}
    assert got.contents()["voice"] == 1


def test_full_account_export_and_group_selection(sqlite_url: str, tmp_path: Path) -> None:
    personal = json.loads((TG / "tg-parser" / "personal_chat.json").read_text(encoding="utf-8"))
    forum = json.loads((TG / "tg-parser" / "supergroup_with_topics.json").read_text(encoding="utf-8"))
    doc = {
        "about": "Here is the data you requested.",
        "personal_information": {"user_id": 1, "first_name": "Me", "phone_number": "+86 138 1234 5678"},
        "contacts": {"about": "contacts", "list": [{"first_name": "A", "phone_number": "+1 555"}]},
        "chats": {"about": "chats", "list": [personal, forum]},
    }
    path = _write(tmp_path / "result.json", doc)
    got = import_files(sqlite_url, path, group="Test Group")
    assert {m.group for m in got.messages(system=True)} == {"-100987654321"}
    assert len(got.messages()) == 4
    everything = import_files(f"sqlite:///{tmp_path / 'all.db'}", path)
    assert {m.group for m in everything.messages(system=True)} == {"123456789", "-100987654321"}
    with pytest.raises(UserError, match=r"Nope.*Test Group"):
        import_files(f"sqlite:///{tmp_path / 'none.db'}", path, group="Nope")


@pytest.mark.parametrize("indent", [None, 2, "\t"])
def test_other_layouts_give_the_same_events(tmp_path: Path, indent: int | str | None) -> None:
    """Minified (read by ijson), two-space and tab indentation: the same events as Telegram's own layout."""
    source = TG / "tgif-c-sharp-indonesia.result.json"
    doc = json.loads(source.read_text(encoding="utf-8"))
    reference = import_files(f"sqlite:///{tmp_path / 'ref.db'}", source, group=None)
    other = tmp_path / "other.json"
    other.write_text(json.dumps(doc, ensure_ascii=False, indent=indent), encoding="utf-8")
    got = import_files(f"sqlite:///{tmp_path / 'other.db'}", other)
    assert [e.to_dict() for e in got.events] == [e.to_dict() for e in reference.events]


def test_messages_without_ids_use_content_ids(sqlite_url: str, tmp_path: Path) -> None:
    doc = {"name": "x", "type": "private_group", "id": 1, "messages": [
        {"type": "message", "date_unixtime": "1700000000", "from": "A", "text": "same"},
        {"type": "message", "date_unixtime": "1700000000", "from": "A", "text": "same"},
    ]}  # fmt: skip
    path = _write(tmp_path / "r.json", doc)
    assert import_files(sqlite_url, path).report.added == 2
    assert import_files(sqlite_url, path).report.added == 0


def test_messages_are_domain_messages(sqlite_url: str) -> None:
    got = import_files(sqlite_url, TG / "tgif-c-sharp-indonesia.result.json")
    assert all(isinstance(e, Message | Edit) for e in got.events)
    assert all(e.platform == "telegram" and e.group == "-1001730156619" for e in got.events)


def test_a_truncated_minified_export_names_the_byte_offset(sqlite_url: str, tmp_path: Path) -> None:
    doc = json.loads((TG / "tgif-oop" / "exported.json").read_text(encoding="utf-8"))
    data = json.dumps(doc, ensure_ascii=False).encode()
    cut = tmp_path / "cut.json"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match=rf"^{re.escape(str(cut))}:byte \d+: "):
        import_files(sqlite_url, cut)
    assert import_files(sqlite_url, TG / "tgif-oop" / "exported.json").report.added >= len(doc["messages"])  # + edits
