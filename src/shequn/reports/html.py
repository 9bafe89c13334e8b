"""The report as one self-contained HTML file: ECharts inline (no CDN, works on a closed network), the health of
every group at a glance, then per community its type KPIs, trends, AARRR funnel, heatmap, retention and diagnosis
with prescriptions and their sources.

May import: ``analytics.model``, ``i18n``, the standard library, ``orjson``.
"""

from __future__ import annotations

from functools import cache
from html import escape
from importlib import resources
from typing import Any

import orjson

from shequn.analytics.model import CommunityHealth, Finding, GroupHealth, Kpi, Report
from shequn.i18n import fmt, t
from shequn.playbook.seeds import cite

_CSS = """
:root{--fg:#1f2933;--mute:#6b7785;--line:#e3e8ee;--bg:#f6f8fa;--ok:#2f9e44;--warn:#e8a317;--bad:#d9480f;--acc:#3b5bdb}
*{box-sizing:border-box}body{margin:0;font:14px/1.5 -apple-system,"PingFang SC","Noto Sans CJK SC","Microsoft YaHei",
sans-serif;color:var(--fg);background:var(--bg)}header{background:#1f2b45;color:#fff;padding:20px 32px}
header h1{margin:0 0 4px;font-size:22px}header p{margin:0;color:#c5cee0}main{padding:20px 32px;max-width:1400px}
.cards{display:flex;flex-wrap:wrap;gap:12px;margin:0 0 20px}.card{background:#fff;border:1px solid var(--line);
border-radius:8px;padding:12px 16px;min-width:130px}.card b{display:block;font-size:22px}.card span{color:var(--mute)}
section{background:#fff;border:1px solid var(--line);border-radius:8px;padding:16px 20px;margin:0 0 20px}
h2{margin:0 0 12px;font-size:18px}h3{margin:16px 0 8px;font-size:15px}table{border-collapse:collapse;width:100%}
th,td{text-align:left;padding:5px 8px;border-bottom:1px solid var(--line);white-space:nowrap}th{color:var(--mute);
font-weight:600}td.num{text-align:right}.bar{display:inline-block;height:10px;border-radius:5px;vertical-align:middle}
.stage{padding:1px 8px;border-radius:10px;font-size:12px;color:#fff}
.s-dead{background:#868e96}.s-dormant{background:#adb5bd}
.s-decline{background:var(--warn)}.s-mature{background:var(--ok)}.s-growth{background:var(--acc)}
.s-cold_start{background:#7048e8}
.grid{display:grid;grid-template-columns:repeat(auto-fit,minmax(420px,1fr));gap:16px}.chart{height:300px}
.kpi{display:inline-block;margin:0 12px 12px 0;padding:10px 14px;border-radius:8px;border:1px solid var(--line)}
.kpi b{font-size:20px;display:block}.met{border-color:var(--ok)}.miss{border-color:var(--bad)}
.note{color:var(--mute)}
.finding{border-left:4px solid var(--warn);padding:6px 12px;margin:8px 0;background:#fffdf6}
.finding.high{border-color:var(--bad);
background:#fff6f3}.finding.low{border-color:#adb5bd;background:#fafafa}.finding p{margin:2px 0}
.src{color:var(--mute);font-size:12px}
.scroll{max-height:520px;overflow:auto}
.grid>div{min-width:0;overflow-x:auto}.grid{grid-template-columns:repeat(auto-fit,minmax(min(420px,100%),1fr))}
.wide{max-width:100%;overflow-x:auto;margin:0 0 12px}
@media (max-width:700px){header{padding:14px 12px}main{padding:12px}section{padding:12px}}
"""

_JS = """
(function(){var D=JSON.parse(document.getElementById('report-data').textContent);
function mk(id,opt){var el=document.getElementById(id);if(!el||!window.echarts)return;
var c=echarts.init(el);c.setOption(opt);
window.addEventListener('resize',function(){c.resize()});}
D.communities.forEach(function(c,i){
 mk('trend-'+i,{tooltip:{trigger:'axis'},legend:{top:0,data:[D.l.messages,D.l.speakers,D.l.members]},grid:{left:50,right:50,bottom:30,top:40},
  xAxis:{type:'category',data:c.dates},yAxis:[{type:'value'},{type:'value',splitLine:{show:false}}],
  series:[{name:D.l.messages,type:'bar',data:c.messages},{name:D.l.speakers,type:'line',data:c.speakers},
   {name:D.l.members,type:'line',yAxisIndex:1,data:c.members}]});
 mk('funnel-'+i,{tooltip:{trigger:'item'},series:[{type:'funnel',left:'2%',width:'50%',sort:'none',minSize:'8%',
  label:{position:'right',formatter:'{b}: {c}'},data:c.funnel}]});
 mk('heat-'+i,{tooltip:{position:'top'},grid:{left:40,right:10,bottom:30,top:10},xAxis:{type:'category',data:D.hours},
  yAxis:{type:'category',data:D.days},visualMap:{min:0,max:c.heatmax||1,show:false,inRange:{color:['#f1f3f5','#3b5bdb']}},
  series:[{type:'heatmap',data:c.heat}]});
});
mk('stages',{tooltip:{trigger:'item'},legend:{bottom:0},series:[{type:'pie',radius:['40%','70%'],data:D.stages}]});
})();
"""


