"""No page scrolls sideways (issue 17): every console page of the demo workspace and the HTML report, in Debian's
Chromium at 375, 1280 and 1920 px, is no wider than the window (``scrollWidth``); wide tables scroll inside their
own box. Screenshots of the pages that failed go to ``test-artifacts/``."""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import httpx
import pytest
from playwright.sync_api import Browser, sync_playwright

from tests.web.test_browser import ARGS, ARTIFACTS, CHROMIUM, PASSWORD, SHEQUN, free_port

WIDTHS = (375, 1280, 1920)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, Path, list[str]]]:
    folder = tmp_path_factory.mktemp("layout")
    db = str(folder / "demo.db")
    env = {**os.environ, "SHEQUN_LANG": "zh-CN"}
    subprocess.run([SHEQUN, "--db", db, "demo", "--no-serve"], check=True, capture_output=True, env=env, timeout=300)
    subprocess.run([SHEQUN, "--db", db, "user", "create", "amy", "--role", "owner", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, env=env, timeout=60)  # fmt: skip
    report = folder / "report.html"
    subprocess.run([SHEQUN, "--db", db, "report", "-o", str(report)], check=True, capture_output=True, env=env,
                   timeout=300)  # fmt: skip
    from shequn.app import App

    app = App(db)
    try:
        names = [c.name for c in app.communities()]
        with app.store.transaction() as conn:
            groups = [g.id for g in app.store.console.group_rows(conn, app.ws.id)]
            person = app.store.console.roster(conn, app.ws.id, groups[0], limit=1)[0].person_id
    finally:
        app.close()
    paths = ["/", "/tasks", "/segments?community=" + quote(names[0]) + "&silent_days=3", "/events", "/imports",
             "/growth", "/settings", f"/members/{person}", "/inbox", "/inbox/cases"]  # fmt: skip
    paths += [f"/communities/{quote(n)}" for n in names] + [f"/groups/{g}" for g in groups[:6]]
    port = free_port()
    proc = subprocess.Popen([SHEQUN, "--db", db, "serve", "--port", str(port), "--insecure-cookies"], env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                import time

                time.sleep(0.2)
        yield url, report, paths
    finally:
        proc.terminate()
        proc.wait(timeout=30)


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


def _overflow(page: object) -> int:
    return int(page.evaluate("document.documentElement.scrollWidth - window.innerWidth"))  # type: ignore[attr-defined]


@pytest.mark.parametrize("width", WIDTHS)
def test_no_page_scrolls_sideways(site: tuple[str, Path, list[str]], browser: Browser, width: int) -> None:
    url, report, paths = site
    context = browser.new_context(viewport={"width": width, "height": 900}, locale="zh-CN")
    page = context.new_page()
    page.set_default_timeout(60_000)
    page.goto(url + "/login")
    page.fill("input[name=username]", "amy")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(url + "/")
    wide: dict[str, int] = {}
    for path in paths:
        page.goto(url + path)
        if (extra := _overflow(page)) > 1:
            wide[path] = extra
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / f"overflow-{width}-{len(wide)}.png"))
    assert 'class="wide inbox"' in report.read_text(encoding="utf-8"), "the report's inbox section is measured too"
    page.goto(report.as_uri())
    page.wait_for_timeout(500)  # the charts lay out
    if (extra := _overflow(page)) > 1:
        wide["report.html"] = extra
    context.close()
    assert not wide, f"pages wider than {width} px (by px): {wide}"
