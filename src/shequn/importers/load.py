"""Running an import: parse every source, append the events to the log in one transaction, bind the groups,
build the derived state, and count what happened per group and per event kind.

How it works:
    :class:`Importer` chains the parsers of the planned sources into one stream of log rows
    (:mod:`shequn.domain.logrow`: the event's id, kind, time, group, author and its JSON form, ready for the log),
    in batches of 5,000 parsed ahead in a thread, which :meth:`shequn.app.App.append_rows` writes in a single
    transaction: a truncated or corrupt file, or any failure of the store, leaves the store exactly as it was. The
    sources' sizes tell the store how big the load is (a load much bigger than the log builds the log's indexes
    once at the end: ``shequn.store.events.BulkLoad``). In the same transaction the groups found
    get their names and, with ``--community``, are bound to it. After the commit the engine catches up on the new
    events (or replays the whole log when a group that already had history was just bound: its history must count).
    A big import writes the analytics snapshot's parts for the rows it adds as it goes (:func:`append_logged`), so
    the first report after it refreshes nothing.

Things to keep in mind:
    * ``--community`` must name an existing community (creating one needs a type: ``shequn community create``).
      Without it, groups not yet bound stay unbound: their events are logged and analysed, but no policy acts on
      them and no member state is built until they are bound.
    * Any exception a parser raises other than :class:`ExportError` is reported as one, with the place it was
      reading: a clear message for input nobody foresaw, never a traceback.
"""

from __future__ import annotations

import os
import queue
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from itertools import islice
from typing import TYPE_CHECKING, Any, Protocol

from sqlalchemy import Connection

from shequn.domain import LogRow, UserError
from shequn.i18n import t
from shequn.importers.base import Chat, Context, ExportError, Options
from shequn.importers.detect import Planned
from shequn.importers.pii import Masker

if TYPE_CHECKING:
    from shequn.analytics.source import ImportParts
    from shequn.app import App

GroupKey = tuple[str, str]  # (platform, platform id)
RowKey = tuple[str, str, str]  # (platform, group, kind)
BATCH = 5000  # rows written at once (a few MB: memory stays flat)
SNAPSHOT_FROM = 100_000  # an import expected to hold this many rows writes the analytics snapshot's parts too


@dataclass(slots=True)
class GroupTally:
    """What one group received and what was new."""

    platform: str
    id: str
    name: str = ""
    received: dict[str, int] = field(default_factory=dict)
    added: dict[str, int] = field(default_factory=dict)

    @property
    def total_received(self) -> int:
        return sum(self.received.values())

    @property
    def total_added(self) -> int:
        return sum(self.added.values())


@dataclass(slots=True)
class ImportReport:
    """What an import did: per source, per group and per event kind."""

    sources: list[tuple[str, str, int]] = field(default_factory=list)  # (source, format, events read)
    groups: dict[GroupKey, GroupTally] = field(default_factory=dict)
    skipped: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)
    bound: list[GroupKey] = field(default_factory=list)
    unbound: list[GroupKey] = field(default_factory=list)
    replayed: bool = False

    @property
    def received(self) -> int:
        return sum(g.total_received for g in self.groups.values())

    @property
    def added(self) -> int:
        return sum(g.total_added for g in self.groups.values())

    def kinds(self) -> list[str]:
        seen: dict[str, None] = {}
        for g in self.groups.values():
            seen.update(dict.fromkeys(g.received))
        return list(seen)


class Progress(Protocol):
    """Callbacks for a progress display: bytes read and events parsed (the CLI draws them with Rich)."""

    def bytes(self, n: int) -> None: ...

    def events(self, n: int, messages: int) -> None: ...

    def stage(self, key: str) -> None:
        """A new stage begins (``import.progress.state``: building the derived state)."""


class _Silent:
    def bytes(self, n: int) -> None:
        pass

    def events(self, n: int, messages: int) -> None:
        pass

    def stage(self, key: str) -> None:
        pass


