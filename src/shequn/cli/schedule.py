"""``shequn schedule list``: what will be sent, when, and where (and what was, with ``--past``)."""

from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

import typer
from rich.table import Table

from shequn.cli.common import console, open_app, print_json
from shequn.domain import UserError
from shequn.domain.records import iso, parse_iso
from shequn.i18n import t

app = typer.Typer(help="节奏 · the rhythm and run-of-show: what will be sent, when, where", no_args_is_help=True)


def _job_name(job: str, locale: str) -> str:
    from shequn.playbook import load_playbook

    pb = load_playbook()
    for j in pb.rhythm.jobs:
        if j.key == job:
            return j.name.get(locale)
    if job.startswith("activity:"):
        parts = job.split(":")
        step = parts[2] if len(parts) > 2 else ""
        steps = {s.key: s.name.get(locale) for s in [*pb.activities.guest_talk.steps, *pb.activities.offline.steps]}
        name = steps.get(step) or steps.get(step.removeprefix("report_"), step)
        return f"{parts[1]} · {name}" + (f" #{parts[3]}" if len(parts) > 3 and parts[3].isdigit() else "")
    return job


@app.command("list")
def list_(
    ctx: typer.Context,
    community: str | None = typer.Option(None, "--community", "-c", help="社群名称 · only this community"),
    hours: float = typer.Option(48, "--hours", help="向后看多少小时 · how far ahead"),
    start: str | None = typer.Option(None, "--from", help="起点（ISO 时间）· from this time instead of now"),
    past: bool = typer.Option(False, "--past", help="看已发生的 · look back instead of ahead"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """待发送 · list what the scheduler will send (time in each community's zone, group, job, state, text)."""
    from shequn.schedule.service import SchedulerService

    if hours <= 0:
        raise UserError("--hours: must be more than 0", exit_code=2)
    with open_app(ctx) as a:
        try:
            begin = parse_iso(start) if start else a.clock.now()
        except ValueError:
            raise UserError(t("cli.err.not_iso", None, option="--from", value=start), exit_code=2) from None
        if community is not None:
            a.community(community)  # a clear error for an unknown name
        lo, hi = (begin - timedelta(hours=hours), begin) if past else (begin, begin + timedelta(hours=hours))
        rows = SchedulerService(a).preview(lo, hi)
        specs = {c.name: c.spec for c in a.communities()}
        locale = a.ws.locale
    rows = [(d, st) for d, st in rows if community is None or d.group.community == community]
    if as_json:
        for d, state in rows:
            spec = specs[d.group.community]
            print_json(
                {
                    "time": iso(d.at),
                    "local": d.at.astimezone(ZoneInfo(spec.timezone)).strftime("%Y-%m-%d %H:%M"),
                    "community": d.group.community,
                    "group": d.group.key,
                    "job": d.job,
                    "state": state,
                    "counts_toward_cap": d.counts,
                    "key": d.key,
                    "actions": [x.to_dict(compact=True) for x in d.actions],
                }
            )
        return
    if not rows:
        console.print(t("schedule.nothing", None, hours=f"{hours:g}"))
        return
    table = Table(title=t("schedule.title", None))
    several = len({d.group.community for d, _ in rows}) > 1
    table.add_column(t("schedule.col.time", None), no_wrap=True, min_width=11)
    if several:
        table.add_column(t("schedule.col.community", None), no_wrap=True, max_width=10, overflow="ellipsis")
    table.add_column(t("schedule.col.group", None), no_wrap=True, max_width=10, overflow="ellipsis")
    table.add_column(t("schedule.col.job", None), no_wrap=True, max_width=14, overflow="ellipsis")
    table.add_column(t("schedule.col.state", None), no_wrap=True, min_width=8)
    table.add_column(t("schedule.col.text", None), no_wrap=True, overflow="ellipsis", max_width=40)
    for d, state in rows:
        spec = specs[d.group.community]
        when = d.at.astimezone(ZoneInfo(spec.timezone))
        text = " / ".join(x.text_or_empty.splitlines()[0] if x.text_or_empty else x.kind.value for x in d.actions)
        if not d.actions and state == "planned":
            text = t("schedule.generated", None)
        cells = [when.strftime("%m-%d %H:%M")]
        if several:
            cells.append(d.group.community)
        cells += [
            d.group.name or d.group.platform_id,
            _job_name(d.job, locale),
            t(f"schedule.state.{state}", None),
            text,
        ]
        table.add_row(*cells)
    console.print(table)


__all__ = ["app", "datetime"]
