"""The plan of a simulation (模拟方案): communities, groups and each group's profile, drawn from the seed.

Owns: the per-type behaviour table, the lifecycle trajectories (cold start → growth → mature → decline → dormant →
dead), group sizes across the book's bands (BK 2256, 1781), the cast of each group (organizer, assistant, the 4~5 key
discussants of BK 808, greeters, scouts, storytellers, big names, regulars and lurkers) and the community specs.
Everything here is static and small; the events are generated lazily by :mod:`shequn.simulator.group`.
May import: :mod:`shequn.playbook` (for :class:`CommunitySpec`) and the standard library.
"""

from __future__ import annotations

import math
import random
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from typing import Any, Final

from shequn.playbook.spec import CommunitySpec
from shequn.simulator import texts

PLATFORM: Final = "sim"
DAY_MS: Final = 86_400_000

# Lifecycle stages, in order.
COLD_START: Final = "cold_start"
GROWTH: Final = "growth"
MATURE: Final = "mature"
DECLINE: Final = "decline"
DORMANT: Final = "dormant"
DEAD: Final = "dead"
STAGES: Final = (COLD_START, GROWTH, MATURE, DECLINE, DORMANT, DEAD)

# Fraction of groups made to die inside the window (BK 2272: most groups die within weeks or months).
DIE_FRACTION: Final = (0.10, 0.20)

# Size bands (BK 2256: <30 不成群, >80 热闹, >500 乱; BK 1781: 100~200 ideal) and weights per type.
SIZE_BANDS: Final = ((8, 29), (30, 49), (50, 99), (100, 200), (201, 449), (450, 500))


@dataclass(frozen=True, slots=True)
class TypeProfile:
    """What drives a community type (methodology 2.B1) as simulation parameters."""

    rate: float  # messages a day of a mature group of ~120 members
    organizer_share: float  # weight of the organizer among speakers
    die_weight: float  # relative chance to be among the dying groups
    joins: float  # joins a day in the mature stage
    leave: float  # daily leave probability of a member in the mature stage
    sizes: tuple[float, ...]  # weights of SIZE_BANDS
    guest_talks: bool
    checkins: float  # probability that a group runs a check-in programme
    paid_entry: float  # probability that a community charges an entry fee
    nickname_rule: float  # probability that a community asks for 昵称-城市-爱好
    big_names: tuple[int, int]  # how many 大咖 a group has
    weekend: float  # activity factor on Saturday and Sunday


TYPE_PROFILES: Final[dict[str, TypeProfile]] = {
    "consumption": TypeProfile(5, 0.2, 0.8, 2.5, 0.003, (4, 8, 26, 46, 11, 5), False, 0.0, 0.0, 0.1, (0, 0), 1.1),
    "growth": TypeProfile(22, 0.10, 1.0, 1.2, 0.002, (5, 10, 30, 45, 8, 2), True, 0.9, 0.5, 0.7, (0, 1), 0.85),
    "ip": TypeProfile(26, 0.12, 0.6, 1.5, 0.002, (4, 8, 26, 46, 11, 5), True, 0.0, 0.1, 0.3, (0, 1), 1.0),
    "money": TypeProfile(13, 0.14, 1.2, 0.8, 0.002, (8, 15, 30, 37, 8, 2), False, 0.0, 0.3, 0.5, (1, 3), 0.7),
    "interest": TypeProfile(21, 0.12, 1.0, 0.8, 0.002, (20, 25, 30, 22, 3, 0), False, 0.6, 0.0, 0.6, (0, 0), 1.25),
    "industry": TypeProfile(15, 0.12, 0.3, 0.8, 0.0015, (5, 12, 30, 40, 10, 3), False, 0.0, 0.4, 0.6, (1, 2), 0.75),
}

# Activity and join multipliers per stage.
STAGE_RATE: Final = {COLD_START: 0.35, GROWTH: 1.1, MATURE: 1.0, DECLINE: 0.35, DORMANT: 0.03, DEAD: 0.0}
STAGE_JOINS: Final = {COLD_START: 3.0, GROWTH: 3.0, MATURE: 1.0, DECLINE: 0.25, DORMANT: 0.05, DEAD: 0.0}
STAGE_LEAVE: Final = {COLD_START: 0.3, GROWTH: 0.5, MATURE: 1.0, DECLINE: 3.0, DORMANT: 2.5, DEAD: 1.5}


