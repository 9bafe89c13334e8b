"""``shequn import DIR`` (issue 17): hidden and tool folders are not entered, what would be imported is listed and what
was skipped is counted, and several exports from a folder need a confirmation (or ``--yes``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from shequn.app import App
from tests.cli.test_cli import Cli

DATA = Path(__file__).resolve().parents[1] / "data"


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "en")
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    """A project folder: two exports beside a git repository, a virtual environment, caches and node modules, all
    holding JSON and text files that are no exports."""
    root = tmp_path / "project"
    (root / "exports").mkdir(parents=True)
    shutil.copy(DATA / "whatsapp" / "mlomb" / "4A_11M.txt", root / "exports")
    shutil.copy(next((DATA / "telegram").glob("*.json")), root / "exports")
    for junk in (".git/objects", ".venv/lib/python3.11/site-packages/x", "node_modules/y", ".mypy_cache/3.11",
                 "venv2/lib"):  # fmt: skip
        (root / junk).mkdir(parents=True)
        for i in range(50):
            (root / junk / f"f{i}.json").write_text('{"messages": []}', encoding="utf-8")
            (root / junk / f"f{i}.txt").write_text("1/2/20, 10:00 - a: b\n", encoding="utf-8")
    (root / "venv2" / "pyvenv.cfg").write_text("home = /usr/bin\n", encoding="utf-8")
    (root / "notes.md").write_text("# notes\n", encoding="utf-8")
    return root


def _events(db: str) -> int:
    app = App(db)
    try:
        with app.store.transaction() as conn:
            return sum(app.store.events.count_by_kind(conn, app.ws.id).values())
    finally:
        app.close()


def test_tool_folders_are_skipped_and_counted(cli: Cli, folder: Path) -> None:
    code, out, err = cli("import", str(folder), "--dry-run")
    assert code == 0, err
    assert "2 export(s) to import" in out and "4A_11M.txt" in out and "result.json" in out
    assert "skipped 5 folder(s) (hidden or tool folders) and 1 unrecognized file(s)" in err
    assert len(out + err) < 4000  # counted, not dumped
    assert _events(cli.db) == 0


def test_several_exports_from_a_folder_need_yes(cli: Cli, folder: Path) -> None:
    code, _out, err = cli("import", str(folder))  # stdin is not a terminal under pytest: no prompt
    assert code == 2 and "add --yes" in err
    assert _events(cli.db) == 0
    code, out, err = cli("import", str(folder), "--yes")
    assert code == 0, err
    assert "imported 2 file(s)" in out.lower() or "2 file" in out
    assert _events(cli.db) == 47
