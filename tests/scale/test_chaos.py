"""Chaos: several `shequn worker` processes on the real PostgreSQL, a burst of events, workers SIGKILLed at random
moments and new ones started; afterwards every event processed exactly once (`shequn replay --check`), each
community's actions in log order, each check-in acknowledged once. And one pool of two workers for fifty workspaces."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import time
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from shequn.app import App
from shequn.cli.main import main
from shequn.services.worker import Worker, WorkerOptions, check_replay
from shequn.store import Store
from tests.support.builders import join, msg, spec
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.pg

SHEQUN = str(Path(sys.executable).parent / "shequn")
NOW = {"acks": {"batch_minutes": 0}}


@pytest.fixture
def pg(postgres: PostgresServer) -> str:
    postgres.reset()
    return postgres.url


def _start(url: str, tmp: Path, n: int) -> subprocess.Popen[bytes]:
    out = open(tmp / f"worker{n}.log", "wb")  # noqa: SIM115 - the worker writes to it until it ends
    return subprocess.Popen(
        [SHEQUN, "--db", url, "worker", "--lease", "1", "--batch", "40", "--id", f"w{n}"], stdout=out, stderr=out
    )


def _lag(app: App) -> int:
    with app.store.transaction() as conn:
        return sum(r.lag for r in app.store.shards.rows(conn, workspace_id=app.ws.id))


def _wait_caught_up(apps: list[App], procs: list[subprocess.Popen[bytes]], timeout: float = 40) -> None:
    end = time.monotonic() + timeout
    while any(_lag(a) for a in apps):
        assert time.monotonic() < end, f"workers did not catch up: lag {[_lag(a) for a in apps]}"
        assert any(p.poll() is None for p in procs), "every worker has exited"
        time.sleep(0.2)


def _stop(procs: list[subprocess.Popen[bytes]]) -> None:
    for p in procs:
        if p.poll() is None:
            p.send_signal(signal.SIGTERM)
    for p in procs:
        assert p.wait(timeout=20) in (0, -signal.SIGKILL)


def _replay_check(url: str, workspace: str = "default") -> int:
    with pytest.raises(SystemExit) as exc:
        main(["--db", url, "--workspace", workspace, "replay", "--check"])
    return int(exc.value.code or 0)


def _events(groups: list[str], people: int, start: datetime) -> list[Any]:
    out: list[Any] = []
    at = start
    for p in range(people):
        for g in groups:
            at += timedelta(milliseconds=200)
            out.append(join(f"u{p}", at, group=g))
            out.append(msg(f"u{p}", at + timedelta(milliseconds=50), "签到 今天读了30页", group=g))
            out.append(msg(f"u{p}", at + timedelta(milliseconds=100), "大家早上好", group=g))
    return out


def test_workers_killed_and_started_during_a_burst_process_every_event_exactly_once(pg: str, tmp_path: Path) -> None:
    rng = random.Random(19)
    setup = App(pg)
    groups = [f"g{i}" for i in range(8)]
    for i, g in enumerate(groups):
        setup.apply_spec(spec(f"c{i}", groups=(g,), policies=NOW))
    setup.close()
    Worker(pg, options=WorkerOptions(shards=16)).close()  # the deployment's shard count, set once
    app = App(pg)
    assert app.workers
    procs = [_start(pg, tmp_path, n) for n in range(3)]
    started = 3
    events = _events(groups, 30, datetime.now(UTC).replace(microsecond=0))
    chunks = [events[i : i + 24] for i in range(0, len(events), 24)]
    kill_at = set(rng.sample(range(3, len(chunks) - 3), 2))
    try:
        for k, chunk in enumerate(chunks):
            app.ingest(chunk)
            time.sleep(rng.uniform(0.02, 0.12))
            if k in kill_at:
                victim = rng.choice([p for p in procs if p.poll() is None])
                victim.send_signal(signal.SIGKILL)  # no goodbye: its leases must expire
                procs.append(_start(pg, tmp_path, started))
                started += 1
        _wait_caught_up([app], procs)
    finally:
        _stop(procs)
    assert sum(p.returncode == -signal.SIGKILL for p in procs) == 2
    assert _replay_check(pg) == 0  # every event applied exactly once: the saved state equals a replay

    with app.store.transaction() as conn:
        generations = conn.execute(text("SELECT MAX(generation) FROM shard_lease")).scalar_one()
        seq = dict(conn.execute(text("SELECT uid, seq FROM event")).all())
        actions = conn.execute(text("SELECT id, community_id, kind, payload FROM action ORDER BY id")).all()
    assert len(seq) == len(events)
    assert generations >= 2  # shards changed hands (taken over from the killed, rebalanced to the new)
    by_community: dict[int, list[int]] = defaultdict(list)
    acks: dict[str, int] = defaultdict(int)
    for _, community, kind, payload in actions:
        cause = orjson.loads(payload).get("cause", "")
        by_community[community].append(seq[cause])
        if kind == "post" and orjson.loads(payload).get("policy") == "checkin":
            acks[cause] += 1
    assert len(by_community) == 8
    for causes in by_community.values():
        assert causes == sorted(causes)  # each community's actions in the order of the events that caused them
    checkins = [e.id for e in events if getattr(e, "text", "").startswith("签到")]
    assert len(checkins) == 240 and all(acks[c] == 1 for c in checkins)  # each check-in acknowledged once
    app.close()


def test_two_workers_serve_fifty_workspaces(pg: str, tmp_path: Path) -> None:
    names = [f"ws{i:02d}" for i in range(50)]
    for name in names:
        setup = App(pg, workspace=name)
        for c in range(2):
            setup.apply_spec(spec(f"c{c}", groups=(f"{name}-g{c}",), policies=NOW))
        setup.close()
    Worker(pg, options=WorkerOptions(shards=16)).close()
    procs = [_start(pg, tmp_path, n) for n in range(2)]
    store = Store(pg)  # one connection pool for the fifty workspaces' appenders
    apps = [App(workspace=name, store=store) for name in names]
    logged: dict[str, list[Any]] = {}
    try:
        start = datetime.now(UTC).replace(microsecond=0)
        for name, app in zip(names, apps, strict=True):  # every workspace's burst goes in while the workers run
            logged[name] = _events([f"{name}-g0", f"{name}-g1"], 3, start)
            app.ingest(logged[name])
        _wait_caught_up(apps, procs, timeout=90)
    finally:
        _stop(procs)
    assert all(p.returncode == 0 for p in procs)  # SIGTERM: shards given back, clean exit
    with apps[0].store.transaction() as conn:
        acks = conn.execute(
            text(
                "SELECT w.name, a.payload FROM action a JOIN workspace w ON w.id = a.workspace_id WHERE a.kind = 'post'"
            )
        ).all()
    per_ws: dict[str, Counter[str]] = defaultdict(Counter)
    for name, payload in acks:
        action = orjson.loads(payload)
        if action.get("policy") == "checkin":
            per_ws[name][action["cause"]] += 1
    for name, app in zip(names, apps, strict=True):
        same, replayed, lag = check_replay(app)
        assert same and lag == 0 and replayed >= len(logged[name])  # exactly once: the saved state equals a replay
        checkins = [e.id for e in logged[name] if getattr(e, "text", "").startswith("签到")]
        assert len(checkins) == 6 and all(per_ws[name][c] == 1 for c in checkins), name  # each acknowledged once
        assert len(app.saved_state().communities["c0"].members) == 3
    store.close()
