"""``shequn demo``: a workspace with one community of each type, built from the simulator, then the console."""

from __future__ import annotations

import typer
from rich.table import Table

from shequn.cli.common import console, err_console, open_app
from shequn.cli.simulate import load_simulation
from shequn.domain import UserError
from shequn.i18n import fmt, system_locale, t
from shequn.playbook import load_playbook

DEMO_GROUPS = 18  # three groups for each of the six types


def demo(
    ctx: typer.Context,
    serve: bool = typer.Option(True, "--serve/--no-serve", help="构建后打开控制台 · serve the console afterwards"),
    days: int = typer.Option(30, "--days", min=1, help="模拟天数 · days of simulated history"),
    seed: int = typer.Option(7, "--seed", help="随机种子 · seed"),
    host: str = typer.Option("127.0.0.1", "--host", help="监听地址 · address to serve on"),
    port: int = typer.Option(8000, "--port", min=1, max=65535, help="端口 · port to serve on"),
    fresh: bool = typer.Option(
        False, "--fresh", help="从空库开始（删除原数据库文件） · start from an empty store (deletes the SQLite file)"
    ),
) -> None:
    """演示 · build a demo workspace (every community type, simulated history) and show it."""
    from shequn.simulator import simulate

    loc = system_locale()
    if serve:
        from shequn.cli.serve import check_port

        check_port(host, port)  # before minutes of work, not after
    if fresh:
        _remove_store(ctx, loc)
    sim = simulate(groups=DEMO_GROUPS, days=days, seed=seed, communities=6, even=True)
    with open_app(ctx) as a:
        with a.store.transaction() as conn:
            before = sum(a.store.events.count_by_kind(conn, a.ws.id).values())
        foreign = sorted({c.name for c in a.communities()} - {spec.name for spec in sim.specs})
        if foreign:
            raise UserError(t("cli.demo_existing", loc, names="、".join(foreign[:5]), db=a.store.db.url), exit_code=2)
        report = load_simulation(a, sim, process=True)
        with a.store.transaction() as conn:
            counts = a.store.stats.community_counts(conn, a.ws.id)
            by_kind = a.store.events.count_by_kind(conn, a.ws.id)
        db = a.store.db.url
    others = before + report.added - report.received  # events in the store that are not this demo's
    pb = load_playbook()
    table = Table(title=t("cli.demo_title", loc))
    for col in ("name", "type", "groups", "members", "messages"):
        table.add_column(t(f"cli.col.{col}", loc), justify="left" if col in ("name", "type") else "right")
    for spec in sim.specs:
        c = counts[spec.name]
        table.add_row(spec.name, pb.types[spec.type].name.get(loc), fmt.count(c.groups), fmt.count(c.members),
                      fmt.count(c.messages))  # fmt: skip
    console.print(table)
    kinds = Table(title=t("cli.demo_events", loc))
    kinds.add_column(t("cli.col.kind", loc))
    kinds.add_column(t("cli.col.count", loc), justify="right")
    for kind, n in sorted(by_kind.items(), key=lambda kv: -kv[1]):
        kinds.add_row(t(f"web.kind.{kind}", loc), fmt.count(n))
    kinds.add_row(t("cli.demo_total", loc), fmt.count(sum(by_kind.values())), style="bold")
    console.print(kinds)
    console.print(t("cli.demo_built", loc, db=db))
    if others > 0:
        err_console.print(t("cli.demo_mixed", loc, n=fmt.count(others)), style="yellow")
    if serve:
        _demo_owner(ctx, loc)
        from shequn.cli.serve import run_server

        run_server(ctx, host=host, port=port, secure_cookies=True)


def _remove_store(ctx: typer.Context, loc: str) -> None:
    """``--fresh``: delete the SQLite store (with its journal, lock and analytics cache); other databases are
    never dropped from here."""
    import shutil
    from pathlib import Path

    from sqlalchemy.engine import make_url

    from shequn.cli.common import Globals
    from shequn.store.db import normalize_url

    g: Globals = ctx.obj if isinstance(ctx.obj, Globals) else ctx.find_root().obj
    url = make_url(normalize_url(g.db))
    if url.get_backend_name() != "sqlite" or not url.database or url.database == ":memory:":
        raise UserError(t("cli.demo_fresh_sqlite", loc), exit_code=2)
    path = Path(url.database)
    for extra in ("", "-wal", "-shm", "-journal", ".writer-lock"):
        Path(f"{path}{extra}").unlink(missing_ok=True)
    shutil.rmtree(f"{path}.analytics", ignore_errors=True)


def _demo_owner(ctx: typer.Context, loc: str) -> None:
    """The demo's owner account: made once with a random password, printed once (never stored in clear)."""
    import secrets

    from shequn.services.accounts import Accounts

    with open_app(ctx) as a:
        accounts = Accounts(a)
        if accounts.has_owner():
            return
        password = secrets.token_urlsafe(12)
        accounts.create_user("demo", password, "owner", actor="demo")
    err_console.print(t("cli.demo_login", loc, name="demo", password=password), style="bold")
