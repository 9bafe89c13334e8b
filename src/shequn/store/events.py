"""The append-only event log (事件日志): the source of truth everything else is derived from."""

from __future__ import annotations

import heapq
from collections.abc import Iterator, Sequence
from operator import itemgetter
from typing import Any, Protocol

import orjson
from orjson import dumps
from sqlalchemy import Connection, event, func, select
from sqlalchemy.exc import IntegrityError

from shequn.domain import Event, LogRow, event_from_dict
from shequn.store import partitions
from shequn.store._sql import bulk_insert, chunks, to_ms
from shequn.store.groups import GroupStore
from shequn.store.people import PeopleStore
from shequn.store.schema import EVENT
from shequn.store.shards import log_order_lock

_COLUMNS = ("workspace_id", "uid", "kind", "at_ms", "platform", "group_id", "person_id", "payload", "ingested_ms")


RowKey = tuple[str, str, str]  # (platform, group, kind)
_GROUP = itemgetter(3, 4)  # (platform, group) of a log row
_PERSON = itemgetter(3, 5)  # (platform, actor)
_NAME = itemgetter(6)  # actor_name

# A load of at least this many rows, and more than twice the rows the log holds, builds the log's indexes once at the
# end (a sort) instead of row by row (a random B-tree insert per row and index).
DEFER_INDEXES_FROM = 200_000
UNIQUE_INDEX = "ux_event_uid"


class Appended(Protocol):
    """Who watches what a bulk load adds to the log (the analytics snapshot's import parts): the rows as written
    (``_COLUMNS`` order) with their sequence numbers, and the sequence numbers a load removed again as repeats."""

    def add(self, seqs: Sequence[int], values: Sequence[tuple[Any, ...]]) -> None: ...

    def drop(self, seqs: Sequence[int]) -> None: ...


class BulkLoad:
    """A big load of history in one transaction (a context manager; :meth:`finish` before the end).

    On SQLite, when the load is big compared with the log (``expected`` rows, see ``DEFER_INDEXES_FROM``), the log's
    indexes (ids, group and time, person) are dropped at the start and built again by :meth:`finish`: sorting the
    table once is much cheaper than millions of random inserts into three B-trees. Meanwhile rows are inserted as
    they come (``unique`` is False); if the unique index of ids cannot be built again, the rows that repeat an id
    already logged (or logged earlier in the load) are removed first, as ``ON CONFLICT DO NOTHING`` would have
    skipped them. DDL is transactional in SQLite: a load that fails rolls the indexes back with everything else,
    and other connections keep reading the last committed state, indexes included.
    """

    def __init__(self, conn: Connection, expected: int) -> None:
        self.conn = conn
        self.expected = expected
        self.unique = True  # whether rows are deduplicated as they go in
        self._deferred: list[tuple[str, str]] = []  # (name, CREATE INDEX statement) to run again
        self._before = 0
        self._cache_size: int | None = None
        self.removed_seqs: list[int] = []  # the rows :meth:`finish` removed as repeats

    def __enter__(self) -> BulkLoad:
        conn = self.conn
        if conn.dialect.name != "sqlite" or self.expected < DEFER_INDEXES_FROM:
            return self
        self._before = conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM event").scalar_one()
        if self.expected <= 2 * self._before:
            return self
        indexes = conn.exec_driver_sql(
            "SELECT name, sql FROM sqlite_master WHERE type = 'index' AND tbl_name = 'event' AND sql IS NOT NULL"
        ).all()
        if UNIQUE_INDEX not in {name for name, _ in indexes}:
            return self  # a schema this code does not know: leave it alone
        _sort_in_files(conn)
        _begin(conn)
        # Appending to a table whose indexes are dropped touches few pages: a small page cache is enough, and the
        # memory goes to the index builds at the end.
        self._cache_size = int(conn.exec_driver_sql("PRAGMA cache_size").scalar_one())
        conn.exec_driver_sql("PRAGMA cache_size = -16384")
        for name, sql in indexes:
            conn.exec_driver_sql(f'DROP INDEX "{name}"')
            self._deferred.append((name, sql))
        self.unique = False
        return self

    def finish(self) -> dict[RowKey, int]:
        """Build the indexes dropped at the start; return the rows removed as repeated ids, counted by (platform,
        group, kind)."""
        conn = self.conn
        removed: dict[RowKey, int] = {}
        for name, sql in self._deferred:
            if name != UNIQUE_INDEX:
                conn.exec_driver_sql(sql)
        for name, sql in self._deferred:
            if name != UNIQUE_INDEX:
                continue
            try:
                with conn.begin_nested():
                    conn.exec_driver_sql(sql)
            except IntegrityError:
                removed = self._drop_repeats()
                conn.exec_driver_sql(sql)
        self._deferred = []
        self.unique = True
        return removed

    def _drop_repeats(self) -> dict[RowKey, int]:
        """Remove the rows of this load whose id was logged before them (before the load or earlier in it)."""
        conn = self.conn
        conn.exec_driver_sql("CREATE INDEX _event_uid_seq ON event (workspace_id, uid, seq)")
        repeat = (
            "e.seq > ? AND EXISTS (SELECT 1 FROM event d WHERE d.workspace_id = e.workspace_id AND d.uid = e.uid"
            " AND d.seq < e.seq)"
        )
        removed = {
            (platform, group or "", kind): int(n)
            for platform, group, kind, n in conn.exec_driver_sql(
                "SELECT e.platform, g.platform_id, e.kind, COUNT(*) FROM event e"
                f" LEFT JOIN chat_group g ON g.id = e.group_id WHERE {repeat} GROUP BY 1, 2, 3",
                (self._before,),
            )
        }
        self.removed_seqs = [
            int(s) for (s,) in conn.exec_driver_sql(f"SELECT e.seq FROM event e WHERE {repeat}", (self._before,))
        ]
        conn.exec_driver_sql(
            f"DELETE FROM event WHERE seq IN (SELECT e.seq FROM event e WHERE {repeat})", (self._before,)
        )
        conn.exec_driver_sql("DROP INDEX _event_uid_seq")
        return removed

    def __exit__(self, *exc: object) -> None:
        if self._cache_size is not None:
            self.conn.exec_driver_sql(f"PRAGMA cache_size = {self._cache_size}")


