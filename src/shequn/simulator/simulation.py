"""The simulation entry points: :func:`simulate`, :class:`Simulation`, :func:`write_truth`.

Owns: argument checking, the run loop that asks every group for one local day at a time and merges their events by
time (lazily: memory holds about one day of events), and the collection of the dynamic ground truth as events are
emitted. May import: :mod:`shequn.domain`, :mod:`shequn.playbook` and the other simulator modules. No I/O except
:func:`write_truth`.
"""

from __future__ import annotations

import gc
import json
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, Final
from zoneinfo import ZoneInfo

from shequn.domain.events import Event, Message
from shequn.domain.records import iso
from shequn.playbook.spec import CommunitySpec
from shequn.simulator import group as grp
from shequn.simulator.group import GroupSim, RunContext
from shequn.simulator.plan import (
    DAY_MS,
    DEAD,
    DIE_FRACTION,
    PLATFORM,
    GroupPlan,
    Plan,
    build_plan,
    community_count,
    community_spec,
    uid,
)
from shequn.simulator.texts import TYPES
from shequn.simulator.truth import GroupTruth, Truth

ZONE: Final = ZoneInfo("Asia/Shanghai")
DEFAULT_START: Final = datetime(2026, 9, 1, tzinfo=ZONE).astimezone(UTC)


@dataclass(frozen=True, slots=True)
class SimGroup:
    """One simulated chat group."""

    platform: str  # always "sim"
    platform_id: str  # e.g. "g0007"
    name: str  # e.g. "成长读书会·3群"
    community: str
    type: str

    @property
    def key(self) -> str:
        return f"{self.platform}:{self.platform_id}"


@dataclass
class Simulation:
    """A planned simulation. :meth:`events` generates the events (again, identically, on every call)."""

    specs: list[CommunitySpec]
    groups: list[SimGroup]
    start: datetime
    days: int
    seed: int
    truth: Truth
    plan: Plan = field(repr=False)

    def events(self) -> Iterator[Event]:
        """Every event in non-decreasing time order; deterministic for a seed. Draining it completes the truth.

        Lazy: each local day is generated for all groups, merged by time and yielded before the next is made, so
        memory holds about one day of events. The cyclic garbage collector is paused while a day is generated
        (never while the caller runs): it would otherwise rescan that day's objects many times.
        """
        plan = self.plan
        local0 = self.start.astimezone(ZONE).replace(hour=0, minute=0, second=0, microsecond=0)
        base = local0.astimezone(UTC)
        lo = (self.start - base) // timedelta(milliseconds=1)
        hi = lo + self.days * DAY_MS
        ctx = RunContext(
            seed=self.seed, base=base, lo=lo, hi=hi, first_date=plan.first_date, salt=plan.name_salt,
            next_person=plan.next_person,
        )  # fmt: skip
        sims = [GroupSim(g, ctx) for g in plan.groups]
        col = _Collector(plan, base)
        counts: dict[type[Event], int] = {}
        daily = col.daily
        for d in range(plan.local_days):
            # Generating a day allocates ~100k objects that all live until emitted; the cyclic collector would
            # scan them again and again (half the run time). Nothing here makes cycles, so pause it for this part.
            paused = gc.isenabled()
            if paused:
                gc.disable()
            try:
                for s in sims:
                    s.day(d)
                batch: list[grp.Entry] = []
                for s in sims:
                    s.take((d + 1) * DAY_MS, batch)
                batch.sort()  # by (ms, group, sequence): unique, so events are never compared
            finally:
                if paused:
                    gc.enable()
            for ms, gi, _n, ev, tag, payload in batch:
                if ms < lo or ms >= hi:
                    continue
                cls = type(ev)
                counts[cls] = counts.get(cls, 0) + 1
                if cls is Message:
                    daily[gi][d] += 1
                if tag:
                    col.handle(gi, ms, ev, tag, payload)
                yield ev
        col.finish(self.truth, counts)

    def truth_dict(self) -> dict[str, Any]:
        """The ground truth as JSON-able data (drains the events first if that has not been done)."""
        if not self.truth.complete:
            for _ in self.events():
                pass
        return self.truth.to_dict()


