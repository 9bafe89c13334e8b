"""A fake Discord (REST API v10 and gateway) on loopback for the Discord connector's tests, built from Discord's
documented payloads (discord.com/developers/docs: topics/gateway, gateway-events, opcodes-and-status-codes,
rate-limits; resources/message, guild, channel, user, auto-moderation; interactions/receiving-and-responding).

The real discord.py talks to it (``SHEQUN_DISCORD_API`` → ``http://127.0.0.1:<port>/api/v10``; ``/gateway/bot``
points the gateway here): HELLO → IDENTIFY → READY and GUILD_CREATE; heartbeats acked; RESUME replays the dispatches
after the client's sequence while the session is known, and answers INVALID_SESSION (``d: false``) once it was
forgotten. REST keeps channels, members, messages (snowflake ids, ``after`` paging newest first), timeouts,
overwrites, bans, AutoMod rules, DMs and interaction follow-ups; it fails the way Discord does: ``403 code 50013``
(Missing Permissions) for what ``forbid`` names, a ``429`` with ``retry_after`` and the ``X-RateLimit-*`` headers.
"""

from __future__ import annotations

import asyncio
import itertools
import threading
import time
from collections.abc import Coroutine
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TypeVar

import orjson
from aiohttp import WSMsgType, web

T = TypeVar("T")
EPOCH_MS = 1420070400000
BOT, APP, OWNER = 900000000000000001, 900000000000000002, 900000000000000003
TOKEN = "fake-bot-token.discord.test"
ALL = str((1 << 41) - 1)


def user(uid: int, name: str, *, bot: bool = False) -> dict[str, Any]:
    return {"id": str(uid), "username": name, "global_name": name, "discriminator": "0", "avatar": None, "bot": bot}


@dataclass
class Guild:
    id: int
    name: str
    channels: dict[int, dict[str, Any]] = field(default_factory=dict)
    members: dict[int, dict[str, Any]] = field(default_factory=dict)
    bans: set[int] = field(default_factory=set)
    automod: dict[int, dict[str, Any]] = field(default_factory=dict)
    system_channel: int | None = None
    roles: dict[int, str] = field(default_factory=dict)  # role id → name (besides @everyone)
    threads: dict[int, dict[str, Any]] = field(default_factory=dict)  # active threads (GUILD_CREATE ``threads``)