@dataclass(slots=True)
class GroupPlan:
    """One group's profile: who is in it, how it lives, and its parameters. Person ids are ints (``u%06d``)."""

    index: int
    gid: str
    name: str
    community: str
    community_index: int
    type: str
    role: str
    shape: str
    stages: list[str]
    dies_on: int | None
    size_band: str
    base_rate: float
    join_rate: float
    leave_rate: float
    organizer: int
    organizer_active: bool
    assistant: int | None
    core: list[int]
    greeters: list[int]
    scouts: list[int]
    storytellers: list[int]
    big_names: list[int]
    regulars: list[int]
    lurkers: list[int]
    shared: set[int]  # members whose home group is another group of the community
    names: dict[int, str]  # display names set by the plan (staff, big names)
    core_weights: list[float]
    ad_rate: float
    conversion: float | None
    paid_entry: int  # entry fee in fen (0: free)
    renewal_rate: float | None
    renewal_price: int
    checkin_share: float  # share of members in the check-in programme (0: none)
    nickname_rule: bool
    guest_period: int  # days between guest talks (0: none)
    guest_phase: int
    cleanup_day: int | None
    created_in_window: bool

    @property
    def size0(self) -> int:
        staff = 1 + (self.assistant is not None)
        return staff + len(self.core) + len(self.big_names) + len(self.regulars) + len(self.lurkers)


@dataclass(slots=True)
class CommunityPlan:
    index: int
    name: str
    type: str
    owner: int
    groups: list[int] = field(default_factory=list)  # indexes of GroupPlan
    paid_entry: int = 0
    renewal_rate: float | None = None
    renewal_price: int = 0
    nickname_format: str = ""


@dataclass(slots=True)
class Plan:
    communities: list[CommunityPlan]
    groups: list[GroupPlan]
    local_days: int  # number of local (Asia/Shanghai) days the window touches
    first_date: date
    next_person: int
    name_salt: int


class _People:
    """Allocates person numbers; ids are ``u%06d`` of these."""

    def __init__(self) -> None:
        self.next = 1

    def take(self, n: int = 1) -> list[int]:
        out = list(range(self.next, self.next + n))
        self.next += n
        return out


def community_count(groups: int, communities: int | None) -> int:
    if communities is not None:
        return max(1, min(communities, groups))
    return min(groups, 6) if groups <= 48 else max(6, round(groups / 8))


def _band(rng: random.Random, ctype: str) -> tuple[int, int]:
    return rng.choices(SIZE_BANDS, weights=TYPE_PROFILES[ctype].sizes)[0]


def _band_name(size: int) -> str:
    if size < 30:
        return "<30"
    if size < 50:
        return "30-49"
    if size < 100:
        return "50-99"
    if size <= 200:
        return "100-200"
    if size < 450:
        return "201-449"
    return "450-500"


def _community_names(rng: random.Random, types: list[str]) -> list[str]:
    used: set[str] = set()
    out: list[str] = []
    ip_names = list(texts.IP_NAMES)
    rng.shuffle(ip_names)
    for i, ctype in enumerate(types):
        stems = texts.COMMUNITY_STEMS[ctype]
        for attempt in range(1000):
            if ctype == "ip":
                name = ip_names[(i + attempt) % len(ip_names)] + rng.choice(stems)
                if attempt > 20:
                    name = rng.choice(texts.CITIES) + name
            else:
                name = rng.choice(stems)
                if attempt > 3 or rng.random() < 0.3:
                    name = rng.choice(texts.PLACE_PREFIXES) + name
            if attempt > 200:
                name = f"{name}{attempt}"
            if name not in used:
                break
        used.add(name)
        out.append(name)
    return out


def _assign_groups(rng: random.Random, n_groups: int, n_comm: int, *, even: bool = False) -> list[int]:
    """Community index of each group: every community gets one, the rest go to skewed communities (or round-robin)."""
    if even:
        return sorted(i % n_comm for i in range(n_groups))
    owner = list(range(n_comm))
    weights = [rng.paretovariate(1.6) for _ in range(n_comm)]
    owner += rng.choices(range(n_comm), weights=weights, k=n_groups - n_comm)
    owner.sort()
    return owner


