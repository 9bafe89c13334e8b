"""Fuzzing every parser: any input parses, or raises ExportError naming the file and the line or byte offset."""

from __future__ import annotations

import io
import re
import tempfile
import zipfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn.importers import FORMATS, Context, ExportError, Options, Source
from tests.importers.helpers import DATA, FIXTURES

SEEDS = {
    "whatsapp": DATA / "whatsapp" / "chat-miner" / "test_mmddyyyy_12hrs.txt",
    "telegram": DATA / "telegram" / "tgif-c-sharp-indonesia.result.json",
    "discord-json": DATA / "discord" / "mlomb" / "SV_5A_5M.json",
    "discord-csv": FIXTURES / "general [1064990764406419508].csv",
    "matrix": FIXTURES / "element-export.json",
    "memotrace-csv": FIXTURES / "读书会一群_utf8.csv",
    "memotrace-txt": FIXTURES / "读书会一群.txt",
    "pywxdump-csv": FIXTURES / "pywxdump-9col.csv",
    "qq-txt": FIXTURES / "qq-export.txt",
}
PLACE = re.compile(r":(line \d+|byte \d+|[^:]+\.json: (line \d+|message \d+))?: ")


def _parse(fmt: str, data: bytes, name: str) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / name
        path.write_bytes(data)
        ctx = Context(Source(path), Options())
        try:
            for _ in FORMATS[fmt].parse(ctx):
                pass
        except ExportError as exc:
            text = str(exc)
            assert text.startswith(str(path)), text
            where = text[len(str(path)) :]
            assert PLACE.match(where) or where.startswith(": "), text
            if fmt != "slack" and exc.where:
                assert re.fullmatch(r"line \d+|byte \d+", exc.where), exc.where


def _mutations(seed: bytes) -> st.SearchStrategy[bytes]:
    n = len(seed)
    cut = st.integers(0, n).map(lambda i: seed[:i])
    flip = st.tuples(st.integers(0, n - 1), st.binary(min_size=1, max_size=8)).map(
        lambda p: seed[: p[0]] + p[1] + seed[p[0] + len(p[1]) :]
    )
    insert = st.tuples(st.integers(0, n), st.sampled_from([b"{", b"}", b"]", b'"', b",", b"\n", b"\x00", b"\xff"])).map(
        lambda p: seed[: p[0]] + p[1] + seed[p[0] :]
    )
    drop = st.tuples(st.integers(0, n), st.integers(1, 64)).map(lambda p: seed[: p[0]] + seed[p[0] + p[1] :])
    return st.one_of(cut, flip, insert, drop, st.binary(max_size=300))


@pytest.mark.parametrize("fmt", sorted(SEEDS))
def test_mutated_exports_parse_or_fail_clearly(fmt: str) -> None:
    seed = SEEDS[fmt].read_bytes()

    @settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(_mutations(seed))
    def check(data: bytes) -> None:
        _parse(fmt, data, SEEDS[fmt].name)

    check()


@settings(max_examples=40, deadline=None)
@given(st.text(max_size=400))
def test_random_text_as_whatsapp_or_qq(text: str) -> None:
    for fmt in ("whatsapp", "qq-txt", "memotrace-txt"):
        _parse(fmt, text.encode(), "chat.txt")


@settings(max_examples=30, deadline=None)
@given(
    st.recursive(
        st.none() | st.booleans() | st.integers() | st.text(max_size=20),
        lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=12), children, max_size=5),
        max_leaves=30,
    )
)
def test_any_json_messages_in_json_formats(value: object) -> None:
    """Arbitrary JSON where the messages go (wrong types everywhere) is read or refused clearly."""
    import json

    for fmt, doc in (
        ("telegram", {"name": "x", "type": "private_group", "id": 1, "messages": [value, {"type": "message"}]}),
        ("discord-json", {"guild": {}, "channel": {"id": "1"}, "messages": [value]}),
        ("matrix", {"room_name": "r", "messages": [value, {"type": "m.room.message", "content": value}]}),
    ):
        for indent in (None, 1):
            _parse(fmt, json.dumps(doc, indent=indent).encode(), "export.json")


