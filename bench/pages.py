"""``shequn bench pages``: first contentful paint of every member page (issue 23) in Chromium at 375 px, with the
network throttled to Slow 3G and the CPU slowed 4× through the DevTools protocol, standing in for WeChat's and QQ's
in-app browsers on a mid-range phone. Also the bytes each page weighs (HTML; the poster image aside).

A sample community (rules, rewards, an activity, members with points and a referral) is built in a temporary
database and served by ``shequn serve`` on loopback; each page is loaded once unthrottled (warm-up), then ``runs``
times throttled in a fresh browser context (no cache), and the median is reported.

The throttling is DevTools' "Slow 3G" preset (the one Puppeteer and Playwright users know): 2,000 ms of latency per
request, 400 kbit/s down and up. Every page is one request (its style sheet inline, no script, no font), so its FCP
is at least one such round trip; ``--latency`` sets another (400 ms is WebPageTest's "3G Slow").
"""

from __future__ import annotations

import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update"]
MOBILE = {"viewport": {"width": 375, "height": 812}, "device_scale_factor": 2, "is_mobile": True, "has_touch": True}
PAGES = ("", "/boards", "/checkin", "/rules", "/activities", "/invite", "/rewards")
COMMUNITY = "读书会"
SLOW_3G_KBPS = 400  # DevTools' Slow 3G: 500 kbit/s × 0.8
SLOW_3G_LATENCY_MS = 2000  # 400 ms × 5
# The paint entry may come after the load event: wait for it (buffered), give up (-1) after 20 s.
FCP_JS = """new Promise(done => {
  const pick = list => list.find(e => e.name === 'first-contentful-paint');
  const seen = pick(performance.getEntriesByType('paint'));
  if (seen) return done(seen.startTime);
  new PerformanceObserver(l => { const e = pick(l.getEntries()); if (e) done(e.startTime); })
    .observe({type: 'paint', buffered: true});
  setTimeout(() => done(-1), 20000);
})"""


