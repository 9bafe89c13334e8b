"""The analytics snapshot (分析快照): the event log as typed, columnar Parquet, kept up to date incrementally.

How it works:
    DuckDB attaches the store read-only through the ``sqlite`` or ``postgres`` scanner extension that ships inside
    the ``duckdb-ext-sqlite`` / ``duckdb-ext-postgres`` wheels (loaded from that file: nothing is downloaded, so it
    works offline). The events the snapshot lacks (``seq`` above the last one taken) are read once, their compact
    JSON is unpacked into typed columns (message id, reply-to, content kind, text length, question / link / contact
    flags, join method, inviter, leave reason, amounts …) and written as one more Parquet part. Reports then read
    the parts, never the row store: a report over ten million messages scans a few narrow columns.

    Beside each part, its human messages' totals (:func:`aggregates`): per group and person the first and last
    message, per group and UTC hour the count. Reports take the whole record's figures (who spoke when, the daily
    series the lifecycle reads) from these instead of re-reading every message (a few hundred thousand rows
    instead of ten million); the window's own figures still come from the events.

Things to keep in mind:
    * The log is append-only and one process writes a workspace at a time (see :mod:`shequn.app`), so ``seq`` order
      is commit order and "everything above the last seq" is exactly what is new.
    * The snapshot is a cache: delete its folder and the next report rebuilds it. A snapshot whose store was replaced
      (a different first event, or fewer events than it has) is rebuilt too. Text is not kept, only flags.
    * Where it lives: next to a SQLite file (``shequn.db.analytics/``), else under ``$SHEQUN_ANALYTICS_CACHE`` or
      ``~/.cache/shequn/analytics``.

May import: ``duckdb``, ``numpy``, ``sqlalchemy`` (URLs; a connection to read identities), ``store`` (URLs only),
``analytics.conversation``, the standard library.
"""

from __future__ import annotations

import fcntl
import glob
import hashlib
import json
import os
import shutil
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Final

import duckdb
import numpy as np
from sqlalchemy import Connection
from sqlalchemy.engine import make_url

from shequn.analytics import conversation as conv
from shequn.domain import UserError

SNAPSHOT_VERSION: Final = 9  # 9: per-part message totals (agg-*); 8: joins' invite codes (issue 9)
MAX_PARTS: Final = 24  # compact into one part beyond this many
CHUNK: Final = 2_000_000  # events per part on a first build

# The payload fields unpacked into columns, in this order (json_extract_string with a list of paths parses once).
_FIELDS: Final = (
    "message_id", "reply_to", "content", "text", "method", "inviter", "reason", "by", "purpose", "status",
    "product", "from_bot", "amount", "invite_code", "emoji", "coupon_id",
)  # fmt: skip


# A human message (what the metrics count): not a bot's, not a system line, in a group, by someone.
HUMAN_MESSAGE: Final = (
    "kind = 'message' AND NOT from_bot AND content <> 'system' AND group_id IS NOT NULL AND person_id IS NOT NULL"
)
HOUR_MS: Final = 3_600_000


def aggregate_paths(part: Path) -> tuple[Path, Path]:
    """The totals files of a part: per (group, person) and per (group, UTC hour)."""
    stem = part.name.removeprefix("part-")
    return part.with_name("agg-gp-" + stem), part.with_name("agg-gh-" + stem)


def aggregates(con: duckdb.DuckDBPyConnection, part: Path) -> None:
    """Write the human-message totals of ``part`` beside it: ``g, p, first_ms, last_ms`` and ``g, h, n`` (``h`` the
    UTC hour: ``at_ms // 3600000``; local days follow from it for any whole-hour UTC offset)."""
    src = "'" + str(part).replace("'", "''") + "'"
    gp, gh = aggregate_paths(part)
    for out, sql in (
        (gp, f"""SELECT group_id AS g, person_id AS p, min(at_ms) AS first_ms, max(at_ms) AS last_ms
                 FROM read_parquet({src}) WHERE {HUMAN_MESSAGE} GROUP BY 1, 2 ORDER BY 1, 2"""),
        (gh, f"""SELECT group_id AS g, at_ms // {HOUR_MS} AS h, count(*) AS n
                 FROM read_parquet({src}) WHERE {HUMAN_MESSAGE} GROUP BY 1, 2 ORDER BY 1, 2"""),
    ):  # fmt: skip
        tmp = out.with_name(out.name + ".tmp")
        con.execute(f"COPY ({sql}) TO '{str(tmp).replace(chr(39), chr(39) * 2)}' (FORMAT parquet, COMPRESSION zstd)")
        tmp.replace(out)


