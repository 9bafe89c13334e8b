"""The store on SQLite and on a real PostgreSQL: migrations, the event log, identities, state, outbox, tasks."""

from __future__ import annotations

from datetime import timedelta

import pytest
from sqlalchemy import inspect

from shequn.domain import Post, UserError
from shequn.engine import Engine, WorkspaceConfig
from shequn.store import ActionStatus, Database, Store
from tests.conftest import T0
from tests.support.builders import join, msg, spec

TABLES = {
    "workspace",
    "community",
    "chat_group",
    "person",
    "identity",
    "membership",
    "group_member",
    "event",
    "action",
    "staff_task",
    "audit_log",
    "policy_state",
    "engine_cursor",
    "community_state",
    "group_state",
}


def open_ws(url: str) -> tuple[Store, int]:
    store = Store(url)
    with store.transaction() as conn:
        ws = store.workspaces.ensure(conn, name="default", timezone="Asia/Shanghai", locale="zh-CN", now_ms=0)
    return store, ws.id


def test_migrations_create_every_table_and_are_idempotent(db_url: str) -> None:
    db = Database(db_url)
    assert set(inspect(db.engine).get_table_names()) >= TABLES
    db.migrate()  # at head already: nothing to do, no error
    Database(db_url).dispose()
    db.dispose()


def test_event_log_appends_once_per_id_in_order(db_url: str) -> None:
    store, ws = open_ws(db_url)
    events = [join("u1", T0), msg("u1", T0 + timedelta(seconds=1), "第一条"), msg("u2", T0 + timedelta(seconds=2))]
    with store.transaction() as conn:
        added = store.events.append(conn, ws, [*events, events[1]], now_ms=1)
    assert [e for _, e in added] == events
    seqs = [s for s, _ in added]
    assert seqs == sorted(seqs)
    with store.transaction() as conn:
        assert store.events.append(conn, ws, events, now_ms=2) == []
        assert [e for _, e in store.events.scan(conn, ws, batch=2)] == events
        assert [e for _, e in store.events.scan(conn, ws, after_seq=seqs[0])] == events[1:]
        assert store.events.count_by_kind(conn, ws) == {"join": 1, "message": 2}
        assert store.events.last_seq(conn, ws) == seqs[-1]
    store.close()


def test_identities_are_text_and_resolve_to_one_person_each(db_url: str) -> None:
    store, ws = open_ws(db_url)
    big = str(2**62 + 7)
    with store.transaction() as conn:
        first = store.people.resolve(conn, ws, [("telegram", big, "老王"), ("matrix", "@w:x.org", "")], now_ms=0)
        again = store.people.resolve(conn, ws, [("telegram", big, "")], now_ms=0)
        assert again == {f"telegram:{big}": first[f"telegram:{big}"]}
        assert len(set(first.values())) == 2
        assert store.people.count(conn, ws) == 2
    store.close()


def test_a_failed_transaction_leaves_the_store_as_it_was(db_url: str) -> None:
    store, ws = open_ws(db_url)
    with pytest.raises(RuntimeError), store.transaction() as conn:
        store.events.append(conn, ws, [join("u1", T0)], now_ms=0)
        raise RuntimeError("crash in the middle")
    with store.transaction() as conn:
        assert store.events.last_seq(conn, ws) == 0
    store.close()


