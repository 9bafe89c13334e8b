"""The plan as Markdown and as one self-contained, printable HTML page (no external assets, inline CSS).

Both show the same sections in the plan's language, and every item carries its seed citation (FILE:LINE and the
quote). The texts to post in the groups (rules, announcement, welcome, 新人必知必读) are shown as they will be posted,
in the community's language.
"""

from __future__ import annotations

from functools import cache
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from shequn import __version__
from shequn.i18n import catalogue, t
from shequn.planner.plan import Item, Plan, Ref, colon, paren
from shequn.playbook.seeds import cite as seed

LABELS = (
    "title",
    "generated",
    "type",
    "recommended",
    "chosen",
    "reasons",
    "scores",
    "score",
    "aliases",
    "notes",
    "maintenance",
    "missing",
    "warnings",
    "positioning",
    "rules",
    "rules_intro",
    "posts",
    "setup",
    "calendar",
    "daily",
    "weekly",
    "monthly",
    "when",
    "what",
    "rrule",
    "roles",
    "role",
    "who",
    "to_find",
    "guidance",
    "kpis",
    "kpi",
    "target",
    "lower_better",
    "first_90_days",
    "monetization",
    "next",
    "next_apply",
    "next_bind",
    "sources",
    "source",
)
RAW_LABELS = ("placeholders",)  # labels that show literal {braces}: not str.format templates


def labels(locale: str) -> dict[str, str]:
    out = {k: t(f"planner.doc.{k}", locale) for k in LABELS}
    out.update({k: catalogue()[f"planner.doc.{k}"]["en" if locale == "en" else "zh-CN"] for k in RAW_LABELS})
    return out


def _cite(refs: tuple[Ref, ...], loc: str) -> str:
    """Citations as the document's title and chapter (the file and line are in the sources at the end)."""
    return " · ".join(seed(r.source, loc) + (f"「{r.quote}」" if r.quote else "") for r in refs)


def _item_md(i: Item, locale: str, *, bullet: str = "- ") -> str:
    head = f"**{i.title}**{colon(locale)}" if i.title else ""
    cite = f" <sub>{_cite(i.refs, locale)}</sub>" if i.refs else ""
    return f"{bullet}{head}{i.text}{cite}"


def _quote_block(text: str) -> list[str]:
    return [f"> {line}" if line else ">" for line in text.splitlines()]


