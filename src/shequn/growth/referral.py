"""Referral (裂变 / 推荐, book 2533, 1474, 1031, 2802-2807): who brought whom, what counts, who wins each week.

How it works:
    Every member may have personal invite links (a Telegram named invite link, a WeCom channel ``state``, a code in
    the sandbox): an :class:`InviteLink` maps a code to its owner and channel. A join names the code it came through
    (``Join.invite_code``) or the inviter (``Join.inviter``); :func:`attribute` turns joins into
    :class:`Attribution` records — the referrer (the code's owner, else the inviter), the channel, and the fraud
    checks' findings:

    * ``self_invite``: the referrer is the newcomer (or the same person under another identity);
    * ``rejoin``: the newcomer was attributed before (only a first join counts);
    * ``left_early``: the newcomer left within ``min_stay_hours`` (24) of joining;
    * ``burst``: more than ``burst_max`` joins through one source (link or referrer) within ``burst_minutes``.

    An invite counts once it is *confirmed*: the newcomer stayed ``min_stay_hours``. A leaderboard over a period
    counts the invites confirmed in it, so the Friday-17:00 settlement (book 2533) never counts a newcomer who may
    still leave, and counts them the week after if they stay (:func:`leaderboard`, :func:`periods`).

Things to keep in mind:
    * Pure: the caller reads joins and leaves from the event log and the links from the store. Times are integer
      milliseconds (UTC), member keys are identity keys ``platform:id``.
    * Deterministic: the same joins give the same attributions and the same ranking (ties go to whoever reached
      their count first, then by key).
"""

from __future__ import annotations

import bisect
import gc
from collections import deque
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import NamedTuple
from zoneinfo import ZoneInfo

HOUR_MS = 3_600_000
MINUTE_MS = 60_000
FLAGS = ("self_invite", "rejoin", "left_early", "burst")


@dataclass(frozen=True, slots=True)
class InviteLink:
    """A code that brings people into a community: a member's personal link, or a channel's (poster, 公众号 …).

    ``owner`` is the member key of the referrer ("" for a channel link); ``channel`` names the acquisition channel
    (``member`` for personal links); ``group`` the platform id of the group it opens ("" when a live code routes).
    """

    code: str
    community: str
    owner: str = ""
    channel: str = "member"
    platform: str = ""
    group: str = ""
    campaign: str = ""


class JoinFact(NamedTuple):
    """One join as the event log has it (roster snapshots excluded by the caller). A named tuple: a million are
    made and sorted per attribution, and tuples sort by their fields without a key function."""

    at_ms: int
    member: str
    code: str = ""
    inviter: str = ""  # member key of the inviter named by the platform ("" none)
    group: str = ""
    method: str = ""


@dataclass(frozen=True, slots=True)
class Rules:
    """The fraud checks' settings (defaults: the playbook's ``referral`` entry)."""

    min_stay_hours: int = 24
    burst_max: int = 20
    burst_minutes: int = 10


class Attribution(NamedTuple):
    """Where one join came from and whether it counts as a referral (a named tuple: cheap to make by the million)."""

    at_ms: int
    member: str
    referrer: str  # "" when nobody referred them (a channel link, search …)
    channel: str  # the link's channel, ``member`` for a personal invite, else the join method
    code: str
    flags: tuple[str, ...] = ()
    confirmed_ms: int | None = None  # when it became a counted invite (None: it never does, or not yet known)

    @property
    def valid(self) -> bool:
        return bool(self.referrer) and not self.flags


def rules_from(settings: Mapping[str, object] | None = None) -> Rules:
    """The rules with the playbook's defaults, overridden by ``settings`` (a community's ``growth.referral``)."""
    from shequn.playbook import load_playbook

    book = load_playbook()
    values = {k: int(book.default("referral", k)) for k in ("min_stay_hours", "burst_max", "burst_minutes")}
    for k, v in (settings or {}).items():
        if k in values:
            values[k] = int(v)  # type: ignore[call-overload]
    return Rules(**values)


