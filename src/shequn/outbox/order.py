"""What goes first when a group has several actions waiting: enforcement before courtesy.

How it works:
    An ad account's ad must not stay visible while the bot greets it: deleting a message, removing, banning and
    muting (:data:`ENFORCEMENT`) go out before anything else due in the same chat, and a step of the runner sends
    them before the other actions it claimed (a rules DM lives in its own private chat, so the order across chats
    matters too). :func:`settle` drops, from one batch of decisions, the courtesy actions (welcome, rules DM,
    guide) addressed to a member the same batch removes or bans, and the ingest pipeline takes back such actions
    still waiting in the outbox from earlier batches (a live connector hands over one sync's events before the
    runner sends anything), and the runner holds a newcomer's welcome and rules a few seconds (:func:`held`) so
    that a removal decided right after the join, from the next sync, still takes them back: nobody welcomes an
    account being thrown out.
"""

from __future__ import annotations

from collections.abc import Sequence

from shequn.domain import Action, ActionKind

ENFORCEMENT = frozenset({ActionKind.DELETE_MESSAGE, ActionKind.REMOVE, ActionKind.BAN, ActionKind.MUTE})
_OUT = frozenset({ActionKind.REMOVE, ActionKind.BAN})
# Policies whose words to a removed member stay: they say why (a refusal, the removal notice).
_EXPLAINS = frozenset({"admission", "moderation", "capacity"})
_GREETS = frozenset({"welcome", "rules", "onboarding"})


def held(action: Action) -> bool:
    """Whether ``action`` greets or instructs one newcomer (welcome, rules, guide): the runner holds it a few
    seconds (``DeliverySettings.courtesy_hold``), so an ad account's first-message removal, decided right after
    its join, takes it back before it goes."""
    return action.policy in _GREETS and bool(action.target) and action.kind not in ENFORCEMENT


def urgent(action: Action) -> bool:
    """Whether ``action`` enforces the rules (it goes before courtesy posts)."""
    return action.kind in ENFORCEMENT


def thrown_out(actions: Sequence[Action]) -> set[tuple[str, str]]:
    """The members (platform, id) ``actions`` remove or ban."""
    return {(a.platform, a.target) for a in actions if a.kind in _OUT and a.target}


def courtesy_to(action: Action, out: set[tuple[str, str]]) -> bool:
    """Whether ``action`` is courtesy (not enforcement, not a policy saying why) addressed to one of ``out``."""
    if action.policy in _EXPLAINS or action.kind in ENFORCEMENT:
        return False
    mentions = getattr(action, "mentions", ())
    return (action.platform, action.target) in out or any((action.platform, m) in out for m in mentions)


def settle(actions: Sequence[Action]) -> list[Action]:
    """``actions`` without the courtesy addressed to members the same batch removes or bans."""
    out = thrown_out(actions)
    return [a for a in actions if not courtesy_to(a, out)] if out else list(actions)
