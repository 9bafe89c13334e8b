"""The ingest pipeline: log → engine → state and outbox, staff tasks for what a platform forbids, atomicity."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.engine import replay
from shequn.policies import Welcome
from shequn.store import ActionStatus
from tests.conftest import T0
from tests.support.builders import join, msg, spec


def make_app(url: str, *, platform: str = "sandbox") -> App:
    # The pipeline's mechanics, with the welcome policy alone (the full policy set is tested in tests/policies).
    app = App(url, clock=VirtualClock(T0), policies=[Welcome()])
    app.apply_spec(spec(platform=platform))
    return app


def test_live_events_go_to_the_outbox_once(db_url: str) -> None:
    app = make_app(db_url)
    events = [join("u1", T0), join("u2", T0 + timedelta(minutes=1))]
    first = app.ingest(events)
    again = app.ingest(events)
    assert (first.added, first.actions, again.added, again.actions, again.duplicates) == (2, 2, 0, 0, 2)
    with app.store.transaction() as conn:
        items = app.store.actions.items(conn, app.ws.id, status=ActionStatus.PENDING)
    assert [i.action.target for i in items] == ["u1", "u2"]
    app.close()


def test_actions_a_platform_cannot_do_become_staff_tasks_with_the_reason(sqlite_url: str) -> None:
    app = make_app(sqlite_url, platform="wechat")  # no connector: a person must post the welcome
    report = app.ingest([join("u1", T0, platform="wechat")])
    assert report.actions == 0 and report.staff_tasks == 1
    with app.store.transaction() as conn:
        [task] = app.store.tasks.list(conn, app.ws.id)
        assert app.store.actions.count_by_status(conn, app.ws.id) == {"staff": 1}
    assert task.reason == "no_connector" and task.kind == "post"
    assert "wechat" in task.title and "发群消息" in task.title
    assert task.detail["action"]["text"].startswith("热烈欢迎")
    app.close()


def test_history_builds_state_but_sends_nothing(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    report = app.ingest([join("u1", T0), msg("u1", T0)], history=True)
    assert report.unsent == 1 and report.actions == 0
    assert app.saved_state().communities["读书会"].members["sandbox:u1"].messages == 1
    app.close()


def test_bulk_history_is_processed_by_catch_up_and_equals_a_replay(db_url: str) -> None:
    app = make_app(db_url)
    events = [join(f"u{i}", T0 + timedelta(minutes=i)) for i in range(30)]
    events += [msg(f"u{i % 7}", T0 + timedelta(hours=1, minutes=i)) for i in range(100)]
    assert app.append_history(events).added == 130
    assert app.saved_state().events == 0
    assert app.catch_up().by_kind == {"join": 30, "message": 100}
    saved = app.saved_state()
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
    assert replay(cfg, app.events()).state.to_dict() == saved.to_dict()
    assert saved.events == 130
    app.close()


def test_a_failure_mid_ingest_rolls_everything_back(sqlite_url: str, monkeypatch: pytest.MonkeyPatch) -> None:
    app = make_app(sqlite_url)
    app.ingest([join("u1", T0)])
    before = app.saved_state().to_dict()

    def crash(*args: object, **kwargs: object) -> None:
        raise RuntimeError("disk full")

    monkeypatch.setattr(app.store.actions, "enqueue", crash)
    with pytest.raises(RuntimeError):
        app.ingest([join("u2", T0 + timedelta(minutes=1))])
    monkeypatch.undo()
    assert app.saved_state().to_dict() == before
    with app.store.transaction() as conn:
        assert app.store.events.count_by_kind(conn, app.ws.id) == {"join": 1}
    # The next ingest starts from the store, not from the engine's memory of the failed batch.
    report = app.ingest([join("u2", T0 + timedelta(minutes=1))])
    assert report.added == 1 and app.saved_state().communities["读书会"].members["sandbox:u2"].number == 2
    app.close()


def test_rebuild_replays_the_whole_log(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    app.ingest([join("u1", T0), msg("u1", T0), join("u2", T0)])
    before = app.saved_state().to_dict()
    assert app.rebuild().by_kind == {"join": 2, "message": 1}
    assert app.saved_state().to_dict() == before
    app.close()


def test_apply_is_idempotent_and_audited(sqlite_url: str) -> None:
    app = App(sqlite_url, clock=VirtualClock(T0))
    assert app.apply_spec(spec()) == "created"
    assert app.apply_spec(spec()) == "unchanged"
    assert app.apply_spec(spec(nickname_format="昵称-城市-爱好")) == "updated"
    with app.store.transaction() as conn:
        verbs = [e.verb for e in app.store.audit.list(conn, app.ws.id)]
    assert verbs == ["community.updated", "community.created"]
    app.close()
