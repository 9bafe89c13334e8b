"""The WeCom server API over httpx: access token with refresh, error codes mapped to the outbox's errors.

The token (``gettoken``, valid ``expires_in`` seconds, 7200) is cached and renewed five minutes early; a call
answered 42001 (token expired) or 40014 (invalid token) renews it once and is tried again. 45009 (API rate limit)
becomes :class:`RetryAfterError` for the whole bot (WeCom names no wait: a minute). The corp secret travels only
in the ``gettoken`` query and never reaches a log line or an error message.
"""

from __future__ import annotations

import time
from typing import Any

from shequn.outbox.errors import PermanentSendError, RetryAfterError, SendError

EXPIRED = frozenset({42001, 40014})
RATE_LIMITED = frozenset({45009, 45033})
BUSY = frozenset({-1})
RATE_LIMIT_WAIT_S = 60.0


class WeComError(SendError):
    def __init__(self, path: str, code: int, message: str) -> None:
        super().__init__(f"wecom {path}: errcode {code} {message}")
        self.code = code


class WeComAPI:
    """One corp's app: ``corp_id`` and the customer-contact secret (客户联系 secret)."""

    def __init__(self, corp_id: str, secret: str, *, base_url: str = "https://qyapi.weixin.qq.com", client: Any = None):
        import httpx

        self.corp_id = corp_id
        self._secret = secret
        self.base_url = base_url.rstrip("/")
        self.client = client or httpx.AsyncClient(timeout=15)
        self._token = ""
        self._expires = 0.0
        self.token_fetches = 0

    def __repr__(self) -> str:
        return f"WeComAPI({self.corp_id!r})"

    async def close(self) -> None:
        await self.client.aclose()

    async def token(self, *, renew: bool = False) -> str:
        if self._token and not renew and time.monotonic() < self._expires:
            return self._token
        r = await self.client.get(
            f"{self.base_url}/cgi-bin/gettoken", params={"corpid": self.corp_id, "corpsecret": self._secret}
        )
        data = r.json()
        self._check("gettoken", data)
        self.token_fetches += 1
        self._token = str(data["access_token"])
        self._expires = time.monotonic() + max(int(data.get("expires_in", 7200)) - 300, 60)
        return self._token

    def _check(self, path: str, data: Any) -> None:
        code = int(data.get("errcode", 0)) if isinstance(data, dict) else -2
        if code == 0:
            return
        message = str(data.get("errmsg", "")) if isinstance(data, dict) else "not JSON"
        if code in RATE_LIMITED:
            raise RetryAfterError(RATE_LIMIT_WAIT_S, scope="bot", message=f"wecom {path}: errcode {code} {message}")
        if code in EXPIRED or code in BUSY:
            raise WeComError(path, code, message)
        raise PermanentSendError(f"wecom {path}: errcode {code} {message}")

    async def call(self, path: str, body: dict[str, Any] | None = None) -> dict[str, Any]:
        """POST (or GET without a body) ``/cgi-bin/{path}``; renews the token once on 42001/40014."""
        for attempt in (0, 1):
            token = await self.token(renew=attempt == 1)
            url = f"{self.base_url}/cgi-bin/{path}"
            if body is None:
                r = await self.client.get(url, params={"access_token": token})
            else:
                r = await self.client.post(url, params={"access_token": token}, json=body)
            if r.status_code >= 500:
                raise SendError(f"wecom {path}: HTTP {r.status_code}")
            data = r.json()
            try:
                self._check(path, data)
            except WeComError as exc:
                if exc.code in EXPIRED and attempt == 0:
                    continue
                raise
            return dict(data)
        raise AssertionError("unreachable")

    # -- customer groups ----------------------------------------------------------------------------------------

    async def group_ids(self) -> list[str]:
        """Every customer group of the app's staff (``groupchat/list``, paged by cursor)."""
        out: list[str] = []
        cursor = ""
        while True:
            data = await self.call(
                "externalcontact/groupchat/list", {"status_filter": 0, "limit": 1000, "cursor": cursor}
            )
            out += [str(g["chat_id"]) for g in data.get("group_chat_list", [])]
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return out

    async def group(self, chat_id: str) -> dict[str, Any]:
        data = await self.call("externalcontact/groupchat/get", {"chat_id": chat_id, "need_name": 1})
        return dict(data["group_chat"])

    async def add_msg_template(self, sender: str, chat_id: str, text: str) -> dict[str, Any]:
        """群发 to one customer group: a task the owner ``sender`` confirms in WeCom before it goes out."""
        body = {"chat_type": "group", "sender": sender, "chat_id_list": [chat_id], "text": {"content": text}}
        return await self.call("externalcontact/add_msg_template", body)

    async def add_join_way(self, chat_ids: list[str], state: str, remark: str = "") -> str:
        body = {"scene": 2, "remark": remark, "auto_create_room": 0, "chat_id_list": chat_ids[:5], "state": state}
        return str((await self.call("externalcontact/groupchat/add_join_way", body))["config_id"])

    async def get_join_way(self, config_id: str) -> dict[str, Any]:
        data = await self.call("externalcontact/groupchat/get_join_way", {"config_id": config_id})
        return dict(data["join_way"])

    async def update_join_way(self, config_id: str, chat_ids: list[str], state: str, remark: str = "") -> None:
        body = {"config_id": config_id, "scene": 2, "remark": remark, "auto_create_room": 0}
        await self.call(
            "externalcontact/groupchat/update_join_way", {**body, "chat_id_list": chat_ids[:5], "state": state}
        )

    # -- group welcome templates (入群欢迎语素材) ------------------------------------------------------------------

    async def add_welcome_template(self, text: str, *, notify: bool = True) -> str:
        """Add a group welcome template (``group_welcome_template/add``); its ``template_id``. ``notify`` asks WeCom to
        tell the staff to apply it to their customer groups."""
        body = {"text": {"content": text}, "notify": 1 if notify else 0}
        return str((await self.call("externalcontact/group_welcome_template/add", body))["template_id"])

    async def edit_welcome_template(self, template_id: str, text: str) -> None:
        body = {"template_id": template_id, "text": {"content": text}}
        await self.call("externalcontact/group_welcome_template/edit", body)

    async def get_welcome_template(self, template_id: str) -> dict[str, Any]:
        """The template (``text``, ``image`` …) as WeCom keeps it."""
        return await self.call("externalcontact/group_welcome_template/get", {"template_id": template_id})

    async def del_welcome_template(self, template_id: str) -> None:
        await self.call("externalcontact/group_welcome_template/del", {"template_id": template_id})

    # -- 群发 confirmation -----------------------------------------------------------------------------------------

    async def groupmsg_tasks(self, msgid: str) -> list[dict[str, Any]]:
        """Who must send a 群发 and whether they have (``get_groupmsg_task``: ``status`` 0 not sent, 2 sent)."""
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            data = await self.call(
                "externalcontact/get_groupmsg_task", {"msgid": msgid, "limit": 1000, "cursor": cursor}
            )
            out += list(data.get("task_list") or [])
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return out

    async def groupmsg_results(self, msgid: str, userid: str) -> list[dict[str, Any]]:
        """Per customer group, whether ``userid``'s 群发 reached it (``get_groupmsg_send_result``: ``status`` 0 not
        sent, 1 sent, 2 not a friend, 3 the customer's quota was used up)."""
        out: list[dict[str, Any]] = []
        cursor = ""
        while True:
            body = {"msgid": msgid, "userid": userid, "limit": 1000, "cursor": cursor}
            data = await self.call("externalcontact/get_groupmsg_send_result", body)
            out += list(data.get("send_list") or [])
            cursor = str(data.get("next_cursor") or "")
            if not cursor:
                return out

    async def remind_groupmsg(self, msgid: str) -> None:
        """Ask WeCom to notify the member again (``remind_groupmsg_send``; three times per 群发 in 24 hours)."""
        await self.call("externalcontact/remind_groupmsg_send", {"msgid": msgid})
