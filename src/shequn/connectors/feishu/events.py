"""Feishu events and messages → shequn events (pure): the v2 event envelope, the history's items, card buttons.

How it works:
    :func:`events_of` takes one v2 event (``{"schema": "2.0", "header": {...}, "event": {...}}``) and returns the
    shequn events it stands for: ``im.message.receive_v1`` in a group → :class:`~shequn.domain.Message` (text, post,
    image, file, share_chat, interactive … read by :func:`read`; in a private chat with the bot a ``同意`` is the
    rules form: :func:`private_acceptance`); ``im.chat.member.user.added_v1`` → one
    :class:`~shequn.domain.Join` per user (invited when someone else added them); ``…deleted_v1`` → a
    :class:`~shequn.domain.Leave` (removed when the operator is someone else); ``im.message.recalled_v1`` →
    :class:`~shequn.domain.Delete`; ``card.action.trigger`` → a :class:`~shequn.domain.FormAnswer` when the
    button's value names a shequn form (:func:`card_value`). :func:`history_message` reads an item of
    ``im.v1.message.list`` into the same message (same id) as the live event.

Things to keep in mind:
    * People are open ids (``ou_…``), chats chat ids (``oc_…``); the bot's own messages never come as events, and
      in the history they are the app's (``sender_type: app``, id = the app id): not handed on.
    * Feishu puts no sender name on a message: the connector fills names from the member lists it reads.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import orjson

from shequn.connectors.base import accepts_rules
from shequn.domain import (
    RULES_FORM,
    ContentKind,
    Delete,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    stable_id,
)

PLATFORM = "feishu"
CARD_KEY = "shequn_form"  # a card button whose value carries this key answers that form
Raw = Mapping[str, Any]

_KINDS = {
    "text": ContentKind.TEXT,
    "post": ContentKind.TEXT,
    "image": ContentKind.IMAGE,
    "file": ContentKind.FILE,
    "audio": ContentKind.VOICE,
    "media": ContentKind.VIDEO,
    "sticker": ContentKind.STICKER,
    "share_chat": ContentKind.CONTACT_CARD,
    "share_user": ContentKind.CONTACT_CARD,
    "location": ContentKind.LOCATION,
    "system": ContentKind.SYSTEM,
    "interactive": ContentKind.OTHER,
    "vote": ContentKind.POLL,
}
_URL = re.compile(r"https?://\S+")


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def _at_ms(value: Any) -> datetime:
    raw = _s(value)
    return datetime.fromtimestamp(int(raw) / 1000 if raw.isdigit() else 0, tz=UTC)


def message_event_id(chat: str, message_id: str) -> str:
    """The event id of a group message: the same for the live event and the history read after a gap."""
    return stable_id(PLATFORM, chat, message_id)


@dataclass(frozen=True, slots=True)
class Read:
    """What a message's ``content`` says."""

    content: ContentKind
    text: str
    media: str = ""


def _texts(node: Any) -> Iterable[str]:
    """Every text of a card or a post, depth first (``text``, ``content``, ``title`` strings; a link's href)."""
    if isinstance(node, Mapping):
        for key in ("title", "text", "content", "href", "url"):
            value = node.get(key)
            if isinstance(value, str) and value.strip():
                yield value.strip()
        for key, value in node.items():
            if not isinstance(value, str) or key not in ("title", "text", "content", "href", "url"):
                yield from _texts(value)
    elif isinstance(node, list):
        for item in node:
            yield from _texts(item)


def read(msg_type: str, content: str, mentions: Iterable[Raw] = ()) -> Read:
    """A message's ``content`` (a JSON string, as both the events and the history carry it) read into text."""
    try:
        body = orjson.loads(content) if content else {}
    except orjson.JSONDecodeError:
        body = {"text": content}
    if not isinstance(body, Mapping):
        body = {}
    kind = _KINDS.get(msg_type, ContentKind.OTHER)
    text, media = "", ""
    if msg_type == "text":
        text = _s(body.get("text"))
    elif msg_type == "post":
        post = (
            body if "content" in body else next(iter(body.values()), {})
        )  # with a locale wrapper ({"zh_cn": …}) or not
        text = "\n".join(_texts(post)) if isinstance(post, Mapping) else ""
    elif msg_type == "image":
        media = _s(body.get("image_key"))
    elif msg_type in ("file", "audio", "media"):
        media = _s(body.get("file_name") or body.get("file_key"))
    elif msg_type == "share_chat":
        media = f"feishu-chat:{_s(body.get('chat_id'))}"
    elif msg_type == "share_user":
        media = f"feishu-user:{_s(body.get('user_id'))}"
    elif msg_type == "interactive":
        text = "\n".join(dict.fromkeys(_texts(body)))
    for m in mentions:  # "@_user_1" placeholders → the names they stand for
        key = _s(m.get("key"))
        if key:
            text = text.replace(key, f"@{_s(m.get('name'))}")
    if kind is ContentKind.TEXT and _URL.search(text) and msg_type == "post":
        kind = ContentKind.LINK
    return Read(kind, text.strip(), media)


