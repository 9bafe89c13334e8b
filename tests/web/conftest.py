"""A small workspace served by the real web application: two communities, members with messages, a user and an API
token for every role."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.services.accounts import ROLE_PERMS, Accounts, Role
from shequn.web import create_app
from tests.conftest import T0
from tests.support.builders import join, msg, spec

PASSWORD = "correct horse battery"
ROLES = ("viewer", "operator", "owner")


@dataclass
class Site:
    app: App
    web: FastAPI
    accounts: Accounts
    tokens: dict[str, str]  # role → API token text
    clock: VirtualClock

    def client(self) -> TestClient:
        """A client on https (the session cookie is Secure) that does not follow redirects."""
        return TestClient(self.web, base_url="https://testserver", follow_redirects=False)

    def session(self, role: str) -> dict[str, str]:
        """Headers of a fresh session of ``role``: its cookie and its CSRF token."""
        user = next(u for u in self.accounts.users() if u.username == role)
        token, csrf = self.accounts.login(user)
        return {"Cookie": f"shequn_session={token}", "X-CSRF-Token": csrf}

    def bearer(self, role: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[role]}"}


def populate(app: App) -> None:
    app.apply_spec(spec("读书会", "growth", groups=("g1", "g2")))
    app.apply_spec(spec("水果团", "consumption", groups=("g3",)))
    events = []
    at = T0
    for i in range(12):
        events.append(join(f"u{i}", at + timedelta(minutes=i), group="g1" if i < 8 else "g2", name=f"成员{i}"))
    for i in range(4):
        events.append(join(f"c{i}", at + timedelta(minutes=i), group="g3", name=f"顾客{i}"))
    for i in range(40):
        events.append(msg(f"u{i % 5}", at + timedelta(hours=1, minutes=i), f"第{i}条", group="g1"))
    app.ingest(events, history=True)


def make_site(db: str, clock: VirtualClock) -> Site:
    app = App(db, clock=clock)
    populate(app)
    accounts = Accounts(app)
    tokens: dict[str, str] = {}
    for role in ROLES:
        user = accounts.create_user(role, PASSWORD, role, actor="test")
        _, text = accounts.create_token(user, f"{role} token", ROLE_PERMS[Role(role)], actor="test")
        tokens[role] = text
    return Site(app, create_app(app), accounts, tokens, clock)


@pytest.fixture
def site(tmp_path: Path) -> Iterator[Site]:
    clock = VirtualClock(T0 + timedelta(days=2))
    s = make_site(f"sqlite:///{tmp_path / 'web.db'}", clock)
    try:
        yield s
    finally:
        s.app.close()


def asgi_post(
    site: Site, path: str, headers: dict[str, str], *, chunks: int, first: bytes = b" " * 65536
) -> tuple[int, int]:
    """POST ``first`` then chunks of 64 KiB (``chunks`` in all, no declared length) straight to the ASGI app (a
    test client reads the whole body before the app sees it); return (status, chunks the app pulled)."""

    pulled = 0
    status = 0

    async def receive() -> dict[str, object]:
        nonlocal pulled
        pulled += 1
        body = first if pulled == 1 else b" " * 65536
        return {"type": "http.request", "body": body, "more_body": pulled < chunks}

    async def send(message: dict[str, object]) -> None:
        nonlocal status
        if message["type"] == "http.response.start":
            status = int(message["status"])  # type: ignore[call-overload]

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": "POST", "scheme": "https",
        "path": path, "raw_path": path.encode(), "root_path": "", "query_string": b"",
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
        "client": ("127.0.0.1", 1), "server": ("testserver", 443), "state": {},
    }  # fmt: skip
    asyncio.run(site.web(scope, receive, send))  # type: ignore[arg-type]
    return status, pulled
