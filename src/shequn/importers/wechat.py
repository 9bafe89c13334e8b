"""WeChat (微信) exports → events: MemoTrace / 留痕 CSV (12 columns) and TXT, PyWxDump CSV (9 columns, and its older
8-column layout with ``{"src", "msg"}`` JSON in ``content``).

How it works:
    Each row or record becomes a message whose kind comes from the export's type (``Type``/``SubType`` numbers in
    MemoTrace, ``type_name`` in Chinese in PyWxDump, ``[图片]``-style placeholders in TXT). System notices
    (``Type`` 10000, 系统通知) that say who invited whom (邀请…加入了群聊), who joined by QR code
    (通过扫描…二维码加入群聊), who removed whom (移出了群聊) or who left (退出了群聊) become joins and leaves; a
    recalled message (撤回了一条消息) becomes a message and its deletion. WeChat's XML notices (``<sysmsg>``, type
    10002, which PyWxDump exports raw under "未知"): a recall (``revokemsg``) deletes the message it names and is
    no message itself; a join template (``sysmsgtemplate``: ``"$username$"邀请"$names$"加入了群聊`` with the
    members' nicknames) and a pat (``${wxid}拍了拍${wxid}``) are read as the notice they render to. Pats (拍一拍),
    red-packet and transfer notices stay system lines: nobody's message.

Things to keep in mind:
    * A message sent by the exporting account is marked ``IsSender``/``is_sender``; its WeChat id is not in
      PyWxDump's rows, so it is stored as the identity ``self`` (名 我). MemoTrace gives the sender's wxid.
    * PyWxDump rows carry the server message id (``MsgSvrID``): event ids come from it. MemoTrace rows and TXT
      records do not: event ids are content ids.
    * The chat: PyWxDump's ``room_name`` (``…@chatroom`` for groups); for MemoTrace, ``--group`` or the file name
      MemoTrace gives the export (``<remark>_utf8.csv``, ``<remark>.txt``). Names in system notices are resolved
      to ids through the senders seen so far.
    * Local times (``StrTime``, PyWxDump's ``CreateTime``) are read in ``--tz``; MemoTrace's ``CreateTime`` is Unix.
"""

from __future__ import annotations

import csv
import re
from collections.abc import Iterator, Sequence
from datetime import datetime
from pathlib import Path
from typing import Any

import orjson

from shequn.domain import ContentKind, Delete, Event, Join, JoinMethod, Leave, LeaveReason, Message
from shequn.importers.base import (
    Body,
    ContentIds,
    Context,
    LocalTimes,
    bounded_lines,
    from_unix,
    platform_id,
    sniff_encoding,
    text_lines,
    to_ms,
)

PLATFORM = "wechat"
SELF_ID = "self"
SELF_NAME = "我"

MEMOTRACE_COLUMNS = [
    "localId",
    "TalkerId",
    "Type",
    "SubType",
    "IsSender",
    "CreateTime",
    "Status",
    "StrContent",
    "StrTime",
    "Remark",
    "NickName",
    "Sender",
]
PYWXDUMP_COLUMNS = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "msg", "src", "CreateTime"]
PYWXDUMP8_COLUMNS = ["id", "MsgSvrID", "type_name", "is_sender", "talker", "room_name", "content", "CreateTime"]

