"""The console's pages in zh-CN and en, the language switch, the spec over the API, and the catalogue keys the
templates use."""

from __future__ import annotations

import re
from importlib import resources

import pytest
from markupsafe import escape

from shequn.i18n import catalogue
from shequn.services.console import Operations
from shequn.store import Segment
from tests.web.conftest import Site

PAGES = ["/", "/communities/读书会", "/groups/1", "/members/1", "/tasks", "/tasks?status=done", "/segments",
         "/segments?run=1&community=读书会&tags=&silent_days=1", "/settings", "/events",
         "/events?kind=join&before=20"]  # fmt: skip


@pytest.mark.parametrize(
    "locale, words", [("zh-CN", ["总览", "人工任务", "人群筛选"]), ("en", ["Overview", "Staff tasks", "Segments"])]
)
def test_every_page_renders_in_both_languages(site: Site, locale: str, words: list[str]) -> None:
    c = site.client()
    headers = {**site.session("owner"), "Accept-Language": locale}
    for path in PAGES:
        r = c.get(path, headers=headers)
        assert r.status_code == 200, (path, r.text[:300])
        assert all(w in r.text for w in words), path
        assert f'<html lang="{locale}">' in r.text


def test_the_event_log_page_pages_newest_first(site: Site) -> None:
    c = site.client()
    h = site.session("viewer")
    page = c.get("/events?lang=en", headers=h).text
    seqs = [int(x) for x in re.findall(r'<td class="n muted">(\d+)</td>', page)]
    assert len(seqs) == 56 and seqs == sorted(seqs, reverse=True)  # 16 joins and 40 messages
    joins = c.get("/events?kind=join&lang=en", headers=h).text
    assert joins.count('<td class="n muted">') == 16 and "第0条" not in joins


def test_the_language_switch_is_remembered_for_the_user(site: Site) -> None:
    c = site.client()
    headers = site.session("viewer")
    r = c.get("/?lang=en", headers=headers)
    assert "Groups needing attention" in r.text
    assert "shequn_lang=en" in r.headers["set-cookie"]
    # A new session of the same user (no language cookie) gets the saved choice.
    assert "Groups needing attention" in c.get("/", headers=site.session("viewer")).text
    assert "需要关注的群" in c.get("/?lang=zh-CN", headers=headers).text


def test_pages_show_the_store(site: Site) -> None:
    c = site.client()
    h = site.session("operator")
    ops = Operations(site.app)
    g2 = next(g for g in ops.groups() if g.platform_id == "g2")
    overview = c.get("/?lang=en", headers=h).text
    assert f'href="/groups/{g2.id}"' in overview and "never had a message" in overview
    g1 = next(g for g in ops.groups() if g.platform_id == "g1")
    group = c.get(f"/groups/{g1.id}?lang=en", headers=h).text
    assert group.count('<tr class="') == 8 and ">40<" in group  # eight members; 40 messages in one heatmap cell
    person = ops.roster(g1.id)[0].person_id
    r = c.post(
        f"/members/{person}/tags",
        data={"community": "读书会", "tag": "班委", "csrf": h["X-CSRF-Token"]},
        headers={"Cookie": h["Cookie"]},
    )
    assert r.status_code == 303
    member = c.get(f"/members/{person}", headers=h).text
    assert "班委" in member and "第0条" in member


def test_spec_round_trip_and_a_bad_spec_names_the_line(site: Site) -> None:
    c = site.client()
    spec = c.get("/api/v1/communities/读书会/spec", headers=site.bearer("viewer")).json()
    text = spec["yaml"].replace("nickname_format: ''", "nickname_format: 昵称-城市")
    r = c.put(
        "/api/v1/communities/读书会/spec",
        content=text.encode(),
        headers={**site.bearer("operator"), "Content-Type": "application/yaml"},
    )
    assert r.json() == {"name": "读书会", "outcome": "updated"}
    assert (
        c.get("/api/v1/communities/读书会/spec", headers=site.bearer("viewer")).json()["spec"]["nickname_format"]
        == "昵称-城市"
    )
    r = c.put(
        "/api/v1/communities/读书会/spec",
        content=b"name: \xe8\xaf\xbb\xe4\xb9\xa6\xe4\xbc\x9a\ntype: growth\nthreshold: {kind: lottery}\n",
        headers=site.bearer("operator"),
    )
    assert r.status_code == 422 and "threshold.kind" in r.json()["detail"] and ":3" in r.json()["detail"]
    r = c.put(
        "/api/v1/communities/读书会/spec", content=b"name: other\ntype: growth\n", headers=site.bearer("operator")
    )
    assert r.status_code == 422 and "rename" in r.json()["detail"]


def test_template_keys_are_in_the_catalogue() -> None:
    known = catalogue()
    folder = resources.files("shequn.web").joinpath("templates")
    missing = []
    for item in folder.iterdir():
        if item.is_dir():
            continue  # member/: its own test (test_member_pages)
        for key, joined in re.findall(r"t\('(web\.[a-z_.0-9]+)'\s*([+~]?)", item.read_text(encoding="utf-8")):
            if joined:  # a prefix completed at run time: some key must start with it
                if not any(k.startswith(key) for k in known):
                    missing.append(f"{item.name}: {key}*")
            elif key not in known:
                missing.append(f"{item.name}: {key}")
    assert not missing, missing


