"""Volume (book 2210: 一天最多发文2~3则; 2365: 每天固定时间开展活动，其他时间不打扰群友), seen from the command line:
a default community of each of the six types plans at most ``max_posts_per_day`` posts per group and day, each at
the time its job cites, none in the quiet hours and none while a guest talk holds the group."""

from __future__ import annotations

import json
from collections import Counter
from pathlib import Path

import pytest

from shequn.app import App
from shequn.domain import VirtualClock
from shequn.playbook import load_playbook
from shequn.playbook.spec import in_window
from tests.schedule.conftest import local
from tests.schedule.test_cli import Cli

TYPES = ("consumption", "growth", "ip", "money", "interest", "industry")
WITH_TALKS = ("growth", "ip", "industry")  # the types whose calendar has the weekly guest talk (book 2626)


@pytest.fixture
def cli(tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch) -> Cli:
    """One default community of each type (one group each), the clock at Monday 2 Nov 2026, 07:00 in Shanghai."""
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    monkeypatch.chdir(tmp_path)
    clock = VirtualClock(local(0, "07:00"))
    import shequn.cli.common as common

    monkeypatch.setattr(common, "App", lambda db, workspace: App(db, workspace=workspace, clock=clock))
    c = Cli(str(tmp_path / "cli.db"), capsys)
    for t in TYPES:
        spec = tmp_path / f"{t}.yaml"
        spec.write_text(f"name: {t}\ntype: {t}\ngroups:\n  - {{platform: fake, id: {t}, name: {t}}}\n", "utf-8")
        assert c("community", "apply", str(spec))[0] == 0
    for t in WITH_TALKS:  # a talk in the weekly slot: Sunday 20:30-22:00
        assert c("event", "create", "-c", t, "--title", "嘉宾分享", "--guest", "李老师")[0] == 0
    return c


def test_a_default_day_has_at_most_three_posts_at_the_books_times_outside_quiet_hours_and_talks(cli: Cli) -> None:
    code, out, err = cli("schedule", "list", "--hours", str(24 * 7), "--json")
    assert code == 0, err
    rows = [json.loads(line) for line in out.splitlines()]
    book = load_playbook().rhythm
    jobs = {j.key: j for j in book.jobs}
    quiet = book.quiet_hours
    rhythm = [r for r in rows if not r["job"].startswith("activity:")]
    planned = [r for r in rhythm if r["state"] == "planned"]
    per_day = Counter((r["group"], r["local"][:10]) for r in planned)
    assert per_day and max(per_day.values()) <= book.max_posts_per_day.value
    for r in planned:
        job = jobs[r["job"]]
        assert r["local"][11:] == job.at and job.source.startswith("00")  # the time its job cites from the seeds
        h, m = map(int, r["local"][11:].split(":"))
        assert not in_window(h * 60 + m, quiet.start, quiet.end)
        assert r["counts_toward_cap"]  # every post counts, unless a community turns that off per job
    talks = {r["group"] for r in rows if r["job"].startswith("activity:")}
    assert talks == {f"fake:{t}" for t in WITH_TALKS}
    for t in WITH_TALKS:  # Sunday 8 Nov, 20:20 (the talk's rules notice) to 22:00
        inside = [
            r for r in rhythm if r["group"] == f"fake:{t}" and "2026-11-08 20:20" <= r["local"] < "2026-11-08 22:00"
        ]
        assert all(r["state"] == "held" for r in inside)
    held = [r["job"] for r in rhythm if r["state"] == "held"]
    assert held == ["evening_report", "evening_report"]  # ip's and industry's 21:00 晚报 would have landed in the talk
    per_type = {t: {r["job"] for r in planned if r["group"] == f"fake:{t}"} for t in TYPES}
    assert per_type["growth"] == {"check_in", "daily_activity", "case_study", "activity_preheat"}  # 2365, 000:52
    assert per_type["interest"] == {"check_in", "games", "level_bulletin"}
    assert per_type["ip"] == {"morning_report", "games", "evening_report", "sales_day"}