def populate(app: Any, start: datetime) -> None:
    """The sample community: rules (version 2), two rewards, check-in open all day, acks at once, members with
    messages and points, Carol invited by Alice, an offline activity with two places ten days after ``start``."""
    from shequn.domain import Join, JoinMethod, Message, stable_id
    from shequn.playbook.spec import CommunitySpec
    from shequn.schedule.activities import Activity, ActivityKind, new_secret
    from shequn.store._sql import to_ms

    app.apply_spec(
        CommunitySpec.model_validate(
            {
                "name": COMMUNITY,
                "type": "growth",
                "groups": [{"platform": "sandbox", "id": "g1", "name": f"{COMMUNITY}g1"}],
                "rules": {"version": 2, "sections": {"hard_requirements": "一起读书，每周分享。",
                                                     "prohibitions": "禁止广告和拉人。"}},
                "policies": {
                    "points": {"rewards": {"书签": 5, "课程优惠券": 500}, "cooldown_seconds": 0, "min_chars": 1},
                    "acks": {"batch_minutes": 0},
                    "checkin": {"opens_at": ""},  # open all day: the pages are measured at any hour
                },
            }
        )
    )  # fmt: skip

    def join(actor: str, minutes: int, name: str, inviter: str = "") -> Join:
        return Join(
            id=stable_id("bench-join", actor), at=start + timedelta(minutes=minutes), platform="sandbox", group="g1",
            actor=actor, actor_name=name, method=JoinMethod.INVITED if inviter else JoinMethod.SELF, inviter=inviter,
        )  # fmt: skip

    def say(actor: str, name: str, minutes: int, text: str) -> Message:
        mid = stable_id("bench-msg", actor, str(minutes))
        at = start + timedelta(minutes=minutes)
        return Message(
            id=mid, at=at, platform="sandbox", group="g1", actor=actor, actor_name=name, message_id=mid, text=text
        )

    events: list[Any] = [join("alice", 0, "Alice 李"), join("bob", 1, "Bob 王")]
    events += [join(f"m{i}", 2 + i, f"成员{i}") for i in range(6)]
    events.append(join("carol", 20, "Carol", inviter="alice"))
    events += [say("alice", "Alice 李", 60 + i, f"今天读了第{i}章，很有收获") for i in range(12)]
    events += [say("bob", "Bob 王", 120 + i, f"bob 的第{i}条发言") for i in range(4)]
    app.ingest(events)
    act = Activity(
        key="meetup", community=COMMUNITY, kind=ActivityKind.OFFLINE, title="线下读书会", groups=("sandbox:g1",),
        starts=start + timedelta(days=10), ends=start + timedelta(days=10, hours=2), venue="图书馆", capacity=2,
        secret=new_secret(), created=start,
    )  # fmt: skip
    record = app.community(COMMUNITY)
    with app.store.transaction() as conn:
        app.store.schedule.put_activity(
            conn, app.ws.id, community_id=record.id, key=act.key, kind=act.kind.value, title=act.title,
            status=act.status, starts_ms=to_ms(act.starts) if act.starts else None,
            ends_ms=to_ms(act.ends) if act.ends else None, spec=act.to_dict(), now_ms=app.now_ms(),
        )  # fmt: skip


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextmanager
def serving(db: str, *, lang: str = "zh-CN") -> Iterator[str]:
    """``shequn serve`` on ``db`` on a free loopback port, until the block ends (its URL)."""
    import httpx

    port = free_port()
    shequn = str(Path(sys.executable).with_name("shequn"))
    proc = subprocess.Popen(
        [shequn, "--db", db, "serve", "--port", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        env={**os.environ, "SHEQUN_LANG": lang},
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(150):
            try:
                if httpx.get(url + "/healthz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                time.sleep(0.2)
        else:
            raise RuntimeError("shequn serve did not come up")
        yield url
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def member_link(db: str, who: str, *, days: int = 30) -> str:
    """A signed page link (path) for a member of the sample community."""
    from shequn.app import App
    from shequn.services.console import Operations
    from shequn.services.member import MemberPages

    app = App(db)
    try:
        token, _ = MemberPages(Operations(app)).link(COMMUNITY, who, days=days)
    finally:
        app.close()
    return f"/m/{token}"


def _fcp(browser: Any, url: str, *, throttle: bool, kbps: int, latency_ms: int) -> tuple[float, int]:
    context = browser.new_context(**MOBILE)
    try:
        page = context.new_page()
        if throttle:
            cdp = context.new_cdp_session(page)
            cdp.send("Network.enable")
            cdp.send("Network.setCacheDisabled", {"cacheDisabled": True})
            rate = kbps * 1000 / 8
            cdp.send(
                "Network.emulateNetworkConditions",
                {"offline": False, "latency": latency_ms, "downloadThroughput": rate, "uploadThroughput": rate},
            )
            cdp.send("Emulation.setCPUThrottlingRate", {"rate": 4})
        response = page.goto(url, wait_until="load")
        assert response is not None and response.status == 200, url
        fcp = page.evaluate(FCP_JS)
        return float(fcp), len(response.body())
    finally:
        context.close()


def run(*, runs: int = 3, kbps: int = SLOW_3G_KBPS, latency_ms: int = SLOW_3G_LATENCY_MS) -> list[dict[str, Any]]:
    """FCP (median of ``runs``, ms) and bytes of every member page, in both languages."""
    from playwright.sync_api import sync_playwright

    from shequn.app import App

    out: list[dict[str, Any]] = []
    with tempfile.TemporaryDirectory() as tmp:
        db = str(Path(tmp) / "pages.db")
        app = App(db)
        try:
            populate(app, app.clock.now() - timedelta(days=2))
        finally:
            app.close()
        base = member_link(db, "bob")
        with serving(db) as url, sync_playwright() as p:
            browser = p.chromium.launch(executable_path=CHROMIUM, args=ARGS)
            try:
                for lang in ("zh-CN", "en"):
                    for page in PAGES:
                        target = f"{url}{base}{page}?lang={lang}"
                        _fcp(browser, target, throttle=False, kbps=kbps, latency_ms=latency_ms)  # warm-up
                        figures = [_fcp(browser, target, throttle=True, kbps=kbps, latency_ms=latency_ms)
                                   for _ in range(runs)]  # fmt: skip
                        out.append(
                            {
                                "page": page or "/",
                                "lang": lang,
                                "fcp_ms": round(statistics.median(f for f, _ in figures)),
                                "bytes": figures[0][1],
                                "latency_ms": latency_ms,
                                "kbps": kbps,
                                "cpu_slowdown": 4,
                            }
                        )
            finally:
                browser.close()
    return out
