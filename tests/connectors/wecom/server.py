"""A local WeCom server API (aiohttp on 127.0.0.1) answering with the documented response shapes and error codes:
``gettoken``; ``externalcontact/groupchat/list|get``; ``add_msg_template``; ``groupchat/add_join_way|get_join_way|
update_join_way``; ``group_welcome_template/add|edit|get|del`` (document 92366: ``text.content`` with ``%NICKNAME%``,
``notify``; ``template_id`` back); ``get_groupmsg_task`` (``task_list`` of ``userid``/``status`` 0 unsent, 2 sent/
``send_time``), ``get_groupmsg_send_result`` (``send_list`` of ``chat_id``/``userid``/``status`` 0 unsent, 1 sent/
``send_time``) and ``remind_groupmsg_send`` (document 93338), both paged by ``next_cursor``; token expiry (42001)
and the API rate limit (45009) on demand."""

from __future__ import annotations

import itertools
from typing import Any

from aiohttp import web

from tests.support.synapse import free_port

CORP, SECRET = "ww0123456789abcdef", "contact-secret-not-real"


class FakeWeCom:
    def __init__(self) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.tokens: set[str] = set()
        self.issued = itertools.count(1)
        self.calls: list[tuple[str, dict[str, Any]]] = []
        self.fail_next: dict[str, int] = {}  # path → errcode to answer once
        self.groups: dict[str, dict[str, Any]] = {}
        self.templates: list[dict[str, Any]] = []
        self.join_ways: dict[str, dict[str, Any]] = {}
        self.welcome_templates: dict[str, dict[str, Any]] = {}
        self.template_ids = itertools.count(1)
        self.confirmed: dict[str, int] = {}  # msgid → send_time, once the owner confirmed the 群发
        self.reminders: list[str] = []
        self._runner: web.AppRunner | None = None

    def group(self, chat: str, owner: str, members: list[dict[str, Any]], name: str = "") -> None:
        self.groups[chat] = {"chat_id": chat, "name": name or chat, "owner": owner, "create_time": 1795000000,
                             "member_list": members, "admin_list": []}  # fmt: skip

    def confirm(self, msgid: str, at: int) -> None:
        """The group owner confirms the 群发 ``msgid`` in the WeCom client."""
        self.confirmed[msgid] = at

    def expire_tokens(self) -> None:
        self.tokens.clear()

    async def start(self) -> None:
        app = web.Application()
        app.router.add_get("/cgi-bin/gettoken", self._gettoken)
        app.router.add_post("/cgi-bin/{path:.+}", self._api)
        self._runner = web.AppRunner(app, access_log=None)
        await self._runner.setup()
        await web.TCPSite(self._runner, "127.0.0.1", self.port).start()

    async def stop(self) -> None:
        if self._runner is not None:
            await self._runner.cleanup()

    async def _gettoken(self, request: web.Request) -> web.Response:
        q = request.query
        if q.get("corpid") != CORP or q.get("corpsecret") != SECRET:
            return web.json_response({"errcode": 40001, "errmsg": "invalid credential"})
        token = f"token-{next(self.issued)}"
        self.tokens.add(token)
        return web.json_response({"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200})

    async def _api(self, request: web.Request) -> web.Response:
        path = request.match_info["path"]
        body = await request.json()
        self.calls.append((path, body))
        if request.query.get("access_token") not in self.tokens:
            return web.json_response({"errcode": 42001, "errmsg": "access_token expired"})
        if path in self.fail_next:
            code = self.fail_next.pop(path)
            return web.json_response({"errcode": code, "errmsg": "api freq out of limit" if code == 45009 else "x"})
        ok = {"errcode": 0, "errmsg": "ok"}
        if path == "externalcontact/groupchat/list":
            return web.json_response({**ok, "group_chat_list": [{"chat_id": c, "status": 0} for c in self.groups]})
        if path == "externalcontact/groupchat/get":
            g = self.groups.get(body["chat_id"])
            if g is None:
                return web.json_response({"errcode": 40050, "errmsg": "chatid not exist"})
            return web.json_response({**ok, "group_chat": g})
        if path == "externalcontact/add_msg_template":
            self.templates.append(body)
            return web.json_response({**ok, "fail_list": [], "msgid": f"msg{len(self.templates)}"})
        if path == "externalcontact/groupchat/add_join_way":
            config_id = f"cfg{len(self.join_ways) + 1}"
            self.join_ways[config_id] = {
                **body,
                "config_id": config_id,
                "qr_code": f"https://wework.qpic.cn/{config_id}",
            }
            return web.json_response({**ok, "config_id": config_id})
        if path == "externalcontact/groupchat/get_join_way":
            return web.json_response({**ok, "join_way": self.join_ways[body["config_id"]]})
        if path == "externalcontact/groupchat/update_join_way":
            self.join_ways[body["config_id"]].update(body)
            return web.json_response(ok)
        if path == "externalcontact/group_welcome_template/add":
            template_id = f"tpl{next(self.template_ids)}"
            self.welcome_templates[template_id] = {"text": body["text"], "notify": body.get("notify", 1)}
            return web.json_response({**ok, "template_id": template_id})
        if path.startswith("externalcontact/group_welcome_template/"):
            found = self.welcome_templates.get(body.get("template_id", ""))
            if found is None:
                return web.json_response({"errcode": 41063, "errmsg": "template not exist"})
            if path.endswith("/edit"):
                found["text"] = body["text"]
            elif path.endswith("/del"):
                del self.welcome_templates[body["template_id"]]
            elif path.endswith("/get"):
                return web.json_response({**ok, "text": found["text"]})
            return web.json_response(ok)
        if path in ("externalcontact/get_groupmsg_task", "externalcontact/get_groupmsg_send_result"):
            msgid = body["msgid"]
            sent = next((t for i, t in enumerate(self.templates, 1) if f"msg{i}" == msgid), None)
            if sent is None:
                return web.json_response({"errcode": 41062, "errmsg": "msgid not exist"})
            at = self.confirmed.get(msgid)
            if path.endswith("get_groupmsg_task"):
                task = {"userid": sent["sender"], "status": 2 if at else 0, **({"send_time": at} if at else {})}
                return web.json_response({**ok, "next_cursor": "", "task_list": [task]})
            rows = [
                {"chat_id": c, "userid": sent["sender"], "status": 1 if at else 0, **({"send_time": at} if at else {})}
                for c in sent["chat_id_list"]
            ]
            return web.json_response({**ok, "next_cursor": "", "send_list": rows})
        if path == "externalcontact/remind_groupmsg_send":
            self.reminders.append(body["msgid"])
            return web.json_response(ok)
        return web.json_response({"errcode": 60011, "errmsg": "no privilege"})
