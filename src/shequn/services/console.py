"""Operations (运营操作) the console, the API and the command line share: what the pages show and what operators do.

Reads build page-shaped models from the store's read models (:mod:`shequn.store.console`). Writes go through the
app's pipeline: a tag is an :class:`~shequn.domain.OperatorAction` event in the log (so a replay keeps it), a message
or an invitation is an action in the outbox under an idempotency key (or a staff task where the platform forbids the
bot), an order from a shop is an :class:`~shequn.domain.Order` event; each is written to the audit log with who did it.

Things to keep in mind:
    * Writes hold :class:`WriteLock` (threads and processes alike) and first let the app catch up with another
      process's writes (:meth:`App.refresh`): one writer per workspace on SQLite, and on PostgreSQL while the
      writing process runs the engine itself; with workers set up, event writes only append (no lock) and other
      writes lock what they change (a community, an order). Event writes waiting for the lock (tags from many
      clients at once) are committed together by whichever gets it (:class:`GroupCommit`): under load a write
      waits for one transaction, not for every write queued before it.
    * "Needing attention" is one reason per cause, the most urgent first (:meth:`Operations.attention`): the
      analytics' lifecycle (dead, declining, dormant), open staff tasks, a hard size limit; silence, measured
      against the workspace's latest activity, stands in for the lifecycle until the analytics are computed.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
import weakref
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import date, datetime, timedelta
from typing import Any, Literal
from zoneinfo import ZoneInfo

import orjson

from shequn.analytics.inbox import Load, load_of
from shequn.app import App, IngestReport
from shequn.domain import (
    Action,
    DirectMessage,
    Invite,
    OperatorAction,
    UserError,
    event_from_dict,
    split_key,
    stable_id,
)
from shequn.domain.records import parse_iso
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec, parse_spec
from shequn.store import CommunityRecord, GroupRow, MemberRow, Segment, StaffTask
from shequn.store._sql import from_ms
from shequn.store.communities import ApplyOutcome

DAY_MS = 86_400_000
SILENT_DAYS = 3  # a group with no message for this long (where activity is judged) needs a look
STAGE_DAYS = 3  # a group declining or dormant for this long needs a look
TREND_DAYS = 30
HEATMAP_DAYS = 28
SEGMENT_LIMIT = 5000  # members one segment action may touch at once
OVERVIEW_SECONDS = 3.0
ANALYSIS_SECONDS = 60.0
SPECS_SECONDS = 1.0
LIFECYCLE_VERBS = ("split", "merge", "archive", "dissolve", "reopen", "handover", "temporary")


@dataclass(frozen=True, slots=True)
class Attention:
    """Why a group needs a look: (reason code, parameters) pairs, and a score to sort by."""

    group: GroupRow
    reasons: tuple[tuple[str, dict[str, Any]], ...]
    score: float


@dataclass(frozen=True, slots=True)
class CommunityCard:
    record: CommunityRecord
    type_name: str
    activity_judged: bool
    groups: int
    members: int
    members_ever: int
    messages: int
    open_tasks: int
    last_message_ms: int | None
    attention: int  # groups of this community needing attention
    kpis: tuple[tuple[str, str, float | None, str], ...]  # (key, name, target, unit)
    health: Any = None  # the analytics' CommunityHealth, when computed
    inbox_open: int = 0  # inbox items open (no answer yet or reopened)
    inbox_pending: int = 0  # inbox items answered, waiting to be resolved
    inbox_oldest_minutes: float | None = None  # how long the oldest unresolved item has waited


@dataclass(frozen=True, slots=True)
class Overview:
    communities: list[CommunityCard]
    attention: list[Attention]
    as_of_ms: int
    totals: dict[str, int] = field(default_factory=dict)
    analysed: bool = False  # the analytics had been computed (else they are being computed now)
    figures_at: str = ""  # when the analytics shown were computed (ISO, local time)
    window_days: int = 0  # the analytics' window
    inbox_oldest_minutes: float | None = None  # the oldest unresolved inbox item of the workspace, waited


@dataclass(frozen=True, slots=True)
class SegmentResult:
    total: int
    members: list[MemberRow]
    truncated: bool


SegmentVerb = Literal["tag", "untag", "message", "invite"]


def _offset_ms(tz: str, at: datetime) -> int:
    off = at.astimezone(ZoneInfo(tz)).utcoffset()
    return int(off.total_seconds() * 1000) if off else 0


class _Gate:
    """A scope's lock within this process, forgotten when no thread uses it."""

    __slots__ = ("__weakref__", "lock")

    def __init__(self) -> None:
        self.lock = threading.Lock()


def _lock_key(*parts: object) -> int:
    """A PostgreSQL advisory lock key (bigint) for ``parts``."""
    text = ":".join(map(str, parts))
    return int.from_bytes(hashlib.blake2b(text.encode(), digest_size=7).digest(), "big")