class Importer:
    """Imports planned sources into one workspace; see the module docstring.

    Args:
        app: the application (store and engine) of the workspace.
        options: ``--tz``, ``--group`` and whether to mask personal data.
        community: the community to bind the imported groups to (must exist), or None.
        progress: where to report progress.
    """

    def __init__(
        self,
        app: App,
        options: Options,
        *,
        community: str | None = None,
        mask_pii: bool = False,
        progress: Progress | None = None,
    ) -> None:
        self.app = app
        self.options = options
        self.community = app.community(community) if community else None  # raises if it does not exist
        self.progress: Progress = progress or _Silent()
        self._new_key: bytes | None = None
        if mask_pii:
            self.options.mask = Masker(self._pii_key())
        with app.store.transaction() as conn:  # live QQ groups by their QQ name (the connector's name:<id> cursors)
            cursors = app.store.cursors.all(conn, app.ws.id, "qq")
        self.options.live.update({("qq", v): k[5:] for k, v in cursors.items() if k.startswith("name:")})

    def _pii_key(self) -> bytes:
        env = os.environ.get("SHEQUN_PII_KEY")
        if env:
            return env.encode()
        store = self.app.store
        with store.transaction() as conn:
            key = store.imports.pii_key(conn, self.app.ws.id)
        if key is None:
            key = self._new_key = store.imports.new_pii_key()  # kept with the import's own transaction
        return key

    def run(self, planned: list[Planned], *, skipped: list[str] | None = None) -> ImportReport:
        report = ImportReport(skipped=list(skipped or []))
        chats: dict[GroupKey, Chat] = {}
        store = self.app.store
        with store.transaction() as conn:
            before_seq = store.imports.last_seq(conn)

        counts = {"rows": 0, "messages": 0}

        def stream() -> Iterator[list[LogRow]]:
            total = 0
            for item in planned:
                ctx = Context(item.source, self.options, self.progress.bytes)
                rows = _guarded(ctx, item.format.rows)
                read = 0
                while batch := list(islice(rows, BATCH)):
                    read += len(batch)
                    yield batch
                for key, chat in ctx.chats.items():
                    chats[key] = chat
                report.sources.append((item.source.name, item.format.name, read))
                total += read
                report.notes.extend(ctx.notes)
            if self.options.group is not None and total == 0 and chats:
                found = ", ".join(sorted(f"{c.name} ({c.id})" if c.name != c.id else c.id for c in chats.values()))
                raise UserError(t("import.err.no_group", None, group=self.options.group, found=found), exit_code=2)

        def tally(received: dict[RowKey, int], added: dict[RowKey, int]) -> None:
            groups = report.groups
            for (platform, group, kind), n in received.items():
                g = groups.get((platform, group))
                if g is None:
                    g = groups[(platform, group)] = GroupTally(platform, group)
                g.received[kind] = g.received.get(kind, 0) + n
                counts["rows"] += n
                if kind == "message":
                    counts["messages"] += n
            for (platform, group, kind), n in added.items():
                g = groups[(platform, group)]
                g.added[kind] = g.added.get(kind, 0) + n
            if received:
                self.progress.events(counts["rows"], counts["messages"])

        def finish(conn: Connection) -> None:
            ws = self.app.ws.id
            if self._new_key is not None:
                store.imports.save_pii_key(conn, ws, self._new_key)
            store.imports.name_groups(conn, ws, ((c.platform, c.id, c.name) for c in chats.values()))
            for key, tally in report.groups.items():
                chat = chats.get(key)
                tally.name = chat.name if chat else tally.id
                if not key[1]:
                    continue
                current = store.imports.community_of(conn, ws, *key)
                if self.community is None:
                    (report.unbound if current is None else report.bound).append(key)
                    continue
                if current != self.community.id:
                    if store.imports.logged_before(conn, ws, key[0], key[1], before_seq):
                        report.replayed = True
                    store.groups.bind(
                        conn,
                        ws,
                        community_id=self.community.id,
                        community_name=self.community.name,
                        platform=key[0],
                        platform_id=key[1],
                        name=tally.name if tally.name != key[1] else "",
                        role="main",
                        capacity=None,
                        now_ms=self.app.now_ms(),
                    )
                report.bound.append(key)

        expected = sum(_expected_rows(item) for item in planned)
        append_logged(
            self.app,
            prefetched(stream()),
            on_batch=tally,
            before_commit=finish,
            expected=expected,
            stage=self.progress.stage,
        )
        self.progress.stage("import.progress.state")
        if report.replayed:
            self.app.rebuild()
        else:
            self.app.catch_up()
        return report


