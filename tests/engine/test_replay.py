"""Replaying the event log into an empty state gives exactly the state the live run produced.

The live run takes simulated activity as it would arrive (small batches, each in its own transaction, with the
clock ticking in between) on SQLite and on a real PostgreSQL; the replay reads the log back into a fresh engine.
"""

from __future__ import annotations

from itertools import islice
from typing import ClassVar

from shequn.app import App
from shequn.domain import EventKind, SetState, Tag, VirtualClock
from shequn.engine import replay
from shequn.policies import NOTHING, Context, Decision, Policy, default_policies
from shequn.simulator import simulate


class TagTalkers(Policy):
    """Tags a member who has sent 20 messages, and remembers per day how many joins it saw (policy state)."""

    name: ClassVar[str] = "test_talkers"
    kinds = frozenset({EventKind.MESSAGE, EventKind.JOIN})

    def decide(self, ctx: Context) -> Decision:
        e, m = ctx.event, ctx.member
        assert e is not None
        if e.kind is EventKind.JOIN:
            day = e.at.date().isoformat()
            return Decision((ctx.act(SetState, scope=self.name, name=day, value=int(ctx.scope.get(day, 0)) + 1),))
        if m is not None and m.messages == 20:
            return Decision((ctx.act(Tag, target=e.actor, tag="talker"),))
        return NOTHING


class Nightly(Policy):
    """On ticks: once a day after 20:00 UTC, count the members (a time-driven decision that must replay)."""

    name: ClassVar[str] = "test_nightly"
    ticks = True

    def on_tick(self, ctx: Context) -> Decision:
        day = ctx.now.date().isoformat()
        if ctx.now.hour < 20 or day in ctx.scope:
            return NOTHING
        return Decision((ctx.act(SetState, scope=self.name, name=day, value=len(ctx.community.members)),))


def test_replay_equals_the_live_run(db_url: str) -> None:
    sim = simulate(groups=12, days=4, seed=11)
    policies = [*default_policies(), TagTalkers(), Nightly()]
    clock = VirtualClock(sim.start)
    app = App(db_url, clock=clock, policies=policies)
    for spec in sim.specs:
        app.apply_spec(spec)
    events = iter(sim.events())
    total = 0
    while batch := list(islice(events, 53)):
        app.ingest(batch)
        total += len(batch)
        clock.set(max(clock.now(), batch[-1].at))
        app.tick()  # the clock ticks between arrivals, as in a live run
    saved = app.saved_state()
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
        logged_ticks = app.store.events.count_by_kind(conn, app.ws.id).get("tick", 0)
    replayed = replay(cfg, app.events(), policies)
    assert total > 1000 and logged_ticks >= 3
    assert saved.events == total + logged_ticks
    assert replayed.state.to_dict() == saved.to_dict()
    # The state is not trivially empty: members, tags, policy state and group counters all made it.
    community = next(iter(saved.communities.values()))
    assert community.members and any(m.tags for c in saved.communities.values() for m in c.members.values())
    assert any("test_nightly" in c.policy for c in saved.communities.values())
    app.close()
