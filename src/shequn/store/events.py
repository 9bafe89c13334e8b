"""The append-only event log (事件日志): the source of truth everything else is derived from."""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import orjson
from orjson import dumps
from sqlalchemy import Connection, func, select

from shequn.domain import Event, event_from_dict
from shequn.store._sql import bulk_insert, chunks, to_ms
from shequn.store.groups import GroupStore
from shequn.store.people import PeopleStore
from shequn.store.schema import EVENT

_COLUMNS = ("workspace_id", "uid", "kind", "at_ms", "platform", "group_id", "person_id", "payload", "ingested_ms")


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
        if not with_seq and conn.dialect.name == "sqlite":
            # The bulk path on SQLite: insert, skipping known ids, and look at what was skipped only when the count
            # says something was (a fresh import pays no lookup per event). One writer: the rows with a seq above
            # the last one before the insert are exactly the new ones.
            before = conn.exec_driver_sql("SELECT COALESCE(MAX(seq), 0) FROM event").scalar_one()
            sql = (
                f"INSERT INTO event ({', '.join(_COLUMNS)}) VALUES ({', '.join([mark] * len(_COLUMNS))}) "
                "ON CONFLICT (workspace_id, uid) DO NOTHING"
            )
            inserted = conn.exec_driver_sql(sql, rows).rowcount
            if inserted != len(rows):
                new = {u for (u,) in conn.exec_driver_sql("SELECT uid FROM event WHERE seq > ?", (before,))}
                rows = [r for r in rows if r[1] in new]
            return [(0, fresh[r[1]]) for r in rows]
        # Set-based: skip ids already logged, insert the rest in one executemany (tuples straight to the driver:
        # this is the bulk path of imports and simulations), read their seqs back.
        existing: set[str] = set()
        for part in chunks([r[1] for r in rows], 5000):
            sql = f"SELECT uid FROM event WHERE workspace_id = {mark} AND uid IN ({', '.join([mark] * len(part))})"
            existing.update(u for (u,) in conn.exec_driver_sql(sql, (ws_id, *part)))
        if existing:
            rows = [r for r in rows if r[1] not in existing]
        if not rows:
            return []
        bulk_insert(conn, EVENT, _COLUMNS, rows, conflict=("workspace_id", "uid"))
        if not with_seq:
            return [(0, fresh[r[1]]) for r in rows]
        added: list[tuple[int, Event]] = []
        for part in chunks([r[1] for r in rows], 5000):
            q = select(EVENT.c.seq, EVENT.c.uid).where(EVENT.c.workspace_id == ws_id, EVENT.c.uid.in_(part))
            added.extend((seq, fresh[uid]) for seq, uid in conn.execute(q))
        added.sort(key=lambda pair: pair[0])
        return added

    def scan(
        self, conn: Connection, ws_id: int, *, after_seq: int = 0, until_seq: int | None = None, batch: int = 5000
    ) -> Iterator[tuple[int, Event]]:
        """Events in log order with their sequence numbers, from ``after_seq`` (exclusive)."""
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
        """The event with id ``uid``, or None."""
        t = EVENT
        payload = conn.execute(select(t.c.payload).where(t.c.workspace_id == ws_id, t.c.uid == uid)).scalar()
        return event_from_dict(orjson.loads(payload)) if payload is not None else None

    def last_seq(self, conn: Connection, ws_id: int) -> int:
        t = EVENT
        return int(
            conn.execute(select(func.coalesce(func.max(t.c.seq), 0)).where(t.c.workspace_id == ws_id)).scalar_one()
        )

    def count_by_kind(self, conn: Connection, ws_id: int) -> dict[str, int]:
        t = EVENT
        q = select(t.c.kind, func.count()).where(t.c.workspace_id == ws_id).group_by(t.c.kind)
        return {k: int(n) for k, n in conn.execute(q)}
