"""The chat archive's decrypted messages (会话内容存档 消息格式) → :mod:`shequn.domain` events, pure.

A decrypted message is ``{msgid, action, from, tolist, roomid, msgtime (ms), msgtype, <body>}``; ``action`` is
``send``, ``recall`` or ``switch`` (a member switched company: no chat fact). The body's key is the ``msgtype``,
except ``docmsg`` (``doc``), ``markdown``, ``news``, ``voiptext`` and ``qydiskfile`` (``info``) and
``external_redpacket`` (``redpacket``). Every documented type becomes an event: text, image, revoke (a
:class:`~shequn.domain.Delete` of ``pre_msgid``), agree/disagree, voice, video, card, location, emotion, file, link,
weapp, chatrecord, todo, vote, collect, redpacket, meeting, docmsg, markdown, news, calendar, mixed,
meeting_voice_call, voip_doc_share, external_redpacket, sphfeed, voiptext, qydiskfile; a type this table does not
know is kept as ``other`` with its body in ``extra``. Media (``sdkfileid``) are referenced, not fetched: the puller
fetches an image only when a policy needs its pixels (the QR-code check).

Ids: an event's id is stable per (room, msgid), so a message pulled twice (a restart before the cursor was saved)
is logged once.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

import orjson

from shequn.domain import ContentKind, Delete, Event, Message, stable_id

PLATFORM = "wecom"

# msgtype → (content kind, key of its body)
TYPES: dict[str, tuple[ContentKind, str]] = {
    "text": (ContentKind.TEXT, "text"),
    "image": (ContentKind.IMAGE, "image"),
    "agree": (ContentKind.SYSTEM, "agree"),
    "disagree": (ContentKind.SYSTEM, "disagree"),
    "voice": (ContentKind.VOICE, "voice"),
    "video": (ContentKind.VIDEO, "video"),
    "card": (ContentKind.CONTACT_CARD, "card"),
    "location": (ContentKind.LOCATION, "location"),
    "emotion": (ContentKind.STICKER, "emotion"),
    "file": (ContentKind.FILE, "file"),
    "link": (ContentKind.LINK, "link"),
    "weapp": (ContentKind.MINI_PROGRAM, "weapp"),
    "chatrecord": (ContentKind.OTHER, "chatrecord"),
    "todo": (ContentKind.TEXT, "todo"),
    "vote": (ContentKind.POLL, "vote"),
    "collect": (ContentKind.POLL, "collect"),
    "redpacket": (ContentKind.RED_PACKET, "redpacket"),
    "external_redpacket": (ContentKind.RED_PACKET, "redpacket"),
    "meeting": (ContentKind.OTHER, "meeting"),
    "docmsg": (ContentKind.LINK, "doc"),
    "markdown": (ContentKind.TEXT, "info"),
    "news": (ContentKind.LINK, "info"),
    "calendar": (ContentKind.OTHER, "calendar"),
    "mixed": (ContentKind.TEXT, "mixed"),
    "meeting_voice_call": (ContentKind.OTHER, "meeting_voice_call"),
    "voip_doc_share": (ContentKind.OTHER, "voip_doc_share"),
    "sphfeed": (ContentKind.LINK, "sphfeed"),
    "voiptext": (ContentKind.OTHER, "info"),
    "qydiskfile": (ContentKind.FILE, "info"),
}


def _s(body: Mapping[str, Any], *keys: str) -> str:
    return " ".join(str(body[k]).strip() for k in keys if body.get(k) not in (None, "")).strip()


def _content(raw: Any) -> dict[str, Any]:
    """A chatrecord or mixed item's ``content``: a JSON string in the documentation, an object in some answers."""
    if isinstance(raw, dict):
        return raw
    if isinstance(raw, str) and raw:
        try:
            value = orjson.loads(raw)
        except orjson.JSONDecodeError:
            return {"content": raw}
        return value if isinstance(value, dict) else {"content": str(value)}
    return {}


def _item_text(kind: str, body: Mapping[str, Any]) -> str:
    """The readable text of one item of a chatrecord or mixed message (``ChatRecordText``, ``text``, ``link`` …)."""
    kind = kind.lower().removeprefix("chatrecord")
    if kind in ("text", "markdown"):
        return _s(body, "content")
    if kind in ("link", "news"):
        return _s(body, "title", "description", "link_url", "url")
    if kind in ("weapp", "miniprogram"):
        return _s(body, "title", "displayname", "description")
    if kind == "file":
        return _s(body, "filename")
    if kind == "location":
        return _s(body, "title", "address")
    return _s(body, "content", "title")


