"""``shequn sandbox`` on an existing community (issue 17): the next joiner gets the community's next member number,
and a post made in a group other than the chat you are in names that group."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shequn.app import App
from tests.cli.test_cli import Cli
from tests.conftest import T0
from tests.support.builders import join, spec


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    monkeypatch.setenv("COLUMNS", "400")
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "sb.db")
    app = App(db)
    try:
        s = spec("读书会", "growth", groups=("g1", "g2"))
        s = s.model_copy(update={"groups": [g.model_copy(update={"name": f"读书会{g.id}"}) for g in s.groups]})
        app.apply_spec(s)
        app.ingest([join(f"u{i}", T0 + timedelta(minutes=i), group="g1" if i % 2 else "g2") for i in range(7)],
                   history=True)  # fmt: skip
    finally:
        app.close()
    return Cli(db, capsys)


def test_the_next_joiner_is_the_communitys_next_member(cli: Cli, tmp_path: Path) -> None:
    script = tmp_path / "s.txt"
    script.write_text("/as 小王\n/join\n/time +1d\n", encoding="utf-8")
    code, out, err = cli("sandbox", "-c", "读书会", "--script", str(script), "--start", "2026-09-10T00:00:00Z")
    assert code == 0, err
    assert "第8位成员" in out and "第1位成员" not in out
    posts = [line for line in out.splitlines() if " shequn post" in line]
    elsewhere = [line for line in posts if " shequn post @ " in line]
    assert elsewhere and all("@ 读书会g2 " in line for line in elsewhere)  # the other group is named
    assert len(elsewhere) < len(posts)  # the chat you are in (g1) needs no name