def _trajectory(rng: random.Random, shape: str, days: int, dies_on: int | None) -> list[str]:
    st: list[str]
    if shape == "steady":
        st = [MATURE] * days
    elif shape == "growing":
        st = [GROWTH] * days
    elif shape == "new":
        c = rng.randint(2, 5)
        g = rng.randint(5, 15)
        st = [COLD_START] * c + [GROWTH] * g + [MATURE] * days
    elif shape == "declining":
        m = int(days * rng.uniform(0.2, 0.6))
        st = [MATURE] * m + [DECLINE] * days
    elif shape == "dormant":
        st = [DORMANT] * days
    else:  # dying shapes
        assert dies_on is not None
        x = dies_on
        dorm = min(x, rng.randint(2, 4))
        if shape == "dying_dormant":
            st = [DORMANT] * x
        elif shape == "dying_flash":
            pre = x - dorm
            c = min(pre, rng.randint(1, 2))
            g = min(pre - c, rng.randint(2, 5))
            st = [COLD_START] * c + [GROWTH] * g + [DECLINE] * (pre - c - g) + [DORMANT] * dorm
        else:  # dying (fade)
            pre = x - dorm
            dec = min(pre, rng.randint(2, 6))
            st = [MATURE] * (pre - dec) + [DECLINE] * dec + [DORMANT] * dorm
        st = st[:x] + [DEAD] * days
    return st[:days]


