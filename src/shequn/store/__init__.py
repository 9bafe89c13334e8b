"""Store (存储): SQLAlchemy 2 tables with Alembic migrations, on SQLite (default, WAL) or PostgreSQL.

Owns: the schema, the migrations and one small store class per group of tables. Store methods take the
connection of the caller's transaction as their first argument, so several of them can make one atomic change;
they return plain records or domain objects, never ORM objects.
May import: ``domain``, ``playbook``, ``engine`` (state types).
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

from sqlalchemy import Connection

from shequn.store.audit import AuditStore
from shequn.store.auth import AuthStore, SessionRecord, TokenRecord, UserRecord
from shequn.store.commerce import CommerceStore, OrderRecord
from shequn.store.communities import CommunityRecord, CommunityStore
from shequn.store.console import ConsoleStore, GroupRow, MemberRow, Segment
from shequn.store.cursors import CursorStore
from shequn.store.db import Database, mask_url, normalize_url
from shequn.store.delivery import DeliveryStore, Outcome, Pending
from shequn.store.events import EventStore
from shequn.store.groups import GroupRecord, GroupStore
from shequn.store.growth import GrowthStore
from shequn.store.imports import ImportStore
from shequn.store.inbox import InboxStore, StaffRecord
from shequn.store.outbox import ActionStatus, ActionStore, OutboxItem
from shequn.store.people import PeopleStore
from shequn.store.points import LedgerEntry, PointsStore
from shequn.store.schedule import ActivityRecord, RunRow, ScheduleStore
from shequn.store.shards import ShardStore
from shequn.store.state import StateStore
from shequn.store.stats import CommunityCounts, StatsStore
from shequn.store.tasks import StaffTask, StaffTaskStore
from shequn.store.workspaces import DEFAULT_WORKSPACE, WorkspaceInfo, WorkspaceStore


class Store:
    """The database and one store per group of tables.

    Args:
        url: database URL or path (see :class:`Database`); None for ``$SHEQUN_DB`` or ``./shequn.db``.
        migrate: bring the schema up to date on open.
    """

    def __init__(self, url: str | None = None, *, migrate: bool = True) -> None:
        self.db = Database(url, migrate=migrate)
        self.workspaces = WorkspaceStore()
        self.communities = CommunityStore()
        self.groups = GroupStore()
        self.people = PeopleStore()
        self.events = EventStore(self.groups, self.people)
        self.state = StateStore(self.groups, self.people)
        self.actions = ActionStore()
        self.delivery = DeliveryStore()
        self.schedule = ScheduleStore()
        self.tasks = StaffTaskStore()
        self.audit = AuditStore()
        self.stats = StatsStore()
        self.auth = AuthStore()
        self.inbox = InboxStore()
        self.console = ConsoleStore()
        self.imports = ImportStore()
        self.points = PointsStore()
        self.cursors = CursorStore()
        self.growth = GrowthStore()
        self.commerce = CommerceStore()
        self.shards = ShardStore()

    @contextmanager
    def transaction(self) -> Iterator[Connection]:
        with self.db.transaction() as conn:
            yield conn

    def close(self) -> None:
        self.db.dispose()


__all__ = [
    "DEFAULT_WORKSPACE",
    "ActionStatus",
    "ActivityRecord",
    "CommunityCounts",
    "CommunityRecord",
    "Database",
    "DeliveryStore",
    "GroupRecord",
    "GroupRow",
    "InboxStore",
    "LedgerEntry",
    "MemberRow",
    "OrderRecord",
    "OutboxItem",
    "Outcome",
    "Pending",
    "RunRow",
    "ScheduleStore",
    "Segment",
    "SessionRecord",
    "StaffRecord",
    "StaffTask",
    "Store",
    "TokenRecord",
    "UserRecord",
    "WorkspaceInfo",
    "mask_url",
    "normalize_url",
]