@cache
def echarts_js() -> str:
    """ECharts (Apache-2.0), shipped in the package: ``reports/assets/echarts.min.js``."""
    return resources.files("shequn.reports").joinpath("assets", "echarts.min.js").read_text(encoding="utf-8")


def _pct(v: float | None) -> str:
    return fmt.pct(v)


def _kpi_value(k: Kpi, loc: str) -> str:
    if k.value is None:
        return t("report.unknown", loc)
    shown = fmt.value(k.value, k.unit, loc)
    return t("report.estimated", loc, value=shown) if k.estimated else shown


def _health_bar(score: int) -> str:
    color = "#2f9e44" if score >= 70 else "#e8a317" if score >= 40 else "#d9480f"
    return f'<span class="bar" style="width:{max(4, score)}px;background:{color}"></span> {score}'


def _stage(stage: str, loc: str) -> str:
    return f'<span class="stage s-{escape(stage)}">{escape(t(f"report.stage.{stage}", loc))}</span>'


def _colon(loc: str) -> str:
    return ": " if loc == "en" else "："


def _finding(f: Finding, loc: str) -> str:
    c = _colon(loc)
    srcs = " · ".join(
        f'<span title="{escape(s["source"])}">{escape(cite(s["source"], loc))}</span> “{escape(s["quote"])}”'
        for s in f.sources
    )
    cmds = (
        f"<p>{escape(t('report.commands', loc))}{c}"
        + " · ".join(f"<code>{escape(x)}</code>" for x in f.commands)
        + "</p>"
        if f.commands
        else ""
    )
    return (
        f'<div class="finding {escape(f.severity)}"><p><b>{escape(f.title)}</b> '
        f'<span class="note">({escape(t(f"report.severity.{f.severity}", loc))})</span></p>'
        f"<p>{escape(t('report.cause', loc))}{c}{escape(f.cause)}</p>"
        f"<p>{escape(t('report.prescription', loc))}{c}{escape(f.prescription)}</p>"
        f'<p class="src">{escape(t("report.source", loc))}{c}{srcs}</p>{cmds}</div>'
    )


def _glance(r: Report, loc: str) -> str:
    rows = []
    for g in sorted(r.groups.values(), key=lambda g: (g.health, g.community, g.key)):
        rows.append(
            "<tr>"
            f"<td>{escape(g.name)}</td><td>{escape(g.community)}</td>"
            f"<td>{escape(r.communities[g.community].type_name if g.community in r.communities else g.type)}</td>"
            f"<td>{_stage(g.stage, loc)}</td><td>{escape(g.stage_since)}</td><td>{_health_bar(g.health)}</td>"
            f'<td class="num">{fmt.count(g.members)}</td><td class="num">{fmt.count(g.messages)}</td>'
            f'<td class="num">{_pct(g.speakers_ratio)}</td><td class="num">{g.key_discussants}</td>'
            f"<td>{escape('、'.join(f.title for f in g.findings[:3]))}</td></tr>"
        )
    head = "".join(
        f"<th>{escape(t(f'report.col.{c}', loc))}</th>"
        for c in ("group", "community", "type", "stage", "since", "health", "members", "messages", "speakers_ratio",
                  "key_discussants", "findings")
    )  # fmt: skip
    return (
        f"<section><h2>{escape(t('report.glance', loc))}</h2>"
        f'<div class="grid"><div><div id="stages" class="chart"></div></div></div>'
        f'<div class="scroll"><table><thead><tr>{head}</tr></thead><tbody>{"".join(rows)}</tbody></table></div>'
        "</section>"
    )


