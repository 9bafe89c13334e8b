"""Shards (分片) for several workers on PostgreSQL: the shard count, the leases, each shard's offset, live workers.

How it works:
    A community belongs to one of N virtual shards, a stable hash of its id (:func:`shard_of`, the same in Python
    and in SQL: :func:`shard_sql`). N is chosen once per database (``shard_config``); each shard has one row in
    ``shard_lease``: who holds it until when (in the database's clock, so machines' clocks need not agree), its
    fencing generation (bumped by every take-over) and its offset (the last event seq whose effects are committed).

    A worker claims free or expired shards with ``UPDATE … WHERE shard IN (SELECT … FOR UPDATE SKIP LOCKED)
    RETURNING``, renews them with its heartbeat and gives them back when it stops. Every batch it processes starts
    with :meth:`ShardStore.fence`: the shard's row locked ``FOR UPDATE`` if the worker still holds it with the same
    generation; the lock is held to the commit, so a take-over waits for the batch and then reads its offset. No
    consensus of our own: PostgreSQL's row locks and transactions do the coordinating.

    Seqs must become visible in order, or a reader could move a shard's offset past an event another transaction
    has not committed yet: once workers are set up, appends to the log take :func:`log_order_lock` (a
    transaction-level advisory lock), so appending transactions commit one after the other, in seq order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from sqlalchemy import Connection, text

DEFAULT_SHARDS = 64
_GOLDEN = 2654435761  # Knuth's multiplicative hash constant (2^32 / golden ratio)
_LOG_ORDER_LOCK = 1_900_019  # advisory lock key of "appending to the event log"
_MODE_LOCK = 1_900_020  # advisory lock key of "the engine runs in the writing process" (shared) / "workers start"
NOW_MS = "(EXTRACT(EPOCH FROM clock_timestamp()) * 1000)::bigint"


def shard_of(community_id: int, shards: int) -> int:
    """The shard of a community: Fibonacci hashing of its id (stable, spreads consecutive ids evenly)."""
    return (((community_id * _GOLDEN) % 4294967296) * shards) >> 32


def shard_sql(column: str, shards: int) -> str:
    """:func:`shard_of` as a PostgreSQL expression over an integer ``column``."""
    return f"(((({column})::bigint * {_GOLDEN}) % 4294967296) * {int(shards)}) / 4294967296"


# The community an event belongs to: its group's, or for an operator's change made by hand (no group) the community
# it names. Events of no community (ticks, groups bound to none) belong to no shard: the engine does not act on them.
_ROUTED = (
    "FROM event e LEFT JOIN chat_group g ON g.id = e.group_id"
    " LEFT JOIN community oc ON e.group_id IS NULL AND e.kind = 'operator_action'"
    " AND oc.workspace_id = e.workspace_id AND oc.name = CAST(e.payload AS json) ->> 'community'"
)
_COMMUNITY = "COALESCE(g.community_id, oc.id)"


def fair_share(shards: int, workers: int) -> int:
    """How many shards one worker takes at most: ceil(N / live workers)."""
    return math.ceil(shards / max(workers, 1))


def log_order_lock(conn: Connection) -> None:
    """(PostgreSQL with workers set up) Serialize appends to the log until this transaction ends, so seqs commit in
    order. Without workers nobody reads the log by seq while it is written: appends stay parallel, as before."""
    if conn.dialect.name == "postgresql" and conn.exec_driver_sql("SELECT 1 FROM shard_config WHERE id = 1").first():
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_LOG_ORDER_LOCK})")


class LeaseLostError(Exception):
    """The shard's lease is no longer held by this worker with this generation: nothing may be written for it."""


@dataclass(frozen=True, slots=True)
class ShardRow:
    """One shard as ``shequn status`` shows it."""

    shard: int
    owner: str | None
    expires_in_ms: int  # negative: expired
    generation: int
    last_seq: int
    lag: int  # events of its communities logged after its offset


