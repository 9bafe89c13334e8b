"""``shequn export events``: the normalized event log as JSON Lines."""

from __future__ import annotations

import sys
from pathlib import Path

import typer

from shequn.cli.common import err_console, open_app
from shequn.domain import EventKind, UserError
from shequn.i18n import t

app = typer.Typer(help="导出 · export data", no_args_is_help=True)


@app.command("events")
def export_events(
    ctx: typer.Context,
    output: Path | None = typer.Option(None, "--output", "-o", help="写入文件 · write to a file (default stdout)"),
    kind: list[str] = typer.Option([], "--kind", "-k", help="只导出这些类型 · only these event kinds"),
) -> None:
    """导出事件日志 · write the event log as JSON Lines, in log order."""
    known = {k.value for k in EventKind}
    bad = [k for k in kind if k not in known]
    if bad:
        raise UserError(
            f"--kind: unknown event kind(s) {', '.join(bad)}; kinds are {', '.join(sorted(known))}", exit_code=2
        )
    with open_app(ctx) as a:
        if output is None:
            n = a.export_events(sys.stdout.buffer, kinds=set(kind) or None)
            sys.stdout.flush()
        else:
            with output.open("wb") as f:
                n = a.export_events(f, kinds=set(kind) or None)
    err_console.print(t("cli.exported_events", None, n=n), style="dim")
