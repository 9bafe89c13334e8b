"""The QQ connector (``platform: qq``): QQ groups through a OneBot v11 implementation (NapCat, Lagrange.OneBot …).

How it works:
    One WebSocket carries both ways: forward (``SHEQUN_ONEBOT_WS``: shequn dials the implementation, redialling with
    exponential backoff) or reverse (``SHEQUN_ONEBOT_LISTEN``: the implementation dials ``/onebot/v11/ws``; the
    process that holds the socket is the one that sends). Events are queued by the reader and handed on by one
    consumer, so the calls made on connecting are answered while events wait. On every connection the connector
    asks ``get_login_info`` and ``get_version_info`` (the implementation's name goes into every reason it gives),
    then for each bound group ``get_group_info`` (the group's QQ name, kept as the cursor ``name:<group>`` so that
    an export imported later without ``--group`` is matched to the live group by name), the bot's own role
    (``get_group_member_info``), the roster once (``get_group_member_list`` → roster joins), and fills the gap since
    the last message it handed on (``get_group_msg_history``, newest page first, back to the saved message); a
    message already handed on is recognised by its id and not repeated.

    Sends map to OneBot actions: posts, replies and public warnings are ``send_group_msg`` (a ``reply`` segment, then
    ``at`` segments, then the text); a pinned post is also made an essence message (``set_essence_msg``); private
    messages ``send_private_msg`` (with ``group_id`` for a temporary session with a member who is no friend);
    ``delete_msg`` recalls; ``set_group_ban`` mutes one member (0 s lifts it), ``set_group_whole_ban`` the whole
    group (the guest talk); removal is ``set_group_kick``, a ban the same with ``reject_add_request`` (the
    blacklist); the announcement is ``_send_group_notice``; the admission policy's answer to a join request is
    ``set_group_add_request`` with the request's ``flag`` (kept as a cursor) and, on a refusal, the reason (the
    private message the policy wrote to say why, or a short reason by its key: QQ shows the reason to the applicant,
    who is no member yet and cannot be written to).

    What the bot may not do becomes a staff task with the reason: an action the implementation lacks (retcode 1404,
    remembered for the rest of the run), an admin action in a group where the bot is a plain member (checked before
    sending; the answer ``NOT_MANAGEABLE`` / 权限不足 also counts), a bad request (1400). QQ's risk control (风控,
    发送频繁) asks for a pause of the whole bot.

Things to keep in mind:
    * OneBot message ids are the implementation's, stable for a message; event ids are ``(qq, group, message_id)``.
    * A send whose answer never came (socket closed, timeout) may have gone out: messages are then left to the
      outbox's unconfirmed path; the idempotent actions (recall, kick, mute, answer) are simply retried.
    * QQ numbers are personal data: they stay in the store, never in a log line; reports mask them.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

from shequn.connectors.base import BackgroundLoop, Connector, EventSink, SendResult, sends
from shequn.connectors.qq.events import PLATFORM, detail_of, events_of, message_event_id
from shequn.connectors.qq.segments import compose
from shequn.connectors.qq.transport import Link, LinkDownError, Reply, ReverseServer, bearer
from shequn.domain import Action, ActionKind, Event, Join, JoinMethod, Message, UserError, stable_id
from shequn.i18n import t
from shequn.outbox.errors import PermanentSendError, RetryAfterError, SendError

log = logging.getLogger("shequn.connectors.qq")

HISTORY_PAGE = 50
_MISSING = ("不支持", "not support", "unsupported", "api not found", "action not found", "不存在的api")
_NO_RIGHT = ("NOT_MANAGEABLE", "权限", "permission", "not admin", "无权")
_RISK = ("风控", "频繁", "frequen", "rate limit")
_GONE = ("消息不存在", "message not found", "MESSAGE_NOT_FOUND", "已撤回", "recalled")
# Actions the platform carries out once however often they are asked: safe to retry after a lost answer.
_IDEMPOTENT = frozenset(
    {
        "delete_msg",
        "set_group_kick",
        "set_group_ban",
        "set_group_whole_ban",
        "set_group_add_request",
        "set_essence_msg",
    }
)
MAX_BAN = 30 * 24 * 3600  # set_group_ban takes at most 30 days


class QQConnector(Connector):
    """A QQ account run by a OneBot v11 implementation; group ids are QQ group numbers.

    Environment (``shequn run``): ``SHEQUN_ONEBOT_WS`` (forward: ``ws://127.0.0.1:3001``) or
    ``SHEQUN_ONEBOT_LISTEN`` (reverse: ``127.0.0.1:6700``, path ``/onebot/v11/ws``), and ``SHEQUN_ONEBOT_TOKEN``, the
    implementation's access token (required when listening). ``SHEQUN_ONEBOT_LOCALE`` (``zh-CN``) is the language of
    the refusal reasons applicants read.
    """

    platform = PLATFORM

    def __init__(
        self,
        *,
        url: str = "",
        listen: str = "",
        token: str = "",
        locale: str = "zh-CN",
        backoff: tuple[float, float] = (0.5, 30.0),
        call_timeout: float = 15.0,
        history_pages: int = 10,
        session: Any = None,
    ) -> None:
        if bool(url) == bool(listen):
            raise UserError(t("connectors.qq.config.one_of", None), exit_code=2)
        if listen and len(token) < 8:
            raise UserError(t("connectors.qq.config.token", None), exit_code=2)
        if listen and not listen.rpartition(":")[2].isdigit():
            raise UserError(t("connectors.qq.config.listen", None, value=listen), exit_code=2)
        if url and not url.startswith(("ws://", "wss://")):
            raise UserError(t("connectors.qq.config.url", None), exit_code=2)
        self.url = url
        self.listen = listen
        self._token = token
        self.locale = locale  # the refusal reasons applicants read
        self.staff_locale: str | None = None  # the reasons staff tasks carry (``shequn run``: the workspace's)
        self.backoff = backoff
        self.call_timeout = call_timeout
        self.history_pages = history_pages
        self.self_id = ""
        self.version: dict[str, Any] = {}
        self.stats = {
            "connections": 0,
            "events": 0,
            "repeats": 0,
            "gap_filled": 0,
            "roster": 0,
            "calls": 0,
            "refused": 0,
        }
        self._session = session
        self._own_session = session is None
        self._background = BackgroundLoop()
        self._server: ReverseServer | None = None
        self._sink: EventSink | None = None
        self._link: Link | None = None
        self._connected = asyncio.Event()
        self._missing: set[str] = set()
        self._roles: dict[str, str] = {}
        self._muted_until: dict[str, float] = {}
        self._seen: dict[str, None] = {}  # recent message event ids handed on (insertion-ordered, bounded)
        self._serving = asyncio.Lock()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> QQConnector:
        return cls(
            url=env.get("SHEQUN_ONEBOT_WS", ""),
            listen=env.get("SHEQUN_ONEBOT_LISTEN", ""),
            token=env.get("SHEQUN_ONEBOT_TOKEN", ""),
            locale=env.get("SHEQUN_ONEBOT_LOCALE", "zh-CN"),
        )

    def __repr__(self) -> str:  # never the token
        return f"QQConnector({self.url or 'listening on ' + self.listen})"

    def bot_of(self, action: Action) -> str:
        return self.self_id or "default"

    @property
    def implementation(self) -> str:
        name = str(self.version.get("app_name") or "OneBot")
        return f"{name} {self.version.get('app_version', '')}".strip()

    # -- the link -------------------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        if self.listen:
            self._server = ReverseServer(self.listen, self._token, self._reverse)
            await self._server.start()
        else:
            self._background.start(self._dial_loop(), name="onebot-dial")

    async def stop(self) -> None:
        await self._background.stop()
        if self._link is not None:
            await self._link.close()
        if self._server is not None:
            self.stats["refused"] = self._server.refused
            await self._server.stop()
            self._server = None
        if self._session is not None and self._own_session:
            await self._session.close()
            self._session = None

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self._connected.is_set()

    async def _dial_loop(self) -> None:
        import aiohttp

        if self._session is None:
            self._session = aiohttp.ClientSession()
        delay = self.backoff[0]
        while self._background.running:
            try:
                async with self._session.ws_connect(
                    self.url, headers=bearer(self._token), heartbeat=30.0, max_msg_size=16 << 20
                ) as ws:
                    delay = self.backoff[0]
                    await self._serve(ws, "")
            except asyncio.CancelledError:
                raise
            except aiohttp.WSServerHandshakeError as exc:
                if exc.status in (401, 403):
                    log.error(
                        "onebot: %s refused the access token (HTTP %s); check SHEQUN_ONEBOT_TOKEN", self.url, exc.status
                    )
                else:
                    log.warning("onebot: handshake with %s failed (HTTP %s)", self.url, exc.status)
            except (aiohttp.ClientError, OSError, TimeoutError) as exc:
                log.warning("onebot: cannot reach %s (%s); retrying in %.1f s", self.url, type(exc).__name__, delay)
            except Exception:  # a bug must not end the link for good: it is logged, and the socket redialled
                log.exception("onebot: the link to %s failed", self.url)
            if not self._background.running:
                return
            await self._background.pause(delay * (0.8 + 0.4 * random.random()))
            delay = min(delay * 2, self.backoff[1])

    async def _reverse(self, ws: Any, self_id: str) -> None:
        if self._link is not None:
            log.warning("onebot: a new reverse connection replaces the open one")
            await self._link.close()
        await self._serve(ws, self_id)

    async def _serve(self, ws: Any, self_id: str) -> None:
        """Hold one socket: read it, set up, hand the queued events on until it closes."""
        queue: asyncio.Queue[Mapping[str, Any]] = asyncio.Queue()

        async def enqueue(frame: Mapping[str, Any]) -> None:
            queue.put_nowait(frame)

        async with self._serving:  # one socket at a time
            link = Link(ws, enqueue, self_id=self_id, timeout=self.call_timeout)
            reader = asyncio.create_task(link.run(), name="onebot-read")
            self._link = link
            self.stats["connections"] += 1
            filled = False
            try:
                await self._on_connect(link)
                filled = True
                self._connected.set()
                while True:
                    getter = asyncio.ensure_future(queue.get())
                    closed = asyncio.ensure_future(link.closed.wait())
                    done, _ = await asyncio.wait({getter, closed}, return_when=asyncio.FIRST_COMPLETED)
                    closed.cancel()
                    if getter not in done:
                        getter.cancel()
                        break
                    await self._deliver(getter.result())
            except (LinkDownError, TimeoutError) as exc:
                log.warning(
                    "onebot: the link dropped (%s); %s",
                    type(exc).__name__,
                    "redialling" if self.url else "waiting for the implementation to reconnect",
                )
            finally:
                self._connected.clear()
                self._link = None
                await link.close()
                reader.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await reader
                # What arrived before the socket closed is still owed. Until the gap was filled, group messages wait
                # for the next fill (handing them on first would move the resume point past the gap).
                while not queue.empty():
                    frame = queue.get_nowait()
                    if filled or detail_of(frame) != ("message", "group"):
                        await self._deliver(frame)

    async def _on_connect(self, link: Link) -> None:
        login = await link.call("get_login_info")
        if login.ok and isinstance(login.data, Mapping):
            link.self_id = str(login.data.get("user_id") or link.self_id)
        self.self_id = link.self_id or self.self_id
        version = await link.call("get_version_info")
        self.version = dict(version.data) if version.ok and isinstance(version.data, Mapping) else {}
        log.info("onebot: connected to %s", self.implementation)
        for group in self._group_ids():
            info = await link.call("get_group_info", {"group_id": _int(group)})
            if info.ok and isinstance(info.data, Mapping) and info.data.get("group_name"):
                self.cursors.put(f"name:{group}", str(info.data["group_name"]))
            await self._role(group, refresh=True)
            if not self.cursors.get(f"roster:{group}"):
                await self._roster(link, group)
            await self._fill(link, group)

    def _group_ids(self) -> list[str]:
        bound = self.bound_groups
        return sorted(bound) if bound is not None else []

    # -- receiving ------------------------------------------------------------------------------------------

    async def _deliver(self, frame: Mapping[str, Any]) -> None:
        self._note(frame)
        events = events_of(frame, self.self_id, _DmContext(self.cursors))
        bound = self.bound_groups
        for event in events:
            if bound is not None and event.group not in bound:
                continue
            await self._hand_on(event, frame)

    async def _hand_on(self, event: Event, raw: Mapping[str, Any]) -> None:
        assert self._sink is not None
        if isinstance(event, Join) and not event.actor_name:
            event = replace(event, actor_name=await self._name_of(event.group, event.actor))
        if isinstance(event, Message):
            if event.id in self._seen:
                self.stats["repeats"] += 1
                return
            await self._sink(event)
            self._remember(event.id)
            self.cursors.put(f"seen:{event.group}", f"{int(raw.get('time') or 0)}|{event.message_id}")
        else:
            await self._sink(event)
        self.stats["events"] += 1

    async def _name_of(self, group: str, user: str) -> str:
        """A newcomer's name (``group_increase`` carries none): their group card, else their QQ nickname."""
        link = self._link
        if link is None:
            return ""
        with contextlib.suppress(LinkDownError, TimeoutError):
            info = await link.call("get_group_member_info", {"group_id": _int(group), "user_id": _int(user)})
            if info.ok and isinstance(info.data, Mapping):
                return str(info.data.get("card") or info.data.get("nickname") or "")
        return ""

    def _remember(self, event_id: str) -> None:
        self._seen[event_id] = None
        if len(self._seen) > 20_000:
            self._seen.pop(next(iter(self._seen)))

    def _note(self, frame: Mapping[str, Any]) -> None:
        """What a notice says about the bot itself, and the flag of a join request (needed to answer it)."""
        post, kind = detail_of(frame)
        group = str(frame.get("group_id") or "")
        user = str(frame.get("user_id") or "")
        bound = self.bound_groups
        if bound is not None and group not in bound:
            return
        if post == "request" and kind == "group" and frame.get("sub_type", "add") == "add":
            self.cursors.put(f"flag:{group}|{user}", f"{frame.get('sub_type', 'add')}|{frame.get('flag', '')}")
        elif post == "notice" and user == self.self_id and group:
            if kind == "group_admin":
                self._roles[group] = "admin" if frame.get("sub_type") == "set" else "member"
            elif kind == "group_ban":
                until = _now() + int(frame.get("duration") or 0) if frame.get("sub_type") == "ban" else 0.0
                self._muted_until[group] = until
            elif kind == "group_decrease" and frame.get("sub_type") == "kick_me":
                log.error("onebot: the bot was removed from group %s", group)

    async def _roster(self, link: Link, group: str) -> None:
        """The members already in the group when shequn first sees it: roster joins (once per group)."""
        reply = await link.call("get_group_member_list", {"group_id": _int(group)})
        if not reply.ok or not isinstance(reply.data, list):
            return
        now = datetime.now(UTC)
        assert self._sink is not None
        for m in reply.data:
            user = str(m.get("user_id", "")) if isinstance(m, Mapping) else ""
            if not user or user == self.self_id:
                continue
            joined = int(m.get("join_time") or 0)
            await self._sink(
                Join(
                    id=stable_id(PLATFORM, group, "roster", user),
                    at=datetime.fromtimestamp(joined, tz=UTC) if joined else now,
                    platform=PLATFORM,
                    group=group,
                    actor=user,
                    actor_name=str(m.get("card") or m.get("nickname") or ""),
                    method=JoinMethod.ROSTER,
                )
            )
            self.stats["roster"] += 1
        self.cursors.put(f"roster:{group}", str(int(now.timestamp())))

    async def _fill(self, link: Link, group: str) -> None:
        """Hand on the group's messages since the last one handed on (newest page first, back to it)."""
        saved = self.cursors.get(f"seen:{group}")
        if not saved or "get_group_msg_history" in self._missing:
            return  # first sight of the group: its history is not acted on
        since, _, last = saved.partition("|")
        since_t = int(since or 0)
        pages: list[list[Mapping[str, Any]]] = []  # newest page first, each oldest → newest
        fetched: set[str] = set()
        anchor: Any = None
        for _ in range(self.history_pages):
            params: dict[str, Any] = {"group_id": _int(group), "count": HISTORY_PAGE}
            if anchor is not None:
                params["message_seq"] = anchor
            reply = await link.call("get_group_msg_history", params)
            if not reply.ok:
                if _is_missing(reply):
                    self._missing.add("get_group_msg_history")
                log.warning("onebot: cannot fill the gap in group %s: %s %s", group, reply.retcode, reply.message)
                break
            data = reply.data.get("messages") if isinstance(reply.data, Mapping) else None
            fresh = [m for m in data or [] if isinstance(m, Mapping) and str(m.get("message_id")) not in fetched]
            if not fresh:
                break
            fetched.update(str(m.get("message_id")) for m in fresh)
            reached = False
            keep: list[Mapping[str, Any]] = []
            for m in reversed(fresh):  # newest first, back to what was handed on before the gap
                mid = str(m.get("message_id", ""))
                if mid == last or int(m.get("time") or 0) < since_t:
                    reached = True
                    break
                if message_event_id(group, mid) not in self._seen:
                    keep.append(m)
            pages.append(keep[::-1])
            if reached:
                break
            anchor = fresh[0].get("message_seq", fresh[0].get("message_id"))
        else:
            log.warning(
                "onebot: the gap in group %s is longer than %d pages; older messages are not filled in",
                group,
                self.history_pages,
            )
        for page in reversed(pages):
            for m in page:
                frame = {**m, "post_type": "message", "message_type": "group", "group_id": m.get("group_id") or group}
                before = self.stats["events"]
                await self._deliver(frame)
                self.stats["gap_filled"] += self.stats["events"] - before

    # -- sending --------------------------------------------------------------------------------------------

    async def _call(self, api: str, params: Mapping[str, Any], *, group: str = "", admin: bool = False) -> Reply:
        if api in self._missing:
            raise PermanentSendError(self._why("connectors.qq.missing_action", api, "retcode 1404", group))
        link = self._link
        if link is None or link.closed.is_set():
            raise RetryAfterError(max(self.backoff[0] * 4, 1.0), scope="bot", message="qq: no OneBot connection yet")
        if group:
            muted = self._muted_until.get(group, 0.0) - _now()
            if muted > 0 and self._roles.get(group) not in ("admin", "owner"):
                raise RetryAfterError(muted, message=self._why("connectors.qq.bot_muted", api, "", group))
        if admin and group and await self._role(group) == "member":
            raise PermanentSendError(self._why("connectors.qq.no_right", api, "role member", group))
        self.stats["calls"] += 1
        try:
            reply = await link.call(api, params)
        except (LinkDownError, TimeoutError) as exc:
            if api in _IDEMPOTENT:
                raise SendError(f"qq: {api}: {exc or 'no answer'}") from None
            raise TimeoutError(f"qq: {api}: no answer ({exc})") from None
        if not reply.ok:
            raise self._failure(api, reply, group)
        return reply

    def _failure(self, api: str, reply: Reply, group: str) -> Exception:
        detail = f"retcode {reply.retcode} {reply.message}".strip()
        text = reply.message.lower()
        if _is_missing(reply):
            self._missing.add(api)
            return PermanentSendError(self._why("connectors.qq.missing_action", api, detail, group))
        if any(k.lower() in text for k in _NO_RIGHT):
            if group:
                self._roles[group] = "member"
            return PermanentSendError(self._why("connectors.qq.no_right", api, detail, group))
        if any(k in text for k in _RISK):
            return RetryAfterError(60.0, scope="bot", message=f"qq: {api}: {detail}")
        if reply.retcode in (1400, 1401, 1403):
            return PermanentSendError(self._why("connectors.qq.refused", api, detail, group))
        return SendError(f"qq: {api}: {detail}")

    def _why(self, key: str, api: str, detail: str, group: str) -> str:
        locale = self.staff_locale or self.locale
        return t(key, locale, impl=self.implementation, api=api, detail=detail, group=group)

    async def _role(self, group: str, *, refresh: bool = False) -> str:
        """The bot's role in ``group`` (owner, admin, member; "" when the implementation will not say)."""
        if not refresh and group in self._roles:
            return self._roles[group]
        link = self._link
        if link is None or not self.self_id:
            return ""
        reply = await link.call("get_group_member_info", {"group_id": _int(group), "user_id": _int(self.self_id)})
        role = str(reply.data.get("role", "")) if reply.ok and isinstance(reply.data, Mapping) else ""
        self._roles[group] = role
        return role

    async def _say(self, group: str, segments: Sequence[Mapping[str, Any]]) -> SendResult:
        reply = await self._call("send_group_msg", {"group_id": _int(group), "message": list(segments)}, group=group)
        mid = str((reply.data or {}).get("message_id", "")) if isinstance(reply.data, Mapping) else ""
        return SendResult(platform_id=mid)

    @sends(ActionKind.POST)
    async def _post(self, action: Action) -> SendResult:
        mentions = tuple(str(m) for m in getattr(action, "mentions", ()) or ())
        result = await self._say(action.group, compose(action.text_or_empty, mentions=mentions))
        if getattr(action, "pin", False) and result.platform_id:
            params = {"message_id": _int(result.platform_id)}
            try:
                await self._call("set_essence_msg", params, group=action.group, admin=True)
            except (SendError, TimeoutError) as exc:  # the post is out: retrying the action would post it twice
                log.warning("onebot: the post in group %s is out but not made essence: %s", action.group, exc)
        return result

    @sends(ActionKind.REPLY)
    async def _reply(self, action: Action) -> SendResult:
        reply_to = str(getattr(action, "message_id", ""))
        return await self._say(action.group, compose(action.text_or_empty, reply_to=reply_to))

    @sends(ActionKind.WARN)
    async def _warn(self, action: Action) -> SendResult:
        if getattr(action, "public", False) or not action.target:
            mentions = (action.target,) if action.target else ()
            return await self._say(action.group, compose(action.text_or_empty, mentions=mentions))
        return await self._direct(action)

    @sends(ActionKind.DIRECT_MESSAGE)
    async def _direct(self, action: Action) -> SendResult:
        user, group = action.target, action.group
        flag = self.cursors.get(f"flag:{group}|{user}") if group else None
        if flag is not None:
            # An applicant is no member yet and cannot be written to: QQ shows the refusal's reason instead.
            self.cursors.put(f"why:{group}|{user}", action.text_or_empty[:200])
            return SendResult(detail={"via": "join_request_reason"})
        params: dict[str, Any] = {"user_id": _int(user), "message": compose(action.text_or_empty)}
        if group:
            params["group_id"] = _int(group)  # a temporary session when the member is no friend of the bot
            self.cursors.put(f"dm:{user}", group)  # a private answer (accepting the rules) belongs to this group
        reply = await self._call("send_private_msg", params)
        mid = str((reply.data or {}).get("message_id", "")) if isinstance(reply.data, Mapping) else ""
        return SendResult(platform_id=mid)

    @sends(ActionKind.DELETE_MESSAGE)
    async def _delete(self, action: Action) -> SendResult:
        try:
            await self._call(
                "delete_msg",
                {"message_id": _int(str(getattr(action, "message_id", "")))},
                group=action.group,
                admin=bool(action.target) and action.target != self.self_id,
            )
        except SendError as exc:
            if any(k.lower() in str(exc).lower() for k in _GONE):
                return SendResult(detail={"already_gone": True})
            raise
        return SendResult()

    @sends(ActionKind.MUTE, ActionKind.UNMUTE)
    async def _mute(self, action: Action) -> SendResult:
        group, mute = action.group, action.kind is ActionKind.MUTE
        if not action.target:
            await self._call("set_group_whole_ban", {"group_id": _int(group), "enable": mute}, group=group, admin=True)
            return SendResult(detail={"whole_group": mute})
        seconds = 0
        if mute:
            until = getattr(action, "until", None)
            seconds = MAX_BAN if until is None else int((until - datetime.now(UTC)).total_seconds())
            seconds = min(max(seconds, 60), MAX_BAN)
        params = {"group_id": _int(group), "user_id": _int(action.target), "duration": seconds}
        await self._call("set_group_ban", params, group=group, admin=True)
        return SendResult(detail={"seconds": seconds})

    @sends(ActionKind.REMOVE, ActionKind.BAN)
    async def _kick(self, action: Action) -> SendResult:
        blacklist = action.kind is ActionKind.BAN
        params = {"group_id": _int(action.group), "user_id": _int(action.target), "reject_add_request": blacklist}
        await self._call("set_group_kick", params, group=action.group, admin=True)
        return SendResult(detail={"reject_add_request": blacklist})

    @sends(ActionKind.SET_ANNOUNCEMENT)
    async def _announce(self, action: Action) -> SendResult:
        params = {"group_id": _int(action.group), "content": action.text_or_empty}
        await self._call("_send_group_notice", params, group=action.group, admin=True)
        return SendResult()

    @sends(ActionKind.ANSWER_JOIN_REQUEST)
    async def _answer(self, action: Action) -> SendResult:
        group, user = action.group, action.target
        saved = self.cursors.get(f"flag:{group}|{user}")
        if saved is None:
            raise PermanentSendError(f"qq: no pending join request of {_mask(user)} in group {_mask(group)}")
        sub_type, _, flag = saved.partition("|")
        approve = bool(getattr(action, "approve", False))
        params: dict[str, Any] = {
            "flag": flag,
            "sub_type": sub_type or "add",
            "type": sub_type or "add",
            "approve": approve,
        }
        if not approve:
            params["reason"] = self.cursors.get(f"why:{group}|{user}") or self._reason(
                str(getattr(action, "reason", ""))
            )
        await self._call("set_group_add_request", params, group=group, admin=True)
        self.cursors.put(f"flag:{group}|{user}", None)
        self.cursors.put(f"why:{group}|{user}", None)
        return SendResult(detail={"approved": approve})

    def _reason(self, key: str) -> str:
        with contextlib.suppress(KeyError):
            return t(f"connectors.qq.reason.{key}", self.locale)
        return t("connectors.qq.reason.other", self.locale)


class _DmContext(Mapping[str, str]):
    """The group the bot last wrote to a person about, read from the cursors (``dm:<user>``)."""

    def __init__(self, cursors: Any) -> None:
        self.cursors = cursors

    def __getitem__(self, user: str) -> str:
        value = self.cursors.get(f"dm:{user}")
        if value is None:
            raise KeyError(user)
        return str(value)

    def __iter__(self) -> Any:
        return iter(())

    def __len__(self) -> int:
        return 0


def _is_missing(reply: Reply) -> bool:
    return reply.retcode == 1404 or any(k in reply.message.lower() for k in _MISSING)


def _int(value: str) -> int | str:
    """OneBot ids are numbers; an id that is not one is passed through for the implementation to refuse."""
    return int(value) if value.lstrip("-").isdigit() else value


def _now() -> float:
    return datetime.now(UTC).timestamp()


def _mask(number: str) -> str:
    """A QQ number as reasons show it: the first two and last two digits."""
    return number if len(number) < 6 else f"{number[:2]}****{number[-2:]}"
