"""Metrics on a small hand-made history, on SQLite and PostgreSQL (DuckDB reads both through the shipped scanners)."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from shequn.analytics.engine import analyze
from shequn.app import App
from shequn.domain import Delete, Join, JoinMethod, LeaveReason, Message, OperatorAction, Reaction, stable_id
from tests.conftest import T0
from tests.support.builders import join, leave, msg, spec

H = timedelta(hours=1)


def roster(actor: str) -> Join:
    return Join(
        id=stable_id("roster", actor), at=T0, platform="sandbox", group="g1", actor=actor, actor_name=actor,
        method=JoinMethod.ROSTER,
    )  # fmt: skip


@pytest.fixture
def history(db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> App:
    monkeypatch.setenv("SHEQUN_ANALYTICS_CACHE", str(tmp_path / "cache"))
    app = App(db_url)
    app.apply_spec(spec("读书会", "growth", roles={"architect": ["owner"]}))
    q = msg("ann", T0 + 1 * H, "这本书适合新手吗？")
    answer = msg("bob", T0 + 1 * H + timedelta(minutes=6), "适合", reply_to=q.message_id)
    unanswered = msg("cat", T0 + 2 * H, "请问作业在哪里交")
    ad = Message(
        id=stable_id("ad"), at=T0 + 30 * H, platform="sandbox", group="g1", actor="spam", actor_name="客服13812345678",
        message_id="ad1", text="兼职日结，加我vx：abc_123",
    )  # fmt: skip
    events = [
        roster("owner"), roster("ann"), roster("bob"), roster("cat"), roster("lurker"),
        q, answer, unanswered,
        msg("owner", T0 + 3 * H, "欢迎大家，今天的话题是读书方法"),
        Reaction(id=stable_id("r1"), at=T0 + 4 * H, platform="sandbox", group="g1", actor="cat",
                 message_id=answer.message_id, emoji="👍"),
        join("new1", T0 + 10 * H, inviter="ann"),
        msg("new1", T0 + 12 * H, "大家好，我是新来的"),
        join("new2", T0 + 10 * H, inviter="ann"),
        join("spam", T0 + 29 * H, name="客服13812345678"),
        ad,
        Delete(id=stable_id("d1"), at=T0 + 31 * H, platform="sandbox", group="g1", actor="owner", message_id="ad1",
               by="owner"),
        leave("spam", T0 + 31 * H, reason=LeaveReason.REMOVED),
        leave("new2", T0 + 40 * H),
        msg("bob", T0 + 47 * H, "晚安"),
    ]  # fmt: skip
    app.ingest(events, history=True)
    return app


@pytest.mark.pg
def test_metrics_of_a_small_group(history: App) -> None:
    r = analyze(history.store, history.ws, days=3)
    g = r.groups["sandbox:g1"]
    assert g.community == "读书会" and g.type == "growth"
    assert g.messages == 7  # bots and system lines aside, every message counts, the ad too
    assert g.speakers == 6
    assert g.members == 6  # owner, ann, bob, cat, lurker, new1 (new2 left, spam removed)
    assert g.joins == 3  # roster snapshots are not newcomers
    assert (g.leaves_voluntary, g.leaves_removed) == (1, 1)
    assert g.activation_24h == pytest.approx(2 / 3, abs=1e-3)  # new1 and the ad account spoke within 24 h; new2 did not
    assert (g.questions, g.answered, g.unanswered) == (2, 1, 1)
    assert g.median_answer_minutes == pytest.approx(6.0)
    assert g.ad_accounts == 1 and g.ad_messages == 1
    assert [a["name"] for a in r.ad_accounts] == ["客服138****78"]  # phone numbers are masked
    assert g.staff_messages == 1 and g.staff_share == pytest.approx(1 / 7, abs=1e-3)
    rows = {m.name: m for m in r.members["sandbox:g1"]}
    assert "scout" in rows["ann"].roles  # brought in two newcomers
    assert "silent" not in rows["lurker"].roles  # in the group under two weeks of the window: not yet silent
    assert rows["owner"].staff and not rows["ann"].staff
    assert rows["bob"].responses == 1 and rows["ann"].responses == 1  # a 👍 from cat; bob's answer to ann
    assert sum(d.messages for d in g.daily) == 7


def test_the_window_ends_at_the_last_chat_event_not_at_an_operators_tag(history: App) -> None:
    before = analyze(history.store, history.ws, days=3)
    tag = OperatorAction(
        id=stable_id("tag"), at=T0 + 90 * 24 * H, platform="console", community="读书会", op="tag", target="ann",
        value="vip", by="运营小张",
    )  # fmt: skip
    history.ingest([tag], history=True)  # an operator's tag months after the imported chat ends
    after = analyze(history.store, history.ws, days=3)
    assert (after.start, after.end) == (before.start, before.end)
    assert after.groups["sandbox:g1"].messages == before.groups["sandbox:g1"].messages == 7
    assert after.groups["sandbox:g1"].silent_days == before.groups["sandbox:g1"].silent_days


def test_the_snapshot_is_incremental(history: App, tmp_path: Path) -> None:
    first = analyze(history.store, history.ws, days=3)
    assert first.timings["snapshot_events_added"] > 0
    again = analyze(history.store, history.ws, days=3)
    assert again.timings["snapshot_events_added"] == 0
    history.ingest([msg("bob", T0 + 48 * H, "早")], history=True)
    more = analyze(history.store, history.ws, days=3)
    assert more.timings["snapshot_events_added"] == 1
    assert more.groups["sandbox:g1"].messages == 8


@pytest.mark.pg
def test_a_refresh_reads_only_the_new_events_from_the_store(history: App, tmp_path: Path) -> None:
    """The snapshot asks the store for the events above its last seq; the store must seek them, not hand over the
    whole log for DuckDB to filter (DuckDB's SQLite scanner pushes no filter down: it did, for every refresh)."""
    import json

    from shequn.analytics import source

    con = source.connect()
    source.attach(con, history.store.db.url)
    top = int(con.execute("SELECT max(seq) FROM src.event").fetchone()[0])  # type: ignore[index]
    logged = int(con.execute("SELECT count(*) FROM src.event").fetchone()[0])  # type: ignore[index]
    profile = tmp_path / "profile.json"
    con.execute("PRAGMA enable_profiling = 'json'")
    con.execute(f"PRAGMA profiling_output = '{profile}'")

    def rows_read(sql: str) -> int:
        con.execute(f"SELECT count(*) FROM ({sql})").fetchall()

        def leaves(node: dict[str, Any]) -> Iterator[dict[str, Any]]:
            children = node.get("children") or []
            yield from (x for child in children for x in leaves(child)) if children else [node]

        return sum(int(leaf["operator_cardinality"]) for leaf in leaves(json.loads(profile.read_text())))

    assert rows_read(source._events_sql(source._backend(con), history.ws.id, top - 2, top)) == 2
    # What the scanner alone does with the same range, on SQLite: every logged event read.
    if source._backend(con) == "sqlite":
        assert rows_read(source._events_sql("scanner", history.ws.id, top - 2, top)) == logged > 2


def test_concurrent_analyses_copy_each_new_event_once(history: App) -> None:
    """Console workers and ``shequn report`` may analyse at once: they take turns on the snapshot, so each new event
    is copied once and every run sees all of them."""
    analyze(history.store, history.ws, days=3)
    history.ingest([msg("bob", T0 + 48 * H + timedelta(minutes=i), f"早{i}") for i in range(5)], history=True)
    results, errors = [], []

    def run() -> None:
        try:
            results.append(analyze(history.store, history.ws, days=3))
        except Exception as exc:
            errors.append(exc)

    threads = [threading.Thread(target=run) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert sum(r.timings["snapshot_events_added"] for r in results) == 5
    assert {r.groups["sandbox:g1"].messages for r in results} == {12}


def test_unknown_community_is_a_clear_error(history: App) -> None:
    from shequn.domain import UserError

    with pytest.raises(UserError, match="no community named"):
        analyze(history.store, history.ws, community="nope")


def test_the_parts_totals_give_the_figures_of_the_messages(
    history: App, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Reports take the whole record's figures (first and last message per person, messages per day) from the
    totals kept beside each part; with those totals gone (every part read message by message) the report is the
    same, whether the window ends after every part or inside the last one."""
    from shequn.analytics import metrics

    analyze(history.store, history.ws, days=3)
    history.ingest([msg("bob", T0 + 50 * H + timedelta(minutes=i), f"早{i}") for i in range(3)], history=True)
    first = analyze(history.store, history.ws, days=3)  # a second part: the new messages
    folder = Path(str(tmp_path / "cache"))
    assert len(list(folder.rglob("part-*.parquet"))) == 2 and len(list(folder.rglob("agg-*.parquet"))) == 4

    def plain(r: Any) -> dict[str, Any]:
        d = r.to_dict()
        d.pop("timings"), d.pop("generated")
        return dict(d)

    until = T0 + 50 * H + timedelta(minutes=1)  # ends inside the second part (after its first message)
    with_totals = [plain(first), plain(analyze(history.store, history.ws, days=3, until=until))]
    monkeypatch.setattr(metrics, "aggregate_paths", lambda part: (part.with_name("none-a"), part.with_name("none-b")))
    without = [
        plain(analyze(history.store, history.ws, days=3)),
        plain(analyze(history.store, history.ws, days=3, until=until)),
    ]
    assert with_totals == without
    assert sum(d["messages"] for d in with_totals[1]["groups"]["sandbox:g1"]["daily"]) == 8
    assert first.groups["sandbox:g1"].messages == 10 and sum(d.messages for d in first.groups["sandbox:g1"].daily) == 10