_TYPES: dict[tuple[int, int], ContentKind] = {
    (1, 0): ContentKind.TEXT,
    (3, 0): ContentKind.IMAGE,
    (34, 0): ContentKind.VOICE,
    (42, 0): ContentKind.CONTACT_CARD,
    (43, 0): ContentKind.VIDEO,
    (47, 0): ContentKind.STICKER,
    (48, 0): ContentKind.LOCATION,
    (49, 0): ContentKind.FILE,
    (49, 1): ContentKind.TEXT,
    (49, 3): ContentKind.LINK,
    (49, 4): ContentKind.LINK,
    (49, 5): ContentKind.LINK,
    (49, 6): ContentKind.FILE,
    (49, 8): ContentKind.STICKER,
    (49, 17): ContentKind.LOCATION,
    (49, 19): ContentKind.OTHER,
    (49, 24): ContentKind.LINK,
    (49, 33): ContentKind.MINI_PROGRAM,
    (49, 36): ContentKind.MINI_PROGRAM,
    (49, 51): ContentKind.LINK,
    (49, 53): ContentKind.TEXT,
    (49, 57): ContentKind.TEXT,
    (49, 2001): ContentKind.RED_PACKET,
    (50, 0): ContentKind.SYSTEM,
    (10000, 0): ContentKind.SYSTEM,
    (10002, 0): ContentKind.SYSTEM,  # <sysmsg> XML: a recall (revokemsg), a join template, a pat …
}
_TYPE_NAMES: dict[str, ContentKind] = {
    "文本": ContentKind.TEXT,
    "图片": ContentKind.IMAGE,
    "语音": ContentKind.VOICE,
    "视频": ContentKind.VIDEO,
    "动画表情": ContentKind.STICKER,
    "用户上传的GIF表情": ContentKind.STICKER,
    "位置": ContentKind.LOCATION,
    "位置共享": ContentKind.LOCATION,
    "文件": ContentKind.FILE,
    "文件(猜)": ContentKind.FILE,
    "(分享)卡片式链接": ContentKind.LINK,
    "卡片式链接": ContentKind.LINK,
    "(分享)音乐": ContentKind.LINK,
    "(分享)笔记": ContentKind.LINK,
    "(分享)视频号视频": ContentKind.LINK,
    "(分享)视频号名片": ContentKind.CONTACT_CARD,
    "(分享)小程序": ContentKind.MINI_PROGRAM,
    "推荐公众号": ContentKind.CONTACT_CARD,
    "名片": ContentKind.CONTACT_CARD,
    "引用回复": ContentKind.TEXT,
    "粘贴的文本": ContentKind.TEXT,
    "接龙": ContentKind.TEXT,
    "合并转发的聊天记录": ContentKind.OTHER,
    "语音通话": ContentKind.SYSTEM,
    "系统通知": ContentKind.SYSTEM,
    "拍一拍": ContentKind.SYSTEM,
    "邀请加群": ContentKind.SYSTEM,
    "群公告": ContentKind.SYSTEM,
    "添加好友": ContentKind.SYSTEM,
}
_PLACEHOLDERS = {
    "[图片]": ContentKind.IMAGE,
    "[语音]": ContentKind.VOICE,
    "[视频]": ContentKind.VIDEO,
    "[表情包]": ContentKind.STICKER,
    "[表情]": ContentKind.STICKER,
    "[动画表情]": ContentKind.STICKER,
    "[文件]": ContentKind.FILE,
    "[音乐分享]": ContentKind.LINK,
    "[位置]": ContentKind.LOCATION,
    "[名片]": ContentKind.CONTACT_CARD,
    "[红包]": ContentKind.RED_PACKET,
    "[小程序]": ContentKind.MINI_PROGRAM,
}

_Q = "[\"“”'‘’「」]"
_NAME = rf"{_Q}?(?P<{{g}}>[^\"“”]+?){_Q}?"
_INVITE = re.compile(rf"^{_NAME.format(g='by')}邀请{_NAME.format(g='who')}加入了群聊")
_QR = re.compile(rf"^{_NAME.format(g='who')}通过扫描{_NAME.format(g='by')}分享的二维码加入群聊")
_JOINED = re.compile(rf"^{_NAME.format(g='who')}(?:通过.*)?加入了?群聊")
_REMOVED = re.compile(rf"^{_NAME.format(g='by')}将{_NAME.format(g='who')}移出了?群聊")
_LEFT = re.compile(rf"^{_NAME.format(g='who')}(?:已)?退出了?群聊")
_RECALL = re.compile(rf"^{_NAME.format(g='who')}\s*撤回了一条消息")
_CDATA = re.compile(r"<!\[CDATA\[|\]\]>|\s*<a href=\"weixin://revoke_edit_click\">重新编辑</a>")
# WeChat's <sysmsg> XML (type 10002; PyWxDump exports it raw as "未知" or "系统通知", sometimes after "wxid:\n").
_SYSMSG = re.compile(r"^\s*(?:[\w@.-]+:\s*\n)?\s*<sysmsg\b[^>]*?type=\"(?P<type>\w+)\"", re.S)
_XML_TAG = re.compile(r"<[^>]+>")
_PAT_NAME = re.compile(r"\$\{([^}]+)\}")
_LINK = re.compile(r"<link\b[^>]*\bname=\"(\w+)\"[^>]*>(.*?)</link>", re.S)
_LOCAL = re.compile(r"^\s*(\d{4})[-/.](\d{1,2})[-/.](\d{1,2})[ T](\d{1,2}):(\d{2})(?::(\d{2}))?\s*$")


