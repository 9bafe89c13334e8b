"""One rulebook: each of the planner's six example plans, applied and run for four weeks of simulated life (the
simulator's group of that type on a virtual clock, with a seller and an ad account added), does what its rules
announce, every announced rule acting at least once, and nothing that contradicts them."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from shequn.domain import Action, ContentKind, Event, Join, JoinMethod, Message, stable_id
from shequn.planner import build_plan
from shequn.playbook.spec import CommunitySpec, in_window
from shequn.policies.common import STAFF_ROLES, has_role
from shequn.policies.moderation.policy import ModerationSettings, ad_rule
from shequn.simulator import simulate
from tests.planner.support import EXAMPLES, TODAY, from_file
from tests.policies.harness import World

ZONE = ZoneInfo("Asia/Shanghai")
START = datetime(2026, 12, 10, tzinfo=ZONE).astimezone(UTC)  # four weeks that take in a quarter's first day
DAYS = 28
TICK = timedelta(minutes=30)
AD = "加我vx：abc_77215，低价代购"


def local(day: int, hour: int) -> datetime:
    return (datetime(2026, 12, 10, hour, tzinfo=ZONE) + timedelta(days=day)).astimezone(UTC)


def scripted(group: str) -> list[Event]:
    """A seller who chats, then pays for an ad on a Friday and on a Saturday afternoon; an ad account."""

    def ev(cls: type, at: datetime, actor: str, **kw: object) -> Event:
        ident = stable_id("rulebook", actor, at.isoformat(), str(kw.get("text", "")), str(kw.get("content", "")))
        return cls(id=ident, at=at, platform="sim", group=group, actor=actor, actor_name=actor, **kw)  # type: ignore[no-any-return]

    out: list[Event] = [ev(Join, START, "seller", method=JoinMethod.ROSTER)]  # in the group already
    out += [
        ev(Message, local(d, 12), "seller", message_id=f"s{d}", text=f"第{d}天的读书心得，大家共勉") for d in range(8)
    ]
    for day in (8, 9):  # Friday 18 Dec (outside the ad window), Saturday 19 Dec 15:00 (inside)
        red = ev(Message, local(day, 15), "seller", message_id=f"r{day}", content=ContentKind.RED_PACKET, text="",
                 extra={"amount": 100_000})  # fmt: skip
        ad = ev(Message, local(day, 15) + timedelta(minutes=1), "seller", message_id=f"a{day}", text=AD)
        out += [red, ad]
    out.append(ev(Join, local(3, 10), "adbot", method=JoinMethod.SELF))
    out.append(
        ev(
            Message,
            local(3, 10) + timedelta(minutes=2),
            "adbot",
            message_id="bot",
            text="➕V：money20459，招代理，一件代发，日赚500",
        )
    )
    return out


def run(type_key: str) -> tuple[CommunitySpec, World]:
    sim = simulate(groups=1, days=DAYS, seed=7, types=[type_key], start=START)
    g = sim.groups[0]
    planned = build_plan(from_file(type_key), today=TODAY).spec
    simulated = sim.specs[0]
    spec = CommunitySpec.model_validate(
        {
            **planned.model_dump(mode="json"),
            "groups": [{"platform": g.platform, "id": g.platform_id}],
            "roles": {**planned.roles, **simulated.roles},  # the simulated owner runs the group
            "threshold": simulated.threshold.model_dump(),  # the entry fee its members paid
        }
    )
    w = World(spec, start=START)
    events = sorted([*sim.events(), *scripted(g.platform_id)], key=lambda e: e.at)
    t = START
    for e in events:
        while t + TICK <= e.at:
            t += TICK
            w.clock.set(t)
            w.tick()
        w.clock.set(e.at)
        w.handle(e)
    w.wait(START + timedelta(days=DAYS) - w.now, tick=TICK)
    return spec, w


def by(w: World, policy: str, kind: str | None = None) -> list[Action]:
    return [a for a in w.sent if a.policy == policy and (kind is None or a.kind.value == kind)]


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_four_weeks_of_a_plan_enforce_what_its_rules_announce(type_key: str) -> None:
    spec, w = run(type_key)
    rules = spec.rules.sections
    config = w.config.communities[spec.name]
    moderation = config.settings["moderation"]
    assert isinstance(moderation, ModerationSettings)
    rule = ad_rule(moderation, spec)
    # Rules first: every newcomer admitted is told the rules and welcomed; the must-dos are followed up.
    members = w.engine.state.community(spec.name).members
    admitted = {
        a.target
        for a in by(w, "welcome", "post")
        if not has_role(spec, STAFF_ROLES, members.get(f"sim:{a.target}"), a.target)  # the spec names staff by name
    }
    assert {a.target for a in by(w, "rules", "direct_message")} >= admitted and (not admitted or by(w, "onboarding"))
    # 令行禁止 / 踢人方案: ads are removed, an ad account is cleared at once (broken windows, 1735).
    assert by(w, "moderation", "delete_message") and by(w, "moderation", "ban")
    passed = [a for a in by(w, "moderation", "post") if "放行" in a.text_or_empty]
    if rule == "forbid":  # 禁止一切广告: no red packet buys an ad, and no reminder offers one
        assert not passed and "红包" not in rules["prohibitions"]
        assert not any("红包" in a.text_or_empty for a in by(w, "moderation", "post"))
    else:  # the paid pass the rules announce is given, and only as announced
        assert passed and "红包" in rules["prohibitions"]
        if rule == "window":
            assert all(spec.rhythm.ad_window_open(a.at.astimezone(ZONE).replace(tzinfo=None)) for a in passed)
            assert len(passed) == 1  # Friday's ad, ¥1,000 or not, was outside the window
        else:
            assert len(passed) == 2
    # 任务方案 and the clean-up act exactly when the rules announce them.
    assert bool(by(w, "tasks")) is ("每周的任务是" in rules["tasks"])
    assert bool(by(w, "cleanup")) is ("定期清理" in rules["removal"])
    if "定期清理" in rules["removal"]:
        assert any("在的请打1" in a.text_or_empty for a in by(w, "cleanup", "post"))
    one_in_one_out = [a for a in by(w, "capacity", "remove")]
    assert not one_in_one_out or "就得出一个" in rules["removal"]
    # 其他时间不打扰群友: nothing gathered is posted in the quiet hours.
    quiet = spec.rhythm.quiet_hours
    assert quiet is not None
    for a in by(w, "acks", "post"):
        lt = a.at.astimezone(ZONE)
        assert not in_window(lt.hour * 60 + lt.minute, quiet.start, quiet.end)
    w.assert_replays()
