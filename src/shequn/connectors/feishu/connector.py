"""The Feishu / Lark connector (``platform: feishu``): a custom app's bot in Feishu group chats, through ``lark-oapi``.

How it works:
    Events come one of two ways, as the app is set up in the open platform: over the SDK's long connection
    (长连接, :class:`lark_oapi.ws.Client`, the default: no public address needed) or, when ``SHEQUN_FEISHU_LISTEN``
    is set, as HTTP callbacks served by ``shequn run`` at ``/feishu/events`` (:mod:`.callback`: signature,
    decryption, token, the URL challenge; the declared length is checked before the body is read). Both hand the
    raw v2 event to :meth:`FeishuConnector.receive` on the connector's loop, which turns it into shequn events
    (:mod:`.events`). The SDK's long-connection client runs its own event loop, so it gets a thread of its own; its
    handlers wait for the connector's loop to take each event, and an event that fails is answered 500 and
    redelivered by Feishu.

    On start and after every reconnection of the long connection, for each bound chat the connector reads the
    chat's name (kept as the cursor ``name:<chat>`` for imports to match), its members once (roster joins, and the
    names Feishu leaves off messages), and fills the gap since the last message it handed on with
    ``im.v1.message.list`` (``start_time`` = the saved time, oldest first); live messages wait until the gap is
    filled, and a message already handed on is recognised by its id.

    Actions go through the Open API with the SDK's client (``tenant_access_token`` fetched and refreshed by it):
    posts and replies are ``im.v1.message.create`` / ``reply`` with ``uuid`` = the action's key (Feishu sends a
    message once per uuid within an hour, so a resend after a crash is safe), a pinned post is also pinned
    (``im.v1.pin.create``); the rules are sent privately as an interactive card whose button
    (``card.action.trigger``) comes back as the ``rules`` form; ``im.v1.message.delete`` recalls,
    ``im.v1.chat.members.delete`` removes (a ban too: Feishu keeps no ban list), the whole-group mute of a guest
    talk is the chat's ``moderation`` (only owner and admins speak), the announcement is the chat's announcement
    document (its blocks replaced).

    What Feishu refuses becomes a staff task with the reason: the bot not in the chat (230002), not the chat's
    owner or admin, a missing scope, a person outside the app's availability; a per-member mute (Feishu has none).
    Rate limits (HTTP 429 / code 99991400 with ``x-ogw-ratelimit-reset``, the chat's 5 messages a second 230020)
    are :class:`~shequn.outbox.errors.RetryAfterError`.

Things to keep in mind:
    * The SDK's HTTP client is synchronous (``requests``): every call runs in a worker thread.
    * The app secret, the encrypt key and the verification token never reach a log line; the SDK's own logger is
      kept at WARNING (its INFO line prints the long connection's URL with its ticket).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import threading
from collections.abc import Mapping, Sequence
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import orjson

from shequn.connectors.base import BackgroundLoop, Connector, EventSink, SendResult, sends
from shequn.connectors.feishu.callback import MAX_BODY, RefusedError, open_delivery
from shequn.connectors.feishu.events import (
    CARD_KEY,
    HANDLERS,
    PLATFORM,
    SKIPPED,
    event_type,
    events_of,
    history_message,
)
from shequn.domain import RULES_FORM, Action, ActionKind, Event, Join, JoinMethod, Message, UserError, stable_id
from shequn.i18n import t
from shequn.outbox.errors import PermanentSendError, RetryAfterError, SendError

log = logging.getLogger("shequn.connectors.feishu")

FEISHU = "https://open.feishu.cn"
LARK = "https://open.larksuite.com"
DOMAINS = {"feishu": FEISHU, "lark": LARK}  # SHEQUN_FEISHU_DOMAIN by name, or an address
CALLBACK_PATH = "/feishu/events"
HISTORY_PAGE = 50
RATE_LIMITED = frozenset({99991400})
CHAT_RATE_LIMITED = frozenset({230020})
TOKEN_INVALID = frozenset({99991661, 99991663, 99991668, 99991677})
NOT_IN_CHAT = frozenset({230002})
NO_RIGHT = frozenset({230026, 230027, 232011, 232014, 232017, 232024, 232033, 99991672, 99991679})
OUT_OF_REACH = frozenset({230013, 230006})  # a person outside the app's availability; the bot ability is off
GONE = frozenset({230011, 231003, 230031})  # recalled already, no such message


class FeishuConnector(Connector):
    """A Feishu (or Lark) custom app with the bot ability; group ids are chat ids (``oc_…``), people open ids.

    Environment (``shequn run``): ``SHEQUN_FEISHU_APP_ID``, ``SHEQUN_FEISHU_APP_SECRET``; ``SHEQUN_FEISHU_DOMAIN``
    (``feishu``, the default, or ``lark``, or an address); for the HTTP callback instead of the long
    connection ``SHEQUN_FEISHU_LISTEN`` (``127.0.0.1:9000``, behind your HTTPS proxy), with
    ``SHEQUN_FEISHU_VERIFICATION_TOKEN`` and ``SHEQUN_FEISHU_ENCRYPT_KEY``; ``SHEQUN_FEISHU_LOCALE`` (``zh-CN``) for
    the cards' buttons.
    """

    platform = PLATFORM
    idempotent_sends = True  # im.v1.message.create/reply deduplicate on uuid (one hour)

    def __init__(
        self,
        *,
        app_id: str,
        app_secret: str,
        domain: str = FEISHU,
        listen: str = "",
        verification_token: str = "",
        encrypt_key: str = "",
        locale: str = "zh-CN",
        history_pages: int = 20,
        timeout: float = 15.0,
        client: Any = None,
    ) -> None:
        if not app_id or not app_secret:
            raise UserError(t("connectors.feishu.config.app", None), exit_code=2)
        if listen and not listen.rpartition(":")[2].isdigit():
            raise UserError(t("connectors.feishu.config.listen", None, value=listen), exit_code=2)
        if listen and not verification_token:
            raise UserError(t("connectors.feishu.config.token", None), exit_code=2)
        if not domain.startswith(("https://", "http://")):
            raise UserError(t("connectors.feishu.config.domain", None, value=domain), exit_code=2)
        self.app_id = app_id
        self._secret = app_secret
        self.domain = domain.rstrip("/")
        self.listen = listen
        self._token = verification_token
        self._key = encrypt_key
        self.locale = locale
        self.staff_locale: str | None = None  # the reasons staff tasks carry (``shequn run``: the workspace's)
        self.history_pages = history_pages
        self.timeout = timeout
        self.stats = {"events": 0, "repeats": 0, "gap_filled": 0, "roster": 0, "calls": 0, "refused": 0, "fills": 0}
        self._client: Any = client  # a lark_oapi.Client (built in start() unless given)
        self._want_fill = asyncio.Event()  # the long connection came back: catch up again
        self._sink: EventSink | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._gate = asyncio.Lock()  # live messages wait while a gap is filled
        self._background = BackgroundLoop()
        self._runner: Any = None
        self._ws: tuple[asyncio.AbstractEventLoop, Any] | None = None
        self._thread: threading.Thread | None = None
        self._names: dict[str, str] = {}
        self._seen: dict[str, None] = {}

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> FeishuConnector:
        return cls(
            app_id=env.get("SHEQUN_FEISHU_APP_ID", ""),
            app_secret=env.get("SHEQUN_FEISHU_APP_SECRET", ""),
            domain=DOMAINS.get(env.get("SHEQUN_FEISHU_DOMAIN", "feishu"), env.get("SHEQUN_FEISHU_DOMAIN", "")),
            listen=env.get("SHEQUN_FEISHU_LISTEN", ""),
            verification_token=env.get("SHEQUN_FEISHU_VERIFICATION_TOKEN", ""),
            encrypt_key=env.get("SHEQUN_FEISHU_ENCRYPT_KEY", ""),
            locale=env.get("SHEQUN_FEISHU_LOCALE", "zh-CN"),
        )

    def __repr__(self) -> str:  # never the secret
        return f"FeishuConnector({self.app_id}, {'callback on ' + self.listen if self.listen else 'long connection'})"

    def bot_of(self, action: Action) -> str:
        return self.app_id

    # -- lifecycle ------------------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        import importlib

        lark = await asyncio.to_thread(importlib.import_module, "lark_oapi")  # seconds of imports: not on the loop
        _quiet_sdk_logger()
        self._sink = sink
        self._loop = asyncio.get_running_loop()
        self._client = self._client or (
            lark.Client.builder()
            .app_id(self.app_id)
            .app_secret(self._secret)
            .domain(self.domain)
            .timeout(self.timeout)
            .log_level(lark.LogLevel.WARNING)
            .build()
        )
        await self._gate.acquire()  # released once every bound chat is caught up
        try:
            if self.listen:
                await self._serve_callback()
            else:
                self._thread = threading.Thread(target=self._long_connection, name="feishu-ws", daemon=True)
                self._thread.start()
        except BaseException:
            self._gate.release()
            raise
        self._background.start(self._catch_up_loop(), name="feishu-catch-up")

    async def stop(self) -> None:
        await self._background.stop()
        if self._ws is not None:
            loop, client = self._ws
            if loop.is_running():  # not when the SDK gave up already (bad credentials)
                with contextlib.suppress(Exception):
                    asyncio.run_coroutine_threadsafe(client._disconnect(), loop).result(5)
                loop.call_soon_threadsafe(loop.stop)
            self._ws = None
        if self._thread is not None:
            await asyncio.to_thread(self._thread.join, 5)
            self._thread = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def _catch_up_loop(self) -> None:
        """Catch up on start (``start`` holds the gate until then) and after every reconnection."""
        locked = True
        while True:
            try:
                await self._catch_up(locked=locked)
            except Exception:  # a bug must not end the catch-ups for good: logged, and tried on the next reconnection
                log.exception("feishu: catching up failed")
            locked = False
            await self._want_fill.wait()
            self._want_fill.clear()

    async def _catch_up(self, *, locked: bool) -> None:
        """Names, roster and the gap of every bound chat; live messages wait meanwhile."""
        if not locked:
            await self._gate.acquire()
        try:
            self.stats["fills"] += 1
            for chat in sorted(self.bound_groups or ()):
                try:
                    await self._setup_chat(chat)
                except SendError as exc:
                    log.warning("feishu: cannot catch up chat %s: %s", chat, exc)
        finally:
            self._gate.release()

    async def _setup_chat(self, chat: str) -> None:
        info = await self._api("GET", f"/open-apis/im/v1/chats/{_q(chat)}", group=chat)
        if info.get("name"):
            self.cursors.put(f"name:{chat}", str(info["name"]))
        await self._roster(chat)
        await self._fill(chat)

    # -- receiving ------------------------------------------------------------------------------------------

    def _long_connection(self) -> None:
        """The SDK's long-connection client, on its own loop in this thread (it keeps that loop in a module global
        taken when it is imported, and blocks in ``start``)."""
        import lark_oapi as lark
        from lark_oapi.ws import client as ws_client

        loop = asyncio.new_event_loop()
        asyncio.set_event_loop(loop)
        ws_client.loop = loop
        builder = lark.EventDispatcherHandler.builder("", "")
        for kind in (*HANDLERS, *SKIPPED):
            if kind != "card.action.trigger":
                builder.register_p2_customized_event(kind, self._from_sdk)
        builder.register_p2_card_action_trigger(self._card_from_sdk)
        client = lark.ws.Client(
            self.app_id,
            self._secret,
            event_handler=builder.build(),
            domain=self.domain,
            log_level=lark.LogLevel.WARNING,
        )
        client.on_reconnected = self._reconnected
        self._ws = (loop, client)
        try:
            client.start()
        except RuntimeError:
            pass  # the loop was stopped: the connector is stopping
        except Exception as exc:  # the SDK gives up only on a client error (bad credentials, no long connection)
            log.error("feishu: the long connection failed: %s; check the app id and secret", type(exc).__name__)
        finally:  # the SDK's tasks (reader, pings) end with the connector; the loop is left for its caches' cleanup
            pending = asyncio.all_tasks(loop)
            for task in pending:
                task.cancel()
            with contextlib.suppress(Exception):
                loop.run_until_complete(asyncio.gather(*pending, return_exceptions=True))

    def _reconnected(self) -> None:
        log.info("feishu: the long connection is back; filling the gap")
        if self._loop is not None:
            self._loop.call_soon_threadsafe(self._want_fill.set)

    def _handed(self, raw: Mapping[str, Any]) -> Any:
        """Hand a raw event from the SDK's thread to the connector's loop and wait for it to be taken."""
        assert self._loop is not None
        return asyncio.run_coroutine_threadsafe(self.receive(raw), self._loop).result(60)

    def _from_sdk(self, data: Any) -> None:
        import lark_oapi as lark

        self._handed(orjson.loads(lark.JSON.marshal(data)))

    def _card_from_sdk(self, data: Any) -> Any:
        import lark_oapi as lark
        from lark_oapi.event.callback.model.p2_card_action_trigger import P2CardActionTriggerResponse

        return P2CardActionTriggerResponse(self._handed(orjson.loads(lark.JSON.marshal(data))) or {})

    async def receive(self, raw: Mapping[str, Any]) -> dict[str, Any] | None:
        """One v2 event from either way in; the answer for a card's button (its toast), else None."""
        kind = event_type(raw)
        ev = raw.get("event") or {}
        chat = str(ev.get("chat_id") or "")
        bound = self.bound_groups
        if kind == "im.chat.member.bot.added_v1":
            if bound is not None and chat not in bound:
                log.warning("feishu: the bot was added to chat %s; bind it in a community spec to act there", chat)
            else:
                with contextlib.suppress(SendError):
                    await self._roster(chat)
            return None
        if kind in ("im.chat.member.bot.deleted_v1", "im.chat.disbanded_v1"):
            log.error("feishu: the bot left chat %s (%s)", chat, kind)
            return None
        events = events_of(raw, self.app_id, _DmContext(self.cursors))
        async with self._gate:
            for event in events:
                if bound is None or event.group in bound:
                    await self._hand_on(event)
        if kind == "card.action.trigger" and events:
            return {"toast": {"type": "success", "content": t("connectors.feishu.card.thanks", self.locale)}}
        return None

    async def _hand_on(self, event: Event) -> None:
        assert self._sink is not None
        if isinstance(event, Join) and event.actor_name:
            self._names[event.actor] = event.actor_name
        if isinstance(event, Message):
            if event.id in self._seen:
                self.stats["repeats"] += 1
                return
            if not event.actor_name and event.actor in self._names:
                event = replace(event, actor_name=self._names[event.actor])
            await self._sink(event)
            self._seen[event.id] = None
            if len(self._seen) > 20_000:
                for old in list(self._seen)[:10_000]:
                    del self._seen[old]
            ms = int(event.at.timestamp() * 1000)
            self.cursors.put(f"seen:{event.group}", f"{ms}|{event.message_id}")
        else:
            await self._sink(event)
        self.stats["events"] += 1

    async def _roster(self, chat: str) -> None:
        """The chat's members: their names always; roster joins the first time shequn sees the chat."""
        first = not self.cursors.get(f"roster:{chat}")
        now = datetime.now(UTC)
        token = ""
        while True:
            query = [("member_id_type", "open_id"), ("page_size", "100")] + ([("page_token", token)] if token else [])
            data = await self._api("GET", f"/open-apis/im/v1/chats/{_q(chat)}/members", query=query, group=chat)
            for m in data.get("items") or []:
                who, name = str(m.get("member_id") or ""), str(m.get("name") or "")
                if not who:
                    continue
                self._names[who] = name
                if first:
                    assert self._sink is not None
                    await self._sink(
                        Join(
                            id=stable_id(PLATFORM, chat, "roster", who),
                            at=now,
                            platform=PLATFORM,
                            group=chat,
                            actor=who,
                            actor_name=name,
                            method=JoinMethod.ROSTER,
                        )
                    )
                    self.stats["roster"] += 1
            token = str(data.get("page_token") or "")
            if not data.get("has_more") or not token:
                break
        self.cursors.put(f"roster:{chat}", str(int(now.timestamp())))

    async def _fill(self, chat: str) -> None:
        """Hand on the chat's messages since the last one handed on (oldest first)."""
        saved = self.cursors.get(f"seen:{chat}")
        if not saved:
            return  # first sight of the chat: its history is not acted on
        since, _, last = saved.partition("|")
        since_ms = int(since or 0)
        token = ""
        for _ in range(self.history_pages):
            query = [
                ("container_id_type", "chat"),
                ("container_id", chat),
                ("start_time", str(since_ms // 1000)),
                ("sort_type", "ByCreateTimeAsc"),
                ("page_size", str(HISTORY_PAGE)),
            ] + ([("page_token", token)] if token else [])
            data = await self._api("GET", "/open-apis/im/v1/messages", query=query, group=chat)
            for item in data.get("items") or []:
                if str(item.get("message_id")) == last or int(str(item.get("create_time") or 0)) < since_ms:
                    continue
                for event in history_message(item, self.app_id):
                    before = self.stats["events"]
                    await self._hand_on(event)
                    self.stats["gap_filled"] += self.stats["events"] - before
            token = str(data.get("page_token") or "")
            if not data.get("has_more") or not token:
                return
        log.warning("feishu: the gap in chat %s is longer than %d pages", chat, self.history_pages)

    async def _serve_callback(self) -> None:
        from aiohttp import web

        async def deliver(request: web.Request) -> web.Response:
            length = request.content_length
            if length is None:
                return web.Response(status=411)
            if length > MAX_BODY:
                return web.Response(status=413)
            body = await request.read()
            try:
                delivery = open_delivery(request.headers, body, verification_token=self._token, encrypt_key=self._key)
            except RefusedError as exc:
                self.stats["refused"] += 1
                log.warning("feishu: a callback was refused (%s)", exc)
                return web.Response(status=exc.status)
            if delivery.challenge is not None:
                return web.json_response({"challenge": delivery.challenge})
            try:
                answer = await self.receive(delivery.event)
            except Exception:
                log.exception("feishu: an event could not be handed on; Feishu will deliver it again")
                return web.Response(status=500)
            return web.json_response(answer or {})

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(CALLBACK_PATH, deliver)
        host, _, port = self.listen.rpartition(":")
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host or "127.0.0.1", int(port)).start()

    # -- the Open API ---------------------------------------------------------------------------------------

    async def _api(
        self,
        method: str,
        uri: str,
        *,
        query: Sequence[tuple[str, str]] = (),
        body: Any = None,
        group: str = "",
    ) -> Mapping[str, Any]:
        """One Open API call through the SDK (token included); its ``data``, or the error it stands for."""
        import lark_oapi as lark

        if self._client is None:
            raise RetryAfterError(1.0, scope="bot", message="feishu: not started")
        builder = (
            lark.BaseRequest.builder()
            .http_method(getattr(lark.HttpMethod, method))
            .uri(uri)
            .token_types({lark.AccessTokenType.TENANT})
            .queries(list(query))
        )
        if body is not None:
            builder = builder.body(body)
        self.stats["calls"] += 1
        try:
            resp = await asyncio.to_thread(self._client.request, builder.build())
        except Exception as exc:  # requests' connection errors, the SDK's token errors
            raise SendError(f"feishu: {method} {uri}: {type(exc).__name__}") from None
        raw = resp.raw
        status = raw.status_code if raw is not None else 0
        try:
            payload = orjson.loads(raw.content) if raw is not None and raw.content else {}
        except orjson.JSONDecodeError:
            payload = {}
        if not isinstance(payload, Mapping):
            payload = {}
        code = payload.get("code", resp.code)
        code = code if isinstance(code, int) else -1
        if status == 200 and code == 0:
            data = payload.get("data")
            return data if isinstance(data, Mapping) else {}
        raise self._failure(method, uri, status, code, str(payload.get("msg") or resp.msg or ""), raw, group)

    def _failure(self, method: str, uri: str, status: int, code: int, msg: str, raw: Any, group: str) -> Exception:
        api = f"{method} {uri.split('/open-apis/', 1)[-1]}"
        detail = f"code {code} {msg}".strip()
        if status == 429 or code in RATE_LIMITED:
            reset = (raw.headers or {}).get("x-ogw-ratelimit-reset", "") if raw is not None else ""
            return RetryAfterError(float(reset) if reset.isdigit() else 1.0, scope="bot", message=f"feishu: {detail}")
        if code in CHAT_RATE_LIMITED:
            return RetryAfterError(1.0, message=f"feishu: {api}: {detail}")
        if code in TOKEN_INVALID:  # the SDK keeps the token until it expires: forget it, the next call fetches one
            from lark_oapi.core.token.manager import TokenManager

            TokenManager.cache.set(f"self_tenant_token:{self.app_id}", "", 0)
            return RetryAfterError(1.0, scope="bot", message=f"feishu: {detail}")
        if code in NOT_IN_CHAT:
            return PermanentSendError(self._why("connectors.feishu.not_in_chat", api, detail, group))
        if code in NO_RIGHT or status == 403:
            return PermanentSendError(self._why("connectors.feishu.no_right", api, detail, group))
        if code in OUT_OF_REACH:
            return PermanentSendError(self._why("connectors.feishu.out_of_reach", api, detail, group))
        if code in GONE:
            return _GoneError(detail)
        if status >= 500 or code < 0:
            return SendError(f"feishu: {api}: HTTP {status} {detail}")
        return PermanentSendError(self._why("connectors.feishu.refused", api, detail, group))

    def _why(self, key: str, api: str, detail: str, group: str) -> str:
        return t(key, self.staff_locale or self.locale, api=api, detail=detail, group=group)

    # -- sending --------------------------------------------------------------------------------------------

    async def _message(
        self,
        to: str,
        msg_type: str,
        content: Mapping[str, Any],
        key: str,
        *,
        id_type: str = "chat_id",
        reply_to: str = "",
        group: str = "",
    ) -> SendResult:
        body = {"msg_type": msg_type, "content": orjson.dumps(content).decode(), "uuid": stable_id("feishu", key)}
        if reply_to:
            data = await self._api("POST", f"/open-apis/im/v1/messages/{_q(reply_to)}/reply", body=body, group=group)
        else:
            data = await self._api(
                "POST",
                "/open-apis/im/v1/messages",
                query=[("receive_id_type", id_type)],
                body={"receive_id": to, **body},
                group=group or (to if id_type == "chat_id" else ""),
            )
        return SendResult(platform_id=str(data.get("message_id", "")))

    @staticmethod
    def _text(text: str, mentions: Sequence[str] = ()) -> dict[str, str]:
        ats = "".join(f'<at user_id="{m}"></at> ' for m in mentions if m)
        return {"text": ats + text}

    @sends(ActionKind.POST)
    async def _post(self, action: Action) -> SendResult:
        mentions = tuple(str(m) for m in getattr(action, "mentions", ()) or ())
        result = await self._message(action.group, "text", self._text(action.text_or_empty, mentions), action.key)
        if getattr(action, "pin", False) and result.platform_id:
            try:
                await self._api("POST", "/open-apis/im/v1/pins", body={"message_id": result.platform_id})
            except SendError as exc:  # the post is out: retrying the action would not post it again, but log
                log.warning("feishu: the post in chat %s is out but not pinned: %s", action.group, exc)
        return result

    @sends(ActionKind.REPLY)
    async def _reply(self, action: Action) -> SendResult:
        reply_to = str(getattr(action, "message_id", ""))
        content = self._text(action.text_or_empty)
        try:
            return await self._message(action.group, "text", content, action.key, reply_to=reply_to, group=action.group)
        except _GoneError:  # the message answered was recalled: say it in the chat instead
            return await self._message(action.group, "text", content, action.key)

    @sends(ActionKind.WARN)
    async def _warn(self, action: Action) -> SendResult:
        if getattr(action, "public", False) or not action.target:
            mentions = (action.target,) if action.target else ()
            return await self._message(action.group, "text", self._text(action.text_or_empty, mentions), action.key)
        return await self._direct(action)

    @sends(ActionKind.DIRECT_MESSAGE)
    async def _direct(self, action: Action) -> SendResult:
        if action.group:
            self.cursors.put(f"dm:{action.target}", action.group)  # a private answer (同意) belongs to this group
        if action.policy == "rules" and action.key.endswith(":rules") and action.group:  # the rules, not the thanks:
            # they come with the button that accepts them
            card = self.rules_card(action.text_or_empty, action.group)
            return await self._message(
                action.target, "interactive", card, action.key, id_type="open_id", group=action.group
            )
        return await self._message(
            action.target, "text", self._text(action.text_or_empty), action.key, id_type="open_id", group=action.group
        )

    def rules_card(self, text: str, group: str) -> dict[str, Any]:
        """An interactive card: the rules, and a button whose answer is the ``rules`` form in ``group``."""
        button = {
            "tag": "button",
            "type": "primary",
            "text": {"tag": "plain_text", "content": t("connectors.feishu.card.accept", self.locale)},
            "value": {CARD_KEY: RULES_FORM, "group": group},
        }
        return {
            "config": {"wide_screen_mode": True},
            "elements": [{"tag": "markdown", "content": text}, {"tag": "action", "actions": [button]}],
        }

    @sends(ActionKind.DELETE_MESSAGE)
    async def _delete(self, action: Action) -> SendResult:
        mid = str(getattr(action, "message_id", ""))
        try:
            await self._api("DELETE", f"/open-apis/im/v1/messages/{_q(mid)}", group=action.group)
        except _GoneError:
            return SendResult(detail={"already_gone": True})
        return SendResult()

    @sends(ActionKind.REMOVE, ActionKind.BAN)
    async def _remove(self, action: Action) -> SendResult:
        data = await self._api(
            "DELETE",
            f"/open-apis/im/v1/chats/{_q(action.group)}/members",
            query=[("member_id_type", "open_id")],
            body={"id_list": [action.target]},
            group=action.group,
        )
        gone = [str(x) for x in data.get("not_existed_id_list") or []]
        if action.target in [str(x) for x in data.get("invalid_id_list") or []]:
            raise PermanentSendError(
                self._why("connectors.feishu.refused", "chat.members.delete", "invalid id", action.group)
            )
        return SendResult(detail={"already_gone": action.target in gone, "ban_list": False})

    @sends(ActionKind.MUTE, ActionKind.UNMUTE)
    async def _mute(self, action: Action) -> SendResult:
        if action.target:
            raise PermanentSendError(self._why("connectors.feishu.no_member_mute", "mute", "", action.group))
        setting = "only_owner" if action.kind is ActionKind.MUTE else "all_members"
        await self._api(
            "PUT",
            f"/open-apis/im/v1/chats/{_q(action.group)}/moderation",
            body={"moderation_setting": setting},
            group=action.group,
        )
        return SendResult(detail={"moderation_setting": setting})

    @sends(ActionKind.SET_ANNOUNCEMENT)
    async def _announce(self, action: Action) -> SendResult:
        chat = action.group
        base = f"/open-apis/docx/v1/chats/{_q(chat)}/announcement/blocks/{_q(chat)}/children"
        data = await self._api("GET", base, query=[("page_size", "500")], group=chat)
        count = len(data.get("items") or [])
        if count:
            await self._api(
                "DELETE",
                f"{base}/batch_delete",
                query=[("revision_id", "-1")],
                body={"start_index": 0, "end_index": count},
                group=chat,
            )
        blocks = [
            {"block_type": 2, "text": {"elements": [{"text_run": {"content": line}}]}}
            for line in action.text_or_empty.splitlines() or [""]
        ]
        await self._api("POST", base, query=[("revision_id", "-1")], body={"children": blocks, "index": 0}, group=chat)
        return SendResult(detail={"replaced_blocks": count})


class _DmContext(Mapping[str, str]):
    """The group the bot last wrote to a person about, read from the cursors (``dm:<open id>``)."""

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


def _q(part: str) -> str:
    """An id as a path segment: ids come from events, and none may reach another path or a query."""
    from urllib.parse import quote

    return quote(part, safe="")


def _quiet_sdk_logger() -> None:
    """The SDK logs to stdout through a handler of its own: its lines go to shequn's logging (stderr) instead, so
    ``shequn run --json`` keeps stdout for its result."""
    import sys

    sdk = logging.getLogger("Lark")
    for handler in list(sdk.handlers):
        if isinstance(handler, logging.StreamHandler) and handler.stream is sys.stdout:
            sdk.removeHandler(handler)
    sdk.setLevel(logging.WARNING)


class _GoneError(SendError):
    """The message is no longer there (recalled, deleted)."""