def attribute(
    joins: Iterable[JoinFact],
    links: Mapping[str, InviteLink],
    leaves: Mapping[str, Sequence[int]],
    *,
    rules: Rules = Rules(),
    now_ms: int | None = None,
    person_of: Mapping[str, object] | None = None,
    seen: Iterable[str] = (),
) -> list[Attribution]:
    """Attribute ``joins`` (any order; sorted here by time) to referrers and channels, with the fraud checks.

    Args:
        joins: the joins to attribute.
        links: invite links by code.
        leaves: member key → the times (ms, ascending) they left.
        rules: the fraud checks' settings.
        now_ms: the present: a join younger than ``min_stay_hours`` is not confirmed yet (None: all are judged).
        person_of: member key → person, to catch a self-invite under another identity.
        seen: members attributed before these joins (their joins are re-joins).
    """
    stay = rules.min_stay_hours * HOUR_MS
    window = rules.burst_minutes * MINUTE_MS
    burst_max = rules.burst_max
    first: set[str] = set(seen)
    recent: dict[str, deque[int]] = {}
    people = person_of or {}
    person = people.get
    link_of = links.get
    left = leaves.get
    out: list[Attribution] = []
    append = out.append
    new = tuple.__new__  # named tuples made without their Python-level __new__: a million per attribution
    # The loop makes no reference cycles, and with millions of tuples alive each collection of the cyclic garbage
    # collector would scan them all again: at a million joins attribution took over twice as long with it on.
    enabled = gc.isenabled()
    gc.disable()
    try:
        for j in sorted(joins):  # by time, then member, code …: the same order whatever order they came in
            at, member, code, inviter = j.at_ms, j.member, j.code, j.inviter
            link = link_of(code) if code else None
            if link is not None:
                referrer = link.owner
                channel = link.channel if referrer == "" else "member"
            else:
                referrer = inviter
                channel = "member" if inviter else (j.method or "unknown")
            flags: tuple[str, ...] = ()
            if referrer and (referrer == member or ((pr := person(referrer)) is not None and pr == person(member))):
                flags += ("self_invite",)
            if member in first:
                flags += ("rejoin",)
            else:
                first.add(member)
            source = code or referrer
            if source:
                q = recent.get(source)
                if q is None:
                    q = recent[source] = deque()
                q.append(at)
                while q[0] <= at - window:
                    q.popleft()
                if len(q) > burst_max:
                    flags += ("burst",)
            gone = left(member)
            if gone:
                i = bisect.bisect_left(gone, at)
                if i < len(gone) and gone[i] < at + stay:
                    flags += ("left_early",)
            confirmed: int | None = at + stay
            if flags or not referrer or (now_ms is not None and at + stay > now_ms):
                confirmed = None
            append(new(Attribution, (at, member, referrer, channel, code, flags, confirmed)))
    finally:
        if enabled:
            gc.enable()
    return out


# -- the referral tree -----------------------------------------------------------------------------------------


@dataclass(slots=True)
class Tree:
    """The referral tree (推荐关系): each member's referrer (their first valid referral) and their invitees."""

    parent: dict[str, str] = field(default_factory=dict)
    children: dict[str, list[str]] = field(default_factory=dict)

    def upline(self, member: str, depth: int) -> list[str]:
        """The member's referrer, the referrer's referrer … up to ``depth`` levels (for commissions)."""
        out: list[str] = []
        cur = member
        while len(out) < depth:
            p = self.parent.get(cur)
            if not p or p in out or p == member:
                break
            out.append(p)
            cur = p
        return out

    def size(self, member: str) -> int:
        """How many people the member brought in, directly or through their invitees."""
        total, stack, seen = 0, [member], {member}
        while stack:
            for c in self.children.get(stack.pop(), ()):
                if c not in seen:
                    seen.add(c)
                    total += 1
                    stack.append(c)
        return total

    def depth(self, member: str) -> int:
        return len(self.upline(member, 1_000))


def tree(attributions: Iterable[Attribution]) -> Tree:
    """Build the tree from attributions, counting only valid referrals (pending ones included: they are links)."""
    t = Tree()
    for a in attributions:
        if a.referrer and not a.flags and a.member not in t.parent:
            t.parent[a.member] = a.referrer
            t.children.setdefault(a.referrer, []).append(a.member)
    return t


