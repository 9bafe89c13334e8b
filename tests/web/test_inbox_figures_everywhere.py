"""One set of figures (issue 17's rule) for the inbox (issue 20): on a small workspace built through the engine, a
community's open items, the oldest waiting and the median first response read the same on the console's overview,
the communities API, the inbox API, ``shequn inbox times``, the console's inbox page and the report (JSON, Markdown
and HTML); durations read with their units wherever a person reads them."""

from __future__ import annotations

import json
import re
from datetime import timedelta
from pathlib import Path

import orjson
import pytest

from shequn.analytics.engine import analyze
from shequn.cli.main import main
from shequn.domain import Message, stable_id
from shequn.i18n import fmt
from shequn.reports import render
from shequn.services.console import Operations
from shequn.services.inbox import Inbox
from tests.web.conftest import Site


def _ask(site: Site, who: str) -> None:
    at = site.clock.now()
    site.app.ingest([Message(
        id=stable_id("dm", who, at.isoformat()), at=at, platform="sandbox", actor=who, actor_name=who,
        message_id=stable_id("dm-mid", who), text="请问会员怎么续费", extra={"direct": True},
    )])  # fmt: skip


def test_open_items_and_first_response_read_the_same_everywhere(
    site: Site, tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    inbox = Inbox(Operations(site.app))
    inbox.link("operator", "sandbox", "op1", actor="test")
    inbox.serve("operator", "读书会", actor="test")
    start = site.clock.now()
    for i in range(4):  # four private questions, ten minutes apart
        site.clock.set(start + timedelta(minutes=10 * i))
        _ask(site, f"u{i}")
    for n, wait in ((1, 30), (2, 90), (3, 200)):  # three answered, 30, 90 and 200 minutes after they were asked
        site.clock.set(start + timedelta(minutes=10 * (n - 1) + wait))
        inbox.reply("读书会", n, "在会员页续费即可", actor="operator")
    inbox.set_status("读书会", 1, "resolved", actor="operator")
    site.clock.set(start + timedelta(hours=5))

    client = site.client()
    times = client.get("/api/v1/inbox/times", headers=site.bearer("viewer")).json()
    mine = times["communities"]["读书会"]
    assert (times["open"], times["pending"], mine["items"], mine["first_response_median"]) == (1, 2, 4, 90.0)
    oldest = times["oldest"]
    assert oldest["n"] == 2 and oldest["waiting_minutes"] == 290.0  # #1 is resolved: #2, asked 4 h 50 min ago

    # The communities API and the overview API: the same load.
    card = client.get("/api/v1/communities/读书会", headers=site.bearer("viewer")).json()
    assert (card["inbox_open"], card["inbox_pending"], card["inbox_oldest_waiting_minutes"]) == (1, 2, 290.0)
    ov = client.get("/api/v1/overview", headers={**site.bearer("viewer"), "Cache-Control": "no-cache"}).json()
    totals = ov["totals"]
    assert (totals["inbox_open"], totals["inbox_pending"], ov["inbox_oldest_waiting_minutes"]) == (1, 2, 290.0)
    other = next(c for c in ov["communities"] if c["name"] == "水果团")
    assert (other["inbox_open"], other["inbox_oldest_waiting_minutes"]) == (0, None)

    # The console's overview page: the same figures, the wait with its unit, a link to the inbox.
    for loc, waited in (("zh-CN", "4.8 小时"), ("en", "4.8 h")):
        assert fmt.minutes(290.0, loc) == waited
        page = client.get(f"/?lang={loc}", headers={**site.session("viewer"), "Cache-Control": "no-cache"}).text
        cell = re.search(r'data-inbox="读书会">.*?<dd><a href="/inbox">(\d+)</a>', page, re.S)
        assert cell and cell.group(1) == "1"
        line = re.search(r'data-inbox-oldest="读书会">([^<]*)', page)
        assert line and waited in line.group(1), page
        # The inbox page's times table: the median first response with its unit, as the report shows it.
        queue = client.get(f"/inbox?lang={loc}", headers=site.session("viewer")).text
        row = re.search(r"data-times=\"读书会\">(.*?)</tr>", queue, re.S)
        assert row and fmt.minutes(90.0, loc) in row.group(1)

    # The report: the JSON carries the same numbers, Markdown and HTML the same words.
    report = analyze(site.app.store, site.app.ws, days=30, until=site.clock.now(), locale="zh-CN",
                     cache=tmp_path / "cache")  # fmt: skip
    data = orjson.loads(render(report, "json"))
    figures = data["communities"]["读书会"]["inbox"]
    assert {k: figures[k] for k in mine} == mine
    assert figures["staff"]["operator"]["first_response_median"] == times["staff"]["operator"]["first_response_median"]
    for kind in ("md", "html"):
        text = re.sub(r"<[^>]+>", " ", render(report, kind))  # the HTML's cells read as text
        assert "收件箱响应时间" in text and "90 分钟" not in text
        assert re.search(r"全社群\W+4\W+3\W+1.5 小时\W+3.3 小时", text), kind  # items, answered, median, p90
        assert "工作人员 operator" in text
    report.locale = "en"
    assert "Inbox response times" in render(report, "md") and "1.5 h" in render(report, "md")

    # shequn inbox times: the same numbers.
    monkeypatch.setenv("SHEQUN_LANG", "zh-CN")
    db = site.app.store.db.url.removeprefix("sqlite:///")
    capsys.readouterr()
    with pytest.raises(SystemExit) as done:
        main(["--db", db, "inbox", "times", "--json"])
    assert not done.value.code
    cli = json.loads(capsys.readouterr().out)
    assert (cli["open"], cli["pending"], cli["communities"]["读书会"]) == (1, 2, mine)
