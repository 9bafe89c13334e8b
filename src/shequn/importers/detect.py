"""Which format a file is, from its content (the name only helps to find a zip's chat file), and the registry.

How it works:
    :func:`plan` expands the paths given (folders are walked; a Slack export folder or zip is one source; a
    WhatsApp zip's chat file is its source) and gives each source its format: the one ``--format`` names, or the
    one :func:`detect` recognizes from the first 64 KiB. A file named on the command line that is not recognized
    is an error; in a folder it is listed as skipped (nothing is skipped silently).
"""

from __future__ import annotations

import os
import re
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from shequn.domain import Event, LogRow
from shequn.importers import discord, matrix, qq, slack, telegram, wechat, whatsapp
from shequn.importers.base import (
    ZIP_ERRORS,
    Context,
    ExportError,
    Source,
    check_regular,
    log_row,
    sniff_encoding,
    zip_reason,
)


@dataclass(frozen=True, slots=True)
class Format:
    """One export format: its name for ``--format``, its platform, and its parser.

    ``parse`` gives events; ``rows`` gives log rows (what the import writes). A format whose parser builds rows
    itself (the big ones: WhatsApp, Telegram) names it in ``row_parser`` and its ``parse`` reads those rows back.
    """

    name: str
    platform: str
    parse: Callable[[Context], Iterator[Event]]
    tool: str
    row_parser: Callable[[Context], Iterator[LogRow]] | None = None

    def rows(self, ctx: Context) -> Iterator[LogRow]:
        if self.row_parser is not None:
            return self.row_parser(ctx)
        return map(log_row, self.parse(ctx))


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("whatsapp", "whatsapp", whatsapp.parse, "WhatsApp .txt / .zip", whatsapp.rows),
        Format("telegram", "telegram", telegram.parse, "Telegram Desktop JSON", telegram.rows),
        Format("discord-json", "discord", discord.parse_json, "DiscordChatExporter JSON"),
        Format("discord-csv", "discord", discord.parse_csv, "DiscordChatExporter CSV"),
        Format("slack", "slack", slack.parse, "Slack workspace export .zip"),
        Format("matrix", "matrix", matrix.parse, "Element (Matrix) JSON"),
        Format("memotrace-csv", "wechat", wechat.parse_memotrace_csv, "MemoTrace 留痕 CSV"),
        Format("memotrace-txt", "wechat", wechat.parse_memotrace_txt, "MemoTrace 留痕 TXT"),
        Format("pywxdump-csv", "wechat", wechat.parse_pywxdump_csv, "PyWxDump CSV"),
        Format("qq-txt", "qq", qq.parse, "QQ 消息管理器 TXT"),
    )
}

_MEMOTRACE_TXT = re.compile(r"^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} \S")
_TELEGRAM_HINTS = ('"date_unixtime"', '"from_id"', '"personal_chat"', '_supergroup"', '"private_group"', '"from"')


def detect(source: Source) -> str | None:
    """The format of ``source`` from its first 64 KiB, or None."""
    head = source.head(65536)
    text = head.decode(sniff_encoding(head, chinese=True), errors="replace").lstrip("\ufeff \t\r\n")
    first = text.split("\n", 1)[0].rstrip("\r")
    if whatsapp.HEADER.match(first):
        return "whatsapp"
    if text.startswith(("{", "[")):
        if '"guild"' in text and '"channel"' in text:
            return "discord-json"
        if (
            '"exported_by"' in text
            or '"room_creator"' in text
            or ('"origin_server_ts"' in text and '"event_id"' in text)
        ):
            return "matrix"
        if '"messages"' in text and any(h in text for h in _TELEGRAM_HINTS):
            return "telegram"
        if '"chats"' in text and '"list"' in text:
            return "telegram"
        return None
    header = first.replace('"', "").strip()
    if header == ",".join(wechat.MEMOTRACE_COLUMNS):
        return "memotrace-csv"
    if header in (",".join(wechat.PYWXDUMP_COLUMNS), ",".join(wechat.PYWXDUMP8_COLUMNS)):
        return "pywxdump-csv"
    if header == ",".join(discord.CSV_COLUMNS):
        return "discord-csv"
    if first.strip() == qq.BANNER:
        return "qq-txt"
    if _MEMOTRACE_TXT.match(first):
        return "memotrace-txt"
    return None


