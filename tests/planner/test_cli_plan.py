"""``shequn plan`` end to end: from an answers file, interactively (through stdin, and once in a real terminal),
the errors (exit 2, nothing written), ``--apply``, and ``--check`` of an existing spec."""

from __future__ import annotations

import io
import json
import os
import re
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pexpect
import pytest
import yaml

from shequn.cli import plan as plan_cli
from shequn.cli.main import main
from tests.planner.support import ANSWERS, EXAMPLES, TODAY, raw
from tests.planner.test_interview import GROWTH


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
    monkeypatch.setattr(plan_cli, "_today", lambda tz: TODAY)
    monkeypatch.chdir(tmp_path)
    return Cli(str(tmp_path / "cli.db"), capsys)


class ExternalRefs(HTMLParser):
    """Collects everything in a page that would make a browser fetch something."""

    def __init__(self) -> None:
        super().__init__()
        self.fetches: list[str] = []
        self.tags: set[str] = set()

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.tags.add(tag)
        for name, value in attrs:
            if name in ("src", "href", "srcset", "poster", "data") and value:
                self.fetches.append(f"{tag} {name}={value}")
        if tag in ("script", "link", "iframe", "img", "object", "embed"):
            self.fetches.append(tag)

    def handle_data(self, data: str) -> None:
        if "@import" in data or "url(" in data:
            self.fetches.append(data[:60])


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_plan_from_answers_writes_spec_markdown_and_html(type_key: str, cli: Cli, tmp_path: Path) -> None:
    out = tmp_path / "out"
    code, stdout, err = cli("plan", "--answers", str(ANSWERS / f"{type_key}.yaml"), "-o", str(out))
    assert (code, err) == (0, ""), err
    assert sorted(p.name for p in out.iterdir()) == ["plan.html", "plan.md", "spec.yaml"]
    spec = yaml.safe_load((out / "spec.yaml").read_text(encoding="utf-8"))
    assert spec["type"] == type_key
    assert "推荐类型" in stdout and "shequn community apply" in stdout
    md = (out / "plan.md").read_text(encoding="utf-8")
    assert all(f"\n## {n}. " in md for n in range(1, 12)) and "## 3. 群规（七部分）" in md
    html = (out / "plan.html").read_text(encoding="utf-8")
    refs = ExternalRefs()
    refs.feed(html)
    assert not refs.fetches, refs.fetches  # self-contained: nothing to fetch
    assert "style" in refs.tags and '<html lang="zh-CN">' in html and "@media print" in html
    for section in spec["rules"]["sections"].values():
        assert section.replace("'", "&#39;").replace('"', "&#34;") in html
    # and `shequn community apply` takes the spec as written
    code, stdout, _ = cli("community", "apply", str(out / "spec.yaml"))
    assert code == 0 and "已创建社群" in stdout


def test_an_english_plan(cli: Cli, tmp_path: Path) -> None:
    code, stdout, _ = cli("plan", "-a", str(ANSWERS / "interest.yaml"), "-o", str(tmp_path), "--locale", "en")
    assert code == 0 and "Recommended type: Interest" in stdout
    assert '<html lang="en">' in (tmp_path / "plan.html").read_text(encoding="utf-8")
    assert "## 6. Rhythm calendar" in (tmp_path / "plan.md").read_text(encoding="utf-8")


def test_apply_creates_the_community_in_the_workspace(cli: Cli, tmp_path: Path) -> None:
    code, stdout, _ = cli("plan", "-a", str(ANSWERS / "growth.yaml"), "-o", str(tmp_path), "--apply")
    assert code == 0 and "已应用到工作区：已创建社群「职场成长读书会」" in stdout
    code, stdout, _ = cli("community", "show", "职场成长读书会", "--json")
    shown = json.loads(stdout)
    assert shown["type"] == "growth" and shown["threshold"]["kind"] == "paid"


