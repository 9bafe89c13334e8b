"""``shequn import PATH…``: chat exports into the event log, with a progress bar and a table per group and kind."""

from __future__ import annotations

import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.markup import escape
from rich.progress import BarColumn, DownloadColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from shequn.cli.common import console, err_console, open_app
from shequn.domain import UserError
from shequn.i18n import system_locale, t

if TYPE_CHECKING:
    from shequn.importers import Planned


def import_(
    ctx: typer.Context,
    paths: list[Path] = typer.Argument(..., help="导出文件或文件夹 · export files or folders"),
    community: str | None = typer.Option(
        None, "--community", "-c", help="绑定到此社群（须已存在） · bind the groups to this community (must exist)"
    ),
    group: str | None = typer.Option(
        None,
        "--group",
        "-g",
        help="导出里没有群名时用作群名；导出含多个群时只导入这个 · "
        "the group's name when the export has none; the group to import when it has several",
    ),
    tz: str | None = typer.Option(
        None, "--tz", help="无时区导出的时区（默认工作区的） · time zone of exports without one (default: workspace's)"
    ),
    fmt: str | None = typer.Option(
        None, "--format", "-f", help="指定格式（默认自动识别） · the format (default: detected from the content)"
    ),
    mask_pii: bool = typer.Option(
        False, "--mask-pii", help="遮盖手机号、微信号、邮箱 · store phone numbers, WeChat ids, e-mails masked"
    ),
    yes: bool = typer.Option(
        False, "--yes", "-y", help="文件夹里有多个导出时不再确认 · import several exports from a folder without asking"
    ),
    dry_run: bool = typer.Option(False, "--dry-run", help="只列出将导入的文件 · only list what would be imported"),
) -> None:
    """导入聊天记录 · import chat exports (WeChat, QQ, Telegram, WhatsApp, Discord, Slack, Matrix)."""
    from shequn.importers import Importer, Options, plan

    started = time.perf_counter()
    planned, skipped = plan(paths, fmt)
    if not planned:
        _print_skipped(skipped)
        raise UserError(t("import.no_sources", None), exit_code=2)
    if dry_run or any(p.is_dir() for p in paths):
        _print_plan(planned, skipped, paths)
        if dry_run:
            return
        if len(planned) > 1 and not yes:
            if not sys.stdin.isatty():
                raise UserError(t("import.needs_yes", None, n=len(planned)), exit_code=2)
            if not typer.confirm(t("import.confirm", None, n=len(planned)), default=False):
                raise typer.Exit(1)
        skipped = []  # listed above
    with open_app(ctx) as a:
        try:
            zone = ZoneInfo(tz or a.ws.timezone)
        except (ZoneInfoNotFoundError, ValueError):
            raise UserError(t("cli.bad_timezone", None, tz=tz), exit_code=2) from None
        total = sum(p.source.size() for p in planned)
        with Progress(
            TextColumn("{task.description}"),
            BarColumn(),
            DownloadColumn(),
            TextColumn("{task.fields[events]:,} · {task.fields[messages]:,}"),
            TimeElapsedColumn(),
            console=err_console,
            transient=True,
            disable=not err_console.is_terminal,
        ) as bar:
            task = bar.add_task(t("import.progress.bytes", None), total=total, events=0, messages=0)
            importer = Importer(
                a,
                Options(tz=zone, group=group),
                community=community,
                mask_pii=mask_pii,
                progress=_RichProgress(bar, task),
            )
            report = importer.run(planned, skipped=skipped)
        _print(report, community, time.perf_counter() - started)


def _print_plan(planned: list[Planned], skipped: list[str], roots: list[Path]) -> None:
    """What would be imported, one line an export (the first LIST_AT_MOST), and the skipped counted."""
    table = Table(title=t("import.plan_title", None, n=len(planned)))
    table.add_column(t("import.col.file", None))
    table.add_column(t("import.col.format", None))
    table.add_column(t("import.col.size", None), justify="right")
    for p in planned[:LIST_AT_MOST]:
        table.add_row(escape(_short(p, roots)), p.format.name, f"{p.source.size() / 1024:,.0f} KB")
    if len(planned) > LIST_AT_MOST:
        table.add_row(t("import.and_more", None, n=len(planned) - LIST_AT_MOST), "", "")
    console.print(table)
    _print_skipped(skipped)


def _short(p: Planned, roots: list[Path]) -> str:
    """An export's name relative to the folder it was found in."""
    for root in roots:
        if root.is_dir() and p.source.path.is_relative_to(root):
            rel = p.source.path.relative_to(root).as_posix()
            return f"{rel}:{p.source.member}" if p.source.member else rel
    return p.source.name


def _print_skipped(skipped: list[str]) -> None:
    """The skipped files and folders, counted (folders not entered end with a separator), with a few examples."""
    if not skipped:
        return
    folders = [x for x in skipped if x.endswith(("/", "\\"))]
    files = [x for x in skipped if x not in folders]
    examples = ", ".join(escape(x) for x in (folders + files)[:3]) + (" …" if len(skipped) > 3 else "")
    err_console.print(t("import.skipped_counted", None, folders=len(folders), files=len(files), examples=examples),
                      style="yellow")  # fmt: skip


LIST_AT_MOST = 20


class _RichProgress:
    def __init__(self, bar: Progress, task: TaskID) -> None:
        self.bar = bar
        self.task = task

    def bytes(self, n: int) -> None:
        self.bar.advance(self.task, n)

    def events(self, n: int, messages: int) -> None:
        self.bar.update(self.task, events=n, messages=messages)

    def stage(self, key: str) -> None:
        self.bar.update(self.task, description=t(key, None))


def _print(report: object, community: str | None, seconds: float) -> None:
    from shequn.importers import ImportReport
    from shequn.web.labels import import_note

    assert isinstance(report, ImportReport)
    kinds = report.kinds()
    table = Table(title=t("import.title", None))
    table.add_column(t("import.col.group", None))
    table.add_column(t("import.col.platform", None))
    table.add_column(t("import.col.community", None))
    for kind in kinds:
        table.add_column(kind, justify="right")
    table.add_column(t("import.total", None), justify="right")
    bound = set(report.bound)
    for key, g in sorted(report.groups.items(), key=lambda kv: (kv[1].platform, kv[1].name)):
        label = g.name if g.name == g.id else f"{g.name} ({g.id})"
        where = (community or "✓") if key in bound else t("import.unbound", None)
        cells = [f"{g.added.get(k, 0):,} / {g.received.get(k, 0):,}" for k in kinds]
        table.add_row(escape(label), g.platform, escape(where), *cells, f"{g.total_added:,} / {g.total_received:,}")
    if len(report.groups) > 1:
        totals = [
            f"{sum(g.added.get(k, 0) for g in report.groups.values()):,} / "
            f"{sum(g.received.get(k, 0) for g in report.groups.values()):,}"
            for k in kinds
        ]
        table.add_row(t("import.total", None), "", "", *totals, f"{report.added:,} / {report.received:,}", style="bold")
    console.print(table)
    console.print(
        t(
            "import.summary",
            None,
            files=len(report.sources),
            received=report.received,
            added=report.added,
            duplicates=report.received - report.added,
            seconds=seconds,
        )
    )
    _print_skipped(report.skipped)
    for note in report.notes:
        err_console.print(escape(t("import.note", None, note=import_note(note, system_locale()))), style="dim")
    if report.replayed:
        err_console.print(t("import.replayed", None), style="dim")
    if report.unbound:
        err_console.print(t("import.hint_unbound", None, n=len(report.unbound)), style="yellow")
