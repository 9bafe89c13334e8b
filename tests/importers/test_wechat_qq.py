"""WeChat exports (PyWxDump CSV in both layouts, MemoTrace/留痕 CSV and TXT) and QQ 消息管理器 TXT, with --mask-pii."""

from __future__ import annotations

import csv
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import orjson

from shequn.domain import ContentKind, Delete, Join, JoinMethod, Leave, LeaveReason, Message
from tests.importers.helpers import DATA, FIXTURES, import_files

WECHAT = DATA / "wechat"
TYPE_KIND = {"文本": "text", "图片": "image", "动画表情": "sticker", "系统通知": "system"}


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(encoding="utf-8-sig", newline="") as f:
        return list(csv.DictReader(f))


def test_pywxdump_8_columns_counts_from_the_file(sqlite_url: str) -> None:
    path = WECHAT / "pywxdump-8col-example_chat.csv"
    rows = _rows(path)
    got = import_files(sqlite_url, path, tz="Asia/Shanghai")
    assert got.contents() == Counter(TYPE_KIND[r["type_name"]] for r in rows)
    assert len(got.events) == len(rows) == 35
    mine = [m for m in got.messages() if m.actor == "self"]
    assert len(mine) == sum(1 for r in rows if r["is_sender"] == "1")
    assert {m.actor for m in got.messages()} == {"self", "xinglaifaxianzhe"}
    first = got.messages(system=True)[0]
    assert (first.message_id, first.at) == ("953020244103908134", datetime(2023, 8, 12, 15, 22, 41, tzinfo=UTC))
    sticker = next(m for m in got.messages() if m.content is ContentKind.STICKER)
    assert sticker.media.startswith("http://wxapp.tc.qq.com/") and sticker.text == ""
    assert got.report.groups[("wechat", "xinglaifaxianzhe")].total_added == 35


def test_pywxdump_pii_file_and_repeated_server_ids(sqlite_url: str) -> None:
    """Two rows of this file reuse a MsgSvrID (rows 67/69 and 68/70): the log keeps one event per id, and the
    report says two were already there rather than dropping them silently."""
    path = WECHAT / "pywxdump-pii-test.csv"
    rows = _rows(path)
    got = import_files(sqlite_url, path)
    tally = got.report.groups[("wechat", "wxid_6789z5qlxzfj22")]
    assert tally.received["message"] == len(rows) == 62
    assert tally.added["message"] == len({r["MsgSvrID"] for r in rows}) == 60
    texts = {m.text for m in got.messages()}
    assert "13812345678" in texts and "zhang.wei@163.com" in texts  # unmasked without --mask-pii


def test_mask_pii_masks_phones_emails_and_wechat_ids(sqlite_url: str) -> None:
    got = import_files(sqlite_url, WECHAT / "pywxdump-pii-test.csv", mask_pii=True)
    texts = {m.text for m in got.messages()}
    for raw in ("13812345678", "021-62345678", "+1-125-123-4567", "+44-20-7946-0958"):
        assert raw not in texts
    for raw in ("zhang.wei@163.com", "li.ming@qq.com", "john.doe@gmail.com", "sarah.johnson@outlook.com"):
        assert raw not in texts
    assert {"138****5678", "021-****5678", "+1-***-***-4567", "+44-**-****-0958", "z***@163.com"} <= texts
    assert "192.168.1.100" in texts and "110101199001011234" in texts  # not phone numbers: left as they are
    with got.app.store.db.engine.connect() as conn:
        raw = b"".join(r[0].encode() for r in conn.exec_driver_sql("SELECT payload FROM event"))
    assert b"13812345678" not in raw and b"zhang.wei@163.com" not in raw