def _open_id(ids: Any) -> str:
    return _s(ids.get("open_id")) if isinstance(ids, Mapping) else _s(ids)


def _mention_ids(mentions: Iterable[Raw]) -> tuple[str, ...]:
    return tuple(i for i in (_open_id(m.get("id")) for m in mentions) if i)


def group_message(raw: Raw, app_id: str) -> list[Event]:
    """``im.message.receive_v1``: a message in a group (private chats are not a group's business)."""
    ev = raw.get("event") or {}
    msg, sender = ev.get("message") or {}, ev.get("sender") or {}
    if msg.get("chat_type") != "group":
        return []
    return _message(
        chat=_s(msg.get("chat_id")),
        message_id=_s(msg.get("message_id")),
        actor=_open_id(sender.get("sender_id")),
        sender_type=_s(sender.get("sender_type")),
        app_id=app_id,
        msg_type=_s(msg.get("message_type")),
        content=_s(msg.get("content")),
        mentions=msg.get("mentions") or [],
        at=msg.get("create_time"),
        parent=_s(msg.get("parent_id")),
        thread=_s(msg.get("thread_id")),
    )


def history_message(item: Raw, app_id: str) -> list[Event]:
    """An item of ``im.v1.message.list`` (``msg_type``, ``body.content``, ``sender.id``): the same event as live."""
    if item.get("deleted"):
        return []
    sender = item.get("sender") or {}
    return _message(
        chat=_s(item.get("chat_id")),
        message_id=_s(item.get("message_id")),
        actor=_s(sender.get("id")),
        sender_type=_s(sender.get("sender_type")),
        app_id=app_id,
        msg_type=_s(item.get("msg_type")),
        content=_s((item.get("body") or {}).get("content")),
        mentions=item.get("mentions") or [],
        at=item.get("create_time"),
        parent=_s(item.get("parent_id")),
        thread=_s(item.get("thread_id")),
    )


def _message(
    *,
    chat: str,
    message_id: str,
    actor: str,
    sender_type: str,
    app_id: str,
    msg_type: str,
    content: str,
    mentions: list[Raw],
    at: Any,
    parent: str,
    thread: str,
) -> list[Event]:
    if not chat or not message_id or (sender_type == "app" and actor == app_id):
        return []
    r = read(msg_type, content, mentions)
    return [
        Message(
            id=message_event_id(chat, message_id),
            at=_at_ms(at),
            platform=PLATFORM,
            group=chat,
            actor=actor,
            message_id=message_id,
            content=r.content,
            text=r.text,
            media=r.media,
            reply_to=parent,
            thread=thread,
            mentions=_mention_ids(mentions),
            forwarded=msg_type == "merge_forward",
            from_bot=sender_type == "app",
            extra={} if msg_type in ("text", "post") else {"msg_type": msg_type},
        )
    ]


def _header(raw: Raw) -> tuple[str, datetime]:
    header = raw.get("header") or {}
    return _s(header.get("event_id")), _at_ms(header.get("create_time"))


def members_added(raw: Raw, app_id: str) -> list[Event]:
    ev, (event_id, at) = raw.get("event") or {}, _header(raw)
    chat, operator = _s(ev.get("chat_id")), _open_id(ev.get("operator_id"))
    out: list[Event] = []
    for user in ev.get("users") or []:
        who = _open_id(user.get("user_id"))
        invited = bool(operator) and operator != who
        out.append(
            Join(
                id=stable_id(PLATFORM, chat, "join", who, event_id),
                at=at,
                platform=PLATFORM,
                group=chat,
                actor=who,
                actor_name=_s(user.get("name")),
                method=JoinMethod.INVITED if invited else JoinMethod.SELF,
                inviter=operator if invited else "",
            )
        )
    return out


def members_deleted(raw: Raw, app_id: str) -> list[Event]:
    ev, (event_id, at) = raw.get("event") or {}, _header(raw)
    chat, operator = _s(ev.get("chat_id")), _open_id(ev.get("operator_id"))
    out: list[Event] = []
    for user in ev.get("users") or []:
        who = _open_id(user.get("user_id"))
        removed = bool(operator) and operator != who
        out.append(
            Leave(
                id=stable_id(PLATFORM, chat, "leave", who, event_id),
                at=at,
                platform=PLATFORM,
                group=chat,
                actor=who,
                actor_name=_s(user.get("name")),
                reason=LeaveReason.REMOVED if removed else LeaveReason.VOLUNTARY,
                by=operator if removed else "",
            )
        )
    return out


