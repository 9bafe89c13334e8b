"""The Slack connector (``platform: slack``): a Slack app in a workspace's channels, through ``slack-bolt``.

How it works:
    Events come one of two ways, both through a bolt :class:`~slack_bolt.async_app.AsyncApp` (which answers
    ``url_verification``, checks the request signature and hands every ``event_callback`` to one listener):

    * Socket Mode (``SHEQUN_SLACK_APP_TOKEN``, ``xapp-…``): bolt's socket handler opens the WebSocket that
      ``apps.connections.open`` names, acknowledges each envelope after the listener ran, and reconnects by itself.
      Every new connection (Slack's ``hello``) fills the gap since the last message handed on.
    * The Events API over HTTP (``SHEQUN_SLACK_LISTEN``): ``shequn run`` serves ``POST /slack/events``. Before the
      body is read, the declared length (at most 1 MiB), the signature header's form and the timestamp's age (five
      minutes, Slack's figure) are checked; bolt then checks the ``v0=`` HMAC-SHA256 of ``v0:timestamp:body`` with
      the signing secret. Anything else is refused (401/413) and counted. The gap since the last run is filled
      on start, and every five minutes a history pass catches what Slack gave up redelivering.

    Events become shequn events (:mod:`.events`), with the Slack importer's ids. The listener runs before Slack gets
    its acknowledgement (``process_before_response``), so an event is in the log before Slack forgets it; a
    redelivery (Slack retries for an hour) has the same ids and is dropped. After each message the channel's
    cursor ``seen:<channel>`` keeps its ``ts``; on (re)connecting, ``conversations.history`` from that ``ts``
    (``oldest``, pages of 200 by ``next_cursor``) hands on what was missed, oldest first, and the replies of the
    threads it finds with newer replies (``conversations.replies``); a fill that failed is owed (``gap:<channel>``)
    until one succeeds. Membership changes read from history are
    dropped when the member's last known state (``member:<channel>|<user>``) already says so.

    Sends are Web API calls through slack-sdk's :class:`~slack_sdk.web.async_client.AsyncWebClient`: posts,
    warnings and replies are ``chat.postMessage`` (a reply in the message's thread, ``thread_ts``), a pinned post
    and the announcement are also ``pins.add``; a private message opens the DM first (``conversations.open``);
    ``chat.delete`` removes a message; ``conversations.kick`` removes a member from the channel (a ban too: Slack
    has no ban for apps; shequn's shared blacklist removes the person again on rejoining).

    What Slack forbids the bot becomes a staff task with the reason: a bot token deletes only the bot's own
    messages (another's needs ``SHEQUN_SLACK_USER_TOKEN``, a user token of a workspace admin or owner with
    ``chat:write``); muting, invite links and join requests are not in Slack's API for apps (not declared);
    ``missing_scope`` names the scope to add, ``not_in_channel`` asks for the bot to be invited,
    ``restricted_action`` points at the workspace's preference. A 429 becomes :class:`RetryAfterError` with
    Slack's ``Retry-After`` (per channel for ``chat.postMessage``, Slack's special tier; per app otherwise).

    Every message the bot posts carries the action's key in Slack's message metadata (``shequn_action``), so after
    a crash :meth:`SlackConnector.confirm` finds whether a message action left in flight went out (``can_confirm``);
    deletions, removals and pins are simply repeated (Slack applies them once).

Things to keep in mind:
    * The tokens and the signing secret come from the environment only and never reach a log line.
    * ``SHEQUN_SLACK_API_URL`` points the Web API elsewhere (a proxy, or the tests' fake Slack).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from shequn.connectors.base import BackgroundLoop, Connector, EventSink, SendResult, sends
from shequn.connectors.slack.events import PLATFORM, events_of
from shequn.domain import Action, ActionKind, Event, Join, Leave, LeaveReason, Message, Reaction, UserError
from shequn.i18n import t
from shequn.outbox.errors import PermanentSendError, RetryAfterError, SendError

log = logging.getLogger("shequn.connectors.slack")

API_URL = "https://slack.com/api/"
EVENTS_PATH = "/slack/events"
MAX_BODY = 1 << 20
MAX_AGE = 5 * 60  # Slack: a request whose timestamp is more than five minutes off may be a replay
HISTORY_PAGE = 200
MAX_TEXT = 40_000  # chat.postMessage truncates past 40,000 characters
_SEEN_MAX = 4096
# Slack errors that no retry will change: the reason goes on the staff task.
_SCOPE = {"missing_scope", "not_allowed_token_type", "no_permission"}
_NOT_IN = {"not_in_channel", "channel_not_found", "is_archived"}
_FORBIDDEN = {"restricted_action", "cant_delete_message", "cant_kick_from_general", "cant_kick_self", "not_supported"}
_TRANSIENT = {"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"}
_IDEMPOTENT = {"chat.delete", "conversations.kick", "pins.add", "conversations.open"}
_MESSAGES = frozenset(
    {ActionKind.POST, ActionKind.REPLY, ActionKind.WARN, ActionKind.DIRECT_MESSAGE, ActionKind.SET_ANNOUNCEMENT}
)
METADATA_TYPE = "shequn_action"  # message metadata naming the action a message carries out


class SlackConnector(Connector):
    """A Slack app's bot user (``platform: slack``); group ids are channel ids (``C…``, ``G…``).

    Environment (``shequn run``): ``SHEQUN_SLACK_BOT_TOKEN`` (``xoxb-…``), and either ``SHEQUN_SLACK_APP_TOKEN``
    (``xapp-…``: Socket Mode) or ``SHEQUN_SLACK_LISTEN`` (``127.0.0.1:3000``: the Events API's request URL behind
    your HTTPS proxy) with ``SHEQUN_SLACK_SIGNING_SECRET``. Optional: ``SHEQUN_SLACK_USER_TOKEN`` (``xoxp-…`` of an
    admin: deleting members' messages), ``SHEQUN_SLACK_API_URL``, ``SHEQUN_SLACK_FILL_EVERY`` (Events API: seconds
    between history passes catching what Slack gave up delivering, 300; 0 turns them off).
    """

    platform = PLATFORM
    can_confirm = True

    def __init__(
        self,
        *,
        bot_token: str,
        app_token: str = "",
        listen: str = "",
        signing_secret: str = "",
        user_token: str = "",
        api_url: str = API_URL,
        history_pages: int = 10,
        fill_every: float = 300.0,
        backoff: tuple[float, float] = (1.0, 60.0),
        locale: str = "en",
    ) -> None:
        if not bot_token.startswith("xoxb-"):
            raise UserError(t("connectors.slack.config.bot_token", None), exit_code=2)
        if bool(app_token) == bool(listen):
            raise UserError(t("connectors.slack.config.one_of", None), exit_code=2)
        if app_token and not app_token.startswith("xapp-"):
            raise UserError(t("connectors.slack.config.app_token", None), exit_code=2)
        if listen and not listen.rpartition(":")[2].isdigit():
            raise UserError(t("connectors.slack.config.listen", None, value=listen), exit_code=2)
        if listen and len(signing_secret) < 16:
            raise UserError(t("connectors.slack.config.secret", None), exit_code=2)
        if user_token and not user_token.startswith("xoxp-"):
            raise UserError(t("connectors.slack.config.user_token", None), exit_code=2)
        from slack_sdk.web.async_client import AsyncWebClient

        self.listen = listen
        self.api_url = api_url if api_url.endswith("/") else api_url + "/"
        self.history_pages = history_pages
        self.fill_every = fill_every
        self.backoff = backoff
        self._background = BackgroundLoop()
        self._starting = BackgroundLoop()
        self.locale = locale
        self.staff_locale: str | None = None  # the reasons staff tasks carry (``shequn run``: the workspace's)
        self.client = AsyncWebClient(token=bot_token, base_url=self.api_url)
        self.user_client = AsyncWebClient(token=user_token, base_url=self.api_url) if user_token else None
        self._app_token = app_token
        self._signing_secret = signing_secret
        self.bot_user = ""
        self.bot_id = ""
        self.team = ""
        self.stats = {"connections": 0, "events": 0, "repeats": 0, "gap_filled": 0, "refused": 0, "calls": 0}
        self._sink: EventSink | None = None
        self._app: Any = None
        self._socket: Any = None
        self._runner: Any = None
        self._names: dict[str, str] = {}
        self._dms: dict[str, str] = {}
        self._seen: dict[str, None] = {}
        self._own: dict[str, None] = {}  # the ts of messages the bot posted (it deletes them with its own token)
        self._lock = asyncio.Lock()  # a gap is filled before live events move the cursors on
        self._connected = asyncio.Event()

    @classmethod
    def from_env(cls, env: Mapping[str, str]) -> SlackConnector:
        return cls(
            bot_token=env.get("SHEQUN_SLACK_BOT_TOKEN", ""),
            app_token=env.get("SHEQUN_SLACK_APP_TOKEN", ""),
            listen=env.get("SHEQUN_SLACK_LISTEN", ""),
            signing_secret=env.get("SHEQUN_SLACK_SIGNING_SECRET", ""),
            user_token=env.get("SHEQUN_SLACK_USER_TOKEN", ""),
            api_url=env.get("SHEQUN_SLACK_API_URL", API_URL),
            fill_every=_seconds(env, "SHEQUN_SLACK_FILL_EVERY", 300.0),
        )

    def __repr__(self) -> str:  # never a token
        how = "Socket Mode" if self._app_token else f"Events API on {self.listen}"
        return f"SlackConnector({how})"

    def bot_of(self, action: Action) -> str:
        return self.bot_user or "default"

    # -- receiving ------------------------------------------------------------------------------------------

    async def start(self, sink: EventSink) -> None:
        self._sink = sink
        try:
            await self._whoami()
        except ConnectionError as exc:  # Slack unreachable: keep trying, the rest of ``shequn run`` goes on
            log.warning("slack: cannot reach Slack (%s); retrying", exc)
            self._starting.start(self._start_later(), name="slack-start")
            return
        await self._begin()

    async def _start_later(self) -> None:
        delay = self.backoff[0]
        while self._starting.running:
            await self._starting.pause(delay)
            try:
                await self._whoami()
            except ConnectionError as exc:
                delay = min(delay * 2, self.backoff[1])
                log.warning("slack: cannot reach Slack (%s); retrying in %.0f s", exc, delay)
                continue
            except UserError as exc:
                log.error("slack: %s", exc)
                return
            await self._begin()
            return

    async def _begin(self) -> None:
        from slack_bolt.async_app import AsyncApp

        self._app = AsyncApp(
            client=self.client,
            signing_secret=self._signing_secret or "socket-mode",
            process_before_response=True,
            request_verification_enabled=bool(self.listen),
            logger=log,
        )

        async def listener(body: dict[str, Any]) -> None:
            event = body.get("event")
            if isinstance(event, Mapping):
                async with self._lock:
                    await self._deliver(event)

        self._app.event(re.compile(".*"))(listener)
        if self.listen:
            async with self._lock:
                await self._fill_all()
            await self._serve()
            self._connected.set()
            if self.fill_every > 0:
                self._background.start(self._refill(), name="slack-refill")
        else:
            from slack_bolt.adapter.socket_mode.async_handler import AsyncSocketModeHandler

            self._socket = AsyncSocketModeHandler(self._app, self._app_token)
            self._socket.client.message_listeners.append(self._on_socket_message)
            try:
                await self._socket.connect_async()
            except Exception as exc:
                log.error("slack: cannot open the Socket Mode connection (%s); check SHEQUN_SLACK_APP_TOKEN", _why(exc))
                raise UserError(t("connectors.slack.socket_failed", None, detail=_why(exc)), exit_code=2) from None

    async def stop(self) -> None:
        await self._starting.stop()
        await self._background.stop()
        if self._socket is not None:
            with contextlib.suppress(Exception):
                await self._socket.close_async()
            self._socket = None
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        self._connected.clear()

    async def wait_connected(self, timeout: float) -> bool:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._connected.wait(), timeout)
        return self._connected.is_set()

    async def _whoami(self) -> None:
        """Who the bot is (``auth.test``): a refused token is the operator's error, no answer a ConnectionError."""
        from slack_sdk.errors import SlackApiError

        try:
            auth = await self.client.auth_test()
        except SlackApiError as exc:
            log.error("slack: auth.test failed (%s); check SHEQUN_SLACK_BOT_TOKEN", _why(exc))
            raise UserError(t("connectors.slack.auth_failed", None, detail=_why(exc)), exit_code=2) from None
        except Exception as exc:
            raise ConnectionError(type(exc).__name__) from None
        self.bot_user, self.bot_id = str(auth["user_id"]), str(auth.get("bot_id") or "")
        self.team = str(auth.get("team_id") or "")
        log.info("slack: connected as bot user %s in team %s", self.bot_user, self.team)

    async def _on_socket_message(self, client: Any, message: Mapping[str, Any], raw: str | None = None) -> None:
        """Slack says ``hello`` on every new connection: fill the gap, then take live events again."""
        if message.get("type") != "hello":
            return
        self.stats["connections"] += 1
        async with self._lock:
            await self._fill_all()
        self._connected.set()

    async def _serve(self) -> None:
        from aiohttp import web

        async def receive(request: web.Request) -> web.Response:
            status, body = await self.handle_request(request.headers, request.content_length, request.read)
            return web.Response(status=status, body=body)

        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_post(EVENTS_PATH, receive)
        host, _, port = self.listen.rpartition(":")
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host or "127.0.0.1", int(port)).start()
        self.stats["connections"] += 1

    async def handle_request(self, headers: Mapping[str, str], declared: int | None, read: Any) -> tuple[int, bytes]:
        """One Events API request: checks what can be checked before the body is read, then lets bolt verify the
        signature and dispatch. Returns the HTTP status and body to answer."""
        from slack_bolt.request.async_request import AsyncBoltRequest

        if declared is None or declared > MAX_BODY:
            self.stats["refused"] += 1
            return (411 if declared is None else 413), b""
        stamp = headers.get("X-Slack-Request-Timestamp", "")
        signature = headers.get("X-Slack-Signature", "")
        if not stamp.isdigit() or abs(time.time() - int(stamp)) > MAX_AGE or not signature.startswith("v0="):
            self.stats["refused"] += 1
            return 401, b""
        body = await read()
        if len(body) > MAX_BODY:
            self.stats["refused"] += 1
            return 413, b""
        try:
            text = body.decode("utf-8")
        except UnicodeDecodeError:
            self.stats["refused"] += 1
            return 400, b""
        response = await self._app.async_dispatch(AsyncBoltRequest(body=text, headers=dict(headers)))
        if response.status == 401:
            self.stats["refused"] += 1
        return response.status, str(response.body or "").encode()

    def _group_ids(self) -> list[str]:
        bound = self.bound_groups
        return sorted(bound) if bound is not None else []

    async def _deliver(self, raw: Mapping[str, Any], *, history: bool = False) -> None:
        author = str(raw.get("user") or "")
        group = self.cursors.get(f"dm:{author}") if author else None  # where a DM answer belongs
        events = events_of(raw, self.bot_user, {author: group} if group else {}, history=history, bot_id=self.bot_id)
        bound = self.bound_groups
        for event in events:
            if bound is not None and event.group not in bound:
                continue
            await self._hand_on(event, history=history)

    async def _hand_on(self, event: Event, *, history: bool) -> None:
        assert self._sink is not None
        if event.id in self._seen:
            self.stats["repeats"] += 1
            return
        if isinstance(event, Join | Leave):
            state = "join" if isinstance(event, Join) else "leave"
            key = f"member:{event.group}|{event.actor}"
            if history and self.cursors.get(key) == state:
                return  # handed on live already (member_joined_channel / member_left_channel)
            self.cursors.put(key, state)
            removed = self.cursors.get(f"removed:{event.group}|{event.actor}")
            if isinstance(event, Leave) and removed:  # Slack's event does not say who removed them: the bot did
                reason = LeaveReason.BANNED if removed == "ban" else LeaveReason.REMOVED
                event = replace(event, reason=reason, by=self.bot_user)
            self.cursors.put(f"removed:{event.group}|{event.actor}", None)
        if isinstance(event, Message | Join | Leave | Reaction) and not event.actor_name and event.actor:
            event = replace(event, actor_name=await self._name_of(event.actor))
        await self._sink(event)
        self.stats["events"] += 1
        self._seen[event.id] = None
        if len(self._seen) > _SEEN_MAX:
            self._seen.pop(next(iter(self._seen)))
        if isinstance(event, Message):
            self._advance(event.group, event.message_id)

    def _advance(self, channel: str, ts: str) -> None:
        saved = self.cursors.get(f"seen:{channel}")
        if not saved or float(ts) > float(saved):
            self.cursors.put(f"seen:{channel}", ts)

    async def _name_of(self, user: str) -> str:
        """The name Slack shows for ``user`` (as the importer reads ``users.json``), asked once per run."""
        if user not in self._names:
            name = ""
            with contextlib.suppress(Exception):
                info = (await self.client.users_info(user=user))["user"]
                profile = info.get("profile") or {}
                name = str(
                    profile.get("display_name")
                    or info.get("real_name")
                    or profile.get("real_name")
                    or info.get("name")
                    or ""
                )
            self._names[user] = name
        return self._names[user]

    async def _refill(self) -> None:
        """Events API: what Slack gave up delivering (it retries three times over a few minutes) is read from
        history every ``fill_every`` seconds."""
        while self._background.running:
            await self._background.pause(self.fill_every)
            if self._background.running:
                async with self._lock:
                    await self._fill_all()

    async def _fill_all(self) -> None:
        for channel in self._group_ids():
            try:
                await self._fill(channel)
            except Exception as exc:  # one channel's history must not keep the others from filling
                log.warning("slack: cannot fill the gap in channel %s: %s", channel, _why(exc))

    async def _fill(self, channel: str) -> None:
        """Hand on the channel's messages since the last one handed on, oldest first (and new thread replies)."""
        seen = self.cursors.get(f"seen:{channel}")
        if not seen:  # first sight of the channel: its past is an import's job; from now on nothing is missed
            self.cursors.put(f"seen:{channel}", f"{time.time():.6f}")
            return
        # A fill that failed (Slack's 429 on conversations.history, a timeout) is owed until one succeeds, however
        # far live messages have moved the channel's cursor meanwhile.
        saved = self.cursors.get(f"gap:{channel}") or seen
        self.cursors.put(f"gap:{channel}", saved)
        found: list[Mapping[str, Any]] = []
        cursor = ""
        for _ in range(self.history_pages):
            page = await self.client.conversations_history(
                channel=channel, oldest=saved, inclusive=False, limit=HISTORY_PAGE, cursor=cursor or None
            )
            found.extend(m for m in page.get("messages") or [] if isinstance(m, Mapping))
            cursor = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not page.get("has_more") or not cursor:
                break
        else:
            log.warning("slack: the gap in channel %s is longer than %d pages", channel, self.history_pages)
        replies: list[Mapping[str, Any]] = []
        for parent in found:
            if parent.get("reply_count") and float(parent.get("latest_reply") or 0) > float(saved):
                thread = await self.client.conversations_replies(
                    channel=channel, ts=str(parent["ts"]), oldest=saved, inclusive=False, limit=HISTORY_PAGE
                )
                replies.extend(
                    m for m in thread.get("messages") or [] if isinstance(m, Mapping) and m.get("ts") != parent["ts"]
                )
        missed = sorted({str(m["ts"]): m for m in [*found, *replies] if m.get("ts")}.values(), key=_ts_key)
        for m in missed:
            before = self.stats["events"]
            await self._deliver({**m, "channel": channel, "type": "message"}, history=True)
            self.stats["gap_filled"] += self.stats["events"] - before
        self.cursors.put(f"gap:{channel}", None)

    # -- sending --------------------------------------------------------------------------------------------

    async def confirm(self, action: Action) -> SendResult | None:
        """Whether a message action left in flight by a crash reached Slack: every message the bot posts carries the
        action's key in its metadata, looked up among the channel's (or thread's, or DM's) messages since shortly
        before the action. Deletions, removals and pins are safe to repeat (None: send again)."""
        if action.kind not in _MESSAGES:
            return None
        if not self.bot_user:  # asked before start() (the outbox reconciles first)
            await self._whoami()
        channel = action.group if _in_channel(action) else await self._dm_channel(action.target)
        thread = _thread(action)
        params: dict[str, Any] = {"channel": channel, "oldest": f"{action.at.timestamp() - 60:.6f}"}
        params.update(inclusive=True, include_all_metadata=True, limit=HISTORY_PAGE)
        method = "conversations.replies" if thread else "conversations.history"
        if thread:
            params["ts"] = thread
        for _ in range(self.history_pages):
            page = await self._call(method, group=action.group, **params)
            for m in page.get("messages") or []:
                payload = (m.get("metadata") or {}).get("event_payload") or {}
                if m.get("user") == self.bot_user and payload.get("key") == action.key:
                    return SendResult(platform_id=str(m["ts"]), detail={"channel": channel, "confirmed": True})
            params["cursor"] = str((page.get("response_metadata") or {}).get("next_cursor") or "")
            if not page.get("has_more") or not params["cursor"]:
                break
        return None

    async def _call(self, api: str, *, group: str = "", user_token: bool = False, **params: Any) -> Any:
        from slack_sdk.errors import SlackApiError

        client = self.user_client if user_token and self.user_client is not None else self.client
        self.stats["calls"] += 1
        try:
            return await client.api_call(api, json=params)
        except SlackApiError as exc:
            raise self._failure(api, exc.response, group) from None
        except Exception as exc:  # no answer: the request may have reached Slack
            if api in _IDEMPOTENT:
                raise SendError(f"slack: {api}: {type(exc).__name__}") from None
            raise TimeoutError(f"slack: {api}: no answer ({type(exc).__name__})") from None

    def _failure(self, api: str, response: Any, group: str) -> Exception:
        error = str(response.get("error") or f"HTTP {response.status_code}")
        if response.status_code == 429 or error == "ratelimited":
            seconds = float(_header(response.headers, "Retry-After") or 30)
            scope = "group" if api == "chat.postMessage" else "bot"
            message = f"slack: {api}: rate limited, retry after {seconds:g} s"
            return RetryAfterError(seconds, scope=scope, message=message)
        if error in _SCOPE:
            needed = str(response.get("needed") or "?")
            return PermanentSendError(self._why("connectors.slack.missing_scope", api, error, group, needed=needed))
        if error in _NOT_IN:
            return PermanentSendError(self._why("connectors.slack.not_in_channel", api, error, group))
        if error in _FORBIDDEN:
            return PermanentSendError(self._why(f"connectors.slack.forbidden.{error}", api, error, group))
        if error in _TRANSIENT or response.status_code >= 500:
            return SendError(f"slack: {api}: {error}")
        return PermanentSendError(self._why("connectors.slack.refused", api, error, group))

    def _why(self, key: str, api: str, error: str, group: str, **params: str) -> str:
        return t(key, self.staff_locale or self.locale, api=api, error=error, group=group, **params)

    async def _say(self, channel: str, text: str, *, key: str, thread: str = "", group: str = "") -> SendResult:
        params: dict[str, Any] = {"channel": channel, "text": text[:MAX_TEXT] or " "}
        params["metadata"] = {"event_type": METADATA_TYPE, "event_payload": {"key": key}}  # for confirm()
        if thread:
            params["thread_ts"] = thread
        answer = await self._call("chat.postMessage", group=group or channel, **params)
        ts = str(answer.get("ts") or "")
        self._own[ts] = None
        if len(self._own) > _SEEN_MAX:
            self._own.pop(next(iter(self._own)))
        return SendResult(platform_id=ts, detail={"channel": str(answer.get("channel") or channel)})

    async def _pin(self, channel: str, ts: str) -> None:
        try:
            await self._call("pins.add", group=channel, channel=channel, timestamp=ts)
        except PermanentSendError as exc:
            if "already_pinned" not in str(exc):
                raise

    @sends(ActionKind.POST)
    async def _post(self, action: Action) -> SendResult:
        mentions = " ".join(f"<@{m}>" for m in getattr(action, "mentions", ()) or () if m)
        text = f"{mentions} {_escape(action.text_or_empty)}".strip()
        result = await self._say(action.group, text, key=action.key, thread=_thread(action))
        if getattr(action, "pin", False) and result.platform_id:
            try:
                await self._pin(action.group, result.platform_id)
            except (SendError, TimeoutError) as exc:  # the post is out: retrying the action would post it twice
                log.warning("slack: the post in channel %s is out but not pinned: %s", action.group, exc)
        return result

    @sends(ActionKind.REPLY)
    async def _reply(self, action: Action) -> SendResult:
        """A reply goes into the thread of the message it answers (its own thread when it is a reply itself)."""
        return await self._say(action.group, _escape(action.text_or_empty), key=action.key, thread=_thread(action))

    @sends(ActionKind.WARN)
    async def _warn(self, action: Action) -> SendResult:
        if _in_channel(action):
            text = _escape(action.text_or_empty)
            text = f"<@{action.target}> {text}" if action.target else text
            return await self._say(action.group, text, key=action.key)
        return await self._direct(action)

    @sends(ActionKind.DIRECT_MESSAGE)
    async def _direct(self, action: Action) -> SendResult:
        channel = await self._dm_channel(action.target)
        if action.group:
            self.cursors.put(f"dm:{action.target}", action.group)  # a DM answer (accepting the rules) belongs here
        return await self._say(channel, _escape(action.text_or_empty), key=action.key, group=action.group or channel)

    async def _dm_channel(self, user: str) -> str:
        if user not in self._dms:
            opened = await self._call("conversations.open", users=user)
            self._dms[user] = str((opened.get("channel") or {}).get("id") or "")
        return self._dms[user]

    @sends(ActionKind.DELETE_MESSAGE)
    async def _delete(self, action: Action) -> SendResult:
        """The bot's own message with the bot token; anyone else's with the admin's user token (a bot token may not),
        or, without one, a staff task saying so."""
        ts = str(getattr(action, "message_id", ""))
        own = action.target == self.bot_user or ts in self._own
        if not own and self.user_client is None and action.target:
            raise PermanentSendError(self._why("connectors.slack.no_user_token", "chat.delete", "", action.group))
        try:
            await self._call("chat.delete", group=action.group, user_token=not own, channel=action.group, ts=ts)
        except PermanentSendError as exc:
            if "message_not_found" in str(exc):
                return SendResult(detail={"already_gone": True})
            if "cant_delete_message" in str(exc) and self.user_client is None:  # someone else's, as Slack says
                raise PermanentSendError(
                    self._why("connectors.slack.no_user_token", "chat.delete", "", action.group)
                ) from None
            raise
        return SendResult()

    @sends(ActionKind.REMOVE, ActionKind.BAN)
    async def _kick(self, action: Action) -> SendResult:
        """Removal from the channel. Slack gives apps no ban: a ban is the same removal, and the workspace's shared
        blacklist (the admission policy) removes the person again on rejoining."""
        removed = f"removed:{action.group}|{action.target}"
        self.cursors.put(removed, action.kind.value)  # before the call: Slack's member_left_channel may come first
        try:
            await self._call("conversations.kick", group=action.group, channel=action.group, user=action.target)
        except PermanentSendError as exc:
            self.cursors.put(removed, None)
            if "not_in_channel" in str(exc):  # conversations.kick: "User was not in the channel"
                return SendResult(detail={"already_out": True})
            raise
        return SendResult()

    @sends(ActionKind.SET_ANNOUNCEMENT)
    async def _announce(self, action: Action) -> SendResult:
        """Slack has no group announcement: the text is posted and pinned to the channel."""
        result = await self._say(action.group, _escape(action.text_or_empty), key=action.key)
        await self._pin(action.group, result.platform_id)
        return result