_TEMP_STORE: dict[int, int] = {}  # DBAPI connection id → the temp_store to give back when it returns to the pool


def _sort_in_files(conn: Connection) -> None:
    """Until the connection returns to the pool, let SQLite sort through temporary files (the OS keeps them in its
    cache) instead of the heap: building the indexes of a big log with ``temp_store=MEMORY`` would hold the whole
    sort resident (hundreds of MB). Only possible before the transaction has begun."""
    raw = conn.connection.dbapi_connection
    if raw is None or raw.in_transaction:
        return
    if not event.contains(conn.engine, "checkin", _give_back_temp_store):
        event.listen(conn.engine, "checkin", _give_back_temp_store)
    _TEMP_STORE[id(raw)] = int(conn.exec_driver_sql("PRAGMA temp_store").scalar_one())
    conn.exec_driver_sql("PRAGMA temp_store = FILE")


def _give_back_temp_store(dbapi_conn: Any, _record: Any) -> None:
    value = _TEMP_STORE.pop(id(dbapi_conn), None)
    if value is not None:
        cur = dbapi_conn.cursor()
        cur.execute(f"PRAGMA temp_store = {value}")
        cur.close()


def _begin(conn: Connection) -> None:
    """Make sure the SQLite transaction has begun (Python's driver begins it lazily, at the first write): DDL run
    before it would be committed at once, outside the load's transaction."""
    raw = conn.connection.dbapi_connection
    if raw is not None and not raw.in_transaction:
        conn.exec_driver_sql("UPDATE workspace SET id = id WHERE 0")  # a write that changes nothing: BEGIN


