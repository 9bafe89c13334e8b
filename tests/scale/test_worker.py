"""Workers on PostgreSQL, in one process: shards and leases, fencing, per-shard batches, shared state, append-only
ingest, many workspaces; and `shequn worker` refused on SQLite."""

from __future__ import annotations

import threading
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest
from sqlalchemy import text

from shequn.app import App
from shequn.cli.main import main
from shequn.domain import OperatorAction, UserError
from shequn.services.worker import Worker, WorkerOptions, check_replay
from shequn.store.shards import fair_share, shard_of, shard_sql
from tests.support.builders import join, msg, spec
from tests.support.postgres import PostgresServer

pytestmark = pytest.mark.pg

NOW = {"acks": {"batch_minutes": 0}}
AD = "➕V：money20459，招代理，一件代发，日赚500"


@pytest.fixture
def pg(postgres: PostgresServer) -> str:
    postgres.reset()
    return postgres.url


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)  # the store keeps milliseconds


def _drain(*workers: Worker) -> int:
    done = 0
    while True:
        n = sum(w.step() for w in workers)
        if n == 0:
            return done
        done += n


def _setup(url: str, communities: int, *, shards: int = 8, workspace: str = "default") -> App:
    app = App(url, workspace=workspace)
    for i in range(communities):
        app.apply_spec(spec(f"c{i}", groups=(f"{workspace}-g{i}",), policies=NOW))
    app.close()
    return App(url, workspace=workspace)


def _burst(app: App, groups: list[str], people: int, start: datetime) -> list[Any]:
    events: list[Any] = []
    at = start
    for g in groups:
        for p in range(people):
            at += timedelta(seconds=1)
            events.append(join(f"u{p}", at, group=g))
            events.append(msg(f"u{p}", at + timedelta(milliseconds=500), "签到 今天读了30页", group=g))
    app.ingest(events)
    return events


def test_the_shard_hash_is_stable_and_the_same_in_sql(pg: str) -> None:
    assert [shard_of(i, 64) for i in range(1, 9)] == [39, 15, 54, 30, 5, 45, 20, 60]  # a hash that never changes
    spread = Counter(shard_of(i, 64) for i in range(1, 641))
    assert len(spread) == 64 and max(spread.values()) - min(spread.values()) <= 2  # consecutive ids spread evenly
    assert fair_share(64, 3) == 22 and fair_share(64, 0) == 64
    w = Worker(pg, options=WorkerOptions(shards=64))
    try:
        with w.store.transaction() as conn:
            got = conn.execute(text(f"SELECT {shard_sql('x', 64)} FROM generate_series(1, 500) AS x")).scalars()
            assert list(got) == [shard_of(i, 64) for i in range(1, 501)]
    finally:
        w.close()


def test_shards_are_shared_fairly_and_a_new_worker_gets_its_share_without_restarts(pg: str) -> None:
    a = Worker(pg, options=WorkerOptions(shards=8), worker_id="a")
    b = Worker(pg, options=WorkerOptions(), worker_id="b")
    assert b.shards == 8  # stored once: the second worker takes the database's count
    try:
        a.heartbeat()
        assert len(a.held) == 8
        b.heartbeat()  # two live workers: a is over its share until its next heartbeat
        a.heartbeat()
        b.heartbeat()
        assert len(a.held) == len(b.held) == 4 and set(a.held).isdisjoint(b.held)
        b.close()  # gives its shards back and unregisters on SIGTERM: a takes them at its next heartbeat
        a.heartbeat()
        assert len(a.held) == 8
    finally:
        a.close()
    with pytest.raises(UserError, match="8"):
        Worker(pg, options=WorkerOptions(shards=16))


def test_an_expired_lease_is_taken_over_and_the_old_holder_is_fenced_off(pg: str) -> None:
    app = _setup(pg, 1)
    a = Worker(pg, options=WorkerOptions(shards=4, lease_ms=400), worker_id="a")
    b = Worker(pg, options=WorkerOptions(lease_ms=400), worker_id="b")
    try:
        a.heartbeat()
        app2 = App(pg)
        assert app2.workers
        _burst(app2, ["default-g0"], 3, _now())
        time.sleep(0.5)  # a stops beating (paused, dead): its leases expire
        b.heartbeat()
        assert len(b.held) == 4
        gens = dict(b.held)
        assert all(gens[s] == a.held[s] + 1 for s in gens)  # each take-over bumps the fencing generation
        assert a.step() == 0  # a wakes up: the batch it tries for the shard with events is refused …
        assert len(a.held) == 3
        a.heartbeat()
        assert a.held == {}  # … and its heartbeat finds every shard taken: it holds none
        assert _drain(b) == 6
        same, _, lag = check_replay(app2)
        assert same and lag == 0
        app2.close()
    finally:
        a.close()
        b.close()
        app.close()