def test_contradictory_answers_name_the_field_and_its_line_and_write_nothing(cli: Cli, tmp_path: Path) -> None:
    data = raw("consumption")
    data["product"] = ""
    data["goal"] = {"text": "大家都省钱"}
    answers = tmp_path / "bad.yaml"
    answers.write_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), encoding="utf-8")
    out = tmp_path / "out"
    code, stdout, err = cli("plan", "--answers", str(answers), "-o", str(out))
    assert code == 2 and stdout == "" and not out.exists()
    lines = answers.read_text(encoding="utf-8").splitlines()
    goal_line = next(i for i, s in enumerate(lines, 1) if s.startswith("goal:"))
    product_line = next(i for i, s in enumerate(lines, 1) if s.startswith("product:"))
    # target is absent: the goal's own block (its first line) is named
    assert f"{answers}:{goal_line + 1}: goal.target: 社群目标最重要的是可量化" in err
    assert f"{answers}:{product_line}: product: 消费型社群的核心目的就是购物消费" in err
    assert "Traceback" not in err


def test_a_missing_field_exits_2(cli: Cli, tmp_path: Path) -> None:
    data = raw("growth")
    del data["expected_size"]
    answers = tmp_path / "a.yaml"
    answers.write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    code, _, err = cli("plan", "--answers", str(answers), "-o", str(tmp_path / "o"))
    assert code == 2 and "expected_size: 缺少这一项，请回答：第一年预计有多少成员？" in err


def test_unreadable_answers_and_both_modes_exit_2(cli: Cli, tmp_path: Path) -> None:
    code, _, err = cli("plan", "--answers", str(tmp_path / "nope.yaml"))
    assert code == 2 and "nope.yaml: 无法读取" in err
    code, _, err = cli("plan", "--answers", "a.yaml", "--check", "b.yaml")
    assert code == 2 and "--check 和 --answers 只能用一个" in err


def test_interactive_plan_through_stdin_writes_the_answers_too(
    cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("\n".join([*GROWTH, ""]) + "\n"))
    out = tmp_path / "out"
    code, stdout, err = cli("plan", "-o", str(out))
    assert code == 0, err
    assert "1. 社群叫什么名字？" in stdout and "推荐类型：成长型" in stdout
    assert sorted(p.name for p in out.iterdir()) == ["answers.yaml", "plan.html", "plan.md", "spec.yaml"]
    # the saved answers make the same plan again, non-interactively
    again = tmp_path / "again"
    code, _, _ = cli("plan", "--answers", str(out / "answers.yaml"), "-o", str(again))
    assert code == 0
    assert (again / "spec.yaml").read_text(encoding="utf-8") == (out / "spec.yaml").read_text(encoding="utf-8")