class EventStore:
    """Appends events once each (by ``id``) and reads them back in log order."""

    def __init__(self, groups: GroupStore, people: PeopleStore) -> None:
        self.groups = groups
        self.people = people

    def append(
        self, conn: Connection, ws_id: int, events: Sequence[Event], *, now_ms: int, with_seq: bool = True
    ) -> list[tuple[int, Event]]:
        """Add the events not already in the log; return them with their sequence numbers, in log order.

        Groups and identities named by the events are created on first sight. With ``with_seq=False`` (bulk loads)
        the sequence numbers are not read back and are returned as 0.
        """
        fresh: dict[str, Event] = {}
        for e in events:
            fresh.setdefault(e.id, e)
        if not fresh:
            return []
        batch = list(fresh.values())
        group_ids = self.groups.ids(conn, ws_id, {(e.platform, e.group) for e in batch if e.group}, now_ms=now_ms)
        person_ids = self.people.resolve(
            conn, ws_id, ((e.platform, e.actor, e.actor_name) for e in batch if e.actor), now_ms=now_ms
        )
        rows = [
            (
                ws_id,
                e.id,
                e.kind,
                to_ms(e.at),
                e.platform,
                group_ids.get(f"{e.platform}:{e.group}") if e.group else None,
                person_ids.get(f"{e.platform}:{e.actor}") if e.actor else None,
                dumps(e.to_dict(compact=True)).decode(),
                now_ms,
            )
            for e in batch
        ]
        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        if conn.dialect.name == "sqlite":
            # SQLite: insert, skipping known ids, then read back what was added by its seqs (a range of the primary
            # key), not by looking every id up. One writer (the write lock is taken first): the rows with a seq
            # above the last one before the insert are exactly the new ones. Bulk loads skip the read back unless
            # the count says something was skipped (a fresh import pays no lookup per event).
            _begin(conn)
            before = conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM event").scalar_one()
            sql = (
                f"INSERT INTO event ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))}) "
                "ON CONFLICT (workspace_id, uid) DO NOTHING"
            )
            inserted = conn.exec_driver_sql(sql, rows).rowcount
            if with_seq:
                got = conn.exec_driver_sql("SELECT seq, uid FROM event WHERE seq > ? ORDER BY seq", (before,))
                return [(seq, fresh[uid]) for seq, uid in got]
            if inserted != len(rows):
                new = {u for (u,) in conn.exec_driver_sql("SELECT uid FROM event WHERE seq > ?", (before,))}
                rows = [r for r in rows if r[1] in new]
            return [(0, fresh[r[1]]) for r in rows]
        # Set-based: claim the ids in event_uid (the new ones come back), insert those in one executemany (tuples
        # straight to the driver: the bulk path of imports and simulations), read their seqs back. Seqs commit in
        # order (workers read the log by seq: see shequn.store.shards).
        log_order_lock(conn)
        new = claim_ids(conn, ws_id, [r[1] for r in rows])
        if len(new) < len(rows):
            rows = [r for r in rows if r[1] in new]
        if not rows:
            return []
        bulk_insert(conn, EVENT, _COLUMNS, rows)
        if not with_seq:
            return [(0, fresh[r[1]]) for r in rows]
        added: list[tuple[int, Event]] = []
        for part in chunks([r[1] for r in rows], 5000):
            q = select(EVENT.c.seq, EVENT.c.uid).where(EVENT.c.workspace_id == ws_id, EVENT.c.uid.in_(part))
            added.extend((seq, fresh[uid]) for seq, uid in conn.execute(q))
        added.sort(key=lambda pair: pair[0])
        return added

    def append_rows(
        self,
        conn: Connection,
        ws_id: int,
        rows: Sequence[LogRow],
        *,
        now_ms: int,
        unique: bool = True,
        sink: Appended | None = None,
    ) -> list[LogRow]:
        """Bulk history: add the rows whose id the log does not hold yet; return those added, in order.

        The rows are written as they are (their payload is already the log's JSON form); groups and identities are
        created on first sight. With ``unique=False`` (a load that dropped the unique index of ids, see
        :meth:`defer_indexes`) every row is inserted and the duplicates go when the index is rebuilt. ``sink``
        receives the rows added with their sequence numbers.
        """
        if not rows:
            return []
        # The sets and maps of a batch are built by C loops (itemgetter, zip): no Python code per row.
        gkeys = set(map(_GROUP, rows))
        gkeys -= {k for k in gkeys if not k[1]}
        found = self.groups.ids(conn, ws_id, gkeys, now_ms=now_ms)
        gids = {k: found[f"{k[0]}:{k[1]}"] for k in gkeys}
        backwards = rows[::-1]
        names = dict(
            zip(map(_PERSON, backwards), map(_NAME, backwards), strict=True)
        )  # the first name each identity shows
        for k in [k for k in names if not k[1]]:
            del names[k]
        nameless = {k for k, v in names.items() if not v}
        if nameless:
            names.update({(r[3], r[5]): r[6] for r in backwards if r[6] and (r[3], r[5]) in nameless})
        known = self.people.resolve(conn, ws_id, ((p, a, n) for (p, a), n in names.items()), now_ms=now_ms)
        pids = {k: known[f"{k[0]}:{k[1]}"] for k in names}
        gget = gids.get
        pget = pids.get
        now = now_ms

        mark = "?" if conn.dialect.paramstyle == "qmark" else "%s"
        if conn.dialect.name == "sqlite":
            values = [(ws_id, r[0], r[1], r[2], r[3], gget((r[3], r[4])), pget((r[3], r[5])), r[7], now) for r in rows]
            # The payload goes in as UTF-8 bytes and is stored as text (CAST only relabels the bytes).
            marks = ", ".join(["?"] * (len(_COLUMNS) - 2) + ["CAST(? AS TEXT)", "?"])
            sql = f"INSERT INTO event ({', '.join(_COLUMNS)}) VALUES ({marks})"
            # One writer: the rows above the last seq before the insert are exactly the new ones.
            before = conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM event").scalar_one()
            if not unique:
                conn.exec_driver_sql(sql, values)
                if sink is not None:
                    sink.add(_new_seqs(conn, before, len(values)), values)
                return list(rows)
            # Skip known ids in the insert itself; look at what was skipped only when the count says something was
            # (a fresh import pays no lookup per row).
            inserted = conn.exec_driver_sql(sql + " ON CONFLICT (workspace_id, uid) DO NOTHING", values).rowcount
            if inserted == len(rows):
                if sink is not None:
                    sink.add(_new_seqs(conn, before, len(values)), values)
                return list(rows)
            got = conn.exec_driver_sql("SELECT seq, uid FROM event WHERE seq > ? ORDER BY seq", (before,)).all()
            if sink is not None:
                by_uid = {v[1]: v for v in reversed(values)}  # the first row of each id is the one inserted
                sink.add([s for s, _ in got], [by_uid[u] for _, u in got])
            return _first_of(rows, {u for _, u in got})
        log_order_lock(conn)
        fresh = _first_of(rows, claim_ids(conn, ws_id, list({r[0]: None for r in rows})))
        texts = [
            (ws_id, r[0], r[1], r[2], r[3], gget((r[3], r[4])), pget((r[3], r[5])), r[7].decode(), now) for r in fresh
        ]
        bulk_insert(conn, EVENT, _COLUMNS, texts)
        if sink is not None and texts:
            seqs: dict[str, int] = {}
            for part in chunks([v[1] for v in texts], 5000):
                marks = ", ".join([mark] * len(part))
                q = f"SELECT uid, seq FROM event WHERE workspace_id = {mark} AND uid IN ({marks})"
                seqs.update((u, int(s)) for u, s in conn.exec_driver_sql(q, (ws_id, *part)))
            ordered = sorted(texts, key=lambda v: seqs[v[1]])
            sink.add([seqs[v[1]] for v in ordered], ordered)
        return fresh

    def bulk_load(self, conn: Connection, expected: int) -> BulkLoad:
        """The set-up for a big load of history into the log in the caller's transaction (see :class:`BulkLoad`)."""
        return BulkLoad(conn, expected)

    def scan(
        self, conn: Connection, ws_id: int, *, after_seq: int = 0, until_seq: int | None = None, batch: int = 5000
    ) -> Iterator[tuple[int, Event]]:
        """Events in log order with their sequence numbers, from ``after_seq`` (exclusive): the months archived to
        Parquet (PostgreSQL, ``shequn log archive``) merged by seq with the database's rows."""
        hot = self._scan(conn, ws_id, after_seq=after_seq, until_seq=until_seq, batch=batch)
        files = partitions.archive_files(conn, after_seq, until_seq) if conn.dialect.name == "postgresql" else []
        if not files:
            return hot
        cold = partitions.read_archive(files, ws_id, after_seq, until_seq, batch)
        return heapq.merge(((s, event_from_dict(orjson.loads(p))) for s, p in cold), hot, key=itemgetter(0))

    def _scan(
        self, conn: Connection, ws_id: int, *, after_seq: int, until_seq: int | None, batch: int
    ) -> Iterator[tuple[int, Event]]:
        t = EVENT
        last = after_seq
        # "workspace_id + 0": without it SQLite answers from the (workspace_id, uid) index and sorts the whole
        # workspace's log for every batch (quadratic: minutes for a million events); this way it walks seq.
        while True:
            q = select(t.c.seq, t.c.payload).where((t.c.workspace_id + 0) == ws_id, t.c.seq > last)
            if until_seq is not None:
                q = q.where(t.c.seq <= until_seq)
            rows = conn.execute(q.order_by(t.c.seq).limit(batch)).all()
            if not rows:
                return
            for seq, payload in rows:
                yield seq, event_from_dict(orjson.loads(payload))
            last = rows[-1][0]

    def get(self, conn: Connection, ws_id: int, uid: str) -> Event | None:
        """The event with id ``uid``, or None (on PostgreSQL, also from the archived months)."""
        t = EVENT
        payload = conn.execute(select(t.c.payload).where(t.c.workspace_id == ws_id, t.c.uid == uid)).scalar()
        if payload is None and conn.dialect.name == "postgresql":
            payload = partitions.archived_payload(conn, ws_id, uid)  # its month may be archived
        return event_from_dict(orjson.loads(payload)) if payload is not None else None

    def ends(self, conn: Connection, ws_id: int) -> tuple[int, str]:
        """The workspace's last seq and first event id (0 and "" for an empty log), through the primary key."""
        ends = [
            conn.exec_driver_sql(
                # "+workspace_id": walk the primary key, not the (workspace, uid) index (SQLite would sort it all)
                f"SELECT seq, uid FROM event WHERE +workspace_id = {int(ws_id)} ORDER BY seq {order} LIMIT 1"
            ).first()
            for order in ("DESC", "ASC")
        ]
        last, first = (int(ends[0][0]) if ends[0] else 0), (str(ends[1][1]) if ends[1] else "")
        if conn.dialect.name == "postgresql":
            a_last, a_first_seq, a_first = partitions.archive_ends(conn, ws_id)
            if a_first and (not ends[1] or a_first_seq < int(ends[1][0])):
                first = a_first
            last = max(last, a_last)
        return last, first

    def last_seq(self, conn: Connection, ws_id: int) -> int:
        t = EVENT
        return int(
            conn.execute(select(func.coalesce(func.max(t.c.seq), 0)).where(t.c.workspace_id == ws_id)).scalar_one()
        )

    def count_by_kind(self, conn: Connection, ws_id: int) -> dict[str, int]:
        t = EVENT
        q = select(t.c.kind, func.count()).where(t.c.workspace_id == ws_id).group_by(t.c.kind)
        return {k: int(n) for k, n in conn.execute(q)}