@dataclass(frozen=True, slots=True)
class Planned:
    source: Source
    format: Format


def _zip_sources(path: Path) -> tuple[list[Source], str | None]:
    """The sources inside a zip and their format when the zip itself tells it (Slack, WhatsApp)."""
    try:
        with zipfile.ZipFile(path) as z:
            names = [n for n in z.namelist() if not n.endswith("/")]
    except ZIP_ERRORS as exc:
        raise ExportError(str(path), "", "bad_zip", detail=zip_reason(exc)) from None
    if slack.is_slack(names):
        return [Source(path)], "slack"
    texts = [n for n in names if n.lower().endswith(".txt")]
    if len(texts) == 1:
        return [Source(path, texts[0])], None
    return [Source(path, n) for n in sorted(names) if n.lower().endswith((".json", ".csv", ".txt"))], None


# Folders no chat export lives in: version control, virtual environments, package and tool caches (besides every
# hidden folder). Walking into them read thousands of stray JSON and text files as exports.
TOOL_DIRS = frozenset({"node_modules", "__pycache__", "venv", "env", "site-packages", "dist-packages", "__MACOSX"})


def walk(folder: Path) -> tuple[list[Path], list[str]]:
    """The files under ``folder`` (sorted, hidden files left out) and the folders not entered (hidden ones such as
    ``.git``, ``.venv`` and caches, and :data:`TOOL_DIRS`), relative to ``folder``."""
    files: list[Path] = []
    pruned: list[str] = []
    for root, dirs, names in os.walk(folder):
        here = Path(root)
        keep = []
        for d in sorted(dirs):
            if d.startswith(".") or d in TOOL_DIRS or (here / d / "pyvenv.cfg").exists():
                pruned.append(str((here / d).relative_to(folder)))
            else:
                keep.append(d)
        dirs[:] = keep
        files.extend(here / n for n in names if not n.startswith("."))
    return sorted(files), pruned


def _looks_zipped(path: Path) -> bool:
    """Whether ``path`` is a zip archive; one that begins like a zip but has no directory at its end (cut short
    while copying) is an error saying so, not an unrecognized format."""
    if zipfile.is_zipfile(path):
        return True
    with path.open("rb") as f:
        if f.read(4) == b"PK\x03\x04":
            raise ExportError(
                str(path), "", "bad_zip", detail="truncated: the archive's directory at its end is missing"
            )
    return False


def plan(paths: list[Path], fmt: str | None = None) -> tuple[list[Planned], list[str]]:
    """Sources with their formats, and the files skipped in folders (unrecognized); see the module docstring."""
    if fmt is not None and fmt not in FORMATS:
        raise ExportError("--format", "", "unknown_format", value=fmt, formats=", ".join(FORMATS))
    planned: list[Planned] = []
    skipped: list[str] = []

    def add(source: Source, *, named: bool, known: str | None = None) -> None:
        name = fmt or known or detect(source)
        if name is None:
            if named:
                raise ExportError(source.name, "", "unrecognized", formats=", ".join(FORMATS))
            skipped.append(source.name)
            return
        planned.append(Planned(source, FORMATS[name]))

    for path in paths:
        check_regular(path)  # before anything opens it: a FIFO would hang, /dev/zero never ends
        if path.is_dir():
            if slack.is_slack([p.name for p in path.iterdir()]):
                planned.append(Planned(Source(path), FORMATS["slack"]))
                continue
            files, pruned = walk(path)
            skipped.extend(f"{d}{os.sep}" for d in pruned)
            for child in files:
                if not child.is_file():  # a FIFO, a device, a socket or a dangling link: never opened
                    skipped.append(str(child))
                elif child.suffix.lower() == ".zip":
                    inner, known = _zip_sources(child)
                    for s in inner:
                        add(s, named=False, known=known)
                elif child.suffix.lower() in (".json", ".csv", ".txt"):
                    add(Source(child), named=False)
                else:
                    skipped.append(str(child))
            continue
        if _looks_zipped(path):
            inner, known = _zip_sources(path)
            if not inner:
                raise ExportError(str(path), "", "unrecognized", formats=", ".join(FORMATS))
            for s in inner:
                add(s, named=True, known=known)
            continue
        add(Source(path), named=True)
    return planned, skipped
