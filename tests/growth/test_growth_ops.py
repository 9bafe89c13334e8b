"""Growth end to end on the real store (SQLite and PostgreSQL): links, attribution from the log, the weekly settlement
(once), live codes routing to the healthiest group with room, creating a group or opening a staff task, group fill,
the AB groups, the upgrade path and the benchmark programme."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import orjson
import pytest
from sqlalchemy import select

from shequn.app import App
from shequn.domain import Join, JoinMethod, UserError, VirtualClock, stable_id
from shequn.services.growth import Growth
from shequn.store.schema import ACTION
from tests.conftest import T0
from tests.support.builders import join, leave, msg, spec


def via(actor: str, at: datetime, code: str, *, group: str = "g1", platform: str = "sandbox") -> Join:
    return Join(
        id=stable_id("j", platform, group, actor, at.isoformat()),
        at=at,
        platform=platform,
        group=group,
        actor=actor,
        actor_name=actor,
        method=JoinMethod.SELF,
        invite_code=code,
    )


def actions(app: App, kind: str) -> list[tuple[str, str, dict[str, object]]]:
    with app.store.transaction() as conn:
        rows = conn.execute(select(ACTION.c.key, ACTION.c.status, ACTION.c.payload).where(ACTION.c.kind == kind))
        return [(k, s, orjson.loads(p)) for k, s, p in rows]


@pytest.fixture
def app(db_url: str) -> App:
    a = App(db_url, clock=VirtualClock(T0))
    a.apply_spec(spec("读书会", "growth", groups=("g1", "g2")))
    a.ingest([join("alice", T0, name="Alice"), join("bob", T0, name="Bob"), join("eve", T0, group="g2")])
    return a


def test_links_attribution_and_the_friday_settlement_happen_once(app: App) -> None:
    gr = Growth(app)
    code = gr.link("读书会", "Alice").code
    assert gr.link("读书会", "sandbox:alice").code == code  # one personal link per member
    bob = gr.link("读书会", "bob").code
    poster = gr.channel_link("读书会", "海报").code
    gr.contest("读书会", "weekly", start=T0)
    h = timedelta(hours=1)
    app.ingest(
        [
            via("n1", T0 + h, code),
            via("n2", T0 + 2 * h, code),
            via("n3", T0 + 3 * h, code),
            leave("n3", T0 + 5 * h),  # within 24 h: does not count
            via("alice", T0 + 4 * h, code, group="g2"),  # her own link
            via("n4", T0 + 6 * h, bob),
            via("n5", T0 + 7 * h, poster),
            via("n6", T0 + 4 * 24 * h, bob),  # Friday 08:00 UTC: confirmed only next week
        ]
    )
    atts, _ = gr.attributions("读书会", now=T0 + 5 * 24 * h)
    by = {a.member: a for a in atts if a.member.startswith("sandbox:n")}
    assert by["sandbox:n5"].channel == "海报" and by["sandbox:n5"].referrer == ""
    assert by["sandbox:n3"].flags == ("left_early",)
    board = gr.leaderboard("weekly", now=T0 + 2 * 24 * h)
    assert [(r.referrer, r.confirmed) for r in board.ranks] == [("sandbox:alice", 2), ("sandbox:bob", 1)]
    assert board.end == datetime(2026, 11, 6, 9, 0, tzinfo=UTC)  # Friday 17:00 in Shanghai
    assert gr.settle(now=T0 + 3 * 24 * h) == []  # not Friday 17:00 yet
    done = gr.settle(now=T0 + 4 * 24 * h + 2 * h)
    assert len(done) == 1 and done[0]["winners"] == ["sandbox:alice"]
    assert done[0]["rejected"] == {"left_early": 1, "self_invite": 1, "rejoin": 1}
    assert gr.settle(now=T0 + 4 * 24 * h + 3 * h) == []  # settled once
    posts = [p for _k, _s, p in actions(app, "post") if p["policy"] == "referral"]
    assert sorted(p["group"] for p in posts) == ["g1", "g2"] and "alice (2)" in str(posts[0]["text"]).lower()
    prize = [(k, s) for k, s, p in actions(app, "open_staff_task") if p["policy"] == "referral"]
    assert [s for _k, s in prize] == ["staff"]
    # The next week: n6, confirmed on Saturday, is Bob's.
    nxt = gr.settle(now=T0 + 11 * 24 * h + 2 * h)
    assert [r["winners"] for r in nxt] == [["sandbox:bob"]]
    assert len(gr.settlements("weekly")) == 2
    tree = gr.tree("读书会")
    assert sorted(tree.children["sandbox:alice"]) == ["sandbox:n1", "sandbox:n2"]


def test_a_live_code_sends_newcomers_to_the_healthiest_group_with_room_then_makes_a_group(app: App) -> None:
    gr = Growth(app)
    app.ingest(
        [msg("alice", T0 + timedelta(minutes=m), f"第{m}条") for m in range(6)]
        + [msg("bob", T0 + timedelta(minutes=9), "好")]
    )
    gr.live_code(
        "读书会", "dushu", capacity=3, reserve=0, template="读书会{n}群", owners={"g1": "staff-1", "g2": "staff-2"}
    )
    r = gr.route("dushu")
    assert r["route"] == "group" and r["group"] == "sandbox:g1" and r["members"] == 2  # g1 talks, g2 does not
    app.ingest([via("n1", T0 + timedelta(hours=1), "dushu")])
    r = gr.route("dushu")
    assert r["group"] == "sandbox:g2" and r["skipped"] == {"sandbox:g1": "full"}
    # An owner at capacity is passed over too.
    gr.live_code(
        "读书会",
        "dushu",
        capacity=3,
        reserve=0,
        template="读书会{n}群",
        owners={"g1": "staff-1", "g2": "staff-2"},
        owner_capacity={"staff-2": 1},
    )
    r = gr.route("dushu")
    assert r["route"] == "create" and r["skipped"]["sandbox:g2"] == "owner_full" and r["created"]
    assert r["name"] == "读书会1群"
    again = gr.route("dushu")
    assert again["route"] == "group" and again["group"] == r["group"]  # the new group takes the next newcomers
    atts, _ = gr.attributions("读书会")
    assert [a.channel for a in atts if a.member == "sandbox:n1"] == ["live_code"]


def test_where_the_platform_cannot_create_a_group_one_staff_task_asks_for_it(db_url: str) -> None:
    app = App(db_url, clock=VirtualClock(T0))
    app.apply_spec(spec("水果团", "consumption", groups=("-100",), platform="telegram"))
    app.ingest([join("u1", T0, group="-100", platform="telegram")])
    gr = Growth(app)
    gr.live_code("水果团", "fruit", capacity=1, reserve=0)
    for _ in range(3):
        r = gr.route("fruit")
        assert r["route"] == "staff_task" and r["name"] == "水果团1"
    tasks = [k for k, s, p in actions(app, "open_staff_task") if p["policy"] == "live_code"]
    assert tasks == ["live_code:fruit:create:水果团1"]


def test_group_fill_ab_groups_upgrade_path_and_chapters(db_url: str) -> None:
    app = App(db_url, clock=VirtualClock(T0))
    s = spec("读书会", "growth", groups=("fans", "vip"))
    s = s.model_copy(
        update={"groups": [g.model_copy(update={"role": r}) for g, r in zip(s.groups, ("fan", "paid"), strict=True)]}
    )
    app.apply_spec(s)
    app.ingest([join(f"u{i}", T0, group="fans", name=f"成员{i}") for i in range(5)])
    first = msg("u1", T0 + timedelta(minutes=1), "大家好", group="fans")
    app.ingest(
        [
            first,
            msg("u2", T0 + timedelta(minutes=2), "我建议每周读一本", group="fans", reply_to=first.id),
            msg("u2", T0 + timedelta(minutes=3), "有人一起吗？", group="fans"),
            msg("u3", T0 + timedelta(minutes=4), "好", group="fans"),
        ]
    )
    gr = Growth(app)
    gr.fill("读书会", "fill", group="fans", target=5, reward=50000)
    [p] = gr.fill_check()
    assert p["reached"] and p["members"] == 5
    assert gr.fill_check() == []  # closed once reached
    tasks = [p for _k, _s, p in actions(app, "open_staff_task") if p["policy"] == "group_fill"]
    assert len(tasks) == 1 and "¥500" in str(tasks[0]["title"])
    picked = gr.ab("读书会", "fans", "vip", top=2, invite=True)
    assert [r["member"] for r in picked] == ["sandbox:u2", "sandbox:u1"]
    assert len([k for k, _s, p in actions(app, "invite") if p["policy"] == "ab_groups"]) == 2
    # The upgrade path: a paid membership takes a fan into the member group.
    app.ingest([_payment("u4")])
    promos = gr.promotions("读书会")
    assert [(r["member"], r["from"], r["to"]) for r in promos] == [("sandbox:u4", "fan", "member")]
    # The benchmark programme: stages in order, the community made from the template, benchmark only when grown.
    gr.chapter("读书会", "读书会·杭州", stage="applied", leader="sandbox:u1", city="杭州")
    with pytest.raises(UserError):
        gr.chapter("读书会", "读书会·杭州", stage="created")
    gr.chapter("读书会", "读书会·杭州", stage="screened")
    gr.chapter("读书会", "读书会·杭州", stage="created")
    assert app.community("读书会·杭州").spec.type == "growth"
    gr.chapter("读书会", "读书会·杭州", stage="growing")
    with pytest.raises(UserError, match="100"):
        gr.chapter("读书会", "读书会·杭州", stage="benchmark")
    [ch] = gr.chapters()
    assert ch["stage"] == "growing" and [h["stage"] for h in ch["history"]] == [
        "applied",
        "screened",
        "created",
        "growing",
    ]


def _payment(actor: str):  # type: ignore[no-untyped-def]
    from shequn.domain import Payment

    return Payment(
        id=stable_id("pay", actor),
        at=T0 + timedelta(hours=1),
        platform="sandbox",
        group="fans",
        actor=actor,
        payment_id=f"P-{actor}",
        amount=19900,
        purpose="membership",
    )
