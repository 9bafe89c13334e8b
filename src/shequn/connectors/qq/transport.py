"""The WebSocket link to a OneBot v11 implementation, both ways, over aiohttp.

How it works:
    A :class:`Link` wraps one open socket (shequn dialled it: forward WebSocket; the implementation dialled shequn:
    reverse WebSocket, ``X-Client-Role: Universal``). Every frame is JSON. A frame with ``post_type`` is an event and
    goes to the link's handler; a frame with ``echo`` answers one of our calls (:meth:`Link.call` sends
    ``{"action", "params", "echo"}`` and waits for the answer with the same echo). Heartbeat meta events carry the
    interval to the next one: the watchdog closes a link that stayed silent for three intervals, so a half-open
    socket is noticed and redialled.

    :func:`dial` opens the forward socket with ``Authorization: Bearer <token>``; :class:`ReverseServer` listens on
    ``/onebot/v11/ws`` and refuses (401) a connection whose bearer token (or ``access_token`` query parameter, which
    the spec allows) is not the configured one, and (400) a client that is not Universal: actions go back over the
    socket events come on.

Things to keep in mind:
    * aiohttp, not a OneBot SDK: it is already installed with aiogram and matrix-nio, and offers the client and the
      server side; the protocol on top is a few dozen lines (see the README's QQ section for the comparison).
    * The token never reaches a log line.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import itertools
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import orjson

log = logging.getLogger("shequn.connectors.qq")

WS_PATH = "/onebot/v11/ws"
EventHandler = Callable[[Mapping[str, Any]], Awaitable[None]]


class LinkDownError(ConnectionError):
    """No socket to the implementation (or it closed while a call waited for its answer)."""


@dataclass(frozen=True, slots=True)
class Reply:
    """The implementation's answer to a call."""

    status: str
    retcode: int
    data: Any = None
    message: str = ""

    @property
    def ok(self) -> bool:
        return self.status in ("ok", "async") or self.retcode in (0, 1)


@dataclass(slots=True)
class Link:
    """One open socket: calls with echo, events to ``on_event``, a watchdog over the heartbeats."""

    ws: Any  # aiohttp ClientWebSocketResponse or web.WebSocketResponse
    on_event: EventHandler
    self_id: str = ""
    timeout: float = 15.0
    _pending: dict[str, asyncio.Future[Reply]] = field(default_factory=dict)
    _echo: Any = field(default_factory=lambda: itertools.count(1))
    _last: float = field(default_factory=time.monotonic)
    _interval: float = 0.0
    closed: asyncio.Event = field(default_factory=asyncio.Event)

    async def call(self, action: str, params: Mapping[str, Any] | None = None) -> Reply:
        """Call ``action`` and wait for its answer (:class:`LinkDownError` when the socket goes away first)."""
        if self.closed.is_set():
            raise LinkDownError("the OneBot link is closed")
        echo = f"shequn-{next(self._echo)}"
        future: asyncio.Future[Reply] = asyncio.get_running_loop().create_future()
        self._pending[echo] = future
        try:
            await self.ws.send_bytes(orjson.dumps({"action": action, "params": dict(params or {}), "echo": echo}))
            return await asyncio.wait_for(future, self.timeout)
        except (ConnectionError, RuntimeError) as exc:  # aiohttp raises these on a closing socket
            raise LinkDownError(f"the OneBot link closed during {action}") from exc
        finally:
            self._pending.pop(echo, None)

    async def run(self) -> None:
        """Read frames until the socket closes; then fail the calls still waiting."""
        from aiohttp import WSMsgType

        watchdog = asyncio.create_task(self._watch())
        try:
            async for msg in self.ws:
                if msg.type not in (WSMsgType.TEXT, WSMsgType.BINARY):
                    continue
                self._last = time.monotonic()
                try:
                    frame = orjson.loads(msg.data)
                except orjson.JSONDecodeError:
                    log.warning("onebot: a frame that is not JSON was ignored")
                    continue
                if isinstance(frame, Mapping):
                    await self._frame(frame)
        finally:
            watchdog.cancel()
            self.closed.set()
            for future in self._pending.values():
                if not future.done():
                    future.set_exception(LinkDownError("the OneBot link closed"))
            with contextlib.suppress(Exception):
                await self.ws.close()

    async def _frame(self, frame: Mapping[str, Any]) -> None:
        if "post_type" in frame:
            if frame.get("meta_event_type") == "heartbeat":
                self._interval = float(frame.get("interval") or 0) / 1000
            if not self.self_id and frame.get("self_id"):
                self.self_id = str(frame["self_id"])
            await self.on_event(frame)
            return
        echo = frame.get("echo")
        future = self._pending.get(str(echo)) if echo is not None else None
        if future is not None and not future.done():
            future.set_result(
                Reply(
                    status=str(frame.get("status", "")),
                    retcode=int(frame.get("retcode") or 0),
                    data=frame.get("data"),
                    message=" / ".join(
                        dict.fromkeys(str(frame[k]) for k in ("msg", "message", "wording") if frame.get(k))
                    ),
                )
            )

    async def _watch(self) -> None:
        while True:
            await asyncio.sleep(1.0)
            if self._interval and time.monotonic() - self._last > 3 * self._interval:
                log.warning("onebot: no heartbeat for %.0f s; closing the link to redial", 3 * self._interval)
                await self.ws.close()
                return

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"} if token else {}


def token_ok(expected: str, headers: Mapping[str, str], query: Mapping[str, str]) -> bool:
    """Whether a reverse connection carries the configured token (the header, or the spec's query parameter)."""
    if not expected:
        return True
    header = headers.get("Authorization", "")
    given = header[7:].strip() if header[:7].lower() == "bearer " else query.get("access_token", "")
    return bool(given) and hmac.compare_digest(given.encode(), expected.encode())


class ReverseServer:
    """Listens on ``host:port`` for the implementation's reverse WebSocket (``/onebot/v11/ws``)."""

    def __init__(self, listen: str, token: str, on_link: Callable[[Any, str], Awaitable[None]]) -> None:
        self.listen = listen
        self.token = token
        self.on_link = on_link
        self.refused = 0
        self._runner: Any = None

    async def start(self) -> None:
        from aiohttp import web

        async def connect(request: web.Request) -> web.StreamResponse:
            if not token_ok(self.token, request.headers, request.query):
                self.refused += 1
                log.warning("onebot: a reverse connection with a wrong or missing token was refused")
                return web.Response(status=401, text="wrong access token")
            role = request.headers.get("X-Client-Role", "Universal")
            if role.lower() != "universal":
                self.refused += 1
                log.warning("onebot: a reverse %s client was refused; configure a Universal client", role)
                return web.Response(status=400, text="shequn needs a Universal client (events and API on one socket)")
            ws = web.WebSocketResponse(heartbeat=30.0, max_msg_size=16 << 20)
            await ws.prepare(request)
            await self.on_link(ws, request.headers.get("X-Self-ID", ""))
            return ws

        app = web.Application()
        app.router.add_get(WS_PATH, connect)
        host, _, port = self.listen.rpartition(":")
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, host or "127.0.0.1", int(port)).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
