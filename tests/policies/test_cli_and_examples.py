"""The policies from the command line: the sandbox examples, labels through the log, the ledger, the blacklist."""

from __future__ import annotations

import json
from datetime import timedelta
from pathlib import Path

import pytest

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.engine import replay
from tests.cli.test_cli import Cli
from tests.conftest import T0
from tests.policies.harness import make_spec
from tests.support.builders import join, msg

EXAMPLES = Path(__file__).resolve().parents[2] / "examples" / "sandbox"
RUNS = {
    "onboarding": ("读书会", "2026-11-02T02:00:00Z"),
    "moderation": ("读书会", "2026-11-02T02:00:00Z"),
    "incentives": ("读书会", "2026-11-01T23:40:00Z"),
    "discipline": ("读书会", "2026-10-26T02:00:00Z"),
    "admission": ("私董会", "2026-11-02T02:00:00Z"),
    "cleanup": ("私董会", "2026-10-20T02:00:00Z"),
}


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


def run_example(cli: Cli, name: str) -> list[dict[str, str]]:
    community, start = RUNS[name]
    code, out, err = cli(
        "sandbox", "--community", community, "--script", str(EXAMPLES / f"{name}.txt"), "--json", "--start", start
    )
    assert code == 0, err
    return [json.loads(line) for line in out.splitlines()]


def test_every_sandbox_example_runs_and_shows_its_policy(cli: Cli) -> None:
    for spec in ("reading-club.yaml", "paid-club.yaml"):
        assert cli("community", "apply", str(EXAMPLES / spec))[0] == 0
    seen = {name: run_example(cli, name) for name in RUNS}

    def has(name: str, kind: str, text: str = "", target: str = "") -> bool:
        return any(
            x["kind"] == kind and text in x["text"] and (not target or x["target_name"] == target) for x in seen[name]
        )

    assert has("onboarding", "remove", target="路人甲") and has("onboarding", "post", "新人必知必读")
    assert has("onboarding", "direct_message", "昵称-城市-爱好", "小李") and has(
        "onboarding", "post", "自我介绍", "小张"
    )
    assert has("onboarding", "direct_message", "谢谢你确认群规", "小王")
    assert has("moderation", "ban", target="刷单号") and has("moderation", "post", "提醒一次", "小王")
    assert has("moderation", "warn", "私下警告", "小王") and has("moderation", "post", "这条广告按群规放行")
    assert has("moderation", "direct_message", "复核后确认不是", "小李") and has("moderation", "warn", "刷屏")
    assert has("incentives", "post", "连续7天奖励20积分") and has("incentives", "post", "升级为【青铜级】")
    assert has("incentives", "post", "「打卡达人」勋章") and has("incentives", "staff_task", "共读书单")
    assert has("incentives", "show", "距【青铜级】还差") and has("incentives", "show", "回复「签到」")
    assert has("discipline", "warn", "连续2周", "偷懒") and has("discipline", "remove", target="偷懒")
    assert has("discipline", "direct_message", "复活成功", "回归") and has(
        "discipline", "direct_message", "彻底淘汰", "偷懒"
    )
    assert has("admission", "direct_message", "入群费¥600", "老赵") and has(
        "admission", "direct_message", "候补名单第2位", "老吴"
    )
    assert has("admission", "direct_message", "座位为你保留", "老周") and has(
        "admission", "direct_message", "铁杆会员", "老钱"
    )
    assert has("cleanup", "post", "在的请打1") and has("cleanup", "remove", target="老赵")
    assert not has("cleanup", "remove", target="老钱") and not has("cleanup", "remove", target="老孙")


def test_labels_enter_through_the_log_and_the_ledger_and_blacklist_can_be_read(cli: Cli, tmp_path: Path) -> None:
    spec = tmp_path / "spec.yaml"
    spec.write_text(make_spec(type="interest", threshold={"kind": "none"}).to_yaml(), encoding="utf-8")
    assert cli("community", "apply", str(spec))[0] == 0
    app = App(cli.db, clock=VirtualClock(T0))
    ad = msg("spammer", T0 + timedelta(minutes=1), "➕V：money20459，招代理，一件代发，日赚500")
    app.ingest(
        [join("u1", T0), join("spammer", T0), ad, msg("u1", T0 + timedelta(minutes=2), "这本书真不错，值得一读")]
    )
    app.close()
    code, out, _ = cli("moderation", "blacklist", "--json")
    [entry] = json.loads(out)
    assert code == 0 and entry["member"] == "sandbox:spa***er" and "16:01" in entry["evidence"]  # ids masked
    assert json.loads(cli("moderation", "blacklist", "--json", "--show-ids")[1])[0]["member"] == "sandbox:spammer"
    code, out, _ = cli("moderation", "label", ad.id, "not-ad", "--by", "小编")
    assert code == 0 and "not_ad" in out
    assert json.loads(cli("moderation", "blacklist", "--json")[1]) == []
    code, _, err = cli("moderation", "label", ad.id, "maybe")
    assert code == 2 and "'maybe'" in err and "ad or not-ad" in err
    code, _, err = cli("moderation", "label", "no-such-event", "ad")
    assert code == 2 and "no-such-event" in err
    code, out, _ = cli("moderation", "check", "加我vx：abc_77215 低价代购", "--community", "读书会", "--json")
    verdict = json.loads(out)
    assert verdict["ad"] and {"contact", "evasion"} <= {e["kind"] for e in verdict["evidence"]}
    code, out, _ = cli("points", "ledger", "u1", "--community", "读书会", "--json")
    ledger = json.loads(out)
    assert code == 0 and ledger["points"] == 1 and ledger["entries"][0]["reason"] == "message"
    assert ledger["entries"][0]["balance"] == 1
    code, _, err = cli("points", "ledger", "nobody", "--community", "读书会")
    assert code == 2 and "nobody" in err
    # The label is in the log: a replay of the log rebuilds the same state, the unlisting included.
    app = App(cli.db)
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
    assert replay(cfg, app.events()).state.to_dict() == app.saved_state().to_dict()
    app.close()
