"""``shequn bench storm``: the 07:30 check-in storm on PostgreSQL through ``shequn worker`` processes.

Every member of ``groups`` groups checks in within a short window while chat goes on; this process appends the
events to the log in micro-batches (as connectors would), ``workers`` worker processes run the engine. Measured:
events per second from the first append until every shard has caught up, the check-in → acknowledgement decision
latency (the acknowledgement's row written minus the check-in's row written, both in the store), the CPU per event
of the appending side and of the workers (from ``/proc``), and check-ins acknowledged twice or never (both must be
0). Sending is not part of it: the outbox is sent by ``shequn run`` as before.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from shequn.app import App
from shequn.domain import Join, JoinMethod, Message, UserError, stable_id
from shequn.i18n import t
from shequn.playbook.spec import CommunitySpec
from shequn.services.worker import Worker
from shequn.store import normalize_url


def _cpu_s(pid: int) -> float:
    """User + system CPU seconds of a process (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _pct(xs: list[int], q: float) -> float:
    if not xs:
        return 0.0
    xs = sorted(xs)
    return float(xs[min(len(xs) - 1, int(q * len(xs)))])


def _lag(app: App) -> int:
    with app.store.transaction() as conn:
        return sum(r.lag for r in app.store.shards.rows(conn, workspace_id=app.ws.id))


def _wait(app: App, procs: list[subprocess.Popen[bytes]], timeout: float) -> None:
    end = time.monotonic() + timeout
    while _lag(app):
        if time.monotonic() > end or all(p.poll() is not None for p in procs):
            raise UserError(f"the workers did not catch up within {timeout:.0f} s")
        time.sleep(0.05)


def run(url: str | None, *, groups: int, workers: int, members: int, chat: int, seed: int = 7) -> dict[str, Any]:
    """Set up a fresh workspace, start the workers, run the storm, stop them; return the figures."""
    if normalize_url(url).startswith("sqlite"):
        raise UserError(t("storm.sqlite", None), exit_code=2)
    ws = f"storm-{int(time.time())}"
    setup = App(url, workspace=ws)
    names = [f"{ws}-g{i}" for i in range(groups)]
    for i, g in enumerate(names):
        setup.apply_spec(
            CommunitySpec.model_validate(
                {
                    "name": f"storm{i}",
                    "type": "growth",
                    "groups": [{"platform": "sandbox", "id": g, "name": g}],
                    "policies": {"acks": {"batch_minutes": 0}},
                }
            )
        )
    setup.close()
    Worker(url).close()  # the shard count: the database's, or the default for a new one
    shequn = str(Path(sys.executable).parent / "shequn")
    procs = [
        subprocess.Popen(
            [shequn, "--db", url or "", "worker", "--id", f"{ws}-w{n}"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    app = App(url, workspace=ws)
    rng = random.Random(seed)
    try:
        earlier = datetime.now(UTC).replace(microsecond=0) - timedelta(hours=3)  # the members joined before: history
        roster = [
            Join(
                id=stable_id(ws, "join", g, str(m)),
                at=earlier,
                platform="sandbox",
                group=g,
                actor=f"m{m}",
                actor_name=f"m{m}",
                method=JoinMethod.SELF,
            )
            for g in names
            for m in range(members)
        ]
        for k in range(0, len(roster), 1000):
            app.ingest(roster[k : k + 1000])
        _wait(app, procs, 600)

        now = datetime.now(UTC).replace(microsecond=0)
        storm: list[tuple[float, Message]] = []
        for g in names:
            for m in range(members):
                for c in range(1 + chat):
                    offset = rng.uniform(0, 60)
                    words = "签到 今天读了30页" if c == 0 else f"大家早上好 {c}"
                    mid = stable_id(ws, "msg", g, str(m), str(c))
                    storm.append(
                        (
                            offset,
                            Message(
                                id=mid,
                                at=now + timedelta(seconds=offset),
                                platform="sandbox",
                                group=g,
                                actor=f"m{m}",
                                actor_name=f"m{m}",
                                message_id=mid,
                                text=words,
                            ),
                        )
                    )
        storm.sort(key=lambda pair: pair[0])
        events = [e for _, e in storm]
        before = {p.pid: _cpu_s(p.pid) for p in procs}
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(0, len(events), 200):
            app.ingest(events[k : k + 200])
        ingest_cpu = time.process_time() - c0
        _wait(app, procs, 600)
        elapsed = time.perf_counter() - t0
        worker_cpu = sum(_cpu_s(p.pid) - before[p.pid] for p in procs)
        with app.store.transaction() as conn:
            ws_id = {"ws": app.ws.id}
            check_ins = conn.execute(
                text("SELECT uid, ingested_ms FROM event WHERE workspace_id = :ws AND payload LIKE '%签到%'"), ws_id
            ).all()
            posts = conn.execute(
                text("SELECT payload, created_ms FROM action WHERE workspace_id = :ws AND kind = 'post'"), ws_id
            ).all()
    finally:
        for p in procs:
            p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=60)
        app.close()
    decided: dict[str, list[int]] = {}
    for payload, created in posts:
        action = orjson.loads(payload)
        if action.get("policy") in ("checkin", "acks"):
            decided.setdefault(action.get("cause", ""), []).append(int(created))
    acks = {uid: len(decided.get(uid, [])) for uid, _ in check_ins}
    latency = [min(decided[uid]) - int(logged) for uid, logged in check_ins if uid in decided]
    n = len(events)
    return {
        "groups": groups,
        "workers": workers,
        "events": n,
        "check_ins": len(acks),
        "events_per_s": round(n / elapsed),
        "latency_ms": {"p50": _pct(latency, 0.5), "p95": _pct(latency, 0.95), "p99": _pct(latency, 0.99)},
        "cpu_us_per_event": {"ingest": round(ingest_cpu / n * 1e6), "workers": round(worker_cpu / n * 1e6)},
        "acknowledged_twice": sum(1 for v in acks.values() if v > 1),
        "not_acknowledged": sum(1 for v in acks.values() if v == 0),
        "load_average": round(os.getloadavg()[0], 2),
    }
