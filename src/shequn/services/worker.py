"""The worker (工作进程, ``shequn worker``): runs the engine for the communities of the shards it holds, on PostgreSQL.

How it works:
    A worker registers itself and, with each heartbeat (a third of the lease), renews its leases and takes its fair
    share of the shards: at most ceil(N / live workers), giving back what is over it, so a new worker gets shards
    without restarting the others and a dead worker's shards are taken over when their leases expire
    (:mod:`shequn.store.shards`). Then, shard by shard, one transaction per micro-batch (up to ``batch`` events):
    fence (the shard's lease row locked if still held with the same generation), read the shard's events after its
    offset in log order, run the engine of each workspace's communities of the shard, and commit the derived state,
    the outbox actions and the new offset together. A batch that fails leaves nothing behind (the in-memory engine
    is dropped and reloaded from the store), so every event is processed exactly once with respect to the store.

    Shared state (one workspace's blacklist and learned classifier, ``SetState(shared=True)``) is read from the
    store at the start of each batch and written with row-level upserts; a batch that changes it also moves the
    workspace's shared-state version from the one it read, and when another shard's batch moved it meanwhile the
    batch is rolled back and done again on the newer state: no update of another shard is overwritten. A batch that
    only reads it sees what was committed when it began (another shard's update is seen from the next batch on).

Things to keep in mind:
    * An event logged more than ``history_ms`` after it happened (an import, a very late backfill) is history: its
      actions are decided, not sent, as :meth:`App.catch_up` does.
    * Time-driven policies run per shard (:meth:`Worker.tick`): the tick is logged naming the shard's communities
      of the workspace, so a replay runs them for those only, at the same place in the log.
    * Scheduled jobs run per shard too (:meth:`Worker.jobs`, :mod:`shequn.services.scheduler`): the rhythm (早报,
      晚报, topics, a guest talk's run-of-show, cron jobs) and the growth and selling passes of the shard's
      communities, by the shard's lease holder, fenced like a batch: each runs once across the workers.
"""

from __future__ import annotations

import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import orjson
from sqlalchemy import Connection, text
from sqlalchemy.exc import InterfaceError, OperationalError

from shequn.app import App
from shequn.domain import Action, Clock, SystemClock, UserError, event_from_dict
from shequn.engine import Engine
from shequn.i18n import t
from shequn.outbox.order import settle
from shequn.policies import Policy, default_policies
from shequn.store import Store, normalize_url
from shequn.store._sql import to_ms
from shequn.store.shards import DEFAULT_SHARDS, LeaseLostError, LogEntry, fair_share, log_order_lock, shard_of

log = logging.getLogger("shequn.worker")


@dataclass(frozen=True, slots=True)
class WorkerOptions:
    """How a worker runs: the shard count (used when the database has none yet), lease, batch and idle wait."""

    shards: int | None = None  # None: the database's count, or DEFAULT_SHARDS for a new deployment
    lease_ms: int = 10_000
    batch: int = 500
    idle_ms: int = 100
    history_ms: int = 3_600_000
    tick_ms: int = 15_000  # how often the time-driven policies and the scheduled jobs run for the held shards


@dataclass(slots=True)
class _Loaded:
    engine: Engine
    generation: int
    config_key: object


class _SharedConflictError(Exception):
    """Another shard changed the workspace's shared state after this batch read it: do the batch again."""


