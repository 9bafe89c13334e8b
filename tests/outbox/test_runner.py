"""The outbox runner: once each, in order per group, within the limits, retries, quotas, crash reconciliation."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from shequn.connectors.fake import BlindFilePlatform, FilePlatformConnector, IdempotentFilePlatform
from shequn.outbox import LeaseHeldError, OutboxRunner, VirtualTimer
from tests.outbox.conftest import (
    at_seconds,
    documented,
    enqueue_posts,
    max_in_window,
    policies,
    runner,
    shown_keys,
    workspace,
)


def statuses(app: object) -> dict[str, int]:
    with app.store.transaction() as conn:  # type: ignore[attr-defined]
        return app.store.actions.count_by_status(conn, app.ws.id)  # type: ignore[attr-defined]


def test_every_action_reaches_the_platform_once_in_order_per_group(db_url: str, tmp_path: Path) -> None:
    app = workspace(db_url)
    keys = enqueue_posts(app, [("g0", 40), ("g1", 25), ("g2", 5)])
    enqueue_posts(app, [("g0", 40)])  # the same keys again: the outbox keeps one row per key
    fake = FilePlatformConnector(tmp_path / "shown.jsonl")
    stats = asyncio.run(runner(app, fake).run(until_idle=True))
    shown = shown_keys(fake.path)
    assert sorted(shown) == sorted(keys) and len(shown) == len(set(shown)) == 70
    for g in ("g0", "g1", "g2"):
        assert [k for k in shown if f":{g}:" in k] == [k for k in keys if f":{g}:" in k]
    assert stats.sent == 70 and statuses(app) == {"sent": 70}
    app.close()


def test_sends_stay_within_the_group_and_bot_windows(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=4)
    enqueue_posts(app, [(f"g{i}", 45) for i in range(4)])
    pol = policies(fake={"limits": [documented(20, 60, "group"), documented(3, 1, "bot")]})
    # The platform enforces the group window too: any excess would come back as a 429.
    fake = FilePlatformConnector(tmp_path / "shown.jsonl", group_limit=(20, 60))
    r = runner(app, fake, pol=pol)
    stats = asyncio.run(r.run(until_idle=True))
    assert stats.sent == 180 and stats.rate_limited == 0
    times = at_seconds(fake.path)
    every = sorted(t for ts in times.values() for t in ts)
    assert all(max_in_window(ts, 60) <= 20 for ts in times.values())
    assert max_in_window(every, 1) <= 3
    # 45 posts at 20 a minute: the last goes out after two full windows, not before.
    assert max(times["g0"]) - min(times["g0"]) >= 120
    app.close()


def test_a_429_pauses_the_group_for_retry_after_and_costs_no_attempt(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=1)
    enqueue_posts(app, [("g0", 12)])
    fake = FilePlatformConnector(tmp_path / "shown.jsonl", group_limit=(5, 30))  # stricter than the runner knows
    stats = asyncio.run(runner(app, fake, pol=policies(fake={"limits": []}), max_attempts=2).run(until_idle=True))
    assert stats.rate_limited >= 2 and stats.sent == 12 and stats.failed == 0
    assert len(set(shown_keys(fake.path))) == 12 == len(shown_keys(fake.path))
    assert max_in_window(at_seconds(fake.path)["g0"], 30) <= 5
    app.close()


def test_transient_failures_retry_with_backoff_then_fail_into_a_staff_task(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=1)
    enqueue_posts(app, [("g0", 6)])
    fake = FilePlatformConnector(tmp_path / "shown.jsonl", fail_every=2)  # every second call is a 502
    stats = asyncio.run(runner(app, fake).run(until_idle=True))
    assert stats.sent == 6 and stats.retried >= 3 and stats.failed == 0
    assert shown_keys(fake.path) == [f"test:g0:{i}" for i in range(6)]  # order kept through the retries

    app2 = workspace(sqlite_url.replace("test.db", "two.db"), groups=1)
    enqueue_posts(app2, [("g0", 1)])
    broken = FilePlatformConnector(tmp_path / "broken.jsonl", fail_every=1)
    r = runner(app2, broken, max_attempts=3)
    before = r.now_ms()
    stats = asyncio.run(r.run(until_idle=True))
    assert stats.failed == 1 and broken.calls == 3 and statuses(app2) == {"failed": 1}
    assert r.now_ms() - before >= 0.8 * (2000 + 4000)  # 2 s, then 4 s of backoff
    with app2.store.transaction() as conn:
        [task] = app2.store.tasks.list(conn, app2.ws.id)
    assert task.reason == "outbox_failed" and "502" in task.title
    app.close()
    app2.close()


def test_over_quota_posts_become_staff_tasks(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=2)
    enqueue_posts(app, [("g0", 3), ("g1", 1)])
    quota = {
        "kinds": ["post"],
        "count": 2,
        "period": "month",
        "documented": {"url": "https://example.org", "quote": "2 a month"},
    }
    fake = FilePlatformConnector(tmp_path / "shown.jsonl")
    stats = asyncio.run(runner(app, fake, pol=policies(fake={"quotas": [quota]})).run(until_idle=True))
    assert stats.sent == 3 and stats.staff == 1
    assert sorted(shown_keys(fake.path)) == ["test:g0:0", "test:g0:1", "test:g1:0"]
    with app.store.transaction() as conn:
        [task] = app.store.tasks.list(conn, app.ws.id)
    assert task.reason == "outbox_quota" and task.detail["action"]["key"] == "test:g0:2"
    # A new runner counts what was sent this month: g1 has one post left, then a person takes over.
    enqueue_posts(app, [("g1", 3)], at=app.clock.now())  # g1:0 exists already; g1:1 and g1:2 are new
    fake2 = FilePlatformConnector(tmp_path / "shown.jsonl")
    stats = asyncio.run(runner(app, fake2, pol=policies(fake={"quotas": [quota]})).run(until_idle=True))
    assert stats.sent == 1 and stats.staff == 1 and "test:g1:1" in shown_keys(fake.path)
    app.close()


def crash_mid_send(app: object, n: int) -> list[int]:
    """What a SIGKILL between claim and outcome leaves: rows ``sending``; return their ids."""
    with app.store.transaction() as conn:  # type: ignore[attr-defined]
        items = app.store.delivery.pending(conn, app.ws.id)[0][:n]  # type: ignore[attr-defined]
        app.store.delivery.claim(conn, [i.id for i in items], now_ms=0, worker="dead")  # type: ignore[attr-defined]
    return [i.id for i in items]


@pytest.mark.parametrize("mode", ["confirm", "idempotent", "blind"])
def test_actions_left_in_flight_by_a_crash_are_reconciled(mode: str, db_url: str, tmp_path: Path) -> None:
    app = workspace(db_url, groups=1)
    keys = enqueue_posts(app, [("g0", 6)])
    crash_mid_send(app, 4)
    path = tmp_path / "shown.jsonl"
    # Two of the four had reached the platform before the crash.
    klass = {"confirm": FilePlatformConnector, "idempotent": IdempotentFilePlatform, "blind": BlindFilePlatform}[mode]
    before = klass(path)
    with app.store.transaction() as conn:
        for item in app.store.delivery.in_flight(conn, app.ws.id)[:2]:
            asyncio.run(before.send(item.action))
    fake = klass(path)
    stats = asyncio.run(runner(app, fake).run(until_idle=True))
    shown = shown_keys(path)
    assert len(shown) == len(set(shown))  # never twice
    if mode == "blind":
        assert stats.unconfirmed == 4 and statuses(app) == {"sent": 2, "unconfirmed": 4}
        assert set(shown) == {keys[0], keys[1], keys[4], keys[5]}
        with app.store.transaction() as conn:
            assert {t.reason for t in app.store.tasks.list(conn, app.ws.id)} == {"outbox_unconfirmed"}
    else:
        assert sorted(shown) == sorted(keys) and statuses(app) == {"sent": 6}
        if mode == "confirm":
            assert stats.confirmed_after_crash == 2 and stats.resent_after_crash == 2
        else:
            assert stats.resent_after_crash == 4
    app.close()


def test_one_runner_per_workspace(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=1)
    first = runner(app, FilePlatformConnector(tmp_path / "a.jsonl"))
    first.acquire()
    second = runner(app, FilePlatformConnector(tmp_path / "b.jsonl"))
    second.pid = first.pid + 1  # pretend to be another live process on this host
    second.host = "elsewhere"
    with pytest.raises(LeaseHeldError, match="同一时间只能有一个"):
        second.acquire()
    first.release()
    second.acquire()  # released: free to take
    app.close()


def test_a_stopped_connector_leaves_its_actions_waiting(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=1)
    enqueue_posts(app, [("g0", 2)])
    clock = app.clock
    r = OutboxRunner(app.store, app.ws.id, {}, timer=VirtualTimer(clock))  # type: ignore[arg-type]
    asyncio.run(r.run(until_idle=True))
    assert statuses(app) == {"pending": 2}
    app.close()
