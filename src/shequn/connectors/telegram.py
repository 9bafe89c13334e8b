"""Telegram (through aiogram): a bot in groups and supergroups, by long polling or by webhook.

How it works:
    Updates (the Bot API's ``Update`` objects) become :mod:`shequn.domain` events (:func:`events_of`): messages,
    edits, members joining (``new_chat_members`` or ``chat_member`` with the invite link's *name*, the referral
    attribution of a named invite link), leaving or removed, and join requests (``chat_join_request``, kept as the
    ``join_request`` form so the admission policy can screen them). Long polling (:meth:`TelegramConnector.poll_once`)
    asks ``getUpdates`` from the saved offset and saves ``update_id + 1`` only after the events are in the log, so a
    restart neither loses nor repeats an update; a failed poll is retried with exponential backoff. In webhook mode
    ``shequn run`` listens on ``SHEQUN_TELEGRAM_WEBHOOK_LISTEN`` and accepts a POST only with the secret in the
    ``X-Telegram-Bot-Api-Secret-Token`` header (:meth:`TelegramConnector.handle_webhook`).

    Sends map to Bot API methods: ``sendMessage`` (posts, replies, warnings, private messages; pinned with
    ``pinChatMessage``), ``deleteMessage``, ``restrictChatMember`` / ``setChatPermissions`` (mute one member or the
    whole group, with ``until_date``), ``banChatMember`` (ban; removal is a ban then ``unbanChatMember``),
    ``createChatInviteLink`` (named links with member limits), ``approveChatJoinRequest`` /
    ``declineChatJoinRequest`` (the admission policy's answer to a join request). Bots cannot add people to a group:
    invitations are staff tasks.

Things to keep in mind:
    * The flood limits (30 messages a second per bot, 20 a minute and about one a second per group) are the outbox's
      (``platform_limits.yaml``); a 429 still raises :class:`RetryAfterError` with the ``retry_after`` Telegram sent.
    * A private message works only with people who have started the bot; Telegram's 403 becomes a staff task.
    * The token is part of every Bot API URL: it never reaches a log line (the bot is named by its id).
"""

from __future__ import annotations

import asyncio
import hmac
import logging
import random
from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from shequn.connectors.base import BackgroundLoop, Connector, EventSink, SendResult, sends
from shequn.domain import (
    Action,
    ActionKind,
    ContentKind,
    Edit,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    UserError,
    stable_id,
)
from shequn.outbox.errors import PermanentSendError, RetryAfterError, SendError

log = logging.getLogger("shequn.connectors.telegram")

PLATFORM = "telegram"
ALLOWED_UPDATES = ["message", "edited_message", "chat_member", "chat_join_request"]
JOIN_REQUEST_FORM = "join_request"
_KICKED = frozenset({"kicked", "banned"})
_GONE = frozenset({"left", "kicked", "banned"})
_IN = frozenset({"member", "administrator", "creator", "restricted"})
_CONTENT = (
    ("photo", ContentKind.IMAGE),
    ("video", ContentKind.VIDEO),
    ("animation", ContentKind.VIDEO),
    ("voice", ContentKind.VOICE),
    ("audio", ContentKind.VOICE),
    ("document", ContentKind.FILE),
    ("sticker", ContentKind.STICKER),
    ("location", ContentKind.LOCATION),
    ("contact", ContentKind.CONTACT_CARD),
    ("poll", ContentKind.POLL),
)


# -- updates → events (pure) ----------------------------------------------------------------------------------


def _name(user: Mapping[str, Any]) -> str:
    return " ".join(p for p in (str(user.get("first_name", "")), str(user.get("last_name", ""))) if p).strip()


def _at(ts: Any) -> datetime:
    return datetime.fromtimestamp(int(ts or 0), tz=UTC)


