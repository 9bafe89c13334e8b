"""Rules first (群规, book 754-762): the rules told to every newcomer, the version they accept recorded.

How it works:
    When a member joins (and was admitted), they get the community's rules privately unless they accepted the
    current version already (建社群第一步就是群规……你得在每个人进群之前就告知). Acceptance arrives as the ``rules``
    form (``version``, or the current version when left out); the engine records the version on the member, and the
    newcomer is thanked. With ``mode: mute`` they are also muted until they accept, and unmuted then.

Things to keep in mind:
    * ``w:<member>``: the version a newcomer was sent and has yet to accept.
    * The people who run the community (architect, decision-maker) wrote the rules: they are not sent them.
"""

from __future__ import annotations

from typing import ClassVar, Literal

from shequn.domain import (
    RULES_FORM,
    Action,
    DirectMessage,
    EventKind,
    FormAnswer,
    Join,
    JoinMethod,
    Mute,
    SetState,
    Unmute,
)
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.common import STAFF_ROLES, BookSettings, book, check_texts, has_role, say

NAME = "rules"


class RulesSettings(BookSettings):
    """``policies.rules``: remind (default), mute until accepted, or off."""

    mode: Literal["mute", "remind", "off"] = book(NAME, "mode")


class Rules(Policy):
    """Send the rules to newcomers; unmute them when they accept."""

    name: ClassVar[str] = NAME
    settings_model: ClassVar[type[PolicySettings]] = RulesSettings
    kinds = frozenset({EventKind.JOIN, EventKind.FORM_ANSWER})

    def active(self, settings: PolicySettings) -> bool:
        assert isinstance(settings, RulesSettings)
        return settings.enabled and settings.mode != "off"

    def decide(self, ctx: Context) -> Decision:
        e, member = ctx.event, ctx.member
        s = ctx.settings
        assert isinstance(s, RulesSettings)
        if e is None or member is None:
            return NOTHING
        spec = ctx.config.spec
        group = (ctx.group_config.name if ctx.group_config else "") or spec.name
        if isinstance(e, Join):
            version = spec.rules.version
            if e.method is JoinMethod.ROSTER or member.rules_version >= version:
                return NOTHING
            if has_role(spec, STAFF_ROLES, member, e.actor):
                return NOTHING  # those who run the community wrote the rules
            rules = "\n".join(v for v in spec.rules.sections.values() if v)
            text = say(ctx, NAME, "rules", group=group, version=version, rules=rules)
            actions: list[Action] = [ctx.act(DirectMessage, "rules", target=e.actor, text=text)]
            if s.mode == "mute":
                actions.append(ctx.act(Mute, "mute", target=e.actor, reason="rules"))
            return Decision(tuple(actions), state={f"w:{member.key}": version})
        if isinstance(e, FormAnswer) and e.form == RULES_FORM:
            waiting = ctx.scope.get(f"w:{member.key}")
            if waiting is None or member.rules_version < int(waiting):
                return NOTHING
            out: list[Action] = [ctx.act(SetState, "done", scope=NAME, name=f"w:{member.key}", value=None)]
            if s.mode == "mute":
                for gkey in sorted(member.groups):
                    platform, _, gid = gkey.partition(":")
                    out.append(ctx.act(Unmute, f"unmute:{gid}", platform=platform, group=gid, target=e.actor))
            thanks = say(ctx, NAME, "rules_thanks", version=member.rules_version, group=group)
            out.append(ctx.act(DirectMessage, "thanks", target=e.actor, text=thanks))
            return Decision(tuple(out))
        return NOTHING

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, RulesSettings)
        problems = check_texts(NAME, settings)
        if settings.mode != "off" and not any(spec.rules.sections.values()):
            problems.append(("mode", "the community has no rules to accept; write rules.sections or set mode: off"))
        return problems
