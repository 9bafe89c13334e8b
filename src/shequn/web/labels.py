"""Words for the internal values a page shows (界面标签): role and tag keys, group roles, platforms, token scopes,
audit actions and actors, in zh-CN and en, so no key reaches the screen. The names come from the playbook (roles,
badges) and the message catalogue; what an operator typed (their own tags) is shown as typed."""

from __future__ import annotations

import re
from functools import cache

from shequn.commerce.offers import LADDER_NAMES
from shequn.i18n import catalogue, t
from shequn.playbook import load_playbook


def _known(key: str) -> bool:
    return key in catalogue()


@cache
def _roles() -> dict[str, tuple[str, str]]:
    return {r.key: (r.name.zh, r.name.en) for r in load_playbook().roles.roles}


@cache
def _badges() -> dict[str, dict[str, str]]:
    return {b["key"]: b["name"] for b in load_playbook().default("badges", "rules")}


def role(key: str, loc: str) -> str:
    """A member's role (the playbook's 9+2 roles, and the analysis' key discussant)."""
    names = _roles().get(key)
    if names is not None:
        return names[1] if loc == "en" else names[0]
    return t(f"label.role.{key}", loc) if _known(f"label.role.{key}") else key


def tag(value: str, loc: str) -> str:
    """A member's tag: the ones shequn sets (``badge:…``, ``tier:…``, ``stage:…``) in words; an operator's own tag
    as typed."""
    prefix, _, rest = value.partition(":")
    if prefix == "badge" and rest:
        name = _badges().get(rest, {}).get(loc if loc == "en" else "zh-CN", rest)
        return t("label.tag.badge", loc, name=name)
    if prefix == "tier" and rest:
        name = t(f"label.tier.{rest}", loc) if _known(f"label.tier.{rest}") else rest
        return t("label.tag.tier", loc, name=name)
    if prefix == "stage" and rest in LADDER_NAMES:
        return t("label.tag.stage", loc, name=LADDER_NAMES[rest][1 if loc == "en" else 0])
    return t(f"label.tag.{value}", loc) if _known(f"label.tag.{value}") else value


def points_reason(reason: str, loc: str) -> str:
    """Why points moved (``message``, ``checkin``, ``streak:7``, ``spend:makeup_card``, ``expire:2026-09``) in words."""
    kind, _, rest = reason.partition(":")
    if _known(f"label.points.{kind}"):
        return t(
            f"label.points.{kind}",
            loc,
            detail=t(f"label.points.item.{rest}", loc) if _known(f"label.points.item.{rest}") else rest,
        )
    return reason


def group_role(key: str, loc: str) -> str:
    return t(f"label.group_role.{key}", loc) if _known(f"label.group_role.{key}") else key


def platform(key: str, loc: str) -> str:
    return t(f"label.platform.{key}", loc) if _known(f"label.platform.{key}") else key


def scope(key: str, loc: str) -> str:
    return t(f"label.scope.{key}", loc) if _known(f"label.scope.{key}") else key


def audit(verb: str, loc: str) -> str:
    """An audit action (``community.created``, ``segment.tag`` …) in words."""
    return t(f"label.audit.{verb}", loc) if _known(f"label.audit.{verb}") else verb


def actor(value: str, loc: str) -> str:
    """Who did it: ``user:amy`` → amy; shequn's own parts (``simulator``, ``cli``, ``demo`` …) in words."""
    kind, _, name = value.partition(":")
    if kind == "user" and name:
        return name
    if kind == "token" and name:
        return t("label.actor.token", loc, name=name)
    return t(f"label.actor.{value}", loc) if _known(f"label.actor.{value}") else value


def object_type(key: str, loc: str) -> str:
    return t(f"label.object.{key}", loc) if _known(f"label.object.{key}") else key


_DATE_ORDER = re.compile(r"^(?P<file>.+): date order (?P<order>dmy|mdy|ymd|ydm)$")


def import_note(note: str, loc: str) -> str:
    """An importer's note in words (the WhatsApp reader's guess of the date order: ``dmy`` → day/month/year)."""
    m = _DATE_ORDER.match(note)
    if m is None:
        return note
    return t("import.date_order", loc, file=m["file"], order=t(f"import.date_order.{m['order']}", loc))


__all__ = [
    "actor",
    "audit",
    "group_role",
    "import_note",
    "object_type",
    "platform",
    "points_reason",
    "role",
    "scope",
    "tag",
]
