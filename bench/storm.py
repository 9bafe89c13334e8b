"""``shequn bench storm``: the 07:30 check-in storm on PostgreSQL through ``shequn worker`` processes.

Every member of ``groups`` groups checks in within a short window while chat goes on; this process appends the
events to the log in micro-batches (as connectors would), ``workers`` worker processes run the engine, then this
process sends the outbox (the runner of ``shequn run``, over a sandbox bot held to Telegram's documented limits).
Measured: events per second from the first append until every shard has caught up, the check-in →
acknowledgement decision latency (the acknowledgement's row written minus the check-in's row written, both in the
store), check-ins acknowledged twice or never (both must be 0), messages sent twice (0), and whether the runner let
more messages through to any group or to the bot in a window than the limits allow (the times its limiter records).

CPU per event by stage, each measured, none estimated: ``ingest`` (this process's CPU while appending), ``engine``
and ``commit`` (each worker's own thread CPU around the policies, and around the rest of its batches: reading,
fencing, writing state, outbox and offset; written by ``shequn worker --stats``), ``worker_other`` (the workers'
CPU from ``/proc`` less those two: heartbeats, idle polls, start-up), ``database`` (the PostgreSQL server's CPU
from ``/proc``, postmaster and every backend, when the server runs on this machine) and ``send`` (this process's CPU
while the outbox runner sends, per message sent).
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
from sqlalchemy import text

from shequn.app import App
from shequn.connectors.sandbox import SandboxConnector
from shequn.domain import Action, Join, JoinMethod, Message, UserError, stable_id
from shequn.i18n import t
from shequn.playbook.spec import CommunitySpec
from shequn.services.worker import Worker
from shequn.store import normalize_url

# The send stage's sandbox bot is held to Telegram's documented limits (platform_limits.yaml): 30 messages a second
# per bot, 1 a second and 20 a minute per group.
LIMITS_OF = "telegram"


def _stat(pid: int) -> list[str]:
    return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()


def _cpu_s(pid: int, *, children: bool = False) -> float:
    """User + system CPU seconds of a process (Linux); with ``children``, of its ended children too."""
    f = _stat(pid)
    ticks = int(f[11]) + int(f[12]) + ((int(f[13]) + int(f[14])) if children else 0)
    return ticks / os.sysconf("SC_CLK_TCK")


def _server_cpu_s(postmaster: int | None) -> float | None:
    """CPU seconds of a local PostgreSQL server: the postmaster, its ended children and its running ones."""
    if postmaster is None:
        return None
    total = _cpu_s(postmaster, children=True)
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if int(_stat(int(entry.name))[1]) == postmaster:
                    total += _cpu_s(int(entry.name))
            except (OSError, IndexError, ValueError):
                continue  # ended meanwhile
    return total


def _postmaster(app: App) -> int | None:
    """The server's postmaster pid when it runs on this machine (the parent of our backend), else None."""
    with app.store.transaction() as conn:
        backend = int(conn.execute(text("SELECT pg_backend_pid()")).scalar_one())
    try:
        parent = int(_stat(backend)[1])
        return parent if "postgres" in Path(f"/proc/{parent}/cmdline").read_text() else None
    except OSError:
        return None


class _RecordingBot(SandboxConnector):
    """The sandbox, noting each message that reached it."""

    def __init__(self) -> None:
        super().__init__()
        self.received: list[str] = []

    async def send(self, action: Action) -> Any:
        self.received.append(action.key)
        return await super().send(action)


def _read_stages(paths: list[Path]) -> dict[str, float]:
    """The workers' own CPU seconds by stage, added up."""
    total = {"engine": 0.0, "commit": 0.0}
    for path in paths:
        for k, v in orjson.loads(path.read_bytes())["cpu_s"].items():
            total[k] += v
    return total


def _stages(procs: list[subprocess.Popen[bytes]], paths: list[Path]) -> dict[str, float]:
    """Ask each running worker for its CPU by stage so far (SIGUSR1) and add them up."""
    for path in paths:
        path.unlink(missing_ok=True)
    for p in procs:
        p.send_signal(signal.SIGUSR1)
    end = time.monotonic() + 30
    while not all(path.exists() for path in paths):
        if time.monotonic() > end:
            raise UserError("the workers did not report their CPU by stage within 30 s")
        time.sleep(0.02)
    return _read_stages(paths)


def _over_limit(times: list[float], count: int, seconds: float) -> bool:
    """Whether more than ``count`` of ``times`` (ms) fall in any window of ``seconds``."""
    times = sorted(times)
    span = seconds * 1000
    return any(times[i + count] - times[i] < span for i in range(len(times) - count))