def _table(head: list[str], rows: list[list[str]]) -> str:
    return (
        "<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"
        + "".join("<tr>" + "".join(f"<td>{escape(v)}</td>" for v in r) + "</tr>" for r in rows) + "</table>"
    )  # fmt: skip


def _inbox(c: CommunityHealth, loc: str) -> str:
    """The inbox's response times (issue 20), a wide table that scrolls inside its box on a narrow screen."""
    from shequn.reports.inbox import inbox_rows, unanswered_line

    head, rows = inbox_rows(c, loc)
    if not rows:
        return ""
    late = unanswered_line(c, loc)
    return f'<h3>{escape(t("report.inbox.title", loc))}</h3><div class="wide inbox">{_table(head, rows)}</div>' + (
        f'<p class="note">{escape(late)}</p>' if late else ""
    )


def _growth(c: CommunityHealth, commerce: dict[str, Any] | None, loc: str, days: int) -> str:
    """Growth and commerce (issue 9): the funnel by channel and by join week, the commerce measures."""
    from shequn.reports import growth

    parts = [f"<h3>{escape(t('growth.report.title', loc))}</h3>"]
    lines = growth.commerce_lines(c, commerce, loc, days)
    cards = "".join(f'<div class="card"><b>{escape(v)}</b><span>{escape(k)}</span></div>' for k, v in lines[:4])
    parts.append(f'<div class="cards">{cards}</div>')
    if lines[4:]:
        parts.append("<p>" + " · ".join(f"{escape(k)}{_colon(loc)}{escape(v)}" for k, v in lines[4:]) + "</p>")
    if c.funnel.by_channel:  # one under the other: side by side the two wide tables ran into each other
        for by in ("channel", "cohort"):
            head, rows = growth.funnel_rows(c, loc, by=by)
            parts.append(
                f'<h3>{escape(t(f"growth.report.by_{by}", loc))}</h3><div class="wide">{_table(head, rows)}</div>'
            )
    else:
        parts.append(f"<p>{escape(t('growth.report.no_joins', loc))}</p>")
    return "".join(parts)


def _community(
    i: int, c: CommunityHealth, groups: list[GroupHealth], loc: str, commerce: dict[str, Any] | None, days: int
) -> str:
    kpis = "".join(
        f'<div class="kpi {"met" if k.met else "miss" if k.met is False else ""}"><span>{escape(k.name)}</span>'
        f"<b>{escape(_kpi_value(k, loc))}</b><span class='note'>{escape(t('report.col.target', loc))} "
        f"{escape(fmt.value(k.target, k.unit, loc))}"
        f' · <span title="{escape(k.source)}">{escape(cite(k.source, loc))}</span></span></div>'
        for k in c.kpis
    )
    note = (
        ""
        if c.activity_judged
        else f'<p class="note">{escape(t("report.activity_not_judged", loc, type=c.type_name))}</p>'
    )
    ess = " · ".join(
        f"{'✔' if ok else '✘'} {escape(t(f'report.essential.{k}', loc))}" for k, ok in c.essentials.items()
    )
    findings = "".join(_finding(f, loc) for f in c.findings)
    flagged = [g for g in groups if g.findings]
    group_f = "".join(
        f"<h3>{escape(g.name)} {_stage(g.stage, loc)} {_health_bar(g.health)}</h3>"
        + "".join(_finding(f, loc) for f in g.findings)
        for g in sorted(flagged, key=lambda g: (g.health, g.key))[:20]
    )
    if not findings and not group_f:
        findings = f"<p>{escape(t('report.no_findings', loc))}</p>"
    ret_rows = "".join(
        f"<tr><td>{escape(x['week'])}</td><td class='num'>{x['size']}</td><td class='num'>{_pct(x['w1'])}</td>"
        f"<td class='num'>{_pct(x['w4'])}</td><td class='num'>{_pct(x['w12'])}</td></tr>"
        for x in c.retention[-12:]
    )
    ret_head = (
        f"<tr><th>{escape(t('report.col.cohort', loc))}</th><th>{escape(t('report.col.size', loc))}</th>"
        + "".join(f"<th>{escape(t('report.col.week', loc, n=n))}</th>" for n in (1, 4, 12))
        + "</tr>"
    )
    return (
        f"<section><h2>{escape(c.name)} · {escape(c.type_name)} · "
        f"{escape(t('report.community_health', loc, score=c.health))}</h2>"
        f'<div class="cards"><div class="card"><b>{len(c.groups)}</b>'
        f"<span>{escape(t('report.groups', loc))}</span></div>"
        f'<div class="card"><b>{fmt.count(c.members)}</b><span>{escape(t("report.members", loc))}</span></div>'
        f'<div class="card"><b>{fmt.count(c.messages)}</b><span>{escape(t("report.messages", loc))}</span></div>'
        f'<div class="card"><b>{c.dead_groups}</b><span>{escape(t("report.dead_groups", loc))}</span></div></div>'
        f"<h3>{escape(t('report.kpis', loc))}</h3>{kpis}{note}"
        f"<p>{escape(t('report.essentials', loc))}{_colon(loc)}{ess}</p>"
        f'<div class="grid"><div><h3>{escape(t("report.trends", loc))}</h3>'
        f'<div id="trend-{i}" class="chart"></div></div>'
        f'<div><h3>{escape(t("report.funnel", loc))}</h3><div id="funnel-{i}" class="chart"></div></div>'
        f'<div><h3>{escape(t("report.heatmap", loc))}</h3><div id="heat-{i}" class="chart"></div></div>'
        f"<div><h3>{escape(t('report.retention', loc))}</h3><table>{ret_head}{ret_rows}</table></div></div>"
        f"{_inbox(c, loc)}{_growth(c, commerce, loc, days)}"
        f"<h3>{escape(t('report.diagnosis', loc))}</h3>{findings}{group_f}</section>"
    )


