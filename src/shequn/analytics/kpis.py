"""Type KPIs (考核指标, 000_429f995354a731ff.txt) and the AARRR funnel (001_39f3881ca0c9e9e6.txt:37): pure functions.

Each community type is judged by its own KPIs, defined in ``playbook/data/types.yaml``. Where shequn keeps a record
of what a KPI counts (:class:`Records`), the KPI is measured from it; keywords in the chat are read only for history
without records (an import), and such a value is flagged ``estimated`` (估算) wherever it is shown:

* ``coupon_to_purchase`` (消费型): members who claimed a coupon and then placed a paid order ÷ claimers;
* ``renewal_rate`` (成长型): from the memberships (the membership policy): renewed ÷ memberships that came due,
  renewed or lapsed, as ``shequn shop measures`` reports it; estimated without memberships: members who paid a
  renewal ÷ members staff reminded to renew (mentioned in a staff message about renewal);
  ``cross_sell_rate``: members who bought a course or product ÷ members;
* ``content_cadence`` (IP型): staff content posts (20+ characters or media, not replies) per week;
  ``offline_events``: offline events held in the window (the activity records, ``shequn event``, not cancelled and
  with a fixed time) per month; estimated without any: staff posts about an offline event that drew three or more
  replies; ``member_content_share``: members' content posts ÷ all content posts;
* ``big_names_present`` (赚钱型): members (not staff) with at least ``big_name_messages`` messages in the window that
  drew on average at least ``big_name_responses`` replies or reactions each (``diagnoses.yaml``: the members take up
  what they say); ``resource_matches``: introductions logged in the window (``shequn shop introduce``, made or with
  an outcome) per month; estimated without any: replies between members to a resource post;
* ``active_organizer`` (兴趣型): 1 when some staff member posted on three or more of the last 14 days;
  ``group_size``: members;
* ``tenure`` (行业型): days since the group's record began (a lower bound for groups already there);
  ``paid_conversion``: members who paid anything ÷ members.

May import: ``analytics.model``, ``playbook``, the standard library.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from shequn.analytics.model import Funnel, GroupHealth, Kpi, MemberRow
from shequn.playbook import CommunityType, load_playbook

DAY = 86_400_000
MADE = frozenset({"made", "deal", "no_deal"})  # an introduction that took place (not just suggested)


@dataclass(frozen=True, slots=True)
class Records:
    """What shequn itself recorded for one community, for the KPIs that count it.

    Attributes:
        renewed, lapsed: memberships that came due and were renewed / ran out (the membership policy's count).
        memberships: whether the community has memberships at all (then the renewal rate is theirs, even before
            any came due).
        offline: the offline events (start in ms, group keys) held, or None when the community has no activity
            records (imported history: the keyword estimate then).
        intros: the introductions (logged in ms) that took place, or None when none was ever logged.
    """

    renewed: int = 0
    lapsed: int = 0
    memberships: bool = False
    offline: tuple[tuple[int, tuple[str, ...]], ...] | None = None
    intros: tuple[int, ...] | None = None


NO_RECORDS = Records()


def _kpi(
    ct: CommunityType,
    spec: Mapping[str, Any],
    key: str,
    value: float | None,
    loc: str,
    estimated: bool = False,
    **detail: Any,
) -> Kpi:
    k = next(k for k in ct.kpis if k.key == key)
    target = (spec.get("kpis") or {}).get(key, k.starting_target)
    met = None
    if value is not None and target is not None:
        met = value >= target if k.higher_is_better else value <= target
    if estimated:
        detail["estimated"] = True
    return Kpi(key, k.name.get(loc), None if value is None else round(value, 4), target, k.unit, k.higher_is_better,
               met, detail, k.source, estimated)  # fmt: skip


def _renewal(ct: CommunityType, spec: Mapping[str, Any], rec: Records, commerce: Sequence[tuple[Any, ...]], due: int,
             loc: str, **detail: Any) -> Kpi:  # fmt: skip
    """The renewal rate from the memberships that came due; the keyword estimate only without memberships."""
    if rec.memberships or rec.renewed or rec.lapsed:
        came_due = rec.renewed + rec.lapsed
        return _kpi(ct, spec, "renewal_rate", rec.renewed / came_due if came_due else None, loc, due=came_due,
                    renewed=rec.renewed, lapsed=rec.lapsed, **detail)  # fmt: skip
    renewed = len(_payers(commerce, {"renewal"}, set()))
    return _kpi(ct, spec, "renewal_rate", min(1.0, renewed / due) if due else None, loc, due > 0, due=due,
                renewed=renewed, **detail)  # fmt: skip


def _offline(rec: Records, t0: int, t1: int, group: str | None) -> int | None:
    """Offline events held in [t0, t1) (in ``group``, or anywhere in the community), or None without records."""
    if rec.offline is None:
        return None
    return sum(1 for at, groups in rec.offline if t0 <= at < t1 and (group is None or group in groups))


def _intros(rec: Records, t0: int, t1: int) -> int | None:
    if rec.intros is None:
        return None
    return sum(1 for at in rec.intros if t0 <= at < t1)


def _conversion(rows: Sequence[tuple[Any, ...]]) -> tuple[int, int]:
    first: dict[int, int] = {}
    for _g, p, kind, _what, _amount, at in rows:
        if kind == "coupon_claim" and (p not in first or at < first[p]):
            first[p] = at
    buyers = {p for _g, p, kind, what, _a, at in rows if kind == "order" and what == "paid" and p in first
              and at >= first[p]}  # fmt: skip
    return len(first), len(buyers)


def _payers(rows: Sequence[tuple[Any, ...]], purposes: set[str] | None, exclude: set[str]) -> set[int]:
    out = set()
    for _g, p, kind, what, _amount, _at in rows:
        if (kind == "payment" and what not in exclude and (purposes is None or what in purposes)) or (
            kind == "order" and what == "paid" and purposes is None
        ):
            out.add(p)
    return out


def _big_names(members: Sequence[MemberRow]) -> int:
    """同频大咖 by the playbook's rule: not staff, ``big_name_messages`` messages or more in the window, drawing on
    average ``big_name_responses`` replies or reactions each."""
    th = load_playbook().diagnoses.values()
    least, per = th["big_name_messages"], th["big_name_responses"]
    return sum(1 for m in members if not m.staff and m.messages >= least and m.responses >= per * m.messages)


def _tenure(gh: GroupHealth, t1: int) -> tuple[float, bool]:
    if not gh.trajectory:
        return 0.0, True
    first = date.fromisoformat(gh.trajectory[0]["date"])
    end = date.fromtimestamp(t1 / 1000)
    return float((end - first).days), gh.stage != "cold_start"


def compute(
    ctype: str,
    ct: CommunityType,
    spec: Mapping[str, Any],
    gh: GroupHealth,
    commerce: Sequence[tuple[Any, ...]],
    content: Sequence[int] | None,
    guests: Sequence[Mapping[str, Any]],
    members: Sequence[MemberRow],
    *,
    days: int,
    t1: int,
    loc: str,
    records: Records = NO_RECORDS,
) -> list[Kpi]:
    """The KPIs of one group's type, measured on that group (from ``records`` where the community has them)."""
    staff_c, member_c, offline, due, matches, staff_days = content or (0, 0, 0, 0, 0, 0)
    t0 = t1 - days * DAY
    weeks, months = days / 7, days / 30
    out: list[Kpi] = []
    for k in ct.kpis:
        key = k.key
        if key == "coupon_to_purchase":
            claimers, buyers = _conversion(commerce)
            out.append(_kpi(ct, spec, key, buyers / claimers if claimers else None, loc, claimers=claimers,
                            buyers=buyers))  # fmt: skip
        elif key == "renewal_rate":
            out.append(_renewal(ct, spec, records, commerce, due, loc, guest_talks=len(guests)))
        elif key == "cross_sell_rate":
            buyers = len(_payers(commerce, None, {"renewal", "entry_fee"}))
            out.append(_kpi(ct, spec, key, buyers / gh.members if gh.members else None, loc, buyers=buyers))
        elif key == "content_cadence":
            out.append(_kpi(ct, spec, key, staff_c / weeks if weeks else None, loc, posts=staff_c))
        elif key == "offline_events":
            held = _offline(records, t0, t1, gh.key)
            n = offline if held is None else held
            out.append(_kpi(ct, spec, key, n / months if months else None, loc, held is None, events=n))
        elif key == "member_content_share":
            total = staff_c + member_c
            out.append(_kpi(ct, spec, key, member_c / total if total else None, loc, member_posts=member_c))
        elif key == "big_names_present":
            out.append(_kpi(ct, spec, key, float(_big_names(members)), loc))
        elif key == "resource_matches":
            logged = _intros(records, t0, t1)
            n = matches if logged is None else logged
            out.append(_kpi(ct, spec, key, n / months if months else None, loc, logged is None, matches=n))
        elif key == "active_organizer":
            out.append(_kpi(ct, spec, key, 1.0 if staff_days >= 3 else 0.0, loc, staff_days_last_14=staff_days))
        elif key == "group_size":
            out.append(_kpi(ct, spec, key, float(gh.members), loc))
        elif key == "tenure":
            value, at_least = _tenure(gh, t1)
            out.append(_kpi(ct, spec, key, value, loc, at_least=at_least))
        elif key == "paid_conversion":
            payers = len(_payers(commerce, None, set()))
            out.append(_kpi(ct, spec, key, payers / gh.members if gh.members else None, loc, payers=payers))
    return out


def combine(
    ctype: str,
    ct: CommunityType,
    spec: Mapping[str, Any],
    groups: Sequence[GroupHealth],
    commerce: Sequence[tuple[Any, ...]],
    contents: Sequence[Sequence[int] | None],
    guests: Sequence[Mapping[str, Any]],
    *,
    days: int,
    loc: str,
    t1: int = 0,
    records: Records = NO_RECORDS,
) -> list[Kpi]:
    """The community's KPIs: ratios recomputed over all its groups' people, what ``records`` count over the whole
    community, other rates and counts averaged per group."""
    out: list[Kpi] = []
    members = sum(g.members for g in groups)
    n = len(groups) or 1
    t0, months = t1 - days * DAY, days / 30
    for k in ct.kpis:
        key = k.key
        if key == "coupon_to_purchase":
            claimers, buyers = _conversion(commerce)
            out.append(_kpi(ct, spec, key, buyers / claimers if claimers else None, loc, claimers=claimers,
                            buyers=buyers))  # fmt: skip
        elif key == "renewal_rate":
            due = sum((c or (0, 0, 0, 0))[3] for c in contents)
            out.append(_renewal(ct, spec, records, commerce, due, loc, guest_talks=len(guests)))
        elif key == "offline_events" and (held := _offline(records, t0, t1, None)) is not None:
            out.append(_kpi(ct, spec, key, held / months if months else None, loc, events=held))
        elif key == "resource_matches" and (logged := _intros(records, t0, t1)) is not None:
            out.append(_kpi(ct, spec, key, logged / months if months else None, loc, matches=logged))
        elif key == "cross_sell_rate":
            buyers = len(_payers(commerce, None, {"renewal", "entry_fee"}))
            out.append(_kpi(ct, spec, key, buyers / members if members else None, loc, buyers=buyers))
        elif key == "paid_conversion":
            payers = len(_payers(commerce, None, set()))
            out.append(_kpi(ct, spec, key, payers / members if members else None, loc, payers=payers))
        else:
            measured = [kp for g in groups for kp in g.kpis if kp.key == key and kp.value is not None]
            values = [kp.value for kp in measured if kp.value is not None]
            value = sum(values) / len(values) if values else None
            estimated = any(kp.estimated for kp in measured)
            out.append(_kpi(ct, spec, key, value, loc, estimated, groups=n, per="group average"))
    return out


def funnel(
    rows: Sequence[tuple[Any, ...]],
    referrers: Sequence[tuple[int, int]],
    channels: Mapping[str, str] | None = None,
    *,
    tz_offset_ms: int = 0,
) -> Funnel:
    """AARRR over the window's newcomers: acquired → activated (72 h) → retained (active after a week, still here)
    → revenue (paid) → refer (brought in someone); ``refer`` also counts every member who brought in a newcomer.

    The same stages per acquisition channel (``by_channel``: the channel of the invite link a newcomer came
    through, ``channels`` maps codes to channels; a personal link is ``member``; without a known code, the join
    method) and per join-week cohort (``by_cohort``, weeks starting on Monday, local time)."""
    f = Funnel()
    seen: set[int] = set()
    codes = channels or {}
    for row in rows:
        _g, p, method, joined, activated, retained, paid, invited = row[:8]
        if p in seen:
            continue
        seen.add(p)
        code = row[8] if len(row) > 8 else ""
        f.acquisition += 1
        f.by_method[method] = f.by_method.get(method, 0) + 1
        f.activation += bool(activated)
        f.retention += bool(retained)
        f.revenue += bool(paid)
        stages = (1, int(bool(activated)), int(bool(retained)), int(bool(paid)), int(bool(invited)))
        channel = codes.get(code) or (f"code:{code}" if code else method)
        day = date.fromordinal(date(1970, 1, 1).toordinal() + (int(joined) + tz_offset_ms) // 86_400_000)
        week = (day - timedelta(days=day.weekday())).isoformat()
        for key, box in ((channel, f.by_channel), (week, f.by_cohort)):
            counts = box.setdefault(key, dict.fromkeys(FUNNEL_STAGES, 0))
            for stage, n in zip(FUNNEL_STAGES, stages, strict=True):
                counts[stage] += n
    f.refer = len({p for _g, p in referrers})
    f.by_cohort = dict(sorted(f.by_cohort.items()))
    return f


FUNNEL_STAGES = ("acquisition", "activation", "retention", "revenue", "refer")


def retention(rows: Sequence[tuple[Any, ...]]) -> list[dict[str, Any]]:
    """Join cohorts by week: size and the share active in week 1, 4 and 12 after joining (None: not yet known)."""
    weeks: dict[int, list[int]] = {}
    for _g, week, size, e1, a1, e4, a4, e12, a12 in rows:
        w = weeks.setdefault(int(week), [0] * 7)
        for i, v in enumerate((size, e1, a1, e4, a4, e12, a12)):
            w[i] += int(v)
    out = []
    for week, (size, e1, a1, e4, a4, e12, a12) in sorted(weeks.items()):
        out.append({
            "week": date.fromordinal(date(1970, 1, 1).toordinal() + week).isoformat(),
            "size": size,
            "w1": round(a1 / e1, 4) if e1 else None,
            "w4": round(a4 / e4, 4) if e4 else None,
            "w12": round(a12 / e12, 4) if e12 else None,
        })  # fmt: skip
    return out