def test_events_are_processed_once_per_shard_in_one_transaction_with_the_outbox(pg: str) -> None:
    app = _setup(pg, 6)
    a = Worker(pg, options=WorkerOptions(shards=8, batch=7), worker_id="a")
    b = Worker(pg, options=WorkerOptions(batch=7), worker_id="b")
    live = App(pg)  # started after the workers were set up: append only
    try:
        for w in (a, b, a, b):
            w.heartbeat()
        sent = _burst(live, [f"default-g{i}" for i in range(6)], 5, _now())
        with live.store.transaction() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM membership")).scalar_one() == 0  # nothing ran inline
        again = App(pg).ingest(sent)  # another process logs the same events: dropped by id
        assert (again.received, again.added) == (60, 0)
        assert _drain(a, b) == 60
        tag = OperatorAction(id="op1", at=_now(), platform="sandbox", community="c3", op="tag", target="u1", value="v")
        live.ingest([tag])  # an operator's change by hand: no group, routed by the community it names
        assert _drain(a, b) == 1
        assert "v" in live.saved_state().communities["c3"].members["sandbox:u1"].tags
        assert _drain(a, b) == 0
        same, replayed, lag = check_replay(live)
        assert same and lag == 0 and replayed == 61
        with live.store.transaction() as conn:
            keys = [k for (k,) in conn.execute(text("SELECT key FROM action"))]
            assert keys and len(keys) == len(set(keys))
            posts = conn.execute(text("SELECT COUNT(*) FROM action WHERE kind = 'post'")).scalar_one()
            assert posts >= 30  # every check-in acknowledged
            offsets: dict[int, int] = dict(conn.execute(text("SELECT shard, last_seq FROM shard_lease")).all())
            top = live.store.shards.last_seq(conn)
            assert max(offsets.values()) == top
            used = {shard_of(i, 8) for i in live.store.communities.ids(conn, live.ws.id).values()}
            assert len(used) < 8  # some shards have no community, and they do not hold the log's tail back:
            assert {s: q for s, q in offsets.items() if s not in used} == dict.fromkeys(set(range(8)) - used, top)
    finally:
        a.close()
        b.close()
        live.close()
        app.close()


def _two_shards(url: str) -> tuple[App, int]:
    """Two communities in the two shards of a 2-shard deployment; returns the App and the first's shard."""
    app = App(url)
    app.apply_spec(spec("读书会", groups=("g1",), policies=NOW))
    app.apply_spec(spec("跑步团", groups=("g2",), threshold={"kind": "none"}, policies=NOW))
    with app.store.transaction() as conn:
        ids = app.store.communities.ids(conn, app.ws.id)
    first, second = shard_of(ids["读书会"], 2), shard_of(ids["跑步团"], 2)
    assert first != second
    return app, first


def test_shared_state_of_another_shard_is_seen_from_the_next_batch(pg: str) -> None:
    app, _ = _two_shards(pg)
    a = Worker(pg, options=WorkerOptions(shards=2), worker_id="a")
    b = Worker(pg, options=WorkerOptions(), worker_id="b")
    live = App(pg)
    try:
        for w in (a, b, a, b):
            w.heartbeat()
        t0 = _now()
        live.ingest([join("spammer", t0), msg("spammer", t0 + timedelta(seconds=1), AD)])
        _drain(a, b)
        assert "sandbox:spammer" in live.saved_state().workspace["blacklist"]
        live.ingest([join("spammer", t0 + timedelta(seconds=5), group="g2")])
        _drain(a, b)
        with live.store.transaction() as conn:
            kinds = [k for (k,) in conn.execute(text("SELECT kind FROM action ORDER BY id"))]
        assert "ban" in kinds and kinds[-1] == "remove"  # refused in the other community, by the other worker
        assert check_replay(live)[0]
    finally:
        a.close()
        b.close()
        live.close()
        app.close()


def test_concurrent_shared_updates_are_retried_not_lost(pg: str) -> None:
    app, first = _two_shards(pg)
    a = Worker(pg, options=WorkerOptions(shards=2), worker_id="a")
    b = Worker(pg, options=WorkerOptions(), worker_id="b")
    live = App(pg)
    try:
        for w in (a, b, a, b):
            w.heartbeat()
        t0 = _now()
        live.ingest(
            [
                join("s1", t0),
                join("s2", t0, group="g2"),
                msg("s1", t0 + timedelta(seconds=1), AD),
                msg("s2", t0 + timedelta(seconds=1), AD + "!", group="g2"),
            ]
        )
        holder_of_first = a if first in a.held else b
        other = b if holder_of_first is a else a
        real = holder_of_first.store.shards.shared_version
        calls = Counter[str]()

        def interleaved(conn: Any, ws_id: int) -> Any:
            got = real(conn, ws_id)
            if not calls["x"]:  # after this batch read the version, the other shard commits its blacklisting
                calls["x"] += 1
                t = threading.Thread(target=other.step)
                t.start()
                t.join()
            return got

        holder_of_first.store.shards.shared_version = interleaved  # type: ignore[method-assign]
        assert holder_of_first.step() == 0  # its first try read an older shared state: rolled back
        _drain(a, b)
        blacklist = live.saved_state().workspace["blacklist"]
        assert {"sandbox:s1", "sandbox:s2"} <= set(blacklist)
        assert check_replay(live)[0]
    finally:
        a.close()
        b.close()
        live.close()
        app.close()


