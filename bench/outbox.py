"""``shequn bench outbox``: 10,000 groups' morning reports (早报) scheduled at 08:00, decided by the scheduler and
handed to the connectors by the outbox runner within the platform's documented limits.

What is timed is shequn's own work per action: the scheduler's pass at 08:00 (planning, building each group's report
from its log, writing runs and actions) and the runner (claims, limits, outcomes), with the connector's own time
taken out. Sending happens on a virtual clock, so the limits' waiting (10,000 posts at Telegram's 30 a second per
bot take more than five minutes) costs nothing real; the connector records the virtual time of every send and the
benchmark checks the windows afterwards.

Goal (issue 6): under 1 ms of scheduler overhead per action, every report handed over once, none outside the limits.
"""

from __future__ import annotations

import asyncio
import gc
import tempfile
import time
import zlib
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any, ClassVar

from shequn.bench.harness import Measurement, measure

GOAL_MS_PER_ACTION = 1.0
PROFILE = False


def _max_in_window(times: list[float], seconds: float) -> int:
    times.sort()
    best, j = 0, 0
    for i, t in enumerate(times):
        while t - times[j] >= seconds - 1e-9:
            j += 1
        best = max(best, i - j + 1)
    return best


def run_burst(groups: int, bots: int, per_community: int) -> tuple[int, float, dict[str, Any]]:
    from shequn.app import App
    from shequn.connectors import Connector, SendResult, sends
    from shequn.domain import Action, ActionKind, VirtualClock
    from shequn.outbox import DeliverySettings, OutboxRunner, Policies, VirtualTimer
    from shequn.playbook import load_playbook
    from shequn.playbook.models import LimitsBook
    from shequn.playbook.spec import CommunitySpec
    from shequn.schedule.service import SchedulerService

    class Recorder(Connector):
        """A platform that records when each action arrived (virtual time) and the real time it spent."""

        platform: ClassVar[str] = "fake"

        def __init__(self, clock: VirtualClock) -> None:
            self.clock = clock
            self.seen: list[tuple[str, str, str, float]] = []
            self.spent = 0.0

        @sends(ActionKind.POST)
        async def _post(self, action: Action) -> SendResult:
            t0 = time.perf_counter()
            self.seen.append((action.key, action.group, self.bot_of(action), self.clock.now().timestamp()))
            self.spent += time.perf_counter() - t0
            return SendResult(platform_id=str(len(self.seen)))

        def bot_of(self, action: Action) -> str:
            return f"bot{zlib.crc32(action.group.encode()) % bots}"

    # 08:00 in Shanghai on Monday 2 November 2026, and a moment before it.
    eight = datetime(2026, 11, 2, 0, 0, tzinfo=UTC)
    clock = VirtualClock(eight - timedelta(minutes=1))
    with tempfile.TemporaryDirectory() as tmp:
        app = App(str(Path(tmp) / "bench.db"), clock=clock)
        off = {j.key: {"enabled": j.key == "morning_report"} for j in load_playbook().rhythm.jobs}  # only the 早报
        n = 0
        while n < groups:
            size = min(per_community, groups - n)
            spec = CommunitySpec.model_validate(
                {
                    "name": f"社群{n // per_community:04d}",
                    "type": "growth",
                    "groups": [{"platform": "fake", "id": f"g{n + i:05d}", "name": f"群{n + i}"} for i in range(size)],
                    "rhythm": {"jobs": off},
                }
            )
            app.apply_spec(spec)
            n += size
        service = SchedulerService(app)
        service.tick()  # sets the cursor at 07:59
        telegram = next(p for p in load_playbook().limits.platforms if p.platform == "telegram")
        book = load_playbook().limits
        limits = LimitsBook(
            platforms=[
                *(p for p in book.platforms if p.platform != "fake"),
                telegram.model_copy(update={"platform": "fake"}),
            ],
            fallback=book.fallback,
        )
        clock.set(eight + timedelta(seconds=1))
        gc.collect()
        started = time.perf_counter()
        if PROFILE:
            import cProfile

            prof = cProfile.Profile()
            prof.enable()
        report = service.tick()
        if PROFILE:
            prof.disable()
            prof.dump_stats("/tmp/sched.prof")
        scheduled = time.perf_counter() - started
        recorder = Recorder(clock)
        runner = OutboxRunner(
            app.store,
            app.ws.id,
            {"fake": recorder},
            timer=VirtualTimer(clock),
            policies=Policies(limits),
            settings=DeliverySettings(batch=2000, concurrency=256),
        )
        started = time.perf_counter()
        if PROFILE:
            prof = cProfile.Profile()
            prof.enable()
        stats = asyncio.run(runner.run(until_idle=True))
        if PROFILE:
            prof.disable()
            prof.dump_stats("/tmp/runner.prof")
        delivered = time.perf_counter() - started - recorder.spent
        with app.store.transaction() as conn:
            counts = app.store.actions.count_by_status(conn, app.ws.id)
        app.close()
    keys = Counter(k for k, _, _, _ in recorder.seen)
    per_bot: dict[str, list[float]] = {}
    per_group: dict[str, list[float]] = {}
    for _, g, b, t in recorder.seen:
        per_bot.setdefault(b, []).append(t)
        per_group.setdefault(g, []).append(t)
    worst_bot = max((_max_in_window(ts, 1.0) for ts in per_bot.values()), default=0)
    worst_group = max((_max_in_window(ts, 60.0) for ts in per_group.values()), default=0)
    first = min((t for *_, t in recorder.seen), default=0.0)
    last = max((t for *_, t in recorder.seen), default=0.0)
    handed = len(recorder.seen)
    floor = (groups / (30 * bots)) - 1  # the fastest the bot windows allow
    extra = {
        "groups": groups,
        "bots": bots,
        "enqueued": report.actions,
        "handed_over": handed,
        "distinct": len(keys),
        "twice": sum(1 for c in keys.values() if c > 1),
        "statuses": counts,
        "scheduler_s": round(scheduled, 3),
        "runner_s": round(delivered, 3),
        "connector_s": round(recorder.spent, 3),
        "ms_per_action": round(1000 * (scheduled + delivered) / max(handed, 1), 4),
        "worst_per_bot_per_s": worst_bot,
        "worst_per_group_per_min": worst_group,
        "virtual_makespan_s": round(last - first, 1),
        "makespan_floor_s": round(max(floor, 0), 1),
        "first_at": datetime.fromtimestamp(first, UTC).isoformat() if first else "",
        "runner_steps": stats.steps,
    }
    return handed, scheduled + delivered, extra


def run(groups: int = 10_000, bots: int = 1, per_community: int = 100) -> list[Measurement]:
    return [
        measure(
            f"{groups:,} 早报 at 08:00, {bots} bot(s)",
            run_burst,
            groups,
            bots,
            per_community,
            goal_per_s=1000 / GOAL_MS_PER_ACTION,
        )
    ]


__all__ = ["run", "run_burst"]