def test_the_community_page_shows_the_rhythm_calendar_and_events(
    site: Site, capsys: pytest.CaptureFixture[str]
) -> None:
    from shequn.cli.main import main

    db = site.app.store.db.url
    with pytest.raises(SystemExit) as done:
        main(["--db", db, "event", "create", "-c", "读书会", "--title", "嘉宾分享：怎样读完一本书"])
    assert done.value.code == 0, capsys.readouterr().err
    c = site.client()
    page = c.get("/communities/读书会?lang=en", headers=site.session("viewer")).text
    assert "嘉宾分享：怎样读完一本书" in page and "guest talk" in page
    rhythm = c.get("/api/v1/communities/读书会/rhythm?days=7&lang=en", headers=site.bearer("viewer")).json()
    assert rhythm and all(r["status"] in ("due", "capped") for r in rhythm)
    table = page.split('id="rhythm"', 1)[1].split("</table>", 1)[0]
    assert all(r["label"] in table for r in rhythm)
    assert {r["group"] for r in rhythm} <= {"读书会g1", "读书会g2"}
    [activity] = c.get("/api/v1/communities/读书会/activities", headers=site.bearer("viewer")).json()
    assert activity["kind"] == "guest_talk" and activity["title"] == "嘉宾分享：怎样读完一本书"


def test_the_member_page_shows_the_points_ledger_and_offences(site: Site) -> None:
    from datetime import timedelta

    from tests.conftest import T0
    from tests.support.builders import join, msg

    ops = Operations(site.app)
    ad = "兼职日赚300，加我微信 vx_123456 详情点 http://t.cn/abcd 免费领"
    spam_at = T0 + timedelta(hours=3)
    site.app.ingest([join("spam1", spam_at, name="广告号"), msg("spam1", spam_at + timedelta(minutes=1), ad)])
    anyone = Segment(statuses=("active", "left", "removed", "banned"))
    members = {m.key: m for m in ops.segment(anyone).members}
    speaker, spammer = members["sandbox:u0"], members["sandbox:spam1"]
    c = site.client()
    profile = c.get(f"/api/v1/members/{speaker.person_id}", headers=site.bearer("viewer")).json()
    ledger = profile["ledger"]["读书会"]
    assert ledger and ledger[0]["balance"] == profile["memberships"][0]["points"] > 0
    assert [e["balance"] for e in ledger] == sorted((e["balance"] for e in ledger), reverse=True)  # newest first
    spam = c.get(f"/api/v1/members/{spammer.person_id}", headers=site.bearer("viewer")).json()
    [offence] = spam["violations"]["读书会"]
    assert offence["violation"] == "ad" and offence["step"]
    page = c.get(f"/members/{spammer.person_id}?lang=en", headers=site.session("viewer")).text
    assert "Offences (1)" in page and offence["step"] in page


def test_the_community_and_group_pages_show_the_analytics_diagnosis(site: Site) -> None:
    """The community page carries the diagnosis (finding, cause, prescription, the seed line it comes from) and the
    funnel; the group page its health and lifecycle stage; all from ``shequn.analytics``."""
    from shequn.analytics import analyze

    report = analyze(site.app.store, site.app.ws, locale="en")
    health = report.communities["读书会"]
    c = site.client()
    h = {**site.session("viewer"), "Accept-Language": "en"}
    page = c.get("/communities/读书会", headers=h).text
    assert 'id="diagnosis"' in page and f"health {health.health}</h2>" in page
    findings = [*health.findings, *(f for g in report.groups.values() if g.community == "读书会" for f in g.findings)]
    assert findings  # the fixture's groups are young and quiet: the diagnosis has something to say
    for f in findings:
        assert str(escape(f.title)) in page and str(escape(f.prescription)) in page
        assert f.sources and all(f'title="{s["source"]}"' in page for s in f.sources)  # the file and line on hover
    assert 'id="funnel"' in page and f"<b>{health.funnel.acquisition:,}</b>" in page
    group = c.get("/groups/1", headers=h).text
    g = next(g for g in report.groups.values() if g.community == "读书会")
    assert 'id="group-health"' in group and f"<b>{g.health}</b>" in group


def test_a_batched_staff_task_shows_its_items_with_their_evidence_masked(site: Site) -> None:
    # WeCom gathers what the bot may not do in one group into one task (one pass for a burst): the console lists the
    # items, each with what to do and the message behind it, contact details masked like everything shown of a member.
    app = site.app
    evidence = {"at": "2026-11-20T10:00:00+08:00", "actor": "wm1", "actor_name": "小广告",
                "text": "加我vx：abc_77215 电话 13800138000"}  # fmt: skip
    with app.store.transaction() as conn:
        for what in ("撤回小广告的消息", "把小广告移出群"):
            app.store.tasks.add_to_batch(
                conn, app.ws.id, group_id=1, item={"what": what, "reason": "capability_missing", "evidence": evidence},
                title=lambda n: f"本群有{n}件事要处理", now_ms=app.now_ms(),
            )  # fmt: skip
    c = site.client()
    page = c.get("/tasks?lang=zh-CN", headers=site.session("viewer")).text
    assert "本群有2件事要处理" in page and "撤回小广告的消息" in page and "把小广告移出群" in page
    assert "小广告：加我vx：a****" in page and "138****8000" in page
    assert "abc_77215" not in page and "13800138000" not in page
    [task] = [t for t in c.get("/api/v1/tasks", headers=site.session("viewer")).json() if t["items"]]
    assert [i["what"] for i in task["items"]] == ["撤回小广告的消息", "把小广告移出群"]