class WriteLock:
    """What a write waits for, across the threads of this process and across processes (several web workers).

    ``lock()`` is the whole workspace, ``lock(scope)`` one object of it (a community's spec, an order, a segment
    action's idempotency key). On SQLite both are the one writer (a lock file beside the database: SQLite has one writer
    anyway). On PostgreSQL the whole workspace is needed while this process runs the engine itself (no workers set
    up): its runs follow one cursor per workspace, each continuing from the state the previous one saved
    (:meth:`App.refresh`); with workers set up, event writes take no lock at all (they only append, and
    :func:`shequn.store.shards.log_order_lock` keeps seqs in commit order), and a scope is an advisory lock of its
    own under a shared one on the workspace, so writes to different objects run side by side and only a
    workspace-wide write (a settlement) waits for them all. ``SHEQUN_WRITE_LOCK=workspace`` keeps the one
    writer per workspace on PostgreSQL too (as before; ``shequn bench serve --baseline`` compares). Re-entrant
    within a thread: a nested call is covered by the outer one."""

    def __init__(self, app: App) -> None:
        self.app = app
        self._local = threading.RLock()  # whole-workspace writers of this process wait here, not in the pool
        self._gates: weakref.WeakValueDictionary[str, _Gate] = weakref.WeakValueDictionary()
        self._gates_mutex = threading.Lock()
        self._held = threading.local()
        db = app.store.db
        self._db = db
        self._ws = app.ws.id
        self._key = _lock_key("shequn-writer", app.ws.id)
        path = db.engine.url.database if db.is_sqlite else None
        self._path = f"{path}.writer-lock" if path and path != ":memory:" else None
        self.workspace_wide = os.environ.get("SHEQUN_WRITE_LOCK", "").strip().lower() == "workspace"

    @property
    def appends_only(self) -> bool:
        """Event writes need no lock: PostgreSQL with workers set up (they run the engine, not this process)."""
        return not self.workspace_wide and self._db.dialect == "postgresql" and self.app.workers

    @contextmanager
    def __call__(self, scope: str | None = None) -> Iterator[None]:
        if getattr(self._held, "depth", 0):
            self._held.depth += 1
            try:
                yield
            finally:
                self._held.depth -= 1
            return
        self._held.depth = 1
        try:
            if self._db.dialect != "postgresql":
                with self._local, self._file():
                    yield
            elif scope is None or not self.appends_only:
                with self._local, self._advisory(None):
                    yield
            else:
                with self._gate(scope), self._advisory(scope):
                    yield
        finally:
            self._held.depth = 0

    @contextmanager
    def _gate(self, scope: str) -> Iterator[None]:
        """The threads of this process wait for a scope here, not each on a pooled connection of its own (a pool
        filled with waiters would leave the holder none for its transaction)."""
        with self._gates_mutex:
            gate = self._gates.get(scope)
            if gate is None:
                gate = self._gates[scope] = _Gate()
        with gate.lock:
            yield

    @contextmanager
    def _file(self) -> Iterator[None]:
        if self._path is None:
            yield
            return
        import fcntl

        fd = os.open(self._path, os.O_CREAT | os.O_RDWR, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX)
            yield
        finally:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)

    @contextmanager
    def _advisory(self, scope: str | None) -> Iterator[None]:
        """Session advisory locks on a connection of their own (the write's transactions use others): the
        workspace exclusively, or shared with the scope's own key exclusively."""
        keys = [("pg_advisory_lock", self._key)]
        if scope is not None:
            keys = [("pg_advisory_lock_shared", self._key), ("pg_advisory_lock", _lock_key(self._ws, scope))]
        with self._db.engine.connect() as conn:
            taken: list[tuple[str, int]] = []
            try:
                for fn, key in keys:
                    conn.exec_driver_sql(f"SELECT {fn}(%s)", (key,))
                    taken.append((fn, key))
                yield
            finally:
                for fn, key in reversed(taken):
                    conn.exec_driver_sql(f"SELECT {fn.replace('_lock', '_unlock')}(%s)", (key,))
                conn.commit()


@dataclass(slots=True)
class _Pending:
    events: list[Any]
    report: IngestReport | None = None
    error: BaseException | None = None


class GroupCommit:
    """Event writes that queue for the writer lock, written together by whichever thread gets it (group commit).

    Each waiter puts its events in the queue, then takes the lock; the first to get it writes every queued write in
    one transaction (one refresh, one commit) and hands each its own report; the others find theirs done as soon as
    they get the lock. If the shared transaction fails, each write is tried again on its own, so one bad write
    fails alone."""

    def __init__(self, app: App, lock: WriteLock) -> None:
        self.app = app
        self.lock = lock
        self._queue: list[_Pending] = []
        self._mutex = threading.Lock()

    def ingest(self, events: Sequence[Any]) -> IngestReport:
        if self.lock.appends_only:  # the workers run the engine: nothing to wait for, nothing to share
            return self.app.ingest(events)
        mine = _Pending(list(events))
        with self._mutex:
            self._queue.append(mine)
        with self.lock():
            if mine.report is None and mine.error is None:
                with self._mutex:
                    batch, self._queue = self._queue, []
                self._write(batch)
        if mine.error is not None:
            raise mine.error
        assert mine.report is not None
        return mine.report

    def _write(self, batch: list[_Pending]) -> None:
        try:
            self._write_all(batch)
        finally:
            for p in batch:
                if p.report is None and p.error is None:
                    p.error = RuntimeError("the write was interrupted")

    def _write_all(self, batch: list[_Pending]) -> None:
        self.app.refresh()
        if len(batch) > 1:
            try:
                with self.app.transaction() as conn:
                    reports = [self.app.ingest_in(conn, p.events) for p in batch]
            except Exception:
                pass
            else:
                for p, report in zip(batch, reports, strict=True):
                    p.report = report
                return
        for p in batch:
            try:
                p.report = self.app.ingest(p.events)
            except BaseException as exc:  # handed to the thread that asked for this write
                p.error = exc


