"""Which action a bot sends first when it has more waiting than its limits let through (pure).

Three tiers, derived here and nowhere else: *moderation* (deleting a message, removing, banning, muting: an ad must
not stay up while the bot chats), then *replies* (what answers someone: acknowledgements, answers, welcomes, a
command's answer), then *broadcasts* (what nobody is waiting for: the rhythm's posts, campaigns, settlements, an
operator's mass message). Within a chat the order of decision is kept (only enforcement overtakes,
:mod:`~shequn.outbox.order`); the tiers order the chats a bot serves when its own window is the bottleneck.
"""

from __future__ import annotations

from enum import IntEnum

from shequn.domain import Action, ActionKind
from shequn.outbox.order import ENFORCEMENT

# Policies whose posts nobody is waiting for (besides scheduled jobs, ``schedule.<kind>``): the leaderboard, growth
# announcements, an operator's message to a segment from the console.
_BROADCASTERS = frozenset({"console", "group_buy", "group_fill", "leaderboard", "live_code", "referral"})


class Priority(IntEnum):
    MODERATION = 0
    REPLY = 1
    BROADCAST = 2


def priority_of(action: Action) -> Priority:
    """The tier of ``action`` (lower goes first)."""
    if action.kind in ENFORCEMENT:
        return Priority.MODERATION
    if action.kind is ActionKind.SET_ANNOUNCEMENT or action.policy in _BROADCASTERS:
        return Priority.BROADCAST
    if action.policy.startswith("schedule."):
        return Priority.BROADCAST
    return Priority.REPLY