def test_interactive_input_that_ends_early_aborts(cli: Cli, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(sys, "stdin", io.StringIO("只有名字\n"))
    code, _, err = cli("plan", "-o", str(tmp_path / "out"))
    assert code == 130 and "已取消" in err and not (tmp_path / "out").exists()


@pytest.mark.slow
def test_interactive_plan_in_a_real_terminal(tmp_path: Path) -> None:
    """Through a pseudo-terminal, as an operator would type it (prompts, line editing, echo)."""
    shequn = Path(sys.executable).parent / "shequn"
    env = {**os.environ, "SHEQUN_LANG": "en", "TERM": "xterm", "LANG": "C.UTF-8", "LC_ALL": "C.UTF-8"}
    child = pexpect.spawn(
        str(shequn),
        ["--db", str(tmp_path / "t.db"), "plan", "-o", str(tmp_path / "out")],
        env=env,
        encoding="utf-8",
        codec_errors="replace",
        dimensions=(50, 250),
        timeout=60,
        cwd=str(tmp_path),
    )
    try:
        for line in [*GROWTH, ""]:
            child.expect(r"> $")
            child.sendline(line)
        child.expect("written:")
        child.expect(pexpect.EOF)
    finally:
        child.close()
    assert child.exitstatus == 0
    spec = yaml.safe_load((tmp_path / "out" / "spec.yaml").read_text(encoding="utf-8"))
    assert spec["type"] == "growth" and spec["locale"] == "en"
    assert spec["rules"]["sections"]["hard_requirements"].startswith("[Must-dos]")


def test_check_reviews_a_bare_spec_as_a_maintenance_group(cli: Cli, tmp_path: Path) -> None:
    cli("community", "create", "--type", "成长型", "--name", "读书会")
    spec = tmp_path / "spec.yaml"
    spec.write_text(cli("community", "export", "读书会")[1], encoding="utf-8")
    code, stdout, _ = cli("plan", "--check", str(spec))
    assert code == 1
    assert "这是用户维护群，不是社群" in stdout and "缺少 9 项" in stdout
    code, stdout, _ = cli("plan", "--check", str(spec), "--json")
    review = json.loads(stdout)
    assert code == 1 and review["maintenance_group"] is True
    assert review["missing_essentials"] == ["shared_attributes", "shared_goal"]
    status = {i["key"]: i["status"] for i in review["items"]}
    assert status["positioning.what"] == "missing" and status["rules"] == "warning" and status["threshold"] == "ok"


def test_check_of_a_planned_spec_finds_nothing_missing(cli: Cli, tmp_path: Path) -> None:
    cli("plan", "-a", str(ANSWERS / "industry.yaml"), "-o", str(tmp_path))
    code, stdout, _ = cli("plan", "--check", str(tmp_path / "spec.yaml"), "--json")
    review = json.loads(stdout)
    assert code == 0 and not review["maintenance_group"] and review["recommended_type"] == "industry"
    assert {i["key"]: i["status"] for i in review["items"]}["groups"] == "warning"  # no chat group bound yet
    assert all(i["status"] != "missing" for i in review["items"])


def test_check_flags_a_type_the_positioning_does_not_support(cli: Cli, tmp_path: Path) -> None:
    cli("plan", "-a", str(ANSWERS / "interest.yaml"), "-o", str(tmp_path))
    data = yaml.safe_load((tmp_path / "spec.yaml").read_text(encoding="utf-8"))
    data["type"] = "money"
    data["kpis"] = {}
    (tmp_path / "spec.yaml").write_text(yaml.safe_dump(data, allow_unicode=True), encoding="utf-8")
    _, stdout, _ = cli("plan", "--check", str(tmp_path / "spec.yaml"), "--json")
    item = next(i for i in json.loads(stdout)["items"] if i["key"] == "type")
    assert item["status"] == "warning" and "兴趣型" in item["detail"]


def test_check_of_an_invalid_spec_exits_2(cli: Cli, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text("name: x\ntype: lottery\n", encoding="utf-8")
    code, _, err = cli("plan", "--check", str(bad))
    assert code == 2 and f"{bad}:2: type: unknown community type 'lottery'" in err


@pytest.mark.slow
def test_the_html_prints_in_chromium(tmp_path: Path) -> None:
    """The page is printable: the real Chromium makes a multi-page PDF of it, offline."""
    chromium = "/usr/bin/chromium"
    if not Path(chromium).exists():
        pytest.fail("Chromium is required (scripts/setup --dev installs Debian's chromium)")
    out = tmp_path / "out"
    env = {**os.environ, "SHEQUN_LANG": "zh-CN"}
    shequn = Path(sys.executable).parent / "shequn"
    subprocess.run(
        [str(shequn), "plan", "-a", str(ANSWERS / "growth.yaml"), "-o", str(out)],
        check=True,
        env=env,
        capture_output=True,
    )
    pdf = tmp_path / "plan.pdf"
    subprocess.run(
        [
            chromium,
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
            "--no-pdf-header-footer",
            f"--print-to-pdf={pdf}",
            (out / "plan.html").as_uri(),
        ],
        check=True,
        capture_output=True,
        timeout=120,
    )
    data = pdf.read_bytes()
    pages = len(re.findall(rb"/Type\s*/Page\b", data))
    assert data.startswith(b"%PDF") and pages >= 4  # A4, the whole plan
