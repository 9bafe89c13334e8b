"""``shequn worker`` and ``shequn status``: the engine's worker processes on PostgreSQL and their shards' lag."""

from __future__ import annotations

import signal
import threading
from pathlib import Path

import orjson
import typer
from rich.table import Table

from shequn.cli.common import Globals, console
from shequn.domain import UserError
from shequn.i18n import t
from shequn.services.worker import Worker, WorkerOptions
from shequn.store import Store


def worker(
    ctx: typer.Context,
    shards: int | None = typer.Option(
        None, "--shards", help="分片数（每个部署只设一次，默认 64）· shard count (set once per deployment; default 64)"
    ),
    lease: float = typer.Option(10.0, "--lease", help="租约秒数 · lease length in seconds"),
    batch: int = typer.Option(500, "--batch", help="每个事务最多处理的事件数 · events per transaction at most"),
    tick: float = typer.Option(
        15.0, "--tick", min=0.1, help="定时任务间隔秒数 · seconds between passes of the scheduled jobs and timers"
    ),
    worker_id: str | None = typer.Option(None, "--id", help="工作进程名称 · worker name (default host:pid:random)"),
    stats: Path | None = typer.Option(
        None,
        "--stats",
        help="停止时及收到 SIGUSR1 时写入各阶段CPU · on stop and on SIGUSR1, write the CPU by stage (JSON)",
    ),
) -> None:
    """工作进程：按分片运行引擎（PostgreSQL）· run the engine for a share of the shards (PostgreSQL)."""
    g: Globals = ctx.obj
    if shards is not None and not 1 <= shards <= 4096:
        raise UserError(t("worker.bad_shards", None, n=shards), exit_code=2)
    w = Worker(
        g.db,
        options=WorkerOptions(shards=shards, lease_ms=int(lease * 1000), batch=max(batch, 1), tick_ms=int(tick * 1000)),
        worker_id=worker_id,
    )
    stop = threading.Event()
    signal.signal(signal.SIGTERM, lambda *_: stop.set())
    signal.signal(signal.SIGINT, lambda *_: stop.set())
    console.print(t("worker.started", None, id=w.id, shards=w.shards, lease=lease))

    def write_stats(*_: object) -> None:
        if stats is not None:  # written whole, then renamed: a reader never sees half of it
            part = stats.with_name(stats.name + ".part")
            part.write_bytes(orjson.dumps({"events": w.processed, "cpu_s": w.cpu}))
            part.replace(stats)

    signal.signal(signal.SIGUSR1, write_stats)  # on demand too (a benchmark's baseline)
    w.run(stop)
    write_stats()
    console.print(t("worker.stopped", None, id=w.id, events=w.processed))


def status(ctx: typer.Context) -> None:
    """分片与积压 · the shards: who holds each, its offset and its lag; which process holds each bot account."""
    g: Globals = ctx.obj
    _bot_accounts(g.db)
    store = Store(g.db)
    try:
        with store.transaction() as conn:
            rows = store.shards.rows(conn) if not store.db.is_sqlite else []
            live = store.shards.live_workers(conn, 60_000) if rows else 0
    finally:
        store.close()
    if not rows:
        console.print(t("status.none", None))
        return
    console.print(t("status.header", None, shards=len(rows), workers=live, lag=sum(r.lag for r in rows)))
    table = Table()
    for key in ("status.shard", "status.owner", "status.expires", "status.generation", "status.offset", "status.lag"):
        table.add_column(t(key, None))
    for r in rows:
        left = f"{r.expires_in_ms / 1000:.1f}" if r.owner else "-"
        table.add_row(str(r.shard), r.owner or "-", left, str(r.generation), str(r.last_seq), str(r.lag))
    console.print(table)


def _bot_accounts(db: str | None) -> None:
    """(PostgreSQL) The bot accounts of the sender processes: who holds each, and how long its lease has left."""
    store = Store(db)
    try:
        with store.transaction() as conn:
            bots = [] if store.db.is_sqlite else store.delivery.bot_holders(conn)
    finally:
        store.close()
    if not bots:
        return
    table = Table()
    for key in ("status.platform", "status.account", "status.owner", "status.expires"):
        table.add_column(t(key, None))
    for platform, account, holder, left_ms in bots:
        left = f"{left_ms / 1000:.1f}" if holder and left_ms > 0 else "-"
        table.add_row(platform, account, holder or "-", left)
    console.print(table)
