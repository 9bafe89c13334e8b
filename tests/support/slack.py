"""A fake Slack for tests, on 127.0.0.1: the Web API methods the connector calls, the Events API deliveries it
receives (signed as Slack signs them) and Socket Mode (``apps.connections.open``, ``hello``, envelopes and acks).

Built from Slack's documented payloads and errors (docs.slack.dev/reference/methods/…, /apis/events-api, and
/apis/events-api/using-socket-mode): ``{"ok": false, "error": …}`` answers, a 429 with ``Retry-After``, a bot token
that may delete only the bot's own messages (``cant_delete_message``), ``conversations.kick``'s ``not_in_channel``.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import hmac
import itertools
import json
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import aiohttp
from aiohttp import web

T = TypeVar("T")
BOT_TOKEN = "xoxb-1111-2222-test-bot-token"
USER_TOKEN = "xoxp-1111-3333-test-admin-token"
APP_TOKEN = "xapp-1-A111-4444-test-app-token"
SIGNING_SECRET = "8f742231b10e8888abcd99yyyzzz85a5"
BOT, TEAM = "UBOT0001", "T0001"


def sign(secret: str, body: bytes, stamp: int) -> str:
    """Slack's request signature: ``v0=`` HMAC-SHA256 of ``v0:<timestamp>:<body>``."""
    base = b"v0:" + str(stamp).encode() + b":" + body
    return "v0=" + hmac.new(secret.encode(), base, hashlib.sha256).hexdigest()


@dataclass
class Channel:
    id: str
    name: str
    members: dict[str, str] = field(default_factory=dict)  # user → display name
    messages: list[dict[str, Any]] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)


