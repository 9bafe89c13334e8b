"""WhatsApp chat exports (``.txt``, or the ``.zip`` with ``_chat.txt`` and media) → events.

How it works:
    A line that starts with a date and a time (any of the header formats WhatsApp writes: ``[d/m/y H:M:S] Name:``,
    ``m/d/yy, h:mm a.m. - Name:``, ``yyyy-mm-dd, H:M - Name:`` …, 12 or 24 hour clocks, ``上午/下午``, U+200E and
    U+202F marks) begins a record; other lines continue the message before. The order of day, month and year is
    not written anywhere, so it is inferred from the first records: the order that gives valid dates and the
    fewest steps back in time wins (ties: day first). Records with ``Name: text`` are messages; the others are
    system lines, and those that say who was added, joined, left or was removed become joins and leaves.
    ``<Media omitted>``, ``image omitted``, ``<attached: …>`` … give the media kind; "This message was deleted"
    a message and its deletion; ``<This message was edited>`` an edit.

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
from datetime import datetime

from shequn.domain import ContentKind, Delete, Edit, Event, Join, JoinMethod, Leave, LeaveReason, Message
from shequn.importers.base import ContentIds, Context, LocalTimes, text_lines, to_ms

PLATFORM = "whatsapp"

_SP = r"[ \u202f\u00a0]"
HEADER = re.compile(
    r"^[\u200e\u200f\u202a-\u202e\ufeff]*\[?"
    r"(?P<a>\d{1,4})(?P<sep>[./-])(?P<b>\d{1,2})(?P=sep)(?P<c>\d{1,4})\.?,?" + _SP + r"+"
    r"(?:(?P<cn>上午|下午|凌晨|中午|晚上)" + _SP + r"*)?"
    r"(?P<h>\d{1,2})[:.](?P<mi>\d{2})(?:[:.](?P<s>\d{2}))?"
    r"(?:" + _SP + r"*(?P<ampm>[AaPp]\.?" + _SP + r"?[Mm]\.?))?"
    r"(?:\]" + _SP + r"?(?:[-–]" + _SP + r")?|" + _SP + r"+[-–]" + _SP + r"+)"
    r"(?P<rest>.*)$"
)
_AUTHOR = re.compile(r"^(?P<author>[^:\u200e]{1,120}?):(?: |(?=[^\d\s])|$)(?P<text>.*)$")
_MARK_CHARS = "\u200e\u200f\u202a\u202b\u202c\u202d\u202e"

_ORDERS = ("dmy", "mdy", "ymd", "ydm")
_INFER_RECORDS = 5000

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


def _clock(m: re.Match[str]) -> tuple[int, int, int]:
    h = int(m.group("h"))
    ampm = m.group("ampm")
    cn = m.group("cn")
    if ampm:
        pm = ampm[0] in "Pp"
        h = h % 12 + (12 if pm else 0)
    elif cn:
        if cn in ("下午", "晚上") and h < 12:
            h += 12
        elif cn in ("上午", "凌晨") and h == 12:
            h = 0
    return h, int(m.group("mi")), int(m.group("s") or 0)


def _ymd(parts: tuple[str, str, str], order: str) -> tuple[int, int, int] | None:
    a, b, c = parts
    values = dict(zip(order, (int(a), int(b), int(c)), strict=True))
    y, mo, d = values["y"], values["m"], values["d"]
    if y < 100:
        y += 2000
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


class _Reader:
    """Turns records into events for one group."""

    def __init__(self, ctx: Context, group: str) -> None:
        self.ctx = ctx
        self.group = group
        self.ids = ContentIds(PLATFORM, group)
        self.times = LocalTimes(ctx.options.tz)
        self.order = "dmy"
        self.authors: dict[str, str] = {}  # name as written → id as stored
        self.digits: dict[str, str] = {}  # digits of phone-number authors → author
        self._dates: dict[tuple[str, str, str], tuple[int, int, int]] = {}

    def events(self, r: _Record) -> list[Event]:
        ctx = self.ctx
        ctx.line = r.line
        ymd = self._dates.get(r.parts)
        if ymd is None:
            ymd = _ymd(r.parts, self.order)
            if ymd is None:
                raise ctx.error("bad_time", value="/".join(r.parts), expected=f"a date in {self.order} order")
            if len(self._dates) > 4096:
                self._dates.clear()
            self._dates[r.parts] = ymd
        at = self.times.utc(*ymd, *r.clock)
        at_ms = to_ms(at)
        first = r.rest.strip(_MARK_CHARS)
        if ": " in first:  # nearly always a message; system lines rarely hold ": "
            if ("encrypted" in first or "secured" in first) and any(f": {s}" in first for s in _SYSTEM_ACTOR_TEXT):
                return [self._system(at, at_ms, _joined(first, r.more))]
            m = _AUTHOR.match(first)
            if m is not None:
                body = m.group("text")
                if r.more:
                    body = "\n".join([body, *r.more])
                return self._message(at, at_ms, m.group("author").strip(), body.strip(_MARK_CHARS))
            return self._system_events(at, at_ms, first, _joined(first, r.more))
        if first.startswith(_SYSTEM_ACTOR_TEXT) or _system_line(first):
            return self._system_events(at, at_ms, first, _joined(first, r.more))
        m = _AUTHOR.match(first)  # "Name:text" without a space
        if m is None:
            return self._system_events(at, at_ms, first, _joined(first, r.more))
        body = m.group("text")
        if r.more:
            body = "\n".join([body, *r.more])
        return self._message(at, at_ms, m.group("author").strip(), body.strip(_MARK_CHARS))

    def _actor(self, author: str) -> tuple[str, str]:
        known = self.authors.get(author)
        if known is None:
            known = self.authors[author] = self.ctx.mask_id(author)
            digits = re.sub(r"\D", "", author)
            if author.startswith("+") and len(digits) >= 7:
                self.digits[digits] = author
        return known, self.ctx.mask_text(author)

    def _message(self, at: datetime, at_ms: int, author: str, body: str) -> list[Event]:
        actor, name = self._actor(author)
        content, media, text = _classify(body)
        deleted = len(text) < 40 and text.strip().lower() in _DELETED
        edited = text.endswith(_EDITED)
        if edited:
            text = text[: -len(_EDITED)].rstrip()
        if deleted:
            content, text = ContentKind.OTHER, ""
        text = self.ctx.mask_text(text)
        eid = self.ids.make(at_ms, actor, text if not deleted else "\x00deleted")
        message = Message(
            id=eid,
            at=at,
            platform=PLATFORM,
            group=self.group,
            actor=actor,
            actor_name=name,
            message_id=eid,
            content=content,
            text=text,
            mentions=self._mentions(text) if "@" in text else (),
            media=media,
        )
        if deleted:
            return [message, Delete(
                id=f"{eid}-del", at=at, platform=PLATFORM, group=self.group, actor=actor, actor_name=name,
                message_id=eid, by=actor,
            )]  # fmt: skip
        if edited:
            return [message, Edit(
                id=f"{eid}-edit", at=at, platform=PLATFORM, group=self.group, actor=actor, actor_name=name,
                message_id=eid, text=text,
            )]  # fmt: skip
        return [message]

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

    def _system(self, at: datetime, at_ms: int, text: str) -> Message:
        text = self.ctx.mask_text(text)
        eid = self.ids.make(at_ms, "", text, kind="s")
        return Message(
            id=eid, at=at, platform=PLATFORM, group=self.group, message_id=eid, content=ContentKind.SYSTEM, text=text
        )

    def _system_events(self, at: datetime, at_ms: int, first: str, text: str) -> list[Event]:
        if ": " not in first:
            m = _JOIN_LINK.match(first)
            if m:
                return [self._join(at, at_ms, m.group("who"), "", JoinMethod.SELF)]
            m = _LEFT.match(first)
            if m:
                return [self._leave(at, at_ms, m.group("who"), "", LeaveReason.VOLUNTARY)]
            m = _JOIN_ADDED.match(first)
            if m:
                return [self._join(at, at_ms, w, m.group("by"), JoinMethod.INVITED) for w in _names(m.group("who"))]
            m = _REMOVED.match(first)
            if m:
                return [self._leave(at, at_ms, w, m.group("by"), LeaveReason.REMOVED) for w in _names(m.group("who"))]
        return [self._system(at, at_ms, text)]

    def _person(self, who: str) -> tuple[str, str]:
        if who.lower() == "you":  # the exporting account: its id is not in the export
            return "", "You"
        return self._actor(who)

    def _join(self, at: datetime, at_ms: int, who: str, by: str, method: JoinMethod) -> Join:
        actor, name = self._person(who)
        inviter = self._person(by)[0] if by else ""
        return Join(
            id=self.ids.make(at_ms, actor or name, inviter, kind="join"),
            at=at,
            platform=PLATFORM,
            group=self.group,
            actor=actor,
            actor_name=name,
            method=method,
            inviter=inviter,
        )

    def _leave(self, at: datetime, at_ms: int, who: str, by: str, reason: LeaveReason) -> Leave:
        actor, name = self._person(who)
        remover = self._person(by)[0] if by else ""
        return Leave(
            id=self.ids.make(at_ms, actor or name, remover, kind="leave"),
            at=at,
            platform=PLATFORM,
            group=self.group,
            actor=actor,
            actor_name=name,
            reason=reason,
            by=remover,
        )


def _joined(first: str, more: list[str]) -> str:
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


def parse(ctx: Context) -> Iterator[Event]:
    """Events of one WhatsApp text export."""
    group = group_name(ctx)
    ctx.chat(PLATFORM, group, group)
    reader = _Reader(ctx, group)
    pending: list[_Record] = []  # records read before the date order is known
    inferred = False
    current: _Record | None = None
    seen_header = False
    for n, line in text_lines(ctx):
        m = HEADER.match(line)
        if m is None:
            if current is None:
                if not line.strip():
                    continue
                raise ctx.error("not_whatsapp", expected="12/31/20, 23:59 - Name: text")
            current.more.append(line)
            continue
        seen_header = True
        record = _Record(n, (m.group("a"), m.group("b"), m.group("c")), _clock(m), m.group("rest"))
        if current is not None:
            if inferred:
                yield from reader.events(current)
            else:
                pending.append(current)
                if len(pending) >= _INFER_RECORDS:
                    reader.order = infer_order(pending)
                    inferred = True
                    for r in pending:
                        yield from reader.events(r)
                    pending = []
        current = record
    if not seen_header:
        raise ctx.error("not_whatsapp", where="line 1", expected="12/31/20, 23:59 - Name: text")
    if current is not None:
        pending.append(current)
    if not inferred:
        reader.order = infer_order(pending)
        if len(_allowed(pending[0].parts)) > 1:
            ctx.notes.append(f"{ctx.source.name}: date order {reader.order}")
    for r in pending:
        yield from reader.events(r)
