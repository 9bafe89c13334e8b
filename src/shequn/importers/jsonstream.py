"""Streaming the big arrays of JSON exports (Telegram, DiscordChatExporter, Element) with flat memory.

How it works:
    :func:`array_items` yields every item of every array whose key is in ``arrays`` (``"messages"``), together with
    the fields of the objects around it read so far (a Telegram chat's ``name``, ``type`` and ``id`` come before its
    messages; DiscordChatExporter's ``guild`` and ``channel`` too).

    Exports written by the tools are pretty-printed, and a raw newline can never occur inside a JSON string, so the
    lines are the structure: outside the big arrays each line is read on its own; inside one, the items are cut at
    their closing lines (found with ``bytes.rfind`` over megabyte chunks) and parsed a batch at a time by orjson.
    Anything else (a minified file) is read by ijson, slower but with the same result.

Things to keep in mind:
    * A truncated or corrupt file raises :class:`ExportError` naming the line (or byte offset, for ijson).
    * Whatever the file, memory stays bounded: a line, an item or a string longer than
      :data:`~shequn.importers.base.MAX_MESSAGE_BYTES` and nesting deeper than
      :data:`~shequn.importers.base.MAX_DEPTH` are refused where they start. (ijson's ``parse`` builds a prefix
      string per event, as long as the nesting is deep: memory grew with the square of the depth; the items are
      built from ``basic_parse``, which has none.)
    * Nothing but the items of the streamed arrays can be large: small arrays elsewhere are skipped.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import orjson

from shequn.importers.base import MAX_DEPTH, MAX_MESSAGE_BYTES, Context, ExportError, too_deep, too_large

CHUNK = 1 << 20
NL = b"\n"

Item = dict[str, Any]
Around = list[dict[str, Any]]  # the enclosing objects' fields, outermost first


@dataclass(slots=True)
class _Frame:
    key: str | None
    is_array: bool
    data: dict[str, Any] = field(default_factory=dict)


def array_items(ctx: Context, arrays: frozenset[str]) -> Iterator[tuple[Around, Item]]:
    """Every item of the arrays named in ``arrays``, with the fields of the objects around it; see the module."""
    head = ctx.source.head(65536)
    body = head.lstrip(b"\xef\xbb\xbf \t\r\n")
    if body[:1] not in (b"{", b"["):
        raise ctx.error("bad_json", where="byte 0", expected="{")
    first_line = body.split(b"\n", 1)[0]
    pretty = first_line.rstrip().endswith((b"{", b"["))  # a small file on one line is minified too
    if not pretty or len(first_line) > 4096 or (len(head) == 65536 and head.count(b"\n") < 8):
        yield from _ijson_items(ctx, arrays)
    else:
        yield from _pretty_items(ctx, arrays)


class _Lines:
    """Lines of a binary stream with their numbers, and the raw buffer for the fast item scan.

    ``line`` is the number of newlines before ``pos``: after :meth:`next` it is the number of the line returned.
    """

    def __init__(self, ctx: Context) -> None:
        self.ctx = ctx
        self.raw = ctx.open()
        self.buf = b""
        self.pos = 0
        self.line = 0
        self.eof = False

    def more(self, keep: int | None = None) -> int | None:
        """Read another chunk, keeping the buffer from ``keep`` (default ``pos``); the bytes dropped, None at EOF."""
        if self.eof:
            return None
        cut = self.pos if keep is None else min(keep, self.pos)
        if keep is None and len(self.buf) - cut > MAX_MESSAGE_BYTES:  # a line that would not fit the bound
            raise too_large(self.ctx, f"line {self.line + 1}")
        chunk = self.raw.read(CHUNK)
        if not chunk:
            self.eof = True
            return None
        self.buf = self.buf[cut:] + chunk
        self.pos -= cut
        return cut

    def next(self) -> bytes | None:
        while True:
            nl = self.buf.find(b"\n", self.pos)
            if nl >= 0:
                line = self.buf[self.pos : nl]
                self.pos = nl + 1
                self.line += 1
                return line
            if self.more() is None:
                if self.pos < len(self.buf):
                    line = self.buf[self.pos :]
                    self.pos = len(self.buf)
                    self.line += 1
                    return line
                return None

    def peek(self) -> bytes | None:
        """The next non-blank byte (reading more if needed), not consumed; newlines skipped are counted."""
        while True:
            buf = self.buf
            i = self.pos
            n = len(buf)
            while i < n and buf[i] in b" \t\r\n":
                if buf[i] == 10:
                    self.line += 1
                i += 1
            self.pos = i
            if i < n:
                return buf[i : i + 1]
            if self.more() is None:
                return None

    def close(self) -> None:
        self.raw.close()


def _pretty_items(ctx: Context, arrays: frozenset[str]) -> Iterator[tuple[Around, Item]]:
    lines = _Lines(ctx)
    frames: list[_Frame] = []
    done = False
    try:
        while True:
            raw = lines.next()
            if raw is None:
                break
            ctx.where = f"line {lines.line}"
            s = raw.strip()
            if lines.line == 1 and s.startswith(b"\xef\xbb\xbf"):
                s = s[3:]
            if not s:
                continue
            if done:
                raise ctx.error("trailing_data")
            if s in (b"}", b"},", b"]", b"],"):
                if not frames or frames[-1].is_array != s.startswith(b"]"):
                    raise ctx.error("bad_json", expected="a value")
                closed = frames.pop()
                if not frames:
                    done = True
                elif not closed.is_array and closed.key is not None and not frames[-1].is_array:
                    frames[-1].data[closed.key] = closed.data
                continue
            if s.endswith((b"{", b"[")):
                key = _key(ctx, s[:-1].rstrip())
                if frames and not frames[-1].is_array and key is None:
                    raise ctx.error("bad_json", expected='"key":')
                if key in arrays and s.endswith(b"{"):
                    raise ctx.error("wrong_type", field=key, expected="array", found="object")
                frame = _Frame(key, s.endswith(b"["))
                frames.append(frame)
                if len(frames) > MAX_DEPTH:
                    raise too_deep(ctx, ctx.where)
                if frame.is_array and key in arrays:
                    around = [f.data for f in frames if not f.is_array]
                    yield from _scan_items(ctx, lines, raw, around)
                    frames.pop()
                    if not frames:
                        done = True
                continue
            if not frames:
                raise ctx.error("bad_json", expected="{")
            value = _scalar_line(ctx, s, in_array=frames[-1].is_array)
            if wrong := sorted(arrays & value.keys()):
                raise ctx.error("wrong_type", field=wrong[0], expected="array", found=json_type(value[wrong[0]]))
            if not frames[-1].is_array:
                frames[-1].data.update(value)
        if not done:
            raise ctx.error("truncated", where=f"line {lines.line}")
    finally:
        lines.close()


def _key(ctx: Context, s: bytes) -> str | None:
    if not s:
        return None
    if not s.endswith(b":"):
        raise ctx.error("bad_json", expected='"key":')
    try:
        key = orjson.loads(s[:-1])
    except orjson.JSONDecodeError:
        raise ctx.error("bad_json", expected='"key":') from None
    if not isinstance(key, str):
        raise ctx.error("bad_json", expected='"key":')
    return key


def _scalar_line(ctx: Context, s: bytes, *, in_array: bool) -> dict[str, Any]:
    body = s[:-1] if s.endswith(b",") else s
    try:
        if in_array:
            orjson.loads(body)
            return {}
        value = orjson.loads(b"{" + body + b"}")
    except orjson.JSONDecodeError:
        raise ctx.error("bad_json", expected='"key": value') from None
    if not isinstance(value, dict):
        raise ctx.error("bad_json", expected='"key": value')
    return value


def _scan_items(ctx: Context, lines: _Lines, opener: bytes, around: Around) -> Iterator[tuple[Around, Item]]:
    """Items of the array whose opening line was ``opener``, up to and including its closing line."""
    indent = opener[: len(opener) - len(opener.lstrip(b" \t"))]
    while True:  # the first item's line gives the items' indentation (or the array closes at once)
        raw = lines.next()
        if raw is None:
            raise ctx.error("truncated", where=f"line {lines.line}")
        s = raw.strip()
        if s:
            break
    ctx.where = f"line {lines.line}"
    if s in (b"]", b"],"):
        return
    if s != b"{":  # not one object over several lines: items one per line, or anything else
        yield from _line_items(ctx, lines, raw, around)
        return
    closer = b"\n" + raw[: len(raw) - len(raw.lstrip(b" \t"))] + b"}"
    array_closer = b"\n" + indent + b"]"
    start = lines.pos - 1 - len(raw)  # where the item's "{" line starts
    first = lines.line  # its line number
    while True:
        buf = lines.buf
        stop = buf.find(array_closer, start)
        end = buf.rfind(closer, start, stop if stop >= 0 else len(buf))
        if end < 0:
            if stop >= 0:
                raise ctx.error("bad_json", where=f"line {first}", expected="}")
            if len(buf) - start > MAX_MESSAGE_BYTES:  # one item bigger than any message
                raise too_large(ctx, f"line {first}")
            dropped = lines.more(keep=start)
            if dropped is None:
                raise ctx.error("truncated", where=f"line {first + buf.count(NL, start)}")
            start -= dropped
            continue
        end += len(closer)
        batch = buf[start:end]
        try:
            items = orjson.loads(b"[" + batch + b"]")
        except orjson.JSONDecodeError as exc:
            at = max(0, min(len(batch), exc.pos - 1))
            where = f"line {first + batch.count(NL, 0, at)}"
            raise _decode_error(ctx, exc, where, "an item") from None
        ctx.where = f"line {first}"
        for item in items:
            if not isinstance(item, dict):
                raise wrong_item(ctx, ctx.where, item)
            yield around, item
        lines.pos = end
        lines.line = first - 1 + batch.count(b"\n")
        token = lines.peek()
        if token == b",":
            lines.pos += 1
            token = lines.peek()
        if token is None:
            raise ctx.error("truncated", where=f"line {lines.line}")
        if token == b"]":
            rest = lines.next() or b""
            ctx.where = f"line {lines.line}"
            if rest.strip() not in (b"]", b"],"):
                raise ctx.error("bad_json", expected="]")
            return
        if token != b"{":
            raise ctx.error("bad_json", where=f"line {lines.line + 1}", expected="{")
        start = lines.pos
        first = lines.line + 1


def _line_items(ctx: Context, lines: _Lines, first: bytes, around: Around) -> Iterator[tuple[Around, Item]]:
    """Items written one per line (``{...},`` or ``, {...}``) up to the array's closing line."""
    raw: bytes | None = first
    while raw is not None:
        ctx.line = lines.line
        s = raw.strip()
        if s in (b"]", b"],"):
            return
        body = s.strip(b", \t")
        if body:
            try:
                value = orjson.loads(body)
            except orjson.JSONDecodeError as exc:
                raise _decode_error(ctx, exc, ctx.where, "one item per line") from None
            if not isinstance(value, dict):
                raise wrong_item(ctx, ctx.where, value)
            yield around, value
        raw = lines.next()
    raise ctx.error("truncated", where=f"line {lines.line}")