class FakeSlack:
    """One workspace. ``events_url``: where Events API deliveries go; else they go over Socket Mode."""

    def __init__(self, *, signing_secret: str = SIGNING_SECRET) -> None:
        self.secret = signing_secret
        self.channels: dict[str, Channel] = {}
        self.users: dict[str, str] = {BOT: "shequn"}
        self.calls: list[tuple[str, dict[str, Any], str]] = []  # (method, params, token kind)
        self.fail: dict[str, list[tuple[int, str, dict[str, str]]]] = {}  # method → answers to give first
        self.events_url = ""
        self.answers: list[int] = []  # HTTP statuses the Events API deliveries got
        self.acks: list[str] = []
        self.connections = 0
        self.delivering = True
        self._ws: web.WebSocketResponse | None = None
        self._runner: web.AppRunner | None = None
        self._port = 0
        self._ts = time.time()
        self._ids = itertools.count(1)

    # -- the workspace ------------------------------------------------------------------------------------

    def channel(self, cid: str, name: str, members: dict[str, str]) -> Channel:
        self.users.update(members)
        self.channels[cid] = Channel(cid, name, {BOT: "shequn", **members})
        return self.channels[cid]

    def next_ts(self) -> str:
        self._ts = max(time.time(), self._ts + 0.000001)
        return f"{self._ts:.6f}"

    def of(self, method: str) -> list[dict[str, Any]]:
        return [p for m, p, _ in self.calls if m == method]

    def texts(self, channel: str) -> list[str]:
        return [str(m.get("text", "")) for m in self.channels[channel].messages]

    # -- what people do (each also an event for the app) --------------------------------------------------

    async def say(self, channel: str, user: str, text: str, *, thread: str = "") -> str:
        ts = self.next_ts()
        msg: dict[str, Any] = {"type": "message", "user": user, "text": text, "ts": ts}
        if thread:
            msg["thread_ts"] = thread
            parent = next(m for m in self.channels[channel].messages if m["ts"] == thread)
            parent["reply_count"] = int(parent.get("reply_count", 0)) + 1
            parent["latest_reply"] = ts
        self.channels[channel].messages.append(msg)
        await self.emit({**msg, "channel": channel, "event_ts": ts, "channel_type": "channel"})
        return ts

    async def join(self, channel: str, user: str, name: str, inviter: str = "") -> None:
        self.users[user] = name
        self.channels[channel].members[user] = name
        ts = self.next_ts()
        join = {"type": "message", "subtype": "channel_join", "user": user, "text": f"<@{user}> has joined", "ts": ts}
        if inviter:
            join["inviter"] = inviter
        self.channels[channel].messages.append(join)
        event = {"type": "member_joined_channel", "user": user, "channel": channel, "channel_type": "C"}
        await self.emit({**event, "team": TEAM, "event_ts": ts, **({"inviter": inviter} if inviter else {})})
        await self.emit({**join, "channel": channel, "event_ts": ts, "channel_type": "channel"})

    async def direct(self, user: str, text: str) -> None:
        ts = self.next_ts()
        dm = f"D{user}"
        await self.emit({"type": "message", "channel": dm, "user": user, "text": text, "ts": ts, "channel_type": "im"})

    async def emit(self, event: dict[str, Any]) -> None:
        """Deliver one event to the app: signed POST (Events API) or an envelope (Socket Mode)."""
        if not self.delivering:
            return
        body = {
            "token": "verification-token-unused",
            "team_id": TEAM,
            "api_app_id": "A0001",
            "event": event,
            "type": "event_callback",
            "event_id": f"Ev{next(self._ids):08d}",
            "event_time": int(time.time()),
        }
        if self.events_url:
            self.answers.append(await self.post_event(body))
        elif self._ws is not None and not self._ws.closed:
            envelope = {
                "envelope_id": f"env-{next(self._ids)}",
                "type": "events_api",
                "payload": body,
                "accepts_response_payload": False,
            }
            await self._ws.send_json(envelope)

    async def post_event(
        self, body: dict[str, Any], *, secret: str | None = None, stamp: int | None = None, raw: bytes | None = None
    ) -> int:
        data = raw if raw is not None else json.dumps(body).encode()
        stamp = int(time.time()) if stamp is None else stamp
        headers = {
            "Content-Type": "application/json",
            "X-Slack-Request-Timestamp": str(stamp),
            "X-Slack-Signature": sign(self.secret if secret is None else secret, data, stamp),
        }
        async with aiohttp.ClientSession() as s, s.post(self.events_url, data=data, headers=headers) as r:
            await r.read()
            return r.status

    # -- the Web API ----------------------------------------------------------------------------------------

    async def serve(self, port: int = 0) -> int:
        app = web.Application()
        app.router.add_route("*", "/api/{method}", self._api)
        app.router.add_get("/link", self._link)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self._port)
        await site.start()
        self._port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self._port

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def drop_socket(self) -> None:
        """Slack closes the Socket Mode connection (the SDK reconnects through apps.connections.open)."""
        if self._ws is not None:
            await self._ws.close()
            self._ws = None

    async def _link(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self._ws = ws
        self.connections += 1
        await ws.send_json({"type": "hello", "num_connections": 1, "connection_info": {"app_id": "A0001"}})
        async for msg in ws:
            if msg.type == aiohttp.WSMsgType.TEXT:
                data = json.loads(msg.data)
                if data.get("envelope_id"):
                    self.acks.append(str(data["envelope_id"]))
        return ws

    async def _api(self, request: web.Request) -> web.Response:
        method = request.match_info["method"]
        params: dict[str, Any] = dict(request.query)
        if request.can_read_body:
            if request.content_type == "application/json":
                params.update(await request.json())
            else:
                params.update(dict(await request.post()))
        auth = request.headers.get("Authorization", "")
        token = auth.removeprefix("Bearer ").strip() or str(params.pop("token", ""))
        kind = {BOT_TOKEN: "bot", USER_TOKEN: "user", APP_TOKEN: "app"}.get(token, "")
        self.calls.append((method, params, kind))
        if not kind:
            return web.json_response({"ok": False, "error": "invalid_auth"})
        queued = self.fail.get(method)
        if queued:
            status, error, headers = queued.pop(0)
            return web.json_response({"ok": False, "error": error}, status=status, headers=headers)
        handler = getattr(self, "_m_" + method.replace(".", "_"), None)
        if handler is None:
            return web.json_response({"ok": False, "error": "unknown_method"})
        answer: dict[str, Any] = handler(params, kind)
        return web.json_response({"ok": "error" not in answer, **answer})

    def _m_auth_test(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        return {"url": "https://fake.slack.com/", "team": "Fake", "user": "shequn", "team_id": TEAM, "user_id": BOT}

    def _m_apps_connections_open(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        if kind != "app":
            return {"error": "not_allowed_token_type"}
        return {"url": f"ws://127.0.0.1:{self._port}/link"}

    def _m_users_info(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        user = str(p.get("user"))
        if user not in self.users:
            return {"error": "user_not_found"}
        name = self.users[user]
        return {"user": {"id": user, "name": name.lower(), "real_name": name, "profile": {"display_name": name}}}

    def _m_chat_postMessage(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        cid = str(p.get("channel"))
        if cid.startswith("D"):
            self.channels.setdefault(cid, Channel(cid, "", {BOT: "shequn", cid[1:]: self.users.get(cid[1:], "")}))
        if cid not in self.channels:
            return {"error": "channel_not_found"}
        if BOT not in self.channels[cid].members:
            return {"error": "not_in_channel"}
        ts = self.next_ts()
        msg = {"type": "message", "user": BOT, "bot_id": "B0001", "text": p.get("text", ""), "ts": ts}
        if p.get("thread_ts"):
            msg["thread_ts"] = p["thread_ts"]
        if p.get("metadata"):
            msg["metadata"] = p["metadata"]
        self.channels[cid].messages.append(msg)
        return {"channel": cid, "ts": ts, "message": msg}

    def _m_chat_delete(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        cid, ts = str(p.get("channel")), str(p.get("ts"))
        messages = self.channels[cid].messages if cid in self.channels else []
        found = next((m for m in messages if m["ts"] == ts), None)
        if found is None:
            return {"error": "message_not_found"}
        if kind == "bot" and found.get("user") != BOT:
            return {"error": "cant_delete_message"}
        messages.remove(found)
        return {"channel": cid, "ts": ts}

    def _m_conversations_kick(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        cid, user = str(p.get("channel")), str(p.get("user"))
        if user == BOT:
            return {"error": "cant_kick_self"}
        if user not in self.channels[cid].members:
            return {"error": "not_in_channel"}
        del self.channels[cid].members[user]
        return {}

    def _m_conversations_open(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        return {"channel": {"id": f"D{p.get('users')}"}}

    def _m_pins_add(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        cid, ts = str(p.get("channel")), str(p.get("timestamp"))
        if ts in self.channels[cid].pins:
            return {"error": "already_pinned"}
        self.channels[cid].pins.append(ts)
        return {}

    def _m_conversations_history(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        cid, oldest = str(p.get("channel")), float(p.get("oldest") or 0)
        limit, start = int(p.get("limit") or 100), int(p.get("cursor") or 0)
        top = [
            m for m in self.channels[cid].messages if float(m["ts"]) > oldest and m.get("thread_ts", m["ts"]) == m["ts"]
        ]
        newest_first = [_shown(m, p) for m in top[::-1][start : start + limit]]
        more = start + limit < len(top)
        meta = {"next_cursor": str(start + limit) if more else ""}
        return {"messages": newest_first, "has_more": more, "response_metadata": meta}

    def _m_conversations_replies(self, p: dict[str, Any], kind: str) -> dict[str, Any]:
        cid, ts, oldest = str(p.get("channel")), str(p.get("ts")), float(p.get("oldest") or 0)
        thread = [m for m in self.channels[cid].messages if m.get("thread_ts", m["ts"]) == ts]
        shown = [_shown(m, p) for m in thread if m["ts"] == ts or float(m["ts"]) > oldest]
        return {"messages": shown, "has_more": False}


def _shown(message: dict[str, Any], params: dict[str, Any]) -> dict[str, Any]:
    """A message as history returns it: its metadata only when asked (``include_all_metadata``)."""
    if str(params.get("include_all_metadata", "")).lower() in ("1", "true"):
        return message
    return {k: v for k, v in message.items() if k != "metadata"}


class ThreadedSlack:
    """The fake on its own loop in a thread, driven from synchronous tests (``shequn run`` is a child process)."""

    def __init__(self, slack: FakeSlack) -> None:
        self.slack = slack
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def __call__(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self(self.slack.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
