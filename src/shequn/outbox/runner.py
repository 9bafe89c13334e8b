"""The outbox runner (发送队列): hands every external action of the ``action`` table to its connector, once.

How it works:
    The ingest pipeline and the scheduler write actions as ``pending`` rows, one per idempotency key, in the same
    transaction as the decision. The runner holds the workspace's *lease* (one runner per workspace, so no two
    processes deliver the same row), keeps the pending rows in memory in *scopes* (one per platform and chat, in
    ``(due, id)`` order, so a group sees its actions in the order they were decided, except that enforcement —
    deleting, removing, banning, muting — goes before anything else already due: :mod:`~shequn.outbox.order`)
    grouped in *lanes* (one per platform and bot token), and in each step:

    1. takes the head of every scope that is due and allowed by the limits: the sliding windows per platform, bot
       and group of ``platform_limits.yaml``, pauses the platform asked for (429 ``retry_after``), and per-group
       quotas (WeCom 群发, 4 a month: over quota the action becomes a staff task, a person posts it by hand); an
       action the connector says the platform delivers itself (``delivered_by_platform``: WeCom's welcome template)
       is handed over without touching windows or quotas;
    2. *claims* them in one transaction: ``status = sending``, ``attempts + 1``, ``claimed_ms = now``, committed
       **before** any connector is called;
    3. sends them concurrently and records every outcome in one transaction: ``sent`` (with the platform's id),
       back to ``pending`` with exponential backoff (or the platform's ``retry_after``, which costs no attempt),
       ``failed`` after ``max_attempts`` or on a permanent refusal (with a staff task saying why).

    A crash can only happen between steps 2 and 3 for the rows in flight, which are then ``sending`` with nobody
    working on them. When a runner starts it *reconciles* them before anything else:

    * the connector declares ``idempotent_sends`` (Matrix: the transaction id of ``PUT /send`` is the action's key,
      and the homeserver ignores a repeated transaction): the row goes back to ``pending`` and is sent again; the
      platform shows it once;
    * the connector ``can_confirm``: it is asked whether the action reached the platform; ``sent`` if so, sent
      again if not;
    * neither: nobody can know, so the row becomes ``unconfirmed`` and a staff task asks a person to check. At most
      ``concurrency`` rows can be in that state after a crash; none is ever sent twice by the runner.

Things to keep in mind:
    * At-least-once to the connector, exactly-once on the platform only through one of the two declarations above:
      a connector without either accepts that a crash leaves a few actions for a person to confirm.
    * Rate windows count a send when it is claimed; after a restart they are seeded from the rows claimed in the
      last window, so a restart does not reset Telegram's 20-per-minute budget of a group.
    * The runner never decides anything: content, keys and routing were fixed when the action was written.
    * Rows changed by someone else (an operator cancelling) are noticed when the claim finds them not pending.

Several sender processes (PostgreSQL):
    There is no workspace lease: each process sends for the bot accounts whose lease it holds
    (:mod:`shequn.services.sender` takes them and :meth:`OutboxRunner.attach` hands their connectors over). Every
    claim is fenced by those leases (their rows locked ``FOR SHARE``: a take-over waits for the claim to commit) and
    made under an advisory lock per platform, after reading every process's sends of the longest window from
    ``send_mark`` and before adding its own: the windows per platform, bot and chat hold across all processes.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import heapq
import logging
import os
import socket
import time
from bisect import insort
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, Protocol

from shequn.domain import Action, Clock, SystemClock, VirtualClock
from shequn.i18n import t
from shequn.outbox.errors import PermanentSendError, QuotaExhaustedError, RetryAfterError
from shequn.outbox.limits import Policies, QuotaBook, RateLimiter
from shequn.outbox.order import held, urgent
from shequn.outbox.priority import priority_of
from shequn.store import ActionStatus, Outcome, Pending, Store
from shequn.store._sql import to_ms

if TYPE_CHECKING:
    from sqlalchemy import Connection

log = logging.getLogger("shequn.outbox")


class Sender(Protocol):
    """What the runner needs of a connector (:class:`shequn.connectors.Connector` is one)."""

    @property
    def idempotent_sends(self) -> bool: ...

    @property
    def can_confirm(self) -> bool: ...

    async def send(self, action: Action) -> Any: ...

    async def confirm(self, action: Action) -> Any: ...

    def bot_of(self, action: Action) -> str: ...


class Timer(Protocol):
    """Now, and a way to wait (woken early by ``wake``): the wall clock live, a virtual one in tests and benches."""

    def now(self) -> datetime: ...

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None: ...


class RealTimer:
    def __init__(self, clock: Clock | None = None) -> None:
        self.clock = clock or SystemClock()

    def now(self) -> datetime:
        return self.clock.now()

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        if wake is None:
            await asyncio.sleep(seconds)
            return
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(wake.wait(), timeout=max(seconds, 0))


class VirtualTimer:
    """Sleeping moves a virtual clock forward at once: hours of sending run in a moment, limits still hold."""

    def __init__(self, clock: VirtualClock) -> None:
        self.clock = clock

    def now(self) -> datetime:
        return self.clock.now()

    async def sleep(self, seconds: float, wake: asyncio.Event | None = None) -> None:
        self.clock.advance(timedelta(seconds=max(seconds, 0.0)))
        await asyncio.sleep(0)


@dataclass(frozen=True, slots=True)
class DeliverySettings:
    max_attempts: int = 8
    backoff_base: float = 2.0  # seconds before the second attempt; doubles each time
    backoff_max: float = 900.0
    batch: int = 1000  # actions claimed per step at most
    concurrency: int = 64  # sends in flight at once
    poll_seconds: float = 1.0  # how often new rows are looked for when idle
    lease_seconds: float = 30.0
    send_timeout: float = 60.0
    courtesy_hold: float = 3.0  # seconds a newcomer's welcome and rules wait (an ad account's removal takes them back)


@dataclass(slots=True)
class RunnerStats:
    sent: int = 0
    retried: int = 0
    rate_limited: int = 0  # 429s from the platform
    failed: int = 0
    staff: int = 0
    unconfirmed: int = 0
    resent_after_crash: int = 0
    confirmed_after_crash: int = 0
    steps: int = 0

    def to_json(self) -> dict[str, int]:
        return {k: getattr(self, k) for k in self.__slots__}


class LeaseHeldError(RuntimeError):
    """Another runner delivers this workspace's outbox."""


