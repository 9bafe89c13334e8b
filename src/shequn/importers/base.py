"""What every importer shares: the one error type, the source being read, options, ids, times and text decoding.

How it works:
    A parser (one per format family) reads a :class:`Source` and yields :mod:`shequn.domain` events. It reports the
    chats it finds through :meth:`Context.chat` and keeps :attr:`Context.where` current (a line number or byte
    offset), so that anything that goes wrong names the file and the place: :class:`ExportError`.

Things to keep in mind:
    * Event ids never come from a line number or a file name: from the platform's message id where the format has
      one, otherwise from :class:`ContentIds` (group, time, author, text and the occurrence index among identical
      (time, author, text) tuples), so two overlapping exports of one group give the same ids.
    * Times in exports without a zone are read in :attr:`Options.tz`.
"""

from __future__ import annotations

import codecs
import io
import zipfile
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
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
        if self.member:
            archive = zipfile.ZipFile(self.path)
            try:
                return cast(IO[bytes], _ZipMember(archive, archive.open(self.member)))
            except BaseException:
                archive.close()
                raise
        return self.path.open("rb")

    def head(self, n: int = 65536) -> bytes:
        with self.open() as f:
            return f.read(n)


class _ZipMember(io.RawIOBase):
    """A zip member that closes its archive with it."""

    def __init__(self, archive: zipfile.ZipFile, stream: IO[bytes]) -> None:
        self._archive = archive
        self._stream = stream

    def readable(self) -> bool:
        return True

    def readinto(self, b: Any) -> int:
        data = self._stream.read(len(b))
        b[: len(data)] = data
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
            for n, line in enumerate(stream, 1):
                ctx.line = n
                yield n, line.rstrip("\n")
        except UnicodeDecodeError:
            raise ctx.error("not_text", where=f"line {n + 1}", encoding=encoding) from None
