"""Moderation before replies before broadcasts: when a bot's window is the bottleneck, a moderation action queued
last goes first, then the replies, then the rhythm's posts; within a chat the order of decision is kept."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from shequn.connectors.fake import FilePlatformConnector
from shequn.domain import Ban, DeleteMessage, Post, Reply
from shequn.outbox.priority import Priority, priority_of
from tests.outbox.conftest import T0, documented, policies, runner, shown_keys, workspace

COMMON = {"community": "读书会", "platform": "fake", "at": T0}


def test_the_tiers_come_from_the_action_kind_and_the_deciding_policy() -> None:
    assert priority_of(DeleteMessage(key="d", group="g", message_id="m", **COMMON)) is Priority.MODERATION
    assert priority_of(Ban(key="b", group="g", target="u", policy="moderation", **COMMON)) is Priority.MODERATION
    assert priority_of(Reply(key="r", group="g", message_id="m", text="签到成功", policy="acks", **COMMON)) is (
        Priority.REPLY
    )
    assert priority_of(Post(key="w", group="g", text="欢迎", policy="welcome", **COMMON)) is Priority.REPLY
    morning = Post(key="p", group="g", text="早报", policy="schedule.morning_report", **COMMON)
    assert priority_of(morning) is Priority.BROADCAST
    assert priority_of(Post(key="c", group="g", text="拼团", policy="group_buy", **COMMON)) is Priority.BROADCAST
    assert priority_of(Post(key="l", group="g", text="本周排行", policy="leaderboard", **COMMON)) is Priority.BROADCAST


def test_under_a_backlog_the_moderation_queued_last_is_sent_first(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=12)
    broadcasts = [
        Post(key=f"morning:g{i}", group=f"g{i}", text="早报", policy="schedule.morning_report", **COMMON)
        for i in range(10)
    ]
    second = Post(key="morning:g0:2", group="g0", text="早报 2", policy="schedule.morning_report", **COMMON)
    reply = Reply(key="ack", group="g10", message_id="m1", text="签到成功", policy="acks", **COMMON)
    delete = DeleteMessage(key="delete", group="g11", message_id="m2", policy="moderation", **COMMON)
    with app.store.transaction() as conn:  # the backlog first, the reply, then the moderation last of all
        app.enqueue_actions(conn, [*broadcasts, second, reply, delete])
    app.clock.advance(timedelta(seconds=1))  # type: ignore[attr-defined]
    fake = FilePlatformConnector(tmp_path / "shown.jsonl")
    pol = policies(fake={"limits": [documented(1, 1, "bot")]})  # the bot's window is the bottleneck: one a second
    asyncio.run(runner(app, fake, pol=pol).run(until_idle=True))
    shown = shown_keys(fake.path)
    assert shown[:2] == ["delete", "ack"], shown
    assert sorted(shown[2:]) == sorted(a.key for a in [*broadcasts, second])
    assert shown.index("morning:g0") < shown.index("morning:g0:2")  # within a chat, the order of decision
    app.close()