class _Chat:
    """One WeChat chat being read: its ids, local times and the names seen (for system notices)."""

    def __init__(self, ctx: Context, group: str, name: str) -> None:
        self.ctx = ctx
        self.group = group
        self.ids = ContentIds(PLATFORM, group)
        self.times = LocalTimes(ctx.options.tz)
        self.names: dict[str, str] = {}  # display name → stored id
        self.me = (SELF_ID, SELF_NAME)  # the exporting account (你), when the export does not say who it is
        self.by_name = False  # people are known by display name only (TXT exports)
        ctx.chat(PLATFORM, group, name or group)

    def local(self, text: str) -> datetime:
        m = _LOCAL.match(text)
        if m is None:
            raise self.ctx.error("bad_time", value=text, expected="2024-10-04 11:42:00")
        y, mo, d, h, mi, s = (int(x) if x else 0 for x in m.groups())
        try:
            return self.times.utc(y, mo, d, h, mi, s)
        except ValueError:
            raise self.ctx.error("bad_time", value=text, expected="2024-10-04 11:42:00") from None

    def person(self, wxid: str, name: str) -> tuple[str, str]:
        ctx = self.ctx
        actor = ctx.mask_id(wxid or name)
        shown = ctx.mask_text(name or wxid)
        if name:
            self.names[name] = actor
        if wxid:
            self.names.setdefault(wxid, actor)
        return actor, shown

    def named(self, name: str) -> tuple[str, str]:
        """The id of someone a system notice names (你 is the exporting account)."""
        if name == "你":
            return self.me
        if self.by_name:
            return self.person("", name)
        return self.names.get(name, ""), self.ctx.mask_text(name)

    def message(
        self,
        at: datetime,
        actor: tuple[str, str],
        content: ContentKind,
        text: str,
        *,
        svrid: str = "",
        media: str = "",
        extra: dict[str, Any] | None = None,
    ) -> Iterator[Event]:
        """A message, or (for system notices) the joins, leaves and deletions it reports."""
        if content is ContentKind.SYSTEM:
            yield from self.system(at, text, svrid)
            return
        text = self.ctx.mask_text(text)
        eid = platform_id(PLATFORM, self.group, "m", svrid) if svrid else self.ids.make(to_ms(at), actor[0], text)
        yield Message(
            id=eid,
            at=at,
            platform=PLATFORM,
            group=self.group,
            actor=actor[0],
            actor_name=actor[1],
            message_id=svrid or eid,
            content=content,
            text=text,
            media=media,
            forwarded=content is ContentKind.OTHER and bool(extra and extra.get("type") == "合并转发的聊天记录"),
            extra=extra or {},
        )

    def recall(self, at: datetime, actor: tuple[str, str], svrid: str = "") -> Iterator[Event]:
        """A recalled message (撤回): the message that was, and its deletion (its text is gone)."""
        at_ms = to_ms(at)
        eid = platform_id(PLATFORM, self.group, "recalled", svrid) if svrid else self.ids.make(at_ms, actor[0], "\0r")
        yield Message(
            id=eid, at=at, platform=PLATFORM, group=self.group, actor=actor[0], actor_name=actor[1], message_id=eid,
            content=ContentKind.OTHER,
        )  # fmt: skip
        yield Delete(
            id=f"{eid}-del", at=at, platform=PLATFORM, group=self.group, actor=actor[0], actor_name=actor[1],
            message_id=eid, by=actor[0],
        )  # fmt: skip

    def sysmsg(self, at: datetime, kind: str, raw: str, svrid: str = "") -> Iterator[Event]:
        """A ``<sysmsg>`` notice: a recall deletes the message it names (no message of its own); a join, pat or
        other template is read as the notice text it renders to."""
        if kind == "revokemsg":
            said = _xml_text(raw, "replacemsg")
            who = _RECALL.match(said)
            actor = self.named(who.group("who")) if who else ("", "")
            recalled = _xml_text(raw, "newmsgid") or _xml_text(raw, "msgid")
            if not recalled.isdigit():
                yield from self.recall(at, actor, svrid)  # nothing names the message: the notice stands for it
                return
            yield Delete(
                id=platform_id(PLATFORM, self.group, "recall", svrid or recalled),
                at=at, platform=PLATFORM, group=self.group, actor=actor[0], actor_name=actor[1],
                message_id=recalled, by=actor[0],
            )  # fmt: skip
            return
        for wxid, nick in _link_members(raw):
            self.person(wxid, nick)  # the template names its members with their ids: "邀请" resolves to them
        yield from self.system(at, _render_template(raw, self.names), svrid)

    def system(self, at: datetime, raw: str, svrid: str = "") -> Iterator[Event]:
        kind = notice_kind(raw) if "<" in raw else None
        if kind is not None:
            yield from self.sysmsg(at, kind, raw, svrid)
            return
        text = _CDATA.sub("", raw).strip()
        at_ms = to_ms(at)
        key = svrid or str(at_ms)
        m = _INVITE.match(text)
        if m:
            inviter = self.named(m.group("by"))[0]
            for i, who in enumerate(re.split(r"[、,，]", m.group("who"))):
                actor, name = self.named(who.strip(_Q + " "))
                yield Join(
                    id=platform_id(PLATFORM, self.group, "join", f"{key}:{i}:{who}"),
                    at=at,
                    platform=PLATFORM,
                    group=self.group,
                    actor=actor,
                    actor_name=name,
                    method=JoinMethod.INVITED,
                    inviter=inviter,
                )
            return
        m = _QR.match(text) or _JOINED.match(text)
        if m:
            actor, name = self.named(m.group("who"))
            by = self.named(m.group("by"))[0] if "by" in m.groupdict() else ""
            yield Join(
                id=platform_id(PLATFORM, self.group, "join", f"{key}:{name}"),
                at=at,
                platform=PLATFORM,
                group=self.group,
                actor=actor,
                actor_name=name,
                method=JoinMethod.INVITED if by else JoinMethod.SELF,
                inviter=by,
                invite_code="qr" if "二维码" in text else "",
            )
            return
        m = _REMOVED.match(text)
        if m:
            remover = self.named(m.group("by"))[0]
            for i, who in enumerate(re.split(r"[、,，]", m.group("who"))):
                actor, name = self.named(who.strip(_Q + " "))
                yield Leave(
                    id=platform_id(PLATFORM, self.group, "leave", f"{key}:{i}:{who}"),
                    at=at,
                    platform=PLATFORM,
                    group=self.group,
                    actor=actor,
                    actor_name=name,
                    reason=LeaveReason.REMOVED,
                    by=remover,
                )
            return
        m = _LEFT.match(text)
        if m:
            actor, name = self.named(m.group("who"))
            yield Leave(
                id=platform_id(PLATFORM, self.group, "leave", f"{key}:{name}"),
                at=at,
                platform=PLATFORM,
                group=self.group,
                actor=actor,
                actor_name=name,
                reason=LeaveReason.VOLUNTARY,
            )
            return
        m = _RECALL.match(text)
        if m:
            yield from self.recall(at, self.named(m.group("who")), svrid)
            return
        text = self.ctx.mask_text(text)
        eid = platform_id(PLATFORM, self.group, "m", svrid) if svrid else self.ids.make(at_ms, "", text, kind="s")
        yield Message(
            id=eid,
            at=at,
            platform=PLATFORM,
            group=self.group,
            message_id=svrid or eid,
            content=ContentKind.SYSTEM,
            text=text,
        )


