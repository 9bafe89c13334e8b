"""A fake OneBot v11 implementation for the QQ tests and ``shequn bench onebot``, built from the spec's documented
payloads (botuniverse/onebot-11: communication/ws.md, ws-reverse.md, authorization.md, event/*.md, api/public.md)
and the extensions NapCat and go-cqhttp document (``get_group_msg_history``, ``_send_group_notice``,
``set_essence_msg``).

It serves a forward WebSocket (``/``, ``Authorization: Bearer``, 401 without the token) or dials a reverse one
(``X-Self-ID``, ``X-Client-Role: Universal``), pushes the lifecycle ``connect`` and heartbeat meta events, answers
calls with their ``echo``, and fails the way implementations do: ``retcode 1404`` for an action it lacks (NapCat's
"不支持的Api"), go-cqhttp's ``NOT_MANAGEABLE`` / 机器人权限不足 when the bot is not an admin, ``1400`` for bad params.
Groups keep members, roles, messages (with ``message_seq``), mutes, essence messages, notices and pending requests.
While no socket is open, what members say is only kept in the history: the gap the connector must fill.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import threading
import time
from collections.abc import Callable, Coroutine, Mapping
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import ClientSession, WSMsgType, web

T = TypeVar("T")
BOT = 10001000
NO_RIGHT = {"status": "failed", "retcode": 100, "msg": "NOT_MANAGEABLE", "wording": "机器人权限不足"}


@dataclass
class Group:
    name: str
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    messages: list[dict[str, Any]] = field(default_factory=list)
    whole_ban: bool = False
    bans: dict[int, int] = field(default_factory=dict)
    essence: list[int] = field(default_factory=list)
    notices: list[str] = field(default_factory=list)


class FakeOneBot:
    """The implementation's state and protocol; every method runs on the fake's own event loop."""

    def __init__(self, *, token: str = "", heartbeat: float = 5.0, missing: frozenset[str] = frozenset()) -> None:
        self.token = token
        self.heartbeat = heartbeat
        self.missing = set(missing)
        self.groups: dict[int, Group] = {}
        self.requests: dict[str, tuple[int, int, str]] = {}
        self.answered: list[dict[str, Any]] = []
        self.private: list[dict[str, Any]] = []
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.refused = 0
        self.connections = 0
        self.said_at: dict[int, float] = {}  # message id → when it was pushed (perf_counter: the benchmark's clock)
        self.recalled_at: dict[int, float] = {}  # message id → when delete_msg arrived for it
        self._ids = itertools.count(1001)
        self._socket: Any = None
        self._runner: web.AppRunner | None = None
        self._tasks: set[asyncio.Task[Any]] = set()
        self.port = 0

    # -- the world --------------------------------------------------------------------------------------

    def group(self, gid: int, name: str, *, bot_role: str = "admin", members: Mapping[int, str] = {}) -> Group:
        g = self.groups[gid] = Group(name)
        g.members[BOT] = {"user_id": BOT, "nickname": "shequn", "card": "", "role": bot_role, "join_time": 1}
        for uid, nick in members.items():
            g.members[uid] = {"user_id": uid, "nickname": nick, "card": "", "role": "member", "join_time": 100}
        return g

    async def push(self, event: Mapping[str, Any]) -> bool:
        """Send an event over the open socket; False (kept nowhere but in history) when none is open."""
        if self._socket is None or self._socket.closed:
            return False
        await self._socket.send_bytes(orjson.dumps({"time": int(time.time()), "self_id": BOT, **event}))
        return True

    async def say(self, gid: int, uid: int, message: Any, *, nick: str = "") -> int:
        """A member posts ``message`` (text or segments); returns its message id."""
        mid = next(self._ids)
        segs = [{"type": "text", "data": {"text": message}}] if isinstance(message, str) else message
        member = self.groups[gid].members.get(uid, {"nickname": nick, "role": "member"})
        record = {
            "message_id": mid,
            "message_seq": mid,
            "real_id": mid,
            "time": int(time.time()),
            "user_id": uid,
            "group_id": gid,
            "message_type": "group",
            "sub_type": "normal",
            "message": segs,
            "raw_message": message if isinstance(message, str) else "",
            "font": 14,
            "sender": {
                "user_id": uid,
                "nickname": member.get("nickname", nick),
                "card": member.get("card", ""),
                "role": member.get("role", "member"),
            },
        }
        self.groups[gid].messages.append(record)
        self.said_at[mid] = time.perf_counter()
        await self.push({"post_type": "message", **record})
        return mid

    async def request(self, gid: int, uid: int, comment: str) -> str:
        flag = f"flag-{gid}-{uid}-{next(self._ids)}"
        self.requests[flag] = (gid, uid, comment)
        await self.push(
            {
                "post_type": "request",
                "request_type": "group",
                "sub_type": "add",
                "group_id": gid,
                "user_id": uid,
                "comment": comment,
                "flag": flag,
            }
        )
        return flag

    async def join(self, gid: int, uid: int, nick: str, *, operator: int = BOT, sub_type: str = "approve") -> None:
        self.groups[gid].members[uid] = {
            "user_id": uid,
            "nickname": nick,
            "card": "",
            "role": "member",
            "join_time": int(time.time()),
        }
        await self.push(
            {
                "post_type": "notice",
                "notice_type": "group_increase",
                "sub_type": sub_type,
                "group_id": gid,
                "user_id": uid,
                "operator_id": operator,
            }
        )

    async def private_message(self, uid: int, text: str) -> None:
        await self.push(
            {
                "post_type": "message",
                "message_type": "private",
                "sub_type": "friend",
                "message_id": next(self._ids),
                "user_id": uid,
                "message": [{"type": "text", "data": {"text": text}}],
                "raw_message": text,
                "font": 0,
                "sender": {"user_id": uid, "nickname": str(uid)},
            }
        )

    def sent(self, gid: int) -> list[dict[str, Any]]:
        """What the bot posted in a group (records whose user is the bot)."""
        return [m for m in self.groups[gid].messages if m["user_id"] == BOT]

    def texts(self, gid: int) -> list[str]:
        return ["".join(s["data"].get("text", "") for s in m["message"] if s["type"] == "text") for m in self.sent(gid)]

    def of(self, action: str) -> list[dict[str, Any]]:
        return [p for a, p in self.calls if a == action]

    # -- the API ----------------------------------------------------------------------------------------

    def _admin(self, gid: int) -> bool:
        return self.groups[gid].members[BOT]["role"] in ("admin", "owner")

    async def handle(self, action: str, params: dict[str, Any]) -> dict[str, Any]:
        self.calls.append((action, params))
        if action in self.missing:
            return {
                "status": "failed",
                "retcode": 1404,
                "data": None,
                "message": f"不支持的Api {action}",
                "wording": f"不支持的Api {action}",
            }
        fn: Callable[[dict[str, Any]], Any] | None = getattr(self, "api_" + action.lstrip("_"), None)
        if fn is None:
            return {"status": "failed", "retcode": 1404, "data": None, "message": f"不支持的Api {action}"}
        try:
            data = fn(params)
            if asyncio.iscoroutine(data):
                data = await data
        except KeyError as exc:
            return {"status": "failed", "retcode": 1400, "data": None, "message": f"bad params: {exc}"}
        if isinstance(data, dict) and data.get("status") == "failed":
            return {"data": None, **data}
        return {"status": "ok", "retcode": 0, "data": data}

    def api_get_login_info(self, p: dict[str, Any]) -> Any:
        return {"user_id": BOT, "nickname": "shequn"}

    def api_get_version_info(self, p: dict[str, Any]) -> Any:
        return {"app_name": "FakeOneBot", "app_version": "1.0", "protocol_version": "v11"}

    def api_get_group_info(self, p: dict[str, Any]) -> Any:
        g = self.groups[int(p["group_id"])]
        return {
            "group_id": int(p["group_id"]),
            "group_name": g.name,
            "member_count": len(g.members),
            "max_member_count": 500,
        }

    def api_get_group_member_info(self, p: dict[str, Any]) -> Any:
        return {"group_id": int(p["group_id"]), **self.groups[int(p["group_id"])].members[int(p["user_id"])]}

    def api_get_group_member_list(self, p: dict[str, Any]) -> Any:
        gid = int(p["group_id"])
        return [{"group_id": gid, **m} for m in self.groups[gid].members.values()]

    def api_get_group_msg_history(self, p: dict[str, Any]) -> Any:
        """NapCat's shape: up to ``count`` messages ending at ``message_seq`` (the newest when absent), oldest first."""
        msgs = self.groups[int(p["group_id"])].messages
        count = int(p.get("count", 20))
        if "message_seq" in p:
            msgs = [m for m in msgs if m["message_seq"] <= int(p["message_seq"])]
        return {"messages": msgs[-count:]}

    async def api_send_group_msg(self, p: dict[str, Any]) -> Any:
        gid = int(p["group_id"])
        g = self.groups[gid]
        if g.whole_ban and not self._admin(gid):
            return {"status": "failed", "retcode": 1200, "message": "群全员禁言中"}
        mid = next(self._ids)
        msg = p["message"] if isinstance(p["message"], list) else [{"type": "text", "data": {"text": p["message"]}}]
        g.messages.append(
            {
                "message_id": mid,
                "message_seq": mid,
                "time": int(time.time()),
                "user_id": BOT,
                "group_id": gid,
                "message": msg,
                "sender": {"user_id": BOT, "nickname": "shequn"},
            }
        )
        return {"message_id": mid}

    def api_send_private_msg(self, p: dict[str, Any]) -> Any:
        self.private.append(p)
        return {"message_id": next(self._ids)}

    async def api_delete_msg(self, p: dict[str, Any]) -> Any:
        mid = int(p["message_id"])
        self.recalled_at.setdefault(mid, time.perf_counter())
        for gid, g in self.groups.items():
            for m in g.messages:
                if m["message_id"] == mid:
                    if m["user_id"] != BOT and not self._admin(gid):
                        return NO_RIGHT
                    g.messages.remove(m)
                    await self.push(
                        {
                            "post_type": "notice",
                            "notice_type": "group_recall",
                            "group_id": gid,
                            "user_id": m["user_id"],
                            "operator_id": BOT,
                            "message_id": mid,
                        }
                    )
                    return None
        return {"status": "failed", "retcode": 100, "message": "MESSAGE_NOT_FOUND", "wording": "消息不存在"}

    async def api_set_group_kick(self, p: dict[str, Any]) -> Any:
        gid, uid = int(p["group_id"]), int(p["user_id"])
        if not self._admin(gid):
            return NO_RIGHT
        self.groups[gid].members.pop(uid, None)
        await self.push(
            {
                "post_type": "notice",
                "notice_type": "group_decrease",
                "sub_type": "kick",
                "group_id": gid,
                "user_id": uid,
                "operator_id": BOT,
            }
        )
        return None

    def api_set_group_ban(self, p: dict[str, Any]) -> Any:
        gid = int(p["group_id"])
        if not self._admin(gid):
            return NO_RIGHT
        self.groups[gid].bans[int(p["user_id"])] = int(p.get("duration", 1800))
        return None

    def api_set_group_whole_ban(self, p: dict[str, Any]) -> Any:
        gid = int(p["group_id"])
        if not self._admin(gid):
            return NO_RIGHT
        self.groups[gid].whole_ban = bool(p.get("enable", True))
        return None

    def api_set_group_add_request(self, p: dict[str, Any]) -> Any:
        gid, uid, _ = self.requests.pop(str(p["flag"]))
        if not self._admin(gid):
            return NO_RIGHT
        self.answered.append({"group_id": gid, "user_id": uid, **p})
        return None

    def api_set_essence_msg(self, p: dict[str, Any]) -> Any:
        for gid, g in self.groups.items():
            if any(m["message_id"] == int(p["message_id"]) for m in g.messages):
                if not self._admin(gid):
                    return NO_RIGHT
                g.essence.append(int(p["message_id"]))
        return None

    def api_send_group_notice(self, p: dict[str, Any]) -> Any:
        gid = int(p["group_id"])
        if not self._admin(gid):
            return NO_RIGHT
        self.groups[gid].notices.append(str(p["content"]))
        return None

    # -- the sockets ------------------------------------------------------------------------------------

    async def _talk(self, ws: Any) -> None:
        self._socket = ws
        self.connections += 1
        await self.push({"post_type": "meta_event", "meta_event_type": "lifecycle", "sub_type": "connect"})
        beat = asyncio.create_task(self._beat(ws))
        try:
            async for msg in ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                frame = orjson.loads(msg.data)
                answer = await self.handle(str(frame.get("action")), dict(frame.get("params") or {}))
                await ws.send_bytes(orjson.dumps({**answer, "echo": frame.get("echo")}))
        finally:
            beat.cancel()
            if self._socket is ws:
                self._socket = None

    async def _beat(self, ws: Any) -> None:
        while not ws.closed:
            await asyncio.sleep(self.heartbeat)
            await self.push(
                {
                    "post_type": "meta_event",
                    "meta_event_type": "heartbeat",
                    "status": {"online": True, "good": True},
                    "interval": int(self.heartbeat * 1000),
                }
            )

    async def serve(self, port: int = 0) -> int:
        """Forward WebSocket: listen on 127.0.0.1 (``port`` 0: any free one); returns the port."""

        async def connect(request: web.Request) -> web.StreamResponse:
            if self.token and request.headers.get("Authorization") != f"Bearer {self.token}":
                self.refused += 1
                return web.Response(status=401)
            ws = web.WebSocketResponse()
            await ws.prepare(request)
            await self._talk(ws)
            return ws

        app = web.Application()
        app.router.add_get("/", connect)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def drop(self) -> None:
        """The implementation goes away (restart, network): the socket and the server close."""
        if self._socket is not None:
            await self._socket.close()
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def dial(self, url: str, token: str, *, attempts: int = 200) -> int:
        """Reverse WebSocket: connect to shequn (retrying while it starts); returns the HTTP status of the last try."""
        headers = {"X-Self-ID": str(BOT), "X-Client-Role": "Universal"}
        if token:
            headers["Authorization"] = f"Bearer {token}"
        status = 0
        async with ClientSession() as session:
            for _ in range(attempts):
                try:
                    async with session.ws_connect(url, headers=headers) as ws:
                        task = asyncio.create_task(self._talk(ws))
                        self._tasks.add(task)
                        await task
                        return 101
                except Exception as exc:  # refused, or shequn not up yet: the status tells which
                    status = int(getattr(exc, "status", 0) or 0)
                    if status in (400, 401, 403):
                        self.refused += 1
                        return status
                await asyncio.sleep(0.1)
        return status


class ThreadedOneBot:
    """The fake on its own loop in a thread, driven from synchronous tests (``shequn run`` is a child process)."""

    def __init__(self, bot: FakeOneBot) -> None:
        self.bot = bot
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def __call__(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def background(self, coro: Coroutine[Any, Any, Any]) -> None:
        asyncio.run_coroutine_threadsafe(coro, self.loop)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self(self.bot.drop(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