def test_one_pool_of_workers_serves_many_workspaces(pg: str) -> None:
    apps = [_setup(pg, 2, workspace=f"ws{i}") for i in range(6)]
    a = Worker(pg, options=WorkerOptions(shards=8), worker_id="a")
    b = Worker(pg, options=WorkerOptions(), worker_id="b")
    lives = [App(pg, workspace=f"ws{i}") for i in range(6)]
    try:
        for w in (a, b, a, b):
            w.heartbeat()
        for i, live in enumerate(lives):
            _burst(live, [f"ws{i}-g0", f"ws{i}-g1"], 2, _now())
        assert _drain(a, b) == 6 * 8
        for live in lives:
            same, _, lag = check_replay(live)
            assert same and lag == 0
            assert len(live.saved_state().communities) == 2
    finally:
        a.close()
        b.close()
        for x in apps + lives:
            x.close()


def test_worker_on_sqlite_points_to_shequn_run(sqlite_url: str, capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exc:
        main(["--db", sqlite_url, "worker"])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "PostgreSQL" in err and "shequn run" in err
    assert not Path(sqlite_url.removeprefix("sqlite:///")).exists()  # nothing created


def test_status_shows_each_shard_with_its_holder_and_lag(
    pg: str, sqlite_url: str, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("SHEQUN_LANG", "en")
    app = _setup(pg, 2)
    w = Worker(pg, options=WorkerOptions(shards=4), worker_id="w-status")
    live = App(pg)
    try:
        w.heartbeat()
        _burst(live, ["default-g0", "default-g1"], 3, _now())
        with pytest.raises(SystemExit):
            main(["--db", pg, "status"])
        assert "4 shards, 1 live workers, 12 events waiting" in capsys.readouterr().out
        _drain(w)
        with pytest.raises(SystemExit):
            main(["--db", pg, "status"])
        out = capsys.readouterr().out
        assert "0 events waiting" in out and out.count("w-status") == 4
        with pytest.raises(SystemExit):
            main(["--db", sqlite_url, "status"])
        assert "one-process mode" in capsys.readouterr().out
    finally:
        w.close()
        live.close()
        app.close()


def test_time_driven_policies_tick_per_shard_and_replay_the_same(pg: str) -> None:
    app = _setup(pg, 3)
    a = Worker(pg, options=WorkerOptions(shards=4), worker_id="a")
    b = Worker(pg, options=WorkerOptions(), worker_id="b")
    live = App(pg)
    try:
        for w in (a, b, a, b):
            w.heartbeat()
        _burst(live, [f"default-g{i}" for i in range(3)], 2, _now() - timedelta(minutes=10))
        assert live.tick().actions == 0  # the appending process does not tick: the workers do
        assert a.tick(_now()) + b.tick(_now()) == 0  # a shard with events waiting ticks after them, not before
        _drain(a, b)
        assert a.tick(_now()) + b.tick(_now()) == 3  # each community ticked once, by its shard's worker
        with live.store.transaction() as conn:
            ticks = conn.execute(text("SELECT payload FROM event WHERE kind = 'tick'")).scalars()
            named = sorted(c for p in ticks for c in orjson.loads(p)["communities"])
        assert named == ["c0", "c1", "c2"]
        same, _, lag = check_replay(live)  # a replay runs each tick for the communities it names only
        assert same and lag == 0
    finally:
        a.close()
        b.close()
        live.close()
        app.close()


def test_imported_history_is_logged_anywhere_and_processed_by_the_workers_without_sending(pg: str) -> None:
    app = _setup(pg, 2)
    w = Worker(pg, options=WorkerOptions(shards=4), worker_id="w")
    importer = App(pg)  # an import in another process: appends, never runs the engine
    try:
        w.heartbeat()
        events: list[Any] = []
        at = _now() - timedelta(days=30)
        for g in ("default-g0", "default-g1"):
            for p in range(4):
                at += timedelta(minutes=1)
                events += [join(f"h{p}", at, group=g), msg(f"h{p}", at + timedelta(seconds=5), "签到", group=g)]
        report = importer.append_history(events, atomic=True)
        assert report.added == 16 and importer.catch_up().added == 0  # the workers catch up, not the importer
        assert _drain(w) == 16
        with importer.store.transaction() as conn:
            assert conn.execute(text("SELECT COUNT(*) FROM action")).scalar_one() == 0  # history: decided, not sent
        assert len(importer.saved_state().communities["c0"].members) == 4
        same, _, lag = check_replay(importer)
        assert same and lag == 0
    finally:
        w.close()
        importer.close()
        app.close()
