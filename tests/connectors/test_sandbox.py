"""The sandbox session: commands, the virtual clock, platform feedback, emulated capabilities, bad lines."""

from __future__ import annotations

from datetime import timedelta

import pytest

from shequn.connectors import Connector, SendResult, UnsupportedActionError, capabilities, route, sends
from shequn.connectors.base import StaffReason
from shequn.connectors.sandbox import SandboxSession
from shequn.domain import ActionKind, DeleteMessage, EventKind, OpenStaffTask, Post, Remove, UserError
from shequn.engine import build_community_config
from shequn.policies import Context, Decision, Policy, Welcome
from tests.conftest import T0
from tests.support.builders import spec


def session(**kw: object) -> SandboxSession:
    # The sandbox's mechanics, with the welcome policy alone (every policy is shown in tests/policies).
    return SandboxSession(build_community_config(spec()), start=T0, policies=[Welcome()], **kw)  # type: ignore[arg-type]


def test_join_and_speak_as_named_members() -> None:
    s = session()
    out = s.run_script(
        ["/join 小王", "大家好", "/join 小李 by 小王", "/reply 谢谢邀请", "/as 小王", "不客气"], source="x"
    )
    assert [o.kind for o in out] == ["post", "post"]
    assert out[0].target_name == "小王" and "第1位" in out[0].text
    assert out[1].target_name == "小李" and "小王" in out[1].text
    members = s.engine.state.communities["读书会"].members
    assert members["sandbox:u1"].messages == 2 and members["sandbox:u2"].messages == 1
    assert members["sandbox:u2"].inviter == "sandbox:u1"


def test_time_moves_the_virtual_clock_forward_only() -> None:
    s = session()
    s.run("/time +90m")
    assert s.clock.now() == T0 + timedelta(minutes=90)
    s.run("/time 2026-11-03 08:00")  # local time of the community (Asia/Shanghai)
    assert s.clock.now() == T0 + timedelta(days=1) - timedelta(hours=8)
    with pytest.raises(ValueError, match="only moves forward"):
        s.run("/time 2020-01-01 00:00")


def test_bad_script_lines_name_the_file_and_line() -> None:
    s = session()
    with pytest.raises(UserError, match=r"script.txt:2: unknown command /dance"):
        s.run_script(["/join 小王", "/dance"], source="script.txt")
    with pytest.raises(UserError, match=r"s:1: say who you are first"):
        session().run_script(["hello"], source="s")
    with pytest.raises(UserError, match=r"s:2: amount 'lots'"):
        session().run_script(["/as 甲", "/order lots"], source="s")


def test_emulating_a_platform_turns_what_it_forbids_into_staff_tasks() -> None:
    s = session(platform_capabilities=frozenset({ActionKind.DIRECT_MESSAGE}), emulate="wecom")
    [out] = s.run("/join 小王")
    assert out.kind == "staff_task" and out.detail["reason"] == "capability_missing"
    assert "wecom" in out.text and out.detail["action_text"].startswith("热烈欢迎")


class Kicker(Policy):
    name = "test_kick"
    kinds = frozenset({EventKind.MESSAGE})

    def decide(self, ctx: Context) -> Decision:
        assert ctx.event is not None
        if "广告" not in getattr(ctx.event, "text", ""):
            return Decision()
        return Decision(
            (
                ctx.act(DeleteMessage, message_id=getattr(ctx.event, "message_id", "")),
                ctx.act(Remove, suffix="rm", target=ctx.event.actor),
            )
        )


def test_removal_is_reported_back_by_the_platform_as_a_leave() -> None:
    s = session()
    s.engine.policies.append(Kicker())
    s.engine._by_kind.setdefault(EventKind.MESSAGE, []).append(Kicker())
    s.engine.config.communities["读书会"] = build_community_config(spec(), policies=[*s.engine.policies])
    out = s.run_script(["/join 甲", "广告 加我vx"], source="x")
    assert [o.kind for o in out] == ["post", "delete_message", "remove"]
    member = s.engine.state.communities["读书会"].members["sandbox:u1"]
    assert member.status.value == "removed" and member.groups == set()


def test_routing_and_declared_capabilities() -> None:
    class Tiny(Connector):
        platform = "tiny"

        @sends(ActionKind.POST)
        async def post(self, action: Post) -> SendResult:
            return SendResult(platform_id="m1")

    assert Tiny.capabilities == frozenset({ActionKind.POST})
    post = Post(key="k", at=T0, platform="tiny", text="hi")
    remove = Remove(key="r", at=T0, platform="tiny", target="u")
    assert route(post, Tiny.capabilities) is None
    assert route(remove, Tiny.capabilities) is StaffReason.CAPABILITY_MISSING
    assert route(post, None) is StaffReason.NO_CONNECTOR
    assert route(OpenStaffTask(key="t", at=T0, title="核对付款"), Tiny.capabilities) is StaffReason.REQUESTED
    import asyncio

    assert asyncio.run(Tiny().send(post)).platform_id == "m1"
    with pytest.raises(UnsupportedActionError, match="cannot remove"):
        asyncio.run(Tiny().send(remove))
    assert capabilities("nosuch") is None and ActionKind.BAN in (capabilities("sandbox") or ())
