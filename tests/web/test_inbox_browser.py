"""The inbox page in a real browser (Debian's Chromium driven by Playwright) against ``shequn serve``: a private
message written by another process appears in the queue without a reload (server-sent events); the item's page
shows the member's card and the messages around it, a canned answer fills the reply, the reply is queued and the
item turns pending; the page in English. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import os
import signal
import subprocess
import time
from collections.abc import Iterator
from datetime import UTC, datetime

import httpx
import pytest
from playwright.sync_api import Page, expect, sync_playwright

from shequn.app import App
from shequn.domain import Message, stable_id
from shequn.services.console import Operations
from shequn.services.inbox import Inbox
from tests.support.builders import join, spec
from tests.web.test_browser import ARGS, ARTIFACTS, CHROMIUM, SHEQUN, free_port

PASSWORD = "browser-test-pass"


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    db = str(tmp_path_factory.mktemp("inbox-browser") / "inbox.db")
    env = {**os.environ, "SHEQUN_LANG": "zh-CN"}
    app = App(db)
    app.apply_spec(spec("读书会", "growth", groups=("g1",)))
    app.ingest([join("ann", datetime.now(UTC), name="安")])
    app.close()
    subprocess.run([SHEQUN, "--db", db, "user", "create", "amy", "--role", "operator", "--password-stdin"],
                   input=PASSWORD + "\n", text=True, check=True, capture_output=True, env=env, timeout=60)  # fmt: skip
    app = App(db)
    inbox = Inbox(Operations(app))
    inbox.link("amy", "sandbox", "amy1", actor="test")
    inbox.serve("amy", "读书会", actor="test")
    app.close()
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
        yield url, db
    finally:
        proc.send_signal(signal.SIGINT)
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@pytest.fixture(scope="module")
def page(served: tuple[str, str]) -> Iterator[Page]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        context = browser.new_context(viewport={"width": 1400, "height": 1000}, locale="zh-CN")
        pg = context.new_page()
        pg.set_default_timeout(20_000)
        yield pg
        context.close()
        browser.close()


def test_the_inbox_updates_live_and_a_reply_is_sent(served: tuple[str, str], page: Page) -> None:
    url, db = served
    page.goto(url + "/inbox")
    page.fill("input[name=username]", "amy")
    page.fill("input[name=password]", PASSWORD)
    page.click("button[type=submit]")
    expect(page.locator("h1")).to_have_text("收件箱")
    expect(page.locator("#no-items")).to_be_visible()
    expect(page.locator("#inbox-load")).to_have_attribute("data-live", "1")  # the live feed is connected
    page.evaluate("window.__notReloaded = true")

    # Another process logs a private message: the queue shows it without a reload.
    app = App(db)
    app.ingest(
        [
            Message(
                id=stable_id("browser-dm"),
                at=datetime.now(UTC),
                platform="sandbox",
                actor="ann",
                actor_name="安",
                message_id="dm1",
                text="请问群规在哪里看？",
                extra={"direct": True},
            )
        ]
    )
    app.close()
    row = page.locator("#inbox tbody tr[data-item='读书会#1']")
    expect(row).to_contain_text("私聊")
    expect(row).to_contain_text("amy")
    expect(page.locator("#load-open")).to_have_text("1")
    assert page.evaluate("window.__notReloaded") is True
    page.screenshot(path=str(ARTIFACTS / "inbox-1-queue.png"))

    # The item: card, context, a canned answer, the reply.
    row.locator("a").click()
    expect(page.locator("#member-card")).to_contain_text("安")
    expect(page.locator("#context")).to_contain_text("请问群规在哪里看？")
    page.locator(".canned-answer").first.click()
    assert page.locator("#reply-text").input_value().startswith("【读书会群规】")
    page.click("#send-reply")
    expect(page.locator("#item-status")).to_have_text("已回复待确认")
    page.screenshot(path=str(ARTIFACTS / "inbox-2-item.png"))
    app = App(db)
    with app.store.transaction() as conn:
        sent = [o.action for o in app.store.actions.items(conn, app.ws.id) if o.action.policy == "inbox"]
    app.close()
    assert [a.kind.value for a in sent] == ["direct_message"] and "读书会群规" in sent[0].text_or_empty

    # English, with the response times per community and staff member.
    page.goto(url + "/inbox?lang=en&view=all")
    expect(page.locator("h1")).to_have_text("Inbox")
    expect(page.locator("#inbox-times tr[data-times='amy']")).to_be_visible()
    expect(page.locator("#inbox tbody tr").first).to_contain_text("private message")
