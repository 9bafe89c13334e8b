"""``shequn simulate``: realistic, reproducible community activity with known ground truth."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from shequn.app import App, IngestReport
from shequn.cli.common import console, err_console, open_app
from shequn.domain import Event, UserError
from shequn.i18n import t

if TYPE_CHECKING:
    from shequn.simulator import Simulation


def load_simulation(app: App, sim: Simulation, *, process: bool, quiet: bool = False) -> IngestReport:
    """Apply the simulation's communities, append its events to the log and, if asked, build the derived state."""
    for spec in sim.specs:
        app.apply_spec(spec, actor="simulator", source="simulator")
    total_days = sim.days

    def tracked(progress: Progress) -> Iterator[Event]:
        task = progress.add_task(t("cli.simulating", None), total=total_days)
        for n, e in enumerate(sim.events()):
            if not n % 8192:
                progress.update(task, completed=(e.at - sim.start).days)
            yield e
        progress.update(task, completed=total_days)

    columns = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
    with Progress(*columns, console=err_console, transient=True, disable=quiet) as progress:
        report = app.append_history(tracked(progress))
        if process:
            progress.add_task(t("cli.processing", None), total=None)
            app.catch_up()
    return report


def simulate(
    ctx: typer.Context,
    groups: int = typer.Option(24, "--groups", "-g", min=1, help="群数量 · number of groups"),
    days: int = typer.Option(30, "--days", "-d", min=1, help="天数 · number of days"),
    seed: int = typer.Option(1, "--seed", "-s", help="随机种子 · seed (same seed, same data)"),
    truth: Path | None = typer.Option(None, "--truth", help="写入真实标注 · write the ground truth as JSON"),
    process: bool = typer.Option(
        True, "--process/--no-process", help="立即计算派生状态 · build the derived state now (else on first use)"
    ),
) -> None:
    """生成模拟数据 · generate realistic community activity (every type) with known ground truth."""
    if truth is not None and not truth.parent.exists():
        raise UserError(t("cli.err.no_folder", None, option="--truth", folder=truth.parent), exit_code=2)

    from shequn.simulator import simulate as run_simulation
    from shequn.simulator import write_truth

    started = time.perf_counter()
    sim = run_simulation(groups=groups, days=days, seed=seed)
    with open_app(ctx) as a:
        report = load_simulation(a, sim, process=process)
    if truth is not None:
        write_truth(sim, truth)
    console.print(
        t(
            "cli.simulated",
            None,
            groups=groups,
            days=days,
            events=report.received,
            added=report.added,
            seconds=time.perf_counter() - started,
        )
    )
    if truth is not None:
        console.print(t("cli.truth_written", None, path=truth))