# -- leaderboards and settlement -------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Rank:
    """One line of a leaderboard: the referrer, confirmed invites, pending ones, rejected ones by reason."""

    rank: int
    referrer: str
    confirmed: int
    pending: int = 0
    rejected: Mapping[str, int] = field(default_factory=dict)


def leaderboard(
    attributions: Iterable[Attribution],
    start_ms: int,
    end_ms: int,
    *,
    eligible: Iterable[str] | None = None,
    limit: int | None = None,
) -> list[Rank]:
    """The referrers ranked by the invites confirmed in ``[start_ms, end_ms)``.

    ``pending`` counts the period's joins not confirmed yet; ``rejected`` the period's joins the fraud checks threw
    out, by reason. Ties go to whoever reached their count first. ``eligible`` limits the board to a campaign's
    members (e.g. the 10,000 members of one community).
    """
    enabled = gc.isenabled()
    gc.disable()  # as in attribute(): no cycles, and the attributions alive are many
    try:
        return _leaderboard(attributions, start_ms, end_ms, eligible, limit)
    finally:
        if enabled:
            gc.enable()


def _leaderboard(
    attributions: Iterable[Attribution], start_ms: int, end_ms: int, eligible: Iterable[str] | None, limit: int | None
) -> list[Rank]:
    allowed = set(eligible) if eligible is not None else None
    confirmed: dict[str, int] = {}
    reached: dict[str, int] = {}
    pending: dict[str, int] = {}
    rejected: dict[str, dict[str, int]] = {}
    for a in attributions:
        r = a.referrer
        if not r or (allowed is not None and r not in allowed):
            continue
        c = a.confirmed_ms
        if c is not None:
            if start_ms <= c < end_ms:
                confirmed[r] = confirmed.get(r, 0) + 1
                if c > reached.get(r, -1):
                    reached[r] = c
        elif start_ms <= a.at_ms < end_ms:
            if a.flags:
                box = rejected.setdefault(r, {})
                for f in a.flags:
                    box[f] = box.get(f, 0) + 1
            else:
                pending[r] = pending.get(r, 0) + 1
    people = set(confirmed) | set(pending) | set(rejected)
    order = sorted(people, key=lambda r: (-confirmed.get(r, 0), reached.get(r, 1 << 62), r))
    if limit is not None:
        order = order[:limit]
    return [Rank(i + 1, r, confirmed.get(r, 0), pending.get(r, 0), rejected.get(r, {})) for i, r in enumerate(order)]


def periods(start: datetime, now: datetime, *, weekday: int, at: str, tz: str) -> list[tuple[datetime, datetime]]:
    """The settlement periods completed by ``now``: the first from ``start`` to the first ``weekday`` ``at`` (local
    time in ``tz``; Monday = 0, so Friday = 4) after it, then week by week (book 2533: 每周五下午5点结算)."""
    zone = ZoneInfo(tz)
    hh, mm = (int(x) for x in at.split(":"))
    local = start.astimezone(zone)
    first = local.replace(hour=hh, minute=mm, second=0, microsecond=0) + timedelta(days=(weekday - local.weekday()) % 7)
    if first <= local:
        first += timedelta(days=7)
    out: list[tuple[datetime, datetime]] = []
    begin, end = start, first
    while end <= now:
        out.append((begin, end))
        begin = end
        end = (end.replace(tzinfo=None) + timedelta(days=7)).replace(tzinfo=zone)  # wall-clock, across DST
    return out


def next_settlement(start: datetime, now: datetime, *, weekday: int, at: str, tz: str) -> datetime:
    """When the period running at ``now`` is settled."""
    done = periods(start, now, weekday=weekday, at=at, tz=tz)
    zone = ZoneInfo(tz)
    if done:
        last = done[-1][1].astimezone(zone)
        return (last.replace(tzinfo=None) + timedelta(days=7)).replace(tzinfo=zone)
    far = periods(start, start + timedelta(days=8), weekday=weekday, at=at, tz=tz)
    return far[0][1]