class FakeDiscord:
    """The platform's state and both protocols; every method runs on the fake's own event loop."""

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.guilds: dict[int, Guild] = {}
        self.messages: dict[int, list[dict[str, Any]]] = {}  # channel → messages, oldest first
        self.dms: dict[int, int] = {}  # dm channel → user
        self.calls: list[tuple[str, str, Any]] = []
        self.forbid: set[str] = set()  # "kick", "ban", "delete", "timeout": answered 403 / 50013
        self.rate_limit_once: set[str] = set()
        self.sessions: dict[str, list[dict[str, Any]]] = {}  # session id → its dispatches (for RESUME)
        self.identifies = self.resumes = 0
        self.commands: dict[int, list[dict[str, Any]]] = {}
        self.callbacks: list[dict[str, Any]] = []
        self._ws: web.WebSocketResponse | None = None
        self._session = ""
        self._runner: web.AppRunner | None = None
        self.port = 0

    def snowflake(self) -> int:
        return ((int(time.time() * 1000) - EPOCH_MS) << 22) | (next(self._ids) & 0x3FFFFF)

    # -- the world --------------------------------------------------------------------------------------

    def guild(self, gid: int, name: str, channels: dict[int, str], members: dict[int, str]) -> Guild:
        g = self.guilds[gid] = Guild(gid, name, system_channel=next(iter(channels)))
        for cid, cname in channels.items():
            g.channels[cid] = {"id": str(cid), "type": 0, "name": cname, "position": len(g.channels),
                               "topic": None, "permission_overwrites": [], "nsfw": False, "parent_id": None,
                               "guild_id": str(gid)}  # fmt: skip
            self.messages[cid] = []
        for uid, uname in {BOT: "shequn", **members}.items():
            g.members[uid] = self.member(uid, uname, bot=uid == BOT)
        return g

    def member(self, uid: int, name: str, *, bot: bool = False) -> dict[str, Any]:
        return {"user": user(uid, name, bot=bot), "nick": None, "roles": [], "joined_at": _iso(), "deaf": False,
                "mute": False, "flags": 0, "avatar": None, "communication_disabled_until": None}  # fmt: skip

    def guild_of(self, cid: int) -> Guild:
        return next(g for g in self.guilds.values() if cid in g.channels or cid in g.threads)

    def thread(self, parent: int, tid: int, name: str) -> None:
        """An active public thread under ``parent`` (type 11, with its ``thread_metadata``)."""
        g = self.guild_of(parent)
        g.threads[tid] = {"id": str(tid), "type": 11, "name": name, "parent_id": str(parent), "guild_id": str(g.id),
                          "owner_id": str(OWNER), "message_count": 0, "member_count": 1, "rate_limit_per_user": 0,
                          "flags": 0, "thread_metadata": {"archived": False, "auto_archive_duration": 1440,
                                                          "archive_timestamp": _iso(), "locked": False}}  # fmt: skip
        self.messages[tid] = []

    def guild_payload(self, g: Guild) -> dict[str, Any]:
        everyone = {"id": str(g.id), "name": "@everyone", "permissions": "1024", "position": 0, "color": 0,
                    "hoist": False, "managed": False, "mentionable": False, "flags": 0}  # fmt: skip
        roles = [everyone, *({**everyone, "id": str(r), "name": n, "permissions": "0", "position": 1}
                             for r, n in g.roles.items())]  # fmt: skip
        return {
            "id": str(g.id), "name": g.name, "icon": None, "owner_id": str(OWNER), "roles": roles, "emojis": [],
            "stickers": [], "features": [], "channels": [{k: v for k, v in c.items() if k != "guild_id"}
                                                        for c in g.channels.values()],
            "members": [g.members[BOT]], "threads": list(g.threads.values()), "member_count": len(g.members),
            "unavailable": False,
            "system_channel_id": str(g.system_channel) if g.system_channel else None, "large": False,
            "verification_level": 0, "default_message_notifications": 0, "explicit_content_filter": 0,
            "mfa_level": 0, "premium_tier": 0, "preferred_locale": "en-US", "joined_at": _iso(), "voice_states": [],
            "presences": [], "stage_instances": [], "guild_scheduled_events": [], "soundboard_sounds": [],
        }  # fmt: skip

    async def dispatch(self, event: str, data: dict[str, Any]) -> bool:
        """A gateway dispatch: kept for RESUME, sent when a socket is open (False: only kept)."""
        log = self.sessions.get(self._session)
        frame = {"op": 0, "t": event, "d": data, "s": (len(log) + 1) if log is not None else 1}
        if log is not None:
            log.append(frame)
        if self._ws is None or self._ws.closed:
            return False
        await self._ws.send_str(orjson.dumps(frame).decode())
        return True

    def message(self, cid: int, uid: int, content: str, **more: Any) -> dict[str, Any]:
        g = self.guild_of(cid) if any(cid in x.channels or cid in x.threads for x in self.guilds.values()) else None
        author = g.members[uid]["user"] if g and uid in g.members else user(uid, f"user{uid}", bot=uid == BOT)
        m = {
            "id": str(self.snowflake()), "channel_id": str(cid), "author": author, "content": content,
            "timestamp": _iso(), "edited_timestamp": None, "tts": False, "mention_everyone": False, "mentions": [],
            "mention_roles": [], "attachments": [], "embeds": [], "pinned": False, "type": 0, "flags": 0, **more,
        }  # fmt: skip
        if g is not None:
            m["guild_id"] = str(g.id)
            if uid in g.members:
                m["member"] = {k: v for k, v in g.members[uid].items() if k != "user"}
        self.messages.setdefault(cid, []).append(m)
        return m

    async def say(self, cid: int, uid: int, content: str) -> int:
        """A member posts in a channel (pushed live when a socket is open; kept in the history either way)."""
        m = self.message(cid, uid, content)
        await self.dispatch("MESSAGE_CREATE", m)
        return int(m["id"])

    async def join(self, gid: int, uid: int, name: str) -> None:
        g = self.guilds[gid]
        g.members[uid] = self.member(uid, name)
        await self.dispatch("GUILD_MEMBER_ADD", {**g.members[uid], "guild_id": str(gid)})

    async def react(self, cid: int, mid: int, uid: int, emoji: str) -> None:
        g = self.guild_of(cid)
        await self.dispatch("MESSAGE_REACTION_ADD", {
            "user_id": str(uid), "channel_id": str(cid), "message_id": str(mid), "guild_id": str(g.id),
            "emoji": {"id": None, "name": emoji}, "member": g.members[uid], "burst": False, "type": 0,
        })  # fmt: skip

    async def dm(self, uid: int, content: str) -> None:
        channel = next((c for c, u in self.dms.items() if u == uid), 0)
        m = self.message(channel, uid, content)
        await self.dispatch("MESSAGE_CREATE", m)

    async def slash(self, cid: int, uid: int, name: str, task: int | None = None) -> str:
        g = self.guild_of(cid)
        iid = self.snowflake()
        options = [{"name": "task", "type": 4, "value": task}] if task is not None else []
        cmd = next(c for c in self.commands.get(g.id, []) if c["name"] == name)
        await self.dispatch("INTERACTION_CREATE", {
            "id": str(iid), "application_id": str(APP), "type": 2, "token": f"itoken{iid}", "version": 1,
            "data": {"id": cmd["id"], "name": name, "type": 1, "options": options, "guild_id": str(g.id)},
            "guild_id": str(g.id), "channel_id": str(cid), "channel": g.channels[cid], "member": {
                **g.members[uid], "permissions": ALL}, "app_permissions": ALL, "locale": "zh-CN",
            "guild_locale": "zh-CN", "entitlements": [], "authorizing_integration_owners": {"0": str(g.id)},
            "context": 0, "attachment_size_limit": 8388608,
        })  # fmt: skip
        return f"itoken{iid}"

    def texts(self, cid: int) -> list[str]:
        return [m["content"] for m in self.messages.get(cid, []) if m["author"]["id"] == str(BOT)]

    def of(self, what: str) -> list[Any]:
        return [body for name, _, body in self.calls if name == what]

    # -- serving ----------------------------------------------------------------------------------------

    async def serve(self, port: int = 0) -> int:
        app = web.Application()
        app.router.add_get("/gateway", self._gateway)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest)
        self._runner = web.AppRunner(app)
        await self._runner.setup()
        site = web.TCPSite(self._runner, "127.0.0.1", port)
        await site.start()
        self.port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        return self.port

    async def drop(self, *, forget: bool = False) -> None:
        """Close the open socket (code 1001, as Discord does when it moves a session); ``forget``: the session can
        no longer be resumed (INVALID_SESSION on RESUME), so the client identifies anew and must fill the gap."""
        if forget:
            self.sessions.pop(self._session, None)
        if self._ws is not None:
            ws, self._ws = self._ws, None
            await ws.close(code=4000 if not forget else 4009)

    async def close(self) -> None:
        if self._ws is not None:
            await self._ws.close()
        if self._runner is not None:
            await self._runner.cleanup()

    async def _gateway(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse()
        await ws.prepare(request)
        await ws.send_str(orjson.dumps({"op": 10, "d": {"heartbeat_interval": 5000}, "s": None, "t": None}).decode())
        async for msg in ws:
            if msg.type is not WSMsgType.TEXT:
                continue
            frame = orjson.loads(msg.data)
            op, d = frame.get("op"), frame.get("d") or {}
            if op == 1:
                await ws.send_str('{"op": 11, "d": null, "s": null, "t": null}')
            elif op == 2:
                self.identifies += 1
                self._session = f"session{self.identifies}"
                self.sessions[self._session] = []
                self._ws = ws
                host = f"ws://127.0.0.1:{self.port}/gateway"
                await self.dispatch("READY", {
                    "v": 10, "user": {**user(BOT, "shequn", bot=True), "verified": True, "mfa_enabled": False},
                    "guilds": [{"id": str(g), "unavailable": True} for g in self.guilds], "session_id": self._session,
                    "resume_gateway_url": host, "application": {"id": str(APP), "flags": 0}, "private_channels": [],
                    "relationships": [],
                })  # fmt: skip
                for g in self.guilds.values():
                    await self.dispatch("GUILD_CREATE", self.guild_payload(g))
            elif op == 6:
                log = self.sessions.get(str(d.get("session_id")))
                if log is None:
                    await ws.send_str('{"op": 9, "d": false, "s": null, "t": null}')
                    continue
                self.resumes += 1
                self._session, self._ws = str(d["session_id"]), ws
                for f in log[int(d.get("seq") or 0) :]:
                    await ws.send_str(orjson.dumps(f).decode())
                await self.dispatch("RESUMED", {})
        if self._ws is ws:
            self._ws = None
        return ws

    async def _rest(self, request: web.Request) -> web.StreamResponse:
        path, method = request.match_info["tail"], request.method
        body = await request.json() if request.can_read_body and request.content_type == "application/json" else {}
        if request.headers.get("Authorization") != f"Bot {TOKEN}" and not path.startswith(("webhooks", "interactions")):
            return _json({"message": "401: Unauthorized", "code": 0}, 401)
        parts = path.split("/")
        name = _name(method, parts)
        self.calls.append((name, path, body))
        if name in self.rate_limit_once:
            self.rate_limit_once.discard(name)
            headers = {"Retry-After": "41", "X-RateLimit-Scope": "user", "X-RateLimit-Remaining": "0",
                       "X-RateLimit-Reset-After": "41.0", "X-RateLimit-Bucket": "b"}  # fmt: skip
            return _json({"message": "You are being rate limited.", "retry_after": 41.0, "global": False}, 429, headers)
        if name in self.forbid:
            return _json({"message": "Missing Permissions", "code": 50013}, 403)
        return await self._answer(name, parts, body, request)

    async def _answer(self, name: str, p: list[str], body: Any, request: web.Request) -> web.StreamResponse:
        q = request.query
        if name == "me":
            return _json(user(BOT, "shequn", bot=True))
        if name == "application":
            return _json({"id": str(APP), "name": "shequn", "description": "", "icon": None, "bot_public": False,
                          "bot_require_code_grant": False, "owner": user(OWNER, "owner"), "verify_key": "00",
                          "flags": 0, "team": None})  # fmt: skip
        if name == "gateway":
            return _json({"url": f"ws://127.0.0.1:{self.port}/gateway", "shards": 1, "session_start_limit": {
                "total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1}})  # fmt: skip
        if name == "commands":
            gid = int(p[3])
            self.commands[gid] = [{**c, "id": str(self.snowflake()), "application_id": str(APP), "guild_id": str(gid),
                                   "version": "1", "default_member_permissions": None} for c in body]  # fmt: skip
            return _json(self.commands[gid])
        if name == "send":
            cid = int(p[1])
            for m in self.messages.get(cid, []):  # enforce_nonce: the same nonce gives back the same message
                if body.get("nonce") and m.get("nonce") == body["nonce"]:
                    return _json(m)
            ref = body.get("message_reference")
            more = {"nonce": body.get("nonce"), "type": 19 if ref else 0}
            if ref:
                more["message_reference"] = ref
            m = self.message(cid, BOT, body.get("content", ""), **more)
            if cid in self.dms:
                m["author"] = user(BOT, "shequn", bot=True)
            await self.dispatch("MESSAGE_CREATE", m)
            return _json(m)
        if name == "history":
            cid, after, limit = int(p[1]), int(q.get("after", 0)), int(q.get("limit", 50))
            found = [m for m in self.messages.get(cid, []) if int(m["id"]) > after][:limit]
            return _json(found[::-1])
        if name == "delete":
            cid, mid = int(p[1]), p[3]
            kept = [m for m in self.messages[cid] if m["id"] != mid]
            if len(kept) == len(self.messages[cid]):
                return _json({"message": "Unknown Message", "code": 10008}, 404)
            self.messages[cid] = kept
            await self.dispatch(
                "MESSAGE_DELETE", {"id": mid, "channel_id": str(cid), "guild_id": str(self.guild_of(cid).id)}
            )
            return web.Response(status=204)
        if name in ("kick", "ban"):
            g, uid = self.guilds[int(p[1])], int(p[3])
            if name == "ban":
                g.bans.add(uid)
            gone = g.members.pop(uid, None)
            if gone is None and name == "kick":
                return _json({"message": "Unknown Member", "code": 10007}, 404)
            if gone is not None:
                await self.dispatch("GUILD_MEMBER_REMOVE", {"guild_id": str(g.id), "user": gone["user"]})
            return web.Response(status=204)
        if name in ("add_role", "remove_role"):
            g, uid, rid = self.guilds[int(p[1])], int(p[3]), p[5]
            if uid not in g.members:
                return _json({"message": "Unknown Member", "code": 10007}, 404)
            held = [r for r in g.members[uid]["roles"] if r != rid]
            g.members[uid]["roles"] = [*held, rid] if name == "add_role" else held
            return web.Response(status=204)
        if name == "timeout":
            g, uid = self.guilds[int(p[1])], int(p[3])
            g.members[uid]["communication_disabled_until"] = body.get("communication_disabled_until")
            return _json({**g.members[uid]})
        if name == "overwrite":
            c = self.guild_of(int(p[1])).channels[int(p[1])]
            ows = [o for o in c["permission_overwrites"] if o["id"] != p[3]]
            c["permission_overwrites"] = [*ows, {"id": p[3], "type": body.get("type", 0), "allow": str(body.get(
                "allow", "0")), "deny": str(body.get("deny", "0"))}]  # fmt: skip
            return web.Response(status=204)
        if name == "channel":
            c = self.guild_of(int(p[1])).channels[int(p[1])]
            c.update({k: v for k, v in body.items() if k in ("topic", "name")})
            return _json(c)
        if name == "pin":
            return web.Response(status=204)
        if name == "open_dm":
            uid = int(body["recipient_id"])
            cid = next((c for c, u in self.dms.items() if u == uid), 0) or self.snowflake()
            self.dms[cid] = uid
            self.messages.setdefault(cid, [])
            return _json({"id": str(cid), "type": 1, "recipients": [user(uid, f"user{uid}")], "last_message_id": None})
        if name == "user":
            uid = int(p[1])
            found = [g.members[uid]["user"] for g in self.guilds.values() if uid in g.members]
            return _json(found[0] if found else user(uid, f"user{uid}"))
        if name == "members":
            g, after = self.guilds[int(p[1])], int(q.get("after", 0))
            return _json([m for uid, m in sorted(g.members.items()) if uid > after][: int(q.get("limit", 1000))])
        if name == "automod_list":
            return _json(list(self.guilds[int(p[1])].automod.values()))
        if name in ("automod_create", "automod_edit"):
            g = self.guilds[int(p[1])]
            rid = int(p[4]) if name == "automod_edit" else self.snowflake()
            rule = {"id": str(rid), "guild_id": str(g.id), "creator_id": str(BOT), "event_type": 1,
                    "trigger_type": 1, "exempt_roles": [], "exempt_channels": [], "enabled": True, "actions": [],
                    "trigger_metadata": {}, **g.automod.get(rid, {}), **body}  # fmt: skip
            g.automod[rid] = rule
            return _json(rule)
        if name == "callback":
            self.callbacks.append({"id": p[1], "token": p[2], **body})
            return _json({"interaction": {"id": p[1], "type": 2, "response_message_loading": body.get("type") == 5,
                                          "response_message_ephemeral": False}})  # fmt: skip
        if name == "followup":
            token = p[2]
            m = self.message(0, BOT, body.get("content", ""), webhook_id=str(APP), interaction_token=token)
            return _json(m)
        return _json({"message": f"404: Not Found ({request.method} {request.path})", "code": 0}, 404)


def _name(method: str, p: list[str]) -> str:
    """Which documented endpoint a request is."""
    table: dict[tuple[str, ...], str] = {
        ("GET", "users", "@me"): "me",
        ("GET", "oauth2", "applications"): "application",
        ("GET", "gateway", "bot"): "gateway",
        ("POST", "users", "@me"): "open_dm",
    }
    if (method, *p[:2]) in table:
        return table[(method, *p[:2])]
    if p[0] == "applications" and p[-1] == "commands":
        return "commands"
    if p[0] == "channels":
        if len(p) == 3 and p[2] == "messages":
            return "send" if method == "POST" else "history"
        if len(p) == 4 and p[2] == "messages" and method == "DELETE":
            return "delete"
        if "pins" in p:
            return "pin"
        if len(p) == 4 and p[2] == "permissions":
            return "overwrite"
        if len(p) == 2 and method == "PATCH":
            return "channel"
    if p[0] == "guilds":
        if len(p) == 6 and p[4] == "roles":
            return "add_role" if method == "PUT" else "remove_role"
        if len(p) == 4 and p[2] == "members":
            return {"DELETE": "kick", "PATCH": "timeout"}.get(method, "member")
        if len(p) == 3 and p[2] == "members":
            return "members"
        if len(p) == 4 and p[2] == "bans":
            return "ban"
        if len(p) >= 4 and p[2] == "auto-moderation":
            return {"GET": "automod_list", "POST": "automod_create", "PATCH": "automod_edit"}.get(method, "automod")
    if p[0] == "users" and len(p) == 2 and method == "GET":
        return "user"
    if p[0] == "interactions":
        return "callback"
    if p[0] == "webhooks":
        return "followup"
    return f"{method} {'/'.join(p)}"


def _json(data: Any, status: int = 200, headers: dict[str, str] | None = None) -> web.Response:
    return web.Response(body=orjson.dumps(data), status=status, content_type="application/json", headers=headers)


def _iso() -> str:
    return datetime.now(UTC).isoformat()


class ThreadedDiscord:
    """Runs a :class:`FakeDiscord` on its own loop in a thread; calling it runs a coroutine there and waits."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, daemon=True)
        self.thread.start()

    def __call__(self, coro: Coroutine[Any, Any, T], timeout: float = 30) -> T:
        return asyncio.run_coroutine_threadsafe(coro, self.loop).result(timeout)

    def close(self) -> None:
        self(self.fake.close())
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5)