def _send(app: App) -> dict[str, Any]:
    """Send the workspace's outbox through the runner of ``shequn run`` and check what reached the bot."""
    import asyncio

    from shequn.outbox import OutboxRunner, Policies
    from shequn.playbook import load_playbook

    entry = next(p for p in load_playbook().limits.platforms if p.platform == LIMITS_OF)
    limits = [lim for lim in entry.limits if lim.scope in ("bot", "group")]
    mapping = {"platform": "sandbox", "limits": [lim.model_dump() for lim in limits]}
    sandbox = _RecordingBot()
    runner = OutboxRunner(
        app.store, app.ws.id, {"sandbox": sandbox}, policies=Policies.from_mapping({"platforms": [mapping]})
    )
    # When the runner let each send through, on its own clock, as its limiter records it: the times a limit is
    # about (noting them in the bot instead adds the event loop's delays, tens of ms on a loaded machine).
    let_through: list[tuple[str, int]] = []
    record = runner.limiter.record

    def noted(platform: str, bot: str, group: str, kind: str, at: int) -> None:
        let_through.append((group, at))
        record(platform, bot, group, kind, at)

    runner.limiter.record = noted  # type: ignore[method-assign]
    c0 = time.process_time()
    stats = asyncio.run(runner.run(until_idle=True))
    cpu = time.process_time() - c0
    keys = sandbox.received
    by_group: dict[str, list[float]] = {}
    for group, at in let_through:
        by_group.setdefault(group, []).append(at)
    every = [float(at) for _, at in let_through]
    return stats.to_json() | {
        "messages": len(keys),
        "sent_twice": len(keys) - len(set(keys)),
        "groups_over_limit": sum(
            any(_over_limit(ms, lim.count, lim.seconds) for lim in limits if lim.scope == "group")
            for ms in by_group.values()
        ),
        "bot_over_limit": any(_over_limit(every, lim.count, lim.seconds) for lim in limits if lim.scope == "bot"),
        "limits": f"{LIMITS_OF}'s: " + ", ".join(f"{lim.scope} {lim.count}/{lim.seconds:g}s" for lim in limits),
        "seconds": round((max(every) - min(every)) / 1000, 1) if every else 0.0,
        "cpu_s": cpu,
    }


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


def run(
    url: str | None,
    *,
    groups: int,
    workers: int,
    members: int,
    chat: int,
    seed: int = 7,
    send: bool = True,
    window: float = 60.0,
) -> dict[str, Any]:
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
    tmp = Path(tempfile.mkdtemp(prefix="shequn-storm-"))
    stats = [tmp / f"w{n}.json" for n in range(workers)]
    procs = [
        subprocess.Popen(
            [shequn, "--db", url or "", "worker", "--id", f"{ws}-w{n}", "--stats", str(stats[n])],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        for n in range(workers)
    ]
    app = App(url, workspace=ws)
    postmaster = _postmaster(app)
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
                    offset = rng.uniform(0, window)
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
        baseline = _stages(procs, stats)  # what the roster cost the workers is not the storm's
        before = {p.pid: _cpu_s(p.pid) for p in procs}
        server0 = _server_cpu_s(postmaster)
        t0, c0 = time.perf_counter(), time.process_time()
        for k in range(0, len(events), 200):
            app.ingest(events[k : k + 200])
        ingest_cpu = time.process_time() - c0
        _wait(app, procs, 600)
        elapsed = time.perf_counter() - t0
        worker_cpu = sum(_cpu_s(p.pid) - before[p.pid] for p in procs)
        server1 = _server_cpu_s(postmaster)
        server_cpu = None if server0 is None or server1 is None else server1 - server0
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
    stages = {k: v - baseline[k] for k, v in _read_stages(stats).items()}  # written on SIGTERM
    for path in stats:
        path.unlink()
    tmp.rmdir()
    sent = _send(app) if send else {}
    if sent:
        sent["cpu_us_per_message"] = round(sent["cpu_s"] / max(sent["messages"], 1) * 1e6)
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
        "cpu_us_per_event": {
            "ingest": round(ingest_cpu / n * 1e6),
            "engine": round(stages["engine"] / n * 1e6),
            "commit": round(stages["commit"] / n * 1e6),
            "worker_other": round(max(worker_cpu - stages["engine"] - stages["commit"], 0.0) / n * 1e6),
            "workers": round(worker_cpu / n * 1e6),
            "database": None if server_cpu is None else round(server_cpu / n * 1e6),
            "send": round(sent["cpu_s"] / n * 1e6) if sent else None,
        },
        "send": sent,
        "acknowledged_twice": sum(1 for v in acks.values() if v > 1),
        "not_acknowledged": sum(1 for v in acks.values() if v == 0),
        "load_average": round(os.getloadavg()[0], 2),
    }
