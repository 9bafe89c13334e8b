"""OneBot v11 message segments: what a received message carries, and the segments of what shequn sends.

How it works:
    A message arrives as an array of segments (``{"type": "text", "data": {"text": "…"}}``) or, when the
    implementation is set to the string format, as CQ codes (``[CQ:at,qq=123]``); :func:`parse_cq` turns the latter
    into the former. :func:`read` folds the segments into what a :class:`~shequn.domain.Message` holds: the content
    kind, the text the moderation reads (cards' titles, descriptions and links included: a mini program or a contact
    card is an ad's favourite wrapping), the mentions, the message replied to, the media and whether it is a
    forward. :func:`compose` builds the segments of a post: a reply segment first, then the @-mentions, then the text.

Things to keep in mind:
    * Segment kinds follow the spec (``message/segment.md``) plus the ones the implementations add (``mface``,
      ``markdown``, ``file``); an unknown kind is kept by name in the segment list, never dropped silently.
    * ``at`` with ``qq=all`` is @全体成员, not a person.
"""

from __future__ import annotations

import json
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shequn.domain import ContentKind

Segment = Mapping[str, Any]

_CQ = re.compile(r"\[CQ:([A-Za-z0-9_.\-]+)((?:,[^,\]]*)*)\]")
_UNESCAPE = (("&#44;", ","), ("&#91;", "["), ("&#93;", "]"), ("&amp;", "&"))
# The first segment of these kinds decides the message's content kind (text only when there is nothing else).
_KIND = {
    "image": ContentKind.IMAGE,
    "record": ContentKind.VOICE,
    "video": ContentKind.VIDEO,
    "file": ContentKind.FILE,
    "location": ContentKind.LOCATION,
    "contact": ContentKind.CONTACT_CARD,
    "share": ContentKind.LINK,
    "music": ContentKind.LINK,
    "redbag": ContentKind.RED_PACKET,
    "face": ContentKind.STICKER,
    "mface": ContentKind.STICKER,
    "dice": ContentKind.STICKER,
    "rps": ContentKind.STICKER,
    "poke": ContentKind.OTHER,
    "forward": ContentKind.OTHER,
}
_CARD_TEXT_KEYS = ("prompt", "title", "desc", "tag", "qqdocurl", "jumpUrl", "url", "preview", "nickname", "contact")


@dataclass(frozen=True, slots=True)
class Read:
    """What a received message carries, in the terms of :class:`~shequn.domain.Message`."""

    content: ContentKind
    text: str
    mentions: tuple[str, ...] = ()
    reply_to: str = ""
    media: str = ""
    forwarded: bool = False
    kinds: tuple[str, ...] = ()  # the segment kinds, in order (evidence for the moderation)


def _unescape(value: str) -> str:
    for code, char in _UNESCAPE:
        value = value.replace(code, char)
    return value


def parse_cq(raw: str) -> list[dict[str, Any]]:
    """CQ-code text (``你好[CQ:at,qq=123]``) as an array of segments."""
    out: list[dict[str, Any]] = []
    pos = 0
    for m in _CQ.finditer(raw):
        if m.start() > pos:
            out.append({"type": "text", "data": {"text": _unescape(raw[pos : m.start()])}})
        data: dict[str, str] = {}
        for part in m[2].split(",")[1:]:
            key, _, value = part.partition("=")
            data[key] = _unescape(value)
        out.append({"type": m[1], "data": data})
        pos = m.end()
    if pos < len(raw):
        out.append({"type": "text", "data": {"text": _unescape(raw[pos:])}})
    return out


def segments_of(message: Any) -> Sequence[Segment]:
    """The segments of a message field: an array, one segment object, or CQ-code text."""
    if isinstance(message, str):
        return parse_cq(message)
    if isinstance(message, Mapping):
        return [message]
    if isinstance(message, Sequence):
        return [s for s in message if isinstance(s, Mapping)]
    return []