def test_mask_pii_turns_personal_ids_into_stable_pseudonyms(sqlite_url: str, tmp_path: Path) -> None:
    path = tmp_path / "wa.txt"
    path.write_text(
        "1/2/21, 10:00 - +86 138 1234 5678: 我的微信号：abc_123456 邮箱 a.b@qq.com\n"
        "1/2/21, 10:01 - +86 139 1234 5678: ok\n"
        "1/2/21, 10:02 - +86 138 1234 5678: again\n",
        encoding="utf-8",
    )
    got = import_files(sqlite_url, path, group="g", mask_pii=True)
    first, second, third = got.messages()
    assert first.actor == third.actor != second.actor
    assert first.actor.startswith("masked:") and first.actor_name == "+86 *** **** 5678"
    assert first.text == "我的微信号：a**** 邮箱 a***@qq.com"
    again = import_files(sqlite_url, path, group="g", mask_pii=True)
    assert again.report.added == 0  # the same key: the same pseudonyms and ids
    key = got.app.store.imports.pii_key(got.app.store.db.engine.connect(), got.app.ws.id)
    assert key is not None and len(key) == 32


def test_pywxdump_9_columns_built_from_the_spec(sqlite_url: str) -> None:
    """No real 9-column PyWxDump file is vendored (the PII file is synthetic): the fixture follows PyWxDump's
    ``export_csv`` layout ``id,MsgSvrID,type_name,is_sender,talker,room_name,msg,src,CreateTime`` for a group chat,
    with a multi-line quoted field, a quote reply, a recall and system notices."""
    got = import_files(sqlite_url, FIXTURES / "pywxdump-9col.csv", tz="Asia/Shanghai")
    room = "12345678901@chatroom"
    assert {e.group for e in got.events} == {room}
    joins = [(j.actor, j.actor_name, j.inviter, j.method) for j in got.events if isinstance(j, Join)]
    assert joins == [("", "李雷", "", JoinMethod.INVITED)]  # names only: 李雷 had not spoken yet
    msgs = {m.message_id: m for m in got.messages()}
    assert msgs["4073926741244660002"].text == "大家好\n我是新来的李雷"
    assert msgs["4073926741244660002"].at == datetime(2024, 10, 4, 3, 42, tzinfo=UTC)
    assert (msgs["4073926741244660003"].actor, msgs["4073926741244660003"].content) == ("self", ContentKind.IMAGE)
    reply = msgs["4073926741244660004"]
    assert (reply.text, reply.extra["quote"]) == ("同意", "(2024-10-04 11:42:00)李雷:大家好")
    assert msgs["4073926741244660005"].content is ContentKind.STICKER
    assert msgs["4073926741244660006"].content is ContentKind.LINK
    [delete] = [e for e in got.events if isinstance(e, Delete)]
    assert delete.actor == "wxid_lilei001"  # 李雷 spoke before recalling: the name resolves
    [leave] = [e for e in got.events if isinstance(e, Leave)]
    assert (leave.actor, leave.actor_name, leave.reason) == ("", "李雷", LeaveReason.REMOVED)  # rows carry no names


def test_memotrace_csv_built_from_the_spec(sqlite_url: str) -> None:
    """No real MemoTrace (留痕) CSV is vendored: the fixture follows its 12 columns (UTF-8 with BOM) for a group
    chat, ``Type``/``SubType`` as documented, ``CreateTime`` in Unix seconds."""
    path = FIXTURES / "读书会一群_utf8.csv"
    got = import_files(sqlite_url, path)
    group = "读书会一群"
    assert {e.group for e in got.events} == {group}
    joins = [(j.actor, j.method, j.inviter, j.invite_code) for j in got.events if isinstance(j, Join)]
    assert joins == [
        ("wxid_lilei001", JoinMethod.INVITED, "wxid_wangxm01", ""),
        ("wxid_hanmm002", JoinMethod.INVITED, "wxid_wangxm01", ""),
        ("wxid_zhangw03", JoinMethod.INVITED, "wxid_wangxm01", "qr"),
    ]
    [leave] = [e for e in got.events if isinstance(e, Leave)]
    assert (leave.actor, leave.reason, leave.by) == ("wxid_zhangw03", LeaveReason.REMOVED, "wxid_wangxm01")
    assert got.contents() == {"text": 5, "image": 1, "sticker": 1, "voice": 1, "other": 1, "link": 1}
    [delete] = [e for e in got.events if isinstance(e, Delete)]
    assert delete.actor == "wxid_hanmm002"
    assert got.messages()[0].at == datetime.fromtimestamp(1700000060, UTC)
    same = [m for m in got.messages() if m.text == "大家好，我是李雷"]
    assert len(same) == 2 and same[0].id != same[1].id  # the same words at another time: another message
    assert import_files(sqlite_url, path).report.added == 0


