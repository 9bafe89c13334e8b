"""Console writes under concurrency on the real PostgreSQL (issue 18, "Load"): tags, check-ins (points) and segment
actions from many threads of two processes' worth of :class:`Operations`, on the same and on different communities.
Nothing is lost, the saved state equals a replay of the log, nothing deadlocks; with workers set up, event writes
wait for no workspace-wide lock; and a process started before the first worker stops running the engine itself
without a restart."""

from __future__ import annotations

import threading
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest
from sqlalchemy import text

from shequn.app import App
from shequn.domain import CheckIn, UserError, stable_id
from shequn.engine import replay
from shequn.services.console import Operations, _lock_key
from shequn.services.worker import Worker, WorkerOptions, check_replay
from shequn.store import Segment
from tests.support.builders import join, spec
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.pg

NOW = {"acks": {"batch_minutes": 0}}
COMMUNITIES = ("c0", "c1", "c2")
PEOPLE = 6  # members per community
THREADS = 8
C2 = '{"name": "c2", "type": "growth", "groups": [{"platform": "sandbox", "id": "g2", "name": "c2g2"}]}'
ROUNDS = 4


@pytest.fixture
def pg(postgres: PostgresServer) -> str:
    postgres.reset()
    return postgres.url


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)  # the store keeps milliseconds


def _setup(url: str) -> None:
    app = App(url)
    for i, name in enumerate(COMMUNITIES):
        app.apply_spec(spec(name, groups=(f"g{i}",), policies=NOW))
    start = _now() - timedelta(hours=2)
    app.ingest(
        [join(f"u{i}-{k}", start, group=f"g{i}") for i in range(len(COMMUNITIES)) for k in range(PEOPLE)],
        history=True,
    )
    app.close()


def _drain(*workers: Worker) -> None:
    for w in workers:
        w.heartbeat()
    while sum(w.step() for w in workers):
        pass