@dataclass(slots=True)
class _Scope:
    platform: str
    chat: str
    lane: _Lane
    items: list[tuple[int, int, Pending]] = field(default_factory=list)  # (due, id, item)
    busy: bool = False


@dataclass(slots=True)
class _Lane:
    platform: str
    bot: str
    heap: list[tuple[int, int, _Scope]] = field(default_factory=list)
    blocked_until: int = 0


def _head(scope: _Scope, now: int) -> Pending:
    """The action a chat sends next: the first enforcement action already due, else the first in order."""
    for due, _, item in scope.items:
        if due > now:
            break
        if urgent(item.action) and item.next_ms <= now:
            return item
    return scope.items[0][2]


def _drop(scope: _Scope, item: Pending) -> None:
    """Take ``item`` off its chat's list (it was sent, failed for good, or changed by someone else)."""
    for i, entry in enumerate(scope.items):
        if entry[2] is item:
            del scope.items[i]
            return


def chat_of(action: Action) -> str:
    """The chat an action goes to: its group, or the private chat with its target."""
    return action.group or f"dm:{action.target}"


class OutboxRunner:
    """Delivers one workspace's outbox through ``senders`` (platform → connector).

    Args:
        store: the store.
        ws_id: the workspace.
        senders: the running connectors by platform; actions for other platforms wait.
        timer: the clock and the way to wait (:class:`RealTimer` live).
        policies: platform limits (default: the playbook's documented ones).
        settings: retries, batch sizes, lease.
        locale: the language of the staff tasks it opens.
        bot_leases: (PostgreSQL) one of several sender processes: no workspace lease; it sends through the
            connectors handed over with :meth:`attach` while their bot accounts' leases are held, and keeps the
            limits in the store with the other processes.
    """

    def __init__(
        self,
        store: Store,
        ws_id: int,
        senders: Mapping[str, Sender],
        *,
        timer: Timer | None = None,
        policies: Policies | None = None,
        settings: DeliverySettings | None = None,
        locale: str = "zh-CN",
        bot_leases: bool = False,
    ) -> None:
        if bot_leases and store.db.dialect != "postgresql":
            raise ValueError("bot-account leases need PostgreSQL")
        self.store = store
        self.ws_id = ws_id
        self.senders = dict(senders)
        self.timer: Timer = timer or RealTimer()
        self.policies = policies or Policies()
        self.settings = settings or DeliverySettings()
        self.locale = locale
        self.limiter = RateLimiter(self.policies)
        self.quotas = QuotaBook(self.policies)
        self.stats = RunnerStats()
        self.wake = asyncio.Event()
        self.host = socket.gethostname()
        self.pid = os.getpid()
        self.holder = f"{self.host}:{self.pid}:{time.time_ns()}"
        self._scopes: dict[tuple[str, str], _Scope] = {}
        self._lanes: dict[tuple[str, str], _Lane] = {}
        self._last_id = 0
        self._loaded_at = 0
        self._seq = 0
        self._lease_until = 0
        self._parked: set[str] = set()  # platforms with pending actions and no running connector
        self._ready = False
        # Several sender processes share the limits through the store and send for the bot accounts they hold.
        self.shared = bot_leases
        self._accounts: dict[str, str] = {}  # platform → the bot account its sender holds (shared mode)
        self._handover: list[tuple[str, Sender | None, str]] = []  # attachments waiting for the next step
        self._pruned_at = 0

    # -- time ---------------------------------------------------------------------------------------------------

    def now_ms(self) -> int:
        return to_ms(self.timer.now())

    # -- the lease ----------------------------------------------------------------------------------------------

    def acquire(self) -> None:
        """Take the workspace's lease, or raise :class:`LeaseHeldError` naming the runner that holds it (one process:
        several sender processes hold bot accounts instead)."""
        if self.shared:
            return
        now = self.now_ms()
        with self.store.transaction() as conn:
            lease = self.store.delivery.lease(conn, self.ws_id)
            if lease and lease.holder != self.holder and lease.until_ms > now and self._alive(lease.host, lease.pid):
                raise LeaseHeldError(t("outbox.lease_held", self.locale, holder=f"{lease.host} pid {lease.pid}"))
            until = now + round(self.settings.lease_seconds * 1000)
            self.store.delivery.take_lease(
                conn, self.ws_id, holder=self.holder, host=self.host, pid=self.pid, until_ms=until, now_ms=now
            )
            self._lease_until = until

    def _alive(self, host: str, pid: int) -> bool:
        if host != self.host:
            return True  # another machine: trust its lease until it expires
        if pid == self.pid:
            return False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return False
        except PermissionError:
            return True
        return True

    def _renew(self, now: int, conn: Connection) -> None:
        if self.shared:
            return
        if now < self._lease_until - round(self.settings.lease_seconds * 500):
            return
        until = now + round(self.settings.lease_seconds * 1000)
        if not self.store.delivery.renew_lease(conn, self.ws_id, holder=self.holder, until_ms=until):
            raise LeaseHeldError(t("outbox.lease_lost", self.locale))
        self._lease_until = until

    def release(self) -> None:
        if self.shared:
            return
        with self.store.transaction() as conn:
            self.store.delivery.release_lease(conn, self.ws_id, holder=self.holder)

    # -- bot accounts (several sender processes) -----------------------------------------------------------------

    def attach(self, platform: str, sender: Sender, account: str) -> None:
        """Send for ``platform`` through ``sender``, whose bot ``account`` this process now holds (from the next step:
        what a previous holder left in flight is reconciled first)."""
        self._handover.append((platform, sender, account))
        self.wake.set()

    def detach(self, platform: str) -> None:
        """Stop sending for ``platform`` (its bot's lease was lost or given back)."""
        self._handover.append((platform, None, ""))
        self.wake.set()

    def _apply_handover(self) -> None:
        for platform, sender, account in self._handover:
            if sender is None:
                self.senders.pop(platform, None)
                self._accounts.pop(platform, None)
            else:
                self.senders[platform], self._accounts[platform] = sender, account
        self._handover.clear()

    async def _take_over(self) -> None:
        """Apply the attachments made since the last step and read the queue again for the new set of senders."""
        self._apply_handover()
        self._scopes.clear()
        self._lanes.clear()
        self._parked.clear()
        self._last_id = 0
        self.quotas = QuotaBook(self.policies)
        await self.reconcile()
        self._seed()
        self._load()

    # -- start-up -----------------------------------------------------------------------------------------------

    async def start(self) -> None:
        """Take the lease, settle what a crash left in flight, seed the limits, load the queue."""
        self.acquire()
        self._apply_handover()  # what was attached before the start needs no second reading of the queue
        await self.reconcile()
        self._seed()
        self._load()
        self._ready = True

    async def reconcile(self) -> None:
        """Decide every action left ``sending`` (see the module docstring)."""
        now = self.now_ms()
        with self.store.transaction() as conn:
            orphans = self.store.delivery.in_flight(conn, self.ws_id)
        outcomes: list[Outcome] = []
        tasks: list[tuple[Pending, str, str]] = []
        for item in orphans:
            sender = self.senders.get(item.action.platform)
            if sender is None:
                continue  # its connector is not running here: left for a runner that has it
            if sender.idempotent_sends:
                outcomes.append(Outcome(item.id, ActionStatus.PENDING, now, next_ms=now))
                self.stats.resent_after_crash += 1
            elif sender.can_confirm:
                result = await sender.confirm(item.action)
                if result is not None:
                    outcomes.append(Outcome(item.id, ActionStatus.SENT, now, result=_result(result)))
                    self.stats.confirmed_after_crash += 1
                else:
                    outcomes.append(Outcome(item.id, ActionStatus.PENDING, now, next_ms=now))
                    self.stats.resent_after_crash += 1
            else:
                outcomes.append(Outcome(item.id, ActionStatus.UNCONFIRMED, now, error="runner stopped mid-send"))
                tasks.append((item, "unconfirmed", ""))
                self.stats.unconfirmed += 1
        if outcomes:
            with self.store.transaction() as conn:
                self.store.delivery.finish(conn, outcomes)
                self._open_tasks(conn, tasks, now)
            log.warning("reconciled %d action(s) left in flight by a stopped runner", len(outcomes))

    def _seed(self) -> None:
        now = self.now_ms()
        longest = max((self.policies(p).longest_ms for p in self.senders), default=0)
        quota_since = min((q.period_start_ms(now) for p in self.senders for q in self.policies(p).quotas), default=now)
        since = min(now - longest, quota_since)
        with self.store.transaction() as conn:
            recent = self.store.delivery.recent(conn, self.ws_id, since_ms=since)
        window_start = now - longest
        sends = []
        for action, at in recent:
            if self._platform_delivers(action):
                continue
            sender = self.senders.get(action.platform)
            bot = sender.bot_of(action) if sender else "default"
            if at >= window_start:
                sends.append((action.platform, bot, chat_of(action), action.kind.value, at))
            self.quotas.record(action.platform, chat_of(action), action.kind.value, at)
        self.limiter.seed(sends)

    def _load(self, conn: Connection | None = None) -> None:
        if conn is None:
            with self.store.transaction() as own:
                fresh, self._last_id = self.store.delivery.pending(own, self.ws_id, after_id=self._last_id)
        else:
            fresh, self._last_id = self.store.delivery.pending(conn, self.ws_id, after_id=self._last_id)
        for item in fresh:
            self._add(item)

    def _add(self, item: Pending) -> None:
        action = item.action
        key = (action.platform, chat_of(action))
        scope = self._scopes.get(key)
        if scope is None:
            sender = self.senders.get(action.platform)
            if sender is None:
                if action.platform not in self._parked and not self.shared:  # shared: another process sends them
                    self._parked.add(action.platform)
                    log.warning("actions for %s wait: no %s connector is running", action.platform, action.platform)
                return
            bot = sender.bot_of(action)
            lane = self._lanes.get((action.platform, bot))
            if lane is None:
                lane = self._lanes[(action.platform, bot)] = _Lane(action.platform, bot)
            scope = self._scopes[key] = _Scope(action.platform, key[1], lane)
        if held(action):  # counted from when it reached the outbox: history caught up late is held all the same
            item.due_ms = max(item.due_ms, self.now_ms()) + round(self.settings.courtesy_hold * 1000)
        insort(scope.items, (item.due_ms, item.id, item), key=lambda x: (x[0], x[1]))
        if not scope.busy and (scope.items[0][2] is item or urgent(action)):
            self._push(scope, max(item.due_ms, item.next_ms))

    def _push(self, scope: _Scope, ready: int) -> None:
        self._seq += 1
        heapq.heappush(scope.lane.heap, (ready, self._seq, scope))

    # -- the loop -----------------------------------------------------------------------------------------------

    async def run(self, stop: asyncio.Event | None = None, *, until_idle: bool = False) -> RunnerStats:
        """Deliver until ``stop`` is set (or, with ``until_idle``, until nothing is due or waiting)."""
        if not self._ready:
            await self.start()
        stop = stop or asyncio.Event()
        try:
            while not stop.is_set():
                handed = await self.step()
                wait = self.next_wakeup()
                if handed and (wait is None or wait <= self.now_ms()):
                    continue
                if until_idle and wait is None:
                    break
                now = self.now_ms()
                delay = (
                    self.settings.poll_seconds if wait is None else min((wait - now) / 1000, self.settings.poll_seconds)
                )
                if until_idle and wait is not None:
                    delay = max((wait - now) / 1000, 0.001)
                await self.timer.sleep(max(delay, 0.0), self.wake)
        finally:
            if stop.is_set() or until_idle:
                self.release()
        return self.stats

    def next_wakeup(self) -> int | None:
        """When something could next be sent (None: nothing waits)."""
        times = []
        for lane in self._lanes.values():
            if lane.heap:
                times.append(max(lane.heap[0][0], lane.blocked_until))
        return min(times) if times else None

    async def step(self) -> int:
        """Claim what may go now, send it, record the outcomes; return how many actions were handed over."""
        self.stats.steps += 1
        if self._handover:
            await self._take_over()
        now = self.now_ms()
        batch: list[tuple[_Scope, Pending]] = []
        over_quota: list[tuple[_Scope, Pending]] = []
        # One transaction renews the lease, reads new rows and claims: a step costs two commits, not four.
        with self.store.transaction() as conn:
            self._renew(now, conn)
            if self.wake.is_set() or now >= self._loaded_at + round(self.settings.poll_seconds * 1000):
                self.wake.clear()
                self._load(conn)
                self._loaded_at = now
            sending_for = self._fence(conn, now) if self.shared else None
            for lane in self._lanes.values():
                if lane.blocked_until > now or (sending_for is not None and lane.platform not in sending_for):
                    continue
                self._take(lane, now, batch, over_quota)
                if len(batch) >= self.settings.batch:
                    break
            if not batch and not over_quota:
                return 0
            claimed = self.store.delivery.claim(
                conn, [item.id for _, item in batch], now_ms=now, worker=self.holder[-64:]
            )
            if self.shared:
                self.store.delivery.mark(conn, self._sends(batch, claimed, now))
            if over_quota:
                outcomes = [
                    Outcome(item.id, ActionStatus.STAFF, now, error="quota exhausted") for _, item in over_quota
                ]
                self.store.delivery.finish(conn, outcomes)
                self._open_tasks(conn, [(item, "quota", "") for _, item in over_quota], now)
        for scope, item in over_quota:
            _drop(scope, item)
            self.stats.staff += 1
            self._next(scope, now)
        sending = [(s, i) for s, i in batch if i.id in claimed]
        for scope, item in batch:
            if item.id not in claimed:  # changed by someone else meanwhile
                _drop(scope, item)
                scope.busy = False
                self._next(scope, now)
        if not sending:
            return 0
        gate = asyncio.Semaphore(self.settings.concurrency)
        # By tier across chats too: the ad is gone before the rules DM or a welcome goes anywhere.
        sending.sort(key=lambda si: priority_of(si[1].action))
        first = [si for si in sending if urgent(si[1].action)]
        results = list(await asyncio.gather(*(self._send(gate, scope, item) for scope, item in first)))
        results += await asyncio.gather(*(self._send(gate, scope, item) for scope, item in sending[len(first) :]))
        done = self.now_ms()
        outcomes = [o for o, _ in results]
        tasks = [
            (item, reason, error) for (o, (reason, error)), (_, item) in zip(results, sending, strict=True) if reason
        ]
        with self.store.transaction() as conn:
            self.store.delivery.finish(conn, outcomes)
            self._open_tasks(conn, tasks, done)
        for (scope, item), outcome in zip(sending, outcomes, strict=True):
            scope.busy = False
            if outcome.status is ActionStatus.PENDING:
                item.next_ms = outcome.next_ms or done
                item.attempts += 0 if outcome.refund_attempt else 1
            else:
                _drop(scope, item)
            self._next(scope, done)
        return len(sending)

    def _take(
        self, lane: _Lane, now: int, batch: list[tuple[_Scope, Pending]], over_quota: list[tuple[_Scope, Pending]]
    ) -> None:
        heap = lane.heap
        # Every chat of the lane whose head is due, by tier (moderation, replies, broadcasts), then by readiness: when
        # the bot's window is the bottleneck, what it spends the next slot on is the most urgent chat's head.
        due: dict[int, tuple[int, int, _Scope]] = {}
        while heap and heap[0][0] <= now:
            entry = heapq.heappop(heap)
            if not entry[2].busy and entry[2].items:
                due.setdefault(id(entry[2]), entry)
        ranked = sorted(due.values(), key=lambda e: (priority_of(_head(e[2], now).action), e[0], e[1]))
        for n, (_, _, scope) in enumerate(ranked):
            if len(batch) >= self.settings.batch:
                self._requeue(lane, ranked[n:])
                return
            item = _head(scope, now)
            start = max(item.due_ms, item.next_ms)
            if start > now:
                self._push(scope, start)
                continue
            action = item.action
            kind = action.kind.value
            if self._platform_delivers(action):  # nothing goes over the wire: no window, no quota is used
                scope.busy = True
                batch.append((scope, item))
                continue
            if self.quotas.exhausted(lane.platform, scope.chat, kind, now):
                over_quota.append((scope, item))
                scope.busy = True
                continue
            free, why = self.limiter.free_at(lane.platform, lane.bot, scope.chat, kind, now)
            if free > now:
                self._push(scope, free)
                if why in ("bot", "platform"):
                    lane.blocked_until = free
                    self._requeue(lane, ranked[n + 1 :])
                    return
                continue
            self.limiter.record(lane.platform, lane.bot, scope.chat, kind, now)
            self.quotas.record(lane.platform, scope.chat, kind, now)
            scope.busy = True
            batch.append((scope, item))

    @staticmethod
    def _requeue(lane: _Lane, entries: list[tuple[int, int, _Scope]]) -> None:
        for entry in entries:
            heapq.heappush(lane.heap, entry)

    def _fence(self, conn: Connection, now: int) -> set[str]:
        """(Several sender processes) The platforms this process may claim for now: those whose bot account it still
        holds, their lease rows locked to the commit; serialize with the other processes' claims on them and count
        every process's recent sends in the windows."""
        held = self.store.delivery.held_bots(conn, self.holder)
        platforms = sorted(p for p, account in self._accounts.items() if (p, account) in held)
        if platforms:
            self.store.delivery.lock_limits(conn, platforms)
            longest = max(self.policies(p).longest_ms for p in platforms)
            self.limiter.reset(self.store.delivery.marks(conn, platforms, since_ms=now - longest))
            for lane in self._lanes.values():
                lane.blocked_until = 0  # the windows are re-read: another process's sends may have moved them
            if now - self._pruned_at > 60_000:
                for p in platforms:
                    self.store.delivery.prune_marks(conn, p, before_ms=now - longest - 60_000)
                self._pruned_at = now
        return set(platforms)

    def _sends(
        self, batch: list[tuple[_Scope, Pending]], claimed: set[int], now: int
    ) -> list[tuple[str, str, str, str, int]]:
        """The claimed sends that count against the windows (what the platform delivers itself does not)."""
        return [
            (scope.platform, scope.lane.bot, scope.chat, item.action.kind.value, now)
            for scope, item in batch
            if item.id in claimed and not self._platform_delivers(item.action)
        ]

    def _platform_delivers(self, action: Action) -> bool:
        """The connector says the platform delivers ``action`` itself (WeCom's welcome template): it costs nothing."""
        check = getattr(self.senders.get(action.platform), "delivered_by_platform", None)
        return bool(check is not None and check(action))

    def _next(self, scope: _Scope, now: int) -> None:
        scope.busy = False
        if scope.items:
            head = scope.items[0][2]
            self._push(scope, max(head.due_ms, head.next_ms, now))

    async def _send(self, gate: asyncio.Semaphore, scope: _Scope, item: Pending) -> tuple[Outcome, tuple[str, str]]:
        sender = self.senders[item.action.platform]
        attempts = item.attempts + 1
        async with gate:
            try:
                async with asyncio.timeout(self.settings.send_timeout):
                    result = await sender.send(item.action)
            except RetryAfterError as exc:
                now = self.now_ms()
                until = now + round(exc.seconds * 1000)
                self.limiter.pause(scope.platform, scope.lane.bot, scope.chat, exc.scope, until)
                self.stats.rate_limited += 1
                return Outcome(
                    item.id, ActionStatus.PENDING, now, next_ms=until, error=str(exc), refund_attempt=True
                ), ("", "")
            except QuotaExhaustedError as exc:
                self.stats.staff += 1
                return Outcome(item.id, ActionStatus.STAFF, self.now_ms(), error=str(exc)), ("quota", str(exc))
            except PermanentSendError as exc:
                self.stats.failed += 1
                return Outcome(item.id, ActionStatus.FAILED, self.now_ms(), error=str(exc)), ("failed", str(exc))
            except TimeoutError:
                # It may have reached the platform: treat it as a crash would be treated.
                return self._uncertain(sender, item, "timed out")
            except Exception as exc:  # any other failure is worth another try
                now = self.now_ms()
                error = f"{type(exc).__name__}: {exc}"[:500]
                if attempts >= self.settings.max_attempts:
                    self.stats.failed += 1
                    return Outcome(item.id, ActionStatus.FAILED, now, error=error), ("failed", error)
                self.stats.retried += 1
                return Outcome(
                    item.id, ActionStatus.PENDING, now, next_ms=now + self.backoff_ms(item, attempts), error=error
                ), ("", "")
        self.stats.sent += 1
        return Outcome(item.id, ActionStatus.SENT, self.now_ms(), result=_result(result)), ("", "")

    def _uncertain(self, sender: Sender, item: Pending, why: str) -> tuple[Outcome, tuple[str, str]]:
        now = self.now_ms()
        if sender.idempotent_sends:
            self.stats.retried += 1
            return Outcome(
                item.id, ActionStatus.PENDING, now, next_ms=now + self.backoff_ms(item, item.attempts + 1), error=why
            ), ("", "")
        # Left ``sending``-like for a person: neither a resend nor silence is safe.
        self.stats.unconfirmed += 1
        return Outcome(item.id, ActionStatus.UNCONFIRMED, now, error=why), ("unconfirmed", why)

    def backoff_ms(self, item: Pending, attempts: int) -> int:
        """Exponential backoff with a deterministic ±20 % jitter (from the action's key), capped."""
        base = min(self.settings.backoff_base * 2 ** max(attempts - 1, 0), self.settings.backoff_max)
        h = int.from_bytes(hashlib.blake2b(f"{item.action.key}:{attempts}".encode(), digest_size=2).digest(), "big")
        ms: float = base * (0.8 + 0.4 * h / 0xFFFF) * 1000
        return round(ms)

    def _open_tasks(self, conn: Any, tasks: Iterable[tuple[Pending, str, str]], now: int) -> None:
        for item, reason, error in tasks:
            action = item.action
            what = t(f"action.{action.kind.value}", self.locale)
            title = t(f"outbox.staff.{reason}", self.locale, platform=action.platform, action=what, error=error)
            self.store.tasks.open(
                conn,
                self.ws_id,
                kind=action.kind.value,
                reason=f"outbox_{reason}",
                title=title,
                detail={"action": action.to_dict(compact=True), "error": error},
                action_id=item.id,
                community_id=item.community_id,
                group_id=item.group_id,
                now_ms=now,
            )


def _result(result: Any) -> dict[str, object]:
    """What to keep of a connector's answer (a :class:`~shequn.connectors.SendResult` or anything alike)."""
    if result is None:
        return {}
    out: dict[str, object] = {}
    pid = getattr(result, "platform_id", None)
    if pid:
        out["platform_id"] = str(pid)
    detail = getattr(result, "detail", None)
    if detail:
        out["detail"] = dict(detail)
    return out


def run_in_loop(coro_factory: Callable[[], Any]) -> Any:
    """Run a coroutine to completion on a fresh event loop (for synchronous callers such as the command line)."""
    return asyncio.run(coro_factory())
