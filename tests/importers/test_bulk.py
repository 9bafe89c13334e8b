"""The bulk path of imports: parsers that write log rows themselves write exactly the log's form of their events;
text read in pieces is the text read line by line; a big load builds the log's indexes at the end, drops repeated
ids as the unique index would have, and rolls everything back on bad input."""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.app import App
from shequn.domain import Message, iso_ms
from shequn.domain.records import iso
from shequn.importers import ExportError, Options, Source, load, whatsapp
from shequn.importers.base import Context, LocalTimes, event_from_row, log_row, text_chunks, text_lines, to_ms
from shequn.importers.detect import FORMATS
from shequn.importers.pii import Masker
from shequn.store import events as event_store
from tests.importers.helpers import DATA, run
from tests.importers.test_atomic import snapshot, truncated

WA = DATA / "whatsapp"
ROW_FORMATS = {
    "whatsapp": sorted(WA.rglob("*.txt")),
    "telegram": sorted((DATA / "telegram").rglob("*.json")),
}


@pytest.mark.parametrize(
    ("fmt", "path"), [(f, p) for f, paths in ROW_FORMATS.items() for p in paths], ids=lambda v: getattr(v, "name", v)
)
@pytest.mark.parametrize("mask", [False, True])
def test_rows_are_the_log_form_of_their_events(fmt: str, path: Path, mask: bool) -> None:
    options = Options(tz=ZoneInfo("America/New_York"), mask=Masker(b"k" * 32) if mask else None)
    ctx = Context(Source(path), options)
    try:
        rows = list(FORMATS[fmt].rows(ctx))
    except ExportError:
        pytest.skip(f"{path.name} is not a {fmt} export (a metadata file)")  # e.g. chat-miner's target.json
    for row in rows:
        assert log_row(event_from_row(row)) == row
    assert rows or path.name in ("metadata.json", "target.json")


def test_a_generated_export_writes_canonical_rows(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The benchmark's layouts (photos, replies, mentions as entity lists, service joins) through the row paths."""
    from shequn.bench.importers import telegram_export, whatsapp_export

    monkeypatch.setenv("SHEQUN_BENCH_DIR", str(tmp_path))
    for fmt, path in (("whatsapp", whatsapp_export(3000, seed=7)), ("telegram", telegram_export(3000, seed=7))):
        rows = list(FORMATS[fmt].rows(Context(Source(path), Options())))
        assert len(rows) >= 3000
        assert all(log_row(event_from_row(r)) == r for r in rows)
        kinds = {r[1] for r in rows}
        assert {"message", "join"} <= kinds


@given(st.text(alphabet="ab\r\n\u00e9\U0001f600", max_size=200), st.integers(1, 9))
@settings(max_examples=300, deadline=None)
def test_text_in_pieces_is_the_text_line_by_line(
    tmp_path_factory: pytest.TempPathFactory, text: str, size: int
) -> None:
    path = tmp_path_factory.mktemp("chunks") / "t.txt"
    path.write_bytes(text.encode())
    pieces = list(text_chunks(Context(Source(path), Options()), size=size))
    joined = "".join(p for _, p in pieces)
    lines = [line for _, line in text_lines(Context(Source(path), Options()))]
    assert joined.split("\n")[: len(lines)] == lines
    assert joined == "\n".join(lines) + ("\n" if joined.endswith("\n") else "")
    starts = [1]  # every piece but the last ends a line, and knows its first line's number
    for _, piece in pieces[:-1]:
        assert piece.endswith("\n")
        starts.append(starts[-1] + piece.count("\n"))
    assert [first for first, _ in pieces] == starts[: len(pieces)]


def test_bad_bytes_are_named_by_their_line(tmp_path: Path) -> None:
    path = tmp_path / "chat.txt"
    path.write_bytes(b"1/2/21, 10:00 - A: ok\n" * 50 + b"1/2/21, 10:01 - B: \xff\xfe\n")
    with pytest.raises(ExportError, match=r"chat\.txt:line 51: "):
        list(text_chunks(Context(Source(path), Options()), size=64))


@pytest.mark.parametrize("zone", ["Asia/Shanghai", "America/New_York", "Europe/London", "Australia/Lord_Howe", "UTC"])
def test_local_times_in_ms_are_the_datetime_conversion(zone: str) -> None:
    times = LocalTimes(ZoneInfo(zone))
    t = datetime(2021, 1, 1)
    while t < datetime(2022, 1, 1):
        assert times.ms(t.year, t.month, t.day, t.hour, t.minute, t.second) == to_ms(
            times.utc(t.year, t.month, t.day, t.hour, t.minute, t.second)
        ), t
        t += timedelta(minutes=17)
    with pytest.raises(ValueError):
        times.ms(2021, 1, 1, 25, 0, 0)  # as datetime() refuses it


@given(st.integers(-(10**13), 10**13))
def test_iso_ms_is_iso(ms: int) -> None:
    assert iso_ms(ms) == iso(datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms))


