"""The inbox through the store, the API and the command line: staff linked, items opened live, roles enforced,
replies through the outbox (a staff task where the platform forbids the bot), times measured, the live feed."""

from __future__ import annotations

import dataclasses
from datetime import timedelta
from typing import Any

import orjson

from shequn.domain import Message, stable_id
from shequn.services.console import Operations
from shequn.services.inbox import Inbox
from tests.support.builders import join, msg, spec
from tests.web.conftest import Site


def _dm(site: Site, who: str, text: str) -> Message:
    at = site.clock.now()
    m = Message(
        id=stable_id("dm", who, text, at.isoformat()), at=at, platform="sandbox", actor=who, actor_name=who,
        message_id=stable_id("dm-mid", who, text), text=text, extra={"direct": True},
    )  # fmt: skip
    site.app.ingest([m])
    return m


def _staffed(site: Site) -> Inbox:
    inbox = Inbox(Operations(site.app))
    inbox.link("operator", "sandbox", "op1", actor="test")
    inbox.serve("operator", "读书会", actor="test")
    return inbox


def test_staff_links_are_stored_and_told_to_the_engine(site: Site) -> None:
    inbox = _staffed(site)
    me = next(s for s in inbox.staff() if s.username == "operator")
    assert me.identities == (("sandbox", "op1"),) and me.communities == ("读书会",)
    assert site.app.saved_state().community("读书会").policy["inbox"]["staff:sandbox:op1"] == "operator"
    # An @mention of that identity opens an item assigned to them.
    m = dataclasses.replace(msg("u1", site.clock.now(), "@op 帮我看看订单"), mentions=("op1",))
    site.app.ingest([m])
    items = inbox.items()
    assert [(i["kind"], i["assignee"], i["community"]) for i in items] == [("mention", "operator", "读书会")]
    # Unlinking tells the engine too.
    inbox.unlink("operator", "sandbox", "op1", actor="test")
    assert "staff:sandbox:op1" not in site.app.saved_state().community("读书会").policy["inbox"]


def test_api_roles_reply_resolve_and_times(site: Site) -> None:
    inbox = _staffed(site)
    client = site.client()
    _dm(site, "u2", "你好，我的会员怎么续费")
    [item] = client.get("/api/v1/inbox", headers=site.bearer("viewer")).json()
    assert item["kind"] == "direct" and item["assignee"] == "operator" and item["status"] == "open"
    detail = client.get(f"/api/v1/inbox/读书会/{item['n']}", headers=site.bearer("viewer")).json()
    assert detail["member"]["key"] == "sandbox:u2" and detail["messages"][0]["text"] == "你好，我的会员怎么续费"
    assert detail["canned"], "the community's FAQ answers are offered"
    # A viewer reads but may not answer.
    url = f"/api/v1/inbox/读书会/{item['n']}"
    assert client.post(url + "/reply", json={"text": "好的"}, headers=site.bearer("viewer")).status_code == 403
    site.clock.advance(timedelta(minutes=12))
    r = client.post(url + "/reply", json={"text": "在会员页续费即可", "key": "k1"}, headers=site.bearer("operator"))
    assert r.status_code == 200 and r.json() == {"queued": 1, "staff_tasks": 0}
    assert [(a.kind.value, a.target) for a in _sent(site)] == [("direct_message", "u2")]
    site.clock.advance(timedelta(minutes=30))
    r = client.post(url + "/status", json={"status": "resolved"}, headers=site.bearer("operator"))
    assert r.status_code == 200
    got = inbox.item("读书会", item["n"])
    assert got["status"] == "resolved" and got["responder"] == "operator" and got["resolved_by"] == "operator"
    t = client.get("/api/v1/inbox/times", headers=site.bearer("viewer")).json()
    assert t["communities"]["读书会"]["first_response_median"] == 12.0
    assert t["communities"]["读书会"]["resolution_median"] == 42.0
    assert t["staff"]["operator"]["resolved"] == 1
    # Replayed from the log, the inbox is the same.
    state = site.app.saved_state().community("读书会").policy["inbox"]
    assert state[f"i:{item['n']}"]["first_response_at"] == got["first_response_at"]


