"""The report in its three formats, from the command line, and the HTML rendered by a real Chromium (offline)."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shequn.analytics.engine import analyze
from shequn.app import App
from shequn.cli.main import app as cli
from shequn.cli.simulate import load_simulation
from shequn.domain import UserError
from shequn.reports import render
from shequn.simulator import simulate


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> str:
    url = f"sqlite:///{tmp_path_factory.mktemp('demo') / 'demo.db'}"
    app = App(url)
    load_simulation(app, simulate(groups=12, days=21, seed=7, communities=6, even=True), process=False, quiet=True)
    app.close()
    return url


def test_three_formats(demo: str) -> None:
    app = App(demo)
    report = analyze(app.store, app.ws, days=21, locale="en")
    html = render(report, "html")
    assert html.startswith("<!doctype html>") and "echarts" in html
    assert "<script src=" not in html and "cdn" not in html.lower()  # everything inline: works offline
    assert "Type KPIs" in html and "What to do" in html
    md = render(report, "md")
    assert md.startswith("# Community health report")
    assert "| KPI |" in md
    data = json.loads(render(report, "json"))
    assert set(data["communities"]) == set(report.communities)
    assert all("kpis" in c and "funnel" in c for c in data["communities"].values())
    zh = render(analyze(app.store, app.ws, days=21, locale="zh-CN"), "md")
    assert zh.startswith("# 社群诊断报告")
    app.close()


def test_command_line(demo: str, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "r.html"
    res = runner.invoke(cli, ["--db", demo, "report", "-o", str(out)])
    assert res.exit_code == 0, res.output
    assert out.read_text(encoding="utf-8").startswith("<!doctype html>")
    res = runner.invoke(cli, ["--db", demo, "report", "--format", "json", "--community", "nope"])
    assert isinstance(res.exception, UserError) and res.exception.exit_code == 2
    assert "no community named" in str(res.exception)
    res = runner.invoke(cli, ["--db", demo, "report", "--format", "pdf"])
    assert isinstance(res.exception, UserError) and res.exception.exit_code == 2


def test_command_line_error_is_one_line(demo: str) -> None:
    proc = subprocess.run(
        [sys.executable, "-c", "from shequn.cli.main import main; main()", "--db", demo, "report", "--format", "pdf"],
        capture_output=True, text=True, check=False,
    )  # fmt: skip
    assert proc.returncode == 2
    assert "Traceback" not in proc.stderr and len(proc.stderr.strip().splitlines()) == 1


@pytest.mark.skipif(
    not Path("/usr/bin/chromium").exists(), reason="Debian's chromium (scripts/setup --dev installs it)"
)
def test_chromium_draws_the_charts_offline(demo: str, tmp_path: Path) -> None:
    app = App(demo)
    page = tmp_path / "report.html"
    page.write_text(render(analyze(app.store, app.ws, days=21), "html"), encoding="utf-8")
    app.close()
    proc = subprocess.run(
        ["/usr/bin/chromium", "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--virtual-time-budget=5000", "--dump-dom", page.as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    # ECharts replaced each chart's empty div with its canvas: the script ran, with no network.
    assert proc.stdout.count("<canvas") >= 1 + 3 * 6, proc.stdout.count("<canvas")


def test_analysis_apart_is_the_same_report_from_another_process(demo: str) -> None:
    """The command line and the console analyse a SQLite store in a child process (DuckDB's copy of SQLite must not
    share a process with the caller's connections): the report is the one an in-process analysis gives."""
    import os

    from shequn.analytics.apart import _pool, analyze_apart

    app = App(demo)
    apart = analyze_apart(app.store.db.url, app.ws, days=21, locale="en")
    here = analyze(app.store, app.ws, days=21, locale="en")
    assert _pool().submit(os.getpid).result() != os.getpid()
    a, b = json.loads(render(apart, "json")), json.loads(render(here, "json"))
    for when in ("generated", "timings"):  # when each was made and how long it took: all that may differ
        assert a.pop(when) and b.pop(when)
    assert a == b and a["groups"]
    app.close()
