"""The command line end to end: communities, 1→N copy, specs with errors, sandbox scripts, export, errors."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from shequn.cli.main import main


class Cli:
    def __init__(self, db: str, capsys: pytest.CaptureFixture[str]) -> None:
        self.db = db
        self.capsys = capsys

    def __call__(self, *args: str) -> tuple[int, str, str]:
        self.capsys.readouterr()
        try:
            main(["--db", self.db, *args])
            code = 0
        except SystemExit as exc:
            code = int(exc.code or 0)
        out = self.capsys.readouterr()
        return code, out.out, out.err


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


def test_create_list_show(cli: Cli) -> None:
    assert cli("community", "create", "--type", "成长型", "--name", "读书会")[0] == 0
    assert cli("community", "create", "--type", "interest", "--name", "夜跑团", "--locale", "en")[0] == 0
    code, out, _ = cli("community", "list", "--json")
    assert code == 0
    rows = json.loads(out)
    assert [(r["name"], r["type"]) for r in rows] == [("读书会", "growth"), ("夜跑团", "interest")]
    code, out, _ = cli("community", "show", "读书会", "--json")
    shown = json.loads(out)
    assert shown["type_name"] == "成长型" and shown["threshold"]["kind"] == "paid"
    assert [k["key"] for k in shown["kpis"]] == ["renewal_rate", "cross_sell_rate"]
    assert len(shown["rules_sections"]) == 7
    code, out, _ = cli("community", "show", "读书会")
    assert code == 0 and "续费率" in out


def test_export_then_apply_under_a_new_name_gives_an_identical_community(cli: Cli, tmp_path: Path) -> None:
    cli("community", "create", "--type", "IP型", "--name", "粉丝会")
    spec = tmp_path / "spec.yaml"
    data = yaml.safe_load(cli("community", "export", "粉丝会")[1])
    data["nickname_format"] = "昵称-城市"
    data["groups"] = [{"platform": "telegram", "id": "-1001", "name": "粉丝一群"}]
    spec.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    assert cli("community", "apply", str(spec)) == (0, "已更新社群「粉丝会」\n", "")
    assert cli("community", "apply", str(spec))[1] == "社群「粉丝会」无变化\n"
    code, out, _ = cli("community", "apply", str(spec), "--name", "粉丝会·上海")
    assert code == 0 and "未带上原社群的 1 个群" in out
    original = yaml.safe_load(cli("community", "export", "粉丝会")[1])
    copy = yaml.safe_load(cli("community", "export", "粉丝会·上海")[1])
    assert copy.pop("name") == "粉丝会·上海" and original.pop("name") == "粉丝会"
    assert copy.pop("groups") == [] and original.pop("groups")[0]["id"] == "-1001"
    assert copy == original


def test_an_invalid_spec_exits_2_names_file_line_field_and_writes_nothing(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "bad.yaml"
    spec.write_text(
        "name: 新群\ntype: growth\nthreshold:\n  kind: lottery\npolicies:\n  welcome:\n    template: '欢迎 {who}'\n",
        encoding="utf-8",
    )
    code, out, err = cli("community", "apply", str(spec))
    assert code == 2 and out == ""
    assert f"{spec}:4: threshold.kind: unknown threshold 'lottery'" in err
    assert "Traceback" not in err
    spec.write_text("name: 新群\ntype: growth\npolicies:\n  welcome:\n    template: '欢迎 {who}'\n", encoding="utf-8")
    code, _, err = cli("community", "apply", str(spec))
    assert code == 2 and "policies.welcome.template: unknown placeholder {who}" in err
    assert json.loads(cli("community", "list", "--json")[1]) == []


def test_unreachable_database_is_one_line_exit_1(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as info:
        main(["--db", "postgresql://u:pw@127.0.0.1:1/x", "community", "list"])
    err = capsys.readouterr().err
    assert info.value.code == 1 and err.count("\n") == 1 and "cannot reach database" in err and "pw" not in err


def test_sandbox_script_prints_each_action_as_a_json_line(cli: Cli, tmp_path: Path) -> None:
    cli("community", "create", "--type", "消费型", "--name", "夜跑团")  # no entry threshold: everyone is welcomed
    script = tmp_path / "s.txt"
    script.write_text("# newcomers\n/join 小王\n/join 小李 by 小王\n/time +1h\n", encoding="utf-8")
    code, out, _ = cli(
        "sandbox", "--community", "夜跑团", "--script", str(script), "--json", "--start", "2026-11-23T00:00:00Z"
    )
    lines = [json.loads(line) for line in out.splitlines() if '"post"' in line and "欢迎" in line][:2]
    assert code == 0 and [(x["kind"], x["target_name"]) for x in lines] == [("post", "小王"), ("post", "小李")]
    assert set(lines[0]) >= {"kind", "group", "target", "target_name", "text", "time"}
    assert lines[1]["time"] == "2026-11-23T00:00:00Z" and "小王" in lines[1]["text"]
    script.write_text("/join 小王\n/fly\n", encoding="utf-8")
    code, _, err = cli("sandbox", "--community", "夜跑团", "--script", str(script))
    assert code == 2 and f"{script}:2: unknown command /fly" in err


def test_export_events_as_json_lines(cli: Cli, tmp_path: Path) -> None:
    from shequn.app import App
    from tests.conftest import T0
    from tests.support.builders import join, msg, spec

    app = App(cli.db)
    app.apply_spec(spec())
    app.ingest([join("u1", T0), msg("u1", T0, "你好")])
    app.close()
    out_file = tmp_path / "events.jsonl"
    assert cli("export", "events", "-o", str(out_file))[0] == 0
    rows = [json.loads(line) for line in out_file.read_text(encoding="utf-8").splitlines()]
    assert [r["kind"] for r in rows] == ["join", "message"] and rows[1]["text"] == "你好"
    _code, out, _ = cli("export", "events", "--kind", "message")
    assert [json.loads(line)["kind"] for line in out.splitlines()] == ["message"]
    assert cli("export", "events", "--kind", "gossip")[0] == 2


def test_run_skips_a_platform_nobody_configured_unless_it_is_asked_for(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Groups imported from QQ history are bound too: ``shequn run`` with no ``-c`` starts without the QQ connector
    (saying why and how to start it); ``-c qq`` without its settings is an error naming the setting."""
    for name in ("SHEQUN_ONEBOT_WS", "SHEQUN_ONEBOT_LISTEN", "SHEQUN_ONEBOT_TOKEN"):
        monkeypatch.delenv(name, raising=False)
    spec = tmp_path / "qq.yaml"
    spec.write_text("name: 读书会\ntype: interest\ngroups:\n  - {platform: qq, id: '123456789', name: 读书会一群}\n")
    assert cli("community", "apply", str(spec))[0] == 0
    code, out, err = cli("run", "--until-idle", "--no-scheduler")
    assert code == 0, err
    assert "未启动 qq 连接器" in out + err and "-c qq" in out + err
    code, _, err = cli("run", "-c", "qq", "--until-idle")
    assert code == 2 and "SHEQUN_ONEBOT_WS" in err
