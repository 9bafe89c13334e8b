"""An aiogram session that answers like the Bot API, offline: recorded updates for ``getUpdates``, the documented
result shapes for the methods shequn calls, and scripted failures (a 429 with ``retry_after``, a 403 …). Every
outgoing call is captured with its parameters and the (virtual) time it was made."""

from __future__ import annotations

import itertools
import json
from collections.abc import AsyncGenerator, Callable
from datetime import datetime
from typing import Any

from aiogram import Bot
from aiogram.client.session.base import BaseSession
from aiogram.methods import TelegramMethod


class RecordedSession(BaseSession):
    def __init__(self, batches: list[list[dict[str, Any]]] | None = None, now: Callable[[], datetime] | None = None):
        super().__init__()
        self.batches = list(batches or [])
        self.calls: list[tuple[str, dict[str, Any], datetime | None]] = []
        self.failures: dict[str, list[tuple[int, dict[str, Any]]]] = {}
        self.now = now
        self._ids = itertools.count(1000)

    def fail(self, method: str, status: int, description: str, **parameters: Any) -> None:
        body: dict[str, Any] = {"ok": False, "error_code": status, "description": description}
        if parameters:
            body["parameters"] = parameters
        self.failures.setdefault(method, []).append((status, body))

    def of(self, method: str) -> list[dict[str, Any]]:
        return [params for name, params, _ in self.calls if name == method]

    def _result(self, name: str, params: dict[str, Any]) -> Any:
        if name == "getUpdates":
            return self.batches.pop(0) if self.batches else []
        if name == "sendMessage":
            chat = params["chat_id"]
            return {
                "message_id": next(self._ids),
                "date": 1795000100,
                "chat": {"id": chat, "type": "supergroup" if int(chat) < 0 else "private"},
                "from": {"id": 900, "is_bot": True, "first_name": "shequn"},
                "text": params["text"],
            }
        if name == "createChatInviteLink":
            return {
                "invite_link": "https://t.me/+NewLink123",
                "creator": {"id": 900, "is_bot": True, "first_name": "shequn"},
                "creates_join_request": False,
                "is_primary": False,
                "is_revoked": False,
                "name": params.get("name"),
                "member_limit": params.get("member_limit"),
            }
        return True  # deleteMessage, banChatMember, restrictChatMember, pinChatMessage … answer True

    async def make_request(self, bot: Bot, method: TelegramMethod[Any], timeout: int | None = None) -> Any:
        name = method.__api_method__
        # What the real session would put on the wire, as JSON values (defaults resolved, dates as Unix time).
        params: dict[str, Any] = {}
        for key, value in method.model_dump(warnings=False).items():
            prepared = self.prepare_value(value, bot=bot, files={}, _dumps_json=False)
            if prepared is not None:
                params[key] = json.loads(json.dumps(prepared, default=str))
        self.calls.append((name, params, self.now() if self.now else None))
        queued = self.failures.get(name)
        if queued:
            status, body = queued.pop(0)
        else:
            status, body = 200, {"ok": True, "result": self._result(name, params)}
        return self.check_response(bot, method, status, json.dumps(body)).result

    async def stream_content(self, *args: Any, **kwargs: Any) -> AsyncGenerator[bytes, None]:
        raise NotImplementedError
        yield b""

    async def close(self) -> None:
        pass
