"""``shequn bench …``: the benchmarks of ``bench/``, with their goals and the ratios measured."""

from __future__ import annotations

import typer

from shequn.cli.common import Globals, console, print_json

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
def serve(
    ctx: typer.Context,
    groups: int = typer.Option(1000, help="模拟群数 · simulated groups"),
    days: int = typer.Option(7, help="模拟天数 · simulated days"),
    seed: int = typer.Option(1, help="随机种子 · seed"),
    clients: int = typer.Option(50, help="并发客户端 · concurrent clients"),
    seconds: float = typer.Option(20.0, help="压测时长（秒） · load duration in seconds"),
    workers: int = typer.Option(2, help="shequn serve 的工作进程 · worker processes of shequn serve"),
    writes: float = typer.Option(0.0, min=0.0, max=1.0, help="写请求占比（给成员打标签） · share of writes (tags)"),
    engine_workers: int = typer.Option(
        0, "--engine-workers", min=0, help="shequn worker 进程数（PostgreSQL） · shequn worker processes (PostgreSQL)"
    ),
    baseline: bool = typer.Option(
        False, "--baseline", help="再以工作区写锁压测并对比 · the writes again under the workspace lock, compared"
    ),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """控制台与 API 压测 · the overview's render time and API read latency under load, against shequn serve.

    With --db postgresql+psycopg://… the workspace is built in that database (a new workspace); otherwise in a
    temporary SQLite file."""
    from rich.table import Table

    from shequn.bench import serve as bench_serve
    from shequn.store import normalize_url

    g: Globals = ctx.obj
    url = normalize_url(g.db)
    r = bench_serve.run(
        groups=groups, days=days, seed=seed, clients=clients, seconds=seconds, workers=workers, writes=writes,
        db=None if url.startswith("sqlite") else url, engine_workers=engine_workers, baseline=baseline,
    )  # fmt: skip
    if as_json:
        print_json(r)
        return
    ov, api = r["overview"], r["api"]
    table = Table(
        title=f"shequn bench serve ({groups} groups × {days} days, built in {r['build_seconds']} s; "
        f"shequn serve --workers {workers})"
    )
    for col in ("what", "p50 ms", "p95 ms", "p99 ms", "goal", "× goal"):
        table.add_column(col, justify="left" if col == "what" else "right")
    table.add_row(
        f"overview page, server ({ov['runs']} renders)", f"{ov['server_ms_p50']}", f"{ov['server_ms_p95']}", "-",
        f"< {ov['goal_ms']:.0f} ms", f"{ov['ratio']}",
    )  # fmt: skip
    table.add_row(
        f"API reads, {api['clients']} clients ({api['requests']:,} in {api['seconds']} s, {api['errors']} errors)",
        f"{api['p50_ms']}", f"{api['p95_ms']}", f"{api['p99_ms']}",
        f"p95 < {api['goal_p95_ms']:.0f} ms", f"{api['ratio']}",
    )  # fmt: skip
    for label, e in api["by_endpoint"].items():
        table.add_row(f"  {label} ({e['n']:,})", f"{e['p50_ms']}", f"{e['p95_ms']}", f"{e['p99_ms']}", "", "")
    table.add_row(
        f"  server CPU per API read: {api['server_cpu_ms_per_request']} ms "
        f"(≈ {1000 / max(api['server_cpu_ms_per_request'], 0.01):,.0f} reads/s per free core)",
        "", "", "", "", "",
    )  # fmt: skip
    if (w := r["writes"]) is not None:
        table.add_row(
            f"single write (a tag), {api['clients']} clients, {r['database']}"
            + (f", {r['engine_workers']} shequn worker(s)" if r["engine_workers"] else ""),
            f"{w['p50_ms']}", f"{w['p95_ms']}", f"{w['p99_ms']}", f"p95 < {w['goal_p95_ms']:.0f} ms", f"{w['ratio']}",
        )  # fmt: skip
        if (b := w.get("baseline")) is not None:
            f = w["faster"]
            table.add_row(
                f"  the same under the workspace writer lock ({b['n']:,}, {b['errors']} errors); × faster now: "
                f"p50 {f['p50_ms']}, p95 {f['p95_ms']}, p99 {f['p99_ms']}",
                f"{b['p50_ms']}", f"{b['p95_ms']}", f"{b['p99_ms']}", "", "",
            )  # fmt: skip
    table.add_row(f"  load average at the end: {r['load_average']}", "", "", "", "", "")
    if (w := r["wrk"]) is not None:
        table.add_row(
            f"API reads through wrk, {clients} clients ({w['requests']:,} in {w['seconds']} s, {w['errors']} errors; "
            f"server CPU {w['server_cpu_ms_per_request']} ms per read)",
            f"{w['p50_ms']}", f"{w['p95_ms']}", f"{w['p99_ms']}", f"p95 < {api['goal_p95_ms']:.0f} ms", f"{w['ratio']}",
        )  # fmt: skip
    console.print(table)


@app.command("outbox")
def outbox(
    groups: int = typer.Option(10_000, help="群数 · groups, each with a morning report at 08:00"),
    bots: int = typer.Option(1, help="机器人数 · bot tokens sharing the groups"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """发送队列 · 10,000 groups' 早报 at 08:00 through scheduler and outbox (goal: under 1 ms per action)."""
    from shequn.bench import outbox as bench_outbox
    from shequn.bench.harness import report

    rows = bench_outbox.run(groups=groups, bots=bots)
    if as_json:
        print_json([m.to_json() for m in rows])
        return
    report(f"shequn bench outbox ({groups:,} groups, {bots} bot(s))", rows, console, unit="actions")
    for m in rows:
        x = m.extra
        console.print(
            f"handed over {x['handed_over']:,} of {x['enqueued']:,} (twice: {x['twice']}), "
            f"{x['ms_per_action']} ms per action (goal {bench_outbox.GOAL_MS_PER_ACTION} ms): "
            f"scheduler {x['scheduler_s']} s, runner {x['runner_s']} s; "
            f"worst {x['worst_per_bot_per_s']}/s per bot (limit 30), {x['worst_per_group_per_min']}/min per group "
            f"(limit 20); virtual makespan {x['virtual_makespan_s']} s (floor {x['makespan_floor_s']} s)"
        )


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


@app.command("moderation")
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


@app.command("sentiment")
def sentiment(
    split: str = typer.Option("test", help="test（留出集）或 tune（调参集）· test (held out) or tune"),
    errors: bool = typer.Option(False, "--errors", help="列出检测错误（只用于 tune）· list the detector's mistakes"),
    train: bool = typer.Option(False, "--train", help="用调参集重新训练学习部分 · retrain the learned part from tune"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """抱怨检测准确率 · precision/recall/F1 of the complaint detector vs the keyword baseline (zh-CN and en)."""
    from shequn.bench import sentiment as bench_sentiment

    if train:
        console.print(f"已写入 · written: {bench_sentiment.write_model()}", markup=False)
        return
    if split not in bench_sentiment.SPLITS:
        console.print(f"--split 只能是 tune 或 test · --split must be tune or test, not {split!r}", markup=False)
        raise typer.Exit(2)
    rows = bench_sentiment.run(split=split)
    langs = bench_sentiment.LANGS if errors else ()
    mistakes = [(lang, kind, s) for lang in langs for kind, s in bench_sentiment.errors(lang, split)]
    if as_json:
        scores = [r.to_json() for r in rows]
        wrong = [{"lang": lang, "kind": kind, "line": s.line, "text": s.text} for lang, kind, s in mistakes]
        print_json({"scores": scores, "errors": wrong} if errors else scores)
        return
    bench_sentiment.report(rows, console)
    for lang, kind, s in mistakes:
        console.print(f"{lang} {kind} line {s.line}: {s.text}", markup=False, highlight=False)


@app.command("analytics")
def analytics(
    groups: int = typer.Option(1000, help="模拟群数 · simulated groups"),
    days: int = typer.Option(440, help="模拟天数 · simulated days (440 gives about 10 million messages)"),
    seed: int = typer.Option(1, help="随机种子 · seed"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """分析报告速度 · the full report over 10 million messages vs a pandas peer (goal: < 10 s, < 2 GB, ≥ 5×), and
    the first report after the import (goal: what any report costs)."""
    from shequn.bench import analytics as bench_analytics
    from shequn.bench.harness import report

    rows = bench_analytics.run(groups=groups, days=days, seed=seed)
    if as_json:
        print_json([m.to_json() for m in rows])
        return
    report(f"shequn bench analytics ({groups} groups × {days} days, seed {seed}; 2 cores)", rows, console,
           unit="messages")  # fmt: skip
    built, first, warm, rebuilt, peer = rows
    if warm.seconds:
        console.print(
            f"report {warm.seconds:.2f} s (goal 10 s: ×{10 / warm.seconds:.1f}), {warm.peak_mb:,.0f} MB peak "
            f"(goal 2,048 MB); pandas {peer.seconds:.2f} s: the report is ×{peer.seconds / warm.seconds:.1f} faster"
        )
        console.print(
            f"first report after the import {first.seconds:.2f} s = ×{first.seconds / warm.seconds:.2f} a warm "
            f"report (snapshot rebuilt from the store: {rebuilt.seconds:.1f} s)"
            + (f"; the import's snapshot parts cost it {built.extra['parts_seconds']} s" if built.seconds else "")
        )


@app.command("matrix")
def matrix(
    messages: int = typer.Option(300, min=10, help="消息数 · ordinary messages posted while the bot runs"),
    ads: int = typer.Option(40, min=1, help="广告数 · ads among them (each from its own account)"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """Matrix 实测 · a real Synapse and `shequn run`: ad→redaction p50/p95 and the bot's CPU per message."""
    from shequn.bench import matrix as bench_matrix

    figures = bench_matrix.run(messages=messages, ads=ads)
    data = figures.to_json()
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]shequn bench matrix[/bold]: {data['messages']} messages, {data['ads']} ads, "
        f"{data['redacted']} redacted in {data['seconds']} s\n"
        f"ad → redaction: p50 {data['ad_to_redaction_p50_ms']} ms, p95 {data['ad_to_redaction_p95_ms']} ms "
        f"(goal {data['p95_goal_ms']:.0f} ms: {data['p95_x_goal']}× goal), max {data['ad_to_redaction_max_ms']} ms\n"
        f"CPU per message: bot {data['bot_cpu_ms_per_message']} ms, Synapse {data['synapse_cpu_ms_per_message']} ms "
        f"(bot ÷ Synapse: {data['bot_vs_synapse']})"
    )


@app.command("wecom")
def wecom_archive(
    messages: int = typer.Option(2000, min=10, help="消息数 · archive messages pulled"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """企业微信会话存档 · the archive's pull → event path: CPU per message (fake Finance SDK, compiled with gcc)."""
    from shequn.bench import wecom_archive as bench_archive

    data = bench_archive.run(messages=messages).to_json()
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]shequn bench wecom[/bold]: {data['messages']} messages\n"
        f"pull → event (RSA, DecryptData, the event): {data['pull_cpu_ms_per_message']} ms CPU per message "
        f"({data['pull_seconds']} s)\n"
        f"pull → event → App.ingest (policies, SQLite): {data['ingest_cpu_ms_per_message']} ms CPU per message "
        f"({data['ingest_seconds']} s)"
    )


@app.command("onebot")
def onebot(
    messages: int = typer.Option(300, min=10, help="消息数 · ordinary messages posted while the bot runs"),
    ads: int = typer.Option(40, min=1, help="广告数 · ads among them (each from its own account)"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """QQ（OneBot v11）实测 · a fake OneBot implementation and `shequn run -c qq`: ad→recall p50/p95, CPU/message."""
    from shequn.bench import onebot as bench_onebot

    data = bench_onebot.run(messages=messages, ads=ads).to_json()
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]shequn bench onebot[/bold]: {data['messages']} messages, {data['ads']} ads, "
        f"{data['recalled']} recalled in {data['seconds']} s\n"
        f"ad → recall: p50 {data['ad_to_recall_p50_ms']} ms, p95 {data['ad_to_recall_p95_ms']} ms "
        f"(goal {data['p95_goal_ms']:.0f} ms: {data['p95_x_goal']}× goal), max {data['ad_to_recall_max_ms']} ms\n"
        f"CPU per message: shequn run {data['bot_cpu_ms_per_message']} ms"
    )


@app.command("feishu")
def feishu(
    messages: int = typer.Option(300, min=10, help="消息数 · ordinary messages posted while the bot runs"),
    ads: int = typer.Option(40, min=1, help="广告数 · ads among them (each from its own account)"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """飞书实测 · the fake Feishu open platform and `shequn run -c feishu`: ad→recall p50/p95, CPU/message."""
    from shequn.bench import feishu as bench_feishu

    data = bench_feishu.run(messages=messages, ads=ads).to_json()
    if as_json:
        print_json(data)
        return
    console.print(
        f"[bold]shequn bench feishu[/bold]: {data['messages']} messages, {data['ads']} ads, "
        f"{data['recalled']} recalled in {data['seconds']} s\n"
        f"ad → recall: p50 {data['ad_to_recall_p50_ms']} ms, p95 {data['ad_to_recall_p95_ms']} ms "
        f"(goal {data['p95_goal_ms']:.0f} ms: {data['p95_x_goal']}× goal), max {data['ad_to_recall_max_ms']} ms\n"
        f"CPU per message: shequn run {data['bot_cpu_ms_per_message']} ms"
    )


@app.command("referral")
def referral(
    joins: int = typer.Option(1_000_000, help="入群次数 · joins to attribute"),
    links: int = typer.Option(100_000, help="邀请链接数 · personal invite links"),
    seed: int = typer.Option(1, help="随机种子 · seed"),
    store: bool = typer.Option(True, "--store/--no-store", help="也测经由存储的归因 · also through the store"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """推荐归因与排行榜 · attribution of 1M joins through 100k links; a 10,000-member campaign's leaderboard."""
    from shequn.bench import referral as bench_referral
    from shequn.bench.harness import report

    rows = bench_referral.run(joins=joins, links=links, seed=seed, store=store)
    if as_json:
        print_json([m.to_json() for m in rows])
        return
    report(f"shequn bench referral ({joins:,} joins, {links:,} links, seed {seed}; 1 core)", rows, console,
           unit="joins")  # fmt: skip
    for m in rows:
        if m.extra:
            console.print(f"  {m.name}: {m.extra}")


@app.command("pages")
def pages(
    runs: int = typer.Option(3, min=1, max=20, help="每页测几次（取中位数）· throttled loads per page (median)"),
    latency: int = typer.Option(2000, min=0, help="每个请求的延迟（毫秒）· latency per request, ms (Slow 3G: 2000)"),
    kbps: int = typer.Option(400, min=1, help="带宽 kbit/s · bandwidth (Slow 3G: 400)"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """成员页面首屏时间 · first contentful paint of each member page at 375 px, Slow 3G and 4× CPU throttling."""
    from rich.table import Table

    from shequn.bench import pages as bench_pages

    rows = bench_pages.run(runs=runs, kbps=kbps, latency_ms=latency)
    if as_json:
        print_json(rows)
        return
    table = Table(title=f"shequn bench pages (375 px, {latency} ms latency, {kbps} kbit/s, CPU 4×, median of {runs})")
    for col in ("page", "lang", "FCP ms", "FCP − latency ms", "bytes"):
        table.add_column(col, justify="left" if col in ("page", "lang") else "right")
    for r in rows:
        table.add_row(r["page"], r["lang"], str(r["fcp_ms"]), str(r["fcp_ms"] - latency), f"{r['bytes']:,}")
    console.print(table)


@app.command("storm")
def storm(
    ctx: typer.Context,
    groups: int = typer.Option(200, "--groups", help="群数 · groups"),
    workers: str = typer.Option("2", "--workers", help="工作进程数，可逗号分隔 · worker processes, e.g. 1,2,4"),
    members: int = typer.Option(20, "--members", help="每群签到人数 · members checking in per group"),
    chat: int = typer.Option(2, "--chat", help="每人另发消息数 · other messages per member meanwhile"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """07:30 签到高峰（PostgreSQL，多工作进程）· the 07:30 check-in storm through shequn worker processes."""
    from shequn.bench import storm as bench_storm
    from shequn.domain import UserError
    from shequn.i18n import t

    g: Globals = ctx.obj
    counts = [int(w) for w in workers.split(",") if w.strip().isdigit()]
    if len(counts) != len(workers.split(",")) or min(counts) < 1:
        raise UserError(t("storm.bad_workers", None, given=workers), exit_code=2)
    results = [bench_storm.run(g.db, groups=groups, workers=n, members=members, chat=chat) for n in counts]
    if as_json:
        print_json(results[0] if len(results) == 1 else results)
        return
    for r in results:
        lat, cpu, sent = r["latency_ms"], r["cpu_us_per_event"], r["send"]
        console.print(
            f"shequn bench storm: {r['groups']:,} groups, {r['workers']} worker(s), {r['events']:,} events "
            f"({r['check_ins']:,} check-ins): {r['events_per_s']:,} events/s; check-in → acknowledgement decided "
            f"p50 {lat['p50']:.0f} ms, p95 {lat['p95']:.0f} ms, p99 {lat['p99']:.0f} ms; CPU µs per event: ingest "
            f"{cpu['ingest']}, engine {cpu['engine']}, commit {cpu['commit']} (+ database {cpu['database']}), "
            f"other worker {cpu['worker_other']}, send {cpu['send']}; acknowledged twice {r['acknowledged_twice']}, "
            f"never {r['not_acknowledged']}; {sent['messages']:,} messages sent in {sent['seconds']} s "
            f"({sent['sent_twice']} twice; {sent['cpu_us_per_message']} µs CPU each) under {sent['limits']}: "
            f"groups over a limit {sent['groups_over_limit']}, bot over a limit {sent['bot_over_limit']} "
            f"(load average {r['load_average']})"
        )


@app.command("senders")
def senders(
    ctx: typer.Context,
    processes: int = typer.Option(2, "--processes", min=1, help="发送进程数 · sender processes (one bot each)"),
    groups: int = typer.Option(4, "--groups", min=1, help="群数（各进程相同的群）· chats, the same for every process"),
    per_group: int = typer.Option(8, "--per-group", min=1, help="每群每进程条数 · posts per chat and process"),
    as_json: bool = typer.Option(False, "--json", help="JSON 输出 · print JSON"),
) -> None:
    """多进程发送（PostgreSQL）· several `shequn run` senders: limits held across them, duplicates, losses."""
    from shequn.bench import senders as bench_senders

    g: Globals = ctx.obj
    r = bench_senders.run(g.db, processes=processes, groups=groups, per_group=per_group)
    if as_json:
        print_json(r)
        return
    held = ", ".join(f"{s} {v['most_in_any_window']} (limit {v['limit']})" for s, v in r["limits"].items())
    console.print(
        f"shequn bench senders: {r['processes']} process(es), {r['actions']} actions in {r['seconds']} s "
        f"({r['both_sending_s']} s all sending): sent {r['sent']}, twice {r['duplicates']}, lost {r['lost']}; "
        f"most claimed in any window: {held}; limits held: {r['limits_held']} (load average {r['load_average']})"
    )
