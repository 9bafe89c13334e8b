"""QQ 消息管理器 TXT exports → events.

How it works:
    The file opens with ``消息记录（此消息记录为文本格式，不支持重新导入）``; each chat begins with a block of
    ``====`` lines around ``消息分组:…`` and ``消息对象:<group>``. Records are ``YYYY-MM-DD H:MM:SS <nick>(<QQ>)`` or
    ``… <nick><e-mail>``, the content lines, and a blank line. ``[图片]`` and ``[表情]`` give the media kind.
    Notices from 系统消息(10000) that say someone joined (加入本群) or left or was removed (退出本群, 被…移出本群)
    become joins and leaves.

Things to keep in mind:
    * A person is their QQ number (or e-mail); the group is named by ``消息对象`` (or ``--group``): the export has no
      group number, so the name serves as its id, unless ``--group <group number>`` binds the export to that live
      group, or a live group (``shequn run -c qq`` keeps each group's QQ name) has that name: then the number is
      the id, so the history and the live group are one group with the same members. Both are reported.
    * No message ids: event ids are content ids. Times are local: read in ``--tz``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import datetime

from shequn.domain import ContentKind, Event, Join, JoinMethod, Leave, LeaveReason, Message
from shequn.i18n import t
from shequn.importers.base import Body, ContentIds, Context, LocalTimes, platform_id, text_lines, to_ms

PLATFORM = "qq"
BANNER = "消息记录（此消息记录为文本格式，不支持重新导入）"

_HEADER = re.compile(
    r"^(?P<y>\d{4})-(?P<mo>\d{1,2})-(?P<d>\d{1,2}) (?P<h>\d{1,2}):(?P<mi>\d{2}):(?P<s>\d{2}) "
    r"(?P<nick>.*?)(?:\((?P<qq>\d{4,12})\)|<(?P<email>[^<>\s]+@[^<>\s]+)>)$"
)
_SYSTEM_QQ = "10000"
_JOINED = re.compile(r"^(?P<who>.+?)(?:\((?P<qq>\d{4,12})\))?\s*(?:已)?加入(?:了)?本群")
_LEFT = re.compile(r"^(?P<who>.+?)(?:\((?P<qq>\d{4,12})\))?\s*(?:已)?退出(?:了)?本群")
_REMOVED = re.compile(r"^(?P<who>.+?)(?:\((?P<qq>\d{4,12})\))?\s*(?:已)?被(?:群主|管理员)?.*?移出(?:了)?本群")
_NUMBER = re.compile(r"^[1-9]\d{4,11}$")  # a QQ group number
_PLACEHOLDERS = {"[图片]": ContentKind.IMAGE, "[表情]": ContentKind.STICKER, "[文件]": ContentKind.FILE}


class _Chat:
    def __init__(self, ctx: Context, name: str) -> None:
        self.ctx = ctx
        self.group = _group_id(ctx, name)
        self.ids = ContentIds(PLATFORM, self.group)
        self.times = LocalTimes(ctx.options.tz)
        live_name = next((n for (p, n), gid in ctx.options.live.items() if p == PLATFORM and gid == self.group), "")
        self.chat = ctx.chat(PLATFORM, self.group, name or live_name or self.group)


def _group_id(ctx: Context, name: str) -> str:
    """The group a chat of the export is: ``--group <number>`` binds it to that live QQ group (the chat the live
    group's QQ name names, or every chat when that name is not known); without it a chat whose name a live group
    has is that group (the match is reported); otherwise the chat's name is its id, as the export has no number.
    A ``--group`` that is no number names a chat the file does not name, or selects one by name."""
    given = ctx.options.group or ""
    live = {n: gid for (p, n), gid in ctx.options.live.items() if p == PLATFORM}
    if _NUMBER.match(given):
        known = next((n for n, gid in live.items() if gid == given), None)
        if known is None or not name or name == known:
            _note(ctx, t("import.qq.bound", None, name=name or known or given, group=given))
            return given
        return name  # another chat of the export: --group leaves it out
    if name and name in live and not given:
        _note(ctx, t("import.qq.matched", None, name=name, group=live[name]))
        return live[name]
    return name or given or ctx.source.filename.rsplit(".", 1)[0]


def _note(ctx: Context, note: str) -> None:
    if note not in ctx.notes:
        ctx.notes.append(note)


def parse(ctx: Context) -> Iterator[Event]:
    """Events of a QQ 消息管理器 text export (one or several chats)."""
    chat: _Chat | None = None
    record: tuple[int, re.Match[str], list[str]] | None = None
    banner = False
    for n, line in text_lines(ctx, chinese=True):
        if not banner:
            if not line.strip():
                continue
            if line.strip().lstrip("\ufeff") != BANNER:
                raise ctx.error("not_qq", expected=BANNER)
            banner = True
            continue
        m = _HEADER.match(line)
        if m is not None:
            if record is not None and chat is not None:
                yield from _record(ctx, chat, *record)
            if chat is None:
                chat = _Chat(ctx, "")
            record = (n, m, Body(ctx, n))
            continue
        if line.startswith("消息对象:") or line.startswith("消息对象："):
            if record is not None and chat is not None:
                yield from _record(ctx, chat, *record)
            record = None
            chat = _Chat(ctx, line.split(":", 1)[-1].split("：", 1)[-1].strip())
            continue
        if record is None:
            if line.strip() and not set(line.strip()) <= {"="} and not line.startswith(("消息分组:", "消息分组：")):
                raise ctx.error("not_qq", expected="2016-05-24 21:42:13 昵称(12345678)")
            continue
        if set(line.strip()) == {"="}:
            continue
        record[2].append(line)
    if not banner:
        raise ctx.error("not_qq", where="line 1", expected=BANNER)
    if record is not None and chat is not None:
        yield from _record(ctx, chat, *record)


def _record(ctx: Context, chat: _Chat, line: int, m: re.Match[str], body: list[str]) -> Iterator[Event]:
    if not ctx.wanted(chat.chat):
        return
    ctx.where = f"line {line}"
    while body and not body[-1].strip():
        body.pop()
    try:
        at = chat.times.utc(*(int(m.group(k)) for k in ("y", "mo", "d", "h", "mi", "s")))
    except ValueError:
        when = " ".join(m.group(0).split(" ", 2)[:2])
        raise ctx.error("bad_time", value=when, expected="2016-05-24 21:42:13") from None
    at_ms = to_ms(at)
    qq = m.group("qq") or m.group("email") or ""
    nick = m.group("nick").strip()
    text = "\n".join(body)
    if qq == _SYSTEM_QQ:
        yield from _system(ctx, chat, at, at_ms, text)
        return
    actor, name = ctx.mask_id(qq), ctx.mask_text(nick or qq)
    content = _PLACEHOLDERS.get(text.strip(), ContentKind.TEXT)
    if content is ContentKind.TEXT and text.strip() and all(p in _PLACEHOLDERS for p in _split_placeholders(text)):
        content = ContentKind.IMAGE if "[图片]" in text else ContentKind.STICKER
    text = ctx.mask_text(text)
    eid = chat.ids.make(at_ms, actor, text)
    yield Message(
        id=eid,
        at=at,
        platform=PLATFORM,
        group=chat.group,
        actor=actor,
        actor_name=name,
        message_id=eid,
        content=content,
        text=text if content is ContentKind.TEXT else "",
        mentions=_mentions(text),
    )


def _split_placeholders(text: str) -> list[str]:
    return [p for p in re.split(r"(\[[^\]]{1,4}\])", text) if p.strip()]


def _mentions(text: str) -> tuple[str, ...]:
    return tuple(dict.fromkeys(m for m in re.findall(r"@\S{1,30}", text)))


def _system(ctx: Context, chat: _Chat, at: datetime, at_ms: int, text: str) -> Iterator[Event]:
    for pattern, make in ((_REMOVED, "removed"), (_LEFT, "left"), (_JOINED, "joined")):
        m = pattern.match(text)
        if m is None:
            continue
        actor = ctx.mask_id(m.group("qq") or "")
        name = ctx.mask_text(m.group("who").strip())
        key = f"{at_ms}:{make}:{actor or name}"
        if make == "joined":
            yield Join(
                id=platform_id(PLATFORM, chat.group, "join", key), at=at, platform=PLATFORM, group=chat.group,
                actor=actor, actor_name=name, method=JoinMethod.UNKNOWN,
            )  # fmt: skip
        else:
            yield Leave(
                id=platform_id(PLATFORM, chat.group, "leave", key), at=at, platform=PLATFORM, group=chat.group,
                actor=actor, actor_name=name,
                reason=LeaveReason.REMOVED if make == "removed" else LeaveReason.VOLUNTARY,
            )  # fmt: skip
        return
    text = ctx.mask_text(text)
    eid = chat.ids.make(at_ms, "", text, kind="s")
    yield Message(
        id=eid, at=at, platform=PLATFORM, group=chat.group, message_id=eid, content=ContentKind.SYSTEM, text=text
    )
