"""Detectors (识别): ad accounts, guest talks, activity tiers, concentration, size bands, the three essentials.

Each detector is a rule an operator can read and check by hand; the numbers come from the playbook
(``diagnoses.yaml`` → ``thresholds``):

* **ad account** (广告号): not staff; posted contact details (phone/QQ number, WeChat handle, QR code) or links in at
  least ``ad_min_promo_share`` of their messages; and never took part in a conversation (made no reply, got no reply
  or reaction) — or staff deleted their messages or removed them (moderation evidence);
* **guest talk** (嘉宾分享): someone staff added to the group posts ``guest_talk_min_messages`` messages within three
  hours;
* **activity tier** (BK 2264): high = ``tier_high_messages`` messages that drew ``tier_high_responses`` responses;
  mid = ``tier_mid_messages`` messages; low = reacts or checks in but does not speak; inactive = nothing.

May import: ``duckdb``, ``playbook``, the standard library.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import duckdb

from shequn.playbook import Playbook


@dataclass(slots=True)
class AdAccount:
    person: int
    groups: list[int] = field(default_factory=list)
    messages: int = 0
    promo_by_group: dict[int, int] = field(default_factory=dict)
    evidence: dict[str, int] = field(default_factory=dict)


def ad_accounts(rows: Sequence[tuple[Any, ...]], th: Mapping[str, float]) -> list[AdAccount]:
    """Apply the ad-account rule to the candidates of :func:`shequn.analytics.metrics.ad_candidates`."""
    found: dict[int, AdAccount] = {}
    for g, p, n, promo, replies_made, responses, deleted, removed, is_staff in rows:
        if is_staff or not promo:
            continue
        talked = replies_made > 0 or responses > 0
        mostly_promo = promo >= th["ad_min_promo_share"] * n
        moderated = deleted > 0 or removed > 0
        if (mostly_promo and not talked) or (moderated and mostly_promo and replies_made == 0):
            a = found.setdefault(int(p), AdAccount(int(p)))
            a.groups.append(int(g))
            a.messages += int(n)
            a.promo_by_group[int(g)] = int(promo)
            ev = a.evidence
            ev["promo_messages"] = ev.get("promo_messages", 0) + int(promo)
            ev["deleted_by_staff"] = ev.get("deleted_by_staff", 0) + int(deleted)
            ev["removed"] = ev.get("removed", 0) + int(removed)
    return sorted(found.values(), key=lambda a: a.person)


def guest_talks(con: duckdb.DuckDBPyConnection, t0: int, th: Mapping[str, float]) -> dict[int, list[dict[str, Any]]]:
    """Per group: guest talks in the window as ``{"at": ms, "person": id, "messages": n}``."""
    k = int(th["guest_talk_min_messages"])
    rows = con.execute(
        f"""WITH guests AS (SELECT DISTINCT group_id AS g, person_id AS p FROM mev
                            WHERE kind = 'join' AND method = 'added_by_staff'),
                 m AS (SELECT w.g, w.p, w.at_ms,
                              count(*) OVER (PARTITION BY w.g, w.p ORDER BY w.at_ms
                                             RANGE BETWEEN CURRENT ROW AND 10800000 FOLLOWING) AS burst
                       FROM wmsg w JOIN guests USING (g, p))
            SELECT g, p, min(at_ms), max(burst) FROM m WHERE burst >= {k} GROUP BY g, p"""
    ).fetchall()
    out: dict[int, list[dict[str, Any]]] = {}
    for g, p, at, n in rows:
        if at >= t0:
            out.setdefault(int(g), []).append({"at": int(at), "person": int(p), "messages": int(n)})
    return out


def tier(messages: int, responses: int, other_acts: int, th: Mapping[str, float]) -> str:
    """The activity tier of one member (BK 2264: 高活跃 / 中活跃 / 低活跃 / 不活跃); the engine's member loop inlines
    it (keep the two alike)."""
    if messages >= th["tier_high_messages"] and responses >= th["tier_high_responses"]:
        return "high"
    if messages >= th["tier_mid_messages"]:
        return "mid"
    if messages > 0 or other_acts > 0:
        return "low"
    return "inactive"


def concentration(counts: Sequence[int]) -> tuple[float | None, float | None]:
    """(share of messages from the top 10% of speakers, Gini coefficient over speakers)."""
    if not counts:
        return None, None
    xs = sorted(counts)
    total = sum(xs)
    k = max(1, math.ceil(len(xs) * 0.1))
    top = sum(xs[-k:]) / total
    n = len(xs)
    cum = sum((i + 1) * x for i, x in enumerate(xs))
    gini = (2 * cum) / (n * total) - (n + 1) / n if n > 1 else 0.0
    return round(top, 4), round(gini, 4)


def size_band(members: int, pb: Playbook) -> str:
    """The band of the book's size lines a group falls in: "<30", "30-49", "50-79", "80-149", "150-499", "500+"."""
    lines = sorted(b.members for b in pb.sizes.bands if b.members in (30, 50, 80, 150, 500))
    prev = 0
    for line in lines:
        if members < line:
            return f"<{line}" if prev == 0 else f"{prev}-{line - 1}"
        prev = line
    return f"{prev}+"


def essentials(spec: Mapping[str, Any]) -> dict[str, bool]:
    """The three essentials of a community (BK 666-672): shared tags, a goal, rules of its own."""
    pos = spec.get("positioning") or {}
    goal = pos.get("goal") or {}
    rules = (spec.get("rules") or {}).get("sections") or {}
    return {
        "tags": bool(pos.get("tags")),
        "goal": bool(goal.get("text") or (goal.get("metric") and goal.get("target") is not None)),
        "rules": any(bool(v) for v in rules.values()),
    }
