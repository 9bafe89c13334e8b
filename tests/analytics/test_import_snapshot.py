"""An import writes the analytics snapshot's parts as it writes the log (issue 17): the first report after it
refreshes nothing and equals a report whose snapshot is built from scratch; a failed import changes neither."""

from __future__ import annotations

import json
import shutil
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import duckdb
import pytest

from shequn.analytics import source
from shequn.analytics.engine import analyze
from shequn.app import App
from shequn.domain import UserError
from shequn.importers import Importer, Options, load, plan
from shequn.store import events as event_store

DATA = Path(__file__).resolve().parents[1] / "data" / "telegram"
BIG = DATA / "mlomb" / "BIG_20A_5475M.json"  # 5,475 messages with replies
SMALL = DATA / "tgif-oop" / "exported.json"


@pytest.fixture(autouse=True)
def every_import_stages(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(load, "SNAPSHOT_FROM", 0)
    monkeypatch.setenv("SHEQUN_ANALYTICS_CACHE", str(tmp_path / "cache"))  # PostgreSQL's snapshots go there


def _import(app: App, *paths: Path) -> None:
    planned, skipped = plan(list(paths), None)
    Importer(app, Options(tz=ZoneInfo("UTC"))).run(planned, skipped=skipped)


def _figures(app: App, cache: Path | None = None) -> tuple[dict[str, Any], float]:
    report = analyze(app.store, app.ws, days=3650, cache=cache)
    added = report.timings["snapshot_events_added"]
    data = report.to_dict()
    data.pop("timings", None)
    data.pop("generated", None)
    return json.loads(json.dumps(data, default=str, sort_keys=True)), added


def _rows(folder: Path) -> list[tuple[Any, ...]]:
    parts = [str(folder / p) for p in json.loads((folder / "manifest.json").read_text())["parts"]]
    return duckdb.sql(f"SELECT * FROM read_parquet({parts}) ORDER BY seq").fetchall()


def _folder(app: App) -> Path:
    return source.default_cache(app.store.db.url, app.ws.id)


@pytest.mark.pg
def test_the_first_report_after_an_import_refreshes_nothing_and_equals_a_rebuild(db_url: str, tmp_path: Path) -> None:
    app = App(db_url)
    _import(app, BIG)
    assert (_folder(app) / "manifest.json").exists()  # written by the import, before any report
    after, added = _figures(app)
    assert added == 0
    rebuilt, added = _figures(app, cache=tmp_path / "scratch")
    assert added > 5000
    assert after == rebuilt
    assert _rows(_folder(app)) == _rows(tmp_path / "scratch")

    _import(app, SMALL)  # a second import, on top of a current snapshot
    after, added = _figures(app)
    assert added == 0
    shutil.rmtree(tmp_path / "scratch")
    rebuilt, _ = _figures(app, cache=tmp_path / "scratch")
    assert after == rebuilt
    assert _rows(_folder(app)) == _rows(tmp_path / "scratch")
    assert not list(_folder(app).glob(".import-*"))


def test_a_bulk_load_that_drops_repeated_ids_drops_them_from_the_parts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(event_store, "DEFER_INDEXES_FROM", 0)  # the load builds the indexes at the end
    app = App(f"sqlite:///{tmp_path / 's.db'}")
    copy = tmp_path / "copy" / "result.json"
    copy.parent.mkdir()
    shutil.copy(BIG, copy)
    _import(app, BIG, copy)  # every event twice: the second copies go when the unique index is built
    after, added = _figures(app)
    assert added == 0
    rebuilt, _ = _figures(app, cache=tmp_path / "scratch")
    assert after == rebuilt
    assert _rows(_folder(app)) == _rows(tmp_path / "scratch")


def test_a_stale_snapshot_is_left_to_the_next_report(tmp_path: Path) -> None:
    app = App(f"sqlite:///{tmp_path / 's.db'}")
    _import(app, SMALL)
    source.clear(_folder(app))  # no snapshot for a log that is not empty: the import stages nothing
    _import(app, BIG)
    assert not (_folder(app) / "manifest.json").exists()
    after, added = _figures(app)
    assert added > 5000
    rebuilt, _ = _figures(app, cache=tmp_path / "scratch")
    assert after == rebuilt


def test_a_failed_import_changes_neither_the_store_nor_the_snapshot(tmp_path: Path) -> None:
    app = App(f"sqlite:///{tmp_path / 's.db'}")
    _import(app, SMALL)
    _figures(app)
    folder = _folder(app)
    before = {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"}
    with app.store.transaction() as conn:
        logged = app.store.events.last_seq(conn, app.ws.id)
    broken = tmp_path / "broken" / "result.json"
    broken.parent.mkdir()
    broken.write_text(BIG.read_text()[:700_000])  # cut in the middle of the messages
    with pytest.raises(UserError):
        _import(app, BIG, broken)
    with app.store.transaction() as conn:
        assert app.store.events.last_seq(conn, app.ws.id) == logged
    assert {p.name: p.read_bytes() for p in folder.iterdir() if p.is_file() and p.name != ".lock"} == before
    assert not list(folder.glob(".import-*"))


def test_parts_that_cannot_be_written_never_fail_the_import(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    app = App(f"sqlite:///{tmp_path / 's.db'}")
    _import(app, SMALL)
    _figures(app)
    folder = _folder(app)
    manifest = (folder / "manifest.json").read_text()

    def out_of_memory(*_: object) -> None:
        raise duckdb.OutOfMemoryException("Out of Memory Error: failed to allocate")

    resolve = source._resolve
    monkeypatch.setattr(source, "_resolve", out_of_memory)
    _import(app, BIG)  # the import itself goes through
    monkeypatch.setattr(source, "_resolve", resolve)
    assert (folder / "manifest.json").read_text() == manifest
    assert not list(folder.glob(".import-*"))
    after, added = _figures(app)
    assert added > 5000  # the report refreshes as before
    rebuilt, _ = _figures(app, cache=tmp_path / "scratch")
    assert after == rebuilt
