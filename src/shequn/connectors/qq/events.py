"""Raw OneBot v11 events → shequn events (pure): one handler per (``post_type``, type), and what is skipped.

How it works:
    :data:`HANDLERS` maps ``(post_type, message_type | notice_type | request_type)`` to the function that builds
    the shequn events; :data:`SKIPPED` names what is deliberately not turned into events and why. Anything else is
    unknown to this version and dropped with a debug line by the connector.

    * ``message.group`` → :class:`~shequn.domain.Message` with every segment read (:mod:`.segments`).
    * ``message.private`` → a rules acceptance (``同意`` / ``accept`` …) becomes the ``rules`` form in the group the
      bot last wrote to the person about (or the group of a temporary session); other private words are not a
      group's business.
    * ``notice.group_increase`` → :class:`~shequn.domain.Join` (``approve``: approved, ``invite``: invited by the
      operator); ``group_decrease`` → :class:`~shequn.domain.Leave` (``leave``, ``kick``; ``kick_me`` is the bot's
      own removal, which the connector reports); ``group_recall`` → :class:`~shequn.domain.Delete`; ``group_card``
      → :class:`~shequn.domain.NicknameChange`.
    * ``request.group`` (``add``) → the ``application`` form (the answer to the group's question, from the
      applicant's ``comment``) then the ``join_request`` form, so the admission policy screens the answer and answers
      the request.

Things to keep in mind:
    * The bot's own messages (``user_id == self_id``, or ``post_type: message_sent``) are not handed on: what it
      said is in the outbox, and no policy should judge it.
    * ``group_ban``, ``group_admin``, ``essence`` and ``notify`` (poke, honours) have no kind in the event log; the
      connector reads the ban and admin notices about the bot itself (they decide what it may do).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

from shequn.connectors.base import accepts_rules
from shequn.connectors.qq.segments import read
from shequn.domain import (
    RULES_FORM,
    Delete,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    stable_id,
)

PLATFORM = "qq"
APPLICATION_FORM = "application"  # the admission policy's application form (playbook: admission.application_forms)
JOIN_REQUEST_FORM = "join_request"  # the admission policy's form for a request to join
_QUESTION = re.compile(r"问题[:：]\s*(?P<q>.*?)\s*答案[:：]\s*(?P<a>.*)$", re.S)

Raw = Mapping[str, Any]
Handler = Callable[[Raw, str, Mapping[str, str]], list[Event]]


def _at(raw: Raw) -> datetime:
    return datetime.fromtimestamp(int(raw.get("time") or 0), tz=UTC)


def _s(value: Any) -> str:
    return "" if value is None else str(value)


def message_event_id(group: str, message_id: str) -> str:
    """The event id of a group message: the same for the live event and the history fetched after a gap."""
    return stable_id(PLATFORM, group, message_id)


def _name(sender: Any) -> str:
    if not isinstance(sender, Mapping):
        return ""
    return _s(sender.get("card") or sender.get("nickname")).strip()


def group_message(raw: Raw, self_id: str, dm: Mapping[str, str]) -> list[Event]:
    group, actor, mid = _s(raw.get("group_id")), _s(raw.get("user_id")), _s(raw.get("message_id"))
    if not group or not mid or (self_id and actor == self_id):
        return []
    r = read(raw.get("message") if raw.get("message") is not None else raw.get("raw_message", ""))
    anonymous = raw.get("anonymous")
    name = _s(anonymous.get("name")) if isinstance(anonymous, Mapping) else _name(raw.get("sender"))
    extra: dict[str, Any] = {"segments": list(r.kinds)} if r.kinds and r.kinds != ("text",) else {}
    if raw.get("sub_type") == "anonymous":
        extra["anonymous"] = True
    return [
        Message(
            id=message_event_id(group, mid),
            at=_at(raw),
            platform=PLATFORM,
            group=group,
            actor=actor,
            actor_name=name,
            message_id=mid,
            content=r.content,
            text=r.text,
            reply_to=r.reply_to,
            mentions=r.mentions,
            media=r.media,
            forwarded=r.forwarded,
            extra=extra,
        )
    ]


def private_message(raw: Raw, self_id: str, dm: Mapping[str, str]) -> list[Event]:
    actor = _s(raw.get("user_id"))
    text = read(raw.get("message") if raw.get("message") is not None else raw.get("raw_message", "")).text
    group = _s(raw.get("group_id") or (raw.get("sender") or {}).get("group_id") or dm.get(actor, ""))
    if not actor or actor == self_id or not group or not accepts_rules(text):
        return []
    return [
        FormAnswer(
            id=stable_id(PLATFORM, "private", actor, _s(raw.get("message_id")), _s(raw.get("time"))),
            at=_at(raw),
            platform=PLATFORM,
            group=group,
            actor=actor,
            actor_name=_name(raw.get("sender")),
            form=RULES_FORM,
        )
    ]


def _base(raw: Raw, kind: str, *parts: str) -> dict[str, Any]:
    group = _s(raw.get("group_id"))
    ident = stable_id(PLATFORM, group, kind, _s(raw.get("user_id")), _s(raw.get("time")), *parts)
    return {"id": ident, "at": _at(raw), "platform": PLATFORM, "group": group, "actor": _s(raw.get("user_id"))}


def group_increase(raw: Raw, self_id: str, dm: Mapping[str, str]) -> list[Event]:
    user, operator = _s(raw.get("user_id")), _s(raw.get("operator_id"))
    if not user or user == self_id:
        return []
    invited = raw.get("sub_type") == "invite"
    method = JoinMethod.INVITED if invited else JoinMethod.APPROVED
    inviter = operator if invited and operator not in ("", "0", user) else ""
    return [Join(**_base(raw, "join"), method=method, inviter=inviter)]


def group_decrease(raw: Raw, self_id: str, dm: Mapping[str, str]) -> list[Event]:
    user, operator, sub = _s(raw.get("user_id")), _s(raw.get("operator_id")), raw.get("sub_type")
    if not user or user == self_id or sub == "kick_me":
        return []
    if sub == "kick":
        return [Leave(**_base(raw, "leave"), reason=LeaveReason.REMOVED, by=operator if operator != user else "")]
    return [Leave(**_base(raw, "leave"), reason=LeaveReason.VOLUNTARY)]


def group_recall(raw: Raw, self_id: str, dm: Mapping[str, str]) -> list[Event]:
    mid = _s(raw.get("message_id"))
    if not mid:
        return []
    return [Delete(**_base(raw, "recall", mid), message_id=mid, by=_s(raw.get("operator_id")))]


def group_card(raw: Raw, self_id: str, dm: Mapping[str, str]) -> list[Event]:
    old, new = _s(raw.get("card_old")), _s(raw.get("card_new"))
    if old == new or _s(raw.get("user_id")) == self_id:
        return []
    return [NicknameChange(**_base(raw, "card", new), actor_name=new, old=old, new=new)]


def answers_of(comment: str) -> dict[str, str]:
    """The application a join request's ``comment`` stands for: QQ writes ``问题：…\\n答案：…`` when the group asks a
    question, the applicant's words alone otherwise."""
    comment = comment.strip()
    m = _QUESTION.search(comment)
    out = {"question": m["q"].strip(), "answer": m["a"].strip()} if m else {"answer": comment}
    out["comment"] = comment
    return {k: v for k, v in out.items() if v}


