"""Moderation cases through the store, the service and ``/api/v1/inbox/cases``: numbered steps with their evidence
from the log, an appeal linked to its case, notes, reversal by case number (roles enforced), the same after a
replay."""

from __future__ import annotations

from datetime import timedelta

from shequn.policies.moderation import label_for
from shequn.services.console import Operations
from shequn.services.inbox import Inbox
from tests.support.builders import msg
from tests.web.conftest import Site
from tests.web.test_inbox import _all_sent, _dm

AD = "加我微信 abc12345 免费领资料 http://x.cn 日赚500"


def test_cases_are_listed_shown_appealed_noted_and_reversed_by_number(site: Site) -> None:
    inbox = Inbox(Operations(site.app))
    now = site.clock.now()
    site.app.ingest([msg("u1", now, "今天读完了第三章"), msg("u2", now, "我也是")])
    ad1 = msg("u1", now + timedelta(seconds=5), AD)
    ad2 = msg("u2", now + timedelta(seconds=9), AD + " 私聊")
    site.app.ingest([ad1, ad2])
    site.clock.advance(timedelta(minutes=1))
    cases = inbox.cases()
    assert [(c["n"], c["member"], c["status"]) for c in cases] == [
        (2, "sandbox:u2", "standing"),
        (1, "sandbox:u1", "standing"),
    ]
    _dm(site, "u1", "我要申诉，那不是广告")
    [appeal] = inbox.items(kind="appeal")
    assert appeal["case_n"] == 1
    client = site.client()
    viewer, operator = site.bearer("viewer"), site.bearer("operator")
    listed = client.get("/api/v1/inbox/cases?status=appealed", headers=viewer).json()
    assert [(c["community"], c["n"], c["appeals"]) for c in listed] == [("读书会", 1, [appeal["n"]])]
    shown = client.get("/api/v1/inbox/cases/读书会/1", headers=viewer).json()
    assert shown["message"]["text"] == AD and shown["message_id"] == ad1.message_id
    assert shown["violation"] == "ad" and shown["score"] > 0 and shown["why"]
    assert client.get("/api/v1/inbox/cases/读书会/9", headers=viewer).status_code == 404
    # A viewer reads; an operator notes and reverses.
    url = "/api/v1/inbox/cases/读书会/1"
    assert client.post(url + "/note", json={"text": "朋友转发"}, headers=viewer).status_code == 403
    assert client.post(url + "/reverse", headers=viewer).status_code == 403
    assert client.post(url + "/note", json={"text": "朋友转发"}, headers=operator).status_code == 200
    r = client.post(url + "/reverse", headers=operator)
    assert r.status_code == 200 and r.json()["actions"] >= 1
    got = inbox.case("读书会", 1)
    assert got["status"] == "reversed" and got["reversed_by"] == "operator"
    assert [n[1:] for n in got["notes"]] == [["operator", "朋友转发"]]
    assert inbox.item("读书会", appeal["n"])["status"] == "resolved"
    assert inbox.case("读书会", 2)["status"] == "standing"
    _dm(site, "u2", "appeal: not an ad")
    [denied] = [i for i in inbox.items(kind="appeal") if i["actor"] == "u2"]
    assert inbox.case("读书会", 2)["status"] == "appealed"
    inbox.set_status("读书会", denied["n"], "resolved", actor="operator")  # turned down: the case stands
    assert (inbox.case("读书会", 2)["status"], inbox.case("读书会", 2)["appeals"]) == ("standing", [denied["n"]])
    state = site.app.saved_state()
    assert "o:sandbox:u1" not in state.community("读书会").policy["moderation"]
    assert f"m:{ad1.message_id}" in state.workspace["moderation.learned"]  # the classifier taught
    assert any(a.kind.value == "direct_message" and a.policy == "moderation" for a in _all_sent(site))
    assert client.post(url + "/reverse", headers=operator).status_code == 422  # reversed already
    r = client.post(f"/api/v1/inbox/读书会/{appeal['n']}/reverse", headers=operator)  # its appeal: nothing left to undo
    assert r.status_code == 200 and r.json() == {"actions": 0, "staff_tasks": 0, "invited": 0}
    # Rebuilt from the log, the cases are the same.
    before = inbox.cases()
    site.app.rebuild()
    assert inbox.cases() == before


def test_the_console_lists_shows_notes_and_reverses_cases_in_both_languages(site: Site) -> None:
    now = site.clock.now()
    site.app.ingest([msg("u1", now, "今天读完了第三章")])
    ad = msg("u1", now + timedelta(seconds=5), AD)
    site.app.ingest([ad])
    site.clock.advance(timedelta(minutes=1))
    c = site.client()
    viewer, h = site.session("viewer"), site.session("operator")
    zh = c.get("/inbox/cases", headers={**viewer, "Accept-Language": "zh-CN"}).text
    assert 'data-case="读书会#1"' in zh and "处理记录" in zh and "有效" in zh
    en = c.get("/inbox/cases?status=standing&lang=en", headers=viewer).text
    assert 'data-case="读书会#1"' in en and "Moderation cases" in en and "standing" in en
    assert 'data-case="读书会#1"' not in c.get("/inbox/cases?status=reversed", headers=viewer).text
    page = c.get("/inbox/cases/读书会/1?lang=en", headers=viewer).text
    assert "moderation case 读书会#1" in page and 'id="case-message"' in page
    assert "abc12345" not in page  # the ad's contact masked on screen
    assert 'id="reverse-case"' not in page  # a viewer reads only
    form = {"csrf": h["X-CSRF-Token"]}
    cookie = {"Cookie": h["Cookie"]}
    r = c.post("/inbox/cases/读书会/1/note", data={**form, "text": "核实过"}, headers=cookie)
    assert r.status_code == 303
    assert c.post("/inbox/cases/读书会/1/reverse", data=form, headers=cookie).status_code == 303
    page = c.get("/inbox/cases/读书会/1", headers={**h, "Accept-Language": "zh-CN"}).text
    assert "已撤销" in page and "核实过" in page and 'id="reverse-case"' not in page
    assert c.get("/inbox/cases/读书会/5", headers=viewer).status_code == 404


def test_a_case_opened_by_an_operators_label_shows_and_reverses_from_the_label_in_the_log(site: Site) -> None:
    inbox = Inbox(Operations(site.app))
    now = site.clock.now()
    missed = msg("u1", now, "周末来我店里喝咖啡，报群名打八折")
    site.app.ingest([missed])
    assert inbox.cases() == []
    site.clock.advance(timedelta(minutes=5))
    site.app.ingest([label_for(missed, "ad", by="operator", at=site.clock.now())])
    [case] = inbox.cases()
    shown = inbox.case("读书会", case["n"])
    assert shown["message"]["text"] == missed.text and shown["why"]
    inbox.reverse_case("读书会", case["n"], actor="operator")
    assert inbox.case("读书会", case["n"])["status"] == "reversed"
