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


@app.command("import")
def import_(
    messages: int = typer.Option(1_000_000, help="每个导出的消息数 · messages in each generated export"),
    seed: int = typer.Option(1, help="随机种子 · seed"),
    memory_gb: float = typer.Option(
        0.0,
        "--memory-gb",
        help="另测导入这么大的导出时的内存峰值 · also measure peak memory importing an export this big",
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """导入速度 · shequn's import against whatstk and chat-miner on the same large exports (goals 5× and 3×)."""
    from shequn.bench import importers as bench_importers
    from shequn.bench.harness import report

    rows = bench_importers.run(messages=messages, seed=seed)
    if memory_gb > 0:
        rows += bench_importers.run_memory(memory_gb, seed=seed)
    if as_json:
        print_json([m.to_json() for m in rows])
    else:
        report(f"shequn bench import ({messages:,} messages per export, seed {seed})", rows, console, unit="messages")
        for m in rows:
            if m.extra:
                console.print(f"  {m.name}: {m.extra}")
