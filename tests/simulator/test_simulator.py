"""The simulator: determinism, order, window, types and specs, lifecycles, key members, ads, commerce, truth."""

from __future__ import annotations

import json
import re
from collections import Counter, defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from shequn.domain.events import (
    CheckIn,
    ContentKind,
    CouponClaim,
    Event,
    Join,
    JoinMethod,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    Order,
    OrderStatus,
    Payment,
    Reaction,
    event_from_dict,
    stable_id,
)
from shequn.playbook.spec import CommunitySpec
from shequn.simulator import DEFAULT_START, Simulation, simulate, write_truth
from shequn.simulator.group import maker
from shequn.simulator.plan import DIE_FRACTION
from shequn.simulator.texts import TYPES

AD_PATTERN = re.compile(
    r"vx|薇信|威❤|➕V|\bV\b|\+q|二维码|http|[０-９]{5}|\d \d \d|兼职|刷单|日赚|代理|免费领|躺赚|月入|赚钱|代购|日结"
)


@dataclass
class Run:
    sim: Simulation
    events: list[Event]
    truth: dict[str, Any]


def _run(*, groups: int, days: int, seed: int) -> Run:
    sim = simulate(groups=groups, days=days, seed=seed)
    events = list(sim.events())
    return Run(sim, events, sim.truth_dict())


@pytest.fixture(scope="module")
def small() -> Run:
    return _run(groups=12, days=7, seed=11)


@pytest.fixture(scope="module")
def medium() -> Run:
    return _run(groups=200, days=30, seed=5)


def _messages(run: Run) -> list[Message]:
    return [e for e in run.events if isinstance(e, Message)]


def _local_day(run: Run, at: datetime) -> int:
    first = datetime.fromisoformat(run.truth["groups"][0]["trajectory"][0]["date"])
    local = at + timedelta(hours=8)  # Asia/Shanghai has no daylight saving time
    return (local.date() - first.date()).days


# -- determinism ---------------------------------------------------------------------------------------------------


def test_same_seed_gives_the_same_events_and_truth(small: Run) -> None:
    again = _run(groups=12, days=7, seed=11)
    assert [e.to_dict() for e in again.events] == [e.to_dict() for e in small.events]
    assert again.truth == small.truth
    assert [s.model_dump() for s in again.sim.specs] == [s.model_dump() for s in small.sim.specs]


def test_a_different_seed_gives_different_events(small: Run) -> None:
    other = _run(groups=12, days=7, seed=12)
    assert [e.id for e in other.events[:200]] != [e.id for e in small.events[:200]]
    assert [m.text for m in _messages(other)[:200]] != [m.text for m in _messages(small)[:200]]


def test_events_can_be_generated_again_and_truth_needs_no_prior_drain() -> None:
    sim = simulate(groups=8, days=3, seed=3)
    truth_first = sim.truth_dict()  # drains internally
    assert truth_first["complete"] is True
    first = [e.id for e in sim.events()]
    second = [e.id for e in sim.events()]
    assert first == second
    assert sim.truth_dict() == truth_first


# -- order, ids, window --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("which", ["small", "medium"])
def test_events_are_ordered_unique_and_inside_the_window(which: str, request: pytest.FixtureRequest) -> None:
    run: Run = request.getfixturevalue(which)
    start = run.sim.start
    end = start + timedelta(days=run.sim.days)
    assert start == DEFAULT_START == datetime(2026, 8, 31, 16, 0, tzinfo=UTC)
    ids: set[str] = set()
    prev = start
    for e in run.events:
        assert e.platform == "sim"
        assert e.at.tzinfo is not None and e.at.utcoffset() == timedelta(0)
        assert e.at.microsecond % 1000 == 0
        assert start <= e.at < end
        assert e.at >= prev
        prev = e.at
        assert e.id not in ids
        ids.add(e.id)
        assert re.fullmatch(r"u\d{6,}", e.actor), e
        assert e.actor_name
    assert run.truth["events"]["total"] == len(run.events)
    kinds = Counter(e.kind.value for e in run.events)
    assert {k: v for k, v in run.truth["events"].items() if k != "total"} == dict(kinds)


