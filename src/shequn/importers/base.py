"""What every importer shares: the one error type, the source being read, options, ids, times and text decoding.

How it works:
    A parser (one per format family) reads a :class:`Source` and yields :mod:`shequn.domain` events. It reports the
    chats it finds through :meth:`Context.chat` and keeps :attr:`Context.where` current (a line number or byte
    offset), so that anything that goes wrong names the file and the place: :class:`ExportError`.

Things to keep in mind:
    * What a file may make the importer hold is bounded, whoever wrote the file: a message (a JSON item, a text
      record with its continuation lines, a line, a CSV field) at most :data:`MAX_MESSAGE_BYTES`, JSON nesting at
      most :data:`MAX_DEPTH` levels, a whole JSON file read at once (Slack's) at most :data:`MAX_FILE_BYTES`.
      Beyond, the import is refused naming the file and the place (``too_large``, ``too_deep``).
    * Only regular files and folders are read: a device, a FIFO or a socket (or a link to one) is refused before
      anything is opened (``not_regular``); a damaged or encrypted zip member names the member and the reason.
    * Event ids never come from a line number or a file name: from the platform's message id where the format has
      one, otherwise from :class:`ContentIds` (group, time, author, text and the occurrence index among identical
      (time, author, text) tuples), so two overlapping exports of one group give the same ids.
    * Times in exports without a zone are read in :attr:`Options.tz`.
"""

from __future__ import annotations

import codecs
import io
import stat
import zipfile
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from hashlib import blake2b
from pathlib import Path
from typing import IO, Any, cast
from zoneinfo import ZoneInfo

import orjson

from shequn.domain import Event, LogRow, UserError, event_from_dict, stable_id
from shequn.i18n import t
from shequn.importers.pii import Masker

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
MAX_MESSAGE_BYTES = 4 << 20  # one message, line, JSON item or CSV field (chat platforms cap a message far below)
MAX_DEPTH = 1024  # JSON nesting: orjson's own limit, kept on every path (real exports nest a few levels)
MAX_FILE_BYTES = 256 << 20  # a JSON file read whole (Slack writes one per channel and day)
MIN_YEAR = 1970  # a four-digit year before this is a damaged date, not history
ZIP_ERRORS = (zipfile.BadZipFile, zlib.error, EOFError, NotImplementedError, RuntimeError)  # what zipfile raises


class ExportError(UserError):
    """A file that cannot be imported: names the file, the line or byte offset, what is wrong and what was expected.

    The message is rendered in the process locale from ``import.err.<problem>``; exit status 2 (invalid input).
    """

    def __init__(self, source: str, where: str, problem: str, **params: Any) -> None:
        self.source = source
        self.where = where
        self.problem = problem
        text = t(f"import.err.{problem}", None, **params)
        super().__init__(f"{source}{':' + where if where else ''}: {text}", exit_code=2)


@dataclass(frozen=True, slots=True)
class Source:
    """One export file: a path on disk, or a member of a zip archive (``member``)."""

    path: Path
    member: str = ""

    @property
    def name(self) -> str:
        return f"{self.path}:{self.member}" if self.member else str(self.path)

    @property
    def filename(self) -> str:
        """The file's own name (the member's for zip members)."""
        return (self.member.rsplit("/", 1)[-1]) if self.member else self.path.name

    def size(self) -> int:
        """Bytes the parser will read (uncompressed; a whole archive or folder counts every file in it)."""
        if self.path.is_dir():
            return sum(p.stat().st_size for p in self.path.rglob("*") if p.is_file())
        if self.member or zipfile.is_zipfile(self.path):
            with zipfile.ZipFile(self.path) as z:
                if self.member:
                    return z.getinfo(self.member).file_size
                return sum(i.file_size for i in z.infolist())
        return self.path.stat().st_size

    def open(self) -> IO[bytes]:
        check_regular(self.path)
        if self.member:
            try:
                archive = zipfile.ZipFile(self.path)
            except ZIP_ERRORS as exc:
                raise ExportError(str(self.path), "", "bad_zip", detail=zip_reason(exc)) from None
            try:
                return cast(IO[bytes], _ZipMember(self.name, archive, archive.open(self.member)))
            except ZIP_ERRORS as exc:
                archive.close()
                raise ExportError(self.name, "", "bad_zip", detail=zip_reason(exc)) from None
            except BaseException:
                archive.close()
                raise
        return self.path.open("rb")

    def head(self, n: int = 65536) -> bytes:
        with self.open() as f:
            return f.read(n)