def recalled(raw: Raw, app_id: str) -> list[Event]:
    ev, (_, at) = raw.get("event") or {}, _header(raw)
    chat, mid = _s(ev.get("chat_id")), _s(ev.get("message_id"))
    if not chat or not mid:
        return []
    by = "" if ev.get("recall_type") == "message_owner" else _s(ev.get("recall_type"))
    return [
        Delete(id=stable_id(PLATFORM, chat, "recall", mid), at=at, platform=PLATFORM, group=chat, message_id=mid, by=by)
    ]


def card_value(raw: Raw) -> Mapping[str, Any]:
    """The value of the button pressed on a card (``card.action.trigger``), {} when there is none."""
    action = (raw.get("event") or {}).get("action") or {}
    value = action.get("value")
    if isinstance(value, str):
        try:
            value = orjson.loads(value)
        except orjson.JSONDecodeError:
            return {}
    return value if isinstance(value, Mapping) else {}


def card_action(raw: Raw, app_id: str) -> list[Event]:
    """A shequn card's button: the form it answers (``rules``, a registration …), in the group the card names."""
    ev, (event_id, at) = raw.get("event") or {}, _header(raw)
    value = card_value(raw)
    form, group = _s(value.get(CARD_KEY)), _s(value.get("group"))
    context = ev.get("context") or {}
    group = group or _s(context.get("open_chat_id"))
    actor = _open_id(ev.get("operator"))
    if not form or not group or not actor:
        return []
    answers = {str(k): _s(v) for k, v in (value.get("answers") or {}).items()}
    form_value = (ev.get("action") or {}).get("form_value")
    if isinstance(form_value, Mapping):  # a card with input fields: what was typed
        answers |= {str(k): _s(v) for k, v in form_value.items()}
    return [
        FormAnswer(
            id=stable_id(PLATFORM, group, "card", form, actor, _s(context.get("open_message_id")) or event_id),
            at=at,
            platform=PLATFORM,
            group=group,
            actor=actor,
            form=form,
            answers=answers,
        )
    ]


HANDLERS: dict[str, Callable[[Raw, str], list[Event]]] = {
    "im.message.receive_v1": group_message,
    "im.chat.member.user.added_v1": members_added,
    "im.chat.member.user.deleted_v1": members_deleted,
    "im.message.recalled_v1": recalled,
    "card.action.trigger": card_action,
}
SKIPPED: dict[str, str] = {
    "im.chat.member.bot.added_v1": "the bot's own arrival: the connector reads the new chat's members",
    "im.chat.member.bot.deleted_v1": "the bot's own removal: the connector logs it",
    "im.chat.member.user.withdrawn_v1": "an invitation withdrawn before the person came in",
    "im.message.message_read_v1": "read receipts are private",
    "im.message.reaction.created_v1": "no event kind",
    "im.message.reaction.deleted_v1": "no event kind",
    "im.chat.updated_v1": "no event kind",
    "im.chat.disbanded_v1": "no event kind; the connector logs it",
}


def event_type(raw: Raw) -> str:
    return _s((raw.get("header") or {}).get("event_type"))


def private_acceptance(raw: Raw, dm: Mapping[str, str]) -> list[Event]:
    """A private ``同意`` / ``accept`` to the bot (for those who type rather than press the card's button): the rules
    form in the group the bot last wrote to the person about (``dm``); other private words are not a group's."""
    ev = raw.get("event") or {}
    msg, sender = ev.get("message") or {}, ev.get("sender") or {}
    actor = _open_id(sender.get("sender_id"))
    group = dm.get(actor, "")
    if msg.get("message_type") != "text" or not group:
        return []
    text = read("text", _s(msg.get("content"))).text
    if not accepts_rules(text):
        return []
    return [
        FormAnswer(
            id=stable_id(PLATFORM, "p2p", actor, _s(msg.get("message_id"))),
            at=_at_ms(msg.get("create_time")),
            platform=PLATFORM,
            group=group,
            actor=actor,
            form=RULES_FORM,
        )
    ]


def events_of(raw: Raw, app_id: str = "", dm: Mapping[str, str] | None = None) -> list[Event]:
    """The shequn events one v2 Feishu event stands for (none for what is skipped or unknown).

    ``dm`` maps a person to the group the bot last wrote to them about (where a private answer belongs)."""
    kind = event_type(raw)
    if kind == "im.message.receive_v1" and ((raw.get("event") or {}).get("message") or {}).get("chat_type") == "p2p":
        return private_acceptance(raw, dm or {})
    handler = HANDLERS.get(kind)
    return handler(raw, app_id) if handler else []
