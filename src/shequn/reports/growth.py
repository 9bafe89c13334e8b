"""The report's growth-and-commerce block of a community (issue 9): the AARRR funnel per acquisition channel and per
join-week cohort, revenue (by monetization mode, per member), coupon claim → purchase, the renewal rate, the value
ladder's stages. Rows for the HTML and Markdown renderers; the figures come from the analysis (``Funnel``) and from
``Report.commerce`` (filled by :func:`shequn.services.shop.Shop.measures` where the caller has the store)."""

from __future__ import annotations

from typing import Any

from shequn.analytics.kpis import FUNNEL_STAGES
from shequn.analytics.model import CommunityHealth
from shequn.commerce.offers import LADDER_NAMES, MODE_NAMES
from shequn.i18n import t


def money(amounts: dict[str, int]) -> str:
    parts = []
    for cur, v in sorted(amounts.items()):
        whole, part = divmod(v, 100)
        amount = f"{whole:,}" if part == 0 else f"{whole:,}.{part:02d}"
        parts.append(f"¥{amount}" if cur == "CNY" else f"{amount} {cur}")
    return ", ".join(parts) or "—"


def pct(v: float | None) -> str:
    return "—" if v is None else f"{v:.0%}"


def funnel_rows(c: CommunityHealth, loc: str, *, by: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the funnel per channel (``by="channel"``) or per join-week cohort (``"cohort"``)."""
    box = c.funnel.by_channel if by == "channel" else c.funnel.by_cohort
    head = [t(f"growth.report.{by}", loc)] + [t(f"report.funnel.{s}", loc) for s in FUNNEL_STAGES]
    rows = []
    items = sorted(box.items(), key=lambda kv: -kv[1]["acquisition"]) if by == "channel" else list(box.items())[-12:]
    for key, counts in items:
        n = counts["acquisition"] or 1
        name = t("growth.report.personal", loc) if key == "member" else key
        rows.append([name, str(counts["acquisition"])]
                    + [f"{counts[s]} ({counts[s] / n:.0%})" for s in FUNNEL_STAGES[1:]])  # fmt: skip
    return head, rows


def commerce_lines(m: dict[str, Any], loc: str) -> list[tuple[str, str]]:
    """(label, value) pairs of a community's commerce measures."""
    zh = not loc.startswith("en")
    coupons = m["coupons"]
    out = [
        (t("growth.report.revenue", loc), money(m["revenue"])),
        (t("growth.report.per_member", loc), money(m["revenue_per_member"])),
        (t("growth.report.buyers", loc), f"{m['buyers']} / {m['members']}"),
        (t("growth.report.coupon", loc), f"{pct(coupons['rate'])} ({coupons['purchased']}/{coupons['claimed']})"),
        (t("growth.report.renewal", loc), pct(m["renewal_rate"])),
    ]
    for mode, amounts in m["revenue_by_mode"].items():
        name = MODE_NAMES.get(mode, (mode, mode))[0 if zh else 1]
        out.append((t("growth.report.mode", loc, mode=name), money(amounts)))
    ladder = " → ".join(
        f"{LADDER_NAMES[x['stage']][0 if zh else 1] if x['stage'] in LADDER_NAMES else t('growth.report.none', loc)}"
        f" {x['members']}"
        for x in m["ladder"]
    )
    out.append((t("growth.report.ladder", loc), ladder))
    intros = m.get("introductions") or {}
    if any(intros.values()):
        out.append((t("growth.report.intros", loc), f"{intros.get('made', 0)} / {intros.get('deal', 0)}"))
    return out
