"""The console's growth page and the growth / commerce API (issue 9), on the real web application."""

from __future__ import annotations

from datetime import timedelta

from shequn.domain import Join, JoinMethod, stable_id
from shequn.services.growth import Growth
from shequn.services.shop import Shop
from tests.conftest import T0
from tests.web.conftest import Site


def setup(site: Site) -> str:
    gr = Growth(site.app)
    code = gr.link("读书会", "u1").code
    gr.contest("读书会", "weekly", start=T0)
    site.app.ingest(
        [
            Join(
                id=stable_id("gj", str(i)),
                at=T0 + timedelta(hours=i),
                platform="sandbox",
                group="g1",
                actor=f"x{i}",
                actor_name=f"新人{i}",
                method=JoinMethod.SELF,
                invite_code=code,
            )
            for i in range(3)
        ]
    )
    shop = Shop(site.app)
    shop.put_product({"sku": "camp", "name": "训练营", "community": "读书会", "mode": "membership", "price": 19900})
    return code


def test_board_settlement_and_measures_through_the_api(site: Site) -> None:
    setup(site)
    c = site.client()
    board = c.get("/api/v1/growth/contests/weekly/board", headers=site.bearer("viewer")).json()
    assert board["ranks"][0]["referrer"] == "sandbox:u1" and board["ranks"][0]["confirmed"] == 3
    assert board["ranks"][0]["name"] == "u1"
    assert c.post("/api/v1/growth/settle", headers=site.bearer("viewer")).status_code == 403
    done = c.post("/api/v1/growth/settle", headers=site.bearer("operator")).json()
    assert done == []  # the clock (T0 + 2 days) is before Friday 17:00: nothing ended
    site.clock.advance(timedelta(days=3))
    done = c.post("/api/v1/growth/settle", headers=site.bearer("operator")).json()
    assert [d["winners"] for d in done] == [["sandbox:u1"]]
    assert c.post("/api/v1/growth/settle", headers=site.bearer("operator")).json() == []
    order = c.post("/api/v1/commerce/orders", json={"sku": "camp", "member": "u2"}, headers=site.bearer("operator"))
    assert order.status_code == 200 and order.json()["amount"] == 19900
    bad = c.post("/api/v1/commerce/orders", json={"sku": "nope", "member": "u2"}, headers=site.bearer("operator"))
    assert bad.status_code == 422 and "nope" in bad.json()["detail"]
    m = c.get("/api/v1/commerce/measures", headers=site.bearer("viewer")).json()
    assert m["communities"]["读书会"]["orders"]["created"] == 1


def test_the_growth_page_shows_boards_measures_and_refusals(site: Site) -> None:
    setup(site)
    from tests.web.test_webhooks import post

    post(
        site,
        "/api/v1/webhooks/youzan/payments",
        {"payment_id": "P-404", "amount": 100, "currency": "CNY", "order_id": "nope"},
    )
    for lang, words in (
        ("zh-CN", ("增长与变现", "推荐榜 weekly", "未知订单")),
        ("en", ("Growth and commerce", "unknown order")),
    ):
        r = site.client().get("/growth", params={"lang": lang}, headers=site.session("viewer"))
        assert r.status_code == 200
        for w in words:
            assert w in r.text, (lang, w)
        assert 'data-contest="weekly"' in r.text and "训练营" in r.text
        assert 'class="grid funnel-channel"' in r.text and 'class="grid funnel-cohort"' in r.text
    assert 'id="settle"' not in site.client().get("/growth", headers=site.session("viewer")).text
    assert 'id="settle"' in site.client().get("/growth", headers=site.session("operator")).text
