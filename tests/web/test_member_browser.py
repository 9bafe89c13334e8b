"""The member pages in a real browser (Debian's Chromium driven by Playwright) with mobile emulation (375 px wide)
against ``shequn serve`` on loopback: every page in both languages with no sideways scroll and its weight measured,
a tampered and an expired link refused, one member's link never showing another's data, a check-in, the rules
accepted and a registration made by tapping. Screenshots go to ``test-artifacts/``."""

from __future__ import annotations

import time
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from playwright.sync_api import Browser, Page, Request, sync_playwright

from shequn.app import App
from shequn.bench.pages import ARGS, CHROMIUM, MOBILE, PAGES, member_link, populate, serving
from shequn.services.console import Operations
from shequn.services.member import MemberLink, MemberPages, sign

ARTIFACTS = Path(__file__).resolve().parents[2] / "test-artifacts"
LIMIT = 100_000  # bytes per page, images aside


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, str]]:
    db = str(tmp_path_factory.mktemp("member-browser") / "m.db")
    app = App(db)
    try:
        populate(app, app.clock.now() - timedelta(days=2))
    finally:
        app.close()
    with serving(db) as url:
        yield url, db


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    ARTIFACTS.mkdir(exist_ok=True)
    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        yield b
        b.close()


@pytest.fixture
def page(browser: Browser) -> Iterator[Page]:
    context = browser.new_context(**MOBILE, locale="zh-CN")
    pg = context.new_page()
    pg.set_default_timeout(20_000)
    yield pg
    context.close()


def load(page: Page, url: str) -> tuple[int, int, list[str]]:
    """Open ``url``: (status, bytes of every response but images, the URLs of other hosts asked for)."""
    sizes: dict[str, int] = {}
    foreign: list[str] = []
    host = url.split("/m/", maxsplit=1)[0]

    def on_request(req: Request) -> None:
        if not req.url.startswith(host) and not req.url.startswith("data:"):
            foreign.append(req.url)

    def on_response(resp: object) -> None:
        r = resp  # playwright Response
        if r.request.resource_type != "image":  # type: ignore[attr-defined]
            sizes[r.url] = len(r.body())  # type: ignore[attr-defined]

    page.on("request", on_request)
    page.on("response", on_response)
    response = page.goto(url, wait_until="load")
    page.remove_listener("request", on_request)
    page.remove_listener("response", on_response)
    assert response is not None
    return response.status, sum(sizes.values()), foreign


def no_sideways_scroll(page: Page) -> None:
    width = page.evaluate("document.documentElement.scrollWidth")
    assert width <= 375, f"{page.url}: {width} px wide"


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_fits_a_phone(site: tuple[str, str], page: Page, lang: str) -> None:
    url, db = site
    base = url + member_link(db, "alice")
    for path in PAGES:
        status, weight, foreign = load(page, f"{base}{path}?lang={lang}")
        assert status == 200
        assert weight < LIMIT, f"{path}: {weight} bytes"
        assert not foreign, foreign  # no external script, font or style
        assert page.locator("html").get_attribute("lang") == lang
        assert page.locator("nav a.on").count() == 1
        no_sideways_scroll(page)
        page.screenshot(path=str(ARTIFACTS / f"member-{lang}-{path.strip('/') or 'card'}.png"), full_page=True)
    app = App(db)
    try:
        community, _ = MemberPages(Operations(app)).community_link("读书会")
    finally:
        app.close()
    status, weight, foreign = load(page, f"{url}/m/c/{community}?lang={lang}")
    assert status == 200 and weight < LIMIT and not foreign
    page.locator("input[name=who]").fill("Bob 王")
    page.locator("[data-action=send-code]").click()
    assert page.locator("[data-sent]").is_visible()
    no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / f"member-{lang}-join.png"), full_page=True)
    page.goto(f"{base}/invite?lang={lang}")
    poster = page.locator("img.poster")
    poster.scroll_into_view_if_needed()
    assert poster.evaluate("img => img.decode().then(() => img.naturalWidth)") == 750  # the PNG loaded
    no_sideways_scroll(page)


def test_tampered_and_expired_links_are_refused(site: tuple[str, str], page: Page) -> None:
    url, db = site
    good = member_link(db, "alice")
    payload, _, sig = good.removeprefix("/m/").partition(".")
    app = App(db)
    try:
        key = MemberPages(Operations(app))._key()
        expired = sign(key, MemberLink(app.ws.id, "读书会", "sandbox:alice", int(time.time()) - 60))
        bob = sign(b"guessed key", MemberLink(app.ws.id, "读书会", "sandbox:bob", int(time.time()) + 3600))
    finally:
        app.close()
    for bad, lang, text in (
        (f"{bob.partition('.')[0]}.{sig}", "en", "not valid or has expired"),
        (f"{payload}.{sig[::-1]}", "zh-CN", "链接无效或已过期"),
        (expired, "en", "not valid or has expired"),
        (expired, "zh-CN", "链接无效或已过期"),
    ):
        status, _, _ = load(page, f"{url}/m/{bad}?lang={lang}")
        assert status == 403
        body = page.locator("body").inner_text()
        assert text in body and "Alice" not in body and "Bob" not in body
        no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "member-refused.png"))


def test_one_members_link_never_shows_anothers_data(site: tuple[str, str], page: Page) -> None:
    url, db = site
    alice = url + member_link(db, "alice")
    bob = url + member_link(db, "bob")
    page.goto(alice + "/invite?lang=en")
    assert "Carol" in page.locator("[data-referrals]").inner_text()
    alice_ledger = page.goto(alice + "?lang=en") and page.locator("[data-ledger]").inner_text()
    for path in PAGES:
        page.goto(f"{bob}{path}?lang=en")
        text = page.locator("main").inner_text()
        assert "Carol" not in text  # Alice's referral
        assert "sandbox:alice" not in text and "alice" not in text  # never her platform id
        if path == "":
            assert "Bob 王" in text and "Alice 李" not in text
            assert page.locator("[data-ledger]").inner_text() != alice_ledger
        if path == "/boards":
            assert "Alice 李" in text and "ahead of" in text  # boards name members: display names by default


def test_check_in_accept_the_rules_and_register_by_tapping(site: tuple[str, str], page: Page) -> None:
    url, db = site
    base = url + member_link(db, "m3")
    page.goto(base + "/checkin?lang=en")
    page.locator("[data-action=checkin]").click()
    page.wait_for_url("**/checkin?done=checkin")
    assert page.locator("[data-checked]").is_visible()
    page.goto(base + "?lang=en")
    points = int(page.locator("[data-points]").inner_text())
    assert points > 0  # the check-in policy awarded its points
    page.goto(base + "/rules?lang=zh-CN")
    page.locator("[data-action=accept]").click()
    page.wait_for_url("**/rules?done=rules")
    assert page.locator("[data-accepted]").is_visible()
    page.goto(base + "/activities?lang=zh-CN")
    page.locator("[data-action=register]").click()
    page.wait_for_url("**/activities?done=registered")
    assert page.locator("[data-ticket] svg").is_visible()
    no_sideways_scroll(page)
    page.screenshot(path=str(ARTIFACTS / "member-ticket.png"), full_page=True)
