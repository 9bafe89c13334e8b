"""``shequn serve`` as a process (issue 17): a busy port is named before anything starts, in the user's language;
SIGTERM and Ctrl+C end every child (the analysis child, multiprocessing's resource tracker) and print one line."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from shequn.app import App
from shequn.services.accounts import ROLE_PERMS, Accounts, Role
from tests.conftest import T0
from tests.support.builders import join, msg, spec

SHEQUN = str(Path(sys.executable).with_name("shequn"))


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _children(pid: int) -> set[int]:
    """Every live descendant of ``pid`` (from /proc)."""
    parents: dict[int, int] = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            except OSError:
                continue
            parents[int(entry.name)] = int(fields[1])
    out: set[int] = set()
    todo = [pid]
    while todo:
        p = todo.pop()
        kids = {c for c, pp in parents.items() if pp == p}
        out |= kids
        todo.extend(kids)
    return out


def _alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.fixture
def db(tmp_path: Path) -> tuple[str, str]:
    url = f"sqlite:///{tmp_path / 'serve.db'}"
    app = App(url)
    try:
        app.apply_spec(spec("读书会", "growth", groups=("g1",)))
        app.ingest([join("u1", T0), msg("u1", T0, "大家好")], history=True)
        accounts = Accounts(app)
        user = accounts.create_user("amy", "correct horse battery", "owner", actor="test")
        _, token = accounts.create_token(user, "t", ROLE_PERMS[Role.OWNER], actor="test")
    finally:
        app.close()
    return url, token


@pytest.mark.parametrize(("sig", "workers"), [(signal.SIGTERM, 1), (signal.SIGINT, 1), (signal.SIGTERM, 2)])
def test_stopping_ends_every_child_and_prints_one_line(db: tuple[str, str], sig: signal.Signals, workers: int) -> None:
    url, token = db
    port = _free_port()
    env = {**os.environ, "SHEQUN_LANG": "en"}
    proc = subprocess.Popen([SHEQUN, "--db", url, "serve", "--port", str(port), "--workers", str(workers)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)  # fmt: skip
    try:
        base = f"http://127.0.0.1:{port}"
        for _ in range(150):
            try:
                if httpx.get(base + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        r = httpx.get(base + "/api/v1/communities", headers={"Authorization": f"Bearer {token}"}, timeout=120)
        assert r.status_code == 200  # the overview ran the analysis in its child process
        children = _children(proc.pid)
        assert len(children) >= 2 + (workers if workers > 1 else 0), children  # + the analysis child, its tracker
        proc.send_signal(sig)
        out, err = proc.communicate(timeout=30)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, (out, err)
    assert "Traceback" not in err and "Traceback" not in out
    assert out.strip().splitlines()[-1] == "console stopped"
    time.sleep(0.5)
    assert not [c for c in children if _alive(c)]


@pytest.mark.parametrize(("lang", "words"), [("en", "port {port} is already in use"), ("zh-CN", "端口 {port} 已被")])
def test_a_busy_port_is_named_before_anything_starts(db: tuple[str, str], lang: str, words: str) -> None:
    url, _ = db
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = subprocess.run([SHEQUN, "--db", url, "serve", "--port", str(port)], check=False, capture_output=True,
                              text=True, env={**os.environ, "SHEQUN_LANG": lang}, timeout=60)  # fmt: skip
    assert done.returncode == 2
    assert words.format(port=port) in done.stderr and f"--port {port + 1}" in done.stderr
    assert done.stdout == ""  # nothing announced as started