class Worker:
    """One worker process's loop (see the module docstring).

    Args:
        db: a PostgreSQL URL (SQLite is refused: ``shequn run`` is its one process).
        options: see :class:`WorkerOptions`.
        worker_id: a name unique among the workers (default: host, process id and a random suffix).
        policies: the policies to run (default: :func:`shequn.policies.default_policies`).
        clock: the time the scheduled jobs and time-driven policies run at (a virtual clock in tests).
    """

    def __init__(
        self,
        db: str | None,
        *,
        options: WorkerOptions | None = None,
        worker_id: str | None = None,
        policies: Sequence[Policy] | None = None,
        clock: Clock | None = None,
    ) -> None:
        self.clock = clock or SystemClock()
        self.options = options or WorkerOptions()
        if normalize_url(db).startswith("sqlite"):  # refused before anything is opened or created
            raise UserError(t("worker.sqlite", None), exit_code=2)
        self.store = Store(db)
        self.id = worker_id or f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"
        self.policies = list(default_policies() if policies is None else policies)
        asked = self.options.shards
        with self.store.transaction() as conn:
            stored = self.store.shards.configured(conn)
            if stored is not None and asked is not None and asked != stored:
                self.store.close()
                raise UserError(t("worker.shards_fixed", None, stored=stored, asked=asked), exit_code=2)
            self.shards = self.store.shards.configure(conn, asked or stored or DEFAULT_SHARDS, now_ms=_now_ms())
        self.held: dict[int, int] = {}  # shard → fencing generation
        self.processed = 0
        # CPU seconds of this thread by stage, measured: the engine (decoding the events and running the policies)
        # and everything else of the event batches (reading them, fencing, writing state, outbox and offset).
        self.cpu = {"engine": 0.0, "commit": 0.0}
        self._apps: dict[int, App] = {}
        self._engines: dict[tuple[int, int], _Loaded] = {}  # (workspace id, shard) → its engine
        self._cursors: dict[int, int] = {}  # workspace id → the seq its one-process engine had reached
        self._quiet_at = -1  # the log's last seq when every held shard had read all of it
        self._next_beat = 0.0
        self._next_tick = 0.0
        self._engine_cpu = 0.0  # the engine's share of the current step
        # workspace id → (its configuration's source, community name → id), read once per step for all its shards
        self._seen: dict[int, tuple[object, dict[str, int]]] = {}

    # -- leases -------------------------------------------------------------------------------------------------

    def heartbeat(self) -> None:
        """Say we are alive, renew our leases, and take or give back shards to hold our fair share."""
        shards, ttl = self.store.shards, self.options.lease_ms
        with self.store.transaction() as conn:
            shards.beat(conn, self.id, host=socket.gethostname(), pid=os.getpid())
            held = shards.renew(conn, self.id, ttl_ms=ttl)
            target = fair_share(self.shards, shards.live_workers(conn, ttl))
            if len(held) > target:
                extra = sorted(held)[target:]
                shards.release(conn, self.id, extra)
                for s in extra:
                    del held[s]
            elif len(held) < target:
                held.update(shards.claim(conn, self.id, target - len(held), ttl_ms=ttl))
        for s in set(self.held) | set(held):
            if self.held.get(s) != held.get(s):
                self._drop(s)
                self._quiet_at = -1
        self.held = held

    def close(self) -> None:
        """Give every shard back and unregister (on SIGTERM): the others take them at their next heartbeat."""
        try:
            with self.store.transaction() as conn:
                self.store.shards.release(conn, self.id, sorted(self.held))
                self.store.shards.forget(conn, self.id)
            self.held = {}
        finally:
            self.store.close()

    # -- processing ---------------------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Heartbeat and process until ``stop`` is set, then give the shards back."""
        try:
            while not stop.is_set():
                try:
                    done = self._round()
                except (OperationalError, InterfaceError) as exc:  # the database went away: retry, keep the leases
                    log.warning("worker %s: database unavailable (%s); retrying", self.id, str(exc).splitlines()[0])
                    stop.wait(1.0)
                    continue
                if done == 0:
                    stop.wait(self.options.idle_ms / 1000)
        finally:
            self.close()

    def _round(self) -> int:
        if time.monotonic() >= self._next_beat:
            self.heartbeat()
            self._next_beat = time.monotonic() + self.options.lease_ms / 3000
        done = self.step()
        if time.monotonic() >= self._next_tick:
            now = self.clock.now()
            self.tick(now)
            self.jobs(now)
            self._next_tick = time.monotonic() + self.options.tick_ms / 1000
        return done

    def step(self) -> int:
        """One micro-batch for each held shard with new events; return how many events were processed."""
        if not self.held:
            return 0
        cpu = time.thread_time()
        with self.store.transaction() as conn:
            top = self.store.shards.last_seq(conn)
            if top == self._quiet_at:
                return 0
            pending = self.store.shards.pending(conn, sorted(self.held), self.shards, per_shard=self.options.batch)
            # A held shard with nothing after its offset up to top (read before `pending`, and appends commit in seq
            # order) can skip to top: left behind (a shard no community hashes to stays at 0), its offset would make
            # every step read the log's tail from there.
            self.store.shards.skip_to(conn, [s for s in self.held if s not in pending], self.id, top)
        self._seen = {}
        done, again = 0, False
        for shard, (after, entries) in sorted(pending.items()):
            generation = self.held.get(shard)
            if generation is None:
                continue
            n = self._process(shard, generation, after, entries)
            done += max(n, 0)
            again = again or n < 0 or n >= self.options.batch
        if not again:
            self._quiet_at = top  # every held shard has read the log up to top
        if done:
            self.cpu["commit"] += time.thread_time() - cpu - self._engine_cpu
        self._engine_cpu = 0.0
        return done

    def _process(self, shard: int, generation: int, after: int, entries: list[LogEntry]) -> int:
        """One fenced batch of the shard (``entries``, read after offset ``after``); return the events processed
        (-1: to be done again)."""
        try:
            with self.store.transaction() as conn:
                offset = self.store.shards.fence(conn, shard, self.id, generation)
                if offset is not None and offset != after:
                    self._drop(shard)  # the shard moved on since the read: read again, from the store
                    return -1
                if offset is not None:
                    by_ws: dict[int, list[LogEntry]] = {}
                    for entry in entries:
                        by_ws.setdefault(entry.workspace_id, []).append(entry)
                    for ws_id, items in by_ws.items():
                        self._apply(conn, ws_id, shard, generation, items)
                    self.store.shards.advance(conn, shard, entries[-1].seq)
        except _SharedConflictError:
            self._drop(shard)
            return -1  # done again at the next step, on the newer shared state
        except BaseException:
            self._drop(shard)
            raise
        if offset is None:  # taken over (our lease expired): hold it no more
            log.warning("worker %s lost shard %d", self.id, shard)
            self.held.pop(shard, None)
            self._drop(shard)
            return 0
        self.processed += len(entries)
        return len(entries)

    def tick(self, now: datetime) -> int:
        """Run the time-driven policies at ``now`` for the communities of each held shard that has processed every
        event logged so far (the log's appends wait meanwhile, so the tick is logged right after the events it
        follows, as a replay will see it); return how many ticks were logged."""
        now = now.replace(microsecond=now.microsecond // 1000 * 1000)  # the store keeps milliseconds
        self._seen = {}
        with self.store.transaction() as conn:
            rows = conn.execute(text("SELECT workspace_id, id FROM community")).all()
        logged = 0
        for shard, generation in sorted(self.held.items()):
            spaces = sorted({ws for ws, cid in rows if shard_of(cid, self.shards) == shard})
            if spaces:
                try:
                    logged += self._tick(shard, generation, spaces, now)
                except _SharedConflictError:
                    self._drop(shard)  # ticked again at the next pass
                except BaseException:
                    self._drop(shard)
                    raise
        return logged

    def _tick(self, shard: int, generation: int, spaces: list[int], now: datetime) -> int:
        store, logged = self.store, 0
        with store.transaction() as conn:
            offset = store.shards.fence(conn, shard, self.id, generation)
            if offset is None:
                return 0
            log_order_lock(conn)
            if store.shards.read(conn, shard, self.shards, after=offset, limit=1):
                return 0  # events to process first: the tick waits for the next pass
            for ws_id in spaces:
                engine, version = self._begin(conn, ws_id, shard, generation)
                tick, actions = engine.tick(now, sorted(engine.config.communities))
                if tick is not None:
                    store.events.append(conn, ws_id, [tick], now_ms=_now_ms())
                    self._commit(conn, ws_id, engine, version, actions)
                    logged += 1
        return logged

    def jobs(self, now: datetime) -> int:
        """Run the scheduled jobs due by ``now`` of the held shards' communities, one pass per workspace (see
        :mod:`shequn.services.scheduler`); return how many actions they put in the outbox."""
        from shequn.services.scheduler import run_shard_jobs

        with self.store.transaction() as conn:
            rows = conn.execute(text("SELECT workspace_id, id, name FROM community")).all()
        first: dict[int, int] = {}
        mine: dict[int, dict[str, int]] = {}  # workspace → its communities in held shards, name → id
        for ws, cid, name in rows:
            first[ws] = min(first.get(ws, cid), cid)
            if shard_of(cid, self.shards) in self.held:
                mine.setdefault(ws, {})[str(name)] = int(cid)
        enqueued = 0
        for ws_id, names in sorted(mine.items()):
            while True:  # again without a shard found lost, until none of the workspace's is left
                held = {
                    s: g
                    for s in {shard_of(c, self.shards) for c in names.values()}
                    if (g := self.held.get(s)) is not None
                }
                if not held:
                    break
                ours = {n: c for n, c in names.items() if shard_of(c, self.shards) in held}
                try:
                    with self.store.transaction() as conn:
                        self._fence(held)(conn)  # lost while we looked away: let it go before doing anything
                    report = run_shard_jobs(
                        self._app(ws_id),
                        shards=tuple(sorted(held)),
                        communities=ours,
                        own_workspace=shard_of(first[ws_id], self.shards) in held,
                        fence=self._fence(held),
                        now=now,
                    )
                except LeaseLostError as lost:
                    shard = int(lost.args[0])
                    log.warning("worker %s lost shard %d", self.id, shard)
                    self.held.pop(shard, None)
                    self._drop(shard)
                    continue
                except (OperationalError, InterfaceError):
                    raise  # the database went away: the loop retries
                except Exception:  # one workspace's failing job does not stop the others; tried again next pass
                    log.exception("worker %s: scheduled jobs of workspace %d failed", self.id, ws_id)
                    break
                enqueued += report.rhythm.actions + sum(report.growth.values())
                break
        return enqueued

    def _fence(self, held: dict[int, int]) -> Callable[[Connection], None]:
        """Lock the rows of the shards ``held`` (shard → generation) if still ours, else raise LeaseLostError."""

        def check(conn: Connection) -> None:
            for shard, generation in sorted(held.items()):
                if self.store.shards.fence(conn, shard, self.id, generation) is None:
                    raise LeaseLostError(shard)

        return check

    def _begin(self, conn: Connection, ws_id: int, shard: int, generation: int) -> tuple[Engine, int]:
        """The workspace's engine for the shard, with the shared state as committed now and its version."""
        engine = self._engine(conn, self._app(ws_id), shard, generation)
        version = self.store.shards.shared_version(conn, ws_id)  # before the rows: newer rows make a conflict
        engine.state.workspace = self.store.state.load_shared(conn, ws_id)
        return engine, version

    def _apply(self, conn: Connection, ws_id: int, shard: int, generation: int, items: list[LogEntry]) -> None:
        """Run one workspace's events of the shard through its engine and write what they changed."""
        handed_over = self._handed_over(conn, ws_id)
        items = [entry for entry in items if entry.seq > handed_over]
        if not items:
            return
        engine, version = self._begin(conn, ws_id, shard, generation)
        actions: list[Action] = []
        history = self.options.history_ms
        cpu = time.thread_time()
        for entry in items:
            decided = engine.handle(event_from_dict(orjson.loads(entry.payload)))
            if entry.ingested_ms - entry.at_ms <= history:
                actions.extend(decided)
        spent = time.thread_time() - cpu
        self._engine_cpu += spent
        self.cpu["engine"] += spent
        self._commit(conn, ws_id, engine, version, actions)

    def _handed_over(self, conn: Connection, ws_id: int) -> int:
        """The last event the workspace's engine processed before workers were set up (its cursor, which moves no
        more: :meth:`shequn.store.shards.ShardStore.one_process`); the workers process only what follows it."""
        seq = self._cursors.get(ws_id)
        if seq is None:
            seq = self._cursors[ws_id] = self.store.state.cursor(conn, ws_id)[0]
        return seq

    def _commit(self, conn: Connection, ws_id: int, engine: Engine, version: int, actions: list[Action]) -> None:
        """Write what the engine changed, check the shared state was not changed meanwhile, fill the outbox."""
        store = self.store
        app = self._app(ws_id)
        dirty = engine.take_dirty()
        cids = self._workspace(conn, app)[1]
        store.state.save(
            conn,
            ws_id,
            engine.state,
            community_ids=cids,
            members=dirty.members,
            groups=dirty.groups,
            communities=dirty.communities,
            policy=dirty.policy,
            last_seq=0,  # unused: the shard's offset is the cursor
            now_ms=_now_ms(),
            workspace=dirty.workspace,
            presence=dirty.presence,
            cursor=False,
        )
        if dirty.ledger:
            store.points.record(conn, ws_id, dirty.ledger, community_ids=cids)
        if dirty.workspace and not store.shards.bump_shared(conn, ws_id, version):
            raise _SharedConflictError
        app.enqueue_actions(conn, settle(actions), engine=engine)

    def _app(self, ws_id: int) -> App:
        app = self._apps.get(ws_id)
        if app is None:
            with self.store.transaction() as conn:
                name = conn.execute(text("SELECT name FROM workspace WHERE id = :id"), {"id": ws_id}).scalar_one()
            app = self._apps[ws_id] = App(
                workspace=str(name), policies=self.policies, store=self.store, clock=self.clock
            )
        return app

    def _engine(self, conn: Connection, app: App, shard: int, generation: int) -> Engine:
        """The engine of the workspace's communities in ``shard``: kept between batches while we hold the shard
        with the same generation and the configuration is unchanged (nobody else writes their state meanwhile)."""
        key = (app.ws.id, shard)
        config_key = self._workspace(conn, app)[0]
        loaded = self._engines.get(key)
        if loaded is None or loaded.generation != generation or loaded.config_key != config_key:
            ids = {i for i in self._workspace(conn, app)[1].values() if shard_of(i, self.shards) == shard}
            state = self.store.state.load(conn, app.ws.id, community_ids=ids)
            engine = Engine(app.workspace_config(conn, only=ids), self.policies, state=state, ledger=True)
            engine.take_dirty()
            loaded = self._engines[key] = _Loaded(engine, generation, config_key)
        return loaded.engine

    def _workspace(self, conn: Connection, app: App) -> tuple[object, dict[str, int]]:
        """What the workspace's configuration is built from and its communities' ids, read once per step (a change
        is seen from the next step on, as a change made during a batch is)."""
        seen = self._seen.get(app.ws.id)
        if seen is None:
            seen = self._seen[app.ws.id] = (app._config_source(conn), self.store.communities.ids(conn, app.ws.id))
        return seen

    def _drop(self, shard: int) -> None:
        for key in [k for k in self._engines if k[1] == shard]:
            del self._engines[key]


def check_replay(app: App) -> tuple[bool, int, int]:
    """(With workers) whether the saved state equals a replay of the log: (same, events replayed, events the workers
    have not processed yet). The workspace's event counter is left out: each shard counts its own."""
    from shequn.engine import replay

    with app.store.transaction() as conn:
        lag = sum(r.lag for r in app.store.shards.rows(conn, workspace_id=app.ws.id))
        cfg = app.workspace_config(conn)
    engine = replay(cfg, app.events(), app.policies)
    replayed, saved = engine.state.to_dict(), app.saved_state().to_dict()
    replayed.pop("events")
    saved.pop("events")
    return replayed == saved, engine.state.events, lag


def _now_ms() -> int:
    return to_ms(datetime.now(UTC))