def test_event_ids_are_stable_ids_of_seed_group_and_number(small: Run) -> None:
    first = next(e for e in small.events if e.group == "g0001")
    numbers = range(1, 50_000)
    assert any(first.id == stable_id("sim", "11", "g0001", str(n)) for n in numbers)


def test_a_window_starting_mid_day_keeps_every_event_inside_it() -> None:
    start = datetime(2026, 10, 10, 5, 37, 12, 345678, tzinfo=UTC)
    sim = simulate(groups=7, days=2, seed=2, start=start)
    assert sim.start == start.replace(microsecond=345000)
    events = list(sim.events())
    assert events
    assert all(sim.start <= e.at < sim.start + timedelta(days=2) for e in events)
    assert all(e.at.microsecond % 1000 == 0 for e in events)
    assert [e.at for e in events] == sorted(e.at for e in events)


def test_fast_constructors_equal_the_ordinary_ones() -> None:
    at = datetime(2026, 9, 1, tzinfo=UTC)
    make = maker(Message, ("id", "at", "platform", "group", "actor", "actor_name", "message_id", "content", "text"))
    fast = make("x", at, "sim", "g1", "u000001", "小鱼儿", "g1-1", ContentKind.TEXT, "你好")
    slow = Message(
        id="x", at=at, platform="sim", group="g1", actor="u000001", actor_name="小鱼儿", message_id="g1-1", text="你好"
    )
    assert fast == slow
    assert fast.to_dict() == slow.to_dict()
    assert event_from_dict(fast.to_dict()) == slow
    assert fast.extra == {} and fast.extra is not make("y", at, "sim", "g1", "u", "n", "m", ContentKind.TEXT, "").extra
    with pytest.raises(TypeError):
        maker(Message, ("id", "nope"))


def test_every_event_survives_the_json_form(small: Run) -> None:
    for e in small.events[::7]:
        assert event_from_dict(json.loads(json.dumps(e.to_dict(), ensure_ascii=False))) == e


# -- communities, groups, specs ------------------------------------------------------------------------------------


def test_every_type_is_present_and_specs_bind_their_groups(small: Run) -> None:
    sim = small.sim
    assert {g.type for g in sim.groups} == set(TYPES)
    assert len(sim.specs) == 6
    by_name = {s.name: s for s in sim.specs}
    assert len(by_name) == len(sim.specs)
    for spec in sim.specs:
        again = CommunitySpec.model_validate(spec.model_dump())
        assert again == spec
        assert spec.locale == "zh-CN" and spec.timezone == "Asia/Shanghai"
        assert spec.positioning.tags and spec.positioning.goal.text
        assert re.search(r"[\u4e00-\u9fff]", spec.name)
    for g in sim.groups:
        assert g.platform == "sim" and re.fullmatch(r"g\d{4}", g.platform_id)
        spec = by_name[g.community]
        assert spec.type == g.type
        assert any(gs.platform == "sim" and gs.id == g.platform_id and gs.name == g.name for gs in spec.groups)
    assert sum(len(s.groups) for s in sim.specs) == len(sim.groups)


def test_large_runs_spread_groups_over_about_one_community_per_eight(medium: Run) -> None:
    specs = medium.sim.specs
    assert len(specs) == 25
    assert Counter(s.type for s in specs) == Counter({t: (5 if i == 0 else 4) for i, t in enumerate(TYPES)})
    assert max(len(s.groups) for s in specs) > 1
    assert len({s.name for s in specs}) == len(specs)


def test_types_can_be_restricted_and_bad_arguments_are_refused() -> None:
    sim = simulate(groups=5, days=2, seed=1, types=["growth", "interest"], communities=2)
    assert {g.type for g in sim.groups} == {"growth", "interest"}
    assert len(sim.specs) == 2
    with pytest.raises(ValueError, match="unknown community type"):
        simulate(groups=2, days=2, seed=1, types=["nope"])
    with pytest.raises(ValueError):
        simulate(groups=0, days=2, seed=1)
    with pytest.raises(ValueError):
        simulate(groups=2, days=0, seed=1)


