"""WeCom customer-group facts → :mod:`shequn.domain` events (pure): change callbacks, roster diffs, live-code rotation.

``change_external_chat`` callbacks (客户群变更事件) carry ``ChangeType`` (create, update, dismiss) and for updates an
``UpdateDetail``: ``add_member`` with ``JoinScene`` (0 invited by a member, 1 invited directly, 3 scanned the group
QR code) and ``del_member`` with ``QuitScene`` (0 left, 1 removed by the owner), ``MemChangeList`` naming the members;
``change_owner``, ``change_name`` and ``change_notice`` become system messages of the group. A member who came through
a live code (群活码) carries its ``state`` in the group detail, which the roster sync puts on the join
(``invite_code``) for attribution.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from shequn.domain import ContentKind, Event, Join, JoinMethod, Leave, LeaveReason, Message, stable_id

PLATFORM = "wecom"
_JOIN_SCENE = {"0": JoinMethod.INVITED, "1": JoinMethod.ADDED_BY_STAFF, "3": JoinMethod.SELF}


def parse_xml(data: bytes) -> dict[str, Any]:
    """A callback's XML as a flat dict (lists for repeated ``Item``s); :class:`ValueError` when unreadable."""
    if b"<!DOCTYPE" in data or b"<!ENTITY" in data:
        raise ValueError("XML with a DTD is refused")
    try:
        root = ET.fromstring(data)
    except ET.ParseError as exc:
        raise ValueError(f"not XML: {exc}") from None
    out: dict[str, Any] = {}
    for child in root:
        items = [i.text or "" for i in child.findall("Item")]
        out[child.tag] = items if items or child.tag.endswith("List") else (child.text or "")
    return out


def change_events(msg: Mapping[str, Any]) -> list[Event]:
    """The events of one decrypted callback (none for what shequn does not model)."""
    if msg.get("Event") != "change_external_chat":
        return []
    chat = str(msg.get("ChatId", ""))
    at = datetime.fromtimestamp(int(msg.get("CreateTime") or 0), tz=UTC)
    detail = str(msg.get("UpdateDetail", ""))
    change = str(msg.get("ChangeType", ""))
    ver = str(msg.get("CurMemVer") or msg.get("CreateTime") or "")
    members = [m for m in msg.get("MemChangeList") or [] if m]
    base: dict[str, Any] = {"platform": PLATFORM, "group": chat, "at": at}
    if change == "update" and detail == "add_member":
        method = _JOIN_SCENE.get(str(msg.get("JoinScene", "")), JoinMethod.UNKNOWN)
        return [Join(id=stable_id(PLATFORM, chat, "join", m, ver), **base, actor=m, method=method) for m in members]
    if change == "update" and detail == "del_member":
        reason = LeaveReason.REMOVED if str(msg.get("QuitScene", "")) == "1" else LeaveReason.VOLUNTARY
        return [Leave(id=stable_id(PLATFORM, chat, "leave", m, ver), **base, actor=m, reason=reason) for m in members]
    if change in ("create", "dismiss") or detail in ("change_owner", "change_name", "change_notice"):
        what = change if change != "update" else detail
        return [
            Message(
                id=stable_id(PLATFORM, chat, "system", what, str(msg.get("CreateTime", ""))),
                **base,
                content=ContentKind.SYSTEM,
                text=what,
                extra={"wecom": what},
            )
        ]
    return []


@dataclass(frozen=True, slots=True)
class RosterDiff:
    joined: list[Join]
    left: list[Leave]


def roster_diff(chat: str, known: Iterable[str], detail: Mapping[str, Any], now: datetime) -> RosterDiff:
    """What the callbacks missed: members in ``detail`` (``groupchat/get``) shequn does not know as in the group, and
    members it knows who are gone. Ids are stable per (member, join time), so a later callback adds nothing twice."""
    known_set = set(known)
    joined: list[Join] = []
    present: set[str] = set()
    for m in detail.get("member_list") or []:
        uid = str(m.get("userid", ""))
        present.add(uid)
        if uid in known_set or not uid:
            continue
        at = datetime.fromtimestamp(int(m.get("join_time") or 0), tz=UTC) if m.get("join_time") else now
        state = str(m.get("state", ""))
        method = JoinMethod.LIVE_CODE if state else _JOIN_SCENE.get(str(m.get("join_scene", "")), JoinMethod.UNKNOWN)
        joined.append(
            Join(
                id=stable_id(PLATFORM, chat, "roster-join", uid, str(m.get("join_time", ""))),
                at=at,
                platform=PLATFORM,
                group=chat,
                actor=uid,
                actor_name=str(m.get("group_nickname") or m.get("name") or ""),
                method=method,
                inviter=str((m.get("invitor") or {}).get("userid", "")),
                invite_code=state,
                extra={"source": "roster"},
            )
        )
    left = [
        Leave(
            id=stable_id(PLATFORM, chat, "roster-leave", uid, now.isoformat()),
            at=now,
            platform=PLATFORM,
            group=chat,
            actor=uid,
            extra={"source": "roster"},
        )
        for uid in sorted(known_set - present)
    ]
    return RosterDiff(joined, left)


def next_live_code_groups(groups: list[str], sizes: Mapping[str, int], capacity: int, limit: int = 5) -> list[str]:
    """The groups a live code (群活码) should point at, in order: those with room left (WeCom takes at most five and
    moves to the next when one is full; a full group is dropped so a newer one comes in)."""
    return [g for g in groups if sizes.get(g, 0) < capacity][:limit]
