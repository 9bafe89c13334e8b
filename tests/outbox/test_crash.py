"""SIGKILL the runner (``shequn run``) again and again in the middle of a burst of thousands of sends, restart it,
and read what the fake platform shows (an fsync'ed file): nothing lost, nothing shown twice."""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from shequn.app import App
from shequn.connectors.fake import read_shown
from tests.outbox.conftest import enqueue_posts, workspace

GROUPS, PER_GROUP = 30, 100  # 3,000 posts


def start(db: str, shown: Path, mode: str) -> subprocess.Popen[bytes]:
    env = {**os.environ, "SHEQUN_FAKE_PATH": str(shown), "SHEQUN_FAKE_MODE": mode, "SHEQUN_FAKE_DELAY_MS": "3"}
    code = "from shequn.cli.main import main; main()"
    args = [sys.executable, "-c", code, "--db", db, "run", "-c", "fake", "--until-idle", "--no-scheduler", "--json"]
    return subprocess.Popen(args, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)


def lines(path: Path) -> int:
    return path.read_bytes().count(b"\n") if path.exists() else 0


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["confirm", "idempotent", "blind"])
def test_sigkill_during_a_burst_loses_nothing_and_repeats_nothing(mode: str, tmp_path: Path) -> None:
    db = str(tmp_path / "crash.db")
    app = workspace(db, groups=GROUPS)
    keys = enqueue_posts(app, [(f"g{i}", PER_GROUP) for i in range(GROUPS)])
    app.close()
    shown = tmp_path / "platform.jsonl"
    rng = random.Random(6)
    kills = 0
    while kills < 6:
        proc = start(db, shown, mode)
        before = lines(shown)
        deadline = time.monotonic() + 60
        while lines(shown) < before + rng.randint(50, 250) and proc.poll() is None and time.monotonic() < deadline:
            time.sleep(0.005)
        if proc.poll() is not None:
            break  # finished the burst before this kill
        time.sleep(rng.random() * 0.05)
        os.kill(proc.pid, signal.SIGKILL)
        proc.wait()
        kills += 1
    proc = start(db, shown, mode)  # the last run goes to the end
    _out, err = proc.communicate(timeout=300)
    assert proc.returncode == 0, err.decode()
    assert kills >= 3, "the burst ended before the runner could be killed mid-send"
    seen = [r["key"] for r in read_shown(shown)]
    assert len(seen) == len(set(seen)), "a post was shown twice"
    app = App(db)
    with app.store.transaction() as conn:
        counts = app.store.actions.count_by_status(conn, app.ws.id)
        tasks = app.store.tasks.list(conn, app.ws.id, limit=10_000)
    if mode == "blind":
        # No way to know what was in flight at each kill: those wait for a person, none is resent.
        unconfirmed = counts.get("unconfirmed", 0)
        assert unconfirmed > 0, "no kill hit a send in flight: the crash window was not exercised"
        assert counts == {"sent": len(keys) - unconfirmed, "unconfirmed": unconfirmed}
        assert len(tasks) == unconfirmed and {t.reason for t in tasks} <= {"outbox_unconfirmed"}
        assert len(set(seen)) >= len(keys) - unconfirmed and set(seen) <= set(keys)
    else:
        assert sorted(seen) == sorted(keys), "a post was lost"
        assert counts == {"sent": len(keys)} and not tasks
    # Within each group the platform saw the posts in the order they were decided.
    for g in range(GROUPS):
        mine = [k for k in seen if k.startswith(f"test:g{g}:")]
        assert mine == sorted(mine, key=lambda k: int(k.rsplit(":", 1)[1]))
    app.close()
