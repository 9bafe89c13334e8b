"""``shequn group …`` end to end: bind, list, archive, and bad input answered in the user's language with exit 2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.cli.test_cli import Cli


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


def test_group_commands_and_their_errors_in_both_languages(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    assert cli("community", "create", "--type", "成长型", "--name", "读书会")[0] == 0
    assert cli("community", "create", "--type", "兴趣型", "--name", "夜跑团")[0] == 0
    assert cli("group", "bind", "读书会", "sandbox:g1", "--name", "主群")[0] == 0
    assert cli("group", "bind", "夜跑团", "sandbox:r1")[0] == 0

    code, _, err = cli("group", "split", "读书会", "主群")
    assert code == 2 and "未到规模上限" in err and "--force" in err
    code, _, err = cli("group", "archive", "读书会", "sandbox:r1")
    assert code == 2 and "属于社群“夜跑团”" in err
    code, _, err = cli("group", "merge", "读书会", "主群", "--into", "sandbox:g1")
    assert code == 2 and "它自己" in err
    code, _, err = cli("group", "temporary", "读书会", "主群", "--ends", "明天")
    assert code == 2 and "不是日期" in err

    code, out, _ = cli("group", "archive", "读书会", "主群", "--json")
    assert code == 0 and json.loads(out)["verb"] == "archive"
    code, out, _ = cli("group", "list", "读书会", "--json")
    assert [(r["group"], r["state"]) for r in json.loads(out)] == [("sandbox:g1", "archived")]
    code, out, _ = cli("group", "list", "读书会")
    assert "归档" in out

    monkeypatch.setenv("SHEQUN_LANG", "en")
    code, _, err = cli("group", "dissolve", "读书会", "nope", "--yes")
    assert code == 2 and "no group 'nope' in community '读书会'" in err
    code, _, err = cli("group", "archive", "读书会", "主群")
    assert code == 2 and "is archived already" in err