def _xml_text(raw: str, tag: str) -> str:
    """The text of the first ``<tag>`` of a sysmsg (CDATA unwrapped), or ""."""
    m = re.search(rf"<{tag}>(.*?)</{tag}>", raw, re.S)
    return _CDATA.sub("", m.group(1)).strip() if m else ""


def _render_template(raw: str, known: dict[str, str]) -> str:
    """The notice a sysmsg template shows: ``"$username$"邀请"$names$"加入了群聊`` with its links' nicknames, a pat's
    ``${wxid}拍了拍${wxid}`` with the names seen, else the XML's text."""
    template = _xml_text(raw, "template")
    if not template:
        return _XML_TAG.sub("", _CDATA.sub("", raw)).strip()
    names = {v: k for k, v in known.items() if v != k}  # stored id → a display name
    for link in _LINK.finditer(raw):
        nicks = [_CDATA.sub("", n).strip() for n in re.findall(r"<nickname>(.*?)</nickname>", link.group(2), re.S)]
        template = template.replace(f"${link.group(1)}$", "、".join(n for n in nicks if n))
    return _PAT_NAME.sub(lambda m: names.get(m.group(1), m.group(1)), template)


def _link_members(raw: str) -> list[tuple[str, str]]:
    """(wxid, nickname) of every member a sysmsg template's links name."""
    out = []
    for member in re.finditer(r"<member>(.*?)</member>", raw, re.S):
        wxid = _xml_text(member.group(1), "username")
        nick = _xml_text(member.group(1), "nickname")
        if wxid:
            out.append((wxid, nick))
    return out