def _data(r: Report, loc: str) -> dict[str, Any]:
    comms = []
    for c in r.communities.values():
        heat = [[h, d, v] for d, row in enumerate(c.heatmap) for h, v in enumerate(row)]
        comms.append({
            "dates": [x.date[5:] for x in c.daily],
            "messages": [x.messages for x in c.daily],
            "speakers": [x.speakers for x in c.daily],
            "members": [x.members for x in c.daily],
            "funnel": [{"name": t(f"report.funnel.{k}", loc), "value": getattr(c.funnel, k)}
                       for k in ("acquisition", "activation", "retention", "revenue", "refer")],
            "heat": heat,
            "heatmax": max((v for _, _, v in heat), default=1),
        })  # fmt: skip
    stages: dict[str, int] = {}
    for g in r.groups.values():
        stages[g.stage] = stages.get(g.stage, 0) + 1
    return {
        "communities": comms,
        "stages": [{"name": t(f"report.stage.{s}", loc), "value": n} for s, n in sorted(stages.items())],
        "days": t("report.weekdays", loc).split(","),
        "hours": [f"{h:02d}" for h in range(24)],
        "l": {k: t(f"report.series.{k}", loc) for k in ("messages", "speakers", "members")},
    }


def render_html(r: Report) -> str:
    loc = r.locale
    by_comm: dict[str, list[GroupHealth]] = {}
    for g in r.groups.values():
        by_comm.setdefault(g.community, []).append(g)
    members = sum(c.members for c in r.communities.values())
    messages = sum(c.messages for c in r.communities.values())
    dead = sum(1 for g in r.groups.values() if g.dead)
    cards = "".join(
        f'<div class="card"><b>{fmt.count(v)}</b><span>{escape(t(k, loc))}</span></div>'
        for k, v in (("report.communities", len(r.communities)), ("report.groups", len(r.groups)),
                     ("report.members", members), ("report.messages", messages), ("report.dead_groups", dead),
                     ("report.ad_accounts", len(r.ad_accounts)))
    )  # fmt: skip
    sections = "".join(
        _community(i, c, by_comm.get(c.name, []), loc, r.commerce.get(c.name), r.days)
        for i, c in enumerate(r.communities.values())
    )
    how = "".join(f"<li>{escape(v)}</li>" for v in r.signals.values())
    data = orjson.dumps(_data(r, loc)).decode().replace("</", "<\\/")
    title = f"{t('report.title', loc)} · {r.workspace}"
    from shequn.reports import window

    return (
        f'<!doctype html><html lang="{escape(loc)}"><head><meta charset="utf-8">'
        f'<meta name="viewport" content="width=device-width,initial-scale=1"><title>{escape(title)}</title>'
        f"<style>{_CSS}</style></head><body><header><h1>{escape(title)}</h1><p>{escape(window(r, loc))}</p>"
        "</header><main>"
        f'<div class="cards">{cards}</div>{_glance(r, loc)}{sections}'
        f"<section><h2>{escape(t('report.how', loc))}</h2><ul>{how}</ul></section></main>"
        f'<script type="application/json" id="report-data">{data}</script>'
        f"<script>{echarts_js()}</script><script>{_JS}</script></body></html>"
    )