def test_members_of_several_groups_of_one_community_exist(medium: Run) -> None:
    comm_of = {g.platform_id: g.community for g in medium.sim.groups}
    seen: dict[str, set[str]] = defaultdict(set)
    for e in medium.events:
        if isinstance(e, Join):
            seen[e.actor].add(e.group)
    multi = [gs for gs in seen.values() if len(gs) > 1]
    assert multi
    assert all(len({comm_of[g] for g in gs}) == 1 for gs in multi)


def test_group_sizes_span_the_bands(medium: Run) -> None:
    sizes = [g["size_start"] for g in medium.truth["groups"]]
    assert min(sizes) < 30
    assert max(sizes) >= 400
    assert sum(50 <= s <= 200 for s in sizes) > len(sizes) / 2


# -- lifecycle -----------------------------------------------------------------------------------------------------


def test_dead_groups_fall_silent_and_alive_groups_talk(medium: Run) -> None:
    days = len(medium.truth["groups"][0]["trajectory"])
    per_day: dict[str, list[int]] = defaultdict(lambda: [0] * days)
    for m in _messages(medium):
        per_day[m.group][_local_day(medium, m.at)] += 1
    dead = [g for g in medium.truth["groups"] if g["dead"]]
    alive = [g for g in medium.truth["groups"] if not g["dead"]]
    assert dead and alive
    for g in dead:
        counts = per_day[g["platform_id"]]
        dies = [t["date"] for t in g["trajectory"]].index(g["dies_on"])
        assert sum(counts[dies:]) == 0, g["key"]
        assert sum(counts[-7:]) <= 3, g["key"]
        assert g["trajectory"][-1]["stage"] == "dead"
        assert counts == g["messages_by_day"]
    for g in alive:
        assert sum(per_day[g["platform_id"]]) > 0, g["key"]
        assert g["dies_on"] is None
    lo, hi = DIE_FRACTION
    assert lo <= len(dead) / len(medium.truth["groups"]) <= hi


def test_trajectories_use_the_stages_in_lifecycle_order(medium: Run) -> None:
    order = ["cold_start", "growth", "mature", "decline", "dormant", "dead"]
    shapes = Counter(g["shape"] for g in medium.truth["groups"])
    assert {"steady", "new", "declining", "dormant"} <= set(shapes)
    for g in medium.truth["groups"]:
        stages = [t["stage"] for t in g["trajectory"]]
        assert all(s in order for s in stages)
        if g["dead"]:
            ranks = [order.index(s) for s in stages]
            assert ranks == sorted(ranks), g["key"]


def test_interest_groups_without_an_organizer_die_more(medium: Run) -> None:
    groups = [g for g in medium.truth["groups"] if g["type"] == "interest"]
    assert any(not g["organizer_active"] for g in groups)
    lazy = [g for g in groups if not g["organizer_active"]]
    fading = [g for g in lazy if g["dead"] or g["shape"] == "dormant"]
    assert fading


# -- people --------------------------------------------------------------------------------------------------------


def test_core_members_write_most_messages_and_lurkers_outnumber_speakers(medium: Run) -> None:
    by_group: dict[str, Counter[str]] = defaultdict(Counter)
    for m in _messages(medium):
        by_group[m.group][m.actor] += 1
    members: dict[str, set[str]] = defaultdict(set)
    for e in medium.events:
        if isinstance(e, Join):
            members[e.group].add(e.actor)
    guests = {t["guest"] for t in medium.truth["guest_talks"]}
    checked = 0
    for g in medium.truth["groups"]:
        counts = by_group[g["platform_id"]]
        staff = {g["organizer"], g["assistant"]} | guests
        member_msgs = {a: n for a, n in counts.items() if a not in staff}
        total = sum(member_msgs.values())
        if g["dead"] or total < 30:
            continue
        checked += 1
        assert len(g["core_members"]) in (4, 5)
        core = sum(member_msgs.get(a, 0) for a in g["core_members"])
        assert core / total > 0.5, (g["key"], core, total)
        if len(members[g["platform_id"]]) >= 50:
            speakers = set(counts)
            assert len(members[g["platform_id"]] - speakers) > len(speakers), g["key"]
    assert checked > 100