def body_text(msgtype: str, body: Mapping[str, Any]) -> tuple[str, str]:
    """(text, media reference) of a message body: what the policies read and what the log shows of an attachment."""
    media = str(body.get("sdkfileid", ""))
    if msgtype in ("text", "markdown", "todo"):
        return _s(body, "title", "content") if msgtype == "todo" else _s(body, "content"), ""
    if msgtype in ("link", "docmsg"):
        return _s(body, "title", "description", "link_url"), ""
    if msgtype == "news":
        items = body.get("item") or []
        return " ".join(_item_text("link", i) for i in items if isinstance(i, dict)), ""
    if msgtype == "weapp":
        return _s(body, "title", "displayname", "description", "username"), ""
    if msgtype == "card":
        return _s(body, "corpname", "userid"), ""
    if msgtype == "location":
        return _s(body, "title", "address"), ""
    if msgtype in ("file", "qydiskfile"):
        return _s(body, "filename"), media
    if msgtype == "vote":
        options = body.get("voteitem") or []
        return " ".join([_s(body, "votetitle"), *[str(o) for o in options]]).strip(), ""
    if msgtype == "collect":
        questions = [str(d.get("ques", "")) for d in body.get("details") or [] if isinstance(d, dict)]
        return " ".join([_s(body, "title"), *questions]).strip(), ""
    if msgtype in ("redpacket", "external_redpacket"):
        return _s(body, "wish"), ""
    if msgtype in ("meeting", "calendar"):
        return _s(body, "topic", "title", "address", "place", "remarks"), ""
    if msgtype == "chatrecord":
        items = [i for i in body.get("item") or [] if isinstance(i, dict)]
        parts = [_item_text(str(i.get("type", "")), _content(i.get("content"))) for i in items]
        return " ".join([_s(body, "title"), *[p for p in parts if p]]).strip(), ""
    if msgtype == "mixed":
        items = [i for i in body.get("item") or [] if isinstance(i, dict)]
        parts = [_item_text(str(i.get("type", "")), _content(i.get("content"))) for i in items]
        images = [_content(i.get("content")).get("sdkfileid", "") for i in items if i.get("type") == "image"]
        return " ".join(p for p in parts if p), str(images[0]) if images else ""
    if msgtype == "sphfeed":
        return _s(body, "sph_name", "feed_desc"), ""
    return _s(body, "content", "title", "filename"), media


def message_event(msg: Mapping[str, Any], seq: int) -> Event | None:
    """The event of one decrypted archive message (None for what is no chat fact: a company switch)."""
    action = str(msg.get("action", "send"))
    msgid = str(msg.get("msgid", ""))
    room = str(msg.get("roomid", ""))
    actor = str(msg.get("from", ""))
    at = datetime.fromtimestamp(int(msg.get("msgtime") or msg.get("time") or 0) / 1000, tz=UTC)
    if action == "switch" or not msgid:
        return None
    msgtype = str(msg.get("msgtype", ""))
    base: dict[str, Any] = {"platform": PLATFORM, "group": room, "actor": actor, "at": at}
    if msgtype == "revoke" or action == "recall":
        pre = str((msg.get("revoke") or {}).get("pre_msgid", ""))
        return Delete(
            id=stable_id(PLATFORM, room, "archive-revoke", msgid),
            **base,
            message_id=pre or msgid,
            by=actor,
            extra={"wecom": "revoke", "msgid": msgid, "seq": seq},
        )
    known = TYPES.get(msgtype)
    content, key = known if known is not None else (ContentKind.OTHER, msgtype)
    raw_body = msg.get(key)
    body: dict[str, Any] = raw_body if isinstance(raw_body, dict) else {}
    text, media = body_text(msgtype, body)
    extra: dict[str, Any] = {"wecom": "archive", "msgtype": msgtype, "seq": seq}
    if msgtype == "mixed" and media:
        content = ContentKind.IMAGE if not text else content
        extra["has_image"] = True
    if media:
        extra["sdkfileid"] = media
        for k in ("md5sum", "filesize", "fileext", "play_length", "voice_size"):
            if body.get(k) not in (None, ""):
                extra[k] = body[k]
    if content is ContentKind.RED_PACKET and body.get("totalamount") is not None:
        extra["amount"] = int(body.get("totalamount") or 0)
    if msgtype in ("weapp", "card", "link", "sphfeed"):
        extra["card"] = {k: v for k, v in body.items() if isinstance(v, str | int | float)}
    if known is None:
        extra["unknown"] = True
        extra["body"] = {k: v for k, v in msg.items() if k not in ("from", "tolist")}
    return Message(
        id=stable_id(PLATFORM, room, "archive", msgid),
        **base,
        message_id=msgid,
        content=content,
        text=text,
        media=media,
        forwarded=msgtype == "chatrecord",
        extra=extra,
    )


def is_media(event: Event) -> bool:
    """Whether ``event`` carries an image whose pixels a QR-code check can read."""
    return (
        isinstance(event, Message)
        and bool(event.extra.get("sdkfileid"))
        and (event.content is ContentKind.IMAGE or bool(event.extra.get("has_image")))
    )
