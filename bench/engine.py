"""``shequn bench engine``: simulated events through the engine, in memory and persisted.

Goals (issue 2, one core): at least 20,000 events/s through the engine without persistence, and 5,000 events/s
persisted to SQLite (events appended, derived state and actions saved, one transaction per ``batch`` events).
"""

from __future__ import annotations

import gc
import tempfile
import time
from pathlib import Path
from typing import Any

from shequn.bench.harness import Measurement, measure

GOAL_MEMORY = 20_000
GOAL_PERSISTED = 5_000


def _events(groups: int, days: int, seed: int) -> tuple[Any, list[Any]]:
    from shequn.simulator import simulate

    sim = simulate(groups=groups, days=days, seed=seed)
    return sim, list(sim.events())


def run_memory(groups: int, days: int, seed: int) -> tuple[int, float, dict[str, Any]]:
    from shequn.engine import Engine, WorkspaceConfig

    sim, events = _events(groups, days, seed)
    engine = Engine(WorkspaceConfig.from_specs(sim.specs))
    gc.collect()
    started = time.perf_counter()
    actions = 0
    for e in events:
        actions += len(engine.handle(e))
    seconds = time.perf_counter() - started
    return len(events), seconds, {"actions": actions, "policy_errors": engine.errors}


def run_persisted(groups: int, days: int, seed: int, batch: int, db: str | None) -> tuple[int, float, dict[str, Any]]:
    from shequn import app as app_module
    from shequn.app import App

    sim, events = _events(groups, days, seed)
    with tempfile.TemporaryDirectory() as tmp:
        app = App(db or str(Path(tmp) / "bench.db"), workspace=f"bench-{time.time_ns()}")
        for spec in sim.specs:
            app.apply_spec(spec)
        app_module.BATCH = batch
        gc.collect()
        started = time.perf_counter()
        report = app.ingest(events, history=True)
        seconds = time.perf_counter() - started
        app.close()
    return len(events), seconds, {"added": report.added, "batch": batch}


def run(groups: int = 200, days: int = 30, seed: int = 1, batch: int = 500, pg: str | None = None) -> list[Measurement]:
    rows = [
        measure("engine, in memory", run_memory, groups, days, seed, goal_per_s=GOAL_MEMORY),
        measure("engine + SQLite", run_persisted, groups, days, seed, batch, None, goal_per_s=GOAL_PERSISTED),
    ]
    if pg:
        rows.append(
            measure("engine + PostgreSQL", run_persisted, groups, days, seed, batch, pg, goal_per_s=GOAL_PERSISTED)
        )
    return rows