class Operations:
    """Everything the console and the API do, for one workspace of ``app``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = app.store
        self.ws = app.ws.id
        self.write = WriteLock(app)
        self.commit = GroupCommit(app, self.write)
        self._records: dict[int, CommunityRecord] = {}  # parsed specs, kept while their hash is unchanged
        self._overview_cache: dict[str, tuple[float, Overview]] = {}
        self._overview_lock = threading.Lock()
        self._refreshing: set[str] = set()
        self._analysis: dict[str, tuple[float, Any]] = {}
        self._analysis_lock = threading.Lock()
        self._analysing: set[str] = set()
        self._heads_checked = -SPECS_SECONDS

    def _communities(self, conn: Any) -> list[CommunityRecord]:
        """Every community, parsing a spec only when it changed (validating a spec costs milliseconds); the hashes
        are looked at again after SPECS_SECONDS, or at once after a change made here."""
        now = time.monotonic()
        if now - self._heads_checked >= SPECS_SECONDS:
            heads = self.store.console.community_heads(conn, self.ws)
            if heads.keys() != self._records.keys() or any(self._records[c].spec_hash != h for c, h in heads.items()):
                self._records = {r.id: r for r in self.store.communities.list(conn, self.ws)}
            self._heads_checked = now
        return [self._records[cid] for cid in sorted(self._records)]

    # -- overview -------------------------------------------------------------------------------------------

    def as_of_ms(self, groups: Sequence[GroupRow]) -> int:
        """Now, or the latest message when history ends before now (an imported or simulated workspace)."""
        now = self.app.now_ms()
        latest = max((g.last_message_ms for g in groups if g.last_message_ms), default=None)
        return min(now, latest) if latest else now

    def reference_ms(self) -> int:
        """The workspace's "now" for silence: now, or its latest message when history ends before now."""
        with self.store.transaction() as conn:
            return self.as_of_ms(self.store.console.group_rows(conn, self.ws))

    def overview(self, locale: str, *, limit: int = 50, fresh: bool = False) -> Overview:
        """The overview. A dashboard read by many: unless ``fresh``, an overview computed less than OVERVIEW_SECONDS
        ago is served as it is, and an older one is served while a background thread computes the next
        (stale-while-revalidate), so a read never waits for the whole workspace to be counted. Writes made here
        clear it."""
        hit = self._overview_cache.get(locale)
        if fresh or hit is None:
            with self._overview_lock:
                hit = (time.monotonic(), self._overview(locale))
                self._overview_cache[locale] = hit
        elif time.monotonic() - hit[0] >= OVERVIEW_SECONDS and locale not in self._refreshing:
            self._refreshing.add(locale)
            threading.Thread(target=self._refresh_overview, args=(locale,), daemon=True).start()
        full = hit[1]
        return replace(full, attention=full.attention[:limit])

    def analysis(self, locale: str, *, wait: bool = True) -> Any:
        """The analytics' report of the workspace (:func:`shequn.analytics.analyze`: health, lifecycle stages, type
        KPIs, funnel, diagnosis) in ``locale``, computed at most once per ANALYSIS_SECONDS per worker, served while
        the next is computed. After a start, the last complete report saved beside the analytics cache is served
        (with its time) while the next is computed, so a page never shows partial figures. Without ``wait``, None
        until the first has been computed (it is started then)."""
        hit = self._analysis.get(locale)
        if hit is None and (saved := self._saved_analysis(locale)) is not None:
            hit = self._analysis.setdefault(locale, (-ANALYSIS_SECONDS, saved))  # stale: refreshed below
        stale = hit is None or time.monotonic() - hit[0] >= ANALYSIS_SECONDS
        if hit is None and wait:
            with self._analysis_lock:
                hit = self._analysis.get(locale)
                if hit is None:
                    hit = (time.monotonic(), self._analyze(locale))
                    self._analysis[locale] = hit
            return hit[1]
        if stale and locale not in self._analysing:
            self._analysing.add(locale)
            threading.Thread(target=self._refresh_analysis, args=(locale,), daemon=True).start()
        return hit[1] if hit is not None else None

    def updating(self, locale: str) -> bool:
        """Whether newer analytics than the ones served are being computed."""
        return locale in self._analysing

    def _saved_path(self, locale: str) -> Any:
        from shequn import __version__
        from shequn.analytics.source import default_cache

        return default_cache(self.store.db.url, self.ws) / f"console-{locale}-{__version__}.pickle"

    def _saved_analysis(self, locale: str) -> Any:
        """The last complete report this workspace's console computed (written by this program into the store's own
        analytics folder, never from outside), or None."""
        import pickle

        path = self._saved_path(locale)
        try:
            st = path.stat()
            if st.st_uid != os.getuid() or st.st_mode & 0o022:
                # Unpickling runs code: only a file this user wrote and nobody else can change (as ssh does keys).
                logging.getLogger("shequn.services.console").warning("%s: not ours alone; computed again", path)
                return None
            return pickle.loads(path.read_bytes())
        except FileNotFoundError:
            return None
        except Exception:  # an older layout or a torn file: computed again
            path.unlink(missing_ok=True)
            return None

    def _analyze(self, locale: str) -> Any:
        """The analysis, computed apart from this server's connections (:mod:`shequn.analytics.apart`), then saved
        for the next start."""
        import pickle

        from shequn.analytics.apart import analyze_apart

        report = analyze_apart(self.store.db.url, self.app.ws, locale=locale)
        try:
            path = self._saved_path(locale)
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_suffix(f".{os.getpid()}.tmp")
            with os.fdopen(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600), "wb") as out:
                out.write(pickle.dumps(report, protocol=pickle.HIGHEST_PROTOCOL))
            os.replace(tmp, path)
        except OSError:  # a read-only folder: the next start computes it again
            logging.getLogger("shequn.services.console").warning("could not save the analysis", exc_info=True)
        return report

    def _refresh_analysis(self, locale: str) -> None:
        try:
            with self._analysis_lock:
                self._analysis[locale] = (time.monotonic(), self._analyze(locale))
            self._changed_overview()
        except Exception:  # the console goes on without a diagnosis; the reason is in the log
            logging.getLogger("shequn.services.console").exception("analytics failed")
        finally:
            self._analysing.discard(locale)

    def _changed_overview(self) -> None:
        with self._overview_lock:
            self._overview_cache.clear()

    def _refresh_overview(self, locale: str) -> None:
        try:
            with self._overview_lock:
                self._overview_cache[locale] = (time.monotonic(), self._overview(locale))
        finally:
            self._refreshing.discard(locale)

    def _changed(self) -> None:
        with self._overview_lock:
            self._overview_cache.clear()
        self._heads_checked = -SPECS_SECONDS

    def _overview(self, locale: str) -> Overview:
        pb = load_playbook()
        with self.store.transaction() as conn:
            communities = self._communities(conn)
            groups = self.store.console.group_rows(conn, self.ws)
            members = self.store.console.community_members(conn, self.ws)
            inbox = {cid: load_of(items) for cid, items in self.store.inbox.by_community(conn, self.ws).items()}
        now = self.app.clock.now()  # the inbox's waiting is measured as the inbox page measures it
        as_of = self.as_of_ms(groups)
        by_community: dict[int, list[GroupRow]] = {}
        for g in groups:
            if g.community_id is not None:
                by_community.setdefault(g.community_id, []).append(g)
        specs = {c.id: c.spec for c in communities}
        try:  # complete figures: the last saved ones, or computed now the first time
            report = self.analysis(locale)
        except Exception:  # the overview goes on with the facts (silence stands in for the stage); why is logged
            logging.getLogger("shequn.services.console").exception("analytics failed")
            report = None
        health = report.groups if report is not None else {}
        attention = [
            a
            for g in groups
            if (
                a := self.attention(
                    g, specs.get(g.community_id or -1), as_of, health.get(f"{g.platform}:{g.platform_id}")
                )
            )
        ]
        attention.sort(key=lambda a: (-a.score, a.group.id))
        flagged: dict[int, int] = {}
        for a in attention:
            if a.group.community_id is not None:
                flagged[a.group.community_id] = flagged.get(a.group.community_id, 0) + 1
        cards = []
        for c in communities:
            ctype = pb.types[c.type]
            gs = by_community.get(c.id, [])
            load = inbox.get(c.id, Load())
            cards.append(
                CommunityCard(
                    record=c,
                    type_name=ctype.name.get(locale),
                    activity_judged=ctype.activity_judged,
                    groups=len(gs),
                    members=members.get(c.id, (0, 0))[0],
                    members_ever=members.get(c.id, (0, 0))[1],
                    messages=sum(g.messages for g in gs),
                    open_tasks=sum(g.open_tasks for g in gs),
                    last_message_ms=max((g.last_message_ms for g in gs if g.last_message_ms), default=None),
                    attention=flagged.get(c.id, 0),
                    kpis=tuple((k.key, k.name.get(locale), c.spec.kpis.get(k.key), k.unit) for k in ctype.kpis),
                    health=report.communities.get(c.name) if report is not None else None,
                    inbox_open=load.open,
                    inbox_pending=load.pending,
                    inbox_oldest_minutes=load.waiting_minutes(now),
                )
            )
        cards.sort(key=lambda card: (-card.attention, card.record.id))
        totals = {
            "communities": len(communities),
            "groups": len(groups),
            "members": sum(m[0] for m in members.values()),
            "open_tasks": sum(g.open_tasks for g in groups),
            "attention": len(attention),
            "inbox_open": sum(x.open for x in inbox.values()),
            "inbox_pending": sum(x.pending for x in inbox.values()),
        }
        oldest = min((x.oldest_at for x in inbox.values() if x.oldest_at), key=parse_iso, default="")
        return Overview(
            cards, attention, as_of, totals, analysed=report is not None,
            figures_at=report.generated if report is not None else "", window_days=report.days if report else 0,
            inbox_oldest_minutes=Load(oldest_at=oldest).waiting_minutes(now),
        )  # fmt: skip

    def attention(self, g: GroupRow, spec: CommunitySpec | None, as_of: int, health: Any = None) -> Attention | None:
        """Why a group needs a look now (None when nothing is urgent): one reason per cause, the most urgent first.

        The causes, by urgency: the group is dead (the analytics' stage, since the first day without a message);
        staff tasks wait for a person; it has been declining or dormant for STAGE_DAYS days (any type: where
        activity is not judged, a falling group still signals weaker perks or offers); it is at its
        hard size limit (a platform's cap or one-in-one-out: nobody else can join). Without the analytics' ``health``
        (not computed yet, or a group outside them), silence stands in for the stage. The diagnosis' other findings
        (too big for its type, unanswered questions, ads …) are the group's and community's pages' to show: they
        call for work, not for a look today, and listing them here flagged nearly every group."""
        pb = load_playbook()
        judged = spec is None or pb.types[spec.type].activity_judged
        causes: list[tuple[float, str, dict[str, Any]]] = []  # (urgency, reason code, parameters)
        dead = health is not None and health.dead
        if dead:
            causes.append((100.0, "dead", {"since": health.dead_since or health.stage_since or ""}))
        if g.open_tasks:
            causes.append((90.0 + min(g.open_tasks, 9), "tasks", {"n": g.open_tasks}))
        if health is not None and not dead and health.stage in ("decline", "dormant") and health.stage_since:
            held = (from_ms(as_of).date() - date.fromisoformat(health.stage_since)).days
            if held >= STAGE_DAYS:  # a stage of a day or two is noise (a quiet weekend)
                causes.append(
                    (60.0 + (health.stage == "dormant"), "stage_" + health.stage, {"since": health.stage_since})
                )
        if judged and not dead and g.community_id is not None:
            if g.last_message_ms is None:  # members came, nobody spoke: the welcome never happened
                causes.append((50.0, "never", {}))
            elif health is None and (days := (as_of - g.last_message_ms) // DAY_MS) >= SILENT_DAYS:
                causes.append((50.0 + min(days, 40), "silent", {"days": int(days)}))
        if spec is not None:
            policy = next((p for p in pb.sizes.policies if p.key == spec.size.policy), None)
            if policy is not None and policy.mode != "soft_cap":
                capacity = g.capacity or spec.size.capacity or policy.capacity
                warn_at = spec.size.warn_at or policy.warn_at
                if capacity and g.members >= capacity * warn_at:
                    full = g.members >= capacity
                    causes.append((40.0 + 10 * full, "capacity", {"members": g.members, "capacity": capacity}))
        if not causes:
            return None
        causes.sort(key=lambda c: -c[0])
        return Attention(g, tuple((code, params) for _u, code, params in causes), causes[0][0] + len(causes) / 10)

    # -- communities ----------------------------------------------------------------------------------------

    def communities(self) -> list[CommunityRecord]:
        with self.store.transaction() as conn:
            return self._communities(conn)

    def community(self, name: str) -> CommunityRecord:
        found = next((c for c in self.communities() if c.name == name), None)
        if found is None:
            raise NotFoundError("community", name)
        return found

    def community_groups(self, record: CommunityRecord) -> list[GroupRow]:
        with self.store.transaction() as conn:
            return self.store.console.group_rows(conn, self.ws, community_id=record.id)

    def trends(self, record: CommunityRecord, groups: Sequence[GroupRow], *, days: int = TREND_DAYS) -> dict[str, Any]:
        """Daily messages, speakers-free counts of joins and leaves for the last ``days`` local days up to as-of."""
        as_of = self.as_of_ms(groups)
        tz = record.spec.timezone
        offset = _offset_ms(tz, from_ms(as_of))
        last_day = (as_of + offset) // DAY_MS
        first_day = last_day - days + 1
        kinds = ("message", "join", "leave")
        with self.store.transaction() as conn:
            counts = self.store.console.daily_counts(
                conn, self.ws, group_ids=[g.id for g in groups], kinds=kinds,
                since_ms=first_day * DAY_MS - offset, offset_ms=offset,
            )  # fmt: skip
        day_list = list(range(first_day, last_day + 1))
        return {
            "days": [(date(1970, 1, 1) + timedelta(days=d)).isoformat() for d in day_list],
            "series": {k: [counts.get((k, d), 0) for d in day_list] for k in kinds},
            "timezone": tz,
        }

    def rhythm(self, record: CommunityRecord, groups: Sequence[GroupRow], locale: str, *, days: int = 7) -> list[Any]:
        """The rhythm calendar: every post the scheduler plans in the community's groups over the next ``days``
        (its quiet hours and daily cap applied; ``capped`` ones are decided but not sent), in local time."""
        from shequn.policies import GroupConfig
        from shequn.schedule.plan import plan
        from shequn.schedule.service import load_activities

        now = self.app.clock.now()
        bound = [
            GroupConfig(
                f"{g.platform}:{g.platform_id}", g.platform, g.platform_id, record.name, g.name, g.role, g.capacity
            )
            for g in groups
        ]
        with self.store.transaction() as conn:
            activities = [
                a for a in load_activities(self.store, conn, self.ws, since=now - timedelta(days=3))
                if a.community == record.name
            ]  # fmt: skip
        names = self._job_names(locale)
        return [
            RhythmItem(o.local, o.group.name or o.group.platform_id, o.job, _job_label(o.job, names), o.status)
            for o in plan(record.spec, bound, now, now + timedelta(days=days), activities)
        ]

    @staticmethod
    def _job_names(locale: str) -> dict[str, str]:
        pb = load_playbook()
        names = {j.key: j.name.get(locale) for j in pb.rhythm.jobs}
        for step in [*pb.activities.guest_talk.steps, *pb.activities.offline.steps]:
            names[f"step:{step.key}"] = step.name.get(locale)
        return names

    def activities(self, record: CommunityRecord) -> list[Any]:
        """The community's activities (guest talks, offline events) not finished or cancelled, soonest first."""
        with self.store.transaction() as conn:
            rows = self.store.schedule.activities(conn, self.ws, community_id=record.id)
        live = [r for r in rows if r.status in ("planning", "scheduled")]
        return sorted(live, key=lambda r: (r.starts_ms is None, r.starts_ms or 0, r.id))

    def put_spec(self, name: str, text: str, *, actor: str) -> ApplyOutcome:
        """Create or replace a community's spec from YAML (or JSON) text; the name in the text must match."""
        spec = parse_spec(text, source=f"spec of {name}")
        if spec.name != name:
            raise UserError(f"the spec names {spec.name!r}, not {name!r}; rename is not supported here", exit_code=2)
        with self.write(f"community:{name}"):
            self.app.refresh()
            outcome = self.app.apply_spec(spec, actor=actor, source="api")
        self._changed()
        return outcome

    # -- groups ---------------------------------------------------------------------------------------------

    def groups(self, *, community: str | None = None) -> list[GroupRow]:
        with self.store.transaction() as conn:
            cid = None
            if community is not None:
                cid = self.store.communities.ids(conn, self.ws).get(community)
                if cid is None:
                    raise NotFoundError("community", community)
            return self.store.console.group_rows(conn, self.ws, community_id=cid)

    def group(self, group_id: int) -> GroupRow:
        with self.store.transaction() as conn:
            rows = self.store.console.group_rows(conn, self.ws, group_id=group_id)
        if not rows:
            raise NotFoundError("group", str(group_id))
        return rows[0]

    def roster(self, group_id: int, *, limit: int | None = None, offset: int = 0) -> list[MemberRow]:
        with self.store.transaction() as conn:
            rows = self.store.console.roster(conn, self.ws, group_id, limit=limit, offset=offset)
        if not rows:
            self.group(group_id)  # an empty page of a group that exists, or no such group
        return rows

    def heatmap(self, group: GroupRow, *, days: int = HEATMAP_DAYS) -> dict[str, Any]:
        """Messages by weekday (Monday first) × local hour over the last ``days`` days up to as-of."""
        as_of = group.last_message_ms or self.app.now_ms()
        as_of = min(as_of, self.app.now_ms())
        with self.store.transaction() as conn:
            tz = self._timezone_of(group, conn)
            offset = _offset_ms(tz, from_ms(as_of))
            hours = self.store.console.hour_counts(
                conn, self.ws, group_id=group.id, since_ms=as_of - days * DAY_MS, offset_ms=offset
            )
        grid = [[0] * 24 for _ in range(7)]
        for h, n in hours.items():
            day = h // 24
            grid[(day + 3) % 7][h % 24] += n  # 1970-01-01 was a Thursday (Monday = 0)
        return {"grid": grid, "days": days, "timezone": tz, "max": max((max(r) for r in grid), default=0)}

    def _timezone_of(self, group: GroupRow, conn: Any) -> str:
        found = next((c for c in self._communities(conn) if c.id == group.community_id), None)
        return found.spec.timezone if found else self.app.ws.timezone

    # -- members --------------------------------------------------------------------------------------------

    def member(self, person_id: int, *, ledger: int = 50) -> dict[str, Any]:
        """A person: identities, memberships, and per community the newest ``ledger`` entries of the points ledger
        and the offences the moderation policy recorded; the shared blacklist's entries of their identities."""
        console = self.store.console
        with self.store.transaction() as conn:
            person = console.person(conn, self.ws, person_id)
            if person is None:
                raise NotFoundError("member", str(person_id))
            memberships = console.memberships_of(conn, self.ws, person_id)
            person["memberships"] = memberships
            person["ledger"] = {
                m.community: self.store.points.entries(conn, self.ws, community=m.community, member_key=m.key)[
                    -ledger:
                ][::-1]
                for m in memberships
            }
            person["violations"] = {
                m.community: [
                    {"at": a, "violation": v, "message_id": mid, "step": step, "why": why}
                    for a, v, mid, step, why in (record.get("log") or [])[::-1]
                ]
                for m in memberships
                if (record := console.violations(conn, m.community_id, m.key))
            }
            keys = {f"{i['platform']}:{i['platform_id']}" for i in person["identities"]} | {m.key for m in memberships}
            person["blacklist"] = {k: e for k in sorted(keys) if (e := console.blacklist_entry(conn, self.ws, k))}
        return person

    def timeline(self, person_id: int, *, before_seq: int | None = None, limit: int = 50) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            if not self.store.console.person_exists(conn, self.ws, person_id):
                raise NotFoundError("member", str(person_id))
            return self.store.console.timeline(conn, self.ws, person_id, before_seq=before_seq, limit=limit)

    def tag_member(self, person_id: int, community: str, tag: str, *, remove: bool, actor: str) -> bool:
        """Tag (or untag) one member of a community; True when the log took the change (False: done before)."""
        record = self.community(community)
        with self.store.transaction() as conn:
            rows = [
                m for m in self.store.console.memberships_of(conn, self.ws, person_id) if m.community_id == record.id
            ]
        if not rows:
            raise NotFoundError("member", f"{person_id} in {community}")
        report = self._tag([rows[0]], tag, remove=remove, actor=actor, key=f"{actor}:{self.app.now_ms()}")
        return report.added > 0

    # -- segments -------------------------------------------------------------------------------------------

    def segment(self, segment: Segment, *, limit: int = 200) -> SegmentResult:
        with self.store.transaction() as conn:
            rows = list(self.store.console.members(conn, self.ws, segment))
        return SegmentResult(len(rows), rows[:limit], len(rows) > limit)

    def tags(self, *, community_id: int | None = None) -> dict[str, int]:
        with self.store.transaction() as conn:
            return self.store.console.tags_in_use(conn, self.ws, community_id=community_id)

    def act_on_segment(
        self,
        segment: Segment,
        verb: SegmentVerb,
        *,
        actor: str,
        key: str,
        value: str = "",
        text: str = "",
        group_id: int | None = None,
    ) -> dict[str, int]:
        """Tag, untag, message or invite every member of ``segment``; idempotent for the same ``key``.

        Returns counts: ``members`` chosen, ``logged`` events added (tags), ``queued`` actions put in the outbox,
        ``staff_tasks`` opened where the platform forbids the bot, ``duplicates`` already done under this key.
        """
        if not key or len(key) > 80:
            raise UserError("an action needs an idempotency key of 1-80 characters", exit_code=2)
        with self.store.transaction() as conn:
            members = list(self.store.console.members(conn, self.ws, segment))
        if len(members) > SEGMENT_LIMIT:
            raise UserError(
                f"the segment has {len(members)} members; act on at most {SEGMENT_LIMIT} at once", exit_code=2
            )
        out = {"members": len(members), "logged": 0, "queued": 0, "staff_tasks": 0, "duplicates": 0}
        if verb in ("tag", "untag"):
            tag = value.strip()
            if not 1 <= len(tag) <= 40:
                raise UserError("a tag needs 1-40 characters", exit_code=2)
            report = self._tag(members, tag, remove=verb == "untag", actor=actor, key=key)
            out["logged"], out["duplicates"] = report.added, report.duplicates
        elif verb in ("message", "invite"):
            body = text.strip()
            if verb == "message" and not 1 <= len(body) <= 2000:
                raise UserError("a message needs 1-2000 characters", exit_code=2)
            target_group = self.group(group_id) if verb == "invite" and group_id is not None else None
            if verb == "invite" and target_group is None:
                raise UserError("choose the group to invite into", exit_code=2)
            actions = [self._outreach(m, verb, body, key, actor, target_group) for m in members]
            with self.write(f"segment:{key}"), self.store.transaction() as conn:
                report = self.app.enqueue_actions(conn, actions)
            out["queued"], out["staff_tasks"] = report.actions, report.staff_tasks
            out["duplicates"] = len(actions) - report.actions - report.staff_tasks
        else:
            raise UserError(f"unknown segment action {verb!r}; use tag, untag, message or invite", exit_code=2)
        self._changed()
        with self.store.transaction() as conn:
            self.store.audit.record(
                conn, self.ws, actor=actor, verb=f"segment.{verb}", object_type="segment", object_id=key,
                detail={**out, "value": value, "group_id": group_id, "segment": _segment_dict(segment)},
                now_ms=self.app.now_ms(),
            )  # fmt: skip
        return out

    def _tag(self, members: Sequence[MemberRow], tag: str, *, remove: bool, actor: str, key: str) -> IngestReport:
        at = self.app.clock.now()
        op = "untag" if remove else "tag"
        events = []
        for m in members:
            platform, pid = split_key(m.key)
            events.append(
                OperatorAction(
                    id=stable_id("operator", key, op, tag, m.community, m.key),
                    at=at,
                    platform=platform,
                    community=m.community,
                    op=op,
                    target=pid,
                    value=tag,
                    by=actor,
                )
            )
        report = self.commit.ingest(events)
        self._changed()
        return report

    def _outreach(self, m: MemberRow, verb: str, text: str, key: str, actor: str, group: GroupRow | None) -> Action:
        platform, pid = split_key(m.key)
        common = dict(
            key=f"console:{key}:{verb}:{m.community}:{m.key}",
            at=self.app.clock.now(),
            community=m.community,
            platform=platform,
            target=pid,
            policy="console",
            extra={"by": actor, "member_name": m.name},
        )
        if verb == "message":
            return DirectMessage(text=text, **common)  # type: ignore[arg-type]
        assert group is not None
        extra = {**common.pop("extra"), "group_name": group.name}  # type: ignore[dict-item]
        return Invite(text=text, group=group.platform_id, extra=extra, **common)  # type: ignore[arg-type]

    # -- staff tasks ----------------------------------------------------------------------------------------

    def tasks(self, *, status: str | None = "open", limit: int = 500) -> list[StaffTask]:
        if status not in (None, "open", "done", "cancelled"):
            raise UserError("status is open, done or cancelled", exit_code=2)
        with self.store.transaction() as conn:
            return self.store.tasks.list(conn, self.ws, status=status, limit=limit)

    def count_tasks(self, *, status: str = "open") -> int:
        with self.store.transaction() as conn:
            return self.store.console.count_tasks(conn, self.ws, status=status)

    def complete_task(self, task_id: int, *, actor: str) -> None:
        now = self.app.now_ms()
        with self.store.transaction() as conn:
            self.store.tasks.complete(conn, self.ws, task_id, by=actor, now_ms=now)
            self.store.audit.record(
                conn, self.ws, actor=actor, verb="task.done", object_type="staff_task", object_id=str(task_id),
                now_ms=now,
            )  # fmt: skip
        self._changed()

    # -- shop webhooks --------------------------------------------------------------------------------------

    def shop_event(self, kind: Literal["order", "payment"], body: dict[str, Any], *, source: str) -> tuple[str, bool]:
        """Log an order or a payment a shop reported; return (event id, whether it was new).

        The delivery is checked against the order ledger (:meth:`shequn.services.shop.Shop.deliver`): an unknown
        order, a wrong amount or currency, a second payment for a paid order raise
        :class:`shequn.services.shop.RejectedError` (recorded with the reason, nothing credited); a repeated delivery is
        a duplicate and changes nothing.
        """
        from shequn.services.shop import Shop

        order = body.get("order_id") or f"payment:{body.get('payment_id')}"
        with self.write(f"order:{order}"):  # one order's ledger checked and written at a time
            self.app.refresh()
            delivery = Shop(self.app).deliver(kind, body, source=source)
        self._changed()
        return delivery.event_id, not delivery.duplicate

    # -- events and audit -----------------------------------------------------------------------------------

    def events(
        self, *, after_seq: int = 0, limit: int = 100, kind: str | None = None
    ) -> list[tuple[int, dict[str, Any]]]:
        """A page of the log in its stable JSON form (every field written out)."""
        with self.store.transaction() as conn:
            rows = self.store.console.events_page(conn, self.ws, after_seq=after_seq, limit=limit, kind=kind)
        return [(seq, event_from_dict(orjson.loads(payload)).to_dict()) for seq, payload in rows]

    def recent_events(
        self, *, before_seq: int | None = None, limit: int = 100, kind: str | None = None
    ) -> list[dict[str, Any]]:
        """The newest events first, for reading the log in the console."""
        with self.store.transaction() as conn:
            return self.store.console.recent_events(conn, self.ws, before_seq=before_seq, limit=limit, kind=kind)

    def lifecycle(self, verb: str, group_id: int, *, actor: str, dry_run: bool = False, **options: Any) -> Any:
        """A group's lifecycle step (split, merge, archive, dissolve, reopen, handover, temporary) from the console
        or the API: :class:`shequn.services.lifecycle.Lifecycle`; ``dry_run`` counts what it would do."""
        from shequn.services.lifecycle import Lifecycle

        g = self.group(group_id)
        if g.community is None:
            key = f"{g.platform}:{g.platform_id}"
            raise UserError(t("lifecycle.unbound_group", None, group=key, community="-"), exit_code=2)
        life = Lifecycle(self.app, actor=actor, dry_run=dry_run)
        step = getattr(life, verb, None) if verb in LIFECYCLE_VERBS else None
        if step is None:
            raise UserError(f"unknown lifecycle step {verb!r}; use {', '.join(LIFECYCLE_VERBS)}", exit_code=2)
        if dry_run:
            return step(g.community, f"{g.platform}:{g.platform_id}", **options)
        with self.write():
            out = step(g.community, f"{g.platform}:{g.platform_id}", **options)
        self._changed()
        return out

    def audit(self, *, limit: int = 200) -> list[Any]:
        with self.store.transaction() as conn:
            return self.store.audit.list(conn, self.ws, limit=limit)


@dataclass(frozen=True, slots=True)
class RhythmItem:
    local: datetime  # in the community's time zone
    group: str
    job: str
    label: str
    status: str  # due | capped | held


def _job_label(job: str, names: dict[str, str]) -> str:
    """A rhythm job's name (早报, 签到 …), an activity step's (``activity:<key>:<step>[:n]``), or a custom job's key."""
    if job in names:
        return names[job]
    if job.startswith("activity:"):
        parts = job.split(":")
        step = parts[2] if len(parts) > 2 else ""
        return f"{parts[1]} · {names.get('step:' + step) or names.get('step:' + step.removeprefix('report_'), step)}"
    return job.removeprefix("custom:")


class NotFoundError(UserError):
    """A thing asked for by name or id does not exist in this workspace."""

    def __init__(self, what: str, name: str) -> None:
        super().__init__(f"no {what} {name!r} in this workspace", exit_code=2)
        self.what = what
        self.name = name


def _segment_dict(s: Segment) -> dict[str, Any]:
    return {k: v for k, v in ((f, getattr(s, f)) for f in s.__dataclass_fields__) if v not in (None, ())}
