"""``shequn report``: diagnosis and KPIs of every community, judged by its type, as HTML, Markdown or JSON."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path

import typer

from shequn.cli.common import console, open_app
from shequn.domain import UserError
from shequn.i18n import system_locale, t


def report(
    ctx: typer.Context,
    community: str | None = typer.Option(None, "--community", "-c", help="只看一个社群 · one community only"),
    fmt: str = typer.Option("html", "--format", "-f", help="格式 · html, md or json"),
    output: Path | None = typer.Option(
        None,
        "--output",
        "-o",
        help="输出文件 · write to this file (default: stdout; HTML to a terminal: a file in this folder)",
    ),
    days: int = typer.Option(30, "--days", help="统计天数 · days in the window"),
    until: str | None = typer.Option(None, "--until", help="截止日期 · window end (YYYY-MM-DD; default: last event)"),
    locale: str | None = typer.Option(None, "--locale", help="语言 · zh-CN or en (default: the workspace's)"),
) -> None:
    """诊断报告 · how each community is doing by its type, and what to do next."""
    from shequn.analytics.apart import analyze_apart
    from shequn.reports import FORMATS, render

    loc = system_locale()
    if fmt not in FORMATS:
        raise UserError(t("report.bad_format", loc, fmt=fmt), exit_code=2)
    if days < 1:
        raise UserError(t("report.bad_days", loc), exit_code=2)
    end = None
    if until:
        try:
            end = date.fromisoformat(until)
        except ValueError:
            raise UserError(t("report.bad_until", loc, value=until), exit_code=2) from None
    if output is not None and not output.parent.exists():
        raise UserError(t("report.no_folder", loc, folder=output.parent), exit_code=2)
    with open_app(ctx) as a:
        # Apart from this process's own connections to the store (see shequn.analytics.apart).
        result = analyze_apart(a.store.db.url, a.ws, days=days, until=end, community=community, locale=locale)
        from shequn.services.shop import Shop

        result.commerce = Shop(a).report_measures(community)
    if not result.groups and not result.communities:
        raise UserError(t("report.no_data", loc))
    text = render(result, fmt)
    if output is None and fmt == "html" and sys.stdout.isatty():  # a page of HTML is no use in a terminal
        output = _free_name(Path.cwd() / f"shequn-report-{result.end[:10]}.html")
    if output is None:
        sys.stdout.write(text)
        sys.stdout.flush()
        return
    output.write_text(text, encoding="utf-8")
    console.print(t("report.written", loc, path=output))


def _free_name(path: Path) -> Path:
    """``path``, or ``name-2.html``, ``name-3.html`` … when it exists (an earlier report is never overwritten)."""
    n = 2
    found = path
    while found.exists():
        found = path.with_name(f"{path.stem}-{n}{path.suffix}")
        n += 1
    return found