def test_memotrace_txt_built_from_the_spec(sqlite_url: str) -> None:
    """No real MemoTrace TXT is vendored: the fixture follows its ``{StrTime} {name}\\n{content}\\n\\n`` records,
    system notices on their header line, and its placeholders ``[图片] [语音] [表情包]``."""
    got = import_files(sqlite_url, FIXTURES / "读书会一群.txt", tz="Asia/Shanghai")
    assert [(j.actor, j.inviter) for j in got.events if isinstance(j, Join)] == [("李雷", "王小明")]
    msgs = got.messages()
    assert [(m.actor, m.content) for m in msgs] == [
        ("李雷", ContentKind.TEXT),
        ("王小明", ContentKind.IMAGE),
        ("李雷", ContentKind.STICKER),
        ("王小明", ContentKind.TEXT),
        ("李雷", ContentKind.TEXT),
        ("李雷", ContentKind.OTHER),
        ("王小明", ContentKind.VOICE),
    ]
    assert msgs[3].text == "第一段\n\n第二段"
    assert (msgs[4].text, msgs[4].extra["quote"]) == ("同意", "王小明:第一段")
    assert msgs[0].at == datetime(2023, 11, 15, 6, 14, 20, tzinfo=UTC)
    assert len([e for e in got.events if isinstance(e, Delete)]) == 1


def test_qq_txt_built_from_the_spec(sqlite_url: str) -> None:
    """No real QQ export is vendored: the fixture follows the 消息管理器 layout (banner, ``====`` blocks with
    消息分组 and 消息对象, records ``date time nick(QQ)`` or ``nick<e-mail>``) with two chats in one file."""
    path = FIXTURES / "qq-export.txt"
    got = import_files(sqlite_url, path, tz="Asia/Shanghai")
    assert {e.group for e in got.events} == {"跑步爱好者", "读书会"}
    run = [e for e in got.events if e.group == "跑步爱好者"]
    assert [(e.kind.value, e.actor) for e in run if not isinstance(e, Message)] == [
        ("join", "22334455"),
        ("leave", "22334455"),
    ]
    msgs = [m for m in got.messages() if m.group == "跑步爱好者"]
    assert [(m.actor, m.actor_name, m.content) for m in msgs] == [
        ("123456", "张三", ContentKind.TEXT),
        ("lisi@example.com", "李四", ContentKind.TEXT),
        ("22334455", "小红", ContentKind.IMAGE),
        ("123456", "张三", ContentKind.STICKER),
        ("123456", "张三", ContentKind.TEXT),
    ]
    assert msgs[0].text == "你好\n第二行" and msgs[1].mentions == ("@张三",)
    assert msgs[0].id != msgs[-1].id  # the same text later is another message
    [early] = [m for m in got.messages() if m.group == "读书会"]
    assert early.at == datetime(2016, 6, 1, 0, 5, tzinfo=UTC)
    only = import_files(sqlite_url, path, group="读书会", tz="Asia/Shanghai")
    assert only.report.received == 1 and only.report.added == 0


