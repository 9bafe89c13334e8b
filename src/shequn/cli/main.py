"""The ``shequn`` command: global options, the sub-commands, and one-line errors for user mistakes."""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from shequn import __version__
from shequn.cli import (
    bench,
    community,
    demo,
    event,
    events,
    group,
    growth,
    importer,
    inbox,
    log,
    member,
    moderation,
    plan,
    points,
    report,
    run,
    sandbox,
    schedule,
    serve,
    shop,
    simulate,
    worker,
)
from shequn.cli.common import Globals, console, err_console, open_app
from shequn.domain import UserError
from shequn.i18n import normalize_locale, t
from shequn.store import Store
from shequn.store._sql import to_ms

app = typer.Typer(
    name="shequn",
    help="社群运营平台 · shequn: run chat communities the way the best operators do.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


def _version(value: bool) -> None:
    if value:
        console.print(f"shequn {__version__}")
        raise typer.Exit


@app.callback()
def _globals(
    ctx: typer.Context,
    db: str | None = typer.Option(
        None, "--db", envvar="SHEQUN_DB", help="数据库 · database URL or path (default ./shequn.db)"
    ),
    workspace: str = typer.Option(
        "default", "--workspace", "-w", envvar="SHEQUN_WORKSPACE", help="工作区 · workspace name"
    ),
    verbose: bool = typer.Option(False, "--verbose", "-v", help="详细日志 · log debug details"),
    version: bool = typer.Option(False, "--version", callback=_version, is_eager=True, help="版本 · show version"),
) -> None:
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING, format="%(levelname)s %(name)s: %(message)s"
    )
    ctx.obj = Globals(db=db, workspace=workspace)


@app.command()
def init(
    ctx: typer.Context,
    timezone: str = typer.Option("Asia/Shanghai", help="时区 · time zone of the workspace"),
    locale: str = typer.Option("zh-CN", help="语言 · language of the workspace (zh-CN or en)"),
) -> None:
    """创建工作区 · create a workspace."""
    g: Globals = ctx.obj
    try:
        ZoneInfo(timezone)
    except (ZoneInfoNotFoundError, ValueError):
        raise UserError(t("cli.bad_timezone", None, tz=timezone), exit_code=2) from None
    store = Store(g.db)
    with store.transaction() as conn:
        ws = store.workspaces.create(
            conn,
            name=g.workspace,
            timezone=timezone,
            locale=normalize_locale(locale),
            now_ms=to_ms(datetime.now(UTC)),
        )
    console.print(t("cli.workspace_created", None, name=ws.name, db=store.db.url))


@app.command()
def replay(
    ctx: typer.Context,
    check: bool = typer.Option(False, "--check", help="只比较不保存 · compare a replay with the saved state"),
) -> None:
    """重放事件日志 · rebuild the derived state by replaying the event log."""
    from shequn.engine import replay as run_replay

    with open_app(ctx) as a:
        if check and a.workers:
            from shequn.services.worker import check_replay

            same, replayed, lag = check_replay(a)
            if lag:
                console.print(t("worker.lagging", None, lag=lag))
            console.print(t("cli.replay_same" if same else "cli.replay_differs", None, events=replayed))
            raise typer.Exit(0 if same and not lag else 1)
        if check:
            with a.store.transaction() as conn:
                cfg = a.workspace_config(conn)
            a.catch_up()
            engine = run_replay(cfg, a.events())
            same = engine.state.to_dict() == a.saved_state().to_dict()
            console.print(t("cli.replay_same" if same else "cli.replay_differs", None, events=engine.state.events))
            raise typer.Exit(0 if same else 1)
        rebuilt = a.rebuild()
        console.print(t("cli.replayed", None, events=rebuilt.received or sum(rebuilt.by_kind.values())))


app.add_typer(community.app, name="community")
app.add_typer(events.app, name="export")
app.add_typer(bench.app, name="bench")
app.add_typer(schedule.app, name="schedule")
app.add_typer(event.app, name="event")
app.add_typer(moderation.app, name="moderation")
app.add_typer(points.app, name="points")
app.command(name="sandbox")(sandbox.sandbox)
app.command(name="simulate")(simulate.simulate)
app.command(name="demo")(demo.demo)
app.command(name="serve")(serve.serve)
app.add_typer(serve.user_app, name="user")
app.command(name="plan")(plan.plan)
app.command(name="run")(run.run)
app.command(name="import")(importer.import_)
app.command(name="report")(report.report)
app.add_typer(growth.referral_app, name="referral")
app.add_typer(growth.livecode_app, name="livecode")
app.add_typer(growth.growth_app, name="growth")
app.add_typer(shop.app, name="shop")
app.add_typer(member.app, name="member")  # issue 23: member pages
app.add_typer(group.app, name="group")  # issue 21: the group lifecycle
app.add_typer(inbox.app, name="inbox")  # issue 20: the operator's inbox
app.add_typer(inbox.staff_app, name="staff")
app.command(name="worker")(worker.worker)
app.command(name="status")(worker.status)
app.add_typer(log.app, name="log")  # issue 19: the log's monthly partitions and archive (PostgreSQL)


def main(argv: list[str] | None = None) -> None:
    """Entry point: run the command; a :class:`UserError` prints one line and exits with its status."""
    try:
        rc = app(args=argv, standalone_mode=False)
    except UserError as exc:
        err_console.print(f"[red]{t('cli.error', None)}[/red] {exc}", markup=True, highlight=False)
        sys.exit(exc.exit_code)
    except typer.Exit as exc:
        sys.exit(exc.exit_code)
    except typer.Abort:
        err_console.print(t("cli.aborted", None))
        sys.exit(130)
    except KeyboardInterrupt:
        sys.exit(130)
    except typer.TyperException as exc:  # usage errors: the parser's own message and status
        show = getattr(exc, "show", None)
        if show is not None:
            show(file=sys.stderr)
        else:
            err_console.print(str(exc))
        sys.exit(getattr(exc, "exit_code", 2))
    sys.exit(rc if isinstance(rc, int) else 0)


__all__ = ["app", "main"]
