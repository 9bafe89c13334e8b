"""Scheduled jobs under workers (定时任务): the rhythm, the run-of-show and the growth and selling passes of a shard's
communities, run by the shard's lease holder, so each runs once however many ``shequn worker`` processes are up.

How it works:
    :func:`run_shard_jobs` runs, for one workspace's communities of the shards a worker holds, what ``shequn run``
    runs for a whole workspace on SQLite (one pass per workspace, not per shard: its cost grows with the
    communities, not with the shards): a scheduler pass (:class:`~shequn.schedule.service.SchedulerService` with a
    :class:`~shequn.schedule.service.Scope`: a cursor per shard) and a growth pass
    (:func:`~shequn.services.live.growth_pass`: referral settlements, group-fill targets, group-buys that did not
    form). Every transaction that records what a job decided checks the shards' leases first (owner and fencing
    generation, rows locked until commit): a worker whose lease expired mid-way records nothing
    (:class:`~shequn.store.shards.LeaseLostError`), and the next holder starts from the last committed cursor. The
    jobs' keys (runs, settlements, actions) are unique in the store as well, so even a pass repeated after a crash
    between its steps decides nothing twice.

Things to keep in mind:
    * The workspace's own jobs (products without a community) belong to the shard of its first community (lowest id).
    * The jobs read the clock of the workspace's ``App`` (a virtual clock in tests): ``now`` is passed in.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Connection

from shequn.app import App
from shequn.schedule.service import PassReport, SchedulerService, Scope
from shequn.services.live import growth_pass


@dataclass(slots=True)
class JobsReport:
    """What one pass of the jobs decided for one workspace."""

    rhythm: PassReport = field(default_factory=PassReport)
    growth: dict[str, int] = field(default_factory=dict)

    @property
    def enqueued(self) -> bool:
        return bool(self.rhythm.actions or any(self.growth.values()))


def run_shard_jobs(
    app: App,
    *,
    shards: tuple[int, ...],
    communities: dict[str, int],
    own_workspace: bool,
    fence: Callable[[Connection], None],
    now: datetime,
) -> JobsReport:
    """Run the workspace's jobs of ``communities`` (those of ``shards``, name → id) due by ``now``; ``fence`` raises
    :class:`~shequn.store.shards.LeaseLostError` when a shard's lease is lost (see the module docstring)."""
    report = JobsReport()
    scope = Scope(shards, frozenset(communities), frozenset(communities.values()), fence)
    report.rhythm = SchedulerService(app, scope=scope).tick(now)
    app.guard = fence  # the growth and shop services write through app.transaction()
    try:
        names: set[str | None] = set(communities)
        if own_workspace:
            names.add(None)
        report.growth = growth_pass(app, now, communities=names)
    finally:
        app.guard = None
    return report