def wrong_item(ctx: Context, where: str, value: Any) -> ExportError:
    """An item of the message list that is valid JSON but not an object."""
    return ctx.error("wrong_type", where=where, field="messages[]", expected="object", found=json_type(value))


def json_type(value: Any) -> str:
    """The JSON name of a parsed value's type (for messages about wrong types)."""
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, (int, float)):
        return "number"
    names: dict[type, str] = {str: "string", list: "array", dict: "object"}
    return names.get(type(value), type(value).__name__)


def _decode_error(ctx: Context, exc: orjson.JSONDecodeError, where: str, expected: str) -> ExportError:
    """orjson's error as ours (its nesting limit, 1024 levels, is ours too: :data:`MAX_DEPTH`)."""
    if "depth limit" in str(exc) or "recursion" in str(exc).lower():
        return too_deep(ctx, where)
    return ctx.error("bad_json", where=where, expected=expected)


class _Strings:
    """The raw stream for ijson, refusing a string longer than MAX_MESSAGE_BYTES before ijson buffers it whole: a
    stretch that long without an unescaped quote is one (or is not JSON)."""

    def __init__(self, ctx: Context, raw: Any) -> None:
        self.ctx = ctx
        self.raw = raw
        self.offset = 0
        self._since_quote = 0

    def read(self, n: int = -1) -> bytes:
        data: bytes = self.raw.read(n)
        i = len(data)
        while (i := data.rfind(b'"', 0, i)) > 0 and data[i - 1] == 0x5C:  # skip escaped quotes
            pass
        self._since_quote = len(data) - i - 1 if i >= 0 else self._since_quote + len(data)
        self.offset += len(data)
        if self._since_quote > MAX_MESSAGE_BYTES:
            raise too_large(self.ctx, f"byte {self.offset - self._since_quote}")
        return data

    def close(self) -> None:
        self.raw.close()