def _hammer(processes: list[Operations]) -> tuple[set[tuple[str, str, str]], set[str], list[BaseException]]:
    """THREADS threads over the given Operations (two App instances stand for two serve processes), each doing
    ROUNDS rounds of: a tag on the busy community c0, a tag on a community of its own, a check-in, a segment
    tag and a segment message. Returns the tags asked for, the check-in ids and any error."""
    tags: set[tuple[str, str, str]] = set()
    checkins: set[str] = set()
    errors: list[BaseException] = []
    mutex = threading.Lock()

    def worker(n: int) -> None:
        ops = processes[n % len(processes)]
        try:
            records = {c: ops.community(c) for c in COMMUNITIES}
            rosters = {c: ops.segment(Segment(community_id=records[c].id)).members for c in COMMUNITIES}
            own = COMMUNITIES[1 + n % (len(COMMUNITIES) - 1)]
            for r in range(ROUNDS):
                for community in ("c0", own):
                    m = rosters[community][(n + r) % len(rosters[community])]
                    assert m.person_id is not None
                    tag = f"t{n}-{r}"
                    ops.tag_member(m.person_id, community, tag, remove=False, actor=f"op{n}")
                    with mutex:
                        tags.add((community, m.key, tag))
                m = rosters[own][(n * 3 + r) % len(rosters[own])]
                platform, _, pid = m.key.partition(":")
                i = COMMUNITIES.index(own)
                cid = stable_id("checkin", str(n), str(r))
                ops.commit.ingest(
                    [CheckIn(id=cid, at=_now(), platform=platform, group=f"g{i}", actor=pid, actor_name=pid)]
                )
                with mutex:
                    checkins.add(cid)
                seg = Segment(community_id=records[own].id)
                ops.act_on_segment(seg, "tag", actor=f"op{n}", key=f"seg{n}-{r}", value=f"s{n}-{r}")
                ops.act_on_segment(seg, "message", actor=f"op{n}", key=f"dm{n}-{r}", text="早上好")
                with mutex:
                    tags.update((own, x.key, f"s{n}-{r}") for x in rosters[own])
        except BaseException as exc:
            with mutex:
                errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(THREADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(120)
    assert not any(t.is_alive() for t in threads), "a console write never finished (deadlock?)"
    return tags, checkins, errors


def _check_nothing_lost(app: App, tags: set[tuple[str, str, str]], checkins: set[str]) -> None:
    saved = app.saved_state()
    missing = {(c, k, t) for c, k, t in tags if t not in saved.communities[c].members[k].tags}
    assert not missing
    with app.store.transaction() as conn:
        logged = {i for (i,) in conn.execute(text("SELECT uid FROM event WHERE kind = 'check_in'"))}
        keys = [k for (k,) in conn.execute(text("SELECT key FROM action WHERE key LIKE 'console:dm%'"))]
    assert checkins <= logged
    assert len(keys) == len(set(keys)) == THREADS * ROUNDS * PEOPLE  # each member of each segment, once


def test_concurrent_console_writes_with_workers_lose_nothing_and_replay_the_same(pg: str) -> None:
    _setup(pg)
    a = Worker(pg, options=WorkerOptions(shards=8), worker_id="a")
    processes = [Operations(App(pg)), Operations(App(pg))]
    try:
        _drain(a)
        tags, checkins, errors = _hammer(processes)
        assert not errors
        _drain(a)
        app = processes[0].app
        _check_nothing_lost(app, tags, checkins)
        same, replayed, lag = check_replay(app)
        assert same and lag == 0 and replayed > THREADS * ROUNDS * 3
    finally:
        a.close()
        for ops in processes:
            ops.app.close()


def test_event_writes_with_workers_do_not_wait_for_the_workspace_lock(pg: str, monkeypatch: pytest.MonkeyPatch) -> None:
    _setup(pg)
    Worker(pg, options=WorkerOptions(shards=8), worker_id="a").close()
    ops = Operations(App(pg))
    record = ops.community("c1")
    member = ops.segment(Segment(community_id=record.id)).members[0]
    assert member.person_id is not None
    done = threading.Event()
    failures: list[BaseException] = []

    def tag() -> None:
        try:
            ops.tag_member(member.person_id or 0, "c1", "vip", remove=False, actor="op")
            done.set()
        except BaseException as exc:
            failures.append(exc)

    def writes_under_held(key: int, write: Callable[[], None], wait: float = 20) -> bool:
        """Whether ``write`` finished while another session held the advisory lock ``key``."""
        fn = "pg_advisory_lock"
        with ops.app.store.db.engine.connect() as other:  # another process holds the lock meanwhile
            other.exec_driver_sql(f"SELECT {fn}(%s)", (key,))
            t = threading.Thread(target=write)
            t.start()
            t.join(wait)
            finished = not t.is_alive()
            other.exec_driver_sql(f"SELECT {fn.replace('_lock', '_unlock')}(%s)", (key,))
            other.commit()
            t.join(20)
        return finished

    try:
        workspace = _lock_key("shequn-writer", ops.ws)
        assert writes_under_held(workspace, tag) and done.is_set() and not failures
        # A spec written for one community waits for that community only, not for a write of another one.
        put = lambda: ops.put_spec("c2", C2, actor="op")  # noqa: E731
        assert writes_under_held(_lock_key(ops.ws, "community:c1"), put)
        assert not writes_under_held(_lock_key(ops.ws, "community:c2"), put, wait=1.0)
        assert not writes_under_held(workspace, put, wait=1.0)  # a workspace-wide write excludes it
        monkeypatch.setenv("SHEQUN_WRITE_LOCK", "workspace")  # as before: every write waits for the workspace
        before = Operations(ops.app)
        untag = lambda: before.tag_member(member.person_id or 0, "c1", "vip", remove=True, actor="op")  # noqa: E731
        assert not writes_under_held(workspace, untag, wait=1.0)
    finally:
        ops.app.close()


def test_concurrent_console_writes_in_one_process_mode_replay_the_same(pg: str) -> None:
    """No workers: each process runs the workspace's engine, one run at a time (the writer lock); two processes'
    writes interleave and each follows the other's (App.refresh)."""
    _setup(pg)
    processes = [Operations(App(pg)), Operations(App(pg))]
    try:
        tags, checkins, errors = _hammer(processes)
        assert not errors
        app = processes[0].app
        assert not app.workers
        _check_nothing_lost(app, tags, checkins)
        with app.store.transaction() as conn:
            cfg = app.workspace_config(conn)
        assert replay(cfg, app.events(), app.policies).state.to_dict() == app.saved_state().to_dict()
    finally:
        for ops in processes:
            ops.app.close()


def test_a_process_started_before_the_first_worker_only_appends_from_then_on(pg: str) -> None:
    _setup(pg)
    live = App(pg)  # one-process mode: runs the engine itself
    before = [join(f"early{k}", _now(), group="g0") for k in range(3)]
    live.ingest(before)
    assert not live.workers
    assert {f"sandbox:early{k}" for k in range(3)} <= set(live.saved_state().communities["c0"].members)
    a = Worker(pg, options=WorkerOptions(shards=8), worker_id="a")  # the first worker: no restart of `live`
    try:
        late = join("late", _now(), group="g1")
        report = live.ingest([late])
        assert report.added == 1 and live.workers
        assert "sandbox:late" not in live.saved_state().communities["c1"].members  # appended, not run inline
        _drain(a)
        state = live.saved_state()
        assert "sandbox:late" in state.communities["c1"].members
        same, _, lag = check_replay(live)  # what the process ran before is not run again by the worker
        assert same and lag == 0
        with pytest.raises(UserError):
            live.rebuild()
    finally:
        a.close()
        live.close()