def notice_kind(raw: str) -> str | None:
    """The sysmsg type of a raw WeChat XML notice (``revokemsg``, ``sysmsgtemplate``, ``pat`` …), or None."""
    m = _SYSMSG.match(raw)
    if m is not None:
        return m.group("type")
    return "revokemsg" if "<revokemsg>" in raw else None


def _csv_rows(ctx: Context, expected: Sequence[str]) -> Iterator[tuple[int, dict[str, str]]]:
    """The rows of a CSV export as dicts (with their line numbers), checking the header."""
    encoding = sniff_encoding(ctx.source.head(65536), chinese=True)
    import io

    with ctx.open() as raw:
        stream = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding, newline="")
        reader = csv.reader(bounded_lines(ctx, stream))
        try:
            header = next(reader, None)
            ctx.where = "line 1"
            if header is None or [h.strip().lstrip("\ufeff") for h in header] != list(expected):
                raise ctx.error("bad_header", expected=",".join(expected))
            for row in reader:
                ctx.where = f"line {reader.line_num}"
                if not row or (len(row) == 1 and not row[0]):
                    continue
                if len(row) != len(expected):
                    raise ctx.error("bad_row", columns=len(row), expected=len(expected))
                yield reader.line_num, dict(zip(expected, row, strict=True))
        except UnicodeDecodeError:
            raise ctx.error("not_text", encoding=encoding) from None
        except csv.Error as exc:
            raise ctx.error("bad_csv", detail=str(exc)) from None


def _int(ctx: Context, value: str, column: str) -> int:
    try:
        return int(value.strip())
    except ValueError:
        raise ctx.error("bad_value", column=column, value=value[:40], expected="a number") from None


def _file_group(ctx: Context, suffixes: tuple[str, ...] = ("_utf8",)) -> str:
    if ctx.options.group:
        return ctx.options.group
    stem = ctx.source.filename.rsplit(".", 1)[0]
    for suffix in suffixes:
        stem = stem.removesuffix(suffix)
    return stem


