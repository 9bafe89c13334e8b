"""Two processes of one workspace (two web workers): each one's engine follows what the other wrote, from the log,
without reloading every member (issue 18: a reload per write made writes wait seconds under load)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.engine import replay
from tests.support.builders import msg, spec
from tests.web.conftest import populate


def test_an_engine_follows_the_other_process_and_reloads_on_a_new_configuration(sqlite_url: str) -> None:
    clock = VirtualClock(datetime(2026, 11, 4, tzinfo=UTC))
    a, b = App(sqlite_url, clock=clock), App(sqlite_url, clock=clock)
    populate(a)
    a.catch_up()
    b.catch_up()
    engine = a._engine
    at = clock.now()
    for i in range(5):  # b writes; a follows before each of its own writes, as the write lock makes it
        b.refresh()
        b.ingest([msg(f"u{i}", at + timedelta(minutes=i), f"from b {i}", group="g1")])
        a.refresh()
        assert a._engine is engine, "a reloaded its engine instead of following b's events"
        a.ingest([msg(f"u{i + 1}", at + timedelta(minutes=i, seconds=30), f"from a {i}", group="g1")])
    with a.store.transaction() as conn:
        cfg = a.workspace_config(conn)
    assert replay(cfg, a.events()).state.to_dict() == a.saved_state().to_dict()
    assert a._engine is not None and a._engine.state.to_dict() == a.saved_state().to_dict()
    # A new spec (or binding) is a new configuration: following is not enough, the engine is reloaded.
    b.apply_spec(spec("读书会", "growth", groups=("g1", "g2", "g9")))
    b.ingest([msg("u1", at + timedelta(hours=1), "after the change", group="g9")])
    a.refresh()
    assert a._engine is None
    a.close()
    b.close()