def _extension(name: str) -> str:
    """The path of a DuckDB extension shipped by the ``duckdb-ext-*`` wheels for this DuckDB version."""
    try:
        import duckdb_ext
    except ImportError:
        raise UserError(
            f"analytics needs DuckDB's {name} extension from the duckdb-ext-{name.split('_', maxsplit=1)[0]} package "
            f"(pip install 'duckdb-ext-{name.split('_', maxsplit=1)[0]}=={duckdb.__version__}.*')"
        ) from None
    for root in duckdb_ext.__path__:
        found = glob.glob(os.path.join(root, "extensions", f"v{duckdb.__version__}", "*", f"{name}.duckdb_extension"))
        if found:
            return found[0]
    raise UserError(
        f"DuckDB {duckdb.__version__} has no shipped {name} extension here; install duckdb-ext packages of the "
        f"same version as duckdb"
    )


def connect(threads: int | None = None, memory_limit: str = "1536MB") -> duckdb.DuckDBPyConnection:
    """An in-memory DuckDB that never downloads anything.

    The only extensions it loads are the scanner files of the installed ``duckdb-ext-*`` wheels (:func:`_extension`,
    never a path from input), so DuckDB's signature check of them is skipped: it hashes the 50 MB file on every load
    (0.3 s of every report) and proves nothing the package installer has not (whoever can change that file can
    change DuckDB itself)."""
    con = duckdb.connect(
        config={
            "autoinstall_known_extensions": False,
            "autoload_known_extensions": False,
            "allow_unsigned_extensions": True,
            "memory_limit": memory_limit,
        }
    )
    if threads:
        con.execute(f"SET threads = {int(threads)}")
    return con


def _libpq(url: str) -> str:
    u = make_url(url)
    parts = {
        "host": u.host or "",
        "port": str(u.port or ""),
        "dbname": u.database or "",
        "user": u.username or "",
        "password": u.password or "",
    }
    return " ".join(f"{k}={v}" for k, v in parts.items() if v)


def attach(con: duckdb.DuckDBPyConnection, url: str) -> None:
    """Attach the store at ``url`` read-only as ``src``."""
    u = make_url(url)
    backend = u.get_backend_name()
    if backend == "sqlite":
        path = u.database
        if not path or path == ":memory:":
            raise UserError("analytics needs a SQLite file, not an in-memory database")
        con.execute(f"LOAD '{_extension('sqlite_scanner')}'")
        quoted = str(Path(path).expanduser()).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS src (TYPE sqlite, READ_ONLY)")
    elif backend == "postgresql":
        con.execute(f"LOAD '{_extension('postgres_scanner')}'")
        quoted = _libpq(url).replace("'", "''")
        con.execute(f"ATTACH '{quoted}' AS src (TYPE postgres, READ_ONLY)")
    else:
        raise UserError(f"analytics supports SQLite and PostgreSQL stores, not {backend}")


def default_cache(url: str, ws_id: int) -> Path:
    u = make_url(url)
    env = os.environ.get("SHEQUN_ANALYTICS_CACHE")
    if u.get_backend_name() == "sqlite" and u.database and not env:
        p = Path(u.database).expanduser().resolve()
        return p.with_name(p.name + ".analytics") / f"ws{ws_id}"
    base = Path(env) if env else Path.home() / ".cache" / "shequn" / "analytics"
    key = hashlib.sha256(u.render_as_string(hide_password=True).encode()).hexdigest()[:16]
    return base / key / f"ws{ws_id}"


def _archived(con: duckdb.DuckDBPyConnection, backend: str, lo: int, hi: int) -> list[str]:
    """(PostgreSQL) The Parquet files of the months ``shequn log archive`` took out of the store that may hold seqs
    in (lo, hi] (see :mod:`shequn.store.partitions`)."""
    if backend != "postgres":
        return []
    known = con.execute(
        "SELECT 1 FROM duckdb_tables() WHERE database_name = 'src' AND table_name = 'event_archive'"
    ).fetchone()
    if not known:
        return []
    rows = con.execute(
        f"SELECT path FROM src.event_archive WHERE rows > 0 AND max_seq > {int(lo)} AND min_seq <= {int(hi)}"
    ).fetchall()
    return [str(r[0]) for r in rows]


