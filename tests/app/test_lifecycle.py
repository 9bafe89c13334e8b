"""The group lifecycle through the store and the engine with a virtual clock: split, merge, archive, dissolve, hand
over, temporary groups; bad input refused with nothing written; the state rebuilt by a replay."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from shequn.app import App
from shequn.domain import UserError, VirtualClock
from shequn.engine import replay
from shequn.policies import Lifecycle as LifecyclePolicy
from shequn.policies import Welcome
from shequn.services.lifecycle import Lifecycle
from shequn.store import ActionStatus
from shequn.store.schema import ACTION, AUDIT, EVENT, STAFF_TASK
from tests.conftest import T0
from tests.support.builders import join, msg, spec


def make_app(url: str, *, platform: str = "sandbox", capacity: int = 6, **extra: Any) -> App:
    app = App(url, clock=VirtualClock(T0), policies=[Welcome(), LifecyclePolicy()])
    app.apply_spec(spec(platform=platform, groups=("g1", "g2"), size={"policy": "soft_cap", "capacity": capacity},
                        roles={"architect": ["boss"]}, **extra))  # fmt: skip
    app.apply_spec(spec("别的社群", platform=platform, groups=("x1",)))
    return app


def fill(app: App, n: int, *, group: str = "g1", platform: str = "sandbox", talk: int = 0) -> None:
    """``n`` members join ``group`` (history: nothing sent); the first ``talk`` of them speak, more the earlier."""
    events: list[Any] = [join("boss", T0, group=group, platform=platform)]
    for i in range(n):
        events.append(join(f"u{i}", T0 + timedelta(minutes=i), group=group, platform=platform))
    for i in range(talk):
        events += [
            msg(f"u{i}", T0 + timedelta(hours=1, minutes=k), group=group, platform=platform) for k in range(talk - i)
        ]
    app.ingest(events, history=True)


def counts(app: App) -> tuple[int, ...]:
    with app.store.transaction() as conn:
        return tuple(
            int(conn.execute(select(func.count()).select_from(t)).scalar_one())
            for t in (ACTION, EVENT, AUDIT, STAFF_TASK)
        )


def actions(app: App, status: ActionStatus = ActionStatus.PENDING) -> list[Any]:
    with app.store.transaction() as conn:
        return [i.action for i in app.store.actions.items(conn, app.ws.id, status=status)]


def test_a_split_where_the_bot_cannot_create_groups_asks_a_person_then_attaches_the_new_group(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    fill(app, 8, talk=4)
    app.clock.advance(timedelta(days=1))  # type: ignore[attr-defined]
    out = Lifecycle(app).split("读书会", "sandbox:g1")
    assert (out.members, out.queued, out.staff_tasks) == (4, 1, 1)  # the announcement; a person creates the group
    with app.store.transaction() as conn:
        [task] = app.store.tasks.list(conn, app.ws.id)
    assert "新建群" in task.title
    instructions = task.detail["action"]["instructions"]
    assert "shequn group split 读书会 sandbox:g1 --into ID --by activity --force" in instructions
    moved = {f"u{i}" for i in range(4, 8)}  # the quietest half (u4..u7 never spoke); staff (boss) stays
    assert all(f"sandbox:{u}" in instructions for u in moved) and "sandbox:boss" not in instructions
    [post] = actions(app)
    assert "4位群友" in post.text and post.group == "g1"

    # The person created g9; the same split, into it, binds it, invites the segment and welcomes them there.
    out = Lifecycle(app).split("读书会", "g1", into="g9", force=True)
    assert out.other == "sandbox:g9" and out.members == 4
    with app.store.transaction() as conn:
        g9 = [g for g in app.store.groups.list(conn, app.ws.id) if g.platform_id == "g9"]
        invites = [t for t in app.store.tasks.list(conn, app.ws.id) if t.kind == "invite"]
    assert g9[0].community == "读书会"
    assert {t.detail["action"]["target"] for t in invites} == moved  # the sandbox cannot invite: staff tasks
    assert any(a.group == "g9" and "分出来的新群" in a.text for a in actions(app))
    app.close()


def test_a_split_on_matrix_is_one_create_group_action_with_the_members_invited(sqlite_url: str) -> None:
    app = make_app(sqlite_url, platform="matrix")
    fill(app, 6, platform="matrix")
    out = Lifecycle(app).split("读书会", "matrix:g1", by="joined", count=2, name="读书会二群")
    assert (out.queued, out.staff_tasks) == (2, 0)
    create = next(a for a in actions(app) if a.kind.value == "create_group")
    assert create.name == "读书会二群" and set(create.invite) == {"u5", "u4"}  # the latest to join
    assert "分出来的新群" in create.text
    app.close()


def test_bad_input_is_refused_in_words_with_nothing_written(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    fill(app, 3)
    before = counts(app)
    life = Lifecycle(app)
    cases = [
        (lambda: life.split("读书会", "nope"), "没有群"),
        (lambda: life.split("读书会", "x1"), "别的社群"),
        (lambda: life.split("读书会", "g1"), "--force"),
        (lambda: life.merge("读书会", "g1", "sandbox:g1"), "它自己"),
        (lambda: life.split("读书会", "g1", by="mood", force=True), "--by"),
        (lambda: life.split("没有", "g1"), "没有社群"),
        (lambda: life.handover("读书会", "g1", to="u1", role="king"), "没有角色"),
    ]
    for call, words in cases:
        with pytest.raises(UserError) as refused:
            call()
        assert refused.value.exit_code == 2 and words in str(refused.value), str(refused.value)
    assert counts(app) == before
    app.close()


def test_merge_archive_and_dissolve_record_the_state_and_the_engine_stops_acting_there(db_url: str) -> None:
    app = make_app(db_url)
    fill(app, 4, talk=2)
    app.ingest([join("v0", T0, group="g2")], history=True)
    app.clock.advance(timedelta(days=2))  # type: ignore[attr-defined]
    out = Lifecycle(app).merge("读书会", "g1", "g2")
    assert out.members == 2 and out.other == "sandbox:g2"  # u0, u1 spoke; u2, u3 never did
    kinds = [(a.kind.value, a.group) for a in actions(app)]
    assert ("post", "g1") in kinds and ("post", "g2") in kinds and ("mute", "g1") in kinds
    with app.store.transaction() as conn:
        states = {g.platform_id: g.state for g in app.store.groups.list(conn, app.ws.id)}
    assert states["g1"] == "archived" and states["g2"] == "active"
    with pytest.raises(UserError, match="归档"):
        Lifecycle(app).archive("读书会", "g1")

    # No policy acts in an archived group: a newcomer there is not welcomed (but counted).
    sent = len(actions(app))
    app.ingest([join("late", app.clock.now(), group="g1")])
    assert len(actions(app)) == sent
    assert "sandbox:late" in app.saved_state().communities["读书会"].members

    out = Lifecycle(app).dissolve("读书会", "g2")
    assert out.queued == 1 and out.staff_tasks == 1  # the farewell; closing a sandbox group is a person's job
    with app.store.transaction() as conn:
        states = {g.platform_id: g.state for g in app.store.groups.list(conn, app.ws.id)}
        audit = [r.verb for r in app.store.audit.list(conn, app.ws.id)]
    assert states["g2"] == "dissolved"
    assert "group.merge" in audit and "group.dissolve" in audit

    # The log is the truth: a replay gives the same lifecycle state, a rebuild the same rows.
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
    replayed = replay(cfg, app.events(), app.policies).state
    assert replayed.to_dict() == app.saved_state().to_dict()
    app.rebuild()
    with app.store.transaction() as conn:
        assert {g.platform_id: g.state for g in app.store.groups.list(conn, app.ws.id)}["g1"] == "archived"
    app.close()


def test_a_temporary_group_is_reminded_then_archived_at_its_end(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    fill(app, 2)
    clock = app.clock
    assert isinstance(clock, VirtualClock)
    Lifecycle(app).temporary("读书会", "g1", T0 + timedelta(days=5))
    texts: list[str] = []
    for days in (1, 2, 2.5, 4.2, 4.5, 5.01, 6):
        clock.set(T0 + timedelta(days=days))
        app.tick()
        texts = [a.text_or_empty for a in actions(app) if a.policy == "lifecycle"]
    reminders = [t for t in texts if "提醒" in t]
    assert len(reminders) == 2 and "还有3天" in reminders[0] and "还有1天" in reminders[1]
    assert any("归档" in t for t in texts)
    assert any(a.kind.value == "mute" and a.group == "g1" for a in actions(app))
    with app.store.transaction() as conn:
        g1 = next(g for g in app.store.groups.list(conn, app.ws.id) if g.platform_id == "g1")
    assert g1.state == "archived"
    app.close()


def test_handover_moves_the_role_and_asks_staff_to_transfer_the_rights(sqlite_url: str) -> None:
    app = make_app(sqlite_url)
    out = Lifecycle(app).handover("读书会", "g1", to="u7")
    assert out.staff_tasks == 1
    assert app.community("读书会").spec.roles["architect"] == ["u7"]
    with app.store.transaction() as conn:
        [task] = app.store.tasks.list(conn, app.ws.id)
    assert "boss" in task.title and "u7" in task.title
    app.close()


def test_an_archived_group_gets_no_rhythm_any_more(sqlite_url: str) -> None:
    from shequn.schedule.plan import rhythm_groups

    app = make_app(sqlite_url)
    Lifecycle(app).archive("读书会", "g1")
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
    assert [g.platform_id for g in rhythm_groups(cfg.communities["读书会"].spec, cfg.groups.values())] == ["g2"]
    app.close()


def test_the_analytics_stop_counting_an_archived_group_as_dead(sqlite_url: str, tmp_path: Path) -> None:
    from shequn.analytics.engine import analyze

    app = make_app(sqlite_url)
    fill(app, 3, talk=2)
    app.ingest([join("v0", T0, group="g2"), msg("v0", T0 + timedelta(days=20), group="g2")], history=True)
    g1 = analyze(app.store, app.ws, cache=tmp_path / "a").groups["sandbox:g1"]
    dead = next(f for f in g1.findings if f.key == "dead_group")
    assert g1.dead and "shequn group merge 读书会 sandbox:g1 --into sandbox:g2" in dead.commands
    from shequn.reports.html import render_html
    from shequn.reports.markdown import render_markdown

    report = analyze(app.store, app.ws, cache=tmp_path / "a")
    assert "`shequn group merge 读书会 sandbox:g1 --into sandbox:g2`" in render_markdown(report)
    assert "<code>shequn group dissolve 读书会 sandbox:g1</code>" in render_html(report)

    Lifecycle(app).archive("读书会", "g1")
    report = analyze(app.store, app.ws, cache=tmp_path / "a")
    g1 = report.groups["sandbox:g1"]
    assert (g1.state, g1.stage, g1.dead, g1.findings) == ("archived", "archived", False, [])
    assert report.communities["读书会"].dead_groups == 0
    app.close()
