"""A fake Feishu open platform on 127.0.0.1, built from the documented payloads: the Open API the connector calls
(tenant token, messages, chats, members, pins, moderation, the announcement's blocks), the long connection's endpoint
and its WebSocket carrying the SDK's protobuf frames, and signed, encrypted HTTP callbacks.

Run on its own loop in a thread (:class:`ThreadedFeishu`): the SDK's HTTP client is synchronous, and ``shequn run``
is a child process. The Feishu tests (``tests/support/feishu.py``) and ``shequn bench feishu`` share it."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType, web

from shequn.connectors.feishu.callback import encrypt, signature

APP_ID, APP_SECRET = "cli_a1b2c3d4e5f6", "feishu-test-secret-0123456789"
TENANT_TOKEN = "t-fake-tenant-token"
T = TypeVar("T")


@dataclass
class Chat:
    name: str
    members: dict[str, str]  # open id → name
    messages: list[dict[str, Any]] = field(default_factory=list)
    moderation: str = "all_members"
    announcement: list[str] = field(default_factory=list)
    pins: list[str] = field(default_factory=list)
    bot_admin: bool = True


class FakeFeishu:
    def __init__(self) -> None:
        self.chats: dict[str, Chat] = {}
        self.calls: list[tuple[str, str, dict[str, str], Any]] = []
        self.direct: list[dict[str, Any]] = []  # messages to a person (receive_id_type=open_id)
        self.sockets: list[web.WebSocketResponse] = []
        self.connections = 0
        self.acks: list[dict[str, Any]] = []
        self.fail_next: dict[str, tuple[int, int, dict[str, str]]] = {}  # path prefix → (HTTP status, code, headers)
        self.uuids: dict[str, str] = {}
        self.said_at: dict[str, float] = {}  # message id → perf_counter when pushed (the benchmark's clock)
        self.recalled_at: dict[str, float] = {}  # message id → perf_counter when its recall arrived
        self._ids = itertools.count(1)
        self._runner: web.AppRunner | None = None
        self.port = 0

    # -- the platform's state ------------------------------------------------------------------------------

    def chat(self, chat_id: str, name: str, members: dict[str, str]) -> Chat:
        self.chats[chat_id] = Chat(name, dict(members))
        return self.chats[chat_id]

    def of(self, method: str, path: str) -> list[Any]:
        return [b for m, p, _, b in self.calls if m == method and p.startswith(path)]

    def texts(self, chat_id: str) -> list[str]:
        out = []
        for m in self.chats[chat_id].messages:
            if m["sender"]["sender_type"] == "app":
                out.append(m["body"]["content"])
        return [orjson.loads(c).get("text", c) if c.startswith("{") else c for c in out]

    def _item(
        self, chat_id: str, sender: str, msg_type: str, content: dict[str, Any], app: bool = False
    ) -> dict[str, Any]:
        now = int(time.time() * 1000)
        return {
            "message_id": f"om_{next(self._ids):08d}",
            "msg_type": msg_type,
            "create_time": str(now),
            "update_time": str(now),
            "deleted": False,
            "chat_id": chat_id,
            "sender": {
                "id": sender,
                "id_type": "app_id" if app else "open_id",
                "sender_type": "app" if app else "user",
            },
            "body": {"content": orjson.dumps(content).decode()},
            "mentions": [],
        }

    # -- what members do (events) ----------------------------------------------------------------------------

    @staticmethod
    def envelope(event_type: str, event: dict[str, Any]) -> dict[str, Any]:
        return {
            "schema": "2.0",
            "header": {
                "event_id": os.urandom(8).hex(),
                "event_type": event_type,
                "create_time": str(int(time.time() * 1000)),
                "token": "verification-token-xyz",
                "app_id": APP_ID,
                "tenant_key": "tenant-1",
            },
            "event": event,
        }

    def say(self, chat_id: str, user: str, text: str, msg_type: str = "text") -> tuple[str, dict[str, Any]]:
        """A member's message: kept in the chat's history; its event (to push, or lost while disconnected)."""
        content = {"text": text} if msg_type == "text" else {"title": "", "content": [[{"tag": "text", "text": text}]]}
        item = self._item(chat_id, user, msg_type, content)
        self.chats[chat_id].messages.append(item)
        self.said_at[item["message_id"]] = time.perf_counter()
        event = {
            "sender": {"sender_id": {"open_id": user, "union_id": "on_" + user, "user_id": ""}, "sender_type": "user"},
            "message": {
                "message_id": item["message_id"],
                "create_time": item["create_time"],
                "chat_id": chat_id,
                "chat_type": "group",
                "message_type": msg_type,
                "content": item["body"]["content"],
                "mentions": [],
            },
        }
        return item["message_id"], self.envelope("im.message.receive_v1", event)

    def join(self, chat_id: str, user: str, name: str, operator: str = "") -> dict[str, Any]:
        self.chats[chat_id].members[user] = name
        return self.envelope(
            "im.chat.member.user.added_v1",
            {
                "chat_id": chat_id,
                "operator_id": {"open_id": operator or user},
                "users": [{"name": name, "tenant_key": "tenant-1", "user_id": {"open_id": user}}],
            },
        )

    def click(self, user: str, value: dict[str, Any], message_id: str = "om_card") -> dict[str, Any]:
        return self.envelope(
            "card.action.trigger",
            {
                "operator": {"open_id": user, "tenant_key": "tenant-1"},
                "token": "c-token",
                "action": {"tag": "button", "value": value},
                "host": "im_message",
                "context": {"open_message_id": message_id, "open_chat_id": ""},
            },
        )

    async def push(self, event: dict[str, Any]) -> None:
        """Send an event over every open long connection (a data frame, as the SDK reads it)."""
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        frame = Frame()
        for key, value in (
            ("type", "event"),
            ("message_id", os.urandom(6).hex()),
            ("trace_id", "t"),
            ("sum", "1"),
            ("seq", "0"),
        ):
            h = frame.headers.add()
            h.key, h.value = key, value
        frame.service, frame.method, frame.SeqID, frame.LogID = 1, 1, 0, 0
        frame.payload = orjson.dumps(event)
        for ws in list(self.sockets):
            with contextlib.suppress(ConnectionError, RuntimeError):
                await ws.send_bytes(frame.SerializeToString())

    async def drop(self) -> None:
        """Close every long connection (the SDK redials)."""
        for ws in list(self.sockets):
            await ws.close()

    def delivery(
        self, event: dict[str, Any], *, encrypt_key: str, timestamp: int | None = None, sign_with: str | None = None
    ) -> tuple[dict[str, str], bytes]:
        """An HTTP callback delivery as Feishu makes it: encrypted and signed."""
        body = orjson.dumps({"encrypt": encrypt(orjson.dumps(event), encrypt_key, os.urandom(16))})
        ts, nonce = str(int(time.time()) if timestamp is None else timestamp), os.urandom(8).hex()
        sign = signature(ts, nonce, encrypt_key if sign_with is None else sign_with, body)
        headers = {
            "X-Lark-Request-Timestamp": ts,
            "X-Lark-Request-Nonce": nonce,
            "X-Lark-Signature": sign,
            "Content-Type": "application/json",
        }
        return headers, body

    # -- the server ------------------------------------------------------------------------------------------

    async def serve(self, port: int = 0) -> int:
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._route)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port or self.port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def close(self) -> None:
        await self.drop()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _route(self, request: web.Request) -> web.StreamResponse:
        path = request.path
        if path == "/ws":
            return await self._socket(request)
        body: Any = orjson.loads(await request.read()) if request.can_read_body else None
        self.calls.append((request.method, path, dict(request.query), body))
        if path == "/callback/ws/endpoint":
            if body.get("AppSecret") != APP_SECRET:
                return web.json_response({"code": 10014, "msg": "app secret invalid"})
            url = f"ws://127.0.0.1:{self.port}/ws?device_id=d{self.connections}&service_id=1"
            config = {"ReconnectCount": -1, "ReconnectInterval": 1, "ReconnectNonce": 0, "PingInterval": 30}
            return web.json_response({"code": 0, "msg": "ok", "data": {"URL": url, "ClientConfig": config}})
        if path == "/open-apis/auth/v3/tenant_access_token/internal":
            if body.get("app_id") != APP_ID or body.get("app_secret") != APP_SECRET:
                return web.json_response({"code": 10014, "msg": "app secret invalid"})
            return web.json_response({"code": 0, "msg": "ok", "tenant_access_token": TENANT_TOKEN, "expire": 7200})
        if request.headers.get("Authorization") != f"Bearer {TENANT_TOKEN}":
            return web.json_response({"code": 99991663, "msg": "Invalid access token"}, status=400)
        for prefix, (status, code, headers) in list(self.fail_next.items()):
            if path.startswith(prefix):
                del self.fail_next[prefix]
                return web.json_response({"code": code, "msg": "refused by the fake"}, status=status, headers=headers)
        try:
            data = self._api(request.method, path, dict(request.query), body)
        except LookupError as exc:
            code, msg = exc.args
            return web.json_response({"code": code, "msg": msg}, status=400)
        return web.json_response({"code": 0, "msg": "success", "data": data})

    def _api(self, method: str, path: str, q: dict[str, str], body: Any) -> dict[str, Any]:
        parts = path.removeprefix("/open-apis/").split("/")
        if parts[:2] == ["im", "v1"] and parts[2] == "messages":
            if method == "POST" and len(parts) == 3:
                return self._send(body["receive_id"], q["receive_id_type"], body)
            if method == "POST" and parts[4:] == ["reply"]:
                where = next(c for c, ch in self.chats.items() if any(m["message_id"] == parts[3] for m in ch.messages))
                return self._send(where, "chat_id", body, parent=parts[3])
            if method == "DELETE":
                for holder in self.chats.values():
                    for m in holder.messages:
                        if m["message_id"] == parts[3]:
                            if not holder.bot_admin and m["sender"]["sender_type"] != "app":
                                raise LookupError(230026, "No permission to recall this message.")
                            if m["deleted"]:
                                raise LookupError(230011, "The message was withdrawn.")
                            m["deleted"] = True
                            self.recalled_at[parts[3]] = time.perf_counter()
                            return {}
                raise LookupError(231003, "The message is not found")
            if method == "GET" and len(parts) == 3:
                since = int(q.get("start_time", "0")) * 1000
                items = [m for m in self.chats[q["container_id"]].messages if int(m["create_time"]) >= since]
                start = int(q.get("page_token") or 0)
                size = int(q.get("page_size", "20"))
                page = items[start : start + size]
                more = start + size < len(items)
                return {"items": page, "has_more": more, "page_token": str(start + size) if more else ""}
        if parts[:3] == ["im", "v1", "chats"]:
            chat_id = parts[3]
            if chat_id not in self.chats:
                raise LookupError(230002, "Bot is not in the chat.")
            chat = self.chats[chat_id]
            if method == "GET" and len(parts) == 4:
                return {"name": chat.name, "chat_mode": "group", "owner_id": "ou_owner"}
            if parts[4:] == ["members"] and method == "GET":
                items = [{"member_id": k, "member_id_type": "open_id", "name": v} for k, v in chat.members.items()]
                return {"items": items, "has_more": False, "page_token": "", "member_total": len(items)}
            if parts[4:] == ["members"] and method == "DELETE":
                if not chat.bot_admin:
                    raise LookupError(232017, "The operator is not the chat owner or admin.")
                gone = [x for x in body["id_list"] if x not in chat.members]
                for x in body["id_list"]:
                    chat.members.pop(x, None)
                return {"invalid_id_list": [], "not_existed_id_list": gone, "pending_approval_id_list": []}
            if parts[4:] == ["moderation"] and method == "PUT":
                chat.moderation = body["moderation_setting"]
                return {}
        if parts[:3] == ["im", "v1", "pins"] and method == "POST":
            for holder in self.chats.values():
                if any(m["message_id"] == body["message_id"] for m in holder.messages):
                    holder.pins.append(body["message_id"])
                    return {"pin": {"message_id": body["message_id"]}}
        if parts[:3] == ["docx", "v1", "chats"]:
            notice = self.chats[parts[3]].announcement
            if method == "GET":
                return {"items": [{"block_id": f"b{i}", "block_type": 2} for i in range(len(notice))]}
            if method == "DELETE":
                del notice[body["start_index"] : body["end_index"]]
                return {"document_revision_id": 2}
            if method == "POST":
                lines = [c["text"]["elements"][0]["text_run"]["content"] for c in body["children"]]
                notice[body["index"] : body["index"]] = lines
                return {"children": body["children"], "document_revision_id": 3}
        raise LookupError(1254001, f"the fake has no {method} {path}")

    def _send(self, to: str, id_type: str, body: dict[str, Any], parent: str = "") -> dict[str, Any]:
        if body.get("uuid") in self.uuids:  # Feishu sends one message per uuid within an hour
            return {"message_id": self.uuids[body["uuid"]]}
        content = orjson.loads(body["content"])
        if id_type == "open_id":
            item = {**self._item("", APP_ID, body["msg_type"], content, app=True), "receive_id": to}
            self.direct.append(item)
        else:
            if to not in self.chats:
                raise LookupError(230002, "Bot is not in the chat.")
            item = self._item(to, APP_ID, body["msg_type"], content, app=True)
            item["parent_id"] = parent
            self.chats[to].messages.append(item)
        if body.get("uuid"):
            self.uuids[body["uuid"]] = item["message_id"]
        return {"message_id": item["message_id"], "chat_id": to, "msg_type": body["msg_type"]}

    async def _socket(self, request: web.Request) -> web.WebSocketResponse:
        from lark_oapi.ws.pb.pbbp2_pb2 import Frame

        ws = web.WebSocketResponse()
        await ws.prepare(request)
        self.connections += 1
        self.sockets.append(ws)
        try:
            async for msg in ws:
                if msg.type is WSMsgType.BINARY:
                    frame = Frame()
                    frame.ParseFromString(msg.data)
                    if frame.method == 1:  # the client's answer to a data frame
                        self.acks.append(orjson.loads(frame.payload))
        finally:
            self.sockets.remove(ws)
        return ws


class ThreadedFeishu:
    """The fake on its own loop in a thread, driven from synchronous code."""

    def __init__(self, fake: FakeFeishu) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def __call__(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        with contextlib.suppress(Exception):
            self(self.fake.close(), timeout=5)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
