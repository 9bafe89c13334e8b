"""``shequn demo`` on a store that already holds something (issue 17): other communities stop it with a pointer to
``--fresh``; events that are not the demo's are named; ``--fresh`` starts from an empty SQLite file."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequn.app import App
from tests.cli.test_cli import Cli

EXPORT = Path(__file__).resolve().parents[1] / "data" / "whatsapp" / "mlomb" / "4A_11M.txt"


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "en")
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "demo.db"), capsys)


def _communities(db: str) -> list[str]:
    app = App(db)
    try:
        return sorted(c.name for c in app.communities())
    finally:
        app.close()


def test_other_communities_stop_the_demo_until_fresh(cli: Cli) -> None:
    assert cli("simulate", "-g", "2", "-d", "5")[0] == 0
    before = _communities(cli.db)
    code, _out, err = cli("demo", "--no-serve")
    assert code == 2 and "already holds other communities" in err and "--fresh" in err
    assert _communities(cli.db) == before  # unchanged
    code, out, err = cli("demo", "--no-serve", "--fresh")
    assert code == 0, err
    assert set(_communities(cli.db)).isdisjoint(before) and len(_communities(cli.db)) == 6
    assert "19,508" in out and "not the demo's" not in err


def test_events_besides_the_demo_are_named(cli: Cli) -> None:
    assert cli("import", str(EXPORT))[0] == 0  # an unbound group: 14 events
    code, _out, err = cli("demo", "--no-serve")
    assert code == 0
    assert "already held 14 events that are not the demo's" in err