def _sent(site: Site) -> list[Any]:
    with site.app.store.transaction() as conn:
        return [o.action for o in site.app.store.actions.items(conn, site.app.ws.id) if o.action.policy == "inbox"]


def test_a_group_reply_is_a_reply_to_the_message_and_a_staff_task_where_no_bot_may_send(site: Site) -> None:
    inbox = _staffed(site)
    m = dataclasses.replace(msg("u3", site.clock.now(), "@op 在吗"), mentions=("op1",))
    site.app.ingest([m])
    [item] = inbox.items()
    assert inbox.reply("读书会", item["n"], "在的", actor="operator") == {"queued": 1, "staff_tasks": 0}
    [reply] = _sent(site)
    assert reply.kind.value == "reply" and reply.group == "g1" and getattr(reply, "message_id", "") == m.message_id
    # Personal WeChat has no bot: the private answer becomes a staff task with the text to paste.
    site.app.apply_spec(spec("微信群", "growth", groups=("wx1",), platform="wechat"))
    site.app.ingest([join("wxid_ann", site.clock.now(), group="wx1", platform="wechat")])
    site.app.ingest(
        [
            dataclasses.replace(
                msg("wxid_ann", site.clock.now(), "我要投诉，一直没人理", group="wx1", platform="wechat"),
                extra={"direct": True},
                group="",
            )
        ]
    )
    inbox = Inbox(Operations(site.app))  # the console reads specs anew every few seconds; a new one at once
    [wx] = inbox.items(community="微信群")
    assert inbox.reply("微信群", wx["n"], "抱歉，马上处理", actor="operator") == {"queued": 0, "staff_tasks": 1}
    tasks = [t for t in Operations(site.app).tasks() if "抱歉，马上处理" in str(t.detail)]
    assert len(tasks) == 1 and tasks[0].reason == "no_connector"


def test_the_live_feed_sends_the_inbox(site: Site) -> None:
    _staffed(site)
    _dm(site, "u4", "hello?")
    client = site.client()
    r = client.get("/inbox/stream?seconds=0", headers=site.session("viewer"))
    assert r.status_code == 200 and r.headers["content-type"].startswith("text/event-stream")
    data = next(line for line in r.text.splitlines() if line.startswith("data: "))
    body = orjson.loads(data.removeprefix("data: "))
    assert body["active"] == 1 and body["items"][0][:2] == ["读书会", 1]


def test_granting_an_appeal_withdraws_the_offence_and_teaches_the_classifier(site: Site) -> None:
    inbox = _staffed(site)
    now = site.clock.now()
    site.app.ingest([msg("u1", now, "今天读完了第三章")])
    ad = msg("u1", now + timedelta(seconds=5), "加我微信 abc12345 免费领资料 http://x.cn 日赚500")
    site.app.ingest([ad])
    site.clock.advance(timedelta(minutes=1))
    state = site.app.saved_state()
    assert state.community("读书会").policy["moderation"]["o:sandbox:u1"]["log"], "the ad was an offence"
    _dm(site, "u1", "我要申诉，那不是广告")
    [item] = inbox.items(kind="appeal")
    assert item["case"][2] == ad.message_id
    out = inbox.reverse("读书会", item["n"], actor="operator")
    assert out["actions"] >= 1  # the apology to the member
    state = site.app.saved_state()
    assert "o:sandbox:u1" not in state.community("读书会").policy["moderation"]
    assert f"m:{ad.message_id}" in state.workspace["moderation.learned"]
    assert inbox.item("读书会", item["n"])["status"] == "resolved"
    assert any(a.kind.value == "direct_message" and a.policy == "moderation" for a in _all_sent(site))


def _all_sent(site: Site) -> list[Any]:
    with site.app.store.transaction() as conn:
        return [o.action for o in site.app.store.actions.items(conn, site.app.ws.id)]
