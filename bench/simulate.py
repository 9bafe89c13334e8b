"""``shequn bench simulate``: simulated activity generated, and generated and stored, for 1,000 groups × 30 days.

Goal (issue 2): the whole of ``shequn simulate --groups 1000 --days 30`` (generation and writing to SQLite) under a
minute. The goal rate is the run's events ÷ 60 s, so "× goal" ≥ 1 means it finished within the minute.
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path
from typing import Any

from shequn.bench.harness import Measurement, measure

GOAL_SECONDS = 60.0


def run_generate(groups: int, days: int, seed: int) -> tuple[int, float, dict[str, Any]]:
    from shequn.simulator import simulate

    started = time.perf_counter()
    n = sum(1 for _ in simulate(groups=groups, days=days, seed=seed).events())
    return n, time.perf_counter() - started, {}


def run_store(groups: int, days: int, seed: int) -> tuple[int, float, dict[str, Any]]:
    from shequn.app import App
    from shequn.simulator import simulate

    with tempfile.TemporaryDirectory() as tmp:
        started = time.perf_counter()
        sim = simulate(groups=groups, days=days, seed=seed)
        app = App(str(Path(tmp) / "sim.db"))
        for spec in sim.specs:
            app.apply_spec(spec, actor="bench")
        report = app.append_history(sim.events())
        seconds = time.perf_counter() - started
        size = (Path(tmp) / "sim.db").stat().st_size
        app.close()
    return report.added, seconds, {"db_mb": round(size / 2**20)}


def run(groups: int = 1000, days: int = 30, seed: int = 1) -> list[Measurement]:
    generated = measure("generate", run_generate, groups, days, seed)
    goal = generated.items / GOAL_SECONDS
    generated.goal_per_s = goal
    stored = measure("generate + store (SQLite)", run_store, groups, days, seed, goal_per_s=goal)
    return [generated, stored]
