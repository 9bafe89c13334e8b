"""WhatsApp chat exports (``.txt``, or the ``.zip`` with ``_chat.txt`` and media) → events.

How it works:
    A line that starts with a date and a time (any of the header formats WhatsApp writes: ``[d/m/y H:M:S] Name:``,
    ``m/d/yy, h:mm a.m. - Name:``, ``yyyy-mm-dd, H:M - Name:`` …, 12 or 24 hour clocks, ``上午/下午``, U+200E and
    U+202F marks; every format of whatstk's list and what chat-miner's header pattern admits: dates written with
    commas, a tab before the time, one-digit minutes, ``24:05``) begins a record; other lines continue the message
    before. The order of day, month and year is not written anywhere, so it is inferred from the first records:
    the order that gives valid dates and the fewest steps back in time wins (ties: day first). Records with
    ``Name: text`` are messages; the others are system lines, and those that say who was added, joined, left or
    was removed become joins and leaves.
    ``<Media omitted>``, ``image omitted``, ``<attached: …>`` … give the media kind; "This message was deleted"
    a message and its deletion; ``<This message was edited>`` an edit; ``~ Name`` (a sender not in the exporting
    phone's contacts) is ``Name``. The text is read a megabyte at a time and
    one multi-line regular expression finds the headers in it; messages are written straight into their log rows.

Things to keep in mind:
    * WhatsApp exports carry no ids: a person is known by the name (or phone number) the export shows, and the
      group by ``--group`` or the export's file name (``WhatsApp Chat with NAME.txt``). Event ids are content ids
      (:class:`~shequn.importers.base.ContentIds`), which also serve as message ids for edits and deletions.
    * Times are local: read in ``--tz``.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import orjson

from shequn.domain import (
    ContentKind,
    Delete,
    Edit,
    Event,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    LogRow,
    Message,
    iso_ms,
)
from shequn.importers.base import (
    MIN_YEAR,
    Body,
    ContentIds,
    Context,
    LocalTimes,
    event_from_row,
    log_row,
    text_chunks,
)

PLATFORM = "whatsapp"

_SP = r"[ \u202f\u00a0]"
_HEAD = (
    r"(?P<head>[\u200e\u200f\u202a-\u202e\ufeff]*\[?"
    r"(?P<a>\d{1,4})(?P<sep>[./,-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})\.?,?(?:" + _SP + r"|\t)+"
    r"(?:(?P<cn>上午|下午|凌晨|中午|晚上)" + _SP + r"*)?"
    r"(?P<h>\d{1,2})[:.](?P<mi>\d{1,2})(?:[:.](?P<s>\d{2}))?"
    r"(?:" + _SP + r"*(?P<ampm>[AaPp]\.?" + _SP + r"?[Mm]\.?))?"
    r"(?:\]" + _SP + r"?(?:[-–]" + _SP + r")?|" + _SP + r"+[-–]" + _SP + r"+))"
    r"(?P<rest>.*)$"
)
HEADER = re.compile("^" + _HEAD)  # a line that begins a record
_HEADERS = re.compile("^" + _HEAD, re.MULTILINE)  # the records of a piece of text
_AUTHOR = re.compile(r"^(?P<author>[^:\u200e]{1,120}?):(?: |(?=[^\d\s])|$)(?P<text>.*)$")
_MARK_CHARS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"

_ORDERS = ("dmy", "mdy", "ymd", "ydm")
_INFER_RECORDS = 5000
CHUNK = 1 << 20  # bytes read at a time

_SYSTEM_ACTOR_TEXT = (
    "Messages and calls are end-to-end encrypted",
    "Messages you send to this group are now secured",
    "Messages to this group are now secured",
)
_JOIN_ADDED = re.compile(r"^(?P<by>.+?) added (?P<who>.+)$")
_JOIN_LINK = re.compile(r"^(?P<who>.+?) joined (?:using this group's invite link|from the community|via invite link)$")
_LEFT = re.compile(r"^(?P<who>.+?) left$")
_REMOVED = re.compile(r"^(?P<by>.+?) removed (?P<who>.+)$")
_WERE_ADDED = re.compile(r"^(?P<who>You) were added$")

_ATTACHED = re.compile(r"^<attached: (?P<file>[^>]+)>$")
_FILE_ATTACHED = re.compile(r"^(?P<file>\S+\.\w{2,4}) \(file attached\)(?:\n(?P<caption>.*))?$", re.S)
_OMITTED = {
    "<media omitted>": ContentKind.OTHER,
    "image omitted": ContentKind.IMAGE,
    "video omitted": ContentKind.VIDEO,
    "audio omitted": ContentKind.VOICE,
    "sticker omitted": ContentKind.STICKER,
    "gif omitted": ContentKind.VIDEO,
    "document omitted": ContentKind.FILE,
    "contact card omitted": ContentKind.CONTACT_CARD,
    "<multimedia omitido>": ContentKind.OTHER,
    "<medien ausgeschlossen>": ContentKind.OTHER,
    "<mídia oculta>": ContentKind.OTHER,
    "<媒体文件已省略>": ContentKind.OTHER,
}
_DELETED = ("this message was deleted", "you deleted this message", "this message was deleted by admin")
_EDITED = "<This message was edited>"
_URL_ONLY = re.compile(r"^https?://\S+$")
_EXT_KIND = {
    **dict.fromkeys(("jpg", "jpeg", "png", "heic", "gif"), ContentKind.IMAGE),
    **dict.fromkeys(("mp4", "mov", "3gp", "mkv"), ContentKind.VIDEO),
    **dict.fromkeys(("opus", "ogg", "m4a", "mp3", "aac", "wav"), ContentKind.VOICE),
    "vcf": ContentKind.CONTACT_CARD,
    "webp": ContentKind.STICKER,
}
_CHAT_NAME = re.compile(
    r"^(?:WhatsApp[- ]Chat(?: with| mit| - | con| com)?|Chat de WhatsApp con|Conversa do WhatsApp com|"
    r"与|WhatsApp 聊天 - )\s*(?P<name>.+?)(?:的 WhatsApp 聊天)?$",
    re.IGNORECASE,
)


def group_name(ctx: Context) -> str:
    """The group's name (and id): ``--group``, else the export's own file name."""
    if ctx.options.group:
        return ctx.options.group
    name = ctx.source.filename
    if name.lower() in ("_chat.txt", "chat.txt") and ctx.source.member:
        name = ctx.source.path.name
    stem = name.rsplit(".", 1)[0]
    m = _CHAT_NAME.match(stem)
    return m.group("name").strip() if m and m.group("name").strip() else stem


@dataclass(slots=True)
class _Record:
    line: int
    parts: tuple[str, str, str]  # the date's three numbers as written
    clock: tuple[int, int, int]  # hour (24 h), minute, second
    rest: str
    more: list[str] = field(default_factory=list)


# The groups of HEADER, by position (``Match.groups()``): the hot loop reads a tuple, not names.
_G_HEAD, _G_A, _G_B, _G_C, _G_CN, _G_H, _G_MI, _G_S, _G_AMPM, _G_REST = 0, 1, 3, 4, 5, 6, 7, 8, 9, 10
Groups = tuple[str, ...]


def _clock(g: Groups) -> tuple[int, int, int]:
    h = int(g[_G_H])
    ampm = g[_G_AMPM]
    cn = g[_G_CN]
    if ampm:
        pm = ampm[0] in "Pp"
        h = h % 12 + (12 if pm else 0)
    elif cn:
        if cn in ("下午", "晚上") and h < 12:
            h += 12
        elif cn in ("上午", "凌晨") and h == 12:
            h = 0
    return h, int(g[_G_MI]), int(g[_G_S] or 0)


def _ymd(parts: tuple[str, str, str], order: str) -> tuple[int, int, int] | None:
    written = dict(zip(order, parts, strict=True))
    y, mo, d = int(written["y"]), int(written["m"]), int(written["d"])
    if len(written["y"]) <= 2:
        y += 2000
    elif y < MIN_YEAR:  # "0000" is no date of a chat (read as 2000 before)
        return None
    if not (1 <= mo <= 12 and 1 <= d <= 31) or y > 2200:
        return None
    if d > 28:
        try:
            datetime(y, mo, d)
        except ValueError:
            return None
    return y, mo, d


def _allowed(parts: tuple[str, str, str]) -> tuple[str, ...]:
    if len(parts[0]) >= 3:
        return ("ymd", "ydm")
    if len(parts[2]) >= 3:
        return ("dmy", "mdy")
    return _ORDERS


def infer_order(records: list[_Record]) -> str:
    """The date order (``dmy``, ``mdy``, ``ymd``, ``ydm``) that makes the records valid and most nearly in order."""
    if not records:
        return "dmy"
    candidates = list(_allowed(records[0].parts))
    scores: dict[str, int] = {}
    for order in candidates:
        back = 0
        prev: tuple[int, ...] | None = None
        for r in records:
            if order not in _allowed(r.parts):
                back = -1
                break
            ymd = _ymd(r.parts, order)
            if ymd is None:
                back = -1
                break
            key = (*ymd, *r.clock)
            if prev is not None and key < prev:
                back += 1
            prev = key
        if back >= 0:
            scores[order] = back
    if not scores:
        return candidates[0]
    best = min(scores.values())
    return next(o for o in candidates if scores.get(o) == best)


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Reader:
    """Turns records into log rows for one group: messages are written straight into their row (the hot path of
    big exports); the rarer events are built as events and encoded (:func:`log_row`)."""

    def __init__(self, ctx: Context, group: str) -> None:
        self.ctx = ctx
        self.group = group
        self.ids = ContentIds(PLATFORM, group)
        self.times = LocalTimes(ctx.options.tz)
        self.order = "dmy"
        self.authors: dict[str, str] = {}  # name as written → id as stored
        self.digits: dict[str, str] = {}  # digits of phone-number authors → author
        self._who: dict[str, tuple[str, str]] = {}  # name as written → (id, display name) as stored
        self._dates: dict[tuple[str, str, str], tuple[int, int, int]] = {}
        self._heads: dict[str, tuple[int, str]] = {}  # a record's date and time as written → (ms, ISO text)
        self._masked = ctx.options.mask is not None
        self._dumps = orjson.dumps

    def when(self, g: Groups) -> tuple[int, str]:
        """(ms since the epoch, ISO text) of a record's date and time."""
        head = g[_G_HEAD]
        known = self._heads.get(head)
        if known is not None:
            return known
        parts = (g[_G_A], g[_G_B], g[_G_C])
        ymd = self._dates.get(parts)
        if ymd is None:
            ymd = _ymd(parts, self.order)
            if ymd is None:
                raise self.ctx.error("bad_time", value="/".join(parts), expected=f"a date in {self.order} order")
            if len(self._dates) > 4096:
                self._dates.clear()
            self._dates[parts] = ymd
        h, mi, sec = _clock(g)
        # 24:05 (as chat-miner accepts it) is 00:05 of the next day
        at_ms = self.times.ms(*ymd, 0, mi, sec) + 86_400_000 if h == 24 else self.times.ms(*ymd, h, mi, sec)
        if len(self._heads) > 4096:
            self._heads.clear()
        known = self._heads[head] = (at_ms, iso_ms(at_ms))
        return known

    def rows(self, g: Groups, more: list[str] | None) -> list[LogRow]:
        """The rows of one record (its header's groups and its continuation lines); ``ctx.line`` is its line."""
        at_ms, at_iso = self.when(g)
        first = g[_G_REST].strip(_MARK_CHARS)
        if ": " in first:  # nearly always a message; system lines rarely hold ": "
            if ("encrypted" in first or "secured" in first) and any(f": {s}" in first for s in _SYSTEM_ACTOR_TEXT):
                return [self._system(at_ms, _joined(first, more))]
            i = first.find(":")
            if 0 < i <= 120 and first[i + 1] == " " and "\u200e" not in first[:i]:  # what _AUTHOR matches, sooner
                body = first[i + 2 :]
                if more:
                    body = "\n".join([body, *more])
                return self._message(at_ms, at_iso, first[:i].strip(), body.strip(_MARK_CHARS))
            m = _AUTHOR.match(first)
            if m is not None:
                body = m.group("text")
                if more:
                    body = "\n".join([body, *more])
                return self._message(at_ms, at_iso, m.group("author").strip(), body.strip(_MARK_CHARS))
            return self._system_rows(at_ms, first, _joined(first, more))
        if first.startswith(_SYSTEM_ACTOR_TEXT) or _system_line(first):
            return self._system_rows(at_ms, first, _joined(first, more))
        m = _AUTHOR.match(first)  # "Name:text" without a space
        if m is None:
            return self._system_rows(at_ms, first, _joined(first, more))
        body = m.group("text")
        if more:
            body = "\n".join([body, *more])
        return self._message(at_ms, at_iso, m.group("author").strip(), body.strip(_MARK_CHARS))

    def _actor(self, author: str) -> tuple[str, str]:
        who = self._who.get(author)
        if who is None:
            known = self.authors.get(author)
            if known is None:
                known = self.authors[author] = self.ctx.mask_id(author)
                digits = re.sub(r"\D", "", author)
                if author.startswith("+") and len(digits) >= 7:
                    self.digits[digits] = author
            who = self._who[author] = (known, self.ctx.mask_text(author))
        return who

    def _message(self, at_ms: int, at_iso: str, author: str, body: str) -> list[LogRow]:
        if author.startswith("~"):  # "~ Name": someone not in the exporting phone's contacts (recent exports)
            author = author.lstrip("~" + _MARK_CHARS + "\u202f\u00a0 ")
        actor, name = self._actor(author)
        content, media, text = _classify(body)
        deleted = len(text) < 40 and text.strip().lower() in _DELETED
        edited = text.endswith(_EDITED)
        if edited:
            text = text[: -len(_EDITED)].rstrip()
        if deleted:
            content, text = ContentKind.OTHER, ""
        if self._masked:
            text = self.ctx.mask_text(text)
        eid = self.ids.make(at_ms, actor, text if not deleted else "\x00deleted")
        # Message.to_dict(compact=True), written out: the fields in declaration order, defaults left out.
        d: dict[str, object] = {"kind": "message", "id": eid, "at": at_iso, "platform": PLATFORM}
        if self.group:
            d["group"] = self.group
        if actor:
            d["actor"] = actor
        if name:
            d["actor_name"] = name
        d["message_id"] = eid
        if content is not ContentKind.TEXT:
            d["content"] = content.value
        if text:
            d["text"] = text
            if "@" in text:
                mentions = self._mentions(text)
                if mentions:
                    d["mentions"] = list(mentions)
        if media:
            d["media"] = media
        row: LogRow = (eid, "message", at_ms, PLATFORM, self.group, actor, name, self._dumps(d))
        if deleted:
            return [row, log_row(Delete(
                id=f"{eid}-del", at=_at(at_ms), platform=PLATFORM, group=self.group, actor=actor, actor_name=name,
                message_id=eid, by=actor,
            ))]  # fmt: skip
        if edited:
            return [row, log_row(Edit(
                id=f"{eid}-edit", at=_at(at_ms), platform=PLATFORM, group=self.group, actor=actor, actor_name=name,
                message_id=eid, text=text,
            ))]  # fmt: skip
        return [row]

    def _mentions(self, text: str) -> tuple[str, ...]:
        found: list[str] = []
        for token in re.findall(r"@(\+?[\d ]{7,}\d|\S[^@\n]{0,60})", text):
            digits = re.sub(r"\D", "", token)
            author = self.digits.get(digits) if digits and len(digits) >= 7 else None
            if author is None:
                author = next((a for a in self.authors if token.startswith(a)), None)
            if author is not None and self.authors[author] not in found:
                found.append(self.authors[author])
        return tuple(found)

    def _system(self, at_ms: int, text: str) -> LogRow:
        text = self.ctx.mask_text(text)
        eid = self.ids.make(at_ms, "", text, kind="s")
        return log_row(Message(
            id=eid, at=_at(at_ms), platform=PLATFORM, group=self.group, message_id=eid, content=ContentKind.SYSTEM,
            text=text,
        ))  # fmt: skip

    def _system_rows(self, at_ms: int, first: str, text: str) -> list[LogRow]:
        if ": " not in first:
            m = _JOIN_LINK.match(first)
            if m:
                return [self._join(at_ms, m.group("who"), "", JoinMethod.SELF)]
            m = _LEFT.match(first)
            if m:
                return [self._leave(at_ms, m.group("who"), "", LeaveReason.VOLUNTARY)]
            m = _JOIN_ADDED.match(first)
            if m:
                return [self._join(at_ms, w, m.group("by"), JoinMethod.INVITED) for w in _names(m.group("who"))]
            m = _REMOVED.match(first)
            if m:
                return [self._leave(at_ms, w, m.group("by"), LeaveReason.REMOVED) for w in _names(m.group("who"))]
        return [self._system(at_ms, text)]

    def _person(self, who: str) -> tuple[str, str]:
        if who.lower() == "you":  # the exporting account: its id is not in the export
            return "", "You"
        return self._actor(who)

    def _join(self, at_ms: int, who: str, by: str, method: JoinMethod) -> LogRow:
        actor, name = self._person(who)
        inviter = self._person(by)[0] if by else ""
        return log_row(Join(
            id=self.ids.make(at_ms, actor or name, inviter, kind="join"), at=_at(at_ms), platform=PLATFORM,
            group=self.group, actor=actor, actor_name=name, method=method, inviter=inviter,
        ))  # fmt: skip

    def _leave(self, at_ms: int, who: str, by: str, reason: LeaveReason) -> LogRow:
        actor, name = self._person(who)
        remover = self._person(by)[0] if by else ""
        return log_row(Leave(
            id=self.ids.make(at_ms, actor or name, remover, kind="leave"), at=_at(at_ms), platform=PLATFORM,
            group=self.group, actor=actor, actor_name=name, reason=reason, by=remover,
        ))  # fmt: skip