def parse_memotrace_csv(ctx: Context) -> Iterator[Event]:
    """Events of a MemoTrace (留痕) CSV export of one chat."""
    group = _file_group(ctx)
    chat = _Chat(ctx, group, group)
    # System notices name people by display name; a first pass learns every sender's names (a group's members:
    # few) so that an invitation resolves to the ids of people who have not spoken yet.
    counting, ctx.on_bytes = ctx.on_bytes, lambda n: None
    try:
        for _, row in _csv_rows(ctx, MEMOTRACE_COLUMNS):
            if row["Sender"] and row["IsSender"].strip() == "1":
                chat.me = (ctx.mask_id(row["Sender"]), ctx.mask_text(row["Remark"] or row["NickName"] or SELF_NAME))
            if row["Sender"]:
                for name in (row["Remark"], row["NickName"]):
                    if name:
                        chat.names.setdefault(name, ctx.mask_id(row["Sender"]))
    finally:
        ctx.on_bytes = counting
    for _, row in _csv_rows(ctx, MEMOTRACE_COLUMNS):
        kind = (_int(ctx, row["Type"], "Type"), _int(ctx, row["SubType"] or "0", "SubType"))
        seconds = _int(ctx, row["CreateTime"], "CreateTime")
        try:
            at = from_unix(seconds)
        except (OverflowError, ValueError):
            raise ctx.error(
                "bad_value", column="CreateTime", value=row["CreateTime"], expected="Unix seconds"
            ) from None
        name = row["Remark"] or row["NickName"]
        actor = chat.me if row["IsSender"].strip() == "1" and not row["Sender"] else chat.person(row["Sender"], name)
        content = _TYPES.get(kind, ContentKind.SYSTEM if kind[0] == 10000 else ContentKind.OTHER)
        text = row["StrContent"]
        extra: dict[str, Any] = {} if kind in _TYPES else {"type": f"{kind[0]},{kind[1]}"}
        if content not in (ContentKind.TEXT, ContentKind.SYSTEM) and text.lstrip().startswith("<"):
            extra["xml"] = True
            text = ""
        yield from chat.message(at, actor, content, text, extra=extra)


def parse_pywxdump_csv(ctx: Context) -> Iterator[Event]:
    """Events of a PyWxDump CSV export (9 columns, or the older 8 with JSON ``content``)."""
    head = ctx.source.head(4096).decode("utf-8", "replace").lstrip("\ufeff")
    columns = PYWXDUMP8_COLUMNS if head.startswith(",".join(PYWXDUMP8_COLUMNS)) else PYWXDUMP_COLUMNS
    names = _users_json(ctx)
    chats: dict[str, _Chat] = {}
    for _, row in _csv_rows(ctx, columns):
        room = row["room_name"].strip()
        if not room:
            raise ctx.error("bad_value", column="room_name", value="", expected="a chat id")
        chat = chats.get(room)
        if chat is None:
            chat = chats[room] = _Chat(ctx, room, names.get(room, ""))
        if not ctx.wanted(ctx.chats[(PLATFORM, room)]):
            continue
        if "content" in row:
            msg, src = _json_content(row["content"])
        else:
            msg, src = row["msg"], row["src"]
        at = chat.local(row["CreateTime"])
        talker = row["talker"].strip()
        svrid = row["MsgSvrID"].strip()
        svrid = svrid if svrid.isdigit() and svrid.strip("0") else ""
        raw = f"{talker}{msg}" if "<" in talker else msg
        if "<" in raw and notice_kind(raw) is not None:
            # WeChat's XML notice, exported as it is (type "未知" or "系统通知"): a notice, not anyone's message.
            yield from chat.system(at, raw, svrid)
            continue
        if "<" in talker:
            talker = "未知"  # a fragment of XML is nobody's name
        if row["is_sender"].strip() == "1":
            actor = (SELF_ID, SELF_NAME)
        else:
            if not room.endswith("@chatroom") and talker in ("", "未知"):
                talker = room
            actor = chat.person(talker, names.get(talker, ""))
        type_name = row["type_name"].strip()
        content = _TYPE_NAMES.get(type_name, ContentKind.OTHER)
        extra: dict[str, Any] = {} if type_name in ("文本", "") else {"type": type_name}
        if type_name.startswith("消息撤回"):
            yield from chat.recall(at, actor, svrid=row["MsgSvrID"].strip())
            continue
        if type_name == "引用回复" and "\n\n[引用]" in msg:
            msg, quote = msg.split("\n\n[引用]", 1)
            extra["quote"] = ctx.mask_text(quote)
        elif content in (ContentKind.IMAGE, ContentKind.STICKER, ContentKind.VIDEO) and msg in ("图片", "表情", "视频"):
            msg = ""
        yield from chat.message(at, actor, content, msg, svrid=svrid, media=src.strip(), extra=extra)


