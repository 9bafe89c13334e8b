"""``shequn import`` end to end: detection, the table per group and kind, binding, errors and exit statuses."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from shequn.importers import FORMATS, Source, detect
from tests.cli.test_cli import Cli
from tests.importers.helpers import DATA, FIXTURES


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "en")
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


def test_import_prints_a_table_per_group_and_kind(cli: Cli) -> None:
    assert cli("community", "create", "--type", "growth", "--name", "Readers")[0] == 0
    code, out, err = cli("import", str(DATA / "whatsapp" / "mlomb" / "4A_11M.txt"), "--community", "Readers",
                         "--group", "Cool group", "--tz", "Europe/Madrid")  # fmt: skip
    assert code == 0, err
    assert "Cool group" in out and "whatsapp" in out and "Readers" in out
    assert "join" in out and "message" in out and "13 / 13" in out  # 11 messages and 2 system lines, all new
    assert "14 events read, 14 new (0 already in the log)" in out
    code, out, _ = cli("import", str(DATA / "whatsapp" / "mlomb" / "4A_11M.txt"), "--group", "Cool group",
                       "--tz", "Europe/Madrid")  # fmt: skip
    assert code == 0 and "14 events read, 0 new (14 already in the log)" in out
    code, out, _ = cli("community", "list", "--json")
    [row] = json.loads(out)
    assert row["groups"] == 1 and row["messages"] == 13 and row["members"] == 5


def test_a_folder_imports_what_it_recognizes_and_lists_the_rest(cli: Cli) -> None:
    code, out, err = cli("import", str(DATA / "telegram" / "tgif-oop"))
    assert code == 0
    assert "1 unrecognized file(s)" in err and "metadata.json" in err
    assert "Dengan dan tanpa OOP" in out or "telegram" in out


def test_bad_input_is_one_line_with_file_and_place(cli: Cli, tmp_path: Path) -> None:
    cut = tmp_path / "cut.json"
    cut.write_bytes((DATA / "telegram" / "mlomb" / "BIG_20A_5475M.json").read_bytes()[:300_000])
    code, _out, err = cli("import", str(cut))
    assert code == 2
    assert err.count("\n") == 1 and f"{cut}:line " in err and "truncated" in err
    assert "Traceback" not in err
    code, _, err = cli("export", "events")
    assert code == 0 and "0 events exported" in err  # nothing was written


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["nope.txt"], "no such file"),
        (["README"], "unrecognized export format"),
        (["x", "--format", "fax"], "unknown format fax"),
        (["x", "--tz", "Mars/Base"], "unknown time zone"),
        (["x", "--community", "ghost"], "no community named 'ghost'"),
    ],
)
def test_usage_errors(cli: Cli, tmp_path: Path, args: list[str], message: str) -> None:
    (tmp_path / "README").write_text("just some notes\n", encoding="utf-8")
    if args[0] == "x":
        args = [str(DATA / "whatsapp" / "mlomb" / "2A_5M.txt"), *args[1:]]
    code, _, err = cli("import", *args)
    assert code != 0 and message in err and "Traceback" not in err


def test_chinese_messages(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    code, out, err = cli("import", str(FIXTURES / "qq-export.txt"))
    assert code == 0 and "导入结果" in out and "尚未绑定社群" in err


@pytest.mark.parametrize(
    ("path", "fmt"),
    [
        (DATA / "whatsapp" / "whatstk" / "lorem.txt", "whatsapp"),
        (DATA / "whatsapp" / "chat-miner" / "test_[mmddyy]_24hrs.txt", "whatsapp"),
        (DATA / "telegram" / "chat-miner" / "test_batch_export.json", "telegram"),
        (DATA / "telegram" / "tgif-oop" / "exported.json", "telegram"),
        (DATA / "discord" / "mlomb" / "DM_2A_2M.json", "discord-json"),
        (FIXTURES / "general [1064990764406419508].csv", "discord-csv"),
        (FIXTURES / "element-export.json", "matrix"),
        (FIXTURES / "读书会一群_utf8.csv", "memotrace-csv"),
        (FIXTURES / "读书会一群.txt", "memotrace-txt"),
        (FIXTURES / "pywxdump-9col.csv", "pywxdump-csv"),
        (DATA / "wechat" / "pywxdump-8col-example_chat.csv", "pywxdump-csv"),
        (FIXTURES / "qq-export.txt", "qq-txt"),
        (DATA / "telegram" / "tgif-oop" / "metadata.json", None),
        (DATA / "whatsapp" / "chat-miner" / "target.json", None),
    ],
    ids=lambda v: v.name if isinstance(v, Path) else str(v),
)
def test_detection_from_content(path: Path, fmt: str | None) -> None:
    assert detect(Source(path)) == fmt
    assert fmt is None or fmt in FORMATS