class _Collector:
    """Dynamic truth, read from the tags of the emitted events."""

    def __init__(self, plan: Plan, base: datetime) -> None:
        self.plan = plan
        self.base = base
        n = len(plan.groups)
        self.daily = [[0] * plan.local_days for _ in range(n)]
        self.size = [0] * n
        self.joins = [0] * n
        self.leaves = [0] * n
        self.ad_accounts: dict[str, None] = {}
        self.ad_ids: list[str] = []
        self.hardneg: list[str] = []
        self.hardneg_kinds: dict[str, int] = {}
        self.first_claim: dict[int, dict[str, int]] = {}
        self.buyers: dict[int, set[str]] = {}
        self.claims = [0] * n
        self.orders = [0] * n
        self.revenue = [0] * n
        self.due = [0] * len(plan.communities)
        self.renewed = [0] * len(plan.communities)
        self.guest: list[dict[str, Any]] = []
        self.cleanups: list[dict[str, Any]] = []

    def _iso(self, ms: int) -> str:
        return iso(self.base + timedelta(milliseconds=ms))

    def handle(self, gi: int, ms: int, ev: Event, tag: int, payload: Any) -> None:
        if tag == grp.T_JOIN:
            self.size[gi] += 1
            if payload is None:
                self.joins[gi] += 1
        elif tag == grp.T_LEAVE:
            self.size[gi] -= 1
            self.leaves[gi] += 1
        elif tag == grp.T_AD:
            self.ad_ids.append(ev.id)
            self.ad_accounts[ev.actor] = None
        elif tag == grp.T_ADJOIN:
            self.size[gi] += 1
            self.joins[gi] += 1
            self.ad_accounts[ev.actor] = None
        elif tag == grp.T_HARDNEG:
            self.hardneg.append(ev.id)
            self.hardneg_kinds[payload] = self.hardneg_kinds.get(payload, 0) + 1
        elif tag == grp.T_CLAIM:
            self.claims[gi] += 1
            self.first_claim.setdefault(gi, {}).setdefault(ev.actor, ms)
        elif tag == grp.T_ORDER:
            self.orders[gi] += 1
            self.revenue[gi] += getattr(ev, "amount", 0)
            first = self.first_claim.get(gi, {}).get(ev.actor)
            if first is not None and first <= ms:
                self.buyers.setdefault(gi, set()).add(ev.actor)
        elif tag == grp.T_DUE:
            self.due[self.plan.groups[gi].community_index] += payload
        elif tag == grp.T_RENEW:
            self.renewed[payload] += 1
        elif tag == grp.T_GUEST:
            self.guest.append({**payload, "start": self._iso(payload["start"]), "end": self._iso(payload["end"])})
        elif tag == grp.T_CLEANUP:
            self.cleanups.append({**payload, "at": self._iso(payload["at"])})

    def finish(self, truth: Truth, counts: dict[type[Event], int]) -> None:
        plan = self.plan
        for gi, gt in enumerate(truth.groups):
            gt.size_end = self.size[gi]
            gt.joins = self.joins[gi]
            gt.leaves = self.leaves[gi]
            gt.messages_by_day = self.daily[gi]
            gt.messages = sum(self.daily[gi])
        truth.ad_accounts = list(self.ad_accounts)
        truth.ad_message_ids = self.ad_ids
        truth.hard_negative_message_ids = self.hardneg
        truth.hard_negatives_by_kind = dict(sorted(self.hardneg_kinds.items()))
        truth.conversion = {}
        for gp in plan.groups:
            if gp.conversion is None:
                continue
            gi = gp.index
            claimers = len(self.first_claim.get(gi, {}))
            buyers = len(self.buyers.get(gi, set()))
            truth.conversion[f"{PLATFORM}:{gp.gid}"] = {
                "configured": gp.conversion,
                "claims": self.claims[gi],
                "claimers": claimers,
                "buyers": buyers,
                "conversion": round(buyers / claimers, 4) if claimers else None,
                "orders": self.orders[gi],
                "revenue_fen": self.revenue[gi],
            }
        truth.renewals = {}
        for cp in plan.communities:
            if cp.renewal_rate is None:
                continue
            due, renewed = self.due[cp.index], self.renewed[cp.index]
            truth.renewals[cp.name] = {
                "configured": cp.renewal_rate,
                "due": due,
                "renewed": renewed,
                "rate": round(renewed / due, 4) if due else None,
                "price_fen": cp.renewal_price,
            }
        truth.guest_talks = self.guest
        truth.cleanups = self.cleanups
        by_kind = {cls.kind.value: n for cls, n in counts.items()}
        truth.events = {"total": sum(by_kind.values()), **dict(sorted(by_kind.items()))}
        truth.complete = True


