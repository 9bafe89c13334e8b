"""``shequn inbox cases`` and ``shequn inbox case N`` end to end on SQLite: a moderation step numbered and listed,
shown with its evidence, noted, reversed by its number; bad input exits 2 in zh-CN and en, nothing changed."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shequn.app import App
from tests.cli.test_cli import Cli, cli  # noqa: F401  (the fixture)
from tests.conftest import T0
from tests.support.builders import join, msg, spec

AD = "加我微信 abc12345 免费领资料 http://x.cn 日赚500"


def test_cases_list_show_note_reverse(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    app = App(cli.db)
    app.apply_spec(spec("读书会", "growth", groups=("g1",)))
    app.ingest([join("ann", T0)], history=True)
    app.ingest([msg("ann", T0 + timedelta(minutes=1), "大家好"), msg("ann", T0 + timedelta(minutes=2), AD)])
    app.close()

    code, out, _ = cli("inbox", "cases", "--json")
    [case] = json.loads(out)
    assert code == 0 and (case["n"], case["member"], case["status"]) == (1, "sandbox:ann", "standing")
    code, out, _ = cli("inbox", "cases")
    assert "读书会#1" in out and "有效" in out
    code, out, _ = cli("inbox", "case", "1")
    assert code == 0 and "处理记录 读书会#1" in out and AD in out and "得分" in out
    assert cli("inbox", "case", "1", "--note", "确认是广告账号")[0] == 0
    code, out, _ = cli("inbox", "case", "1")
    assert "确认是广告账号" in out
    # Unknown case, bad status: exit 2, in the user's language; nothing changed.
    code, _, err = cli("inbox", "case", "读书会#7")
    assert code == 2 and "没有处理记录 读书会#7" in err
    code, _, err = cli("inbox", "cases", "--status", "closed")
    assert code == 2 and "closed" in err and "standing" in err
    monkeypatch.setenv("SHEQUN_LANG", "en")
    code, _, err = cli("inbox", "case", "7", "--reverse")
    assert code == 2 and "there is no moderation case 读书会#7" in err
    code, out, _ = cli("inbox", "cases", "--status", "reversed", "--json")
    assert json.loads(out) == []
    # Reversed by its number: the offence withdrawn, the case marked.
    code, out, _ = cli("inbox", "case", "1", "--reverse", "--as", "amy")
    assert code == 0 and "Moderation case 读书会#1 reversed" in out
    code, out, _ = cli("inbox", "cases", "--status", "reversed", "--json")
    [done] = json.loads(out)
    assert done["reversed_by"] == "amy" and done["notes"][0][2] == "确认是广告账号"
    code, _, err = cli("inbox", "case", "1", "--reverse")
    assert code == 2 and "already reversed" in err
