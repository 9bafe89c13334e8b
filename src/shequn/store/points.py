"""The points ledger (积分流水): every award, spending and expiry of points, audited entry by entry.

The ledger is derived state like the balances it explains: the engine reports each points award it applies, the
application writes them here in the same transaction as the state, and a rebuild clears and replays them. Rows are
keyed by the award's idempotency key, so processing the same events twice writes each entry once.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Connection

from shequn.domain import AwardPoints
from shequn.store._sql import Read, bulk_insert, from_ms, to_ms
from shequn.store.schema import POINTS_LEDGER

_COLUMNS = (
    "workspace_id",
    "community_id",
    "member_key",
    "at_ms",
    "points",
    "balance",
    "reason",
    "policy",
    "cause",
    "key",
)

# The community's id first, so the lookup is ix_points_ledger_member's (a join lets SQLite, without statistics, scan
# the workspace's whole ledger instead). Built once: a Core select costs more to build than to run.
_ENTRIES = Read(
    'SELECT at_ms, points, balance, reason, policy, cause, "key" FROM points_ledger '
    "WHERE community_id = (SELECT id FROM community WHERE workspace_id = :ws AND name = :community) "
    "AND member_key = :key ORDER BY id"
)


@dataclass(frozen=True, slots=True)
class LedgerEntry:
    """One line of a member's points ledger."""

    at: datetime
    points: int
    balance: int  # the member's balance after this entry
    reason: str
    policy: str
    cause: str
    key: str


class PointsStore:
    def record(
        self,
        conn: Connection,
        ws_id: int,
        entries: Iterable[tuple[str, str, int, AwardPoints]],
        *,
        community_ids: dict[str, int],
    ) -> None:
        """Write (community, member key, balance after, award) entries; ones already written are skipped."""
        rows = [
            (ws_id, community_ids[c], key, to_ms(a.at), a.points, balance, a.reason[:200], a.policy, a.cause, a.key)
            for c, key, balance, a in entries
            if c in community_ids
        ]
        bulk_insert(conn, POINTS_LEDGER, _COLUMNS, rows, conflict=("workspace_id", "key"))

    def entries(self, conn: Connection, ws_id: int, *, community: str, member_key: str) -> list[LedgerEntry]:
        """A member's ledger in the order it was written (oldest first)."""
        return [
            LedgerEntry(from_ms(at_ms), *rest)
            for at_ms, *rest in _ENTRIES.rows(conn, {"ws": ws_id, "community": community, "key": member_key})
        ]