def simulate(
    *,
    groups: int,
    days: int,
    seed: int,
    start: datetime | None = None,
    types: Sequence[str] | None = None,
    communities: int | None = None,
    even: bool = False,
) -> Simulation:
    """Plan a simulation of ``groups`` chat groups over ``days`` days. Events are generated by ``events()``.

    Groups are spread over the communities with a skew (a few large communities, many small ones), or evenly with
    ``even`` (the demo shows every type with the same number of groups).

    ``start`` (aware; naive is taken as UTC) defaults to 2026-09-01 00:00 Asia/Shanghai. ``types`` restricts the
    community types (keys such as ``growth``); communities take them round-robin. ``communities`` defaults to
    ``min(groups, 6)`` up to 48 groups and about ``groups / 8`` beyond.
    """
    if groups < 1:
        raise ValueError("groups must be at least 1")
    if days < 1:
        raise ValueError("days must be at least 1")
    if start is None:
        start = DEFAULT_START
    elif start.tzinfo is None:
        start = start.replace(tzinfo=UTC)
    start = start.astimezone(UTC)
    start = start.replace(microsecond=start.microsecond // 1000 * 1000)
    tlist = list(dict.fromkeys(types)) if types else list(TYPES)
    unknown = [t for t in tlist if t not in TYPES]
    if unknown:
        raise ValueError(f"unknown community type(s) {unknown}; use {', '.join(TYPES)}")
    n_comm = community_count(groups, communities)
    plan = build_plan(
        n_groups=groups, days=days, seed=seed, start=start, types=tlist, n_comm=n_comm,
        local_start=start.astimezone(ZONE), even=even,
    )  # fmt: skip
    specs = [community_spec(cp, plan, start) for cp in plan.communities]
    sim_groups = [SimGroup(PLATFORM, g.gid, g.name, g.community, g.type) for g in plan.groups]
    truth = Truth(
        params={
            "groups": groups,
            "days": days,
            "seed": seed,
            "start": iso(start),
            "end": iso(start + timedelta(days=days)),
            "timezone": "Asia/Shanghai",
            "types": tlist,
            "communities": n_comm,
            "platform": PLATFORM,
            "die_fraction": list(DIE_FRACTION),
        },
        communities=[
            {
                "name": cp.name,
                "type": cp.type,
                "owner": uid(cp.owner),
                "groups": [f"{PLATFORM}:{plan.groups[g].gid}" for g in cp.groups],
                "paid_entry_fen": cp.paid_entry,
                "nickname_format": cp.nickname_format,
                "renewal_rate_configured": cp.renewal_rate,
            }
            for cp in plan.communities
        ],
        groups=[_group_truth(g, plan) for g in plan.groups],
    )
    return Simulation(specs=specs, groups=sim_groups, start=start, days=days, seed=seed, truth=truth, plan=plan)


def _group_truth(g: GroupPlan, plan: Plan) -> GroupTruth:
    dates = [(plan.first_date + timedelta(days=i)).isoformat() for i in range(plan.local_days)]
    return GroupTruth(
        key=f"{PLATFORM}:{g.gid}",
        platform_id=g.gid,
        name=g.name,
        community=g.community,
        type=g.type,
        role=g.role,
        shape=g.shape,
        trajectory=[{"date": dt, "stage": st} for dt, st in zip(dates, g.stages, strict=True)],
        dies_on=dates[g.dies_on] if g.dies_on is not None else None,
        dead=g.stages[-1] == DEAD,
        organizer=uid(g.organizer),
        organizer_active=g.organizer_active,
        assistant=uid(g.assistant) if g.assistant is not None else None,
        core_members=[uid(x) for x in g.core],
        greeters=[uid(x) for x in g.greeters],
        scouts=[uid(x) for x in g.scouts],
        storytellers=[uid(x) for x in g.storytellers],
        big_names=[uid(x) for x in g.big_names],
        size_band=g.size_band,
        size_start=g.size0,
        ad_rate=g.ad_rate,
        checkins=bool(g.checkin_share),
        guest_talk_every_days=g.guest_period,
    )


def write_truth(sim: Simulation, path: Path) -> None:
    """Write the ground truth as JSON (UTF-8, ``ensure_ascii=False``, ``indent=1``); drains the events if needed."""
    data = sim.truth_dict()
    path.write_text(json.dumps(data, ensure_ascii=False, indent=1) + "\n", encoding="utf-8")
