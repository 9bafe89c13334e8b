"""The planner (issue 17): no renewal-rate KPI where there is nothing to renew; the plan says which connector carries
its platform, or what happens without one."""

from __future__ import annotations

from pathlib import Path

import pytest

from shequn.cli import plan as plan_cli
from shequn.planner import build_plan
from tests.planner.support import ANSWERS, TODAY, answers
from tests.planner.test_cli_plan import Cli


@pytest.mark.parametrize(("model", "renewal"), [("entry_fee", False), ("free", False), ("membership", True)])
def test_renewal_rate_only_for_a_membership(model: str, renewal: bool) -> None:
    charging = {"model": model, "amount": 199, "period": "一年"} if model == "membership" else {"model": model}
    if model == "entry_fee":
        charging["amount"] = 199
    plan = build_plan(answers("growth", charging=charging), locale="zh-CN", today=TODAY)
    assert ("renewal_rate" in {k.key for k in plan.kpis}) is renewal


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    monkeypatch.setattr(plan_cli, "_today", lambda tz: TODAY)
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


def test_the_plan_names_the_connector_of_its_platform(cli: Cli, tmp_path: Path) -> None:
    code, out, err = cli("plan", "--answers", str(ANSWERS / "money.yaml"), "-o", str(tmp_path / "out"))
    assert code == 0, err
    assert "平台：微信。shequn 目前没有 微信 的连接器" in out and "人工任务" in out
    md = (tmp_path / "out" / "plan.md").read_text(encoding="utf-8")
    assert "## 平台与连接器" in md and "telegram" in md and "wecom" in md
    answers_file = tmp_path / "tg.yaml"
    answers_file.write_text((ANSWERS / "money.yaml").read_text(encoding="utf-8") + "platform: telegram\n",
                            encoding="utf-8")  # fmt: skip
    code, out, err = cli("plan", "--answers", str(answers_file), "-o", str(tmp_path / "tg"))
    assert code == 0, err
    assert "由 shequn 的 telegram 连接器承载" in out