@settings(max_examples=30, deadline=None)
@given(st.binary(max_size=200), st.sampled_from(["users.json", "channels.json", "general/2024-01-01.json"]))
def test_slack_zips_with_broken_members(junk: bytes, member: str) -> None:
    buf = io.BytesIO()
    members = {
        "users.json": b'[{"id": "U1", "name": "a"}]',
        "channels.json": b'[{"id": "C1", "name": "general"}]',
        "general/2024-01-01.json": b'[{"type": "message", "user": "U1", "text": "hi", "ts": "1.0"}]',
    }
    members[member] = junk
    with zipfile.ZipFile(buf, "w") as z:
        for name, data in members.items():
            z.writestr(name, data)
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "slack.zip"
        path.write_bytes(buf.getvalue())
        try:
            list(FORMATS["slack"].parse(Context(Source(path), Options())))
        except ExportError as exc:
            assert str(exc).startswith(str(path))


_LEAF = st.one_of(
    st.integers(-(2**70), 2**70), st.text(max_size=12), st.floats(allow_nan=False), st.none(), st.booleans()
)
JSON = st.one_of(
    _LEAF,
    st.lists(_LEAF, max_size=3),
    st.dictionaries(st.text(max_size=8), _LEAF, max_size=3),
    st.lists(st.dictionaries(st.sampled_from(["id", "name", "text", "count", "emoji", "type"]), _LEAF), max_size=2),
)
KEYS = {
    "telegram": ["id", "type", "date", "date_unixtime", "from", "from_id", "text", "reply_to_message_id", "photo",
                 "file", "media_type", "poll", "edited", "edited_unixtime", "reactions", "actor", "actor_id",
                 "action", "members", "forwarded_from", "title", "message_id"],
    "discord-json": ["id", "type", "timestamp", "timestampEdited", "content", "author", "attachments", "embeds",
                     "stickers", "reactions", "mentions", "reference"],
    "matrix": ["type", "sender", "content", "origin_server_ts", "event_id", "room_id", "state_key", "unsigned",
               "redacts"],
}  # fmt: skip
GOOD = {
    "telegram": {"id": 1, "type": "message", "date_unixtime": "1700000000", "from": "a", "from_id": "user1"},
    "discord-json": {"id": "1", "type": "Default", "timestamp": "2024-01-01T00:00:00+00:00", "author": {"id": "1"}},
    "matrix": {"type": "m.room.message", "sender": "@a:b", "origin_server_ts": 1, "event_id": "$1", "room_id": "!r"},
}


@pytest.mark.parametrize("fmt", sorted(KEYS))
def test_known_fields_with_any_values(fmt: str) -> None:
    """Each field a parser reads, given any JSON value (a list where a string belongs, an object for a time …)."""
    import json

    @settings(max_examples=300, deadline=None)
    @given(st.dictionaries(st.sampled_from(KEYS[fmt]), JSON, max_size=6), st.booleans())
    def check(fields: dict[str, object], nested: bool) -> None:
        message = {**GOOD[fmt], **fields}
        if nested:  # the same values one level down, where the parsers look into objects
            message = {**GOOD[fmt], **{k: {"id": v, "name": v, "text": v, "emoji": v, "count": v, "event_id": v,
                                           "m.relates_to": v, "membership": v, "messageId": v, "recent": v}
                                       for k, v in fields.items()}}  # fmt: skip
        doc: dict[str, object] = {"messages": [message]}
        if fmt == "telegram":
            doc = {"name": "x", "type": "private_group", "id": 1, **doc}
        if fmt == "discord-json":
            doc = {"guild": {"id": "0"}, "channel": {"id": "1", "type": "GuildTextChat"}, **doc}
        if fmt == "matrix":
            doc = {"room_name": "r", **doc}
        _parse(fmt, json.dumps(doc, indent=1).encode(), "export.json")

    check()