def check_regular(path: Path) -> None:
    """Refuse anything but a regular file or a folder (following links): a FIFO would hang the import, a device
    such as ``/dev/zero`` never ends."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise ExportError(str(path), "", "missing") from None
    except OSError as exc:
        raise ExportError(str(path), "", "unreadable", detail=exc.strerror or str(exc)) from None
    if not (stat.S_ISREG(mode) or stat.S_ISDIR(mode)):
        raise ExportError(str(path), "", "not_regular")


def zip_reason(exc: BaseException) -> str:
    """What zipfile (or zlib under it) said, for ``import.err.bad_zip``."""
    text = str(exc) or type(exc).__name__
    if isinstance(exc, RuntimeError) and "encrypted" in text:
        return "encrypted (password-protected) member"
    if isinstance(exc, zlib.error):
        return f"compressed data is corrupt ({text})"
    return text


class _ZipMember(io.RawIOBase):
    """A zip member that closes its archive with it; damage found while reading (a bad CRC, corrupt compressed
    data, an archive cut short) is an :class:`ExportError` naming the member and the byte offset."""

    def __init__(self, name: str, archive: zipfile.ZipFile, stream: IO[bytes]) -> None:
        self._name = name
        self._archive = archive
        self._stream = stream
        self._offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        try:
            data = self._stream.read(len(b))
        except ZIP_ERRORS as exc:
            raise ExportError(self._name, f"byte {self._offset}", "bad_zip", detail=zip_reason(exc)) from None
        b[: len(data)] = data
        self._offset += len(data)
        return len(data)

    def close(self) -> None:
        self._stream.close()
        self._archive.close()
        super().close()


class Counted(io.RawIOBase):
    """A binary stream that adds the bytes read to ``on_read`` (the progress bar's byte count)."""

    def __init__(self, raw: IO[bytes], on_read: Callable[[int], None]) -> None:
        self._raw = raw
        self._on_read = on_read
        self.offset = 0

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._raw.read(len(b))
        n = len(data)
        b[:n] = data
        self.offset += n
        self._on_read(n)
        return n

    def read(self, size: int = -1) -> bytes:
        data = self._raw.read(size)
        self.offset += len(data)
        self._on_read(len(data))
        return data

    def close(self) -> None:
        self._raw.close()
        super().close()


@dataclass(slots=True)
class Options:
    """What the operator said on the command line.

    Attributes:
        tz: the zone of exports that carry local times without a zone.
        group: for exports that do not name their group: its name (and id); for exports holding several groups:
            the one to import (by name or id).
        mask: masks phone numbers, WeChat ids and e-mail addresses (``--mask-pii``), or None.
        live: the names live groups have on their platform → their ids (``(platform, name)`` → id): the QQ
            connector keeps each group's QQ name, so an export that names its group but has no number is matched.
    """

    tz: ZoneInfo = field(default_factory=lambda: ZoneInfo("Asia/Shanghai"))
    group: str | None = None
    mask: Masker | None = None
    live: dict[tuple[str, str], str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class Chat:
    """A chat (group) found in an export."""

    platform: str
    id: str
    name: str


class Context:
    """What a parser shares with the run: options, the chats found, the current position and byte progress."""

    def __init__(self, source: Source, options: Options, on_bytes: Callable[[int], None] | None = None) -> None:
        self.source = source
        self.options = options
        self.chats: dict[tuple[str, str], Chat] = {}
        self.line = 0  # the line being read (cheaper to keep current than ``where``)
        self._where = ""
        self.on_bytes = on_bytes or (lambda n: None)
        self.notes: list[str] = []  # assumptions made while reading (shown in the summary)

    @property
    def where(self) -> str:
        """Where the parser is: ``line 12``, ``byte 3456`` … (kept current by the parser)."""
        return self._where or (f"line {self.line}" if self.line else "")

    @where.setter
    def where(self, value: str) -> None:
        self._where = value
        self.line = 0

    def chat(self, platform: str, chat_id: str, name: str = "") -> Chat:
        """Record a chat the export holds (the last non-empty name wins)."""
        key = (platform, chat_id)
        known = self.chats.get(key)
        if known is None or (name and name != known.name):
            known = self.chats[key] = Chat(platform, chat_id, name or (known.name if known else ""))
        return known

    def wanted(self, chat: Chat) -> bool:
        """Whether ``--group`` selects this chat (always, when no ``--group`` was given)."""
        g = self.options.group
        return g is None or g in (chat.id, chat.name)

    def error(self, problem: str, *, where: str | None = None, **params: Any) -> ExportError:
        return ExportError(self.source.name, self.where if where is None else where, problem, **params)

    def open(self) -> Counted:
        return Counted(self.source.open(), self.on_bytes)

    def mask_text(self, text: str) -> str:
        m = self.options.mask
        return m.text(text) if m and text else text

    def mask_id(self, value: str) -> str:
        m = self.options.mask
        return m.ident(value) if m and value else value


class ContentIds:
    """Event ids for formats without message ids: a hash of (platform, group, time, author, text) and the
    occurrence index among identical tuples, counted over a window of recent timestamps (exports are nearly in
    time order; the window keeps memory flat)."""

    WINDOW = 4096

    def __init__(self, platform: str, group: str) -> None:
        self.platform = platform
        self.group = group
        self._seen: OrderedDict[int, dict[tuple[str, str, str], int]] = OrderedDict()
        self._prefix = f"{platform}\x1f{group}\x1f"

    def make(self, at_ms: int, author: str, text: str, kind: str = "m") -> str:
        bucket = self._seen.get(at_ms)
        if bucket is None:
            bucket = self._seen[at_ms] = {}
            if len(self._seen) > self.WINDOW:
                self._seen.popitem(last=False)
        key = (kind, author, text)
        n = bucket.get(key, 0)
        bucket[key] = n + 1
        # stable_id(platform, group, kind, str(at_ms), author, text, str(n)), without building the parts twice
        data = f"{self._prefix}{kind}\x1f{at_ms}\x1f{author}\x1f{text}\x1f{n}".encode()
        return blake2b(data, digest_size=12).hexdigest()


class Body(list[str]):
    """The continuation lines of one record of a text export (a message written over several lines), refused past
    :data:`MAX_MESSAGE_BYTES` (counted in characters, which is no more) naming the record's first line."""

    def __init__(self, ctx: Context, line: int, lines: Iterable[str] = ()) -> None:
        super().__init__()
        self._ctx = ctx
        self._line = line
        self._size = 0
        self.extend(lines)

    def append(self, line: str) -> None:
        self._grow(len(line) + 1)
        super().append(line)

    def extend(self, lines: Iterable[str]) -> None:
        lines = list(lines)
        self._grow(sum(map(len, lines)) + len(lines))
        super().extend(lines)

    def _grow(self, n: int) -> None:
        self._size += n
        if self._size > MAX_MESSAGE_BYTES:
            raise self._ctx.error("too_large", where=f"line {self._line}", limit=_mib(MAX_MESSAGE_BYTES))


def _mib(n: int) -> str:
    return f"{n / 2**20:g} MiB"


def too_large(ctx: Context, where: str, limit: int = MAX_MESSAGE_BYTES) -> ExportError:
    """The error for a message (or a file read whole) bigger than ``limit``."""
    return ctx.error("too_large", where=where, limit=_mib(limit))


def too_deep(ctx: Context, where: str) -> ExportError:
    return ctx.error("too_deep", where=where, limit=MAX_DEPTH)


def log_row(e: Event) -> LogRow:
    """The log row of an event (:mod:`shequn.domain.logrow`): its payload is the log's compact JSON form."""
    return (
        e.id,
        e.kind.value,
        to_ms(e.at),
        e.platform,
        e.group,
        e.actor,
        e.actor_name,
        orjson.dumps(e.to_dict(compact=True)),
    )


def event_from_row(row: LogRow) -> Event:
    """The event a log row holds (read from its payload)."""
    return event_from_dict(orjson.loads(row[7]))


def items(value: Any) -> list[Any]:
    """``value`` when it is a list, else nothing (exports put anything anywhere: never iterate a stranger)."""
    return value if isinstance(value, list) else []


def fields(value: Any) -> Mapping[str, Any]:
    """``value`` when it is an object, else an empty one."""
    return value if isinstance(value, Mapping) else {}


def platform_id(platform: str, group: str, kind: str, message_id: str) -> str:
    """The event id of a fact the platform identifies (a message id, or a message id and what happened to it)."""
    return stable_id(platform, group, kind, message_id)


def to_ms(dt: datetime) -> int:
    delta = dt - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1000 + delta.microseconds // 1000


def from_unix(seconds: float) -> datetime:
    """An aware UTC datetime for Unix seconds (exact for integers, no float rounding of whole seconds)."""
    whole = int(seconds)
    return EPOCH + timedelta(seconds=whole, microseconds=round((seconds - whole) * 1_000_000))


class LocalTimes:
    """Local wall-clock times of an export, read in one zone, with a small cache (many messages share a minute)."""

    def __init__(self, tz: ZoneInfo) -> None:
        self.tz = tz
        self._last: tuple[tuple[int, ...], datetime] | None = None
        self._days: dict[tuple[int, int, int], tuple[int, int] | None] = {}

    def ms(self, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> int:
        """:meth:`utc` in milliseconds since the epoch, without a datetime per call: a day whose UTC offset does
        not change (every day but the few with a daylight-saving switch) is one subtraction."""
        key = (y, mo, d)
        day = self._days[key] if key in self._days else self._day(y, mo, d)
        if day is None or h > 23 or mi > 59 or s > 59:  # a switch that day, or a time datetime() refuses
            return to_ms(self.utc(y, mo, d, h, mi, s))
        return day[0] + ((h * 60 + mi) * 60 + s) * 1000 - day[1]

    def _day(self, y: int, mo: int, d: int) -> tuple[int, int] | None:
        """(local midnight as if UTC, the offset) in ms, or None when the offset changes that day."""
        start = datetime(y, mo, d)
        offsets = {
            self.tz.utcoffset(start + timedelta(hours=hour)) for hour in (0, 6, 12, 18, 24)
        }  # a switch moves the offset for hours: one of these sees it
        if len(self._days) > 4096:
            self._days.clear()
        found: tuple[int, int] | None = None
        if len(offsets) == 1:
            (offset,) = offsets
            if offset is not None:
                found = (to_ms(start.replace(tzinfo=UTC)), offset // timedelta(milliseconds=1))
        self._days[(y, mo, d)] = found
        return found

    def utc(self, y: int, mo: int, d: int, h: int = 0, mi: int = 0, s: int = 0) -> datetime:
        key = (y, mo, d, h, mi, s)
        last = self._last
        if last is not None and last[0] == key:
            return last[1]
        dt = datetime(y, mo, d, h, mi, s, tzinfo=self.tz).astimezone(UTC)
        self._last = (key, dt)
        return dt


def sniff_encoding(head: bytes, *, chinese: bool = False) -> str:
    """The encoding of a text export: by its BOM, else UTF-8, else (for Chinese tools) GB18030."""
    if head.startswith(codecs.BOM_UTF8):
        return "utf-8-sig"
    if head.startswith((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return "utf-16"
    try:
        head.decode("utf-8")
    except UnicodeDecodeError as exc:
        if exc.start < len(head) - 4:  # not just a character cut at the end of the sample
            return "gb18030" if chinese else "utf-8"
    return "utf-8"


def text_chunks(ctx: Context, *, size: int = 1 << 20) -> Iterator[tuple[int, str]]:
    """The text of an export in pieces of about ``size`` bytes that end at a line end, decoded, with ``\r\n`` and
    ``\r`` read as ``\n`` (as :func:`text_lines` reads them), each with the number of its first line.

    Raises:
        ExportError: when the bytes are not text in the sniffed encoding (naming the line).
    """
    encoding = sniff_encoding(ctx.source.head(65536))
    decoder = codecs.getincrementaldecoder(encoding)()
    line = 1
    left = ""
    with ctx.open() as raw:
        ctx.where = ""
        while True:
            data = raw.read(size)
            try:
                text = decoder.decode(data, final=not data)
            except UnicodeDecodeError as exc:
                good = data[: max(0, exc.start)].decode(encoding, errors="replace")
                bad = line + left.count("\n") + good.count("\n")
                raise ctx.error("not_text", where=f"line {bad}", encoding=encoding) from None
            if left:
                text = left + text
            if "\r" in text:
                if data and text.endswith("\r"):  # a "\r\n" may be cut in two
                    text, left = text[:-1], "\r"
                else:
                    left = ""
                text = text.replace("\r\n", "\n").replace("\r", "\n")
            else:
                left = ""
            if not data:
                if text:
                    yield line, text
                return
            cut = text.rfind("\n") + 1
            if cut == 0:
                left = text + left
                if len(left) > MAX_MESSAGE_BYTES:  # one line without end: refused before it fills the memory
                    raise too_large(ctx, f"line {line}")
                continue
            if cut < len(text):
                left = text[cut:] + left
                text = text[:cut]
            yield line, text
            line += text.count("\n")


def text_lines(ctx: Context, *, chinese: bool = False) -> Iterator[tuple[int, str]]:
    """The lines of a text export (numbered from 1, without line ends), decoded; keeps ``ctx.where`` current.

    Raises:
        ExportError: when the bytes are not text in the sniffed encoding (naming the line).
    """
    encoding = sniff_encoding(ctx.source.head(65536), chinese=chinese)
    n = 0
    with ctx.open() as raw:
        stream = io.TextIOWrapper(io.BufferedReader(raw, 1 << 20), encoding=encoding, newline=None)
        try:
            ctx.where = ""
            for n, line in enumerate(bounded_lines(ctx, stream), 1):
                ctx.line = n
                yield n, line.rstrip("\n")
        except UnicodeDecodeError:
            raise ctx.error("not_text", where=f"line {n + 1}", encoding=encoding) from None


def bounded_lines(ctx: Context, stream: io.TextIOBase) -> Iterator[str]:
    """The lines of ``stream`` (what iterating it gives, for :mod:`csv` too), refusing a line longer than
    :data:`MAX_MESSAGE_BYTES` before it is read whole."""
    n = 0
    readline = stream.readline
    while line := readline(MAX_MESSAGE_BYTES + 1):
        n += 1
        if len(line) > MAX_MESSAGE_BYTES:
            raise too_large(ctx, f"line {n}")
        yield line
