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
def analytics(
    groups: int = typer.Option(1000, help="模拟群数 · simulated groups"),
    days: int = typer.Option(440, help="模拟天数 · simulated days (440 gives about 10 million messages)"),
    seed: int = typer.Option(1, help="随机种子 · seed"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """分析报告速度 · the full report over 10 million messages vs a pandas peer (goal: < 10 s, < 2 GB, ≥ 5×)."""
    from shequn.bench import analytics as bench_analytics
    from shequn.bench.harness import report

    rows = bench_analytics.run(groups=groups, days=days, seed=seed)
    if as_json:
        print_json([m.to_json() for m in rows])
        return
    report(f"shequn bench analytics ({groups} groups × {days} days, seed {seed}; 2 cores)", rows, console,
           unit="messages")  # fmt: skip
    warm, peer = rows[2], rows[3]
    if warm.seconds:
        console.print(
            f"report {warm.seconds:.2f} s (goal 10 s: ×{10 / warm.seconds:.1f}), {warm.peak_mb:,.0f} MB peak "
            f"(goal 2,048 MB); pandas {peer.seconds:.2f} s: the report is ×{peer.seconds / warm.seconds:.1f} faster"
        )