def test_greeters_welcome_newcomers_and_scouts_invite_most(medium: Run) -> None:
    greetings = [m for m in _messages(medium) if m.text.startswith("欢迎新朋友@")]
    assert greetings
    greeters = {(g["platform_id"], a) for g in medium.truth["groups"] for a in g["greeters"]}
    assert all((m.group, m.actor) in greeters for m in greetings)
    assert all(m.mentions for m in greetings)
    joins = [e for e in medium.events if isinstance(e, Join)]
    invited = [e for e in joins if e.method is JoinMethod.INVITED and not e.extra]
    scouts = {(g["platform_id"], a) for g in medium.truth["groups"] for a in g["scouts"]}
    by_scouts = sum((e.group, e.inviter) in scouts for e in invited)
    assert by_scouts / len(invited) > 0.5
    assert {JoinMethod.LIVE_CODE, JoinMethod.SELF, JoinMethod.INVITED} <= {e.method for e in joins}


def test_nicknames_change_some_to_the_name_city_hobby_format(medium: Run) -> None:
    changes = [e for e in medium.events if isinstance(e, NicknameChange)]
    assert changes
    formatted = sum(bool(re.fullmatch(r"[^-]+-[\u4e00-\u9fff]{2,3}-[^-]+", e.new)) for e in changes)
    assert formatted > len(changes) / 2
    assert all(e.old != e.new and e.actor_name == e.old for e in changes)


def test_storytellers_get_more_reactions_per_message(medium: Run) -> None:
    author = {(m.group, m.message_id): m.actor for m in _messages(medium)}
    msgs: Counter[tuple[str, str]] = Counter((m.group, m.actor) for m in _messages(medium))
    reacts: Counter[tuple[str, str]] = Counter()
    for e in medium.events:
        if isinstance(e, Reaction) and (e.group, e.message_id) in author:
            reacts[(e.group, author[(e.group, e.message_id)])] += 1
    story = {(g["platform_id"], a) for g in medium.truth["groups"] for a in g["storytellers"]}
    core = {(g["platform_id"], a) for g in medium.truth["groups"] for a in g["core_members"]} - story

    def rate(keys: set[tuple[str, str]]) -> float:
        return sum(reacts[k] for k in keys) / max(1, sum(msgs[k] for k in keys))

    assert rate(story) > 2 * rate(core)


# -- messages ------------------------------------------------------------------------------------------------------


def test_replies_point_at_earlier_messages_of_the_same_group(medium: Run) -> None:
    seen: set[tuple[str, str]] = set()
    replies = 0
    for m in _messages(medium):
        if m.reply_to:
            replies += 1
            assert (m.group, m.reply_to) in seen, m
        assert (m.group, m.message_id) not in seen
        seen.add((m.group, m.message_id))
    assert replies > 1000
    questions = [m for m in _messages(medium) if m.text.endswith(("？", "吗"))]
    asked = {(m.group, m.message_id) for m in questions}
    assert sum((m.group, m.reply_to) in asked for m in _messages(medium)) > len(questions) / 2


def test_messages_carry_every_content_kind_and_chinese_text(medium: Run) -> None:
    msgs = _messages(medium)
    kinds = {m.content for m in msgs}
    want = {ContentKind.TEXT, ContentKind.IMAGE, ContentKind.STICKER, ContentKind.VOICE, ContentKind.LINK}
    assert want | {ContentKind.RED_PACKET, ContentKind.MINI_PROGRAM} <= kinds
    texts = [m.text for m in msgs if m.content is ContentKind.TEXT]
    assert sum(bool(re.search(r"[\u4e00-\u9fff]", t)) for t in texts) > 0.9 * len(texts)
    assert any(re.fullmatch(r"打卡第\d+天.*", t) for t in texts)


# -- ads and hard negatives ----------------------------------------------------------------------------------------


def test_ad_accounts_post_only_ads_and_half_are_removed(medium: Run) -> None:
    truth = medium.truth
    accounts = set(truth["ad_accounts"])
    ad_ids = set(truth["ad_message_ids"])
    assert accounts and ad_ids
    by_ads = [m for m in _messages(medium) if m.actor in accounts]
    assert {m.id for m in by_ads} == ad_ids
    for m in by_ads:
        assert AD_PATTERN.search(m.text), m.text
    removed = {
        e.actor
        for e in medium.events
        if isinstance(e, Leave) and e.reason is LeaveReason.REMOVED and e.actor in accounts
    }
    assert 0.3 < len(removed) / len(accounts) < 0.7
    joins = sum(1 for e in medium.events if isinstance(e, Join) and not e.extra)
    assert 0.005 < len(accounts) / joins < 0.04


