"""Helpers of the live Matrix tests: a community bound to real rooms, ``shequn run`` as a child process."""

from __future__ import annotations

import contextlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any, TypeVar

from tests.support.synapse import Account, Synapse

T = TypeVar("T")
MAIN = "from shequn.cli.main import main; main()"
LIMITS = (
    "platforms:\n  - platform: matrix\n    limits: [{scope: bot, count: 1000, seconds: 1, documented: {url: "
    '"https://element-hq.github.io/synapse/latest/usage/configuration/config_documentation.html#rc_message", '
    'quote: "rc_message relaxed for tests"}}]\n'
)


def shequn(db: str, *args: str) -> subprocess.CompletedProcess[str]:
    out = subprocess.run(
        [sys.executable, "-c", MAIN, "--db", db, *args], capture_output=True, text=True, timeout=120, check=False
    )
    assert out.returncode == 0, out.stderr
    return out


def start_run(db: str, hs: Synapse, bot: Account, *extra: str, secrets: Path | None = None) -> subprocess.Popen[str]:
    env = {**os.environ, "SHEQUN_MATRIX_HOMESERVER": hs.url, "SHEQUN_MATRIX_USER": bot.user_id}
    # The test homeserver exempts everyone from its rate limits, as admins exempt their bots (Synapse's default
    # for a user is 10 then one per 5 s, which the outbox keeps to unless told otherwise).
    limits = Path(db).with_suffix(".limits.yaml")
    limits.write_text(LIMITS, encoding="utf-8")
    args = [sys.executable, "-c", MAIN, "--db", db, "run", "-c", "matrix", "--tick", "1", "--json"]
    args += ["--limits", str(limits), *extra]
    if secrets is None:
        env["SHEQUN_MATRIX_TOKEN"] = bot.token
    else:
        args += ["--secrets", str(secrets)]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def stop_run(proc: subprocess.Popen[str], sig: int = signal.SIGTERM) -> tuple[str, str]:
    if proc.poll() is None:
        os.kill(proc.pid, sig)
    try:
        out, err = proc.communicate(timeout=30)
    except subprocess.TimeoutExpired:
        os.kill(proc.pid, signal.SIGKILL)
        out, err = proc.communicate()
    return out, err


@contextlib.contextmanager
def running(db: str, hs: Synapse, bot: Account, *extra: str, secrets: Path | None = None) -> Any:
    proc = start_run(db, hs, bot, *extra, secrets=secrets)
    try:
        wait_for(lambda: synced(db) or proc.poll() is not None, 60, "the first sync")
        assert proc.poll() is None, proc.communicate()[1]
        yield proc
    finally:
        stop_run(proc)


def wait_for(check: Callable[[], T], timeout: float, what: str, every: float = 0.05) -> T:
    deadline = time.monotonic() + timeout
    while True:
        value = check()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out after {timeout:g} s waiting for {what}")
        time.sleep(every)


def query(db: str, sql: str, *params: Any) -> list[tuple[Any, ...]]:
    with contextlib.closing(sqlite3.connect(db, timeout=30)) as conn:
        return list(conn.execute(sql, params))


def synced(db: str) -> bool:
    with contextlib.suppress(sqlite3.OperationalError):
        return bool(query(db, "select 1 from connector_cursor where connector='matrix' and name='since'"))
    return False


def bot_texts(viewer: Account, room: str, bot: Account) -> list[str]:
    return [
        str(e["content"].get("body", ""))
        for e in viewer.messages(room)
        if e["type"] == "m.room.message" and e["sender"] == bot.user_id
    ]


def community_yaml(name: str, main: str, admin: str, extra: str = "") -> str:
    return f"""name: {name}
type: growth
locale: zh-CN
timezone: UTC
threshold: {{kind: none}}
size: {{capacity: 6, warn_at: 0.5}}
groups:
  - {{platform: matrix, id: "{main}", name: 主群}}
  - {{platform: matrix, id: "{admin}", name: 管理群, role: admin}}
policies:
  moderation: {{ladder: [warn, remove]}}
{extra}"""