def claim_ids(conn: Connection, ws_id: int, uids: Sequence[str]) -> set[str]:
    """(PostgreSQL) Record the ids in ``event_uid``; return those not logged before. The log is partitioned by time,
    so its ids cannot be unique on it: this table is the one place an id is unique. Concurrent appends of the same
    id wait for each other on its row here, and exactly one gets it back. Ids are taken in sorted order, so two
    appends never wait on each other crosswise."""
    new: set[str] = set()
    for part in chunks(sorted(set(uids)), 5000):
        new.update(
            u
            for (u,) in conn.exec_driver_sql(
                "INSERT INTO event_uid (workspace_id, uid) SELECT %s, u FROM unnest(%s::varchar[]) AS u ORDER BY u"
                " ON CONFLICT DO NOTHING RETURNING uid",
                (ws_id, list(part)),
            )
        )
    return new


def _new_seqs(conn: Connection, before: int, n: int) -> Sequence[int]:
    """The seqs SQLite gave the ``n`` rows one insert just added above ``before``: consecutive (checked on the
    primary key's two ends, no scan), else read back."""
    lo, hi = conn.exec_driver_sql("SELECT MIN(seq), MAX(seq) FROM event WHERE seq > ?", (before,)).one()
    if lo is not None and hi - lo + 1 == n:
        return range(int(lo), int(hi) + 1)
    return [int(s) for (s,) in conn.exec_driver_sql("SELECT seq FROM event WHERE seq > ? ORDER BY seq", (before,))]


def _first_of(rows: Sequence[LogRow], ids: set[str]) -> list[LogRow]:
    """The rows whose id is in ``ids``, each id once (its first row)."""
    out: list[LogRow] = []
    left = set(ids)
    for r in rows:
        if r[0] in left:
            left.discard(r[0])
            out.append(r)
    return out