def to_markdown(plan: Plan) -> str:
    """The plan as Markdown."""
    lab, loc, spec = labels(plan.locale), plan.locale, plan.spec
    c = colon(loc)
    sep = "、" if loc != "en" else ", "
    out: list[str] = [f"# {spec.name} · {lab['title']}", ""]
    out += [f"_{t('planner.doc.generated', loc, version=__version__)}_", ""]

    out += [f"## 1. {lab['type']}", ""]
    label = lab["chosen"] if plan.chosen_by_operator else lab["recommended"]
    out += [f"**{label}{c}{plan.type_name}** — {plan.core_view.text} <sub>{_cite(plan.core_view.refs, loc)}</sub>", ""]
    out += [lab["reasons"] + c, ""] + [_item_md(r, loc) for r in plan.reasons] + [""]
    if plan.runner_up:
        out += [_item_md(plan.runner_up, loc, bullet=""), ""]
    out += [f"| {lab['type']} | {lab['score']} |", "|---|---:|"]
    out += [f"| {row.name} | {row.score} |" for row in plan.scores] + [""]
    if plan.aliases:
        out += [lab["aliases"] + c, ""] + [_item_md(a, loc) for a in plan.aliases] + [""]
    out += [lab["notes"] + c, ""] + [_item_md(n, loc) for n in plan.type_notes] + [""]

    if plan.maintenance_note:
        out += [f"## ⚠ {plan.maintenance_note.title}", "", _item_md(plan.maintenance_note, loc, bullet=""), ""]
        out += [lab["missing"] + c, ""]
        out += [
            f"- {e.name.get(loc)}{c}{e.missing.get(loc)} <sub>{seed(e.source, loc)}「{e.quote}」</sub>"
            for e in plan.maintenance
        ]
        out += [""]
    if plan.warnings:
        out += [f"## {lab['warnings']}", ""]
        out += [f"- {w.text(loc)} <sub>{seed(w.source, loc)}「{w.quote}」</sub>" for w in plan.warnings] + [""]

    out += [f"## 2. {lab['positioning']}", ""] + [_item_md(i, loc) for i in plan.positioning]
    if plan.goal:
        out.append(_item_md(plan.goal, loc))
    out += [""]

    out += [f"## 3. {lab['rules']}", "", lab["rules_intro"], ""]
    for r in plan.rules:
        out += [f"### {r.title}", "", *_quote_block(r.text), "", f"<sub>{_cite(r.refs, loc)}</sub>", ""]

    out += [f"## 4. {lab['posts']}", ""]
    for i in (plan.announcement, plan.newcomer_guide, plan.welcome, plan.welcome_invited):
        out += [f"### {i.title}", "", *_quote_block(i.text), "", f"<sub>{_cite(i.refs, loc)}</sub>", ""]
    out += [f"_{lab['placeholders']}_", ""]

    out += [f"## 5. {lab['setup']}", ""]
    out += [_item_md(i, loc) for i in (plan.nickname, plan.threshold, plan.size)] + [""]

    out += [f"## 6. {lab['calendar']}", ""]
    for cadence, title in (("daily", lab["daily"]), ("weekly", lab["weekly"]), ("monthly", lab["monthly"])):
        rows = [
            c for c in plan.calendar if (c.cadence == cadence) or (cadence == "monthly" and c.cadence == "quarterly")
        ]
        if not rows:
            continue
        out += [f"### {title}", "", f"| {lab['when']} | {lab['what']} | {lab['source']} |", "|---|---|---|"]
        out += [f"| {e.when} | **{e.name}**{c}{e.description} | {_cite(e.refs, loc)} |" for e in rows] + [""]

    out += [f"## 7. {lab['roles']}", "", f"| {lab['role']} | {lab['who']} | {lab['guidance']} | {lab['source']} |"]
    out += ["|---|---|---|---|"]
    for ra in plan.roles:
        who = sep.join(ra.who) if ra.who else f"_{lab['to_find']}_"
        out.append(f"| {ra.name} | {who} | {ra.guidance} | {_cite(ra.refs, loc)} |")
    out += [""]

    out += [f"## 8. {lab['kpis']}", "", f"| {lab['kpi']} | {lab['target']} | {lab['source']} |", "|---|---|---|"]
    for k in plan.kpis:
        target = k.shown + ("" if k.higher_is_better else paren(lab["lower_better"], loc))
        out.append(f"| **{k.name}**{c}{k.definition} | {target} | {_cite(k.refs, loc)} |")
    out += [""]
    if plan.goal:
        out += [_item_md(plan.goal, loc, bullet=""), ""]

    out += [f"## 9. {lab['first_90_days']}", ""]
    for phase, items in plan.first_90_days:
        out += [f"### {phase}", ""] + [_item_md(i, loc, bullet="- [ ] ") for i in items] + [""]

    out += [f"## 10. {lab['monetization']}", ""] + [_item_md(i, loc) for i in plan.monetization]
    out += ["", _item_md(plan.monetization_timing, loc, bullet=""), ""]

    out += [
        f"## 11. {lab['next']}",
        "",
        f"1. {lab['next_apply']}",
        "",
        "   ```bash",
        "   shequn community apply spec.yaml",
    ]
    out += ["   ```", "", f"2. {lab['next_bind']}", ""]

    out += [f"## {lab['sources']}", ""]
    out += [f"- {seed(r.source, loc)} `{r.source}`" + (f"「{r.quote}」" if r.quote else "") for r in plan.sources()]
    out += [""]
    return "\n".join(out)


@cache
def _environment() -> Environment:
    return Environment(
        loader=PackageLoader("shequn.planner", "templates"),
        autoescape=select_autoescape(["html"]),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
    )


def to_html(plan: Plan) -> str:
    """The plan as one HTML page that needs nothing else: inline CSS, no scripts, no fonts or images to fetch."""
    context: dict[str, Any] = {
        "plan": plan,
        "L": labels(plan.locale),
        "lang": "en" if plan.locale == "en" else "zh-CN",
        "generated": t("planner.doc.generated", plan.locale, version=__version__),
        "C": colon(plan.locale),
        "sep": "、" if plan.locale != "en" else ", ",
        "paren": lambda x: paren(x, plan.locale),
        "seed": lambda source: seed(source, plan.locale),
    }
    return _environment().get_template("plan.html").render(**context)
