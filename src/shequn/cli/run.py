"""``shequn run``: the connectors, the scheduler and the outbox runner of one workspace, in one process (SQLite), or
in several processes sharing a PostgreSQL, each holding some bot accounts (:mod:`shequn.services.sender`); with
``shequn worker`` the workers run the scheduled jobs, per shard, and this process does not."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from pathlib import Path
from typing import Any

import typer

from shequn.cli.common import err_console, open_app, print_json
from shequn.domain import UserError
from shequn.i18n import t

log = logging.getLogger("shequn.run")
GROWTH_EVERY = 60.0  # seconds between growth passes (settlements fall on the minute)


def _connectors(app: Any, names: list[str], env: dict[str, str]) -> dict[str, Any]:
    from shequn.connectors import REGISTRY, connector_class
    from shequn.services.live import StoreCursors

    asked = bool(names)
    if not asked:
        with app.store.transaction() as conn:
            platforms = {g.platform for g in app.store.groups.list(conn, app.ws.id) if g.community}
        names = sorted(p for p in platforms if p in REGISTRY and p != "sandbox")
    out = {}
    for name in names:
        cls = connector_class(name)
        if cls is None:
            known = ", ".join(sorted(REGISTRY))
            raise UserError(t("run.unknown_connector", None, name=name, known=known), exit_code=2)
        try:
            connector = cls.from_env(env)
        except UserError as exc:
            if asked:
                raise
            # Groups imported from a platform's history are bound too: a platform nobody configured is not an error
            # unless it was asked for; its actions wait in the outbox (or become staff tasks) until it runs.
            err_console.print(t("run.connector_skipped", None, name=name, reason=str(exc)))
            continue
        with app.store.transaction() as conn:
            bound = frozenset(
                g.platform_id for g in app.store.groups.list(conn, app.ws.id) if g.community and g.platform == name
            )
        connector.attach(cursors=StoreCursors(app, name), groups=bound)
        out[name] = connector
    return out


def _limits(path: Path | None) -> Any:
    from shequn.outbox import Policies

    if path is None:
        return Policies()
    import yaml
    from pydantic import ValidationError

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
        return Policies.from_mapping(data)
    except OSError as exc:
        raise UserError(t("cli.err.cannot_read", None, path=path, reason=exc.strerror), exit_code=2) from None
    except yaml.YAMLError as exc:
        raise UserError(f"{path}: not valid YAML: {exc}", exit_code=2) from None
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(str(p) for p in e['loc'])}: {e['msg']}" for e in exc.errors())
        raise UserError(f"{path}: {problems}", exit_code=2) from None


def run(
    ctx: typer.Context,
    connector: list[str] = typer.Option(
        [], "--connector", "-c", help="连接器 · connectors to run (default: every platform with bound groups)"
    ),
    until_idle: bool = typer.Option(False, "--until-idle", help="无事可做时退出 · exit once nothing is due"),
    seconds: float | None = typer.Option(None, "--for", help="运行秒数 · stop after this many seconds"),
    limits: Path | None = typer.Option(None, "--limits", help="平台限额覆盖 · YAML overriding the platform limits"),
    scheduler: bool = typer.Option(
        True, "--scheduler/--no-scheduler", help="节奏调度 · run the rhythm and run-of-show"
    ),
    concurrency: int = typer.Option(64, min=1, help="并发发送数 · sends in flight at once"),
    max_attempts: int = typer.Option(8, min=1, help="最多尝试次数 · attempts before an action fails"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print the figures as JSON at the end"),
    secrets: Path | None = typer.Option(
        None, "--secrets", help="凭据文件 · KEY=VALUE file with the connectors' credentials (the environment wins)"
    ),
    tick: float = typer.Option(15.0, "--tick", min=0.1, help="调度间隔秒数 · seconds between scheduler passes"),
    lease: float = typer.Option(
        15.0, "--lease", min=1.0, help="机器人账号租约秒数 · bot-account lease, seconds (PostgreSQL)"
    ),
) -> None:
    """运行 · run the connectors, the scheduler and the outbox (Ctrl-C or SIGTERM stops after in-flight sends)."""
    from shequn.outbox import DeliverySettings, LeaseHeldError, OutboxRunner
    from shequn.services.live import OperatorCommands, configure, environment, growth_pass
    from shequn.services.sender import BotSeats

    policies = _limits(limits)
    env = environment(secrets)
    with open_app(ctx) as app:
        senders = _connectors(app, connector, env)
        commands = OperatorCommands(app)
        settings = DeliverySettings(concurrency=concurrency, max_attempts=max_attempts)
        # PostgreSQL: several processes may run, each sending for the bot accounts it holds (BotSeats attaches them)
        several = app.store.db.dialect == "postgresql"
        runner = OutboxRunner(
            app.store,
            app.ws.id,
            {} if several else senders,
            policies=policies,
            settings=settings,
            locale=app.ws.locale,
            bot_leases=several,
        )
        configure(app, senders, runner.wake.set)
        service = None
        if scheduler and app.workers:  # each shard's lease holder runs its communities' jobs (services/scheduler)
            err_console.print(t("run.jobs_on_workers", None), style="dim")
        elif scheduler:
            from shequn.schedule.service import SchedulerService

            service = SchedulerService(app, every=tick)

        async def main() -> Any:
            stop = asyncio.Event()
            loop = asyncio.get_running_loop()
            for sig in (signal.SIGTERM, signal.SIGINT):
                loop.add_signal_handler(sig, stop.set)
            if seconds is not None:
                loop.call_later(seconds, stop.set)

            async def growth_loop(stop: asyncio.Event) -> None:
                while not stop.is_set():
                    if any(growth_pass(app).values()):
                        runner.wake.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), GROWTH_EVERY)

            async def policy_loop(stop: asyncio.Event) -> None:
                # The time-driven policies (gathered acknowledgements, a question left unanswered, reminders,
                # clean-ups, temporary groups' ends): on SQLite nothing else ticks them; with workers App.tick leaves
                # it to each shard's worker. First pick up what another process wrote (a reply from the console).
                while not stop.is_set():
                    try:
                        app.refresh()
                        report = app.tick()
                    except Exception:
                        log.exception("policy tick failed; trying again next time")
                    else:
                        if report.actions or report.staff_tasks:
                            runner.wake.set()
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), tick)

            async def sink(event: Any) -> None:
                app.refresh()  # first what another process logged meanwhile (an operator's reply, a staff link)
                app.ingest([event])
                commands.handle(event)
                runner.wake.set()

            tasks = []
            seats = BotSeats(app, senders, runner, sink, lease_seconds=lease) if runner.shared else None
            if seats is None:
                for c in senders.values():
                    await c.start(sink)
            else:
                await seats.beat()
                tasks.append(asyncio.create_task(seats.loop(stop)))
            if senders:
                log.info(t("connectors.run.started", None, names=", ".join(senders)))
            if service is not None:
                tasks.append(asyncio.create_task(service.loop(stop, wake=runner.wake, until_idle=until_idle)))
                if not until_idle:
                    tasks.append(asyncio.create_task(growth_loop(stop)))
            if not until_idle:
                tasks.append(asyncio.create_task(policy_loop(stop)))
            try:
                if seats is not None and until_idle:  # a standby waits for its accounts before it can be idle
                    waits = [asyncio.create_task(seats.all_held.wait()), asyncio.create_task(stop.wait())]
                    await asyncio.wait(waits, return_when=asyncio.FIRST_COMPLETED)
                    for w in waits:
                        w.cancel()
                if until_idle:  # decide what is due now before the outbox looks for idleness
                    app.tick()
                if service is not None and until_idle:
                    growth_pass(app)
                    service.tick()
                stats = await runner.run(stop, until_idle=until_idle)
            finally:
                stop.set()
                for task in tasks:
                    await task
                if seats is None:
                    for c in senders.values():
                        await c.stop()
            return stats

        try:
            stats = asyncio.run(main())
        except LeaseHeldError as exc:
            raise UserError(str(exc)) from None
    if as_json:
        print_json(stats.to_json())
    else:
        err_console.print(t("run.done", None, **stats.to_json()), style="dim")
