"""The console's operations on SQLite and PostgreSQL: overview, heatmap, trends, segments and acting on them through
the event log and the outbox (idempotent, replayed, audited), staff tasks done in one call."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shequn.domain import VirtualClock
from shequn.services.console import NotFoundError, Operations
from shequn.store import ActionStatus, Segment
from shequn.store._sql import to_ms
from tests.conftest import T0
from tests.web.conftest import Site, make_site


@pytest.fixture
def any_site(db_url: str) -> Site:
    s = make_site(db_url, VirtualClock(T0 + timedelta(days=2)))
    yield s  # type: ignore[misc]
    s.app.close()


def community_id(ops: Operations, name: str) -> int:
    return ops.community(name).id


def test_overview_puts_groups_needing_attention_first(any_site: Site) -> None:
    ops = Operations(any_site.app)
    ov = ops.overview("en")
    assert ov.totals == {"communities": 2, "groups": 3, "members": 16, "open_tasks": 0, "attention": 1,
                         "inbox_open": 0, "inbox_pending": 0}  # fmt: skip
    [a] = ov.attention
    assert a.group.platform_id == "g2" and a.reasons == (("never", {}),)  # joins but never a message
    # 水果团 is a consumption community: its silent group g3 is not judged on activity.
    cards = {c.record.name: c for c in ov.communities}
    assert cards["水果团"].activity_judged is False and cards["水果团"].attention == 0
    assert cards["读书会"].members == 12 and cards["读书会"].messages == 40
    # An open staff task in g1 puts it first.
    seg = Segment(community_id=community_id(ops, "读书会"), tags=())
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    ops.act_on_segment(seg, "invite", actor="t", key="inv1", group_id=g1.id, text="来主群")
    ov = ops.overview("en")
    assert ov.attention[0].group.platform_id == "g1" and ov.attention[0].reasons[0] == ("tasks", {"n": 12})


def test_heatmap_and_trends_bucket_in_local_time(any_site: Site) -> None:
    ops = Operations(any_site.app)
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    heat = ops.heatmap(g1)
    # T0 is Monday 08:00 UTC; the 40 messages fall 09:00-09:39 UTC, 17:00 in Asia/Shanghai.
    assert heat["grid"][0][17] == 40 and sum(map(sum, heat["grid"])) == 40
    record = ops.community("读书会")
    trends = ops.trends(record, ops.community_groups(record))
    day = trends["days"].index("2026-11-02")
    assert trends["series"]["message"][day] == 40 and trends["series"]["join"][day] == 12
    assert sum(trends["series"]["message"]) == 40 and len(trends["days"]) == 30
    joins = ops.events(kind="join", limit=100)
    assert len(joins) == 16 and all(e["kind"] == "join" and "method" in e for _, e in joins)
    page = ops.events(after_seq=joins[2][0], limit=3)
    assert [seq for seq, _ in page] == sorted(seq for seq, _ in page) and page[0][0] > joins[2][0]


def test_segments_choose_by_tags_level_cohort_and_silence(any_site: Site) -> None:
    ops = Operations(any_site.app)
    cid = community_id(ops, "读书会")
    everyone = ops.segment(Segment(community_id=cid))
    assert everyone.total == 12
    out = ops.act_on_segment(Segment(community_id=cid, silent_since_ms=to_ms(T0 + timedelta(minutes=30))), "tag",
                             actor="t", key="quiet", value="沉默")  # fmt: skip
    # u0-u4 spoke; the seven others never did.
    assert out == {"members": 7, "logged": 7, "queued": 0, "staff_tasks": 0, "duplicates": 0}
    quiet = ops.segment(Segment(community_id=cid, tags=("沉默",)))
    assert {m.key for m in quiet.members} == {f"sandbox:u{i}" for i in range(5, 12)}
    assert ops.segment(Segment(community_id=cid, without_tags=("沉默",))).total == 5
    cohort = Segment(community_id=cid, joined_from_ms=to_ms(T0 + timedelta(minutes=10)))
    assert {m.key for m in ops.segment(cohort).members} == {"sandbox:u10", "sandbox:u11"}
    levels = {m.key: m.level for m in everyone.members}
    leveled = {m.key for m in ops.segment(Segment(community_id=cid, level_min=1)).members}
    assert leveled == {k for k, lv in levels.items() if lv >= 1}
    assert {m.key for m in ops.segment(Segment(community_id=cid, level_max=0)).members} == set(levels) - leveled
    g2 = next(g for g in ops.groups() if g.platform_id == "g2")
    assert ops.segment(Segment(group_id=g2.id)).total == 4


def test_tags_go_through_the_log_so_a_replay_keeps_them(any_site: Site) -> None:
    ops = Operations(any_site.app)
    cid = community_id(ops, "读书会")
    seg = Segment(community_id=cid)
    first = ops.act_on_segment(seg, "tag", actor="t", key="vip-1", value="vip")
    again = ops.act_on_segment(seg, "tag", actor="t", key="vip-1", value="vip")
    assert first["logged"] == 12 and again["logged"] == 0 and again["duplicates"] == 12
    last = Segment(community_id=cid, tags=("vip",), joined_from_ms=to_ms(T0 + timedelta(minutes=11)))
    ops.act_on_segment(last, "untag", actor="t", key="vip-2", value="vip")
    before = any_site.app.saved_state().to_dict()
    any_site.app.rebuild()
    assert any_site.app.saved_state().to_dict() == before
    assert ops.tags() == {"vip": 11}


def test_messages_and_invites_use_the_outbox_and_staff_tasks_once(any_site: Site) -> None:
    ops = Operations(any_site.app)
    seg = Segment(community_id=community_id(ops, "读书会"), statuses=("active",))
    out = ops.act_on_segment(seg, "message", actor="t", key="m1", text="周日晚上 8 点嘉宾分享")
    assert out["queued"] == 12 and out["staff_tasks"] == 0
    assert ops.act_on_segment(seg, "message", actor="t", key="m1", text="周日晚上 8 点嘉宾分享")["duplicates"] == 12
    with any_site.app.store.transaction() as conn:
        pending = any_site.app.store.actions.items(conn, any_site.app.ws.id, status=ActionStatus.PENDING)
    assert len(pending) == 12 and {p.action.kind.value for p in pending} == {"direct_message"}
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    out = ops.act_on_segment(seg, "invite", actor="t", key="i1", group_id=g1.id)
    assert out["staff_tasks"] == 12  # the sandbox connector cannot pull people into a group
    tasks = ops.tasks()
    assert len(tasks) == 12 and {t.reason for t in tasks} == {"capability_missing"}
    ops.complete_task(tasks[0].id, actor="user:amy")
    assert len(ops.tasks()) == 11 and ops.tasks(status="done")[0].done_by == "user:amy"
    assert ops.count_tasks() == 11 and ops.count_tasks(status="done") == 1
    verbs = [a.verb for a in ops.audit()]
    assert verbs.count("segment.message") == 2 and "segment.invite" in verbs and "task.done" in verbs


def test_the_api_completes_a_task_in_one_call(site: Site) -> None:
    ops = Operations(site.app)
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    ops.act_on_segment(Segment(community_id=community_id(ops, "读书会")), "invite", actor="t", key="i", group_id=g1.id)
    c = site.client()
    [first, *_] = c.get("/api/v1/tasks", headers=site.bearer("viewer")).json()
    assert first["action"]["kind"] == "invite" and first["action"]["group"] == "g1"
    assert c.post(f"/api/v1/tasks/{first['id']}/done", headers=site.bearer("operator")).json() == {"done": True}
    again = c.post(f"/api/v1/tasks/{first['id']}/done", headers=site.bearer("operator"))
    assert again.status_code == 422


def test_the_hot_reads_on_both_databases(any_site: Site) -> None:
    """The reads the API serves on every call (plain SQL on the DBAPI cursor, in each database's parameter style):
    a roster page in member-number order, a profile, a timeline, the unknown person."""
    ops = Operations(any_site.app)
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    assert ops.group(g1.id) == g1 and g1.members == 8
    everyone = ops.roster(g1.id)
    assert len(everyone) == 8 and [m.number for m in everyone] == sorted(m.number for m in everyone)
    assert ops.roster(g1.id, limit=3, offset=2) == everyone[2:5]
    assert ops.roster(g1.id, offset=6) == everyone[6:]
    first = everyone[0]
    assert first.person_id is not None and first.name and first.community == "读书会"
    person = ops.member(first.person_id)
    assert [m.key for m in person["memberships"]] == [first.key]
    assert person["identities"][0]["platform_id"] == first.platform_id
    timeline = ops.timeline(first.person_id, limit=100)
    assert timeline and [e["seq"] for e in timeline] == sorted((e["seq"] for e in timeline), reverse=True)
    assert ops.timeline(first.person_id, before_seq=timeline[0]["seq"], limit=100) == timeline[1:]
    with pytest.raises(NotFoundError):
        ops.timeline(10**9)
    with pytest.raises(NotFoundError):
        ops.member(10**9)
