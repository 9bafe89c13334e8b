"""``shequn log partitions`` and ``shequn log archive``: the event log's monthly partitions on PostgreSQL."""

from __future__ import annotations

import time
from pathlib import Path

import typer

from shequn.cli.common import Globals, console
from shequn.domain import UserError
from shequn.i18n import t
from shequn.store import Store
from shequn.store import partitions as parts

app = typer.Typer(help="事件日志分区与归档（PostgreSQL）· the event log's partitions and archive (PostgreSQL)")


def _store(ctx: typer.Context) -> Store:
    g: Globals = ctx.obj
    store = Store(g.db)
    if store.db.is_sqlite:
        store.close()
        raise UserError(t("log.not_partitioned", None), exit_code=2)
    return store


@app.command("partitions")
def partitions(
    ctx: typer.Context,
    ahead: int = typer.Option(3, "--ahead", min=0, max=120, help="提前创建的月数 · months to create ahead"),
) -> None:
    """创建当前及之后几个月的分区 · create the partitions of the current month and the next ones."""
    store = _store(ctx)
    try:
        with store.transaction() as conn:
            if not parts.is_partitioned(conn):
                raise UserError(t("log.not_partitioned", None), exit_code=2)
            created = parts.ensure_partitions(conn, now_ms=int(time.time() * 1000), ahead=ahead)
    finally:
        store.close()
    console.print(
        t("log.created", None, months=", ".join(created)) if created else t("log.none_created", None, ahead=ahead)
    )


@app.command("archive")
def archive(
    ctx: typer.Context,
    before: str = typer.Option(
        ..., "--before", help="归档此月之前的月份 (YYYY-MM) · archive the months before this one"
    ),
    to: Path = typer.Option(..., "--to", help="写入 Parquet 文件的文件夹 · folder for the Parquet files"),
) -> None:
    """把已结束的月份导出为 Parquet 并删除其分区 · export closed months to Parquet and drop their partitions."""
    month = parts.parse_month(before)
    store = _store(ctx)
    try:
        now_ms = int(time.time() * 1000)
        with store.transaction() as conn:
            parts.check_archive(conn, month, to, now_ms=now_ms)  # refuse before changing anything
            parts.ensure_partitions(conn, now_ms=now_ms, ahead=0)  # the default's rows of those months move out
            months = parts.check_archive(conn, month, to, now_ms=now_ms)
        if not months:
            console.print(t("log.nothing", None, before=parts.label(month)))
        for m in months:
            with store.transaction() as conn:
                done = parts.export_month(conn, m, to)
            console.print(t("log.archived", None, month=done.month, rows=done.rows, path=done.path))
    finally:
        store.close()
