"""The console in a real browser (Debian's Chromium driven by Playwright) against ``shequn serve`` on loopback:
log in, open the overview of the demo workspace, follow a group needing attention to its community's diagnosis,
build a segment and act on it, complete a staff task, import an export, switch the language. Screenshots go to
``test-artifacts/``."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

CHROMIUM = "/usr/bin/chromium"
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
SHEQUN = str(Path(sys.executable).with_name("shequn"))
PASSWORD = "browser-test-pass"
EXPORT = Path(__file__).resolve().parents[1] / "data" / "whatsapp" / "mlomb" / "4A_11M.txt"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    db = str(tmp_path_factory.mktemp("browser") / "demo.db")
    env = {**os.environ, "SHEQUN_LANG": "zh-CN"}
    subprocess.run([SHEQUN, "--db", db, "demo", "--no-serve"], check=True, capture_output=True, env=env, timeout=300)
    subprocess.run([SHEQUN, "--db", db, "user", "create", "amy", "--role", "owner", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, env=env, timeout=60)  # fmt: skip
    port = free_port()
    proc = subprocess.Popen([SHEQUN, "--db", db, "serve", "--port", str(port)], env=env,
                            stdout=subprocess.PIPE, stderr=subprocess.STDOUT)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(100):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("shequn serve did not come up")
        yield url
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def page(server: str) -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        yield pg
        context.close()
        browser.close()


def shot(page: Page, name: str) -> None:
    page.screenshot(path=str(ARTIFACTS / f"console-{name}.png"), full_page=False)


def test_an_operators_day(server: str, page: Page) -> None:
    page.goto(server + "/")
    expect(page).to_have_url(server + "/login?next=%2F")
    page.fill("input[name=username]", "amy")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("总览")
    expect(page.locator("#attention tbody tr").first).to_be_visible()
    assert page.locator(".cards article").count() == 6  # one community of each type
    shot(page, "1-overview")

    # A group needing attention → its reasons → its community.
    first = page.locator("#attention a.group-link").first
    group_name = first.inner_text()
    first.click()
    expect(page.locator("h1")).to_contain_text(group_name)
    expect(page.locator("#group-attention li").first).to_be_visible()
    expect(page.locator("#heatmap")).to_be_visible()
    shot(page, "2-group")
    page.locator("main p a").first.click()
    expect(page.locator("#trend-chart canvas")).to_be_visible()  # ECharts drew, served by shequn itself
    expect(page.get_by_text("需要关注").first).to_be_visible()
    source = page.locator("#diagnosis .finding .src").first  # a prescription and its source: the book's chapter,
    expect(source).to_contain_text("社群电商一书")  # with the seed file and line on hover
    assert ".txt:" in (source.get_attribute("title") or "")
    shot(page, "3-community")

    # A segment: silent members of one community, invited into a group (the platform leaves that to staff).
    page.click("a[data-nav=segments]")
    page.select_option("select[name=community]", index=1)
    page.fill("input[name=silent_days]", "1")
    page.click("#segment-run")
    expect(page.locator("#segment-count")).to_be_visible()
    assert page.locator("#segment-members tbody tr").count() > 0
    page.select_option("#segment-action", "invite")
    page.select_option("#segment-group", index=1)
    page.fill("#segment-text", "欢迎来主群")
    page.click("#segment-apply")
    count = page.locator("#confirm-count").inner_text()  # asked first, with the count
    assert "位成员拉进" in count
    page.click("#segment-confirm-yes")
    expect(page.locator("#segment-done")).to_contain_text("人工任务")
    shot(page, "4-segment")

    # The staff task queue: one click and the task is done.
    page.click("a[data-nav=tasks]")
    first_task = page.locator("#tasks tbody tr").first
    task_id = first_task.get_attribute("data-task")
    expect(first_task).to_contain_text("欢迎来主群")
    first_task.locator("button.done-button").click()
    expect(page.locator(f"#tasks tr[data-task='{task_id}']")).to_have_count(0)
    shot(page, "5-tasks")
    page.locator(".tabs a").nth(1).click()
    expect(page.locator(f"#tasks tr[data-task='{task_id}']")).to_contain_text("amy")

    # An export dragged in (set on the file input), followed to its report.
    page.click("a[data-nav=imports]")
    page.set_input_files("#import-file", str(EXPORT))
    page.click("#import-start")
    expect(page.locator("#import-report")).to_be_visible(timeout=60_000)  # the page refreshes itself until done
    shot(page, "6-import")

    # Switch the language.
    page.click("a[data-lang=en]")
    expect(page.locator("a[data-nav=tasks]")).to_have_text("Staff tasks")
    page.click("a[data-nav=overview]")
    expect(page.locator("h1")).to_have_text("Overview")
    shot(page, "7-overview-en")