def test_hard_negatives_look_like_ads_but_are_not(medium: Run) -> None:
    truth = medium.truth
    hard = set(truth["hard_negative_message_ids"])
    assert hard and not hard & set(truth["ad_message_ids"])
    by_id = {m.id: m for m in _messages(medium)}
    accounts = set(truth["ad_accounts"])
    assert all(by_id[i].actor not in accounts for i in hard)
    looks = sum(
        bool(AD_PATTERN.search(by_id[i].text) or re.search(r"1\d{2} ?\d{4} ?\d{4}|微信|广告", by_id[i].text))
        for i in hard
    )
    assert looks == len(hard)
    assert {"link", "phone", "promo", "rule", "wechat_exchange"} <= set(truth["hard_negatives_by_kind"])


# -- commerce, programmes ------------------------------------------------------------------------------------------


def test_consumption_groups_claim_and_buy_and_the_truth_matches(medium: Run) -> None:
    first_claim: dict[tuple[str, str], datetime] = {}
    claims: Counter[str] = Counter()
    buyers: dict[str, set[str]] = defaultdict(set)
    for e in medium.events:
        if isinstance(e, CouponClaim):
            claims[e.group] += 1
            first_claim.setdefault((e.group, e.actor), e.at)
        elif isinstance(e, Order) and e.group in {g.platform_id for g in medium.sim.groups if g.type == "consumption"}:
            assert e.status is OrderStatus.PAID and e.amount > 0 and e.currency == "CNY"
            at = first_claim.get((e.group, e.actor))
            if at is not None and at <= e.at:
                buyers[e.group].add(e.actor)
    conv = medium.truth["conversion"]
    consumption = [g for g in medium.truth["groups"] if g["type"] == "consumption"]
    assert set(conv) == {g["key"] for g in consumption}
    assert sum(claims.values()) > 0
    for g in consumption:
        c = conv[g["key"]]
        gid = g["platform_id"]
        claimers = {a for (grp, a) in first_claim if grp == gid}
        assert c["claims"] == claims[gid]
        assert c["claimers"] == len(claimers)
        assert c["buyers"] == len(buyers[gid])
        assert c["conversion"] == (round(len(buyers[gid]) / len(claimers), 4) if claimers else None)
        assert 0.08 <= c["configured"] <= 0.35
    assert sum(c["buyers"] for c in conv.values()) > 0


def test_growth_communities_renew_and_buy_courses(medium: Run) -> None:
    payments = [e for e in medium.events if isinstance(e, Payment)]
    assert {"renewal", "course", "entry_fee"} <= {p.purpose for p in payments}
    community = {g.platform_id: g.community for g in medium.sim.groups}
    renewed: Counter[str] = Counter(community[p.group] for p in payments if p.purpose == "renewal")
    due: Counter[str] = Counter()
    for m in _messages(medium):
        if m.text.startswith("【续费提醒】"):
            due[community[m.group]] += len(m.mentions)
    renewals = medium.truth["renewals"]
    growth = {s.name for s in medium.sim.specs if s.type == "growth"}
    assert set(renewals) == growth
    for name, r in renewals.items():
        assert r["renewed"] == renewed[name]
        assert r["due"] == due[name]
        assert r["rate"] == (round(r["renewed"] / r["due"], 4) if r["due"] else None)
    assert sum(renewed.values()) > 0
    growth_groups = {g.platform_id for g in medium.sim.groups if g.type == "growth"}
    assert {p.group for p in payments if p.purpose == "renewal"} <= growth_groups


def test_paid_entry_comes_before_the_join(medium: Run) -> None:
    paid: dict[tuple[str, str], datetime] = {}
    for e in medium.events:
        if isinstance(e, Payment) and e.purpose == "entry_fee":
            paid[(e.group, e.actor)] = e.at
    assert paid
    joined = {(e.group, e.actor): e.at for e in medium.events if isinstance(e, Join)}
    for key, at in paid.items():
        if key in joined:
            assert at < joined[key]


