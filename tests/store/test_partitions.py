"""The event log partitioned by month on a real PostgreSQL (issue 19): ids stay unique through ``event_uid``, closed
months go to Parquet and leave the database (``shequn log archive``), and reports and replays read the archive and
the hot log as one log."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime
from itertools import islice
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text

from shequn.analytics.engine import analyze
from shequn.app import App
from shequn.cli.main import main
from shequn.domain import VirtualClock
from shequn.engine import replay
from shequn.simulator import simulate
from shequn.store import partitions
from tests.support.postgres import PostgresServer


def _cli(url: str, *args: str) -> int:
    try:
        main(["--db", url, *args])
    except SystemExit as exc:
        return int(exc.code or 0)
    return 0


def _figures(app: App, cache: Path) -> dict[str, Any]:
    report = analyze(app.store, app.ws, days=3650, cache=cache).to_dict()
    report.pop("timings")
    report.pop("generated")
    return report


def _months(app: App) -> list[str]:
    with app.store.transaction() as conn:
        return [partitions.label(m) for m in partitions.partitions(conn)]


def _hot(app: App) -> int:
    with app.store.transaction() as conn:
        return int(conn.execute(text("SELECT count(*) FROM event")).scalar_one())


def test_archive_keeps_reports_replays_and_ids(postgres: PostgresServer, tmp_path: Path) -> None:
    postgres.reset()
    url = postgres.url
    # Ten days across the end of October: October is archived, November stays in the database.
    sim = simulate(groups=6, days=10, seed=5, start=datetime(2026, 10, 26, tzinfo=UTC))
    clock = VirtualClock(sim.start)
    app = App(url, clock=clock)
    for spec in sim.specs:
        app.apply_spec(spec)
    events = list(sim.events())
    it = iter(events)
    while batch := list(islice(it, 200)):
        app.ingest(batch)
        clock.set(max(clock.now(), batch[-1].at))
    # History older than the partitions made at set-up waits in the default partition; archiving moves it out.
    assert not {"2026-10", "2026-11"} & set(_months(app))
    total = _hot(app)
    october = sum(1 for e in events if e.at < datetime(2026, 11, 1, tzinfo=UTC))
    assert total >= len(events) and 0 < october < total

    # Dedup is exact across partitions: the same events again add nothing.
    app.ingest(events[:300])
    assert _hot(app) == total

    before = _figures(app, tmp_path / "cache")
    with app.store.transaction() as conn:
        ends = app.store.events.ends(conn, app.ws.id)
    saved = app.saved_state().to_dict()

    # Refusals: nothing dropped.
    assert _cli(url, "log", "archive", "--before", "2026-11", "--to", str(tmp_path / "missing")) == 2
    assert _cli(url, "log", "archive", "--before", "2999-01", "--to", str(tmp_path)) == 2
    assert _cli(url, "log", "archive", "--before", "2026-13", "--to", str(tmp_path)) == 2
    assert _hot(app) == total

    out = tmp_path / "archive"
    out.mkdir()
    (out / "event-2026-10.parquet").write_bytes(b"someone else's")
    assert _cli(url, "log", "archive", "--before", "2026-11", "--to", str(out)) == 2
    assert _hot(app) == total
    (out / "event-2026-10.parquet").unlink()
    assert _cli(url, "log", "archive", "--before", "2026-11", "--to", str(out)) == 0
    assert "2026-10" not in _months(app) and "2026-11" in _months(app)
    with app.store.transaction() as conn:
        done = partitions.archived(conn)
    assert [(a.month, Path(a.path).name) for a in done] == [("2026-10", "event-2026-10.parquet")]
    assert done[0].rows >= october and _hot(app) == total - done[0].rows
    assert (out / "event-2026-10.parquet").is_file()

    # An archived event sent again is still a repeat, and it can still be looked up by its id.
    app.ingest(events[:50])
    with app.store.transaction() as conn:
        assert app.store.events.get(conn, app.ws.id, events[0].id) == events[0]
    assert _hot(app) == total - done[0].rows

    # The same figures from the kept snapshot and from one rebuilt out of the archive and the hot log.
    with app.store.transaction() as conn:
        assert app.store.events.ends(conn, app.ws.id) == ends
    assert _figures(app, tmp_path / "cache") == before
    assert _figures(app, tmp_path / "fresh") == before

    # Replay reads the archive, then the table, in seq order.
    seqs = []
    with app.store.transaction() as conn:
        seqs = [s for s, _ in app.store.events.scan(conn, app.ws.id, batch=97)]
        cfg = app.workspace_config(conn)
    assert seqs == sorted(seqs) and len(seqs) == total
    assert replay(cfg, app.events()).state.to_dict() == saved
    app.close()
    assert _cli(url, "replay", "--check") == 0


def test_archive_waits_for_the_workers(postgres: PostgresServer, tmp_path: Path) -> None:
    postgres.reset()
    url = postgres.url
    sim = simulate(groups=2, days=3, seed=7, start=datetime(2026, 10, 30, tzinfo=UTC))
    app = App(url, clock=VirtualClock(sim.start))
    for spec in sim.specs:
        app.apply_spec(spec)
    app.ingest(list(sim.events()))
    with app.store.transaction() as conn:
        app.store.shards.configure(conn, 4, now_ms=0)  # workers set up, no shard processed anything yet
    total = _hot(app)
    assert _cli(url, "log", "archive", "--before", "2026-11", "--to", str(tmp_path)) == 2
    assert _hot(app) == total and not list(tmp_path.glob("*.parquet"))
    with app.store.transaction() as conn:
        conn.execute(text("UPDATE shard_lease SET last_seq = (SELECT max(seq) FROM event)"))
    assert _cli(url, "log", "archive", "--before", "2026-11", "--to", str(tmp_path)) == 0
    assert _hot(app) < total and (tmp_path / "event-2026-10.parquet").is_file()
    app.close()


def test_partitions_command_creates_months_ahead(postgres: PostgresServer) -> None:
    postgres.reset()
    url = postgres.url
    App(url).close()
    assert _cli(url, "log", "partitions", "--ahead", "6") == 0
    app = App(url)
    now = partitions.month_of_ms(int(datetime.now(UTC).timestamp() * 1000))
    assert {partitions.label(partitions.add_months(now, i)) for i in range(7)} <= set(_months(app))
    app.close()


def test_sqlite_has_no_partitions(sqlite_url: str, tmp_path: Path) -> None:
    App(sqlite_url).close()
    assert _cli(sqlite_url, "log", "archive", "--before", "2026-11", "--to", str(tmp_path)) == 2
    assert _cli(sqlite_url, "log", "partitions") == 2


@pytest.mark.parametrize("month", ["2026-1", "26-01", "2026-00"])
def test_bad_month(month: str) -> None:
    with pytest.raises(Exception, match="YYYY-MM"):
        partitions.parse_month(month)


def test_migration_keeps_the_rows_both_ways(postgres: PostgresServer) -> None:
    from importlib import resources

    from alembic import command
    from alembic.config import Config

    postgres.reset()
    sim = simulate(groups=2, days=3, seed=9, start=datetime(2026, 10, 30, tzinfo=UTC))
    app = App(postgres.url, clock=VirtualClock(sim.start))
    for spec in sim.specs:
        app.apply_spec(spec)
    app.ingest(list(sim.events()))
    total = _hot(app)
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("shequn.store").joinpath("migrations")))

    def migrate(step: Any, target: str) -> None:
        with app.store.db.engine.begin() as conn:
            cfg.attributes["connection"] = conn
            step(cfg, target)

    migrate(command.downgrade, "jobs19_a")  # back to one table with a unique index of ids
    with app.store.transaction() as conn:
        assert not partitions.is_partitioned(conn)
        assert conn.execute(text("SELECT count(*) FROM event")).scalar_one() == total
    migrate(command.upgrade, "head")  # the rows go to their months, the ids to event_uid, the seqs go on
    with app.store.transaction() as conn:
        assert partitions.is_partitioned(conn) and {(2026, 10), (2026, 11)} <= set(partitions.partitions(conn))
        assert conn.execute(text("SELECT count(*) FROM event_default")).scalar_one() == 0
        assert conn.execute(text("SELECT count(*) FROM event_uid")).scalar_one() == total
    with app.store.transaction() as conn:
        last = app.store.events.last_seq(conn, app.ws.id)
    first = list(sim.events())[:10]
    app.ingest(first)  # still repeats
    assert _hot(app) == total
    app.ingest([replace(first[0], id="after-the-migration")])
    with app.store.transaction() as conn:
        assert app.store.events.last_seq(conn, app.ws.id) > last
    app.close()


def test_concurrent_appends_of_the_same_ids_log_each_once(postgres: PostgresServer) -> None:
    import threading

    postgres.reset()
    sim = simulate(groups=3, days=2, seed=4, start=datetime(2026, 11, 10, tzinfo=UTC))
    app = App(postgres.url)
    for spec in sim.specs:
        app.apply_spec(spec)
    events = list(sim.events())[:600]
    ids = len({e.id for e in events})  # the simulation repeats some deliveries, as platforms do
    added: list[int] = []

    def append(order: list[Any]) -> None:
        for i in range(0, len(order), 50):
            with app.store.transaction() as conn:
                added.append(len(app.store.events.append(conn, app.ws.id, order[i : i + 50], now_ms=0)))

    threads = [threading.Thread(target=append, args=(o,)) for o in (events, events[::-1], events[200:] + events[:200])]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    with app.store.transaction() as conn:
        assert conn.execute(text("SELECT count(*), count(DISTINCT uid) FROM event")).one() == (ids, ids)
    assert sum(added) == ids
    app.close()