def test_pywxdump_users_json_names_people(sqlite_url: str, tmp_path: Path) -> None:
    (tmp_path / "users.json").write_bytes(
        orjson.dumps({"wxid_lilei001": {"wxid": "wxid_lilei001", "nickname": "Lei", "remark": "李雷"}})
    )
    target = tmp_path / "12345678901@chatroom_0_5000.csv"
    target.write_bytes((FIXTURES / "pywxdump-9col.csv").read_bytes())
    got = import_files(sqlite_url, target)
    assert {m.actor_name for m in got.messages() if m.actor == "wxid_lilei001"} == {"李雷"}
    [leave] = [e for e in got.events if isinstance(e, Leave)]
    assert leave.actor == "wxid_lilei001"  # users.json names them: the notice resolves


def test_pywxdump_xml_notices_are_no_ones_messages(sqlite_url: str) -> None:
    """PyWxDump exports WeChat's ``<sysmsg>`` notices (type 10002) raw, under "未知": a recall (``revokemsg``, also
    split across the talker and msg columns) deletes the message it names and is no message itself; a join
    template is a join with the ids it names; pats (as 拍一拍 rows and as XML) and red-packet notices are system
    lines. No author's name holds XML."""
    got = import_files(sqlite_url, FIXTURES / "pywxdump-notices.csv", tz="Asia/Shanghai")
    members = [(m.message_id, m.actor, m.content) for m in got.messages() if m.content is not ContentKind.SYSTEM]
    assert members[:3] == [
        ("5000000000000000001", "wxid_wangxm01", ContentKind.TEXT),
        ("5000000000000000002", "wxid_lilei001", ContentKind.TEXT),
        ("5000000000000000004", "wxid_lilei001", ContentKind.TEXT),
    ]
    # Row 10, the text notice 消息撤回 (WeChat replaced the recalled row with it): it stands for the message that was.
    assert len(members) == 4 and members[3][1:] == ("wxid_zhangw03", ContentKind.OTHER)
    assert not any("<" in (e.actor_name or "") or "<" in (e.actor or "") for e in got.events)
    assert not any("sysmsg" in m.text or "revokemsg" in m.text for m in got.messages(system=True))
    deleted = {e.message_id for e in got.events if isinstance(e, Delete)}
    assert {"5000000000000000002", "5000000000000000004"} <= deleted
    [join] = [j for j in got.events if isinstance(j, Join)]
    assert (join.actor, join.actor_name, join.inviter, join.method) == (
        "wxid_zhangw03",
        "张伟",
        "wxid_wangxm01",
        JoinMethod.INVITED,
    )
    system = [m.text for m in got.messages(system=True) if m.content is ContentKind.SYSTEM]
    assert '"王小明" 拍了拍 "李雷"' in system and "张伟领取了王小明的红包" in system
    assert any("拍了拍" in t and "张伟" in t for t in system if "${" not in t)


def test_memotrace_xml_notices_pats_and_red_packets(sqlite_url: str) -> None:
    """MemoTrace's CSV keeps type 10002 rows as WeChat wrote them: the recall is a deletion, not a message; the QR
    join template is a join; a pat (10000,4) and a red-packet notice are system lines; a red packet (49,2001) is
    the sender's red packet."""
    got = import_files(sqlite_url, FIXTURES / "群通知_utf8.csv")
    members = [m for m in got.messages() if m.content is not ContentKind.SYSTEM]
    assert [(m.actor, m.content) for m in members] == [
        ("wxid_lilei001", ContentKind.TEXT),
        ("wxid_lilei001", ContentKind.RED_PACKET),
    ]
    [delete] = [e for e in got.events if isinstance(e, Delete)]
    assert (delete.message_id, delete.actor) == ("6612", "wxid_lilei001")
    [join] = [j for j in got.events if isinstance(j, Join)]
    assert (join.actor, join.inviter, join.invite_code) == ("wxid_zhaol04", "wxid_lilei001", "qr")
    system = [m.text for m in got.messages(system=True) if m.content is ContentKind.SYSTEM]
    assert system == ['"李雷" 拍了拍 "王小明"', "王小明领取了你的红包"]
