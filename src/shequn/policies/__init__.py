"""Policies (策略): the methodology's live mechanisms as pure functions of (config, state, event, now).

Owns: the :class:`~shequn.policies.base.Policy` contract and every policy, in the order the engine runs them.
May import: ``domain``, ``playbook``, ``i18n``. Never I/O, the store, connectors or analytics (a test enforces it).
"""

from shequn.policies.acks import Acks
from shequn.policies.admission import Admission
from shequn.policies.automations import Automations
from shequn.policies.badges import Badges
from shequn.policies.base import (
    NOTHING,
    CommunityConfig,
    Context,
    Decision,
    GroupConfig,
    Policy,
    PolicySettings,
    decided,
)
from shequn.policies.capacity import Capacity
from shequn.policies.checkin import Checkin
from shequn.policies.cleanup import Cleanup
from shequn.policies.faq import Faq
from shequn.policies.games import Games
from shequn.policies.inbox import Inbox
from shequn.policies.leaderboard import Leaderboard
from shequn.policies.levels import Levels
from shequn.policies.lifecycle import Lifecycle
from shequn.policies.membership import Membership
from shequn.policies.moderation import Moderation
from shequn.policies.onboarding import Onboarding
from shequn.policies.points import Points
from shequn.policies.rules import Rules
from shequn.policies.speaking import Speaking
from shequn.policies.tasks import Tasks
from shequn.policies.welcome import Welcome


def default_policies() -> list[Policy]:
    """Every policy, in the order the engine runs them.

    Who may be here first (admission, capacity) and the rules they are to accept; then whether what they say may
    stand (moderation, speaking rules: a removed ad or a reminded chatter stops there and earns nothing); then the
    rituals (welcome, onboarding); then what members earn (check-in, points, then levels and badges, which read the
    points); then requests (boards, FAQ) and what needs a person (the inbox), discipline (tasks, clean-up) and
    memberships; then the community's own automations, which see all of that (a check-in recorded, a level raised);
    last, the acknowledgements gathered meanwhile go out, one post per group and batch.
    """
    return [
        Admission(),
        Capacity(),
        Rules(),
        Moderation(),
        Speaking(),
        Welcome(),
        Onboarding(),
        Checkin(),
        Points(),
        Levels(),
        Badges(),
        Leaderboard(),
        Games(),
        Faq(),
        Inbox(),
        Tasks(),
        Cleanup(),
        Membership(),
        Lifecycle(),
        Automations(),
        Acks(),
    ]


__all__ = [
    "NOTHING",
    "Acks",
    "Admission",
    "Automations",
    "Badges",
    "Capacity",
    "Checkin",
    "Cleanup",
    "CommunityConfig",
    "Context",
    "Decision",
    "Faq",
    "Games",
    "GroupConfig",
    "Inbox",
    "Leaderboard",
    "Levels",
    "Lifecycle",
    "Membership",
    "Moderation",
    "Onboarding",
    "Points",
    "Policy",
    "PolicySettings",
    "Rules",
    "Speaking",
    "Tasks",
    "Welcome",
    "decided",
    "default_policies",
]
