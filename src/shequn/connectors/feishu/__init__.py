"""Feishu / Lark (飞书): group chats through the official SDK ``lark-oapi`` — events over its long connection or the
HTTP callback ``shequn run`` serves, actions through the Open API."""