def _at(at_ms: int) -> datetime:
    return _EPOCH + timedelta(milliseconds=at_ms)


def _joined(first: str, more: list[str] | None) -> str:
    return "\n".join([first, *more]) if more else first


def _names(text: str) -> list[str]:
    """``A, B and C`` → [A, B, C]."""
    parts = re.split(r", | and | y | e | und |、|和", text)
    return [p.strip() for p in parts if p.strip()]


def _system_line(first: str) -> bool:
    if ": " in first:
        return False
    return bool(
        _JOIN_LINK.match(first)
        or _LEFT.match(first)
        or _WERE_ADDED.match(first)
        or _JOIN_ADDED.match(first)
        or _REMOVED.match(first)
    )


def _classify(body: str) -> tuple[ContentKind, str, str]:
    """(content kind, media, text) of a message body."""
    stripped = body.strip()
    if not stripped:
        return ContentKind.TEXT, "", body
    lead = stripped[0]
    if lead not in "<lLpPhH" and not stripped.endswith(("omitted", "omitted>", ")")) and "\n" not in stripped[:200]:
        return ContentKind.TEXT, "", body
    low = stripped.lower()
    if low in _OMITTED:
        return _OMITTED[low], stripped, ""
    m = _ATTACHED.match(stripped) or _FILE_ATTACHED.match(stripped)
    if m:
        name = m.group("file")
        ext = name.rsplit(".", 1)[-1].lower()
        kind = _EXT_KIND.get(ext, ContentKind.FILE)
        if kind is ContentKind.STICKER and not name.upper().startswith("STK"):
            kind = ContentKind.IMAGE
        caption = (m.groupdict().get("caption") or "").strip()
        return kind, name, caption
    if low.startswith("location: "):
        return ContentKind.LOCATION, stripped[len("location: ") :], ""
    if low.startswith("poll:"):
        return ContentKind.POLL, "", stripped
    if _URL_ONLY.match(stripped):
        return ContentKind.LINK, stripped, stripped
    return ContentKind.TEXT, "", body


