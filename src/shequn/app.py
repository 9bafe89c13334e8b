"""The application: builds the store, engine and routing with plain constructors, and offers the operations the
command line and the web share (communities, the ingest pipeline, replay, export).

How it works:
    ``ingest`` is the one path for events: append to the log (duplicates drop out), run the engine over the new
    ones, save the derived state that changed, and put the external actions in the outbox, or on a person's queue
    when the platform forbids the bot (a staff task with the reason), all in one transaction. History (imports,
    simulations) takes the same path with its actions left unsent; bulk history may also be appended first and
    processed later by :meth:`App.catch_up`.

Things to keep in mind:
    * The engine lives in memory for the App's lifetime and continues from the saved state; if a transaction fails
      it is dropped and reloaded, so memory never runs ahead of the store.
    * One writer per workspace at a time (the embedded default is one process).
    * On PostgreSQL with workers set up (``shequn worker``, :mod:`shequn.services.worker`), this App only appends
      to the log (``workers`` is True): the workers run the engine, shard by shard. A process started before the
      first worker switches at its next engine run, without a restart (:meth:`_one_process`).
"""

from __future__ import annotations

import gc
import time
from collections import Counter
from collections.abc import Callable, Collection, Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from operator import itemgetter
from typing import IO

import orjson
from sqlalchemy import Connection

from shequn.connectors import StaffReason, batches_staff_tasks, describe, staff_reason
from shequn.domain import Action, Clock, Event, LogRow, Message, SystemClock, UserError
from shequn.domain.state import State
from shequn.engine import Engine, WorkspaceConfig, build_community_config
from shequn.i18n import system_locale, t
from shequn.outbox.order import courtesy_to, settle, thrown_out
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec
from shequn.policies import GroupConfig, Policy, default_policies
from shequn.store import DEFAULT_WORKSPACE, ActionStatus, CommunityRecord, Store, WorkspaceInfo
from shequn.store._sql import to_ms
from shequn.store.communities import ApplyOutcome
from shequn.store.events import Appended

BATCH = 2000
FOLLOW_MAX = 5000  # events another process logged that refresh handles again, beyond which it reloads instead
WORKERS_SECONDS = 2.0  # how long a process trusts that no worker is set up, between engine runs
RowKey = tuple[str, str, str]  # (platform, group, kind)
_ROW_KEY = itemgetter(3, 4, 1)  # the RowKey of a log row (counted per batch in C, not a generator per row)


@contextmanager
def paused_gc() -> Iterator[None]:
    """Pause the cyclic garbage collector (for bulk work that makes no reference cycles)."""
    was = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was:
            gc.enable()


@dataclass(slots=True)
class IngestReport:
    """What one ingest did."""

    received: int = 0
    added: int = 0
    actions: int = 0  # external actions put in the outbox
    staff_tasks: int = 0
    unsent: int = 0  # actions decided on history, not sent
    by_kind: dict[str, int] = field(default_factory=dict)

    @property
    def duplicates(self) -> int:
        return self.received - self.added

    def merge(self, other: IngestReport) -> None:
        self.received += other.received
        self.added += other.added
        self.actions += other.actions
        self.staff_tasks += other.staff_tasks
        self.unsent += other.unsent
        for k, n in other.by_kind.items():
            self.by_kind[k] = self.by_kind.get(k, 0) + n


