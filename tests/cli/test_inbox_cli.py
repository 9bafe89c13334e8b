"""``shequn staff …`` and ``shequn inbox …`` end to end on SQLite: link, a private message opens an item, list, show,
reply, assign, resolve, times; bad input exits 2 with a message in the user's language."""

from __future__ import annotations

import json
from datetime import timedelta

import pytest

from shequn.app import App
from shequn.domain import Message, stable_id
from tests.cli.test_cli import Cli, cli  # noqa: F401  (the fixture)
from tests.conftest import T0
from tests.support.builders import join, spec


def test_staff_and_inbox_commands(cli: Cli, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: F811
    app = App(cli.db)
    app.apply_spec(spec("读书会", "growth", groups=("g1",)))
    app.ingest([join("ann", T0)], history=True)
    app.close()
    monkeypatch.setenv("SHEQUN_PASSWORD", "correct horse battery")
    assert cli("user", "create", "amy", "--role", "operator")[0] == 0
    code, out, _ = cli("staff", "link", "amy", "sandbox", "amy1")
    assert code == 0 and "amy" in out
    assert cli("staff", "serve", "amy", "读书会")[0] == 0
    code, out, _ = cli("staff", "list", "--json")
    assert {
        "username": "amy",
        "role": "operator",
        "identities": ["sandbox:amy1"],
        "communities": ["读书会"],
    } in json.loads(out)

    app = App(cli.db)
    dm = Message(
        id=stable_id("cli-dm"), at=T0 + timedelta(minutes=5), platform="sandbox", actor="ann", actor_name="Ann",
        message_id="m1", text="请问退款怎么办", extra={"direct": True},
    )  # fmt: skip
    app.ingest([dm])
    app.close()

    code, out, _ = cli("inbox", "list", "--json")
    [item] = json.loads(out)
    assert (item["kind"], item["assignee"], item["status"]) == ("direct", "amy", "open")
    code, out, _ = cli("inbox", "list")
    assert "读书会#1" in out and "私聊" in out
    code, out, _ = cli("inbox", "show", "1")
    assert code == 0 and "请问退款怎么办" in out and "成员 ann" in out and "【读书会群规】" in out
    code, out, _ = cli("inbox", "reply", "读书会#1", "请在会员页申请退款", "--as", "amy")
    assert code == 0 and "1 条进发送队列" in out
    assert cli("inbox", "assign", "1", "amy")[0] == 0
    assert cli("inbox", "note", "1", "已查订单，退款三天内到账", "--as", "amy")[0] == 0
    code, out, _ = cli("inbox", "show", "1")
    assert "备注" in out and "已查订单，退款三天内到账" in out
    assert cli("inbox", "resolve", "1", "--as", "amy")[0] == 0
    code, out, _ = cli("inbox", "list", "--status", "resolved", "--json")
    [done] = json.loads(out)
    assert done["status"] == "resolved" and done["responder"] == "amy" and done["first_response_at"]
    code, out, _ = cli("inbox", "times", "--json")
    assert json.loads(out)["staff"]["amy"]["resolved"] == 1
    # Bad input: exit 2, said in the user's language, nothing changed.
    code, _, err = cli("inbox", "show", "读书会#x")
    assert code == 2 and "不是待办编号" in err
    code, _, err = cli("inbox", "list", "--status", "closed")
    assert code == 2 and "closed" in err
    code, _, err = cli("inbox", "reply", "读书会#9", "hi")
    assert code == 2