def _card_text(raw: str) -> tuple[str, ContentKind]:
    """The readable parts of a json card (mini program, contact card, link share) and what kind of card it is."""
    try:
        card = json.loads(raw)
    except (ValueError, TypeError):
        return raw, ContentKind.LINK
    if not isinstance(card, Mapping):
        return raw, ContentKind.LINK
    app = str(card.get("app", ""))
    found: list[str] = []

    def walk(value: Any, depth: int) -> None:
        if depth > 4 or len(found) > 20:
            return
        if isinstance(value, Mapping):
            for key, item in value.items():
                if key in _CARD_TEXT_KEYS and isinstance(item, str | int) and str(item).strip():
                    found.append(str(item).strip())
                else:
                    walk(item, depth + 1)
        elif isinstance(value, list):
            for item in value:
                walk(item, depth + 1)

    walk(card, 0)
    if "miniapp" in app or "mini" in str(card.get("view", "")):
        kind = ContentKind.MINI_PROGRAM
    elif "contact" in app or "troopsharecard" in app:
        kind = ContentKind.CONTACT_CARD
    else:
        kind = ContentKind.LINK
    return " ".join(dict.fromkeys(found)), kind


def _pick(current: ContentKind | None, new: ContentKind) -> ContentKind:
    """The first media kind wins; a sticker gives way to anything that follows it."""
    return new if current is None or current is ContentKind.STICKER else current


def read(message: Any) -> Read:
    """Fold a received message's segments into a :class:`Read`."""
    parts: list[str] = []
    mentions: list[str] = []
    kinds: list[str] = []
    reply_to = media = ""
    content: ContentKind | None = None
    forwarded = False
    for seg in segments_of(message):
        kind = str(seg.get("type", ""))
        data = seg.get("data")
        data = data if isinstance(data, Mapping) else {}
        kinds.append(kind)
        if kind == "text":
            parts.append(str(data.get("text", "")))
        elif kind == "at":
            qq = str(data.get("qq", ""))
            if qq and qq != "all":
                mentions.append(qq)
        elif kind == "reply":
            reply_to = reply_to or str(data.get("id", ""))
        elif kind == "json":
            text, card = _card_text(str(data.get("data", "")))
            parts.append(f" {text} ")
            content = _pick(content, card)
        elif kind == "xml":  # contact cards say so in their brief
            raw = str(data.get("data", ""))
            attrs = " ".join(re.findall(r'(?:url|brief|title)="([^"]*)"', raw))
            parts.append(f" {re.sub(r'<[^>]+>', ' ', raw)} {attrs} ")
            card = ContentKind.CONTACT_CARD if "推荐联系人" in raw or "推荐群" in raw else ContentKind.LINK
            content = _pick(content, card)
        elif kind == "share":
            parts.append(" " + " ".join(str(data[k]) for k in ("title", "content", "url") if data.get(k)) + " ")
            content = _pick(content, ContentKind.LINK)
        elif kind == "markdown":
            parts.append(str(data.get("content", "")))
        elif kind == "forward":
            forwarded = True
            content = _pick(content, ContentKind.OTHER)
        else:
            if kind == "contact":
                media = media or f"{data.get('type', 'qq')}:{data.get('id', '')}"
            content = _pick(content, _KIND.get(kind, ContentKind.OTHER))
            if not media:
                media = str(data.get("url") or data.get("file") or data.get("name") or data.get("id") or "")
    text = "".join(parts)
    if any(k != "text" for k in kinds):
        text = re.sub(r"\s{2,}", " ", text).strip()
    if content is None or (content is ContentKind.STICKER and text):
        content = ContentKind.TEXT
    return Read(content, text, tuple(dict.fromkeys(mentions)), reply_to, media, forwarded, tuple(kinds))


def compose(text: str, *, reply_to: str = "", mentions: Sequence[str] = ()) -> list[dict[str, Any]]:
    """The segments of a post: the message replied to, the people @-mentioned, then the text."""
    out: list[dict[str, Any]] = []
    if reply_to:
        out.append({"type": "reply", "data": {"id": str(reply_to)}})
    for qq in mentions:
        out.append({"type": "at", "data": {"qq": str(qq)}})
    if mentions and text:
        text = " " + text
    if text:
        out.append({"type": "text", "data": {"text": text}})
    return out
