"""DiscordChatExporter exports → events: JSON (one channel or thread per file) and CSV.

How it works:
    JSON messages stream through :func:`~shequn.importers.jsonstream.array_items`. ``Default`` and ``Reply``
    messages become messages (``reference.messageId`` → ``reply_to``, ``mentions`` → user ids, attachments →
    the media kind by file type, stickers → sticker); ``GuildMemberJoin`` a join (self), ``RecipientAdd`` a join
    (invited by the author), ``RecipientRemove`` a leave (removed by the author, or voluntary when they removed
    themselves); the other types (calls, pins, channel name or icon changes, thread creation) system messages.
    ``timestampEdited`` becomes an edit, and ``reactions`` reactions: one per user when the export lists the users,
    one with ``extra.count`` otherwise. A thread's messages belong to its parent channel with ``thread`` set.

    The CSV layout (``AuthorID,Author,Date,Content,Attachments,Reactions``) has no message or channel ids: the
    channel comes from ``[<id>]`` in DiscordChatExporter's file name, else ``--group`` or the file name, and event
    ids are content ids. Its dates use the exporter's date format: ISO 8601, or ``dd-MMM-yy hh:mm tt`` and
    similar, read in ``--tz`` when they carry no offset.

Things to keep in mind:
    * ``messageCount`` can disagree with the messages in the file: the messages are counted, never the field.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Iterator, Mapping
from datetime import UTC, datetime
from typing import Any

from shequn.domain import (
    ContentKind,
    Edit,
    Event,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    Reaction,
    stable_id,
)
from shequn.importers.base import (
    ContentIds,
    Context,
    LocalTimes,
    bounded_lines,
    fields,
    items,
    platform_id,
    sniff_encoding,
    to_ms,
)
from shequn.importers.jsonstream import array_items

PLATFORM = "discord"
CSV_COLUMNS = ["AuthorID", "Author", "Date", "Content", "Attachments", "Reactions"]

_TEXT_TYPES = {"Default", "Reply", "ThreadStarterMessage", "ChatInputCommand", "ContextMenuCommand"}
_EXT_KIND = {
    **dict.fromkeys(("png", "jpg", "jpeg", "gif", "webp", "bmp", "heic"), ContentKind.IMAGE),
    **dict.fromkeys(("mp4", "mov", "webm", "mkv", "avi"), ContentKind.VIDEO),
    **dict.fromkeys(("mp3", "ogg", "wav", "m4a", "opus", "flac"), ContentKind.VOICE),
}


def _kind_of(name: str) -> ContentKind:
    ext = name.rsplit("?", 1)[0].rsplit(".", 1)[-1].lower() if "." in name else ""
    return _EXT_KIND.get(ext, ContentKind.FILE)


def _iso(ctx: Context, value: Any, times: LocalTimes | None = None) -> datetime:
    if not isinstance(value, str):
        raise ctx.error("bad_time", value=str(value), expected="2023-01-17T19:33:07.489+00:00")
    try:
        dt = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise ctx.error("bad_time", value=value, expected="2023-01-17T19:33:07.489+00:00") from None
    if dt.tzinfo is None:
        tz = times or LocalTimes(ctx.options.tz)
        return tz.utc(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
    return dt.astimezone(UTC)


def _author(ctx: Context, m: Mapping[str, Any]) -> tuple[str, str, bool]:
    a = m.get("author")
    if not isinstance(a, Mapping) or a.get("id") is None:
        raise ctx.error("missing_field", field="author.id")
    name = a.get("nickname") or a.get("name") or ""
    return ctx.mask_id(str(a["id"])), ctx.mask_text(str(name)), bool(a.get("isBot"))


def parse_json(ctx: Context) -> Iterator[Event]:
    """Events of a DiscordChatExporter JSON export."""
    times = LocalTimes(ctx.options.tz)
    holder_id = -1
    group = thread = ""
    keep = True
    for around, m in array_items(ctx, frozenset({"messages"})):
        root = around[0] if around else {}
        if id(root) != holder_id:
            holder_id = id(root)
            channel = fields(root.get("channel"))
            cid = str(channel.get("id") or ctx.options.group or ctx.source.filename)
            ctype = str(channel.get("type") or "")
            if ctype.endswith("Thread") and channel.get("categoryId"):
                group, thread = str(channel["categoryId"]), cid
                name = str(channel.get("category") or group)
            else:
                group, thread = cid, ""
                name = str(channel.get("name") or cid)
            chat = ctx.chat(PLATFORM, group, name)
            keep = ctx.wanted(chat)
        if keep:
            yield from _json_message(ctx, times, group, thread, m)


def _json_message(ctx: Context, times: LocalTimes, group: str, thread: str, m: Mapping[str, Any]) -> Iterator[Event]:
    if m.get("id") is None:
        raise ctx.error("missing_field", field="id")
    mid = str(m["id"])
    at = _iso(ctx, m.get("timestamp"), times)
    actor, name, bot = _author(ctx, m)
    kind = str(m.get("type") or "Default")
    mentions = tuple(
        ctx.mask_id(str(x["id"])) for x in items(m.get("mentions")) if isinstance(x, Mapping) and x.get("id")
    )
    text = ctx.mask_text(str(m.get("content") or ""))
    if kind == "GuildMemberJoin":
        yield Join(
            id=platform_id(PLATFORM, group, "join", mid), at=at, platform=PLATFORM, group=group, actor=actor,
            actor_name=name, method=JoinMethod.SELF,
        )  # fmt: skip
        return
    if kind in ("RecipientAdd", "RecipientRemove"):
        targets = [x for x in items(m.get("mentions")) if isinstance(x, Mapping) and x.get("id")] or [m["author"]]
        for t in targets:
            who = ctx.mask_id(str(t["id"]))
            who_name = ctx.mask_text(str(t.get("nickname") or t.get("name") or ""))
            if kind == "RecipientAdd":
                yield Join(
                    id=platform_id(PLATFORM, group, "join", f"{mid}:{who}"), at=at, platform=PLATFORM, group=group,
                    actor=who, actor_name=who_name, method=JoinMethod.INVITED if who != actor else JoinMethod.SELF,
                    inviter=actor if who != actor else "",
                )  # fmt: skip
            else:
                yield Leave(
                    id=platform_id(PLATFORM, group, "leave", f"{mid}:{who}"), at=at, platform=PLATFORM, group=group,
                    actor=who, actor_name=who_name,
                    reason=LeaveReason.VOLUNTARY if who == actor else LeaveReason.REMOVED,
                    by="" if who == actor else actor,
                )  # fmt: skip
        return
    content = ContentKind.TEXT if kind in _TEXT_TYPES else ContentKind.SYSTEM
    media = ""
    attachments = [a for a in items(m.get("attachments")) if isinstance(a, Mapping)]
    stickers = [s for s in items(m.get("stickers")) if isinstance(s, Mapping)]
    if content is ContentKind.TEXT:
        if attachments:
            first = str(attachments[0].get("fileName") or attachments[0].get("url") or "")
            content, media = _kind_of(first), first
        elif stickers:
            content, media = ContentKind.STICKER, str(stickers[0].get("name") or "")
        elif m.get("embeds") and re.fullmatch(r"\s*https?://\S+\s*", text):
            content = ContentKind.LINK
    ref = m.get("reference")
    reply_to = str(ref.get("messageId") or "") if isinstance(ref, Mapping) and kind in _TEXT_TYPES else ""
    yield Message(
        id=platform_id(PLATFORM, group, "m", mid),
        at=at,
        platform=PLATFORM,
        group=group,
        actor=actor,
        actor_name=name,
        message_id=mid,
        content=content,
        text=text,
        reply_to=reply_to,
        mentions=mentions,
        media=media,
        thread=thread,
        from_bot=bot,
        extra={} if content is not ContentKind.SYSTEM else {"type": kind},
    )
    edited = m.get("timestampEdited")
    if edited:
        when = _iso(ctx, edited, times)
        yield Edit(
            id=platform_id(PLATFORM, group, "edit", f"{mid}@{to_ms(when)}"), at=when, platform=PLATFORM,
            group=group, actor=actor, actor_name=name, message_id=mid, text=text,
        )  # fmt: skip
    for r in items(m.get("reactions")):
        if not isinstance(r, Mapping):
            continue
        e = fields(r.get("emoji"))
        emoji = str(e.get("name") or e.get("id") or "")
        users = [u for u in items(r.get("users")) if isinstance(u, Mapping) and u.get("id")]
        for u in users:
            uid = ctx.mask_id(str(u["id"]))
            yield Reaction(
                id=platform_id(PLATFORM, group, "reaction", f"{mid}:{emoji}:{uid}"), at=at, platform=PLATFORM,
                group=group, actor=uid, actor_name=ctx.mask_text(str(u.get("nickname") or u.get("name") or "")),
                message_id=mid, emoji=emoji,
            )  # fmt: skip
        count = r.get("count")
        rest = (count if isinstance(count, int) else 0) - len(users)
        if rest > 0:
            yield Reaction(
                id=platform_id(PLATFORM, group, "reactions", f"{mid}:{emoji}"), at=at, platform=PLATFORM,
                group=group, message_id=mid, emoji=emoji, extra={"count": rest},
            )  # fmt: skip


_CSV_DATES = (
    "%d-%b-%y %I:%M %p",
    "%m/%d/%Y %I:%M %p",
    "%d/%m/%Y %H:%M",
    "%Y-%m-%d %H:%M:%S",
    "%Y-%m-%d %H:%M",
    "%d-%b-%y %H:%M",
    "%m/%d/%Y %H:%M",
)
_REACTION = re.compile(r"(?P<emoji>[^,(]+?) \((?P<count>\d+)\)")
_CHANNEL_ID = re.compile(r"\[(?P<id>\d{6,25})\]")


def _csv_date(ctx: Context, times: LocalTimes, value: str) -> datetime:
    v = value.strip()
    if (v[:4].isdigit() and "T" in v) or v.endswith("Z") or re.search(r"[+-]\d{2}:\d{2}$", v):
        return _iso(ctx, v, times)
    for fmt in _CSV_DATES:
        try:
            dt = datetime.strptime(v, fmt)
        except ValueError:
            continue
        return times.utc(dt.year, dt.month, dt.day, dt.hour, dt.minute, dt.second)
    raise ctx.error("bad_time", value=v[:40], expected="2023-01-17T19:33:07+00:00 or 17-Jan-23 07:33 PM")


def parse_csv(ctx: Context) -> Iterator[Event]:
    """Events of a DiscordChatExporter CSV export."""
    m = _CHANNEL_ID.search(ctx.source.filename)
    name = ctx.source.filename.rsplit(".", 1)[0]
    group = m.group("id") if m else (ctx.options.group or name)
    chat = ctx.chat(PLATFORM, group, name)
    if m and not ctx.wanted(chat):
        return
    times = LocalTimes(ctx.options.tz)
    ids = ContentIds(PLATFORM, group)
    encoding = sniff_encoding(ctx.source.head(65536))
    with ctx.open() as raw:
        stream = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding, newline="")
        reader = csv.reader(bounded_lines(ctx, stream))
        try:
            header = next(reader, None)
            ctx.where = "line 1"
            if header is None or [h.strip().lstrip("\ufeff") for h in header] != CSV_COLUMNS:
                raise ctx.error("bad_header", expected=",".join(CSV_COLUMNS))
            for row in reader:
                ctx.where = f"line {reader.line_num}"
                if not row:
                    continue
                if len(row) != len(CSV_COLUMNS):
                    raise ctx.error("bad_row", columns=len(row), expected=len(CSV_COLUMNS))
                yield from _csv_row(ctx, times, ids, group, row)
        except UnicodeDecodeError:
            raise ctx.error("not_text", encoding=encoding) from None
        except csv.Error as exc:
            raise ctx.error("bad_csv", detail=str(exc)) from None


def _csv_row(ctx: Context, times: LocalTimes, ids: ContentIds, group: str, row: list[str]) -> Iterator[Event]:
    author_id, author, date, content, attachments, reactions = row
    if not author_id.strip():
        raise ctx.error("bad_value", column="AuthorID", value="", expected="a user id")
    at = _csv_date(ctx, times, date)
    actor = ctx.mask_id(author_id.strip())
    name = ctx.mask_text(author)
    text = ctx.mask_text(content)
    files = [a for a in attachments.split(",") if a.strip()]
    kind, media = (_kind_of(files[0]), files[0]) if files else (ContentKind.TEXT, "")
    eid = ids.make(to_ms(at), actor, text + "\x1f" + attachments)
    yield Message(
        id=eid,
        at=at,
        platform=PLATFORM,
        group=group,
        actor=actor,
        actor_name=name,
        message_id=eid,
        content=kind,
        text=text,
        media=media,
    )
    for r in _REACTION.finditer(reactions):
        yield Reaction(
            id=stable_id(eid, "reactions", r.group("emoji").strip()),
            at=at,
            platform=PLATFORM,
            group=group,
            message_id=eid,
            emoji=r.group("emoji").strip(),
            extra={"count": int(r.group("count"))},
        )
