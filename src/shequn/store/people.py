"""People and their platform identities."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import Connection, func, select

from shequn.domain import identity_key
from shequn.store._sql import bulk_insert, chunks
from shequn.store.cache import CommittedCache
from shequn.store.schema import IDENTITY, PERSON


class PeopleStore:
    def __init__(self) -> None:
        self.cache = CommittedCache("identity")

    def resolve(
        self, conn: Connection, ws_id: int, identities: Iterable[tuple[str, str, str]], *, now_ms: int
    ) -> dict[str, int]:
        """Person ids for (platform, platform id, display name) triples, creating a person per new identity.

        Returns a map from identity key (``platform:id``) to person id.
        """
        wanted: dict[str, tuple[str, str, str]] = {}
        for platform, pid, name in identities:
            key = identity_key(platform, pid)
            if key not in wanted or (name and not wanted[key][2]):
                wanted[key] = (platform, pid, name)
        found: dict[str, int] = {}
        unknown: list[str] = []
        for key in wanted:
            person = self.cache.get(conn, ws_id, key)
            if person is None:
                unknown.append(key)
            else:
                found[key] = person
        if not unknown:
            return found
        looked = self._lookup(conn, ws_id, [wanted[k] for k in unknown])
        missing = [k for k in unknown if k not in looked]
        if missing:
            # Set-based: insert the persons, read their ids back by origin, then insert the identities.
            bulk_insert(
                conn,
                PERSON,
                ("workspace_id", "origin", "display_name", "created_ms"),
                [(ws_id, k, wanted[k][2], now_ms) for k in missing],
                conflict=("workspace_id", "origin"),
            )
            for part in chunks(missing, 500):
                q = select(PERSON.c.id, PERSON.c.origin).where(
                    PERSON.c.workspace_id == ws_id, PERSON.c.origin.in_(part)
                )
                looked.update((origin, person) for person, origin in conn.execute(q))
            bulk_insert(
                conn,
                IDENTITY,
                ("workspace_id", "person_id", "platform", "platform_id", "display_name", "created_ms"),
                [(ws_id, looked[k], *wanted[k], now_ms) for k in missing],
                conflict=("workspace_id", "platform", "platform_id"),
            )
        for key in unknown:
            self.cache.put(conn, ws_id, key, looked[key])
            found[key] = looked[key]
        return found

    def lookup(self, conn: Connection, ws_id: int, pairs: Iterable[tuple[str, str]]) -> dict[tuple[str, str], int]:
        """The persons of existing identities, (platform, platform id) → person id (read only: unknown pairs are
        left out, nothing is created)."""
        wanted = set(pairs)
        looked = self._lookup(conn, ws_id, [(p, x, "") for p, x in sorted(wanted)])
        return {pair: looked[key] for pair in wanted if (key := identity_key(*pair)) in looked}

    def _lookup(self, conn: Connection, ws_id: int, triples: list[tuple[str, str, str]]) -> dict[str, int]:
        i = IDENTITY
        found: dict[str, int] = {}
        for part in chunks(triples, 400):
            for r in conn.execute(
                select(i.c.person_id, i.c.platform, i.c.platform_id).where(
                    i.c.workspace_id == ws_id,
                    i.c.platform.in_({p for p, _, _ in part}),
                    i.c.platform_id.in_([x for _, x, _ in part]),
                )
            ):
                found[identity_key(r.platform, r.platform_id)] = r.person_id
        return found

    def count(self, conn: Connection, ws_id: int) -> int:
        p = PERSON
        return int(conn.execute(select(func.count()).select_from(p).where(p.c.workspace_id == ws_id)).scalar_one())