class App:
    """One workspace of one store.

    Args:
        db: database URL or path (None: ``$SHEQUN_DB`` or ``./shequn.db``).
        workspace: workspace name (created on first use).
        clock: the source of "now" (a virtual clock in tests).
        policies: the policies to run (default: :func:`shequn.policies.default_policies`).
    """

    def __init__(
        self,
        db: str | None = None,
        *,
        workspace: str = DEFAULT_WORKSPACE,
        clock: Clock | None = None,
        policies: Sequence[Policy] | None = None,
        store: Store | None = None,
    ) -> None:
        self.store = store or Store(db)
        self.clock = clock or SystemClock()
        self.policies = list(default_policies() if policies is None else policies)
        with self.store.transaction() as conn:
            self.ws: WorkspaceInfo = self.store.workspaces.ensure(
                conn, name=workspace, timezone="Asia/Shanghai", locale=system_locale(), now_ms=self.now_ms()
            )
        self._engine: Engine | None = None
        self._cursor = 0  # the last event seq the in-memory engine has processed
        self._config_key: object = None  # what the engine's configuration was built from (see refresh)
        # Workers run the engine (PostgreSQL with `shequn worker` set up): ingest only appends to the log.
        self._workers = False
        self._workers_checked = -WORKERS_SECONDS
        # Run first in every transaction(): a worker's fence, so a job's write is refused once its shard is lost.
        self.guard: Callable[[Connection], None] | None = None

    def now_ms(self) -> int:
        return to_ms(self.clock.now())

    @property
    def workers(self) -> bool:
        """Whether workers are set up (then ingest only appends): read from the store at most every
        WORKERS_SECONDS, for good once true. Every engine run checks again in its own transaction
        (:meth:`_one_process`), so a process started before the first worker stops running the engine at once."""
        if self._workers or self.store.db.is_sqlite:
            return self._workers
        if time.monotonic() - self._workers_checked >= WORKERS_SECONDS:
            with self.store.transaction() as conn:
                self._workers = self.store.shards.configured(conn) is not None
            self._workers_checked = time.monotonic()
        return self._workers

    def _one_process(self, conn: Connection) -> bool:
        """In an engine run's transaction: True when this process is to run the engine (no workers set up), with
        the shared mode lock held to the commit, so the first worker's set-up waits for this run and reads the
        cursor it saved (:meth:`shequn.store.shards.ShardStore.configure`); False (and for good) once workers are
        set up."""
        if self._workers:
            return False
        if self.store.db.is_sqlite:
            return True
        if self.store.shards.one_process(conn):
            return True
        self._workers = True
        self._engine = None
        return False

    def close(self) -> None:
        self.store.close()

    # -- communities --------------------------------------------------------------------------------------------

    def communities(self) -> list[CommunityRecord]:
        with self.store.transaction() as conn:
            return self.store.communities.list(conn, self.ws.id)

    def community(self, name: str) -> CommunityRecord:
        with self.store.transaction() as conn:
            record = self.store.communities.get(conn, self.ws.id, name=name)
        if record is None:
            known = ", ".join(c.name for c in self.communities()) or "none yet"
            raise UserError(f"no community named {name!r} in workspace {self.ws.name!r} (communities: {known})")
        return record

    def create_community(
        self, *, name: str, type: str, locale: str | None = None, timezone: str | None = None, actor: str = "cli"
    ) -> CommunityRecord:
        """Create a community of ``type`` with the playbook's defaults for that type."""
        from shequn.playbook.spec import parse_spec

        with self.store.transaction() as conn:
            if self.store.communities.get(conn, self.ws.id, name=name):
                raise UserError(f"community {name!r} already exists; use `shequn community apply` to change it")
        ctype = load_playbook().resolve_type(type)
        if ctype is None:
            raise UserError(
                f"unknown community type {type!r}; use one of: {'; '.join(load_playbook().type_names())}", exit_code=2
            )
        body = orjson.dumps(
            {
                "name": name,
                "type": ctype.key,
                "locale": locale or self.ws.locale,
                "timezone": timezone or self.ws.timezone,
            }
        ).decode()
        self.apply_spec(parse_spec(body, source="--name/--type"), actor=actor)
        return self.community(name)

    def apply_spec(self, spec: CommunitySpec, *, actor: str = "cli", source: str = "<spec>") -> ApplyOutcome:
        """Create or update the community ``spec`` names, bind its groups; idempotent."""
        build_community_config(
            spec, self.policies, source=source
        )  # policy settings are checked before anything is written
        now = self.now_ms()
        with self.store.transaction() as conn:
            cid, outcome = self.store.communities.put(conn, self.ws.id, spec, now_ms=now)
            for g in spec.groups:
                self.store.groups.bind(
                    conn,
                    self.ws.id,
                    community_id=cid,
                    community_name=spec.name,
                    platform=g.platform,
                    platform_id=g.id,
                    name=g.name,
                    role=g.role,
                    capacity=g.capacity,
                    now_ms=now,
                )
            if outcome != "unchanged":
                self.store.audit.record(
                    conn,
                    self.ws.id,
                    actor=actor,
                    verb=f"community.{outcome}",
                    object_type="community",
                    object_id=spec.name,
                    detail={"type": spec.type, "source": source},
                    now_ms=now,
                )
        self._engine = None
        return outcome

    def bind_group(self, community: str, *, platform: str, platform_id: str, name: str = "", role: str = "main") -> int:
        """Bind a chat group to a community (creating the group record if new)."""
        record = self.community(community)
        with self.store.transaction() as conn:
            gid = self.store.groups.bind(
                conn,
                self.ws.id,
                community_id=record.id,
                community_name=record.name,
                platform=platform,
                platform_id=platform_id,
                name=name,
                role=role,
                capacity=None,
                now_ms=self.now_ms(),
            )
        self._engine = None
        return gid

    # -- the pipeline -------------------------------------------------------------------------------------------

    def workspace_config(self, conn: Connection, only: Collection[int] | None = None) -> WorkspaceConfig:
        """The communities and bound groups of the workspace (with ``only``: of those community ids)."""
        cfg = WorkspaceConfig()
        for record in self.store.communities.list(conn, self.ws.id):
            if only is not None and record.id not in only:
                continue
            cfg.communities[record.name] = build_community_config(
                record.spec, self.policies, source=f"community {record.name}"
            )
        for g in self.store.groups.list(conn, self.ws.id):
            if g.community is not None and g.community in cfg.communities:
                cfg.bind(
                    GroupConfig(g.key, g.platform, g.platform_id, g.community, g.name, g.role, g.capacity, g.state)
                )
        return cfg

    @contextmanager
    def _transaction(self) -> Iterator[Connection]:
        """A store transaction; on failure the in-memory engine is dropped (it may be ahead of the store)."""
        try:
            with self.store.transaction() as conn:
                yield conn
        except BaseException:
            self._engine = None
            raise

    def _load_engine(self, conn: Connection) -> IngestReport:
        """Load the engine from the saved state and process what the log has beyond it (as history)."""
        engine = Engine(
            self.workspace_config(conn), self.policies, state=self.store.state.load(conn, self.ws.id), ledger=True
        )
        engine.take_dirty()
        self._engine = engine
        self._config_key = self._config_source(conn)
        self._cursor = self.store.state.cursor(conn, self.ws.id)[0]
        return self._process(
            conn, engine, self.store.events.scan(conn, self.ws.id, after_seq=self._cursor), history=True
        )

    def _engine_for(self, conn: Connection) -> Engine:
        if self._engine is None:
            self._load_engine(conn)
        assert self._engine is not None
        return self._engine

    def _process(
        self,
        conn: Connection,
        engine: Engine,
        events: Iterable[tuple[int, Event]],
        *,
        history: bool,
        report: IngestReport | None = None,
    ) -> IngestReport:
        report = report or IngestReport()
        chunk: list[Action] = []
        last = self._cursor
        for seq, event in events:
            actions = engine.handle(event)
            last = seq
            report.by_kind[event.kind.value] = report.by_kind.get(event.kind.value, 0) + 1
            if history:
                report.unsent += len(actions)
            else:
                chunk.extend(actions)
            if engine.dirty.members and len(engine.dirty.members) >= BATCH:
                self._save(conn, engine, last)
        self._save(conn, engine, last)
        # A member this batch removes or bans gets no welcome or rules DM decided in the same batch.
        self._enqueue(conn, settle(chunk), report)
        return report

    def _save(self, conn: Connection, engine: Engine, last_seq: int) -> None:
        dirty = engine.take_dirty()
        self._cursor = last_seq
        self.store.state.save(
            conn,
            self.ws.id,
            engine.state,
            community_ids=self.store.communities.ids(conn, self.ws.id),
            members=dirty.members,
            groups=dirty.groups,
            communities=dirty.communities,
            policy=dirty.policy,
            last_seq=last_seq,
            now_ms=self.now_ms(),
            workspace=dirty.workspace,
            presence=dirty.presence,
        )
        if dirty.ledger:
            self.store.points.record(
                conn, self.ws.id, dirty.ledger, community_ids=self.store.communities.ids(conn, self.ws.id)
            )

    def _enqueue(
        self, conn: Connection, actions: Sequence[Action], report: IngestReport, engine: Engine | None = None
    ) -> None:
        if not actions:
            return
        now = self.now_ms()
        cids = self.store.communities.ids(conn, self.ws.id)
        gids = self.store.groups.ids(conn, self.ws.id, {(a.platform, a.group) for a in actions if a.group}, now_ms=now)
        to_send: list[Action] = []
        to_staff: list[tuple[Action, StaffReason]] = []
        for a in actions:
            reason = staff_reason(a)
            if reason is None:
                to_send.append(a)
            else:
                to_staff.append((a, reason))
        report.actions += len(
            self.store.actions.enqueue(conn, self.ws.id, to_send, group_ids=gids, community_ids=cids, now_ms=now)
        )
        out = thrown_out(actions)
        if out:  # what earlier batches decided for them and is still waiting goes nowhere either
            waiting = self.store.actions.pending_words(conn, self.ws.id, sorted({p for p, _ in out}))
            self.store.actions.drop(conn, [i for i, w in waiting if courtesy_to(w, out)], reason="member removed")
        if to_staff:
            ids = self.store.actions.enqueue(
                conn,
                self.ws.id,
                [a for a, _ in to_staff],
                group_ids=gids,
                community_ids=cids,
                status=ActionStatus.STAFF,
                now_ms=now,
            )
            engine = engine or self._engine
            for a, reason in to_staff:
                if a.key not in ids:
                    continue  # decided before: its task exists already
                community = engine.config.communities.get(a.community) if engine else None
                locale = community.locale if community else self.ws.locale
                if reason is StaffReason.CAPABILITY_MISSING and batches_staff_tasks(a.platform):
                    self._batch_task(conn, a, reason, locale, ids[a.key], cids, gids, now)
                    report.staff_tasks += 1
                    continue
                self.store.tasks.open(
                    conn,
                    self.ws.id,
                    kind=a.kind.value,
                    reason=reason.value,
                    title=describe(reason, a, locale),
                    detail={"action": a.to_dict(compact=True)},
                    action_id=ids[a.key],
                    community_id=cids.get(a.community),
                    group_id=gids.get(f"{a.platform}:{a.group}"),
                    now_ms=now,
                )
                report.staff_tasks += 1

    def _batch_task(
        self,
        conn: Connection,
        a: Action,
        reason: StaffReason,
        locale: str,
        action_id: int,
        cids: dict[str, int],
        gids: dict[str, int],
        now: int,
    ) -> None:
        """Add ``a`` to its group's open batch of staff tasks, with the message that caused it as evidence."""
        item: dict[str, object] = {"reason": reason.value, "what": describe(reason, a, locale)}
        item["action"] = a.to_dict(compact=True)
        cause = self.store.events.get(conn, self.ws.id, a.cause) if a.cause else None
        if isinstance(cause, Message):
            item["evidence"] = {
                "at": cause.at.isoformat(),
                "actor": cause.actor,
                "actor_name": cause.actor_name,
                "message_id": cause.message_id,
                "content": cause.content.value,
                "text": cause.text[:500],
                "media": cause.media,
            }
        platform, group = a.platform, a.group
        self.store.tasks.add_to_batch(
            conn,
            self.ws.id,
            group_id=gids.get(f"{platform}:{group}"),
            item=item,
            title=lambda n: t("staff_task.batch", locale, platform=platform, group=group, n=n),
            action_id=action_id,
            community_id=cids.get(a.community),
            now_ms=now,
        )

    def enqueue_actions(
        self, conn: Connection, actions: Sequence[Action], *, engine: Engine | None = None
    ) -> IngestReport:
        """Put actions decided outside this App's engine (the scheduler's, a worker's ``engine``) in the outbox, in
        the caller's transaction; an action the platform forbids becomes a staff task, as in the pipeline."""
        report = IngestReport()
        self._enqueue(conn, actions, report, engine)
        return report

    def _append_only(self, conn: Connection, events: Sequence[Event]) -> IngestReport:
        """Workers mode: log the events (duplicates drop out); a worker runs the engine over them."""
        added = self.store.events.append(conn, self.ws.id, events, now_ms=self.now_ms(), with_seq=False)
        report = IngestReport(received=len(events), added=len(added))
        for _, e in added:
            report.by_kind[e.kind.value] = report.by_kind.get(e.kind.value, 0) + 1
        return report

    def ingest(self, events: Iterable[Event], *, history: bool = False) -> IngestReport:
        """Append events to the log and run them through the engine (see the module docstring)."""
        report = IngestReport()
        batch: list[Event] = []
        for e in events:
            batch.append(e)
            if len(batch) >= BATCH:
                report.merge(self._ingest_batch(batch, history=history))
                batch = []
        if batch:
            report.merge(self._ingest_batch(batch, history=history))
        return report

    def _ingest_batch(self, events: Sequence[Event], *, history: bool) -> IngestReport:
        with self._transaction() as conn:
            if not self._one_process(conn):
                return self._append_only(conn, events)
            engine = self._engine_for(conn)
            added = self.store.events.append(conn, self.ws.id, events, now_ms=self.now_ms())
            report = IngestReport(received=len(events), added=len(added))
            return self._process(conn, engine, added, history=history, report=report)

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        """A store transaction for a write that logs events with rows of its own (an order and its payment event):
        pass it to :meth:`ingest_in`; if anything fails, the rows, the events and the engine's state all roll back."""
        with self._transaction() as conn:
            if self.guard is not None:
                self.guard(conn)
            yield conn

    def ingest_in(self, conn: Connection, events: Sequence[Event]) -> IngestReport:
        """:meth:`ingest` in the caller's transaction (from :meth:`transaction`)."""
        if not self._one_process(conn):
            return self._append_only(conn, events)
        engine = self._engine_for(conn)
        added = self.store.events.append(conn, self.ws.id, events, now_ms=self.now_ms())
        report = IngestReport(received=len(events), added=len(added))
        return self._process(conn, engine, added, history=False, report=report)

    def refresh(self) -> None:
        """Bring the in-memory engine up to the saved state when that has moved on without it (another process of
        the same workspace wrote, e.g. a second web worker): the events the other process processed are handled
        again here, as history, and nothing is saved (the state they made is saved already). The engine is
        deterministic, so this gives what reloading the saved state gives, in the time of the few new events
        instead of the time to load every member (seconds for a thousand groups: with several workers, each write
        after another worker's waited for a reload). When the configuration changed (a spec, a binding), the
        process moved backwards, or the gap is large, the engine is dropped and reloaded on next use."""
        engine = self._engine
        if engine is None:
            return
        with self.store.transaction() as conn:
            cursor = self.store.state.cursor(conn, self.ws.id)[0]
            if cursor == self._cursor:
                return
            if cursor < self._cursor or cursor - self._cursor > FOLLOW_MAX:
                self._engine = None
                return
            if self._config_source(conn) != self._config_key:
                self._engine = None
                return
            try:
                for seq, event in self.store.events.scan(conn, self.ws.id, after_seq=self._cursor):
                    if seq > cursor:
                        break
                    engine.handle(event)
            except BaseException:
                self._engine = None
                raise
            engine.take_dirty()  # saved by the process that wrote them
            self._cursor = cursor

    def _config_source(self, conn: Connection) -> object:
        """What :meth:`workspace_config` is built from (the specs' hashes and the group bindings), cheaply."""
        heads = sorted(self.store.console.community_heads(conn, self.ws.id).items())
        groups = sorted(
            (g.key, g.community, g.name, g.role, g.capacity) for g in self.store.groups.list(conn, self.ws.id)
        )
        return (tuple(heads), tuple(groups))

    def append_history(
        self,
        events: Iterable[Event],
        *,
        atomic: bool = False,
        on_added: Callable[[list[Event]], None] | None = None,
        before_commit: Callable[[Connection], None] | None = None,
    ) -> IngestReport:
        """Append history to the log without running the engine (bulk loads); :meth:`catch_up` processes it.

        Args:
            events: the history, in the order to log it.
            atomic: one transaction for everything (an import: any error, from the store or from the iterator of
                ``events``, leaves the store exactly as before); otherwise a commit every 20,000 events.
            on_added: called with the events each batch added to the log (the new ones, duplicates left out).
            before_commit: (atomic only) called with the connection after the last batch, before the commit, to
                make further changes in the same transaction (binding the imported groups); the engine is then
                reloaded from the store on next use.

        The cyclic garbage collector is paused meanwhile: the load makes no reference cycles, and with millions of
        objects alive each collection would scan them all again.
        """
        report = IngestReport()
        batch: list[Event] = []

        def flush(conn: Connection) -> None:
            added = self.store.events.append(conn, self.ws.id, batch, now_ms=self.now_ms(), with_seq=False)
            report.received += len(batch)
            report.added += len(added)
            counts = report.by_kind
            for _, e in added:
                counts[e.kind] = counts.get(e.kind, 0) + 1
            if on_added is not None:
                on_added([e for _, e in added])
            batch.clear()

        def load(conn: Connection | None) -> None:
            for e in events:
                batch.append(e)
                if len(batch) >= 20_000:
                    if conn is None:
                        with self.store.transaction() as c:
                            flush(c)
                    else:
                        flush(conn)
            if batch:
                if conn is None:
                    with self.store.transaction() as c:
                        flush(c)
                else:
                    flush(conn)

        with paused_gc():
            if atomic:
                with self._transaction() as conn:
                    load(conn)
                    if before_commit is not None:
                        before_commit(conn)
                        self._engine = None
            else:
                load(None)
        report.by_kind = {str(k): n for k, n in report.by_kind.items()}
        return report

    def append_rows(
        self,
        batches: Iterable[list[LogRow]],
        *,
        on_batch: Callable[[dict[RowKey, int], dict[RowKey, int]], None] | None = None,
        before_commit: Callable[[Connection], None] | None = None,
        expected: int = 0,
        sink: Appended | None = None,
    ) -> IngestReport:
        """Append history given as log rows (:mod:`shequn.domain.logrow`) in one transaction, without running the
        engine (:meth:`catch_up` processes it): the import path.

        Any error, from the store or from the iterator of ``rows``, leaves the store exactly as before.

        Args:
            batches: the history, in the order to log it, in lists of rows (a list is written at once: a few
                thousand rows each).
            on_batch: called after each batch with what it received and what it added to the log (duplicates left
                out), counted by (platform, group, kind); a correction at the end may count negatively.
            before_commit: called with the connection after the last batch, before the commit, to make further
                changes in the same transaction (binding the imported groups); the engine is then reloaded from the
                store on next use.
            expected: about how many rows are coming (0: unknown); a load much bigger than the log lets the store
                build the log's indexes once at the end instead of row by row (:meth:`EventStore.bulk_load`).
            sink: receives the rows added with their sequence numbers, and those a bulk load removed again (the
                analytics snapshot's import parts, :class:`shequn.analytics.source.ImportParts`).
        """
        report = IngestReport()
        events = self.store.events
        ws = self.ws.id
        now = self.now_ms()

        def flush(conn: Connection, batch: list[LogRow], unique: bool) -> None:
            added = events.append_rows(conn, ws, batch, now_ms=now, unique=unique, sink=sink)
            report.received += len(batch)
            report.added += len(added)
            if on_batch is not None:
                received = Counter(map(_ROW_KEY, batch))
                on_batch(received, received if len(added) == len(batch) else Counter(map(_ROW_KEY, added)))

        with paused_gc(), self._transaction() as conn:
            with events.bulk_load(conn, expected) as load:
                for batch in batches:
                    flush(conn, batch, load.unique)
                removed = load.finish()
                if sink is not None and load.removed_seqs:
                    sink.drop(load.removed_seqs)
            if removed:
                report.added -= sum(removed.values())
                if on_batch is not None:
                    on_batch({}, {k: -n for k, n in removed.items()})
            if before_commit is not None:
                before_commit(conn)
            self._engine = None
        return report

    def catch_up(self) -> IngestReport:
        """Process every logged event the saved state has not seen yet (as history: nothing is sent). With
        workers, they do it (nothing here)."""
        if self.workers:
            return IngestReport()
        with self._transaction() as conn:
            if not self._one_process(conn):
                return IngestReport()
            if self._engine is None:
                return self._load_engine(conn)
            scan = self.store.events.scan(conn, self.ws.id, after_seq=self._cursor)
            return self._process(conn, self._engine, scan, history=True)

    def tick(self, now: datetime | None = None) -> IngestReport:
        """Run the time-driven policies; log the tick if they decided something and send what they decided."""
        now = now or self.clock.now()
        if self.workers:
            return IngestReport()  # each worker ticks the communities of its shards
        with self._transaction() as conn:
            if not self._one_process(conn):
                return IngestReport()
            engine = self._engine_for(conn)
            tick, actions = engine.tick(now)
            report = IngestReport()
            if tick is None:
                return report
            added = self.store.events.append(conn, self.ws.id, [tick], now_ms=self.now_ms())
            self._save(conn, engine, added[0][0] if added else self._cursor)
            self._enqueue(conn, actions, report)
            return report

    def rebuild(self) -> IngestReport:
        """Forget the saved state and replay the whole log into it."""
        if self.workers:
            raise UserError(t("worker.no_rebuild", None))
        with self.store.transaction() as conn:
            self.store.state.clear(conn, self.ws.id)
        self._engine = None
        return self.catch_up()

    def saved_state(self) -> State:
        with self.store.transaction() as conn:
            return self.store.state.load(conn, self.ws.id)

    def events(self) -> Iterator[Event]:
        """The whole log, in order."""
        with self.store.transaction() as conn:
            for _, e in self.store.events.scan(conn, self.ws.id):
                yield e

    def export_events(self, out: IO[bytes], *, kinds: set[str] | None = None) -> int:
        """Write the log as JSON Lines (the stable, full form of each event); return how many were written."""
        n = 0
        for e in self.events():
            if kinds and e.kind.value not in kinds:
                continue
            out.write(orjson.dumps(e.to_dict()) + b"\n")
            n += 1
        return n