def test_guest_talks_have_an_announcement_a_guest_burst_and_qa(medium: Run) -> None:
    talks = medium.truth["guest_talks"]
    assert talks
    types = {g.platform_id: g.type for g in medium.sim.groups}
    msgs = _messages(medium)
    for talk in talks[:20]:
        gid = talk["group"].removeprefix("sim:")
        assert types[gid] in ("growth", "ip")
        start, end = datetime.fromisoformat(talk["start"]), datetime.fromisoformat(talk["end"])
        assert timedelta(minutes=30) < end - start < timedelta(minutes=150)
        by_guest = [m for m in msgs if m.group == gid and m.actor == talk["guest"]]
        assert len(by_guest) >= 15
        assert all(start <= m.at <= end for m in by_guest)
        assert any(m.reply_to for m in by_guest)
        assert any(m.group == gid and talk["guest_name"] in m.text and m.at < start for m in msgs)
        join = [e for e in medium.events if isinstance(e, Join) and e.actor == talk["guest"]]
        assert join and join[0].at < start
        core = next(g for g in medium.truth["groups"] if g["key"] == talk["group"])["core_members"]
        assert talk["guest"] not in core


def test_check_ins_in_growth_and_interest_groups(medium: Run) -> None:
    types = {g.platform_id: g.type for g in medium.sim.groups}
    checkins = [e for e in medium.events if isinstance(e, CheckIn)]
    assert checkins
    assert {types[e.group] for e in checkins} <= {"growth", "interest"}
    assert all(re.fullmatch(r"打卡第\d+天", e.note) for e in checkins)
    per_person: dict[tuple[str, str], list[int]] = defaultdict(list)
    for e in checkins:
        per_person[(e.group, e.actor)].append(int(e.note[3:-1]))
    assert all(n == sorted(n) and len(set(n)) == len(n) for n in per_person.values())


def test_cleanups_remove_silent_members(medium: Run) -> None:
    cleanups = medium.truth["cleanups"]
    assert cleanups
    for c in cleanups:
        gid = c["group"].removeprefix("sim:")
        organizer = next(g for g in medium.truth["groups"] if g["key"] == c["group"])["organizer"]
        removed = [
            e
            for e in medium.events
            if isinstance(e, Leave) and e.group == gid and e.reason is LeaveReason.REMOVED and e.by == organizer
        ]
        assert len(removed) >= c["removed"]


# -- truth ---------------------------------------------------------------------------------------------------------


def test_truth_lists_the_cast_and_sizes(small: Run) -> None:
    truth = small.truth
    assert truth["params"] == {
        "groups": 12,
        "days": 7,
        "seed": 11,
        "start": "2026-08-31T16:00:00Z",
        "end": "2026-09-07T16:00:00Z",
        "timezone": "Asia/Shanghai",
        "types": list(TYPES),
        "communities": 6,
        "platform": "sim",
        "die_fraction": list(DIE_FRACTION),
    }
    joins: Counter[str] = Counter()
    for e in small.events:
        if isinstance(e, Join):
            joins[e.group] += 1
        elif isinstance(e, Leave):
            joins[e.group] -= 1
    for g in truth["groups"]:
        assert g["key"] == f"sim:{g['platform_id']}"
        assert len(g["trajectory"]) == 7
        assert g["trajectory"][0]["date"] == "2026-09-01"
        assert g["organizer"] and g["greeters"] and g["scouts"] and g["storytellers"]
        assert set(g["storytellers"]) <= set(g["core_members"])
        assert g["size_end"] == joins[g["platform_id"]]


def test_write_truth_writes_readable_utf8_json(small: Run, tmp_path: Path) -> None:
    path = tmp_path / "truth.json"
    write_truth(small.sim, path)
    text = path.read_text(encoding="utf-8")
    assert "\\u" not in text[:5000]
    assert re.search(r"[\u4e00-\u9fff]", text)
    assert json.loads(text) == small.truth
    assert text.startswith('{\n "params"')
