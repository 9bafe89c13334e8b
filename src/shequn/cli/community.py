"""``shequn community …``: create, list, show, export and apply community specs."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import typer
import yaml
from rich.table import Table

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import catalogue, fmt, system_locale, t
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec, load_spec_file
from shequn.policies.automations.rules import compile_automations, describe

app = typer.Typer(help="社群管理 · manage communities", no_args_is_help=True)


@app.command()
def create(
    ctx: typer.Context,
    type: str = typer.Option(..., "--type", "-t", help="类型 · 消费型/成长型/IP型/赚钱型/兴趣型/行业型 or English"),
    name: str = typer.Option(..., "--name", "-n", help="社群名称 · community name"),
    locale: str | None = typer.Option(None, help="语言 · zh-CN or en (default: the workspace's)"),
    timezone: str | None = typer.Option(None, help="时区 · IANA time zone (default: the workspace's)"),
) -> None:
    """创建社群 · create a community of a type, with the playbook's defaults for that type."""
    with open_app(ctx) as a:
        record = a.create_community(name=name, type=type, locale=locale, timezone=timezone)
    ctype = load_playbook().types[record.type]
    console.print(t("cli.community_created", None, name=record.name, type=ctype.name.get(system_locale())))


@app.command("list")
def list_(ctx: typer.Context, as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON")) -> None:
    """列出社群 · list communities."""
    loc = system_locale()
    with open_app(ctx) as a:
        records = a.communities()
        with a.store.transaction() as conn:
            counts = a.store.stats.community_counts(conn, a.ws.id)
    pb = load_playbook()
    rows = [
        {
            "name": r.name,
            "type": r.type,
            "type_name": pb.types[r.type].name.get(loc),
            "groups": counts[r.name].groups,
            "members": counts[r.name].members,
            "messages": counts[r.name].messages,
        }
        for r in records
    ]
    if as_json:
        print_json(rows)
        return
    table = Table(title=t("cli.communities", loc))
    for col in ("name", "type", "groups", "members", "messages"):
        table.add_column(
            t(f"cli.col.{col}", loc), justify="right" if col in ("groups", "members", "messages") else "left"
        )
    for row in rows:
        table.add_row(*(str(row[k]) for k in ("name", "type_name", "groups", "members", "messages")))
    console.print(table if rows else t("cli.no_communities", loc))


@app.command()
def show(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="社群名称 · community name"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """查看社群 · show a community: type, KPIs, threshold, size policy, rules, groups."""
    loc = system_locale()
    with open_app(ctx) as a:
        record = a.community(name)
        with a.store.transaction() as conn:
            counts = a.store.stats.community_counts(conn, a.ws.id)[name]
            groups = a.store.groups.list(conn, a.ws.id, community_id=record.id)
    spec = record.spec
    pb = load_playbook()
    ctype = pb.types[spec.type]
    kpis = {k.key: k for k in ctype.kpis}
    kpi_rows = [
        {"key": k, "name": kpis[k].name.get(loc) if k in kpis else k, "target": v} for k, v in spec.kpis.items()
    ]
    group_rows = [{"platform": g.platform, "id": g.platform_id, "name": g.name, "role": g.role} for g in groups]
    automations = describe(compile_automations(spec.automations, spec)[0], loc)
    data = {
        "name": spec.name,
        "type": spec.type,
        "type_name": ctype.name.get(loc),
        "core_view": ctype.core_view.text.get(loc),
        "source": ctype.source,
        "kpis": kpi_rows,
        "threshold": spec.threshold.model_dump(),
        "size": spec.size.model_dump(),
        "rules_version": spec.rules.version,
        "rules_sections": list(spec.rules.sections),
        "groups": group_rows,
        "members": counts.members,
        "messages": counts.messages,
        "automations": automations,
    }
    if as_json:
        print_json(data)
        return
    console.print(f"[bold]{spec.name}[/bold]  {ctype.name.get(loc)} ({spec.type})", markup=True)
    console.print(f"  {data['core_view']}  [dim]({ctype.source})[/dim]", markup=True)
    table = Table(show_header=False, box=None, padding=(0, 2))
    shown = (f"{kpis[k].name.get(loc) if k in kpis else k} → {fmt.value(v, kpis[k].unit if k in kpis else '', loc)}"
             for k, v in spec.kpis.items())  # fmt: skip
    table.add_row(t("cli.col.kpis", loc), ", ".join(shown))
    thr = {x.key: x for x in pb.thresholds.kinds}[spec.threshold.kind]
    table.add_row(t("cli.col.threshold", loc), f"{thr.name.get(loc)} {_params(spec.threshold.params, loc)}".strip())
    size = {x.key: x for x in pb.sizes.policies}[spec.size.policy]
    table.add_row(t("cli.col.size", loc), f"{size.name.get(loc)} ({spec.size.capacity or size.capacity})")
    sections = {s.key: s for s in pb.rules.sections}
    table.add_row(
        t("cli.col.rules", loc),
        f"v{spec.rules.version}: " + "、".join(sections[k].name.get(loc) for k in spec.rules.sections),
    )
    table.add_row(
        t("cli.col.groups", loc), ", ".join(f"{g['name'] or g['id']} ({g['platform']})" for g in group_rows) or "-"
    )
    table.add_row(t("cli.col.members", loc), str(counts.members))
    table.add_row(t("cli.col.messages", loc), str(counts.messages))
    console.print(table)
    _show_automations(automations, loc)


def _show_automations(rules: list[dict[str, Any]], loc: str) -> None:
    """The community's automations, one rule a line: when → if → do (limits)."""
    console.print(f"[bold]{t('automations.show.title', loc)}[/bold]", markup=True)
    if not rules:
        console.print(f"  {t('automations.show.none', loc)}", markup=False)
    for r in rules:
        if "campaign" in r:
            console.print(f"  {r['campaign']}", markup=False)
            continue
        origin = f" ({t('automations.show.template', loc, name=r['template'])})" if r["template"] else ""
        parts = [
            f"{t('automations.show.when', loc)} {r['when']}",
            f"{t('automations.show.for', loc)} {r['for']}",
            *([f"{t('automations.show.if', loc)} {' & '.join(r['if'])}"] if r["if"] else []),
            f"{t('automations.show.do', loc)} " + " → ".join(r["do"]),
            f"{t('automations.show.limits', loc)} " + ", ".join(r["limits"]),
        ]
        console.print(f"  {r['key']}{origin}: " + "; ".join(parts), markup=False)


@app.command()
def export(
    ctx: typer.Context,
    name: str = typer.Argument(..., help="社群名称 · community name"),
    output: Path | None = typer.Option(None, "--output", "-o", help="写入文件 · write to a file instead of stdout"),
    minimal: bool = typer.Option(False, "--minimal", help="只导出改动 · only what differs from the defaults"),
) -> None:
    """导出社群配置 · export a community's spec as YAML (apply it elsewhere to copy the community)."""
    with open_app(ctx) as a:
        spec = a.community(name).spec
    if minimal:
        data = spec.model_dump(mode="json", exclude_defaults=True)
        data.setdefault("name", spec.name)
        data.setdefault("type", spec.type)
        text = yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)
    else:
        text = spec.to_yaml()
    if output:
        output.write_text(text, encoding="utf-8")
    else:
        typer.echo(text, nl=False)


@app.command()
def apply(
    ctx: typer.Context,
    spec_file: Path = typer.Argument(..., help="社群配置 YAML · spec file"),
    name: str | None = typer.Option(None, "--name", "-n", help="以新名称复制 · apply as a copy under this name"),
) -> None:
    """应用社群配置 · create or update a community from a spec (idempotent; --name copies it: 1→N)."""
    spec = load_spec_file(spec_file)
    note = ""
    if name:
        data = spec.model_dump(mode="json")
        data["name"] = name
        if data["groups"]:
            note = t("cli.copy_drops_groups", None, n=len(data["groups"]))
        data["groups"] = []
        try:
            spec = CommunitySpec.model_validate(data)
        except ValueError as exc:
            raise UserError(f"--name: {exc}", exit_code=2) from None
    with open_app(ctx) as a:
        outcome = a.apply_spec(spec, source=str(spec_file))
    console.print(t(f"cli.apply_{outcome}", None, name=spec.name))
    if note:
        console.print(note)


def _params(params: dict[str, object], loc: str) -> str:
    """A threshold's settings in words (fee ¥199, inviter required: yes …), not a Python dict."""
    shown = []
    for key, value in params.items():
        if key == "currency":
            continue
        name = t(f"cli.param.{key}", loc) if f"cli.param.{key}" in catalogue() else key
        if key == "fee" and isinstance(value, int | float):
            text = fmt.money({str(params.get("currency", "CNY")): int(value * 100)})
        elif isinstance(value, bool):
            text = fmt.flag(value, loc)
        elif isinstance(value, list):
            text = "、".join(map(str, value)) or fmt.MISSING
        else:
            text = str(value)
        shown.append(f"{name} {text}")
    return f"（{'，'.join(shown)}）" if shown and loc != "en" else f"({', '.join(shown)})" if shown else ""