def _events_sql(backend: str, ws_id: int, lo: int, hi: int, archived: Sequence[str] = ()) -> str:
    """The log's events (lo, hi] of workspace ``ws_id``, ticks left out, from the attached store ``src``.

    DuckDB's SQLite scanner pushes no filter down: a range of ``seq`` read through it scans the whole log (fifteen
    seconds at fourteen million events, for every refresh however few events it adds, and once per part on a first
    build). SQLite itself seeks the range on its rowid (``seq`` is the INTEGER PRIMARY KEY), so on SQLite the query
    runs inside it (``sqlite_query``, whose columns come back as text and are typed here). The PostgreSQL scanner
    pushes the filter down itself."""
    where = f"workspace_id = {int(ws_id)} AND seq > {int(lo)} AND seq <= {int(hi)} AND kind <> 'tick'"
    columns = "seq, kind, at_ms, group_id, person_id, platform, payload"
    if backend != "sqlite":
        hot = f"SELECT {columns} FROM src.event WHERE {where}"
        if not archived:
            return hot
        # The archived months' raw rows (every column of the log) go through the same unpacking as the store's.
        files = ", ".join("'" + f.replace("'", "''") + "'" for f in archived)
        return f"{hot} UNION ALL SELECT {columns} FROM read_parquet([{files}]) WHERE {where}"
    # "+workspace_id": seek the rowid range, not the (workspace, uid) index, which SQLite would otherwise pick and
    # then fetch every row of the workspace through it (12× slower on a big log).
    inner = f"SELECT {columns} FROM event WHERE +{where}".replace("'", "''")
    return f"""SELECT seq::BIGINT AS seq, kind, at_ms::BIGINT AS at_ms, group_id::BIGINT AS group_id,
                      person_id::BIGINT AS person_id, platform, payload
               FROM sqlite_query('src', '{inner}')"""


def _backend(con: duckdb.DuckDBPyConnection) -> str:
    """``sqlite`` or ``postgres``: what the attached store ``src`` is."""
    row = con.execute("SELECT type FROM duckdb_databases() WHERE database_name = 'src'").fetchone()
    return str(row[0]) if row else ""


def _select_sql(raw_sql: str) -> str:
    """The typed columns of the events ``raw_sql`` yields (``seq, kind, at_ms, group_id, person_id, platform,
    payload``): from the store (:func:`_events_sql`) on a refresh, from the rows an import appends
    (:class:`ImportParts`)."""
    paths = ", ".join(f"'$.{f}'" for f in _FIELDS)
    i = {f: n + 1 for n, f in enumerate(_FIELDS)}
    digits = f"'{conv.FULLWIDTH_DIGITS}', '{conv.ASCII_DIGITS}'"

    def rx(pattern: str) -> str:
        return "'" + pattern.replace("'", "''") + "'"

    return f"""
    WITH raw AS ({raw_sql}), j AS (
        SELECT seq, kind, at_ms, group_id, person_id, platform,
               json_extract_string(payload, [{paths}]) AS f,
               CASE WHEN kind = 'message' THEN json_extract(payload, '$.mentions')::VARCHAR[] END AS mentions
        FROM raw
    ), t AS (
        SELECT *, translate(coalesce(f[{i["text"]}], ''), {digits}) AS tx FROM j
    )
    SELECT seq, kind, at_ms, group_id::INTEGER AS group_id, person_id::BIGINT AS person_id, platform,
           CASE WHEN kind IN ('message', 'edit', 'delete', 'reaction') THEN f[{i["message_id"]}] END AS msg_id,
           nullif(f[{i["reply_to"]}], '') AS reply_to,
           CASE WHEN kind = 'message' THEN coalesce(f[{i["content"]}], 'text') END AS content,
           CASE WHEN kind = 'message' THEN length(tx) END::INTEGER AS text_len,
           kind = 'message' AND regexp_matches(regexp_replace(tx, {rx(conv.TITLE_PATTERN)}, '', 'g'),
                                               {rx(conv.QUESTION_PATTERN)}) AS question,
           kind = 'message' AND regexp_matches(tx, {rx(conv.LINK_PATTERN)}) AS link,
           kind = 'message' AND (regexp_matches(tx, {rx(conv.PHONE_PATTERN)})
                                 OR regexp_matches(tx, {rx(conv.HANDLE_PATTERN)})
                                 OR regexp_matches(tx, {rx(conv.QR_PATTERN)})) AS contact,
           kind = 'message' AND regexp_matches(tx, {rx(conv.LINK_PATTERN)})
               AND length(regexp_replace(tx, '(?i)(?:https?://|www\\.)\\S*', '', 'g')) < {conv.LINK_DUMP_CHARS}
               AS link_only,
           kind = 'message' AND regexp_matches(tx, {rx(conv.RENEWAL_PATTERN)}) AS renewal_word,
           kind = 'message' AND regexp_matches(tx, {rx(conv.OFFLINE_PATTERN)}) AS offline_word,
           kind = 'message' AND regexp_matches(tx, {rx(conv.RESOURCE_PATTERN)}) AS resource_word,
           kind = 'message' AND regexp_matches(tx, {rx(conv.GREETING_PATTERN)}) AS greeting_word,
           mentions,
           CASE WHEN kind = 'join' THEN coalesce(f[{i["method"]}], 'unknown') END AS method,
           nullif(f[{i["inviter"]}], '') AS inviter,
           CASE WHEN kind = 'leave' THEN coalesce(f[{i["reason"]}], 'unknown') END AS reason,
           nullif(f[{i["by"]}], '') AS by_id,
           CASE WHEN kind = 'payment' THEN coalesce(f[{i["purpose"]}], 'order') END AS purpose,
           CASE WHEN kind = 'order' THEN coalesce(f[{i["status"]}], 'created') END AS status,
           f[{i["product"]}] AS product,
           coalesce(f[{i["from_bot"]}] = 'true', false) AS from_bot,
           TRY_CAST(f[{i["amount"]}] AS BIGINT) AS amount,
           nullif(f[{i["coupon_id"]}], '') AS coupon_id,
           CASE WHEN kind = 'join' THEN nullif(f[{i["invite_code"]}], '') END AS invite_code
    FROM t
    """