def test_whatsapp_in_small_pieces_is_the_same(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Records whose continuation lines straddle the pieces' ends are read whole."""
    path = tmp_path / "multi.txt"
    path.write_text(
        "".join(f"1/{1 + i // 50}/21, 10:{i % 50:02d} - P{i % 3}: line {i}\nmore {i}\n\nend {i}\n" for i in range(400)),
        encoding="utf-8",
    )
    whole = list(whatsapp.rows(Context(Source(path), Options(group="g"))))
    monkeypatch.setattr(whatsapp, "CHUNK", 37)
    assert list(whatsapp.rows(Context(Source(path), Options(group="g")))) == whole
    texts = [m.text for m in map(event_from_row, whole) if isinstance(m, Message)]
    assert texts[5] == "line 5\nmore 5\n\nend 5" and len(texts) == 400


@pytest.fixture
def big_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """Every import counts as big: the indexes are built at the end."""
    monkeypatch.setattr(event_store, "DEFER_INDEXES_FROM", 1)
    monkeypatch.setattr(load, "_expected_rows", lambda item: 10**6)


def _indexes(url: str) -> list[tuple[str, str]]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return sorted(db.execute("SELECT name, sql FROM sqlite_master WHERE tbl_name = 'event' AND sql IS NOT NULL"))


@pytest.mark.usefixtures("big_loads")
def test_a_big_load_that_fails_leaves_the_log_and_its_indexes(sqlite_url: str, tmp_path: Path) -> None:
    app = App(sqlite_url)
    run(app, [WA / "whatstk" / "pokemon.txt"])
    before, indexes = snapshot(app), _indexes(sqlite_url)
    assert {"ux_event_uid", "ix_event_group_at", "ix_event_person_id"} <= {n for n, _ in indexes}
    tg = DATA / "telegram" / "mlomb" / "BIG_20A_5475M.json"
    with pytest.raises(ExportError):
        run(app, [tg, truncated(tmp_path, tg, 0.6)])
    assert snapshot(app) == before and _indexes(sqlite_url) == indexes
    assert run(app, [tg]).added == 5475
    assert _indexes(sqlite_url) == indexes
    with sqlite3.connect(sqlite_url.removeprefix("sqlite:///")) as db:
        query = "EXPLAIN QUERY PLAN SELECT seq FROM event WHERE workspace_id = 1 AND uid = 'x'"
        plan = " ".join(r[-1] for r in db.execute(query))
    assert "ux_event_uid" in plan
    app.close()


@pytest.mark.usefixtures("big_loads")
def test_a_big_load_drops_repeated_ids_as_the_unique_index_would(sqlite_url: str, tmp_path: Path) -> None:
    first = (WA / "whatstk" / "lorem-merge-part1.txt").read_text(encoding="utf-8").splitlines()
    second = (WA / "whatstk" / "lorem-merge-part2.txt").read_text(encoding="utf-8").splitlines()
    early, later = tmp_path / "early.txt", tmp_path / "later.txt"
    early.write_text("\n".join(first) + "\n", encoding="utf-8")
    later.write_text("\n".join(first[-100:] + second) + "\n", encoding="utf-8")
    app = App(sqlite_url)
    report = run(app, [early, later], group="lorem")  # one load repeating 100 of its own messages
    assert (report.received, report.added) == (700, 600)
    tally = report.groups[("whatsapp", "lorem")]
    assert (tally.received, tally.added) == ({"message": 700}, {"message": 600})
    again = run(app, [later, early], group="lorem")  # everything logged already
    assert (again.received, again.added) == (700, 0) and again.groups[("whatsapp", "lorem")].added == {"message": 0}
    events = list(app.events())
    assert len(events) == 600 and len({e.id for e in events}) == 600
    assert [e.at for e in events][:300] == sorted(e.at for e in events[:300])  # the first copies were kept, in order
    app.close()
