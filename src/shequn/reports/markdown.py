"""The report as Markdown, short enough to paste into a chat: per community its KPIs and its findings with the
prescription and source, then the groups that need attention.

May import: ``analytics``, ``commerce`` (names of modes and ladder steps), ``i18n``.
"""

from __future__ import annotations

from typing import Any

from shequn.analytics.model import CommunityHealth, Finding, Kpi, Report
from shequn.i18n import fmt, t
from shequn.playbook.seeds import cite

MAX_GROUPS = 30


def _value(k: Kpi, loc: str) -> str:
    if k.value is None:
        return t("report.unknown", loc)
    shown = fmt.value(k.value, k.unit, loc)
    return t("report.estimated", loc, value=shown) if k.estimated else shown


def _finding(f: Finding, loc: str) -> list[str]:
    src = "; ".join(f"{cite(s['source'], loc)} “{s['quote']}”" for s in f.sources)
    return [
        f"- **{f.title}** ({t(f'report.severity.{f.severity}', loc)})",
        f"  - {t('report.cause', loc)}: {f.cause}",
        f"  - {t('report.prescription', loc)}: {f.prescription}",
        f"  - {t('report.source', loc)}: {src}",
        *([f"  - {t('report.commands', loc)}: " + " · ".join(f"`{c}`" for c in f.commands)] if f.commands else []),
    ]


def _growth(c: CommunityHealth, commerce: dict[str, Any] | None, loc: str, days: int) -> list[str]:
    from shequn.reports import growth

    out = [f"### {t('growth.report.title', loc)}", ""]
    out += [f"- {k}: {v}" for k, v in growth.commerce_lines(c, commerce, loc, days)] + [""]
    for by in ("channel", "cohort"):
        head, rows = growth.funnel_rows(c, loc, by=by)
        if not rows:
            continue
        out += [f"**{t(f'growth.report.by_{by}', loc)}**", "", "| " + " | ".join(head) + " |",
                "|" + "---|" * len(head)] + ["| " + " | ".join(r) + " |" for r in rows] + [""]  # fmt: skip
    return out


def _inbox(c: CommunityHealth, loc: str) -> list[str]:
    from shequn.reports.inbox import inbox_rows, unanswered_line

    head, rows = inbox_rows(c, loc)
    if not rows:
        return []
    out = [f"### {t('report.inbox.title', loc)}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    out += ["| " + " | ".join(r) + " |" for r in rows] + [""]
    return out + ([unanswered_line(c, loc), ""] if unanswered_line(c, loc) else [])


def render_markdown(r: Report) -> str:
    loc = r.locale
    out = [f"# {t('report.title', loc)} · {r.workspace}", ""]
    from shequn.reports import window

    out.append(window(r, loc))
    out.append("")
    for c in r.communities.values():
        out.append(f"## {c.name} · {c.type_name} · {t('report.community_health', loc, score=c.health)}")
        out.append("")
        out.append(
            f"{t('report.groups', loc)} {len(c.groups)} · {t('report.members', loc)} {fmt.count(c.members)} · "
            f"{t('report.messages', loc)} {fmt.count(c.messages)} · {t('report.dead_groups', loc)} {c.dead_groups}"
        )
        out.append("")
        out.append(f"| {t('report.col.kpi', loc)} | {t('report.col.value', loc)} | {t('report.col.target', loc)} | "
                   f"{t('report.col.status', loc)} |")  # fmt: skip
        out.append("|---|---|---|---|")
        for k in c.kpis:
            status = t("report.unknown", loc) if k.met is None else t("report.met" if k.met else "report.not_met", loc)
            out.append(f"| {k.name} | {_value(k, loc)} | {fmt.value(k.target, k.unit, loc)} | {status} |")
        if not c.activity_judged:
            out.append("")
            out.append(t("report.activity_not_judged", loc, type=c.type_name))
        out.append("")
        out.extend(_inbox(c, loc))
        out.extend(_growth(c, r.commerce.get(c.name), loc, r.days))
        for f in c.findings:
            out.extend(_finding(f, loc))
        out.append("")
    flagged = [g for g in r.groups.values() if g.findings]
    flagged.sort(key=lambda g: (g.health, g.key))
    if flagged:
        out.append(f"## {t('report.group_findings', loc)}")
        out.append("")
        for g in flagged[:MAX_GROUPS]:
            stage = t(f"report.stage.{g.stage}", loc)
            out.append(f"### {g.name} · {g.community} · {stage} · {t('report.community_health', loc, score=g.health)}")
            out.append("")
            for f in g.findings:
                out.extend(_finding(f, loc))
            out.append("")
        if len(flagged) > MAX_GROUPS:
            out.append(t("report.more_groups", loc, n=len(flagged) - MAX_GROUPS))
            out.append("")
    return "\n".join(out).rstrip() + "\n"
