"""Welcome (欢迎仪式): greet every newcomer in the group, by name and member number (book 1651-1690)."""

from __future__ import annotations

from typing import ClassVar

from shequn.domain import EventKind, Join, JoinMethod, Post
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies.base import NOTHING, Context, Decision, Policy, PolicySettings
from shequn.policies.text import check_template, render

PLACEHOLDERS = ("name", "number", "group", "community", "inviter")


class WelcomeSettings(PolicySettings):
    """``template`` and ``invited_template`` default to the playbook's, in the community's language."""

    template: str = ""
    invited_template: str = ""


class Welcome(Policy):
    """Post the welcome when a member joins a group; thank the inviter when there is one."""

    name: ClassVar[str] = "welcome"
    settings_model: ClassVar[type[PolicySettings]] = WelcomeSettings
    kinds = frozenset({EventKind.JOIN})

    def decide(self, ctx: Context) -> Decision:
        event, member = ctx.event, ctx.member
        if not isinstance(event, Join) or member is None or event.method is JoinMethod.ROSTER:
            return NOTHING
        settings = ctx.settings
        assert isinstance(settings, WelcomeSettings)
        inviter = ctx.member_of(event.platform, event.inviter) if event.inviter else None
        pb = load_playbook()
        if inviter is not None:
            template = settings.invited_template or pb.template("welcome.invited", ctx.locale)
        else:
            template = settings.template or pb.template("welcome", ctx.locale)
        text = render(
            template,
            name=member.name or event.actor_name or event.actor,
            number=member.number,
            group=(ctx.group_config.name if ctx.group_config else "") or ctx.config.name,
            community=ctx.config.name,
            inviter=(inviter.name or event.inviter) if inviter else "",
        )
        return Decision((ctx.act(Post, target=event.actor, text=text, mentions=(event.actor,)),))

    def check(self, settings: PolicySettings, spec: CommunitySpec) -> list[tuple[str, str]]:
        assert isinstance(settings, WelcomeSettings)
        return [
            (name, problem)
            for name in ("template", "invited_template")
            if (problem := check_template(getattr(settings, name), PLACEHOLDERS))
        ]
