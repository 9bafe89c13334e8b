"""Scheduled jobs under workers on the real PostgreSQL: three workers over a virtual Friday, the 早报 of each group and
the referral contest's settlement each decided once, by the holder of the community's shard; a worker killed in the
middle of the 早报's transaction leaves nothing behind and a survivor does it; a worker paused past its lease records
nothing when it wakes. Three `shequn worker` processes racing for the same 早报, and a killed one's settlement done
by a survivor. And `shequn run` on such a database leaves the jobs to the workers."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from shequn.app import App
from shequn.cli.main import main
from shequn.domain import Join, JoinMethod, VirtualClock, stable_id
from shequn.playbook import load_playbook
from shequn.services.growth import Growth
from shequn.services.worker import Worker, WorkerOptions
from shequn.store._sql import to_ms
from shequn.store.shards import shard_of
from tests.support.builders import join, spec
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.pg

MONDAY = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)  # 08:00 in Shanghai
FRIDAY_0700 = datetime(2026, 11, 5, 23, 0, tzinfo=UTC)  # Friday 6 November, 07:00 in Shanghai
LEASE_MS = 3000  # long enough that a live worker never loses a shard between two passes on a loaded machine
SHEQUN = str(Path(sys.executable).parent / "shequn")
ONLY_MORNING = {"jobs": {j.key: {"enabled": j.key == "morning_report"} for j in load_playbook().rhythm.jobs}}


class Killed(BaseException):
    """The process died here (SIGKILL): nothing after this line runs and nothing uncommitted is kept."""


@pytest.fixture
def pg(postgres: PostgresServer) -> str:
    postgres.reset()
    return postgres.url


def _referred(actor: str, at: datetime, code: str) -> Join:
    return Join(
        id=stable_id("j", actor, at.isoformat()),
        at=at,
        platform="sandbox",
        group="g0",
        actor=actor,
        actor_name=actor,
        method=JoinMethod.SELF,
        invite_code=code,
    )


def _drain(workers: list[Worker]) -> None:
    while sum(w.step() for w in workers):
        pass


def test_rhythm_and_settlement_run_once_across_three_workers_and_survive_a_kill(pg: str) -> None:
    clock = VirtualClock(FRIDAY_0700)
    app = App(pg, clock=clock)
    for i in range(4):
        app.apply_spec(spec(f"c{i}", groups=(f"g{i}",), rhythm=ONLY_MORNING, policies={"acks": {"batch_minutes": 0}}))
    workers = [Worker(pg, options=WorkerOptions(shards=8, lease_ms=LEASE_MS), worker_id=n, clock=clock) for n in "abc"]
    live = list(workers)
    app.close()
    app = App(pg, clock=clock)  # now in workers mode: ingest only appends
    assert app.workers
    enqueued: Counter[str] = Counter()
    try:
        for w in workers * 2:
            w.heartbeat()
        assert sorted(len(w.held) for w in workers) == [2, 3, 3]
        app.ingest([join(f"m{i}", MONDAY, group=f"g{i}") for i in range(4)])
        _drain(live)
        growth = Growth(app)
        growth.contest("c0", "weekly", start=MONDAY)
        code = growth.link("c0", "m0").code
        app.ingest([_referred(f"n{k}", MONDAY + timedelta(days=1, hours=k), code) for k in range(3)])
        _drain(live)

        ids = {r.name: r.id for r in app.communities()}
        holder = {name: next(w for w in workers if shard_of(cid, 8) in w.held) for name, cid in ids.items()}
        victim, paused = holder["c1"], holder["c0"]
        if victim is paused:  # the contest's holder is paused later: kill another one's 早报
            victim = holder[next(n for n in ("c2", "c3") if holder[n] is not paused)]

        def killed(*_: Any, **__: Any) -> Any:
            raise Killed

        for w in live:
            enqueued["first pass"] += w.jobs(clock.now())  # the cursors start now: nothing before is sent
        while clock.now() < FRIDAY_0700 + timedelta(hours=11):
            clock.advance(timedelta(hours=1))
            now = clock.now()
            for w in list(live):
                w.heartbeat()
            if now == FRIDAY_0700 + timedelta(hours=1):  # 08:00: the victim dies in the middle of the 早报
                ws_app = victim._app(app.ws.id)
                ws_app.enqueue_actions = killed  # type: ignore[method-assign]
                with pytest.raises(Killed):
                    victim.jobs(now)
                live.remove(victim)
                time.sleep(LEASE_MS / 1000 + 0.2)  # its leases expire; the survivors take its shards
                for w in live * 2:
                    w.heartbeat()
            if now == FRIDAY_0700 + timedelta(hours=5):  # noon: the contest's holder stops (a long pause)
                live.remove(paused)
                time.sleep(LEASE_MS / 1000 + 0.2)
                for w in live * 2:
                    w.heartbeat()
            for w in live:
                enqueued[w.id] += w.jobs(now)
        assert len(live) == 1 and len(live[0].held) == 8  # the survivor holds every shard
        assert paused.jobs(clock.now()) == 0  # waking up, it is fenced off: nothing recorded …
        assert not {shard_of(cid, 8) for cid in ids.values()} & set(paused.held)  # … and it lets the shards go
        paused.heartbeat()
        assert paused.held == {}
    finally:
        for w in workers:
            w.close()

    with app.store.transaction() as conn:
        runs = conn.execute(text("SELECT key, status, actions FROM schedule_run WHERE job = 'morning_report'")).all()
        posts = conn.execute(text("SELECT key, payload FROM action WHERE kind = 'post'")).all()
        settled = conn.execute(text("SELECT COUNT(*) FROM referral_settlement")).scalar_one()
    friday = [r for r in runs if "2026-11-06T08:00" in r.key]
    assert sorted(r.key.partition(":sandbox:")[2].split(":")[0] for r in friday) == ["g0", "g1", "g2", "g3"]
    assert all(r.status == "sent" and r.actions == 1 for r in friday)  # one run per group, sent
    morning = [k for k, _ in posts if k.endswith("morning_report")]
    assert len(morning) == 4  # … one 早报 each, the victim's included (a survivor did it)
    assert settled == 1  # the settlement of the week ending Friday 17:00, once
    assert sum(1 for k, _ in posts if k.startswith("referral:settle:")) == 1  # its post in c0's one group
    # Counted where they were decided: every pass together enqueued each action once (nothing decided twice).
    assert enqueued["first pass"] == 0
    assert sum(enqueued.values()) == 4 + 1  # four 早报 actions + one settlement
    app.close()


def test_shequn_run_leaves_the_scheduled_jobs_to_the_workers(pg: str, capsys: pytest.CaptureFixture[str]) -> None:
    app = App(pg)
    app.apply_spec(spec("c0", groups=("g0",), rhythm={"jobs": {"morning_report": {"enabled": True}}}))
    app.close()
    Worker(pg, options=WorkerOptions(shards=4)).close()  # workers set up for this database
    with pytest.raises(SystemExit) as exc:
        main(["--db", pg, "run", "-c", "sandbox", "--until-idle"])
    assert exc.value.code in (0, None)
    assert "shequn worker" in capsys.readouterr().err  # says where the jobs run (zh-CN or en)
    app = App(pg)
    with app.store.transaction() as conn:
        assert conn.execute(text("SELECT COUNT(*) FROM scheduler_cursor")).scalar_one() == 0  # no pass here
    app.close()


def _start(url: str, tmp: Path, n: int) -> subprocess.Popen[bytes]:
    out = open(tmp / f"worker{n}.log", "wb")  # noqa: SIM115 - the worker writes to it until it ends
    return subprocess.Popen(
        [SHEQUN, "--db", url, "worker", "--lease", "1", "--tick", "0.5", "--id", f"w{n}"], stdout=out, stderr=out
    )


def _until(what: Callable[[], bool], procs: list[subprocess.Popen[bytes]], timeout: float = 60) -> None:
    end = time.monotonic() + timeout
    while not what():
        assert time.monotonic() < end, "timed out"
        assert any(p.poll() is None for p in procs), "every worker has exited"
        time.sleep(0.2)


def test_worker_processes_race_for_the_rhythm_and_a_killed_ones_settlement_runs_on_a_survivor(
    pg: str, tmp_path: Path
) -> None:
    now = datetime.now(UTC)
    report_at = now - timedelta(minutes=3)  # due: after the cursor below, within the misfire grace
    quiet = {"start": f"{(now + timedelta(hours=6)):%H}:00", "end": f"{(now + timedelta(hours=8)):%H}:00"}
    jobs = {j.key: {"enabled": False} for j in load_playbook().rhythm.jobs}
    jobs["morning_report"] = {"enabled": True, "at": f"{report_at:%H:%M}", "days": "daily"}
    app = App(pg)
    for i in range(4):
        app.apply_spec(spec(f"c{i}", groups=(f"g{i}",), timezone="UTC", rhythm={"jobs": jobs, "quiet_hours": quiet}))
    with app.store.transaction() as conn:  # as if `shequn run` had scheduled this workspace until 10 minutes ago
        app.store.schedule.set_cursor(conn, app.ws.id, to_ms(now - timedelta(minutes=10)), now_ms=to_ms(now))
    app.close()
    Worker(pg, options=WorkerOptions(shards=8)).close()
    app = App(pg)
    app.ingest([join(f"m{i}", now - timedelta(hours=1), group=f"g{i}") for i in range(4)])  # news for the 早报

    def count(sql: str) -> int:
        with app.store.transaction() as conn:
            return int(conn.execute(text(sql)).scalar_one())

    procs = [_start(pg, tmp_path, n) for n in range(3)]  # all three race for the first pass
    try:
        _until(lambda: count("SELECT COUNT(*) FROM action WHERE key LIKE '%morning_report'") == 4, procs)
        cid = app.community("c1").id
        with app.store.transaction() as conn:
            owner, generation = conn.execute(
                text("SELECT owner, generation FROM shard_lease WHERE shard = :s"), {"s": shard_of(cid, 8)}
            ).one()
        victim = procs[int(owner[1:])]
        victim.send_signal(signal.SIGKILL)  # no goodbye: c1's shard is taken over when its lease expires
        victim.wait(timeout=10)
        yesterday = now - timedelta(days=1)  # a contest whose first week ended yesterday at 00:00: due now
        Growth(app).contest("c1", "weekly", start=now - timedelta(days=3), settings={"weekday": yesterday.weekday()})
        _until(lambda: count("SELECT COUNT(*) FROM referral_settlement") > 0, procs)
        time.sleep(1)  # a second pass would settle it again now, if anything let it
    finally:
        for p in procs:
            if p.poll() is None:
                p.send_signal(signal.SIGTERM)
        for p in procs:
            p.wait(timeout=20)
    assert victim.returncode == -signal.SIGKILL and all(p.returncode == 0 for p in procs if p is not victim)
    with app.store.transaction() as conn:
        runs = conn.execute(text("SELECT key, status FROM schedule_run WHERE job = 'morning_report'")).all()
        taken = conn.execute(
            text("SELECT generation FROM shard_lease WHERE shard = :s"), {"s": shard_of(cid, 8)}
        ).scalar_one()
    assert len(runs) == 4 and {s for _, s in runs} == {"sent"}  # each group's 早报 once, by whichever won the race
    assert count("SELECT COUNT(*) FROM action WHERE key LIKE '%morning_report'") == 4
    assert count("SELECT COUNT(*) FROM referral_settlement") == 1  # settled once, on a survivor …
    assert count("SELECT COUNT(*) FROM action WHERE key LIKE 'referral:settle:%'") == 1
    assert taken > generation  # … that took the dead worker's shard over
    app.close()