def _death_range(days: int) -> tuple[int, int] | None:
    if days >= 14:
        return max(3, days // 4), days - 7
    if days >= 3:
        return max(1, days // 3), days - 2
    return None


def _shapes(rng: random.Random, types: list[str], inactive: list[bool], days: int) -> list[tuple[str, int | None]]:
    n = len(types)
    out: list[tuple[str, int | None]] = [("steady", None)] * n
    rng_death = _death_range(days)
    k = 0
    if rng_death is not None and n >= 3:
        lo, hi = math.ceil(n * DIE_FRACTION[0]), math.floor(n * DIE_FRACTION[1])
        k = min(max(round(n * rng.uniform(DIE_FRACTION[0] + 0.02, DIE_FRACTION[1] - 0.02)), lo), hi)
    # Weighted sampling without replacement (Efraimidis-Spirakis).
    keyed = []
    for i, t in enumerate(types):
        w = TYPE_PROFILES[t].die_weight * (3.0 if inactive[i] else 1.0)
        keyed.append((rng.random() ** (1.0 / w), i))
    keyed.sort(reverse=True)
    dying = {i for _, i in keyed[:k]}
    for i, t in enumerate(types):
        if i in dying and rng_death is not None:
            x = rng.randint(*rng_death)
            shape = rng.choices(("dying", "dying_flash", "dying_dormant"), weights=(6, 3, 2))[0]
            out[i] = (shape, x)
            continue
        w_dormant = 0.20 if inactive[i] else (0.02 if t == "industry" else 0.05)
        shape = rng.choices(
            ("steady", "growing", "new", "declining", "dormant"), weights=(0.50, 0.10, 0.15, 0.15, w_dormant)
        )[0]
        out[i] = (shape, None)
    return out


def _split_weights(rng: random.Random, n: int) -> list[float]:
    w = [rng.uniform(0.5, 1.5) for _ in range(n)]
    if n:
        w[rng.randrange(n)] *= 1.8  # one dominant talker
    total = sum(w)
    return [x / total for x in w]


def build_plan(
    *,
    n_groups: int,
    days: int,
    seed: int,
    start: datetime,
    types: list[str],
    n_comm: int,
    local_start: datetime,
    even: bool = False,
) -> Plan:
    """Draw communities and group profiles. ``local_start`` is ``start`` in Asia/Shanghai."""
    rng = random.Random(f"shequn-sim/{seed}/plan")
    first_midnight = local_start.replace(hour=0, minute=0, second=0, microsecond=0)
    end_local = local_start + timedelta(days=days)
    local_days = math.ceil((end_local - first_midnight) / timedelta(days=1))
    ctypes = [types[i % len(types)] for i in range(n_comm)]
    names = _community_names(rng, ctypes)
    people = _People()
    comms: list[CommunityPlan] = []
    for i, (ct, nm) in enumerate(zip(ctypes, names, strict=True)):
        prof = TYPE_PROFILES[ct]
        cp = CommunityPlan(index=i, name=nm, type=ct, owner=people.take()[0])
        if rng.random() < prof.paid_entry:
            cp.paid_entry = rng.choice((9900, 19900, 29900, 36500))
        if ct == "growth":
            cp.renewal_rate = round(rng.uniform(0.25, 0.65), 3)
            cp.renewal_price = rng.choice((19900, 36500, 49900, 99900))
        if rng.random() < prof.nickname_rule:
            cp.nickname_format = "昵称-城市-行业" if ct == "industry" else "昵称-城市-爱好"
        comms.append(cp)
    owners = _assign_groups(rng, n_groups, n_comm, even=even)
    g_types = [comms[c].type for c in owners]
    inactive = [t == "interest" and rng.random() < 0.35 for t in g_types]
    shapes = _shapes(rng, g_types, inactive, local_days)
    groups: list[GroupPlan] = []
    per_comm_count: dict[int, int] = {}
    for gi in range(n_groups):
        ci = owners[gi]
        cp = comms[ci]
        ct = cp.type
        prof = TYPE_PROFILES[ct]
        k = per_comm_count[ci] = per_comm_count.get(ci, 0) + 1
        cp.groups.append(gi)
        shape, dies_on = shapes[gi]
        stages = _trajectory(rng, shape, local_days, dies_on)
        created = shape in ("new", "dying_flash")
        lo, hi = _band(rng, ct)
        target = rng.randint(lo, hi)
        size = rng.randint(4, 14) if created else target
        names_map: dict[int, str] = {}
        # Staff: the community owner runs the first group and often the others.
        organizer = cp.owner if k == 1 or rng.random() < 0.6 else people.take()[0]
        names_map[organizer] = rng.choice(texts.STAFF_NAME_FORMS).format(n=rng.choice(texts.NICKS))
        assistant = None
        if rng.random() < (0.7 if ct in ("growth", "ip") else 0.4) and size >= 20:
            assistant = people.take()[0]
            names_map[assistant] = rng.choice(texts.ASSISTANT_NAME_FORMS).format(n=rng.choice(texts.NICKS))
        n_core = 5 if rng.random() < 0.5 else 4
        core = people.take(n_core)
        bn_lo, bn_hi = prof.big_names
        big = people.take(rng.randint(bn_lo, bn_hi)) if size >= 20 else []
        for b in big:
            names_map[b] = rng.choice(texts.SURNAMES) + rng.choice(texts.BIG_NAME_TITLES)
        staff_n = 1 + (assistant is not None)
        rest = max(0, size - staff_n - n_core - len(big))
        n_reg = min(rest, max(1, round(rest * rng.uniform(0.06, 0.14)))) if rest else 0
        # Members shared with earlier groups of the same community (some people are in several groups).
        shared: set[int] = set()
        pool: list[int] = []
        if k > 1 and rest > n_reg:
            for other in cp.groups[:-1]:
                pool.extend(groups[other].lurkers)
            n_shared = min(len(pool), round((rest - n_reg) * rng.uniform(0.05, 0.15)))
            shared = set(rng.sample(pool, n_shared)) if n_shared else set()
        regulars = people.take(n_reg)
        lurkers = list(shared) + people.take(rest - n_reg - len(shared))
        lurkers.sort()
        greeters = []
        if assistant is not None:
            greeters.append(assistant)
        if not greeters or rng.random() < 0.5:
            greeters.append(core[rng.randrange(n_core)])
        scout_pool = core + regulars
        scouts = rng.sample(scout_pool, min(len(scout_pool), rng.randint(1, 3)))
        storytellers = rng.sample(core, rng.randint(1, 2))
        org_active = not inactive[gi]
        size_factor = min(2.0, max(0.4, (max(target, 10) / 120) ** 0.4))
        base_rate = prof.rate * size_factor * rng.lognormvariate(-0.125, 0.5)  # mean 1, skewed
        if ct == "interest" and not org_active:
            base_rate *= 0.7
        join_rate = prof.joins * rng.lognormvariate(0, 0.5) * max(0.3, target / 150)
        if created:
            join_rate = max(join_rate, (target - size) / 12)
        checkin_share = 0.0
        if rng.random() < prof.checkins:
            checkin_share = rng.uniform(0.04, 0.11)
        guest_period = 0
        if prof.guest_talks and rng.random() < 0.8:
            guest_period = rng.choice((7, 7, 10, 14))
        cleanup_day = None
        if size >= 80 and local_days >= 7 and rng.random() < 0.12:
            options = [d for d in range(2, local_days - 1) if stages[d] in (MATURE, DECLINE)]
            cleanup_day = rng.choice(options) if options else None
        role = "main"
        if k > 2 and rng.random() < 0.3:
            role = {"growth": "paid", "ip": "fan", "consumption": "main"}.get(ct, "chitchat")
        gname = f"{cp.name}·{k}群"
        groups.append(
            GroupPlan(
                index=gi,
                gid=f"g{gi + 1:04d}",
                name=gname,
                community=cp.name,
                community_index=ci,
                type=ct,
                role=role,
                shape=shape,
                stages=stages,
                dies_on=dies_on,
                size_band=_band_name(target),
                base_rate=base_rate,
                join_rate=join_rate,
                leave_rate=prof.leave * rng.uniform(0.5, 1.5),
                organizer=organizer,
                organizer_active=org_active,
                assistant=assistant,
                core=core,
                greeters=greeters,
                scouts=scouts,
                storytellers=storytellers,
                big_names=big,
                regulars=regulars,
                lurkers=lurkers,
                shared=shared,
                names=names_map,
                core_weights=_split_weights(rng, n_core),
                ad_rate=rng.uniform(0.01, 0.03) * (0.3 if cp.paid_entry else 1.0),
                conversion=round(rng.uniform(0.08, 0.35), 3) if ct == "consumption" else None,
                paid_entry=cp.paid_entry,
                renewal_rate=cp.renewal_rate,
                renewal_price=cp.renewal_price,
                checkin_share=checkin_share,
                nickname_rule=bool(cp.nickname_format),
                guest_period=guest_period,
                guest_phase=rng.randrange(guest_period) if guest_period else 0,
                cleanup_day=cleanup_day,
                created_in_window=created,
            )
        )
    return Plan(
        communities=comms,
        groups=groups,
        local_days=local_days,
        first_date=first_midnight.date(),
        next_person=people.next,
        name_salt=rng.randrange(1 << 30),
    )


def uid(num: int) -> str:
    return f"u{num:06d}"


def community_spec(cp: CommunityPlan, plan: Plan, start: datetime) -> CommunitySpec:
    """The validated spec of one community, with its groups bound on the ``sim`` platform."""
    pos = texts.POSITIONING[cp.type]
    goal_text, metric, target = pos["goal"]
    positioning: dict[str, Any] = {
        "what": pos["what"],
        "why": pos["why"],
        "together": pos["together"],
        "purpose": pos["purpose"],
        "tags": list(pos["tags"]),
        "goal": {
            "text": goal_text,
            "metric": metric,
            "target": target,
            "deadline": (start + timedelta(days=90)).date(),
        },
        "persona": pos["persona"],
        "value": pos["value"],
        "member_title": pos["member_title"],
    }
    data: dict[str, Any] = {
        "name": cp.name,
        "type": cp.type,
        "locale": "zh-CN",
        "timezone": "Asia/Shanghai",
        "nickname_format": cp.nickname_format,
        "positioning": positioning,
        "roles": {"architect": [uid(cp.owner)]},
        "groups": [
            {"platform": PLATFORM, "id": plan.groups[g].gid, "name": plan.groups[g].name, "role": plan.groups[g].role}
            for g in cp.groups
        ],
    }
    if cp.paid_entry:
        # The playbook does not say the unit of ``fee``; like every amount in the events it is in fen here.
        data["threshold"] = {"kind": "paid", "params": {"fee": cp.paid_entry, "currency": "CNY"}}
    return CommunitySpec.model_validate(data)
