"""``shequn bench …``: the benchmarks of ``bench/``, with their goals and the ratios measured."""

from __future__ import annotations

import typer

from shequn.cli.common import console, print_json

app = typer.Typer(
    help="性能基准 · benchmarks (each compares against its goal or peer in the same run)", no_args_is_help=True
)


@app.command()
def engine(
    groups: int = typer.Option(200, help="模拟群数 · simulated groups"),
    days: int = typer.Option(30, help="模拟天数 · simulated days"),
    seed: int = typer.Option(1, help="随机种子 · seed"),
    batch: int = typer.Option(500, help="每个事务的事件数 · events per transaction when persisted"),
    pg: str | None = typer.Option(None, "--pg", help="也测 PostgreSQL · also measure this PostgreSQL URL"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """引擎吞吐 · events per second through the engine, in memory and persisted (one core)."""
    from shequn.bench import engine as bench_engine
    from shequn.bench.harness import report

    rows = bench_engine.run(groups=groups, days=days, seed=seed, batch=batch, pg=pg)
    if as_json:
        print_json([m.to_json() for m in rows])
    else:
        report(f"shequn bench engine ({groups} groups × {days} days, seed {seed})", rows, console)


@app.command()
def simulate(
    groups: int = typer.Option(1000, help="模拟群数 · simulated groups"),
    days: int = typer.Option(30, help="模拟天数 · simulated days"),
    seed: int = typer.Option(1, help="随机种子 · seed"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """模拟器速度 · the simulator, generating and storing (goal: 1,000 groups × 30 days in under a minute)."""
    from shequn.bench import simulate as bench_simulate
    from shequn.bench.harness import report

    rows = bench_simulate.run(groups=groups, days=days, seed=seed)
    if as_json:
        print_json([m.to_json() for m in rows])
    else:
        report(f"shequn bench simulate ({groups} groups × {days} days, seed {seed})", rows, console)


@app.command()
def moderation(
    groups: int = typer.Option(60, help="模拟群数 · simulated groups"),
    days: int = typer.Option(30, help="模拟天数 · simulated days"),
    seed: list[int] = typer.Option([7, 11, 23], "--seed", help="随机种子（可多个）· seeds (repeat the option)"),
    spam: str | None = typer.Option(None, "--spam", help="Telegram 垃圾消息样本目录 · the tg-spam samples folder"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """广告识别准确率 · precision and recall of ad detection vs a keyword match (Telegram spam, simulated ads)."""
    from pathlib import Path

    from shequn.bench import moderation as bench_moderation

    rows = bench_moderation.run(spam_dir=Path(spam) if spam else None, groups=groups, days=days, seeds=seed)
    if as_json:
        print_json([r.to_json() for r in rows])
    else:
        bench_moderation.report(rows, console)