def _thread(action: Action) -> str:
    """The thread a message goes into: a reply's is the message it answers (or that message's thread)."""
    if action.kind is ActionKind.REPLY:
        return str(action.extra.get("thread") or getattr(action, "message_id", ""))
    return str(action.extra.get("thread", ""))


def _in_channel(action: Action) -> bool:
    """Whether a message action is said in the channel (else it is a DM to its target)."""
    if action.kind is ActionKind.DIRECT_MESSAGE:
        return False
    return action.kind is not ActionKind.WARN or bool(getattr(action, "public", False)) or not action.target


def _escape(text: str) -> str:
    """Slack reads ``&``, ``<`` and ``>`` in message text as markup: a policy's words are escaped as Slack asks."""
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _ts_key(m: Mapping[str, Any]) -> float:
    return float(m.get("ts") or 0)


def _seconds(env: Mapping[str, str], name: str, default: float) -> float:
    raw = env.get(name, "")
    try:
        return float(raw) if raw else default
    except ValueError:
        raise UserError(t("connectors.slack.config.seconds", None, name=name, value=raw), exit_code=2) from None


def _header(headers: Any, name: str) -> str:
    for key, value in (headers or {}).items():
        if key.lower() == name.lower():
            return str(value[0] if isinstance(value, list) else value)
    return ""


def _why(exc: Exception) -> str:
    response = getattr(exc, "response", None)
    if response is not None and hasattr(response, "get"):
        return str(response.get("error") or type(exc).__name__)
    return type(exc).__name__