def events_of(update: Mapping[str, Any]) -> list[Event]:
    """The shequn events one Bot API ``Update`` stands for (none for what shequn does not model)."""
    if "message" in update:
        return _message(update["message"])
    if "edited_message" in update:
        m = update["edited_message"]
        chat = str(m["chat"]["id"])
        actor = str((m.get("from") or {}).get("id", ""))
        return [
            Edit(
                id=stable_id(PLATFORM, chat, str(m["message_id"]), "edit", str(m.get("edit_date", ""))),
                at=_at(m.get("edit_date") or m.get("date")),
                platform=PLATFORM,
                group=chat,
                actor=actor,
                message_id=str(m["message_id"]),
                text=str(m.get("text") or m.get("caption") or ""),
            )
        ]
    if "chat_member" in update:
        return _chat_member(update["chat_member"])
    if "chat_join_request" in update:
        r = update["chat_join_request"]
        user = r.get("from") or {}
        link = r.get("invite_link") or {}
        answers = {"bio": str(r.get("bio", "")), "invite_link": str(link.get("name") or link.get("invite_link") or "")}
        return [
            FormAnswer(
                id=stable_id(PLATFORM, "join_request", str(r["chat"]["id"]), str(user.get("id")), str(r.get("date"))),
                at=_at(r.get("date")),
                platform=PLATFORM,
                group=str(r["chat"]["id"]),
                actor=str(user.get("id", "")),
                actor_name=_name(user),
                form=JOIN_REQUEST_FORM,
                answers=answers,
            )
        ]
    return []


def _message(m: Mapping[str, Any]) -> list[Event]:
    chat = str(m["chat"]["id"])
    if m["chat"].get("type") == "private":
        return []  # private chats with the bot are not a group's
    mid = str(m["message_id"])
    sender = m.get("from") or {}
    actor = str(sender.get("id", ""))
    at = _at(m.get("date"))
    base: dict[str, Any] = {"platform": PLATFORM, "group": chat, "at": at}
    if m.get("new_chat_members"):
        out: list[Event] = []
        for u in m["new_chat_members"]:
            uid = str(u["id"])
            invited = uid != actor
            out.append(
                Join(
                    id=stable_id(PLATFORM, chat, "join", uid, mid),
                    **base,
                    actor=uid,
                    actor_name=_name(u),
                    method=JoinMethod.INVITED if invited else JoinMethod.SELF,
                    inviter=actor if invited else "",
                )
            )
        return out
    if m.get("left_chat_member"):
        u = m["left_chat_member"]
        uid = str(u["id"])
        reason = LeaveReason.VOLUNTARY if uid == actor else LeaveReason.REMOVED
        return [
            Leave(
                id=stable_id(PLATFORM, chat, "leave", uid, mid),
                **base,
                actor=uid,
                actor_name=_name(u),
                reason=reason,
                by="" if uid == actor else actor,
            )
        ]
    content = ContentKind.TEXT
    media = ""
    for key, kind in _CONTENT:
        if key in m:
            content, media = kind, key
            break
    else:
        if "text" not in m:
            return []  # service messages shequn does not model (pins, title changes …)
    mentions = tuple(
        str(e["user"]["id"]) for e in (m.get("entities") or []) if e.get("type") == "text_mention" and e.get("user")
    )
    reply = m.get("reply_to_message") or {}
    return [
        Message(
            id=stable_id(PLATFORM, chat, mid),
            **base,
            actor=actor,
            actor_name=_name(sender),
            message_id=mid,
            content=content,
            text=str(m.get("text") or m.get("caption") or ""),
            reply_to=str(reply.get("message_id", "")) if reply else "",
            mentions=mentions,
            media=media,
            thread=str(m.get("message_thread_id", "")) if m.get("is_topic_message") else "",
            forwarded=bool(m.get("forward_origin") or m.get("forward_date")),
            from_bot=bool(sender.get("is_bot")),
        )
    ]


def _chat_member(u: Mapping[str, Any]) -> list[Event]:
    chat = str(u["chat"]["id"])
    old, new = u.get("old_chat_member") or {}, u.get("new_chat_member") or {}
    user = new.get("user") or {}
    uid = str(user.get("id", ""))
    by = str((u.get("from") or {}).get("id", ""))
    was, now = old.get("status"), new.get("status")
    base: dict[str, Any] = {"platform": PLATFORM, "group": chat, "at": _at(u.get("date"))}
    base.update(actor=uid, actor_name=_name(user))
    ident = stable_id(PLATFORM, chat, "member", uid, str(u.get("date")), str(now))
    if now in _IN and was in _GONE | {None}:
        link = u.get("invite_link") or {}
        code = str(link.get("name") or "")
        if u.get("via_join_request"):
            method = JoinMethod.APPROVED
        elif link:
            method = JoinMethod.SELF
        elif by and by != uid:
            method = JoinMethod.INVITED
        else:
            method = JoinMethod.SELF
        inviter = by if method is JoinMethod.INVITED else str((link.get("creator") or {}).get("id", "") if link else "")
        return [Join(id=ident, **base, method=method, inviter=inviter, invite_code=code)]
    if now in _GONE and was in _IN:
        reason = LeaveReason.BANNED if now in _KICKED else LeaveReason.VOLUNTARY
        if reason is LeaveReason.VOLUNTARY and by and by != uid:
            reason = LeaveReason.REMOVED
        return [Leave(id=ident, **base, reason=reason, by="" if by == uid else by)]
    return []


