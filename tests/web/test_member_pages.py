"""Member pages over HTTP (the real application, SQLite): the signed link (tampered, expired, rotated, another
workspace's member), every page in both languages, and every action a member takes written as an event that the
policies decide on, idempotent on a double submit, kept by a replay."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from datetime import timedelta
from importlib import resources
from pathlib import Path

import pytest
import zxingcpp
from fastapi.testclient import TestClient
from PIL import Image

from shequn.app import App
from shequn.domain import Attendance, CheckIn, FormAnswer, UserError, VirtualClock
from shequn.engine import replay
from shequn.i18n import catalogue
from shequn.services.console import Operations
from shequn.services.member import MemberLink, MemberPages, sign
from shequn.web import create_app
from tests.conftest import T0
from tests.support.builders import join
from tests.web.member_site import COMMUNITY, link, populate

PAGES = ("", "/boards", "/checkin", "/rules", "/activities", "/invite", "/rewards")


@pytest.fixture
def app(tmp_path: Path) -> Iterator[App]:
    a = App(f"sqlite:///{tmp_path / 'm.db'}", clock=VirtualClock(T0 + timedelta(days=1)))
    populate(a)
    try:
        yield a
    finally:
        a.close()


@pytest.fixture
def client(app: App) -> TestClient:
    return TestClient(create_app(app), base_url="https://testserver", follow_redirects=False)


def form(html: str) -> dict[str, str]:
    return dict(re.findall(r'name="(csrf|nonce)" value="([^"]+)"', html))


def member(app: App, key: str) -> object:
    return app.saved_state().community(COMMUNITY).members[key]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_every_page_in_both_languages(app: App, client: TestClient, lang: str) -> None:
    base = link(app, "alice")
    for page in PAGES:
        r = client.get(base + page, params={"lang": lang})
        assert r.status_code == 200, (page, r.text[:300])
        assert "<script" not in r.text and "://" not in r.text.split("<body>")[0]  # no external script or font
        assert len(r.content) < 100_000
        assert "member." not in r.text, f"raw key on {page}"  # every text translated
        assert r.headers["referrer-policy"] == "no-referrer"
    client.get(base, params={"lang": lang})
    assert f'<html lang="{lang}">' in client.get(base + "/boards").text  # the choice holds without ?lang=
    card = client.get(base, params={"lang": lang}).text
    assert "No.1" in card and "Alice 李" in card
    assert ("Points ledger" if lang == "en" else "积分明细") in card
    poster = client.get(base + "/poster.png")
    assert poster.status_code == 200 and poster.headers["content-type"] == "image/png"
    invite = re.search(r"data-url>([^<]+)<", client.get(base + "/invite").text)
    assert invite is not None
    assert [c.text for c in zxingcpp.read_barcodes(Image.open(io.BytesIO(poster.content)))] == [invite.group(1)]


def test_tampered_expired_and_rotated_links_are_refused(app: App, client: TestClient) -> None:
    base = link(app, "alice")
    token = base.removeprefix("/m/")
    payload, _, sig = token.partition(".")
    forged = MemberLink(app.ws.id, COMMUNITY, "sandbox:bob", 2_000_000_000)
    forged_payload = sign(b"not the key", forged).partition(".")[0]
    for bad in (f"{forged_payload}.{sig}", f"{payload}.{sig[:-2]}AA", payload, "x.y", "%E4%BD%A0"):
        r = client.get(f"/m/{bad}", headers={"accept-language": "en"})
        assert r.status_code == 403
        assert "not valid or has expired" in r.text and "Bob" not in r.text and "signature" not in r.text
    assert client.get(f"/m/{forged_payload}.{sig}", headers={"accept-language": "zh-CN"}).text.count("链接无效") >= 1
    short = link(app, "alice", days=1)
    assert client.get(short).status_code == 200
    app.clock.advance(timedelta(days=1, seconds=1))  # type: ignore[attr-defined]
    assert client.get(short).status_code == 403
    assert client.get(base).status_code == 200
    MemberPages(Operations(app)).rotate_key(actor="test")
    assert client.get(base).status_code == 403
    assert client.get(link(app, "alice")).status_code == 200


def test_a_link_shows_its_member_only(app: App, client: TestClient) -> None:
    alice, bob = link(app, "alice"), link(app, "bob")
    bob_card = client.get(bob).text
    assert "Bob 王" in bob_card and "Alice 李" not in bob_card and "No.2" in bob_card
    invite = client.get(bob + "/invite").text
    assert "Carol" not in invite  # Carol is Alice's referral, not Bob's
    assert "Carol" in client.get(alice + "/invite").text
    boards = client.get(bob + "/boards", params={"lang": "en"}).text
    assert "ahead of" in boards and "Alice 李" in boards  # leaderboards name members (display names by default)
    assert "sandbox:" not in boards and "alice" not in boards  # never platform ids


def test_anonymised_leaderboard_names(app: App, client: TestClient) -> None:
    data = app.community(COMMUNITY).spec.model_dump()
    app.apply_spec(
        type(app.community(COMMUNITY).spec).model_validate({**data, "privacy": {"leaderboard_names": "anonymised"}})
    )
    boards = client.get(link(app, "bob") + "/boards").text
    assert "Alice 李" not in boards and "A**" in boards


def test_actions_are_events_decided_by_the_policies(app: App, client: TestClient) -> None:
    base = link(app, "bob")
    before = member(app, "sandbox:bob")
    # check-in: a CheckIn event; the check-in policy awards its points; a double submit is one event
    page = client.get(base + "/checkin").text
    fields = form(page)
    for _ in range(2):
        r = client.post(base + "/checkin", data=fields)
        assert r.status_code == 303
    after = member(app, "sandbox:bob")
    assert after.points > before.points  # type: ignore[attr-defined]
    checkins = [e for e in app.events() if isinstance(e, CheckIn) and e.actor == "bob"]
    assert len(checkins) == 1
    assert "data-checked" in client.get(base + "/checkin").text
    # a post without the link's CSRF token is refused, and nothing is written
    for bad in ({"csrf": "forged-token", "nonce": "abcdefgh12"}, {}):
        r = client.post(base + "/rules", data=bad)
        assert r.status_code == 403 and "member/" not in r.text and "链接无效" in r.text
    assert not [e for e in app.events() if isinstance(e, FormAnswer) and e.actor == "bob"]
    # rules: the FormAnswer the engine records as the accepted version
    client.post(base + "/rules", data=form(client.get(base + "/rules").text))
    assert member(app, "sandbox:bob").rules_version == 2  # type: ignore[attr-defined]
    assert "data-accepted" in client.get(base + "/rules").text
    # registration within the capacity, then a third member waits
    client.post(base + "/activities/meetup", data=form(client.get(base + "/activities").text))
    page = client.get(base + "/activities").text
    assert 'data-status="registered"' in page and "<svg" in page  # the QR ticket
    m0 = link(app, "m0")
    client.post(m0 + "/activities/meetup", data=form(client.get(m0 + "/activities").text))
    m1 = link(app, "m1")
    client.post(m1 + "/activities/meetup", data=form(client.get(m1 + "/activities").text))
    assert 'data-status="waitlisted"' in client.get(m1 + "/activities").text
    assert len([e for e in app.events() if isinstance(e, Attendance)]) == 3
    # redemption: the points policy spends the points and opens a staff task
    points = member(app, "sandbox:bob").points  # type: ignore[attr-defined]
    fields = {**form(client.get(base + "/rewards").text), "item": "书签"}
    done = [client.post(base + "/rewards", data=fields).headers["location"].rpartition("=")[2] for _ in range(2)]
    assert done == ["redeemed", "unchanged"]
    unknown = {**form(client.get(base + "/rewards").text), "item": "金条"}
    assert client.post(base + "/rewards", data=unknown).headers["location"].endswith("done=refused")
    assert member(app, "sandbox:bob").points == points - 5  # type: ignore[attr-defined]
    with app.store.transaction() as conn:
        tasks = app.store.tasks.list(conn, app.ws.id, status="open", limit=100)
    assert any("书签" in t.title for t in tasks)
    # the replay of the log gives the same state
    with app.store.transaction() as conn:
        cfg = app.workspace_config(conn)
    assert replay(cfg, app.events()).state.to_dict() == app.saved_state().to_dict()


def test_cli_prints_a_link_and_rotates_the_key(app: App, client: TestClient, tmp_path: Path) -> None:
    from typer.testing import CliRunner

    from shequn.cli.main import app as cli

    db = str(app.store.db.engine.url)
    runner = CliRunner()
    out = runner.invoke(cli, ["--db", db, "member", "page-url", "bob", "-c", COMMUNITY,
                              "--base-url", "https://club.example"])  # fmt: skip
    assert out.exit_code == 0, out.output
    url = re.search(r"https://club\.example(/m/\S+)", out.output)
    assert url is not None
    assert client.get(url.group(1)).status_code == 200
    out = runner.invoke(cli, ["--db", db, "member", "page-url", "bob", "-c", COMMUNITY, "--send", "--days", "7",
                              "--base-url", "https://club.example"])  # fmt: skip
    assert out.exit_code == 0, out.output
    sent = re.search(r"https://club\.example/m/\S+", out.output)
    with app.store.transaction() as conn:
        dms = [i.action for i in app.store.actions.items(conn, app.ws.id) if i.action.policy == "member_pages"]
    assert len(dms) == 1 and dms[0].target == "bob" and sent is not None
    assert sent.group(0) in dms[0].text and "7 天" in dms[0].text  # type: ignore[attr-defined]
    out = runner.invoke(cli, ["--db", db, "member", "page-url", "bob", "-c", COMMUNITY, "--send"])
    assert isinstance(out.exception, UserError) and out.exception.exit_code == 2  # a DM needs the full address
    out = runner.invoke(
        cli, ["--db", db, "member", "community-url", "-c", COMMUNITY, "--base-url", "https://c.example"]
    )
    assert out.exit_code == 0, out.output
    community = re.search(r"https://c\.example(/m/c/\S+)", out.output)
    assert community is not None and client.get(community.group(1)).status_code == 200
    out = runner.invoke(cli, ["--db", db, "member", "rotate-key"])
    assert out.exit_code == 0, out.output
    assert client.get(url.group(1)).status_code == 403
    out = runner.invoke(cli, ["--db", db, "member", "page-url", "nobody", "-c", COMMUNITY])
    assert isinstance(out.exception, UserError) and out.exception.exit_code == 2  # no such member


def test_check_in_before_it_opens_says_when(app: App, client: TestClient) -> None:
    data = app.community(COMMUNITY).spec.model_dump()
    data["policies"]["checkin"] = {"opens_at": "23:00"}  # the clock says 16:00 in Shanghai
    app.apply_spec(type(app.community(COMMUNITY).spec).model_validate(data))
    page = client.get(link(app, "bob") + "/checkin", params={"lang": "en"}).text
    assert "opens at 23:00" in page and "data-action" not in page


def test_member_template_keys_are_in_the_catalogue() -> None:
    known = catalogue()
    folder = resources.files("shequn.web").joinpath("templates").joinpath("member")
    missing = []
    for item in folder.iterdir():
        for key, joined in re.findall(r"t\('(member\.[a-z_.0-9]+)'\s*([+~]?)", item.read_text(encoding="utf-8")):
            if (joined and not any(k.startswith(key) for k in known)) or (not joined and key not in known):
                missing.append(f"{item.name}: {key}")
    assert not missing, missing


def test_one_community_loads_as_the_whole_workspace_has_it(app: App) -> None:
    with app.store.transaction() as conn:
        alone = app.store.state.load_community(conn, app.ws.id, COMMUNITY)
        assert app.store.state.load_community(conn, app.ws.id, "no such community") is None
    assert alone is not None and alone.to_dict() == app.saved_state().community(COMMUNITY).to_dict()


def dms(app: App, member: str) -> list[str]:
    with app.store.transaction() as conn:
        items = app.store.actions.items(conn, app.ws.id)
    return [i.action.text for i in items if i.action.policy == "member_pages" and i.action.target == member]  # type: ignore[attr-defined]


@pytest.mark.parametrize("lang", ["zh-CN", "en"])
def test_a_community_link_opens_a_members_page_with_a_one_time_code(app: App, client: TestClient, lang: str) -> None:
    pages = MemberPages(Operations(app))
    token, _ = pages.community_link(COMMUNITY)
    page = client.get(f"/m/c/{token}", params={"lang": lang})
    assert page.status_code == 200 and 'name="who"' in page.text and "<script" not in page.text
    csrf = form(page.text)["csrf"]
    # the answer is the same whether or not the name is a member's: the page tells nobody who is in the community
    known = client.post(f"/m/c/{token}", data={"csrf": csrf, "who": "Bob 王"}, params={"lang": lang})
    unknown = client.post(f"/m/c/{token}", data={"csrf": csrf, "who": "Mallory"}, params={"lang": lang})
    assert known.status_code == unknown.status_code == 200
    assert known.text.replace("Bob 王", "Mallory") == unknown.text
    sent = dms(app, "bob")
    assert len(sent) == 1 and not dms(app, "Mallory")
    code = re.search(r"\b(\d{6})\b", sent[0])
    assert code is not None
    wrong = "000000" if code.group(1) != "000000" else "111111"
    r = client.post(f"/m/c/{token}/verify", data={"csrf": csrf, "who": "bob", "code": wrong}, params={"lang": lang})
    assert r.status_code == 403 and "data-wrong" in r.text
    r = client.post(f"/m/c/{token}/verify", data={"csrf": csrf, "who": "bob", "code": code.group(1)})
    assert r.status_code == 303
    own = client.get(r.headers["location"], params={"lang": lang})
    assert own.status_code == 200 and "Bob 王" in own.text
    # the community link opens no member's page, a member's link is no community link, a forged form is refused
    assert client.get(f"/m/{token}").status_code == 403
    assert client.get(f"/m/c/{link(app, 'bob').removeprefix('/m/')}").status_code == 403
    assert client.post(f"/m/c/{token}", data={"csrf": "x", "who": "bob"}).status_code == 403
    # five tries per member in 15 minutes, the right code included; then even the right code is refused
    for _ in range(4):
        client.post(f"/m/c/{token}/verify", data={"csrf": csrf, "who": "bob", "code": wrong})
    r = client.post(f"/m/c/{token}/verify", data={"csrf": csrf, "who": "bob", "code": code.group(1)})
    assert r.status_code == 403
    # a code expires with the window after its own; rotating the key revokes community links
    app.clock.advance(timedelta(minutes=40))  # type: ignore[attr-defined]
    r = client.post(f"/m/c/{token}/verify", data={"csrf": csrf, "who": "bob", "code": code.group(1)})
    assert r.status_code == 403
    pages.rotate_key(actor="test")
    assert client.get(f"/m/c/{token}").status_code == 403


def test_the_policies_decide_a_page_action_as_they_would_in_the_chat(app: App, client: TestClient) -> None:
    # rules in mute mode: a newcomer is muted until they accept, and accepting on the page unmutes them
    data = app.community(COMMUNITY).spec.model_dump()
    data["policies"]["rules"] = {"mode": "mute"}
    app.apply_spec(type(app.community(COMMUNITY).spec).model_validate(data))
    app.ingest([join("dave", app.clock.now(), name="Dave")])

    def kinds(target: str) -> list[str]:
        with app.store.transaction() as conn:
            items = app.store.actions.items(conn, app.ws.id)
        return [i.action.kind.value for i in items if i.action.target == target]

    assert "mute" in kinds("dave") and "unmute" not in kinds("dave")
    dave = link(app, "dave")
    client.post(dave + "/rules", data=form(client.get(dave + "/rules").text))
    assert "unmute" in kinds("dave")
    # a redemption beyond the member's points (a forged form: the page disables the button) is refused by the policy
    m2 = link(app, "m2")
    points = member(app, "sandbox:m2").points  # type: ignore[attr-defined]
    assert points < 500 and "disabled" in client.get(m2 + "/rewards").text
    client.post(m2 + "/rewards", data={**form(client.get(m2 + "/rewards").text), "item": "课程优惠券"})
    assert member(app, "sandbox:m2").points == points  # type: ignore[attr-defined]
    with app.store.transaction() as conn:
        tasks = app.store.tasks.list(conn, app.ws.id, status="open", limit=100)
        said = [i.action for i in app.store.actions.items(conn, app.ws.id) if i.action.policy == "points"]
    assert not [t for t in tasks if "课程优惠券" in t.title]
    assert [a.key for a in said if a.key.endswith(":refused")]  # the policy answered, as it does in the group
