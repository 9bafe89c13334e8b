"""The group lifecycle on a real Matrix homeserver: the bot splits a room (creates the new one with the segment
invited and announces it in both), merges a quiet room into another (invites its active members, holds it) and
dissolves a room (the farewell, everyone let go, the bot leaves). The members come from the bot's own sync; the
sends go through the outbox to the connector, in process."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest
import yaml

from shequn.app import App
from shequn.connectors.matrix import MatrixConnector
from shequn.domain import Event
from shequn.outbox import OutboxRunner, Policies
from shequn.playbook.spec import parse_spec
from shequn.services.lifecycle import Lifecycle
from tests.connectors.matrix.live import bot_texts, wait_for
from tests.support.live import relaxed_limits
from tests.support.synapse import Account, Synapse

pytestmark = pytest.mark.slow
LIMITS = "https://element-hq.github.io/synapse/latest/usage/configuration/config_documentation.html#rc_message"


def deliver(app: App, bot: MatrixConnector) -> None:
    policies = Policies.from_mapping(yaml.safe_load(relaxed_limits("matrix", LIMITS)))

    async def run() -> None:
        await OutboxRunner(app.store, app.ws.id, {"matrix": bot}, policies=policies).run(until_idle=True)
        await bot.stop()  # the client belongs to this event loop

    asyncio.run(run())


def sync(app: App, bot: MatrixConnector) -> None:
    """What happened in the bot's rooms since the last sync, into the log (as history: nothing sent)."""
    got: list[Event] = []

    async def sink(event: Event) -> None:
        got.append(event)

    async def once() -> None:
        await bot.sync_once(sink, bot.cursors.get("since"))
        await bot.stop()  # the client belongs to this event loop

    asyncio.run(once())
    app.ingest(got, history=True)


def test_split_merge_and_dissolve_are_carried_out_by_the_bot(synapse: Synapse, tmp_path: Path) -> None:
    hs = synapse
    op, bot_account = hs.register("op_life"), hs.register("bot_life")
    power = {bot_account.user_id: 100}
    main, side, old = (op.create_room(f"{n} life", power=power) for n in ("main", "side", "old"))
    for room in (main, side, old):
        bot_account.join(room)
    app = App(str(tmp_path / "life.db"))
    groups = "\n".join(f'  - {{platform: matrix, id: "{r}", name: {n}}}' for r, n in ((main, "主群"), (side, "小群"),
                                                                                     (old, "旧群")))  # fmt: skip
    app.apply_spec(parse_spec(f"name: 测试群\ntype: growth\nlocale: zh-CN\ntimezone: UTC\nsize: {{capacity: 4}}\n"
                              f"groups:\n{groups}\n", source="test"))  # fmt: skip
    bot = MatrixConnector(hs.url, bot_account.user_id, token=bot_account.token)
    sync(app, bot)  # the first sync only takes the token

    people: dict[str, Account] = {n: hs.register(f"{n}_life") for n in ("a", "b", "c", "d", "e", "f")}
    for name in ("a", "b", "c", "d"):
        people[name].join(main)
    people["e"].join(side)
    people["e"].say(side, "小群里还有人说话")
    people["f"].join(old)
    sync(app, bot)

    # Split: the main room is at its cap of 4; the two latest to join (c, d) move to a room the bot creates.
    life = Lifecycle(app)
    out = life.split("测试群", main, by="joined", count=2, name="主群二群")
    assert (out.members, out.queued, out.staff_tasks) == (2, 2, 0)
    deliver(app, bot)
    [new] = life.adopt()
    room = new.removeprefix("matrix:")
    for name in ("c", "d"):
        assert room in people[name].invites()
    assert room not in people["a"].invites()
    people["c"].join(room)
    assert any("分出来的新群" in t for t in bot_texts(people["c"], room, bot_account))
    assert any("主群二群" in t and "2位群友" in t for t in bot_texts(op, main, bot_account))
    with app.store.transaction() as conn:
        bound = {g.key: g.community for g in app.store.groups.list(conn, app.ws.id)}
    assert bound[new] == "测试群"

    # Merge: the side room's active member (e) is invited into the main room; the side room is held.
    out = life.merge("测试群", side, main)
    assert out.members == 1
    deliver(app, bot)
    assert main in people["e"].invites()
    assert any("并入" in t for t in bot_texts(op, side, bot_account))
    wait_for(lambda: op.state(side, "m.room.power_levels").get("events_default") == 50, 10, "the hold")

    # Dissolve: the farewell, then f is let go and the bot leaves; the state is recorded.
    out = life.dissolve("测试群", old)
    deliver(app, bot)
    assert any("好聚好散" in t for t in bot_texts(op, old, bot_account))
    assert op.membership(old, people["f"].user_id) == "leave"
    assert op.membership(old, bot_account.user_id) == "leave"
    with app.store.transaction() as conn:
        states = {g.platform_id: g.state for g in app.store.groups.list(conn, app.ws.id)}
        failed = conn.exec_driver_sql("select count(*) from action where status = 'failed'").scalar()
    assert states[old] == "dissolved" and states[side] == "archived" and states[main] == "active"
    assert failed == 0
    app.close()