@dataclass(frozen=True, slots=True)
class LogEntry:
    """An event of a shard to process: its seq, workspace, payload, and when it happened and was logged."""

    seq: int
    workspace_id: int
    payload: str
    at_ms: int
    ingested_ms: int


class ShardStore:
    def configured(self, conn: Connection) -> int | None:
        """The shard count of this database, or None when no worker was ever set up (the one-process mode)."""
        n = conn.execute(text("SELECT shards FROM shard_config WHERE id = 1")).scalar()
        return None if n is None else int(n)

    def one_process(self, conn: Connection) -> bool:
        """(In a transaction that runs the engine in the writing process) True while no worker is set up, holding
        the mode lock shared to the commit: :meth:`configure` waits for every such transaction, and none starts
        the engine after it. The workers then take over each workspace after the cursor its last run saved."""
        conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock_shared({_MODE_LOCK})")
        return self.configured(conn) is None

    def configure(self, conn: Connection, shards: int, *, now_ms: int) -> int:
        """Set the shard count if not set yet (with a lease row per shard); return the count in force."""
        if self.configured(conn) is None:  # the first worker: wait for the engine runs of one-process writers
            conn.exec_driver_sql(f"SELECT pg_advisory_xact_lock({_MODE_LOCK})")
        conn.execute(
            text("INSERT INTO shard_config (id, shards, created_ms) VALUES (1, :n, :now) ON CONFLICT (id) DO NOTHING"),
            {"n": shards, "now": now_ms},
        )
        n = int(conn.execute(text("SELECT shards FROM shard_config WHERE id = 1")).scalar_one())
        conn.execute(
            text(
                "INSERT INTO shard_lease (shard, owner, expires_ms, generation, last_seq, updated_ms)"
                " SELECT s, NULL, 0, 0, 0, :now FROM generate_series(0, :n - 1) AS s ON CONFLICT (shard) DO NOTHING"
            ),
            {"n": n, "now": now_ms},
        )
        return n

    # -- workers ------------------------------------------------------------------------------------------------

    def beat(self, conn: Connection, worker: str, *, host: str, pid: int) -> None:
        """Say that ``worker`` is alive (registering it on first call)."""
        conn.execute(
            text(
                "INSERT INTO shard_worker (id, host, pid, started_ms, seen_ms)"
                f" VALUES (:id, :host, :pid, {NOW_MS}, {NOW_MS})"
                " ON CONFLICT (id) DO UPDATE SET seen_ms = EXCLUDED.seen_ms"
            ),
            {"id": worker, "host": host, "pid": pid},
        )

    def live_workers(self, conn: Connection, ttl_ms: int) -> int:
        q = f"SELECT COUNT(*) FROM shard_worker WHERE seen_ms > {NOW_MS} - :ttl"
        return int(conn.execute(text(q), {"ttl": ttl_ms}).scalar_one())

    def forget(self, conn: Connection, worker: str, *, older_than_ms: int = 3_600_000) -> None:
        """Remove ``worker`` (it stops) and workers not seen for an hour."""
        conn.execute(
            text(f"DELETE FROM shard_worker WHERE id = :id OR seen_ms < {NOW_MS} - :old"),
            {"id": worker, "old": older_than_ms},
        )

    # -- leases -------------------------------------------------------------------------------------------------

    def claim(self, conn: Connection, worker: str, count: int, *, ttl_ms: int) -> dict[int, int]:
        """Take up to ``count`` free or expired shards; return shard → its new fencing generation."""
        if count <= 0:
            return {}
        rows = conn.execute(
            text(
                f"UPDATE shard_lease SET owner = :w, generation = generation + 1, expires_ms = {NOW_MS} + :ttl,"
                f" updated_ms = {NOW_MS}"
                " WHERE shard IN (SELECT shard FROM shard_lease"
                f" WHERE owner IS NULL OR expires_ms < {NOW_MS} ORDER BY shard LIMIT :k FOR UPDATE SKIP LOCKED)"
                " RETURNING shard, generation"
            ),
            {"w": worker, "ttl": ttl_ms, "k": count},
        )
        return {int(s): int(g) for s, g in rows}

    def renew(self, conn: Connection, worker: str, *, ttl_ms: int) -> dict[int, int]:
        """Extend the leases ``worker`` still holds; return them (shard → generation). A shard taken over by another
        worker has another owner, so it is not among them."""
        rows = conn.execute(
            text(f"UPDATE shard_lease SET expires_ms = {NOW_MS} + :ttl WHERE owner = :w RETURNING shard, generation"),
            {"w": worker, "ttl": ttl_ms},
        )
        return {int(s): int(g) for s, g in rows}

    def release(self, conn: Connection, worker: str, shards: Sequence[int]) -> None:
        """Give shards back (on stopping, or to make room for a new worker)."""
        if shards:
            conn.execute(
                text(
                    "UPDATE shard_lease SET owner = NULL, expires_ms = 0"
                    " WHERE owner = :w AND shard = ANY(CAST(:s AS integer[]))"
                ),
                {"w": worker, "s": list(shards)},
            )

    def fence(self, conn: Connection, shard: int, worker: str, generation: int) -> int | None:
        """Lock the shard's row for this transaction if ``worker`` holds it with ``generation`` and the lease has
        not expired; return its offset (None: the lease is lost and nothing may be written for the shard)."""
        q = (
            "SELECT last_seq FROM shard_lease WHERE shard = :s AND owner = :w AND generation = :g"
            f" AND expires_ms > {NOW_MS} FOR UPDATE"
        )
        seq = conn.execute(text(q), {"s": shard, "w": worker, "g": generation}).scalar()
        return None if seq is None else int(seq)

    def advance(self, conn: Connection, shard: int, last_seq: int) -> None:
        """Move the shard's offset (in the fenced transaction that committed the effects up to ``last_seq``)."""
        conn.execute(
            text(f"UPDATE shard_lease SET last_seq = :q, updated_ms = {NOW_MS} WHERE shard = :s"),
            {"q": last_seq, "s": shard},
        )

    def skip_to(self, conn: Connection, shards: Sequence[int], worker: str, top: int) -> None:
        """Move the offsets of ``shards``, which ``worker`` holds and which have no event up to ``top``, to ``top``
        (never backwards, never for a shard someone else holds by now)."""
        if shards:
            conn.execute(
                text(
                    f"UPDATE shard_lease SET last_seq = :top, updated_ms = {NOW_MS}"
                    " WHERE shard = ANY(CAST(:s AS integer[])) AND owner = :w AND last_seq < :top"
                    f" AND expires_ms > {NOW_MS}"
                ),
                {"top": top, "s": list(shards), "w": worker},
            )

    # -- the log, per shard -------------------------------------------------------------------------------------

    def read(self, conn: Connection, shard: int, shards: int, *, after: int, limit: int) -> list[LogEntry]:
        """The shard's events logged after ``after``, in log order (every workspace's): those of the groups bound
        to a community of the shard, and the operators' changes to its members."""
        q = (
            f"SELECT e.seq, e.workspace_id, e.payload, e.at_ms, e.ingested_ms {_ROUTED}"
            f" WHERE e.seq > :after AND {shard_sql(_COMMUNITY, shards)} = :s"
            " ORDER BY e.seq LIMIT :n"
        )
        rows = conn.execute(text(q), {"after": after, "s": shard, "n": limit})
        return [LogEntry(int(a), int(b), str(c), int(d), int(e)) for a, b, c, d, e in rows]

    def pending(
        self, conn: Connection, shards: Sequence[int], count: int, *, per_shard: int
    ) -> dict[int, tuple[int, list[LogEntry]]]:
        """The next events of each of ``shards`` (up to ``per_shard`` each, in log order) with the offset they
        follow: one pass over the log's tail since the lowest of their offsets, instead of a read per shard. The
        caller checks the offset again under the fence before using them."""
        if not shards:
            return {}
        expr = shard_sql(_COMMUNITY, count)
        q = (
            "SELECT shard, last_seq, seq, workspace_id, payload, at_ms, ingested_ms FROM ("
            f" SELECT l.shard, l.last_seq, e.seq, e.workspace_id, e.payload, e.at_ms, e.ingested_ms,"
            " ROW_NUMBER() OVER (PARTITION BY l.shard ORDER BY e.seq) AS n"
            f" {_ROUTED} JOIN shard_lease l ON l.shard = {expr} AND e.seq > l.last_seq"
            " WHERE l.shard = ANY(CAST(:held AS integer[]))"
            " AND e.seq > (SELECT MIN(last_seq) FROM shard_lease WHERE shard = ANY(CAST(:held AS integer[])))"
            ") t WHERE n <= :per ORDER BY seq"
        )
        out: dict[int, tuple[int, list[LogEntry]]] = {}
        for shard, offset, seq, ws, payload, at_ms, ingested_ms in conn.execute(
            text(q), {"held": list(shards), "per": per_shard}
        ):
            entry = LogEntry(int(seq), int(ws), str(payload), int(at_ms), int(ingested_ms))
            out.setdefault(int(shard), (int(offset), []))[1].append(entry)
        return out

    def last_seq(self, conn: Connection) -> int:
        return int(conn.execute(text("SELECT COALESCE(MAX(seq), 0) FROM event")).scalar_one())

    def rows(self, conn: Connection, *, workspace_id: int | None = None) -> list[ShardRow]:
        """Every shard with its holder, offset and lag (in one workspace, or all)."""
        n = self.configured(conn)
        if n is None:
            return []
        ws = "" if workspace_id is None else " AND e.workspace_id = :ws"
        lag_q = (
            f"SELECT {shard_sql(_COMMUNITY, n)} AS shard, e.seq {_ROUTED}"
            f" WHERE e.seq > (SELECT COALESCE(MIN(last_seq), 0) FROM shard_lease){ws}"
        )
        q = (
            f"SELECT l.shard, l.owner, l.expires_ms - {NOW_MS}, l.generation, l.last_seq,"
            " (SELECT COUNT(*) FROM pending p WHERE p.shard = l.shard AND p.seq > l.last_seq)"
            " FROM shard_lease l ORDER BY l.shard"
        )
        rows = conn.execute(text(f"WITH pending AS ({lag_q}) {q}"), {"ws": workspace_id})
        return [ShardRow(int(s), o, int(x), int(g), int(q_), int(lag)) for s, o, x, g, q_, lag in rows]

    # -- shared state -------------------------------------------------------------------------------------------

    def shared_version(self, conn: Connection, ws_id: int) -> int:
        v = conn.execute(
            text("SELECT version FROM shared_state_version WHERE workspace_id = :ws"), {"ws": ws_id}
        ).scalar()
        return 0 if v is None else int(v)

    def bump_shared(self, conn: Connection, ws_id: int, seen: int) -> bool:
        """Move the workspace's shared-state version from ``seen`` to the next; False if another commit moved it
        since ``seen`` was read (then this transaction must not write the shared state it computed)."""
        if seen == 0:
            n = conn.execute(
                text(
                    "INSERT INTO shared_state_version (workspace_id, version) VALUES (:ws, 1)"
                    " ON CONFLICT (workspace_id) DO NOTHING"
                ),
                {"ws": ws_id},
            ).rowcount
        else:
            n = conn.execute(
                text("UPDATE shared_state_version SET version = version + 1 WHERE workspace_id = :ws AND version = :v"),
                {"ws": ws_id, "v": seen},
            ).rowcount
        return n == 1