def append_logged(
    app: App,
    batches: Iterator[list[LogRow]],
    *,
    expected: int,
    on_batch: Callable[[dict[RowKey, int], dict[RowKey, int]], None] | None = None,
    before_commit: Callable[[Connection], None] | None = None,
    stage: Callable[[str], None] | None = None,
) -> ImportParts | None:
    """:meth:`App.append_rows`, writing the analytics snapshot's parts for the rows it adds as it goes
    (:class:`shequn.analytics.source.ImportParts`) when the load is big (a report refreshes a small one in moments)
    and the snapshot is current; returns them (promoted) or None."""
    parts = None
    if expected >= SNAPSHOT_FROM:
        from shequn.analytics.source import ImportParts  # DuckDB only for a big import

        with app.store.transaction() as conn:
            top, first = app.store.events.ends(conn, app.ws.id)
        parts = ImportParts.open(app.store.db.url, app.ws.id, top=top, first_uid=first)

    def finish(conn: Connection) -> None:
        if before_commit is not None:
            before_commit(conn)
        if parts is not None:
            if stage is not None:
                stage("import.progress.snapshot")
            parts.finish(conn)

    try:
        app.append_rows(batches, on_batch=on_batch, before_commit=finish, expected=expected, sink=parts)
    except BaseException:
        if parts is not None:
            parts.discard()
        raise
    if parts is not None:
        parts.promote()
    return parts


_DONE = object()


def prefetched(batches: Iterator[list[LogRow]], *, depth: int = 4) -> Iterator[list[LogRow]]:
    """The batches of ``batches``, parsed ahead in a thread.

    SQLite works with the GIL released (``sqlite3_step``), and waits on the disk: meanwhile the next rows are
    parsed (when a second core is free; on a single core, a process pinned to one, the batches are read in place).
    An exception in the parser is raised here, in the caller's transaction; if the caller stops early the parser
    stops too.
    """
    if _cpus() < 2:  # nothing runs beside the parser: a thread would only add hand-overs and GIL switches
        yield from batches
        return
    out: queue.Queue[Any] = queue.Queue(maxsize=depth)
    stop = threading.Event()

    def put(item: Any) -> bool:
        while not stop.is_set():
            try:
                out.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def work() -> None:
        try:
            for batch in batches:
                if not put(batch):
                    return
            put(_DONE)
        except BaseException as exc:  # handed to the consumer, which raises it in its transaction
            put(exc)

    thread = threading.Thread(target=work, name="shequn-import-parse", daemon=True)
    thread.start()
    try:
        while True:
            item = out.get()
            if item is _DONE:
                break
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        stop.set()
        thread.join()


def _cpus() -> int:
    """The cores this process may run on."""
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):  # not on Linux
        return os.cpu_count() or 1


def _expected_rows(item: Planned) -> int:
    """About how many rows a source holds (from its size: ~100 bytes a message in a text export, ~400 in JSON)."""
    try:
        size = item.source.size()
    except OSError:
        return 0
    return size // (100 if item.format.name in ("whatsapp", "qq-txt", "memotrace-txt") else 400)


def _guarded(ctx: Context, parse: Callable[[Context], Iterator[LogRow]]) -> Iterator[LogRow]:
    """The parser's rows; anything it raises becomes an :class:`ExportError` naming the file and place."""
    try:
        yield from parse(ctx)
    except UserError:
        raise
    except Exception as exc:  # input nobody foresaw (zip and JSON libraries raise their own types too)
        raise ExportError(ctx.source.name, ctx.where, "unexpected", detail=f"{type(exc).__name__}: {exc}") from exc
