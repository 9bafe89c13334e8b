"""The report's growth-and-commerce block of a community (issue 9): the AARRR funnel per acquisition channel and per
join-week cohort, revenue (by monetization mode, per member), coupon claim → purchase, the renewal rate, the value
ladder's stages. Rows for the HTML and Markdown renderers; the figures come from the analysis (``Funnel``) and from
``Report.commerce`` (filled by :func:`shequn.services.shop.Shop.measures` where the caller has the store)."""

from __future__ import annotations

from typing import Any

from shequn.analytics.kpis import FUNNEL_STAGES
from shequn.analytics.model import CommunityHealth
from shequn.commerce.offers import LADDER_NAMES, MODE_NAMES
from shequn.i18n import fmt, t


def channel_label(key: str, loc: str) -> str:
    """A funnel channel as a person reads it: an invite link's channel as named, ``code:X`` → "invite code X",
    a join method → its words (``self`` → "by link or QR code")."""
    if key == "member":
        return t("growth.report.personal", loc)
    if key.startswith("code:"):
        return t("growth.channel.code", loc, code=key[5:])
    if key in JOIN_METHODS:
        return t(f"growth.channel.{key}", loc)
    return key


JOIN_METHODS = ("unknown", "self", "invited", "approved", "added_by_staff", "live_code", "roster")


def funnel_rows(c: CommunityHealth, loc: str, *, by: str) -> tuple[list[str], list[list[str]]]:
    """(header, rows) of the funnel per channel (``by="channel"``) or per join-week cohort (``"cohort"``)."""
    box = c.funnel.by_channel if by == "channel" else c.funnel.by_cohort
    head = [t(f"growth.report.{by}", loc)] + [t(f"report.funnel.{s}", loc) for s in FUNNEL_STAGES]
    rows = []
    items = sorted(box.items(), key=lambda kv: -kv[1]["acquisition"]) if by == "channel" else list(box.items())[-12:]
    for key, counts in items:
        n = counts["acquisition"] or 1
        name = channel_label(key, loc) if by == "channel" else key
        rows.append([name, fmt.count(counts["acquisition"])]
                    + [f"{fmt.count(counts[s])} ({fmt.pct(counts[s] / n)})" for s in FUNNEL_STAGES[1:]])  # fmt: skip
    return head, rows


def commerce_lines(c: CommunityHealth, m: dict[str, Any] | None, loc: str, days: int) -> list[tuple[str, str]]:
    """(label, value) pairs of a community's growth and commerce figures. Revenue, paying members and members are
    the analysis' (the event log over the window: every payment and paid order, by whatever channel it came), the
    same figures as the funnel's; coupons, renewals, the revenue by mode and the value ladder are the shop
    ledger's (``m``, from :meth:`shequn.services.shop.Shop.measures`), shown when it has any."""
    zh = not loc.startswith("en")
    per_member = c.revenue // c.members if c.members else None
    out = [
        (t("growth.report.revenue", loc, days=days), fmt.money(c.revenue)),
        (t("growth.report.per_member", loc), fmt.money(per_member)),
        (t("growth.report.buyers", loc), f"{fmt.count(c.payers)} / {fmt.count(c.members)}"),
        (t("growth.report.referrers", loc), fmt.count(c.funnel.refer)),
    ]
    if m is None:
        return out
    coupons = m["coupons"]
    if coupons["claimed"]:
        bought, claimed = fmt.count(coupons["purchased"]), fmt.count(coupons["claimed"])
        out.append((t("growth.report.coupon", loc), f"{fmt.pct(coupons['rate'])} ({bought}/{claimed})"))
    if m["renewal_rate"] is not None:
        out.append((t("growth.report.renewal", loc), fmt.pct(m["renewal_rate"])))
    for mode, amounts in m["revenue_by_mode"].items():
        name = MODE_NAMES.get(mode, (mode, mode))[0 if zh else 1]
        out.append((t("growth.report.mode", loc, mode=name), fmt.money(amounts)))
    if any(x["stage"] != "none" and x["members"] for x in m["ladder"]):
        names = {k: v[0 if zh else 1] for k, v in LADDER_NAMES.items()}
        none = t("growth.report.none", loc)
        ladder = " → ".join(f"{names.get(x['stage'], none)} {fmt.count(x['members'])}" for x in m["ladder"])
        out.append((t("growth.report.ladder", loc), ladder))
    intros = m.get("introductions") or {}
    if any(intros.values()):
        out.append((t("growth.report.intros", loc), f"{intros.get('made', 0)} / {intros.get('deal', 0)}"))
    return out
