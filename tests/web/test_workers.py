"""``shequn serve --workers 2`` on SQLite and PostgreSQL: writes arriving at both workers at once are taken one at a
time, and the saved state stays exactly what a replay of the log gives."""

from __future__ import annotations

import signal
import subprocess
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import httpx
import orjson

from shequn.accounts import ROLE_PERMS, Accounts, Role
from shequn.app import App
from shequn.domain import VirtualClock
from shequn.engine import replay
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
        for _ in range(150):
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