def test_derived_state_saves_and_loads_exactly(db_url: str) -> None:
    store, ws = open_ws(db_url)
    s = spec(groups=("g1", "g2"))
    with store.transaction() as conn:
        cid, outcome = store.communities.put(conn, ws, s, now_ms=0)
        assert outcome == "created"
        for g in s.groups:
            store.groups.bind(
                conn,
                ws,
                community_id=cid,
                community_name=s.name,
                platform=g.platform,
                platform_id=g.id,
                name=g.name,
                role=g.role,
                capacity=None,
                now_ms=0,
            )
    engine = Engine(WorkspaceConfig.from_specs([s]))
    events = [
        join("u1", T0),
        join("u2", T0, group="g2", inviter="u1"),
        msg("u1", T0 + timedelta(minutes=5)),
        join("u1", T0 + timedelta(minutes=6), group="g2"),
    ]
    for e in events:
        engine.handle(e)
    dirty = engine.take_dirty()
    with store.transaction() as conn:
        store.state.save(
            conn,
            ws,
            engine.state,
            community_ids={s.name: cid},
            members=dirty.members,
            groups=dirty.groups,
            communities=dirty.communities,
            policy=dirty.policy,
            last_seq=4,
            now_ms=0,
        )
        loaded = store.state.load(conn, ws)
        assert store.state.cursor(conn, ws) == (4, 4)
    assert loaded.to_dict() == engine.state.to_dict()
    with store.transaction() as conn:
        store.state.clear(conn, ws)
        assert store.state.load(conn, ws).to_dict()["communities"] == {}
    store.close()


def test_outbox_keeps_one_row_per_key_and_staff_tasks_complete_once(db_url: str) -> None:
    store, ws = open_ws(db_url)
    post = Post(key="welcome:e1", at=T0, platform="sandbox", group="g1", text="欢迎")
    with store.transaction() as conn:
        first = store.actions.enqueue(conn, ws, [post], group_ids={}, community_ids={}, now_ms=0)
        assert list(first) == ["welcome:e1"]
        assert store.actions.enqueue(conn, ws, [post], group_ids={}, community_ids={}, now_ms=0) == {}
        [item] = store.actions.items(conn, ws, status=ActionStatus.PENDING)
        assert item.action == post
        store.actions.mark(conn, item.id, status=ActionStatus.SENT, now_ms=5, result={"message_id": "m1"})
        assert store.actions.count_by_status(conn, ws) == {"sent": 1}
        task = store.tasks.open(
            conn,
            ws,
            kind="remove",
            reason="capability_missing",
            title="请人工移出",
            detail={},
            now_ms=0,
            action_id=item.id,
        )
        store.tasks.complete(conn, ws, task, by="运营小张", now_ms=9)
        [done] = store.tasks.list(conn, ws, status="done")
        assert done.done_by == "运营小张" and done.done_ms == 9
        with pytest.raises(UserError, match="not open"):
            store.tasks.complete(conn, ws, task, by="x", now_ms=10)
        store.audit.record(
            conn, ws, actor="cli", verb="community.created", object_type="community", object_id="读书会", now_ms=3
        )
        assert store.audit.list(conn, ws)[0].object_id == "读书会"
    store.close()


@pytest.mark.parametrize(
    ("lang", "says"),
    [("zh-CN", "群 sandbox:g1 已属于社群「甲」：请先从那里移除"), ("en", "already belongs to community '甲'")],
)
def test_a_group_belongs_to_one_community(db_url: str, lang: str, says: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQUN_LANG", lang)
    store, ws = open_ws(db_url)
    with store.transaction() as conn:
        a, _ = store.communities.put(conn, ws, spec("甲"), now_ms=0)
        b, _ = store.communities.put(conn, ws, spec("乙"), now_ms=0)
        store.groups.bind(
            conn,
            ws,
            community_id=a,
            community_name="甲",
            platform="sandbox",
            platform_id="g1",
            name="",
            role="main",
            capacity=None,
            now_ms=0,
        )
        with pytest.raises(UserError, match=says):
            store.groups.bind(
                conn,
                ws,
                community_id=b,
                community_name="乙",
                platform="sandbox",
                platform_id="g1",
                name="",
                role="main",
                capacity=None,
                now_ms=0,
            )
    store.close()


def test_unreachable_database_is_one_clear_line() -> None:
    with pytest.raises(UserError) as info:
        Database("postgresql://someone:secret@127.0.0.1:1/nothing")
    text = str(info.value)
    assert "cannot reach database" in text and "secret" not in text and "\n" not in text