def _build(con: duckdb.DuckDBPyConnection, ws_id: int, lo: int, hi: int, prior: list[Path], out: Path) -> None:
    """Unpack the events (lo, hi] and resolve their references to earlier messages and to people: the message a
    reply, reaction, edit or deletion targets (its seq, author and time), the people an inviter, a remover and the
    mentions name. Resolving once here keeps the reports free of joins on text ids."""
    backend = _backend(con)
    raw = _events_sql(backend, ws_id, lo, hi, _archived(con, backend, lo, hi))
    con.execute(f"CREATE OR REPLACE TEMP TABLE batch AS {_select_sql(raw)}")
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE sid AS SELECT platform, platform_id, person_id::BIGINT AS person_id
            FROM src.identity WHERE workspace_id = {int(ws_id)}"""
    )
    _resolve(con, prior, out)
    con.execute("DROP TABLE IF EXISTS sid")


def _resolve(con: duckdb.DuckDBPyConnection, prior: list[Path], out: Path) -> None:
    """Write the unpacked events of the temp table ``batch`` to ``out`` with their references resolved against
    ``batch``, the ``prior`` parts and the identities of the temp table ``sid``."""
    con.execute(
        """CREATE OR REPLACE TEMP TABLE wanted AS
           SELECT DISTINCT group_id, coalesce(reply_to, msg_id) AS target FROM batch
           WHERE (kind = 'message' AND reply_to IS NOT NULL) OR kind IN ('reaction', 'delete', 'edit')"""
    )
    old = ", ".join("'" + str(p).replace("'", "''") + "'" for p in prior)
    earlier = (
        f"""UNION ALL SELECT group_id, msg_id, seq, person_id, at_ms FROM read_parquet([{old}])
            WHERE kind = 'message' AND (group_id, msg_id) IN (SELECT group_id, target FROM wanted)"""
        if prior
        else ""
    )
    con.execute(
        f"""CREATE OR REPLACE TEMP TABLE tgt AS
            SELECT group_id, msg_id, min(seq) AS seq, arg_min(person_id, seq) AS p, min(at_ms) AS at_ms FROM (
                SELECT group_id, msg_id, seq, person_id, at_ms FROM batch
                WHERE kind = 'message' AND (group_id, msg_id) IN (SELECT group_id, target FROM wanted)
                {earlier}) GROUP BY group_id, msg_id"""
    )
    con.execute(
        """CREATE OR REPLACE TEMP TABLE men AS
           SELECT x.seq, list(DISTINCT i.person_id) AS ps FROM (
               SELECT seq, platform, unnest(mentions) AS m FROM batch WHERE len(mentions) > 0) x
           JOIN sid i ON i.platform = x.platform AND i.platform_id = x.m GROUP BY x.seq"""
    )
    con.execute(
        f"""COPY (
            SELECT b.* EXCLUDE (mentions, inviter, by_id, reply_to, msg_id),
                   CASE WHEN b.kind = 'message' THEN b.msg_id END AS msg_id,
                   t.seq AS target_seq, t.p AS target_p, t.at_ms AS target_at,
                   men.ps AS mention_ps, inv.person_id AS inviter_p, byp.person_id AS by_p
            FROM batch b
            LEFT JOIN tgt t ON t.group_id = b.group_id AND t.msg_id = CASE WHEN b.kind = 'message' THEN b.reply_to
                                                                            ELSE b.msg_id END
            LEFT JOIN men ON men.seq = b.seq
            LEFT JOIN sid inv ON inv.platform = b.platform AND inv.platform_id = b.inviter
            LEFT JOIN sid byp ON byp.platform = b.platform AND byp.platform_id = b.by_id
            ORDER BY b.kind, b.group_id, b.seq
        ) TO '{str(out).replace("'", "''")}' (FORMAT parquet, COMPRESSION zstd)"""
    )
    for table in ("batch", "wanted", "tgt", "men"):
        con.execute(f"DROP TABLE IF EXISTS {table}")