def group_request(raw: Raw, self_id: str, dm: Mapping[str, str]) -> list[Event]:
    if raw.get("sub_type", "add") != "add":
        return []  # an invitation of the bot itself into a group: the operator's call, not a policy's
    base = _base(raw, "request", _s(raw.get("flag")))
    answers = answers_of(_s(raw.get("comment")))
    application = FormAnswer(
        **{**base, "id": stable_id(base["id"], "application")}, form=APPLICATION_FORM, answers=answers
    )
    request = FormAnswer(**base, form=JOIN_REQUEST_FORM, answers={"comment": answers.get("comment", "")})
    return [application, request]


HANDLERS: dict[tuple[str, str], Handler] = {
    ("message", "group"): group_message,
    ("message", "private"): private_message,
    ("notice", "group_increase"): group_increase,
    ("notice", "group_decrease"): group_decrease,
    ("notice", "group_recall"): group_recall,
    ("notice", "group_card"): group_card,
    ("request", "group"): group_request,
}
SKIPPED: dict[tuple[str, str], str] = {
    ("meta_event", "heartbeat"): "the link's liveness, read by the transport",
    ("meta_event", "lifecycle"): "the link's state, read by the transport",
    ("message_sent", "group"): "the bot's own message: in the outbox already",
    ("message_sent", "private"): "the bot's own message: in the outbox already",
    ("notice", "group_ban"): "no event kind; the connector notes when the bot itself is muted",
    ("notice", "group_admin"): "no event kind; the connector notes the bot's own admin right",
    ("notice", "essence"): "no event kind",
    ("notice", "notify"): "poke, lucky king, honours: no event kind",
    ("notice", "group_upload"): "the file also arrives as a message segment",
    ("notice", "friend_add"): "friends are not a group's members",
    ("notice", "friend_recall"): "a private message recalled",
    ("request", "friend"): "friend requests are the operator's, by hand",
}


def detail_of(raw: Raw) -> tuple[str, str]:
    """The (post_type, type) key of a raw event."""
    post = _s(raw.get("post_type"))
    for field in ("message_type", "notice_type", "request_type", "meta_event_type"):
        if raw.get(field):
            return post, _s(raw[field])
    return post, ""


def events_of(raw: Raw, self_id: str = "", dm: Mapping[str, str] | None = None) -> list[Event]:
    """The shequn events one raw OneBot event stands for (none for what is skipped or unknown).

    ``dm`` maps a person to the group the bot last wrote to them about (where a private reply belongs)."""
    handler = HANDLERS.get(detail_of(raw))
    return handler(raw, self_id, {} if dm is None else dm) if handler else []
