"""A small world for policy tests: one workspace's engine, a virtual clock, the log of what happened, and the
platform's feedback (a removal comes back as a leave, as a real platform reports it).

Every scenario can end with :meth:`World.assert_replays`: a fresh engine fed the same log (ticks included) reaches
the same state, which is how the policies' memory is shown to live only in the log.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from typing import Any

from shequn.domain import (
    RULES_FORM,
    Action,
    ActionKind,
    CheckIn,
    ContentKind,
    Event,
    FormAnswer,
    Join,
    JoinMethod,
    Label,
    Leave,
    LeaveReason,
    Message,
    NicknameChange,
    Payment,
    VirtualClock,
    stable_id,
)
from shequn.domain.state import MemberState
from shequn.engine import Engine, WorkspaceConfig, build_community_config, replay
from shequn.playbook.spec import CommunitySpec
from shequn.policies import Policy, default_policies
from tests.conftest import T0

_n = itertools.count()


def make_spec(
    name: str = "读书会", type: str = "growth", groups: Sequence[Any] = ("g1",), **extra: Any
) -> CommunitySpec:
    gs = [g if isinstance(g, dict) else {"platform": "sandbox", "id": g, "name": f"{name}{g}"} for g in groups]
    return CommunitySpec.model_validate({"name": name, "type": type, "groups": gs, **extra})


class World:
    """Communities of one workspace under the given policies (default: all of them), at a virtual time."""

    def __init__(
        self,
        *specs: CommunitySpec,
        policies: Sequence[Policy] | None = None,
        start: datetime = T0,
        feedback: bool = True,
    ) -> None:
        self.specs = list(specs) or [make_spec()]
        self.policies = list(default_policies() if policies is None else policies)
        self.config = WorkspaceConfig()
        for s in self.specs:
            self.config.add(build_community_config(s, self.policies))
        self.engine = Engine(self.config, self.policies)
        self.clock = VirtualClock(start)
        self.log: list[Event] = []
        self.feedback = feedback
        self.sent: list[Action] = []

    # -- time ---------------------------------------------------------------------------------------------------

    @property
    def now(self) -> datetime:
        return self.clock.now()

    def wait(self, delta: timedelta, *, tick: timedelta | None = None) -> list[Action]:
        """Move the clock forward, ticking every ``tick`` (default: one tick at the end)."""
        end = self.now + delta
        out: list[Action] = []
        if tick:
            t = self.now
            while t + tick <= end:
                t += tick
                self.clock.set(t)
                out.extend(self.tick())
        self.clock.set(end)
        out.extend(self.tick())
        return out

    def tick(self) -> list[Action]:
        tick, actions = self.engine.tick(self.now)
        if tick is not None:
            self.log.append(tick)
        return self._after(actions)

    # -- events -------------------------------------------------------------------------------------------------

    def handle(self, event: Event) -> list[Action]:
        self.log.append(event)
        return self._after(self.engine.handle(event))

    def _after(self, actions: list[Action]) -> list[Action]:
        self.sent.extend(actions)
        out = list(actions)
        if self.feedback:
            for a in actions:
                if a.kind in (ActionKind.REMOVE, ActionKind.BAN):
                    reason = LeaveReason.BANNED if a.kind is ActionKind.BAN else LeaveReason.REMOVED
                    gkey = f"{a.platform}:{a.group}"
                    group = self.engine.state.groups.get(gkey)
                    if group is not None and f"{a.platform}:{a.target}" in group.members:
                        leave = Leave(
                            id=stable_id("feedback", a.key),
                            at=self.now,
                            platform=a.platform,
                            group=a.group,
                            actor=a.target,
                            reason=reason,
                            by="shequn",
                        )
                        out.extend(self.handle(leave))
        return out

    def _base(self, who: str, group: str, name: str = "") -> dict[str, Any]:
        return {
            "id": stable_id("ev", who, group, str(next(_n))),
            "at": self.now,
            "platform": "sandbox",
            "group": group,
            "actor": who,
            "actor_name": name or who,
        }

    def join(self, who: str, *, by: str = "", group: str = "g1", name: str = "", roster: bool = False) -> list[Action]:
        method = JoinMethod.ROSTER if roster else JoinMethod.INVITED if by else JoinMethod.SELF
        return self.handle(Join(**self._base(who, group, name), method=method, inviter=by))

    def leave(self, who: str, *, group: str = "g1") -> list[Action]:
        return self.handle(Leave(**self._base(who, group), reason=LeaveReason.VOLUNTARY))

    def say(
        self,
        who: str,
        text: str,
        *,
        group: str = "g1",
        content: ContentKind = ContentKind.TEXT,
        media: str = "",
        extra: dict[str, Any] | None = None,
    ) -> list[Action]:
        base = self._base(who, group, self._name(who))
        return self.handle(
            Message(**base, message_id=base["id"], content=content, text=text, media=media, extra=extra or {})
        )

    def last_message(self) -> Message:
        return next(e for e in reversed(self.log) if isinstance(e, Message))

    def checkin(self, who: str, *, group: str = "g1") -> list[Action]:
        return self.handle(CheckIn(**self._base(who, group, self._name(who))))

    def pay(self, who: str, amount: int, purpose: str = "order", *, group: str = "g1") -> list[Action]:
        base = self._base(who, group, self._name(who))
        return self.handle(Payment(**base, payment_id=base["id"], amount=amount, purpose=purpose))

    def form(self, who: str, form: str, *, group: str = "g1", **answers: Any) -> list[Action]:
        return self.handle(
            FormAnswer(
                **self._base(who, group, self._name(who)), form=form, answers={k: str(v) for k, v in answers.items()}
            )
        )

    def accept_rules(self, who: str, *, group: str = "g1", version: int | None = None) -> list[Action]:
        answers = {"version": version} if version is not None else {}
        return self.form(who, RULES_FORM, group=group, **answers)

    def nick(self, who: str, new: str, *, group: str = "g1") -> list[Action]:
        old = self._name(who)
        return self.handle(NicknameChange(**self._base(who, group, new), old=old, new=new))

    def label(self, message: Message, label: str, *, by: str = "operator") -> list[Action]:
        return self.handle(
            Label(
                id=stable_id("label", message.id, label, str(next(_n))),
                at=self.now,
                platform=message.platform,
                group=message.group,
                message_id=message.id,
                label=label,
                text=message.text,
                author=message.actor,
                content=message.content,
                by=by,
            )
        )

    # -- looking ------------------------------------------------------------------------------------------------

    def _name(self, who: str) -> str:
        for c in self.engine.state.communities.values():
            m = c.members.get(f"sandbox:{who}")
            if m is not None and m.name:
                return m.name
        return who

    def community(self, name: str | None = None) -> Any:
        return self.engine.state.community(name or self.specs[0].name)

    def member(self, who: str, community: str | None = None) -> MemberState:
        m: MemberState = self.community(community).members[f"sandbox:{who}"]
        return m

    def scope(self, policy: str, community: str | None = None) -> dict[str, Any]:
        s: dict[str, Any] = self.community(community).policy.get(policy, {})
        return s

    def assert_replays(self) -> None:
        """A fresh engine fed the log (ticks included) reaches exactly this state."""
        again = replay(self.config, self.log, self.policies)
        assert again.state.to_dict() == self.engine.state.to_dict()


def kinds(actions: Iterable[Action]) -> list[str]:
    return [a.kind.value for a in actions]


def of(actions: Iterable[Action], kind: str, policy: str | None = None) -> list[Action]:
    return [a for a in actions if a.kind.value == kind and (policy is None or a.policy == policy)]


def texts(actions: Iterable[Action]) -> list[str]:
    return [a.text_or_empty for a in actions if a.text_or_empty]
