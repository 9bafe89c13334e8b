"""An import is one transaction: a truncated or corrupt file, or a refused binding, leaves the store exactly as
it was (every table's rows and the event log), on SQLite and PostgreSQL."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest
from sqlalchemy import inspect, text

from shequn.app import App
from shequn.domain import UserError
from shequn.importers import ExportError
from tests.importers.helpers import DATA, run
from tests.support.builders import spec

TG = DATA / "telegram" / "mlomb" / "BIG_20A_5475M.json"


def snapshot(app: App) -> dict[str, list[tuple[object, ...]]]:
    """Every row of every table, in key order (the whole content of the store)."""
    engine = app.store.db.engine
    tables = sorted(inspect(engine).get_table_names())
    with engine.connect() as conn:
        return {t: [tuple(r) for r in conn.execute(text(f"SELECT * FROM {t} ORDER BY 1"))] for t in tables}


def _sqlite_dump(url: str) -> list[str]:
    with sqlite3.connect(url.removeprefix("sqlite:///")) as db:
        return list(db.iterdump())


def _seed(url: str) -> App:
    app = App(url)
    app.apply_spec(spec(name="读书会", platform="telegram", groups=("-1001111111111",)))
    run(app, [DATA / "whatsapp" / "whatstk" / "pokemon.txt"])
    return app


def truncated(tmp_path: Path, source: Path, fraction: float) -> Path:
    data = source.read_bytes()
    cut = tmp_path / f"cut-{source.name}"
    cut.write_bytes(data[: int(len(data) * fraction)])
    return cut


@pytest.mark.parametrize("fraction", [0.5, 0.97])
def test_a_truncated_telegram_export_changes_nothing(db_url: str, tmp_path: Path, fraction: float) -> None:
    app = _seed(db_url)
    before = snapshot(app)
    dump = _sqlite_dump(db_url) if db_url.startswith("sqlite") else None
    with pytest.raises(ExportError) as err:
        run(app, [truncated(tmp_path, TG, fraction)], community="读书会")
    assert str(err.value).startswith(f"{tmp_path / ('cut-' + TG.name)}:line ")
    assert snapshot(app) == before
    assert sum(len(rows) for rows in before.values()) > 0 and len(before["event"]) == 20
    if dump is not None:
        assert _sqlite_dump(db_url) == dump
    # the whole file then imports, once
    assert run(app, [TG], community="读书会").added == 5475
    app.close()


def test_a_corrupt_second_file_rolls_back_the_first(sqlite_url: str, tmp_path: Path) -> None:
    app = _seed(sqlite_url)
    before = snapshot(app)
    dump = _sqlite_dump(sqlite_url)
    bad = tmp_path / "bad.txt"
    good = (DATA / "whatsapp" / "whatstk" / "lorem.txt").read_bytes()
    bad.write_bytes(good[:5000] + b"\xff\xfe\xfa not utf-8 \n" + good[5000:])
    with pytest.raises(ExportError, match=r"bad\.txt:line \d+"):
        run(app, [DATA / "whatsapp" / "whatstk" / "lorem-2000.txt", bad])
    assert snapshot(app) == before
    assert _sqlite_dump(sqlite_url) == dump
    app.close()


def test_a_group_of_another_community_is_refused_and_nothing_is_written(sqlite_url: str) -> None:
    app = App(sqlite_url)
    app.apply_spec(spec(name="甲", platform="telegram", groups=("-1001111111111",)))
    app.apply_spec(spec(name="乙", platform="telegram", groups=("-1009999",)))
    before = snapshot(app)
    with pytest.raises(UserError, match="已属于社群"):
        run(app, [TG], community="乙")
    assert snapshot(app) == before
    app.close()


def test_an_unknown_community_is_refused_before_reading(sqlite_url: str) -> None:
    app = App(sqlite_url)
    before = snapshot(app)
    with pytest.raises(UserError, match="no community named"):
        run(app, [TG], community="nope")
    assert snapshot(app) == before


def test_binding_later_replays_the_history(sqlite_url: str) -> None:
    """Imported without a community, a group's events are logged but build no members; importing again with
    --community binds it and replays the log, so its history counts."""
    app = App(sqlite_url)
    app.apply_spec(spec(name="读书会", platform="telegram", groups=()))
    first = run(app, [TG])
    assert first.unbound == [("telegram", "-1001111111111")]
    assert app.saved_state().communities.get("读书会") is None or not app.saved_state().communities["读书会"].members
    second = run(app, [TG], community="读书会")
    assert second.added == 0 and second.replayed and second.bound == [("telegram", "-1001111111111")]
    members = app.saved_state().communities["读书会"].members
    assert len(members) == 20
    app.close()
