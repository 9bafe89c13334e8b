"""``shequn serve --workers 2`` on SQLite and PostgreSQL: writes arriving at both workers at once are taken one at a
time, and the saved state stays exactly what a replay of the log gives; security state (login throttling, logout,
revocation, role changes) is the same in both workers at once."""

from __future__ import annotations

import re
import signal
import subprocess
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from datetime import UTC, datetime

import httpx
import orjson

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.engine import replay
from shequn.services.accounts import ROLE_PERMS, Accounts, Role
from shequn.web.security import sign
from tests.web.conftest import populate
from tests.web.test_browser import SHEQUN, free_port


def test_two_workers_write_one_at_a_time(db_url: str) -> None:
    app = App(db_url, clock=VirtualClock(datetime(2026, 11, 4, tzinfo=UTC)))
    populate(app)
    accounts = Accounts(app)
    owner = accounts.create_user("owner", "a long password", "owner", actor="test")
    _, token = accounts.create_token(owner, "t", ROLE_PERMS[Role.OWNER], actor="test")
    secret = accounts.webhook_secret("shop")
    app.close()
    port = free_port()
    proc = subprocess.Popen([SHEQUN, "--db", db_url, "serve", "--port", str(port), "--workers", "2"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    auth = {"Authorization": f"Bearer {token}"}
    try:
        for _ in range(450):  # up to 90 s: two workers start slowly on a busy 2-core machine
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("shequn serve --workers 2 did not start")

        def tag(i: int) -> int:
            body = {"segment": {"community": "读书会"}, "action": "tag", "idempotency_key": f"k{i}", "value": f"t{i}"}
            return httpx.post(base + "/api/v1/segments/actions", json=body, headers=auth, timeout=60).status_code

        def order(i: int) -> int:
            raw = orjson.dumps({"order_id": f"o{i}", "amount": 100 + i, "currency": "CNY", "buyer_id": f"u{i % 12}",
                                "buyer_platform": "sandbox"})  # fmt: skip
            path = "/api/v1/webhooks/shop/orders"
            signature = sign(secret, "POST", path, raw, int(time.time()))
            headers = {"X-Shequn-Signature": signature, "Content-Type": "application/json"}
            return httpx.post(base + path, content=raw, headers=headers, timeout=60).status_code

        with ThreadPoolExecutor(max_workers=16) as pool:
            codes = list(pool.map(tag, range(16))) + list(pool.map(order, range(16)))
        assert codes == [200] * 32
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)
    app = App(db_url)
    try:
        app.catch_up()
        with app.store.transaction() as conn:
            cfg = app.workspace_config(conn)
            assert app.store.events.count_by_kind(conn, app.ws.id).get("order") == 16
        saved = app.saved_state()
        assert replay(cfg, app.events()).state.to_dict() == saved.to_dict()
        members = saved.communities["读书会"].members.values()
        assert all(m.tags == {f"t{i}" for i in range(16)} for m in members)
    finally:
        app.close()


@contextmanager
def serving(db_url: str, *args: str) -> Iterator[str]:
    """``shequn serve --workers 2 ARGS`` on a free port until the block ends; its base URL."""
    port = free_port()
    proc = subprocess.Popen([SHEQUN, "--db", db_url, "serve", "--port", str(port), "--workers", "2", *args],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(450):  # up to 90 s: two workers start slowly on a busy 2-core machine
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise AssertionError("shequn serve --workers 2 did not start")
        yield base
    finally:
        proc.send_signal(signal.SIGINT)
        proc.wait(timeout=20)


def _login(base: str, username: str, password: str, forwarded: str = "") -> tuple[int, str, str]:
    """(status, session cookie, CSRF token) of one login through the form, on a new connection (either worker)."""
    extra = {"X-Forwarded-For": forwarded} if forwarded else {}
    form = httpx.get(base + "/login", headers=extra)
    token = re.search(r'name="csrf" value="([^"]+)"', form.text).group(1)  # type: ignore[union-attr]
    r = httpx.post(base + "/login", data={"username": username, "password": password, "csrf": token},
                   headers={**extra, "Cookie": f"shequn_login={token}"})  # fmt: skip
    session = r.cookies.get("shequn_session") or ""
    csrf = ""
    if session:
        page = httpx.get(base + "/settings", headers={"Cookie": f"shequn_session={session}"})
        csrf = re.search(r'name="csrf" value="([^"]+)"', page.text).group(1)  # type: ignore[union-attr]
    return r.status_code, session, csrf


def _codes(n: int, request: object) -> set[int]:
    """The statuses of ``n`` requests, each on a new connection: the kernel hands them to both workers."""
    with ThreadPoolExecutor(max_workers=4) as pool:
        return set(pool.map(lambda _: request(), range(n)))  # type: ignore[operator]


def test_two_workers_share_throttles_sessions_tokens_and_roles(db_url: str) -> None:
    app = App(db_url)
    accounts = Accounts(app)
    owner = accounts.create_user("owner", "a long password", "owner", actor="test")
    accounts.create_user("op", "a long password", "operator", actor="test")
    _, owner_token = accounts.create_token(owner, "t", ROLE_PERMS[Role.OWNER], actor="test")
    op = next(u for u in accounts.users() if u.username == "op")
    _, op_token = accounts.create_token(op, "t", ROLE_PERMS[Role.OPERATOR], actor="test")
    app.close()
    admin = {"Authorization": f"Bearer {owner_token}"}
    with serving(db_url, "--insecure-cookies") as base:
        # Ten wrong passwords in all, whichever worker checks them, and X-Forwarded-For from a client that is no
        # configured proxy changes nothing: the address is the connection's.
        codes = [_login(base, f"nobody{i}", "wrong password", forwarded=f"10.0.0.{i}")[0] for i in range(12)]
        assert codes == [401] * 10 + [429] * 2, codes
        # A session logged out in one worker is refused by both at once.
        status, session, csrf = _login(base, "op", "a long password", forwarded="")
        assert status == 429  # this client address is still throttled: the count is shared and in the store
        with app_accounts(db_url) as acc:
            acc.login_cleared(("ip:127.0.0.1",), [])
        status, session, csrf = _login(base, "op", "a long password")
        assert status == 303 and session and csrf
        cookie = {"Cookie": f"shequn_session={session}"}
        assert _codes(12, lambda: httpx.get(base + "/api/v1/groups", headers=cookie).status_code) == {200}
        assert httpx.post(base + "/logout", headers={**cookie, "X-CSRF-Token": csrf}).status_code == 303
        assert _codes(12, lambda: httpx.get(base + "/api/v1/groups", headers=cookie).status_code) == {401}
        # A demoted user's token can no longer write, in either worker, from the next request on.
        bearer = {"Authorization": f"Bearer {op_token}"}
        tag = {"segment": {"community": "none"}, "action": "tag", "idempotency_key": "k", "value": "v"}

        def write() -> int:
            return httpx.post(base + "/api/v1/segments/actions", json=tag, headers=bearer).status_code

        assert 403 not in _codes(8, write)  # an operator may write (this community does not exist: 404)
        patched = httpx.patch(base + "/api/v1/users/op", json={"role": "viewer"}, headers=admin)
        assert patched.status_code == 200
        assert _codes(12, lambda: httpx.get(base + "/api/v1/events", headers=bearer).status_code) == {200}
        assert _codes(12, write) == {403}
        # A revoked token is refused by both at once.
        tokens = httpx.get(base + "/api/v1/tokens", headers=admin).json()
        op_id = next(t["id"] for t in tokens if t["owner"] == "op" and t["name"] == "t")
        assert httpx.delete(base + f"/api/v1/tokens/{op_id}", headers=admin).status_code in (200, 204)
        assert _codes(12, lambda: httpx.get(base + "/api/v1/events", headers=bearer).status_code) == {401}


@contextmanager
def app_accounts(db_url: str) -> Iterator[Accounts]:
    app = App(db_url)
    try:
        yield Accounts(app)
    finally:
        app.close()
