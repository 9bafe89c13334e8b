"""Automations at the command line: apply (errors naming the field, zh-CN and en, exit 2, store unchanged),
show, and a sandbox script running the 21-day check-in example and a template on a virtual clock."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml

from tests.cli.test_cli import Cli

SPEC = {
    "name": "读书会",
    "type": "growth",
    "groups": [
        {"platform": "sandbox", "id": "main", "name": "主群"},
        {"platform": "sandbox", "id": "core", "name": "核心群", "role": "core"},
    ],
    "policies": {"acks": {"batch_minutes": 0}},
    "automations": [
        {"template": "newcomer_journey"},
        {
            "key": "core_invite",
            "when": "checkin",
            "if": {"streak": 21},
            "once_per_member": True,
            "do": [{"invite": "core", "text": "{name}，连续签到{streak}天，邀请你加入核心群！"}],
        },
    ],
}


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


def write(tmp_path: Path, data: object, name: str = "spec.yaml") -> Path:
    path = tmp_path / name
    path.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    return path


BAD = {
    **SPEC,
    "automations": {
        "templates": ["birthdays"],
        "rules": [
            {"key": "a", "when": "daily 02:00", "do": [{"post": "夜里好"}]},
            {"key": "b", "when": "checkin", "if": {"streek": 3}, "do": [{"invite": "vip"}]},
            {"key": "c", "when": "join", "do": [{"dm": "你好 {nmae}"}], "once_per": "soon"},
        ],
    },
}


def test_apply_names_each_wrong_field_in_the_operators_language_and_changes_nothing(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    good = write(tmp_path, SPEC)
    assert cli("community", "apply", str(good))[0] == 0
    before = cli("community", "export", "读书会")[1]
    bad = write(tmp_path, BAD, "bad.yaml")
    code, _, err = cli("community", "apply", str(bad))
    assert code == 2
    lines = err.strip().splitlines()
    assert any("automations.templates.0: 没有名为 birthdays 的模板" in x for x in lines)
    assert any("automations.rules.0.when: 02:00 落在免打扰时段" in x for x in lines)
    assert any("automations.rules.1.if.streek: 未知的条件" in x for x in lines)
    assert any("automations.rules.1.do.0.invite: vip 不是本社群的群" in x for x in lines)
    assert any("automations.rules.2.do.0.dm: 文字有误" in x and "{nmae}" in x for x in lines)
    assert any("automations.rules.2.once_per: soon 不是时长" in x for x in lines)
    assert cli("community", "export", "读书会")[1] == before  # the store is unchanged
    monkeypatch.setenv("SHEQUN_LANG", "en")
    code, _, err = cli("community", "apply", str(bad))
    assert code == 2
    assert "automations.rules.1.if.streek: unknown condition; conditions are" in err
    assert "automations.rules.0.when: 02:00 falls in the quiet hours" in err


def test_show_lists_the_rules_and_the_templates_rules(cli: Cli, tmp_path: Path) -> None:
    assert cli("community", "apply", str(write(tmp_path, SPEC)))[0] == 0
    code, out, _ = cli("community", "show", "读书会")
    assert code == 0
    assert "自动化" in out and "core_invite: 触发 checkin; 对象 members; 条件 streak=21; 动作 invite core" in out
    assert "newcomer_journey (模板 newcomer_journey)" in out and "活动序列 newcomer_journey：+1d:" in out
    shown = json.loads(cli("community", "show", "读书会", "--json")[1])
    assert [r["key"] for r in shown["automations"]] == ["newcomer_journey", "core_invite", "newcomer_journey"]
    assert cli("community", "export", "读书会")[1].count("core_invite") == 1  # exported with the spec


def test_sandbox_runs_the_automations_on_its_virtual_clock(cli: Cli, tmp_path: Path) -> None:
    assert cli("community", "apply", str(write(tmp_path, SPEC)))[0] == 0
    lines = ["/as 小王", "/join", "签到"]
    for _ in range(20):
        lines += ["/time +1d", "签到"]
    script = tmp_path / "script.txt"
    script.write_text("\n".join(lines), encoding="utf-8")
    code, out, _ = cli("sandbox", "-c", "读书会", "--script", str(script), "--start", "2026-11-02T02:00:00Z", "--json")
    assert code == 0, out
    rows = [json.loads(x) for x in out.splitlines() if x.startswith("{")]
    dms = [r["text"] for r in rows if r["kind"] == "direct_message"]
    journey = ["第2天", "签到可以攒积分", "加几位为好友", "群话题讨论", "入群已经一周了"]
    steps = [next(i for i, part in enumerate(journey) if part in x) for x in dms if any(p in x for p in journey)]
    assert steps == [0, 1, 2, 3, 4]  # days 1, 2, 3, 5 and 7 of the newcomer journey, each once, in order
    # The sandbox cannot invite (most platforms cannot): the invitation is a staff task with its note.
    invites = [r for r in rows if r["kind"] == "staff_task" and r.get("action") == "invite"]
    assert len(invites) == 1 and invites[0]["action_text"] == "小王，连续签到21天，邀请你加入核心群！"