def _ijson_items(ctx: Context, arrays: frozenset[str]) -> Iterator[tuple[Around, Item]]:
    """The same as the fast path, for any layout, by ijson's C parser (byte offsets in errors)."""
    import ijson

    raw = _Strings(ctx, ctx.open())
    frames: list[_Frame] = []
    key: str | None = None
    builder: Any = None
    depth = 0  # nesting inside the item being built
    start = 0  # where it began
    try:
        try:
            for event, value in ijson.basic_parse(raw, use_float=True):
                ctx.where = f"byte {raw.offset}"
                if builder is not None:
                    builder.event(event, value)
                    if event in ("start_map", "start_array"):
                        depth += 1
                        if depth + len(frames) > MAX_DEPTH:
                            raise too_deep(ctx, f"byte {raw.offset}")
                    elif event in ("end_map", "end_array"):
                        depth -= 1
                    if raw.offset - start > MAX_MESSAGE_BYTES + CHUNK:  # ijson reads ahead at most a chunk
                        raise too_large(ctx, f"byte {start}")
                    if depth == 0:
                        if isinstance(builder.value, dict):
                            yield [f.data for f in frames if not f.is_array], builder.value
                        builder = None
                    continue
                if event == "map_key":
                    key = value
                elif event in ("start_map", "start_array"):
                    top = frames[-1] if frames else None
                    if top is not None and top.is_array and top.key in arrays:
                        builder = ijson.ObjectBuilder()
                        builder.event(event, value)
                        depth = 1
                        start = raw.offset
                        continue
                    if event == "start_map" and top is not None and not top.is_array and key in arrays:
                        raise ctx.error("wrong_type", field=key, expected="array", found="object")
                    frames.append(_Frame(key if top is not None and not top.is_array else None, event == "start_array"))
                    if len(frames) > MAX_DEPTH:
                        raise too_deep(ctx, f"byte {raw.offset}")
                    key = None
                elif event in ("end_map", "end_array"):
                    closed = frames.pop()
                    if frames and not closed.is_array and closed.key is not None and not frames[-1].is_array:
                        frames[-1].data[closed.key] = closed.data
                elif frames and not frames[-1].is_array and key is not None:
                    if key in arrays:
                        raise ctx.error("wrong_type", field=key, expected="array", found=json_type(value))
                    frames[-1].data[key] = value
                    key = None
                elif frames and frames[-1].is_array and frames[-1].key in arrays:
                    raise wrong_item(ctx, f"byte {raw.offset}", value)
        except ijson.common.IncompleteJSONError as exc:
            problem = "truncated" if "incomplete" in str(exc).lower() or "premature" in str(exc).lower() else "bad_json"
            raise ctx.error(problem, where=f"byte {raw.offset}", expected="JSON") from None
        except ijson.common.JSONError:
            raise ctx.error("bad_json", where=f"byte {raw.offset}", expected="JSON") from None
    finally:
        raw.close()