# -- the connector --------------------------------------------------------------------------------------------


def _error(exc: Exception) -> Exception:
    """The outbox's error for an aiogram exception."""
    from aiogram.exceptions import (
        TelegramBadRequest,
        TelegramForbiddenError,
        TelegramNotFound,
        TelegramRetryAfter,
        TelegramUnauthorizedError,
    )

    if isinstance(exc, TelegramRetryAfter):
        return RetryAfterError(exc.retry_after, message=f"telegram: 429 retry after {exc.retry_after} s")
    if isinstance(exc, TelegramForbiddenError | TelegramUnauthorizedError | TelegramNotFound | TelegramBadRequest):
        return PermanentSendError(f"telegram: {type(exc).__name__}: {getattr(exc, 'message', exc)}")
    return SendError(f"telegram: {type(exc).__name__}: {getattr(exc, 'message', exc)}")


class TelegramConnector(Connector):
    """A Telegram bot (``platform: telegram``); group ids are chat ids (``-1001234567890``).

    Environment (``shequn run``): ``SHEQUN_TELEGRAM_TOKEN``; for webhook mode ``SHEQUN_TELEGRAM_WEBHOOK_SECRET`` and
    ``SHEQUN_TELEGRAM_WEBHOOK_LISTEN`` (``127.0.0.1:8443``: where ``shequn run`` listens, behind your HTTPS proxy).
    """

    platform = PLATFORM

    def __init__(
        self,
        token: str,
        *,
        session: Any = None,
        webhook_secret: str = "",
        listen: str = "",
        poll_timeout: int = 30,
        backoff: tuple[float, float] = (0.5, 30.0),
    ) -> None:
        if not token or ":" not in token:
            raise UserError("SHEQUN_TELEGRAM_TOKEN: expected a bot token like 123456:ABC…", exit_code=2)
        from aiogram import Bot

        self.bot = Bot(token=token, session=session)
        self.bot_id = token.partition(":")[0]
        self.webhook_secret = webhook_secret
        self.listen = listen
        self.poll_timeout = poll_timeout
        self.backoff = backoff
        self.stats = {"polls": 0, "updates": 0, "reconnects": 0, "webhook_refused": 0}
        self._background = BackgroundLoop()
        self._runner: Any = None
        self._sink: EventSink | None = None

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> TelegramConnector:
        token = env.get("SHEQUN_TELEGRAM_TOKEN", "")
        if not token:
            raise UserError("the Telegram connector needs SHEQUN_TELEGRAM_TOKEN", exit_code=2)
        listen = env.get("SHEQUN_TELEGRAM_WEBHOOK_LISTEN", "")
        secret = env.get("SHEQUN_TELEGRAM_WEBHOOK_SECRET", "")
        if listen and len(secret) < 16:
            raise UserError(
                "SHEQUN_TELEGRAM_WEBHOOK_SECRET: webhook mode needs a secret of 16+ characters", exit_code=2
            )
        return cls(token, webhook_secret=secret, listen=listen)

    def __repr__(self) -> str:  # never the token
        return f"TelegramConnector(bot {self.bot_id})"

    def bot_of(self, action: Action) -> str:
        return self.bot_id

    # -- receiving ------------------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self.listen:
            await self._serve_webhook()
        else:
            self._background.start(self._poll_loop(sink), name="telegram-poll")

    async def stop(self) -> None:
        await self._background.stop()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        await self.bot.session.close()

    async def _poll_loop(self, sink: EventSink) -> None:
        delay = self.backoff[0]
        while self._background.running:
            try:
                await self.poll_once(sink)
                delay = self.backoff[0]
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                self.stats["reconnects"] += 1
                log.warning("telegram getUpdates failed (%s); retrying in %.1f s", type(exc).__name__, delay)
                await self._background.pause(delay * (0.8 + 0.4 * random.random()))
                delay = min(delay * 2, self.backoff[1])

    async def poll_once(self, sink: EventSink) -> int:
        """One ``getUpdates`` from the saved offset; hand the events on, then save the next offset."""
        saved = self.cursors.get("offset")
        offset = int(saved) if saved else None
        updates = await self.bot.get_updates(
            offset=offset,
            timeout=self.poll_timeout,
            allowed_updates=ALLOWED_UPDATES,
            request_timeout=self.poll_timeout + 10,
        )
        self.stats["polls"] += 1
        for update in updates:
            raw = update.model_dump(mode="json", exclude_none=True, by_alias=True)
            for event in events_of(raw):
                await sink(event)
            self.stats["updates"] += 1
            self.cursors.put("offset", str(update.update_id + 1))
        return len(updates)

    def secret_matches(self, secret: str | None) -> bool:
        """Whether a delivery's ``X-Telegram-Bot-Api-Secret-Token`` is this bot's (compared as bytes: a header may
        hold any character, and comparing non-ASCII text raises)."""
        if not self.webhook_secret or not secret:
            return False
        return hmac.compare_digest(secret.encode("utf-8", "surrogateescape"), self.webhook_secret.encode())

    async def handle_webhook(self, body: bytes, secret: str | None) -> int:
        """A webhook delivery: the HTTP status to answer (401 without the right secret header, 400 unreadable)."""
        if not self.secret_matches(secret):
            self.stats["webhook_refused"] += 1
            return 401
        import orjson

        try:
            update = orjson.loads(body)
            if not isinstance(update, dict) or not isinstance(update.get("update_id"), int):
                return 400
            events = events_of(update)
        except (orjson.JSONDecodeError, KeyError, TypeError, ValueError):
            return 400
        assert self._sink is not None
        for event in events:
            await self._sink(event)  # a redelivery has the same ids: the log keeps one
        self.stats["updates"] += 1
        return 200

    async def _serve_webhook(self) -> None:
        from aiohttp import web

        async def receive(request: web.Request) -> web.Response:
            secret = request.headers.get("X-Telegram-Bot-Api-Secret-Token")
            if not self.secret_matches(secret):  # before the body is read
                self.stats["webhook_refused"] += 1
                return web.Response(status=401)
            return web.Response(status=await self.handle_webhook(await request.read(), secret))

        app = web.Application(client_max_size=1 << 20)
        app.router.add_post("/telegram/webhook", receive)
        host, _, port = self.listen.rpartition(":")
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host or "127.0.0.1", int(port)).start()

    # -- sending --------------------------------------------------------------------------------------------

    async def _call(self, coro: Any) -> Any:
        from aiogram.exceptions import AiogramError

        try:
            return await coro
        except AiogramError as exc:
            raise _error(exc) from None

    async def _say(self, chat: str, text: str, *, reply_to: str = "", thread: str = "") -> Any:
        from aiogram.types import ReplyParameters

        reply = ReplyParameters(message_id=int(reply_to), allow_sending_without_reply=True) if reply_to else None
        return await self._call(
            self.bot.send_message(
                chat_id=int(chat), text=text, reply_parameters=reply, message_thread_id=int(thread) if thread else None
            )
        )

    @sends(ActionKind.POST)
    async def _post(self, action: Action) -> SendResult:
        thread = str(action.extra.get("thread", ""))
        msg = await self._say(action.group, action.text_or_empty, thread=thread)
        if getattr(action, "pin", False):
            await self._call(self.bot.pin_chat_message(chat_id=int(action.group), message_id=msg.message_id))
        return SendResult(platform_id=str(msg.message_id))

    @sends(ActionKind.REPLY)
    async def _reply(self, action: Action) -> SendResult:
        msg = await self._say(action.group, action.text_or_empty, reply_to=str(getattr(action, "message_id", "")))
        return SendResult(platform_id=str(msg.message_id))

    @sends(ActionKind.WARN)
    async def _warn(self, action: Action) -> SendResult:
        if getattr(action, "public", False) or not action.target:
            msg = await self._say(action.group, action.text_or_empty)
            return SendResult(platform_id=str(msg.message_id))
        return await self._direct(action)

    @sends(ActionKind.DIRECT_MESSAGE)
    async def _direct(self, action: Action) -> SendResult:
        msg = await self._say(action.target, action.text_or_empty)
        return SendResult(platform_id=str(msg.message_id))

    @sends(ActionKind.DELETE_MESSAGE)
    async def _delete(self, action: Action) -> SendResult:
        mid = int(str(getattr(action, "message_id", "")))
        await self._call(self.bot.delete_message(chat_id=int(action.group), message_id=mid))
        return SendResult()

    @sends(ActionKind.MUTE, ActionKind.UNMUTE)
    async def _mute(self, action: Action) -> SendResult:
        from aiogram.types import ChatPermissions

        mute = action.kind is ActionKind.MUTE
        if mute:
            perms = ChatPermissions(can_send_messages=False, can_send_other_messages=False)
        else:
            perms = ChatPermissions(
                can_send_messages=True,
                can_send_audios=True,
                can_send_documents=True,
                can_send_photos=True,
                can_send_videos=True,
                can_send_video_notes=True,
                can_send_voice_notes=True,
                can_send_polls=True,
                can_send_other_messages=True,
                can_add_web_page_previews=True,
            )
        if not action.target:
            await self._call(self.bot.set_chat_permissions(chat_id=int(action.group), permissions=perms))
            return SendResult()
        until = getattr(action, "until", None) if mute else None
        await self._call(
            self.bot.restrict_chat_member(
                chat_id=int(action.group), user_id=int(action.target), permissions=perms, until_date=until
            )
        )
        return SendResult()

    @sends(ActionKind.BAN)
    async def _ban(self, action: Action) -> SendResult:
        await self._call(self.bot.ban_chat_member(chat_id=int(action.group), user_id=int(action.target)))
        return SendResult()

    @sends(ActionKind.REMOVE)
    async def _remove(self, action: Action) -> SendResult:
        chat, user = int(action.group), int(action.target)
        await self._call(self.bot.ban_chat_member(chat_id=chat, user_id=user))
        await self._call(self.bot.unban_chat_member(chat_id=chat, user_id=user, only_if_banned=True))
        return SendResult()

    @sends(ActionKind.SET_ANNOUNCEMENT)
    async def _announce(self, action: Action) -> SendResult:
        msg = await self._say(action.group, action.text_or_empty)
        await self._call(
            self.bot.pin_chat_message(chat_id=int(action.group), message_id=msg.message_id, disable_notification=True)
        )
        return SendResult(platform_id=str(msg.message_id))

    @sends(ActionKind.ANSWER_JOIN_REQUEST)
    async def _answer(self, action: Action) -> SendResult:
        """Approve or decline a pending join request; one already answered (by an admin, or a resend after a crash)
        is reported by Telegram as ``HIDE_REQUESTER_MISSING``, which means the answer is in: nothing left to do."""
        from aiogram.exceptions import AiogramError, TelegramBadRequest

        chat, user = int(action.group), int(action.target)
        approve = bool(getattr(action, "approve", False))
        call = self.bot.approve_chat_join_request if approve else self.bot.decline_chat_join_request
        try:
            await call(chat_id=chat, user_id=user)
        except AiogramError as exc:
            if isinstance(exc, TelegramBadRequest) and "HIDE_REQUESTER_MISSING" in str(getattr(exc, "message", exc)):
                return SendResult(detail={"approved": approve, "already_answered": True})
            raise _error(exc) from None
        return SendResult(detail={"approved": approve})

    @sends(ActionKind.CREATE_INVITE_LINK)
    async def _link(self, action: Action) -> SendResult:
        name = str(getattr(action, "name", ""))[:32]
        limit = int(getattr(action, "member_limit", 0) or 0) or None
        link = await self._call(
            self.bot.create_chat_invite_link(
                chat_id=int(action.group), name=name, member_limit=limit, expire_date=getattr(action, "expires", None)
            )
        )
        return SendResult(platform_id=str(link.invite_link), detail={"name": name, "member_limit": limit or 0})
