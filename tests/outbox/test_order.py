"""Enforcement before courtesy: an ad account's ad is deleted and the account banned before the rules DM and the
welcome go anywhere, and a member removed in the same batch is not welcomed at all."""

from __future__ import annotations

import asyncio
from datetime import timedelta
from pathlib import Path

from shequn.connectors.fake import FilePlatformConnector
from shequn.domain import Ban, DeleteMessage, DirectMessage, Post
from tests.outbox.conftest import T0, documented, policies, runner, shown_keys, workspace
from tests.support.builders import join, msg


def test_deletion_and_ban_go_before_the_welcome_and_the_rules_dm(sqlite_url: str, tmp_path: Path) -> None:
    app = workspace(sqlite_url, groups=1)
    common = {"community": "读书会", "platform": "fake"}
    decided = [  # in the order the policies decided them: the join's courtesy, then the first message's ad
        Post(key="welcome", at=T0, group="g0", target="newbie", text="欢迎", **common),
        DirectMessage(key="rules-dm", at=T0, target="newbie", text="群规", **common),
        Post(key="guide", at=T0, group="g0", text="新人必读", **common),
        DeleteMessage(key="delete", at=T0 + timedelta(seconds=1), group="g0", message_id="m1", **common),
        Ban(key="ban", at=T0 + timedelta(seconds=1), group="g0", target="acct", **common),
    ]
    with app.store.transaction() as conn:
        app.enqueue_actions(conn, decided)
    app.clock.advance(timedelta(seconds=2))  # type: ignore[attr-defined]
    fake = FilePlatformConnector(tmp_path / "shown.jsonl")
    pol = policies(fake={"limits": [documented(1, 1, "group"), documented(1, 1, "bot")]})  # one a second
    asyncio.run(runner(app, fake, pol=pol).run(until_idle=True))
    shown = shown_keys(fake.path)
    assert sorted(shown) == sorted(a.key for a in decided)
    assert shown[:2] == ["delete", "ban"], shown
    assert shown.index("welcome") < shown.index("guide")  # the rest keep their order
    app.close()


def test_a_member_removed_in_the_same_batch_gets_no_welcome_or_rules_dm(sqlite_url: str) -> None:
    app = workspace(sqlite_url, groups=1)
    ad = msg("acct", T0 + timedelta(seconds=2), "加我薇 lily2023 有好货", group="g0", platform="fake")
    report = app.ingest(
        [
            join("u1", T0, group="g0", platform="fake"),
            join("acct", T0 + timedelta(seconds=1), group="g0", platform="fake", name="广告号"),
            ad,
        ]
    )
    with app.store.transaction() as conn:
        items = app.store.actions.items(conn, app.ws.id)
    about_acct = [i.action for i in items if i.action.target == "acct" or "acct" in getattr(i.action, "mentions", ())]
    assert {a.kind.value for a in about_acct} == {"ban"}, [(a.kind.value, a.policy) for a in about_acct]
    assert any(i.action.kind.value == "delete_message" for i in items)
    assert any(i.action.target == "u1" and i.action.policy == "welcome" for i in items)  # others are welcomed
    assert report.actions == len(items)
    app.close()
