"""Policies (策略): the methodology's live mechanisms as pure functions of (config, state, event, now).

Owns: the :class:`~shequn.policies.base.Policy` contract and every policy, in the order the engine runs them.
May import: ``domain``, ``playbook``, ``i18n``. Never I/O, the store, connectors or analytics (a test enforces it).
"""

from shequn.policies.base import (
    NOTHING,
    CommunityConfig,
    Context,
    Decision,
    GroupConfig,
    Policy,
    PolicySettings,
)
from shequn.policies.welcome import Welcome


def default_policies() -> list[Policy]:
    """Every policy, in the order the engine runs them (admission before onboarding before moderation …)."""
    return [Welcome()]


__all__ = [
    "NOTHING",
    "CommunityConfig",
    "Context",
    "Decision",
    "GroupConfig",
    "Policy",
    "PolicySettings",
    "Welcome",
    "default_policies",
]