def rows(ctx: Context) -> Iterator[LogRow]:
    """The log rows of one WhatsApp text export.

    The text is read in pieces of a megabyte; one regular expression finds every record's header in a piece, and
    the text between two headers is the continuation of the first record's message.
    """
    group = group_name(ctx)
    ctx.chat(PLATFORM, group, group)
    reader = _Reader(ctx, group)
    pending: list[tuple[int, Groups, list[str] | None]] = []  # records read before the date order is known
    inferred = False
    current: Groups | None = None  # the record being read: its header's groups,
    more: list[str] | None = None  # its continuation lines,
    current_line = 0  # and its line number
    finditer = _HEADERS.finditer
    for line, text in text_chunks(ctx, size=CHUNK):
        pos = 0  # where the text not yet read begins (always at the start of a line)
        counted = 0  # the position up to which line numbers were counted
        for m in finditer(text):
            start = m.start()
            if start != pos:  # lines that are not headers: the message before goes on (or the export is not one)
                gap = text[pos : start - 1].split("\n")
                if current is None:
                    for k, piece in enumerate(gap):
                        if piece.strip():
                            ctx.line = line + text.count("\n", counted, pos) + k
                            raise ctx.error("not_whatsapp", expected="12/31/20, 23:59 - Name: text")
                elif more is None:
                    more = Body(ctx, current_line, gap)
                else:
                    more.extend(gap)
            line += text.count("\n", counted, start)
            counted = start
            if current is not None:
                if inferred:
                    ctx.line = current_line
                    yield from reader.rows(current, more)
                else:
                    pending.append((current_line, current, more))
                    if len(pending) >= _INFER_RECORDS:
                        reader.order = _infer(pending)
                        inferred = True
                        for ctx.line, g, lines in pending:
                            yield from reader.rows(g, lines)
                        pending = []
            current = m.groups()
            more = None
            current_line = line
            pos = m.end() + 1
        if pos < len(text):  # the piece ends with continuation lines
            tail = text[pos:-1] if text.endswith("\n") else text[pos:]
            if current is None:
                for k, piece in enumerate(tail.split("\n")):
                    if piece.strip():
                        ctx.line = line + text.count("\n", counted, pos) + k
                        raise ctx.error("not_whatsapp", expected="12/31/20, 23:59 - Name: text")
            elif more is None:
                more = Body(ctx, current_line, tail.split("\n"))
            else:
                more.extend(tail.split("\n"))
    if current is None:
        raise ctx.error("not_whatsapp", where="line 1", expected="12/31/20, 23:59 - Name: text")
    pending.append((current_line, current, more))
    if not inferred:
        reader.order = _infer(pending)
        head = pending[0][1]
        if len(_allowed((head[_G_A], head[_G_B], head[_G_C]))) > 1:
            ctx.notes.append(f"{ctx.source.name}: date order {reader.order}")
    for ctx.line, g, lines in pending:
        yield from reader.rows(g, lines)


def _infer(pending: list[tuple[int, Groups, list[str] | None]]) -> str:
    return infer_order([_Record(n, (g[_G_A], g[_G_B], g[_G_C]), _clock(g), "") for n, g, _ in pending])


def parse(ctx: Context) -> Iterator[Event]:
    """Events of one WhatsApp text export (its rows, read back)."""
    return map(event_from_row, rows(ctx))
