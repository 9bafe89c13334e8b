"""What goes first when a group has several actions waiting: enforcement before courtesy.

How it works:
    An ad account's ad must not stay visible while the bot greets it: deleting a message, removing, banning and
    muting (:data:`ENFORCEMENT`) go out before anything else due in the same chat, and a step of the runner sends
    them before the other actions it claimed (a rules DM lives in its own private chat, so the order across chats
    matters too). :func:`settle` drops, from one batch of decisions, the courtesy actions (welcome, rules DM,
    guide, points) addressed to a member the same batch removes or bans: nobody welcomes an account being thrown
    out.
"""

from __future__ import annotations

from collections.abc import Sequence

from shequn.domain import Action, ActionKind

ENFORCEMENT = frozenset({ActionKind.DELETE_MESSAGE, ActionKind.REMOVE, ActionKind.BAN, ActionKind.MUTE})
_OUT = frozenset({ActionKind.REMOVE, ActionKind.BAN})
# Policies whose words to a removed member stay: they say why (a refusal, the removal notice).
_EXPLAINS = frozenset({"admission", "moderation", "capacity"})


def urgent(action: Action) -> bool:
    """Whether ``action`` enforces the rules (it goes before courtesy posts)."""
    return action.kind in ENFORCEMENT


def settle(actions: Sequence[Action]) -> list[Action]:
    """``actions`` without the courtesy addressed to members the same batch removes or bans."""
    out = {(a.platform, a.target) for a in actions if a.kind in _OUT and a.target}
    if not out:
        return list(actions)

    def addressed(a: Action) -> bool:
        if a.policy in _EXPLAINS or a.kind in ENFORCEMENT:
            return False
        mentions = getattr(a, "mentions", ())
        return (a.platform, a.target) in out or any((a.platform, m) in out for m in mentions)

    return [a for a in actions if not addressed(a)]
