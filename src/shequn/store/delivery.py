"""What the outbox runner reads and writes: pending actions, claims, outcomes, its lease, and past sends for limits;
on PostgreSQL also the bot accounts' leases and the sends every sender process counts (``send_mark``).

Every method takes the caller's connection, so a claim or a batch of outcomes commits as one transaction.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection, func, select, text, update

from shequn.domain import Action, action_from_dict
from shequn.store._sql import chunks, dumps, insert_ignore
from shequn.store.outbox import ActionStatus
from shequn.store.schema import ACTION, OUTBOX_LEASE
from shequn.store.shards import NOW_MS


@dataclass(slots=True)
class Pending:
    """An action waiting in the outbox, as the runner keeps it in memory."""

    id: int
    action: Action
    due_ms: int
    next_ms: int
    attempts: int
    group_id: int | None
    community_id: int | None


@dataclass(frozen=True, slots=True)
class Outcome:
    """How one claimed action ended this time: its new status, when to try again, what the platform said."""

    id: int
    status: ActionStatus
    now_ms: int
    next_ms: int | None = None
    result: dict[str, object] | None = None
    error: str = ""
    refund_attempt: bool = False  # a 429 is not a failed attempt


@dataclass(frozen=True, slots=True)
class Lease:
    holder: str
    host: str
    pid: int
    until_ms: int


class DeliveryStore:
    def pending(
        self, conn: Connection, ws_id: int, *, after_id: int = 0, limit: int = 50_000
    ) -> tuple[list[Pending], int]:
        """Pending actions, by id, and the highest id looked at (to continue from).

        The first call (``after_id=0``) reads every pending row through the status index; later calls read only the
        rows added since, through the primary key, so a queue of thousands is not scanned again at every step.
        """
        t = ACTION
        cols = (t.c.id, t.c.payload, t.c.due_ms, t.c.next_ms, t.c.attempts, t.c.group_id, t.c.community_id)
        if after_id == 0:
            top = int(conn.execute(select(func.coalesce(func.max(t.c.id), 0))).scalar_one())
            q = select(*cols).where(t.c.workspace_id == ws_id, t.c.status == ActionStatus.PENDING.value, t.c.id <= top)
            rows: list[Any] = list(conn.execute(q.order_by(t.c.id)))
        else:
            q = select(*cols, t.c.workspace_id, t.c.status).where(t.c.id > after_id).order_by(t.c.id).limit(limit)
            found = list(conn.execute(q))
            top = found[-1].id if found else after_id
            rows = [r for r in found if r.workspace_id == ws_id and r.status == ActionStatus.PENDING.value]
        items = [
            Pending(
                r.id,
                action_from_dict(orjson.loads(r.payload)),
                r.due_ms,
                r.next_ms or r.due_ms,
                r.attempts,
                r.group_id,
                r.community_id,
            )
            for r in rows
        ]
        return items, top

    def in_flight(self, conn: Connection, ws_id: int) -> list[Pending]:
        """Actions left ``sending``: handed to a connector by a runner that stopped before recording the outcome."""
        t = ACTION
        q = (
            select(t.c.id, t.c.payload, t.c.due_ms, t.c.next_ms, t.c.attempts, t.c.group_id, t.c.community_id)
            .where(t.c.workspace_id == ws_id, t.c.status == ActionStatus.SENDING.value)
            .order_by(t.c.id)
        )
        return [
            Pending(
                r.id,
                action_from_dict(orjson.loads(r.payload)),
                r.due_ms,
                r.next_ms or r.due_ms,
                r.attempts,
                r.group_id,
                r.community_id,
            )
            for r in conn.execute(q)
        ]

    def claim(self, conn: Connection, ids: Sequence[int], *, now_ms: int, worker: str) -> set[int]:
        """Mark pending actions ``sending`` (one more attempt); return the ids actually claimed."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        got: set[int] = set()
        for part in chunks(list(ids), 500):
            sql = (
                f"UPDATE action SET status = {mark}, claimed_ms = {mark}, attempts = attempts + 1, worker = {mark} "
                # ``status || ''``: look rows up by id, not through the status index (which would scan the queue)
                f"WHERE id IN ({', '.join([mark] * len(part))}) AND (status || '') = {mark} RETURNING id"
            )
            params = (ActionStatus.SENDING.value, now_ms, worker, *part, ActionStatus.PENDING.value)
            got.update(i for (i,) in conn.exec_driver_sql(sql, params))
        return got

    def finish(self, conn: Connection, outcomes: Iterable[Outcome]) -> None:
        """Record outcomes in one executemany per shape."""
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        rows = []
        for o in outcomes:
            rows.append(
                (
                    o.status.value,
                    o.next_ms,
                    o.error,
                    dumps(o.result) if o.result is not None else None,
                    o.now_ms if o.status is ActionStatus.SENT else None,
                    1 if o.refund_attempt else 0,
                    o.id,
                )
            )
        if not rows:
            return
        conn.exec_driver_sql(
            f"UPDATE action SET status = {mark}, next_ms = {mark}, last_error = {mark}, "
            f"result = COALESCE({mark}, result), sent_ms = COALESCE({mark}, sent_ms), "
            f"attempts = attempts - {mark} WHERE id = {mark}",
            rows,
        )

    def recent(self, conn: Connection, ws_id: int, *, since_ms: int) -> list[tuple[Action, int]]:
        """Actions handed to connectors since ``since_ms`` (sent or in flight), with when: to seed the limits."""
        t = ACTION
        q = select(t.c.payload, t.c.claimed_ms).where(
            t.c.workspace_id == ws_id,
            t.c.status.in_([ActionStatus.SENT.value, ActionStatus.SENDING.value, ActionStatus.UNCONFIRMED.value]),
            t.c.claimed_ms >= since_ms,
        )
        return [(action_from_dict(orjson.loads(p)), int(at)) for p, at in conn.execute(q)]

    def status_of(self, conn: Connection, ids: Sequence[int]) -> dict[int, str]:
        t = ACTION
        out: dict[int, str] = {}
        for part in chunks(list(ids), 500):
            out.update({i: s for i, s in conn.execute(select(t.c.id, t.c.status).where(t.c.id.in_(part)))})
        return out

    # -- the lease: one runner per workspace -------------------------------------------------------------------

    def lease(self, conn: Connection, ws_id: int) -> Lease | None:
        t = OUTBOX_LEASE
        r = conn.execute(select(t).where(t.c.workspace_id == ws_id)).first()
        return Lease(r.holder, r.host, r.pid, r.until_ms) if r else None

    def take_lease(
        self, conn: Connection, ws_id: int, *, holder: str, host: str, pid: int, until_ms: int, now_ms: int
    ) -> None:
        t = OUTBOX_LEASE
        conn.execute(
            insert_ignore(conn, t, ["workspace_id"]).values(
                workspace_id=ws_id, holder=holder, host=host, pid=pid, until_ms=until_ms, started_ms=now_ms
            )
        )
        conn.execute(
            update(t)
            .where(t.c.workspace_id == ws_id)
            .values(holder=holder, host=host, pid=pid, until_ms=until_ms, started_ms=now_ms)
        )

    def renew_lease(self, conn: Connection, ws_id: int, *, holder: str, until_ms: int) -> bool:
        t = OUTBOX_LEASE
        res = conn.execute(update(t).where(t.c.workspace_id == ws_id, t.c.holder == holder).values(until_ms=until_ms))
        return bool(res.rowcount)

    def release_lease(self, conn: Connection, ws_id: int, *, holder: str) -> None:
        t = OUTBOX_LEASE
        conn.execute(update(t).where(t.c.workspace_id == ws_id, t.c.holder == holder).values(until_ms=0))

    # -- bot accounts: one connection each, and the sends every process counts (PostgreSQL) --------------------

    def take_bot(self, conn: Connection, platform: str, account: str, *, holder: str, ttl_ms: int) -> bool:
        """Take (or keep) the lease of a bot account if it is free, expired or ours; True when this process holds it.
        A take-over bumps the fencing generation. Times are the database's, so machines' clocks need not agree."""
        conn.execute(
            text(
                "INSERT INTO bot_lease (platform, account, holder, expires_ms, generation)"
                " VALUES (:p, :a, NULL, 0, 0) ON CONFLICT (platform, account) DO NOTHING"
            ),
            {"p": platform, "a": account},
        )
        got = conn.execute(
            text(
                f"UPDATE bot_lease SET expires_ms = {NOW_MS} + :ttl,"
                " generation = generation + CASE WHEN holder = :h THEN 0 ELSE 1 END, holder = :h"
                f" WHERE platform = :p AND account = :a AND (holder IS NULL OR holder = :h OR expires_ms < {NOW_MS})"
                " RETURNING generation"
            ),
            {"p": platform, "a": account, "h": holder, "ttl": ttl_ms},
        ).first()
        return got is not None

    def held_bots(self, conn: Connection, holder: str) -> set[tuple[str, str]]:
        """The bot accounts (platform, account) ``holder`` still holds, their rows locked until the transaction ends:
        a take-over waits for a claim made under them (the fence of every claim)."""
        rows = conn.execute(
            text(f"SELECT platform, account FROM bot_lease WHERE holder = :h AND expires_ms > {NOW_MS} FOR SHARE"),
            {"h": holder},
        )
        return {(str(p), str(a)) for p, a in rows}

    def release_bots(self, conn: Connection, holder: str) -> None:
        """Give ``holder``'s bot accounts back, so a standby takes over at once."""
        conn.execute(text("UPDATE bot_lease SET holder = NULL, expires_ms = 0 WHERE holder = :h"), {"h": holder})

    def bot_holders(self, conn: Connection) -> list[tuple[str, str, str | None, int]]:
        """Every bot account with its holder and the milliseconds its lease has left (negative: expired)."""
        q = f"SELECT platform, account, holder, expires_ms - {NOW_MS} FROM bot_lease ORDER BY platform, account"
        return [(str(p), str(a), h, int(x)) for p, a, h, x in conn.execute(text(q))]

    def lock_limits(self, conn: Connection, platforms: Iterable[str]) -> None:
        """Serialize the claims of every sender process on ``platforms`` until this transaction ends (an advisory
        lock per platform, taken in one order so two claims never wait for each other)."""
        for platform in sorted(set(platforms)):
            conn.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _lock_key(f"send:{platform}")})

    def marks(
        self, conn: Connection, platforms: Sequence[str], *, since_ms: int
    ) -> list[tuple[str, str, str, str, int]]:
        """The sends of every process on ``platforms`` since ``since_ms``: (platform, bot, chat, kind, when)."""
        q = (
            "SELECT platform, bot, chat, kind, at_ms FROM send_mark"
            " WHERE platform = ANY(CAST(:p AS text[])) AND at_ms > :since ORDER BY at_ms"
        )
        rows = conn.execute(text(q), {"p": list(platforms), "since": since_ms})
        return [(str(p), str(b), str(c), str(k), int(at)) for p, b, c, k, at in rows]

    def mark(self, conn: Connection, sends: Sequence[tuple[str, str, str, str, int]]) -> None:
        """Count sends (platform, bot, chat, kind, when) for every process's windows."""
        if sends:
            conn.execute(
                text("INSERT INTO send_mark (platform, bot, chat, kind, at_ms) VALUES (:p, :b, :c, :k, :at)"),
                [{"p": p, "b": b, "c": c, "k": k, "at": at} for p, b, c, k, at in sends],
            )

    def prune_marks(self, conn: Connection, platform: str, *, before_ms: int) -> None:
        conn.execute(text("DELETE FROM send_mark WHERE platform = :p AND at_ms <= :t"), {"p": platform, "t": before_ms})


def _lock_key(name: str) -> int:
    """A stable signed 64-bit advisory lock key for ``name``."""
    return int.from_bytes(hashlib.blake2b(name.encode(), digest_size=8).digest(), "big", signed=True)