@dataclass(slots=True)
class Snapshot:
    """The Parquet parts of one workspace's event log and the small tables read fresh each time."""

    folder: Path
    parts: list[Path]
    last_seq: int
    refreshed: int  # events added by the last refresh
    seconds: float


def _fingerprint(con: duckdb.DuckDBPyConnection, ws_id: int) -> str:
    row = con.execute(
        f"SELECT uid FROM src.event WHERE workspace_id = {int(ws_id)} ORDER BY seq LIMIT 1"
    ).fetchone()  # fmt: skip
    return str(row[0]) if row else ""


@contextmanager
def exclusive(folder: Path) -> Iterator[None]:
    """Hold the snapshot in ``folder`` alone, across threads and processes (console workers, ``shequn report``)."""
    folder.mkdir(parents=True, exist_ok=True)
    with open(folder / ".lock", "a+b") as f:  # each open is its own lock: threads of one process wait too
        fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def refresh(
    con: duckdb.DuckDBPyConnection, ws_id: int, folder: Path, *, top: int | None = None, fingerprint: str | None = None
) -> Snapshot:
    """Bring the snapshot in ``folder`` up to the store's last event (``src`` must be attached). ``top`` (the last
    seq) and ``fingerprint`` (the first event's uid) are read through the scanner unless the caller, who can use the
    store's index, passes them."""
    started = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    manifest = _manifest(folder)
    if top is None:
        row = con.execute(f"SELECT coalesce(max(seq), 0) FROM src.event WHERE workspace_id = {int(ws_id)}").fetchone()
        top = int(row[0]) if row else 0
    fp = _fingerprint(con, ws_id) if fingerprint is None else fingerprint
    parts = [folder / p for p in manifest.get("parts", [])]
    valid = _valid(manifest, folder, fp) and manifest.get("last_seq", 0) <= top
    if not valid:
        for p in [*folder.glob("part-*.parquet"), *folder.glob("agg-*.parquet")]:
            p.unlink()
        parts, last = [], 0
    else:
        last = int(manifest["last_seq"])
    added = 0
    spill = str(folder / "tmp").replace("'", "''")
    con.execute(f"SET temp_directory = '{spill}'")
    while top > last:  # in chunks of CHUNK events: memory stays bounded on a first build of a large log
        hi = min(top, last + CHUNK)
        name = f"part-{last + 1:012d}-{hi:012d}.parquet"
        tmp = folder / (name + ".tmp")
        _build(con, ws_id, last, hi, parts, tmp)
        tmp.replace(folder / name)
        aggregates(con, folder / name)
        parts.append(folder / name)
        row = con.execute(f"SELECT count(*) FROM read_parquet('{folder / name}')").fetchone()
        added += int(row[0]) if row else 0
        last = hi
    if len(parts) > MAX_PARTS:
        name = f"part-{1:012d}-{last:012d}.parquet"
        tmp = folder / (name + ".tmp")
        files = ", ".join(f"'{p}'" for p in parts)
        con.execute(
            f"""COPY (SELECT * FROM read_parquet([{files}]) ORDER BY kind, group_id, seq)
                TO '{tmp}' (FORMAT parquet, COMPRESSION zstd)"""
        )
        for p in parts:
            p.unlink()
            for a in aggregate_paths(p):
                a.unlink(missing_ok=True)
        tmp.replace(folder / name)
        aggregates(con, folder / name)
        parts = [folder / name]
    _write_manifest(folder, fp, last, [p.name for p in parts])
    return Snapshot(folder, parts, last, added, time.perf_counter() - started)


