"""Running measurements in fresh child processes, pinned to one core, and reporting them."""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import resource
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from typing import Any

from rich.console import Console
from rich.table import Table


@dataclass(slots=True)
class Measurement:
    """One timed run: how much work, how long, and the child process's peak resident memory."""

    name: str
    items: int
    seconds: float
    peak_mb: float
    goal_per_s: float | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    @property
    def per_second(self) -> float:
        return self.items / self.seconds if self.seconds > 0 else float("inf")

    @property
    def ratio(self) -> float | None:
        """Measured rate ÷ goal (≥ 1 means the goal is met)."""
        return self.per_second / self.goal_per_s if self.goal_per_s else None

    def to_json(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(per_second=round(self.per_second, 1), ratio=round(self.ratio, 2) if self.ratio else None)
        return d


def _child(
    fn: Callable[..., tuple[int, float, dict[str, Any]]], args: tuple[Any, ...], queue: Any, cores: int = 1
) -> None:
    with contextlib.suppress(AttributeError, OSError):
        allowed = sorted(os.sched_getaffinity(0))
        os.sched_setaffinity(0, set(allowed[:cores]))  # as many cores as the goal is stated for (one by default)
    try:
        items, seconds, extra = fn(*args)
        peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        queue.put((items, seconds, peak, extra, None))
    except BaseException as exc:
        queue.put((0, 0.0, 0.0, {}, f"{type(exc).__name__}: {exc}"))


def measure(
    name: str,
    fn: Callable[..., tuple[int, float, dict[str, Any]]],
    *args: Any,
    goal_per_s: float | None = None,
    cores: int = 1,
) -> Measurement:
    """Run ``fn(*args)`` in a fresh process on ``cores`` cores; it returns (items, seconds timed, extra figures)."""
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    proc = ctx.Process(target=_child, args=(fn, args, queue, cores))
    started = time.perf_counter()
    proc.start()
    items, seconds, peak, extra, error = queue.get()
    proc.join()
    if error:
        raise RuntimeError(f"benchmark {name} failed after {time.perf_counter() - started:.1f} s: {error}")
    return Measurement(name, items, seconds, peak, goal_per_s, extra)


def report(title: str, rows: list[Measurement], console: Console, *, unit: str = "events") -> None:
    table = Table(title=title)
    for col, justify in (
        ("run", "left"),
        (unit, "right"),
        ("seconds", "right"),
        (f"{unit}/s", "right"),
        ("goal/s", "right"),
        ("× goal", "right"),
        ("peak MB", "right"),
    ):
        table.add_column(col, justify=justify)  # type: ignore[arg-type]
    for m in rows:
        table.add_row(
            m.name,
            f"{m.items:,}",
            f"{m.seconds:.2f}",
            f"{m.per_second:,.0f}",
            f"{m.goal_per_s:,.0f}" if m.goal_per_s else "-",
            f"{m.ratio:.2f}" if m.ratio else "-",
            f"{m.peak_mb:,.0f}",
        )
    console.print(table)
