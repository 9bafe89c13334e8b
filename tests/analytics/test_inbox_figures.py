"""The inbox's figures in the analysis: first-response and resolution times per community over the window, and the
diagnosis that members wait too long (book 2033: 及时回应粉丝提问)."""

from __future__ import annotations

from datetime import timedelta

from shequn.analytics.diagnosis import diagnose_community
from shequn.analytics.engine import _inbox
from shequn.analytics.model import CommunityHealth
from shequn.app import App
from shequn.domain import Message, VirtualClock, stable_id
from shequn.domain.logrow import to_ms
from shequn.services.accounts import Accounts
from shequn.services.console import Operations
from shequn.services.inbox import Inbox
from tests.conftest import T0
from tests.support.builders import join, spec


def test_inbox_times_over_the_window_and_the_diagnosis(db_url: str) -> None:
    """On SQLite and PostgreSQL: the staff tables, the items' reads and the figures."""
    clock = VirtualClock(T0)
    app = App(db_url, clock=clock)
    app.apply_spec(spec("读书会", "growth", groups=("g1",)))
    app.ingest([join(f"u{i}", T0) for i in range(4)], history=True)
    Accounts(app).create_user("amy", "correct horse battery", "operator", actor="t")
    inbox = Inbox(Operations(app))
    for i in range(4):
        clock.set(T0 + timedelta(minutes=10 * i))
        dm = Message(
            id=stable_id("dm", str(i)), at=clock.now(), platform="sandbox", actor=f"u{i}", message_id=f"m{i}",
            text="请问怎么续费", extra={"direct": True},
        )  # fmt: skip
        app.ingest([dm])
    for n, wait in ((1, 90), (2, 120), (3, 150)):  # three answered late, the fourth not at all
        item = inbox.item("读书会", n)
        assert item["messages"][0]["text"] == "请问怎么续费" and item["member"]["key"] == f"sandbox:u{n - 1}"
        clock.set(T0 + timedelta(minutes=10 * (n - 1) + wait))
        assert item["status"] == "open"
        inbox.reply("读书会", n, "在会员页续费", actor="amy")
    clock.set(T0 + timedelta(hours=5))
    with app.store.transaction() as conn:
        figures = _inbox(conn, app.ws.id, to_ms(T0), to_ms(clock.now()))
        cid = app.store.communities.ids(conn, app.ws.id)["读书会"]
    first = {"items": 4, "responded": 3, "resolved": 0, "first_response_median": 120.0, "first_response_p90": 150.0,
             "resolution_median": None, "resolution_p90": None}  # fmt: skip
    assert figures[cid] == {**first, "unanswered": 1, "staff": {"amy": {**first, "items": 3}}}
    assert inbox.staff()[0].username == "amy"
    c = CommunityHealth("读书会", "growth", "成长型", True, ["sandbox:g1"], inbox=figures[cid])
    keys = {f.key for f in diagnose_community(c, [], "en")}
    assert {"inbox_slow", "inbox_unanswered"} <= keys
    calm = CommunityHealth(
        "读书会",
        "growth",
        "成长型",
        True,
        ["sandbox:g1"],
        inbox={"items": 4, "first_response_median": 12.0, "unanswered": 0},
    )
    assert not {"inbox_slow", "inbox_unanswered"} & {f.key for f in diagnose_community(calm, [], "en")}