def _json_content(value: str) -> tuple[str, str]:
    try:
        data = orjson.loads(value)
    except orjson.JSONDecodeError:
        return value, ""
    if isinstance(data, dict):
        return str(data.get("msg") or ""), str(data.get("src") or "")
    return value, ""


def _users_json(ctx: Context) -> dict[str, str]:
    """wxid → remark or nickname from the ``users.json`` PyWxDump writes beside its CSV files, if any."""
    if ctx.source.member:
        return {}
    path: Path = ctx.source.path.parent / "users.json"
    try:
        if not path.is_file() or path.stat().st_size > 50 * 2**20:
            return {}
        data = orjson.loads(path.read_bytes())
    except (OSError, orjson.JSONDecodeError):
        return {}
    found: dict[str, str] = {}
    if isinstance(data, dict):
        for wxid, info in data.items():
            if isinstance(info, dict):
                found[str(wxid)] = str(info.get("remark") or info.get("nickname") or info.get("nickName") or "")
    return found


_TXT_HEADER = re.compile(r"^(\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}) (.*)$")


def parse_memotrace_txt(ctx: Context) -> Iterator[Event]:
    """Events of a MemoTrace TXT export: ``{StrTime} {name}\\n{content}\\n\\n`` records; system notices are
    ``{StrTime} {notice}\\n\\n``. Senders are known by display name only."""
    group = _file_group(ctx)
    chat = _Chat(ctx, group, group)
    chat.by_name = True
    record: tuple[int, str, str, list[str]] | None = None
    for n, line in text_lines(ctx, chinese=True):
        m = _TXT_HEADER.match(line)
        if m:
            if record is not None:
                yield from _txt_record(ctx, chat, *record)
            record = (n, m.group(1), m.group(2), Body(ctx, n))
            continue
        if record is None:
            if not line.strip():
                continue
            raise ctx.error("not_memotrace_txt", expected="2024-10-04 11:42:00 名字")
        record[3].append(line)
    if record is None:
        raise ctx.error("not_memotrace_txt", where="line 1", expected="2024-10-04 11:42:00 名字")
    yield from _txt_record(ctx, chat, *record)


def _txt_record(ctx: Context, chat: _Chat, line: int, when: str, head: str, body: list[str]) -> Iterator[Event]:
    ctx.where = f"line {line}"
    at = chat.local(when)
    while body and not body[-1].strip():
        body.pop()
    if not body:  # a system notice: the text is on the header line
        yield from chat.system(at, head)
        return
    actor = chat.person("", head.strip())
    text = "\n".join(body)
    content = _PLACEHOLDERS.get(text.strip(), ContentKind.TEXT)
    extra: dict[str, Any] = {}
    if content is not ContentKind.TEXT:
        text = ""
    elif text.lstrip().startswith("[链接]"):
        content = ContentKind.LINK
    elif "\n引用:" in text:
        text, quote = text.split("\n引用:", 1)
        extra["quote"] = ctx.mask_text(quote)
    yield from chat.message(at, actor, content, text, extra=extra)
