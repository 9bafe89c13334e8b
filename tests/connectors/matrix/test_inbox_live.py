"""The operator's inbox live on a real Matrix homeserver, through ``shequn run``: a question nobody answers, an
@mention of a linked staff member, a private message to the bot, a complaint and an appeal of a moderation step each
open an item; a reply from the console (the command line, another process) reaches the room as a reply to the
member's message, and counts as the first response."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.connectors.matrix.live import bot_texts, community_yaml, query, shequn, start_run, stop_run, synced, wait_for
from tests.support.synapse import Synapse

pytestmark = pytest.mark.slow
AD = "➕V：money20459，招代理，一件代发，日赚500"


def items(db: str) -> dict[str, dict[str, object]]:
    """The inbox items by kind (the latest of each), read from the store."""
    rows = query(db, "select value from policy_state where scope='inbox' and name like 'i:%'")
    return {i["kind"]: i for i in (json.loads(v) for (v,) in rows)}


def test_question_mention_dm_complaint_and_appeal_open_items_and_a_console_reply_reaches_the_room(
    synapse: Synapse, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    hs = synapse
    op = hs.register("op_inbox")
    bot = hs.register("bot_inbox")
    main = op.create_room("main inbox", power={bot.user_id: 100})
    admin = op.create_room("admin inbox", power={bot.user_id: 100})
    bot.join(main)
    bot.join(admin)
    wang, li, zhang, zhao = (hs.register(f"{n}_inbox") for n in ("wang", "li", "zhang", "zhao"))
    for account in (wang, li, zhang, zhao):
        account.join(main)
    db = str(tmp_path / "inbox.db")
    spec = tmp_path / "community.yaml"
    extra = "  inbox: {question_minutes: 0.05}\n  acks: {batch_minutes: 0}\nrhythm: {enabled: false}\n"
    spec.write_text(community_yaml("收件箱群", main, admin, extra), encoding="utf-8")
    shequn(db, "community", "apply", str(spec))
    monkeypatch.setenv("SHEQUN_PASSWORD", "correct horse battery")
    shequn(db, "user", "create", "amy", "--role", "operator")
    shequn(db, "staff", "link", "amy", "matrix", op.user_id)
    shequn(db, "staff", "serve", "amy", "收件箱群")

    proc = start_run(db, hs, bot)
    try:
        wait_for(lambda: synced(db) or proc.poll() is not None, 60, "the first sync")
        # Members are known to the community once they speak.
        for account in (wang, li, zhang, zhao):
            account.say(main, "大家好")
        # A question nobody answers: an item once its time (3 s here) has passed.
        question = wang.say(main, "请问下周的线下活动在哪里报名？")
        # An @mention of the linked staff identity.
        mention = li.say(main, "@op 帮我看看我的订单", mentions=(op.user_id,))
        # A complaint.
        zhang.say(main, "你们这服务太差了，退款三天都没人理")
        # A private message: zhao opens a direct chat with the bot.
        dm = zhao.open_direct(bot.user_id)
        wait_for(lambda: zhao.membership(dm, bot.user_id) == "join", 30, "the bot in the direct chat")
        zhao.say(dm, "你好，我想咨询一下会员的事")
        # An appeal: wang's ad is redacted and he is warned; he appeals in a private chat with the bot.
        wang.say(main, AD)
        wait_for(lambda: query(db, "select 1 from action where kind='warn' and status='sent'"), 30, "the warning")
        appeal_room = wang.open_direct(bot.user_id)
        wait_for(lambda: wang.membership(appeal_room, bot.user_id) == "join", 30, "the bot in wang's private chat")
        wang.say(appeal_room, "我要申诉，那不是广告")

        found = wait_for(
            lambda: (got := items(db)).keys() >= {"question", "mention", "complaint", "direct", "appeal"} and got,
            40,
            "the five items",
        )
        assert found["question"]["message_id"] == question and found["question"]["actor"] == wang.user_id
        assert found["mention"]["message_id"] == mention and found["mention"]["assignee"] == "amy"
        assert found["complaint"]["actor"] == zhang.user_id
        assert found["direct"]["actor"] == zhao.user_id and found["direct"]["text"] == "你好，我想咨询一下会员的事"
        assert found["appeal"]["actor"] == wang.user_id and found["appeal"]["case"]
        # The direct rooms stay no groups.
        groups = sorted(g for (g,) in query(db, "select platform_id from chat_group where platform='matrix'"))
        assert groups == sorted([main, admin])

        # A reply from the console (another process): in the room, as a reply to li's message.
        ref = f"收件箱群#{found['mention']['n']}"
        out = shequn(db, "inbox", "reply", ref, "您好，订单已经帮您查到了", "--as", "amy").stdout
        assert "1" in out
        wait_for(lambda: any("订单已经帮您查到了" in t for t in bot_texts(op, main, bot)), 30, "the reply in the room")
        sent = [
            e
            for e in op.messages(main)
            if e["sender"] == bot.user_id and "订单已经帮您查到了" in str(e["content"].get("body", ""))
        ]
        assert sent[0]["content"]["m.relates_to"]["m.in_reply_to"]["event_id"] == mention
        # And privately, in the direct chat zhao opened.
        shequn(db, "inbox", "reply", f"收件箱群#{found['direct']['n']}", "会员问题请看这里", "--as", "amy")
        wait_for(
            lambda: any(e.get("content", {}).get("body") == "会员问题请看这里" for e in zhao.messages(dm)),
            30,
            "the private reply",
        )
    except AssertionError as exc:
        said = stop_run(proc)[1][-3000:]
        sent = query(db, "select kind, status, result from action")
        sent += query(db, "select name, value from connector_cursor")
        raise AssertionError(f"{exc}\nitems: {list(items(db))}\noutbox: {sent}\nshequn run said:\n{said}") from None
    finally:
        stop_run(proc)
    listed = json.loads(shequn(db, "inbox", "list", "--json").stdout)
    replied = next(i for i in listed if i["kind"] == "mention")
    assert replied["status"] == "pending" and replied["responder"] == "amy" and replied["first_response_at"]