def _manifest(folder: Path) -> dict[str, Any]:
    """What the snapshot in ``folder`` holds (empty when there is none or it cannot be read)."""
    try:
        data = json.loads((folder / "manifest.json").read_text())
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def _valid(manifest: dict[str, Any], folder: Path, fingerprint: str) -> bool:
    """Whether ``manifest`` is a snapshot of this version of the log whose first event is ``fingerprint``, with all
    its files."""
    return (
        manifest.get("version") == SNAPSHOT_VERSION
        and manifest.get("fingerprint") == fingerprint
        and all(
            (folder / p).exists() and all(a.exists() for a in aggregate_paths(folder / p))
            for p in manifest.get("parts", [])
        )
    )


def _write_manifest(folder: Path, fingerprint: str, last: int, parts: list[str]) -> None:
    tmp = folder / "manifest.json.tmp"
    manifest = {"version": SNAPSHOT_VERSION, "fingerprint": fingerprint, "last_seq": last, "parts": parts}
    tmp.write_text(json.dumps(manifest))
    tmp.replace(folder / "manifest.json")  # a reader sees the old snapshot or the new one, never half of one


STAGE_ROWS: Final = 100_000  # rows an import unpacks at once (tens of MB)


class ImportParts:
    """The snapshot's parts of the events a bulk import appends, written while the import writes the log, so the
    first report after it refreshes nothing (issue 17).

    How it works:
        The import hands every batch it adds to the log, with the batch's seqs (:meth:`add`, the
        ``shequn.store.events.Appended`` protocol). Every ``STAGE_ROWS`` rows the batch is unpacked into the typed
        columns (:func:`_select_sql`, the refresh's own query, over the rows in memory instead of the store) and
        set aside as a Parquet file. Before the import commits (:meth:`finish`, in its transaction) the references
        are resolved as a refresh would (:func:`_resolve`: earlier messages from the snapshot's parts, people from
        the identities the transaction sees), in the refresh's ranges of ``CHUNK`` seqs, and the parts and their
        totals are written aside; after the commit :meth:`promote` moves them in and writes the manifest. The
        parts are thus those a refresh right after the commit would build, without reading the log back.

    Things to keep in mind:
        * Only when the snapshot is current as the import starts (or the workspace's log is empty): the parts
          resolve references against it. Otherwise nothing is staged and the next report refreshes as before.
        * The snapshot is locked from :meth:`finish` until :meth:`promote` or :meth:`discard`; a failed import
          (:meth:`discard`) leaves it exactly as it was, and so does any change to it meanwhile (the staged parts
          are then dropped and the next report refreshes).
    """

    def __init__(self, folder: Path, ws_id: int, manifest: dict[str, Any]) -> None:
        self.folder = folder
        self.ws_id = ws_id
        self.last = int(manifest.get("last_seq", 0))
        self.fingerprint = str(manifest.get("fingerprint", ""))
        self.parts = list(manifest.get("parts", []))
        self.work = folder / f".import-{os.getpid()}-{time.time_ns()}"
        self.work.mkdir(parents=True)
        self.con = connect(threads=2, memory_limit="512MB")  # beside the import: spill rather than grow
        self.con.execute(f"SET temp_directory = '{str(self.work / 'tmp').replace(chr(39), chr(39) * 2)}'")
        self._cols: list[list[Any]] = [[] for _ in range(7)]  # seq, kind, at_ms, group_id, person_id, platform, payload
        self._staged: list[Path] = []
        self._first: tuple[int, str] | None = None  # the lowest seq added and its event id
        self._top = 0
        self._removed: list[int] = []
        self._broken = False
        self._lock: Any = None
        self._pending: list[str] = []
        self.seconds = 0.0  # spent here: what the parts cost the import
        self.rows = 0

    @classmethod
    def open(cls, url: str, ws_id: int, *, top: int, first_uid: str, folder: Path | None = None) -> ImportParts | None:
        """Stage an import into the snapshot of workspace ``ws_id`` whose log ends at seq ``top`` and starts with
        event ``first_uid``; None when the snapshot is not current (or the store is not one analytics reads)."""
        u = make_url(url)
        if u.get_backend_name() not in ("sqlite", "postgresql") or (
            u.get_backend_name() == "sqlite" and (not u.database or u.database == ":memory:")
        ):
            return None
        folder = folder or default_cache(url, ws_id)
        with exclusive(folder):
            manifest = _manifest(folder)
            if top == 0:
                manifest = {}
            elif not (_valid(manifest, folder, first_uid) and manifest.get("last_seq") == top):
                return None
            return cls(folder, ws_id, manifest)

    def add(self, seqs: Sequence[int], values: Sequence[tuple[Any, ...]]) -> None:
        """Rows just added to the log (``_COLUMNS`` of :mod:`shequn.store.events`) and their seqs, in seq order."""
        if not values:
            return
        started = time.perf_counter()
        self.rows += len(values)
        cols = list(zip(*values, strict=True))
        if self._first is None:
            self._first = (seqs[0], str(cols[1][0]))
        self._top = max(self._top, seqs[-1])
        if self._broken:
            return
        seq, kind, at, gid, pid, platform, payload = self._cols
        seq.extend(seqs)
        kind.extend(cols[2])
        at.extend(cols[3])
        platform.extend(cols[4])
        gid.extend(cols[5])
        pid.extend(cols[6])
        payload.extend(p.decode() if isinstance(p, bytes) else p for p in cols[7])
        if len(seq) >= STAGE_ROWS:
            self._guarded(self._unpack)
        self.seconds += time.perf_counter() - started

    def _guarded(self, step: Callable[[], None]) -> None:
        """Run ``step``; the parts are a cache: if DuckDB or the disk fails (out of memory, disk full), stage
        nothing more and let the import go on (the next report refreshes as before)."""
        if self._broken:
            return
        try:
            step()
        except (duckdb.Error, OSError, MemoryError):
            self._broken = True
            self._staged, self._pending, self._cols = [], [], [[] for _ in range(7)]

    def drop(self, seqs: Sequence[int]) -> None:
        """Rows the load removed again (repeated ids) after :meth:`add` saw them."""
        self._removed.extend(seqs)

    def _unpack(self) -> None:
        seq, kind, at, gid, pid, platform, payload = self._cols
        if not seq:
            return
        rows = {
            "seq": np.array(seq, dtype=np.int64),
            "kind": np.array(kind, dtype=object),
            "at_ms": np.array(at, dtype=np.int64),
            "group_id": np.array(gid, dtype=object),
            "person_id": np.array(pid, dtype=object),
            "platform": np.array(platform, dtype=object),
            "payload": np.array(payload, dtype=object),
        }
        self.con.register("staged", rows)
        raw = """SELECT seq, kind, at_ms, group_id::BIGINT AS group_id, person_id::BIGINT AS person_id, platform,
                        payload FROM staged WHERE kind <> 'tick'"""
        out = self.work / f"stage-{len(self._staged):05d}.parquet"
        self.con.execute(f"COPY ({_select_sql(raw)}) TO '{_quoted(out)}' (FORMAT parquet)")
        self.con.unregister("staged")
        self._staged.append(out)
        self._cols = [[] for _ in range(7)]

    def finish(self, conn: Connection) -> None:
        """In the import's transaction, before its commit: resolve and write the parts aside, lock the snapshot.
        Stages nothing (and the next report refreshes) when the snapshot changed meanwhile or other events of the
        workspace lie between it and the import's."""
        started = time.perf_counter()
        self._lock = open(self.folder / ".lock", "a+b")  # noqa: SIM115 (held until promote or discard)
        fcntl.flock(self._lock, fcntl.LOCK_EX)
        try:
            self._guarded(self._unpack)
            self._guarded(lambda: self._finish(conn))
        finally:
            self.seconds += time.perf_counter() - started

    def _finish(self, conn: Connection) -> None:
        manifest = _manifest(self.folder)
        if (
            self._first is None
            or int(manifest.get("last_seq", 0)) != self.last
            or list(manifest.get("parts", [])) != self.parts
            or _others(conn, self.ws_id, self.last, self._first[0], self._top, self._count())
        ):
            self._staged = []
            return
        ws = int(self.ws_id)
        # The log's last seq now (a bulk load may have removed its last rows again as repeats).
        self._top = int(
            conn.exec_driver_sql(
                f"SELECT seq FROM event WHERE +workspace_id = {ws} ORDER BY seq DESC LIMIT 1"
            ).scalar_one()
        )
        ids = conn.exec_driver_sql(f"SELECT platform, platform_id, person_id FROM identity WHERE workspace_id = {ws}")
        got = ids.all()
        platform, platform_id, person = (list(c) for c in zip(*got, strict=True)) if got else ([], [], [])
        self.con.register(
            "ids",
            {
                "platform": np.array(platform, dtype=object),
                "platform_id": np.array(platform_id, dtype=object),
                "person_id": np.array(person, dtype=np.int64),
            },
        )
        self.con.execute("CREATE OR REPLACE TEMP TABLE sid AS SELECT * FROM ids")
        self.con.unregister("ids")
        self.con.execute("CREATE OR REPLACE TEMP TABLE gone (seq BIGINT)")
        if self._removed:
            self.con.executemany("INSERT INTO gone VALUES (?)", [(s,) for s in self._removed])
        staged = ", ".join(f"'{_quoted(p)}'" for p in self._staged)
        prior = [self.folder / p for p in self.parts]
        last = self.last
        while self._top > last:  # the refresh's ranges: the parts are those a refresh would build
            hi = min(self._top, last + CHUNK)
            name = f"part-{last + 1:012d}-{hi:012d}.parquet"
            self.con.execute(
                f"""CREATE OR REPLACE TEMP TABLE batch AS SELECT * FROM read_parquet([{staged}])
                    WHERE seq > {last} AND seq <= {hi} AND seq NOT IN (SELECT seq FROM gone)"""
            )
            _resolve(self.con, prior, self.work / name)
            aggregates(self.con, self.work / name)
            prior.append(self.work / name)
            self._pending.append(name)
            last = hi

    def _count(self) -> int:
        files = ", ".join(f"'{_quoted(p)}'" for p in self._staged)
        row = self.con.execute(f"SELECT count(*) FROM read_parquet([{files}])").fetchone()
        return (int(row[0]) if row else 0) - len(set(self._removed))

    def promote(self) -> None:
        """After the import's commit: move the parts in and write the manifest."""
        try:
            if self._pending and self._first is not None and not self._broken:
                for name in self._pending:
                    for f in (self.work / name, *aggregate_paths(self.work / name)):
                        f.replace(self.folder / f.name)
                fp = self.fingerprint if self.last else self._first[1]
                _write_manifest(self.folder, fp, self._top, self.parts + self._pending)
        finally:
            self.discard()

    def discard(self) -> None:
        """Forget what was staged (the import failed, or it is promoted); the snapshot stays as it was."""
        self.con.close()
        shutil.rmtree(self.work, ignore_errors=True)
        if self._lock is not None:
            fcntl.flock(self._lock, fcntl.LOCK_UN)
            self._lock.close()
            self._lock = None


def _others(conn: Connection, ws_id: int, last: int, first: int, top: int, staged: int) -> bool:
    """Whether the log holds events of the workspace in (``last``, ``top``] other than the ``staged`` ones an
    import added from ``first`` on. SQLite has one writer, whose transaction this is: only the gap before the
    import's first row needs looking at (a range of the primary key). PostgreSQL may have others: count it all."""
    ws = int(ws_id)
    if conn.dialect.name == "sqlite":
        sql = f"SELECT count(*) FROM event WHERE +workspace_id = {ws} AND seq > {int(last)} AND seq < {int(first)}"
        return int(conn.exec_driver_sql(sql).scalar_one()) > 0
    sql = f"""SELECT count(*) FROM event
              WHERE workspace_id = {ws} AND seq > {int(last)} AND seq <= {int(top)} AND kind <> 'tick'"""
    return int(conn.exec_driver_sql(sql).scalar_one()) != staged


def _quoted(path: Path) -> str:
    return str(path).replace("'", "''")


def clear(folder: Path) -> None:
    """Forget a snapshot (the next report rebuilds it)."""
    shutil.rmtree(folder, ignore_errors=True)
