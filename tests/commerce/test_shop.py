"""Selling end to end on the real store (SQLite and PostgreSQL): a paid cohort with early-bird prices admitted by the
admission policy, coupons claimed and redeemed, commissions credited once and voided by a refund, the value ladder,
the measures, and orders imported through the same checks as the webhooks."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest

from shequn.app import App
from shequn.domain import UserError, VirtualClock
from shequn.services.shop import RejectedError, Shop
from tests.cli.test_cli import Cli
from tests.conftest import T0
from tests.growth.test_growth_ops import actions
from tests.support.builders import join, spec

CAMP = {
    "sku": "camp-1",
    "name": "训练营第1期",
    "community": "训练营",
    "kind": "cohort",
    "mode": "membership",
    "ladder": "mid",
    "price": 100000,
    "stock": 100,
    "purpose": "entry_fee",
    "tiers": [{"upto": 30, "price": 50000, "label": "early_bird"}, {"upto": 100, "price": 100000}],
    "commission_bp": [1000],
}


@pytest.fixture
def shop(db_url: str) -> Shop:
    app = App(db_url, clock=VirtualClock(T0))
    app.apply_spec(spec("训练营", "growth", threshold={"kind": "paid", "params": {"fee": 40000}}))
    app.ingest([join("alice", T0, name="Alice")], history=True)  # known, refused until she pays
    s = Shop(app)
    s.put_product(CAMP)
    return s


def pay(s: Shop, order_id: str, amount: int, payment_id: str, buyer: str) -> None:
    s.deliver(
        "payment",
        {
            "payment_id": payment_id,
            "amount": amount,
            "currency": "CNY",
            "order_id": order_id,
            "buyer_platform": "sandbox",
            "buyer_id": buyer,
        },
        source="shequn",
    )


def test_a_paid_cohort_admits_payers_credits_the_referrer_once_and_a_refund_voids_it(shop: Shop) -> None:
    s = shop
    o = s.buy("camp-1", "sandbox:p1", referrer="sandbox:alice")
    assert (o.amount, o.tier, o.status) == (50000, "early_bird", "created")
    with pytest.raises(RejectedError) as err:
        pay(s, o.order_id, 49900, "W-1", "p1")
    assert err.value.reason == "wrong_amount"
    pay(s, o.order_id, 50000, "W-1", "p1")
    pay(s, o.order_id, 50000, "W-1", "p1")  # the same delivery again: a duplicate, nothing more
    with pytest.raises(RejectedError):
        pay(s, o.order_id, 50000, "W-2", "p1")  # a second payment for a paid order
    m = s.measures("训练营")
    assert m["communities"]["训练营"]["revenue"] == {"CNY": 50000}
    assert m["commissions"] == [
        {"beneficiary": "sandbox:alice", "currency": "CNY", "orders": 1, "due": 5000, "void": 0}
    ]
    # The payment was an entry fee in the community's group: the admission policy lets p1 in, not p2.
    s.app.clock.advance(timedelta(hours=1))  # type: ignore[attr-defined]
    s.app.ingest([join("p1", T0 + timedelta(hours=1)), join("p2", T0 + timedelta(hours=1))])
    members = s.app.saved_state().communities["训练营"].members
    assert members["sandbox:p1"].number > 0 and members["sandbox:p1"].active
    assert members["sandbox:p2"].number == 0  # refused: removed and told why (the fee)
    removed = [p["target"] for _k, _s, p in actions(s.app, "remove")]
    assert removed == ["p2"]
    assert "stage:mid" in members["sandbox:p1"].tags  # the value ladder
    # The shop refunds: the commission is void, the revenue nets out.
    s.deliver(
        "order",
        {
            "order_id": o.order_id,
            "status": "refunded",
            "amount": 50000,
            "currency": "CNY",
            "buyer_platform": "sandbox",
            "buyer_id": "p1",
        },
        source="shequn",
    )
    m = s.measures("训练营")
    assert m["commissions"][0]["due"] == 0 and m["commissions"][0]["void"] == 5000
    assert m["communities"]["训练营"]["revenue"] == {"CNY": 0}


def test_early_bird_places_run_out_then_the_regular_price(shop: Shop) -> None:
    s = shop
    s.put_product({**CAMP, "stock": 3, "tiers": [{"upto": 2, "price": 50000, "label": "early_bird"}]})
    amounts = [s.buy("camp-1", f"sandbox:b{i}").amount for i in range(3)]
    assert amounts == [50000, 50000, 100000]
    with pytest.raises(UserError, match="camp-1"):
        s.buy("camp-1", "sandbox:b9")
    assert s.status("camp-1")["left"] == 0


def test_coupon_claim_to_purchase(shop: Shop) -> None:
    s = shop
    s.put_coupon({"code": "EARLY", "community": "训练营", "sku": "camp-1", "off": 10000, "quantity": 1})
    with pytest.raises(UserError):
        s.buy("camp-1", "Alice", coupon="EARLY")  # not claimed
    assert s.claim("EARLY", "Alice") == "sandbox:alice"
    with pytest.raises(UserError):
        s.claim("EARLY", "sandbox:zed")  # the only one is taken
    o = s.buy("camp-1", "Alice", coupon="EARLY")
    assert (o.amount, o.discount) == (40000, 10000)
    with pytest.raises(UserError):
        s.buy("camp-1", "Alice", coupon="EARLY")  # used
    coupons = s.measures("训练营")["communities"]["训练营"]["coupons"]
    assert (coupons["claimed"], coupons["purchased"]) == (1, 0)
    pay(s, o.order_id, 40000, "W-9", "alice")
    coupons = s.measures("训练营")["communities"]["训练营"]["coupons"]
    assert (coupons["claimed"], coupons["purchased"], coupons["rate"]) == (1, 1, 1.0)
    s.app.ingest([join("alice", T0 + timedelta(hours=2), name="Alice")])  # she paid: admitted now
    m = s.measures("训练营")["communities"]["训练营"]
    assert m["members"] == 1 and m["buyers"] == 1
    assert m["revenue_per_member"] == {"CNY": 40000} and m["revenue_by_mode"] == {"membership": {"CNY": 40000}}
    ladder = {x["stage"]: x for x in m["ladder"]}
    assert ladder["mid"]["members"] == 1 and ladder["mid"]["next"] == "high"


def test_import_checks_each_line_like_a_webhook(
    shop: Shop, tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(db_url, capsys)
    f = tmp_path / "orders.csv"
    f.write_text(
        "kind,order_id,payment_id,status,amount,currency,buyer_platform,buyer_id\n"
        "order,Y-1,,paid,19900,CNY,sandbox,alice\n"
        "payment,Y-2,PX,,100,CNY,sandbox,alice\n"
        "order,Y-1,,paid,19900,CNY,sandbox,alice\n",
        encoding="utf-8",
    )
    code, out, err = cli("shop", "import", str(f), "--source", "youzan", "--json")
    assert code == 0, err
    assert '"accepted":1,"duplicate":1,"rejected":1' in out and "unknown_order" in out
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"kind": "order", "order_id": "Z", "amount": 1.5, "currency": "CNY"}\n', encoding="utf-8")
    code, out, err = cli("shop", "import", str(bad), "--source", "youzan")
    assert code == 2 and "bad.jsonl:1: amount" in err and "Traceback" not in err


def test_bad_product_file_names_the_product_and_writes_nothing(
    tmp_path: Path, db_url: str, capsys: pytest.CaptureFixture[str]
) -> None:
    cli = Cli(db_url, capsys)
    f = tmp_path / "products.yaml"
    f.write_text("- {sku: ok, name: 好, price: 100}\n- {sku: bad, name: 坏, price: -5}\n", encoding="utf-8")
    code, _out, err = cli("shop", "apply", str(f))
    assert code == 2 and "product 2 (bad)" in err and "price" in err
    code, out, _err = cli("shop", "list", "--json")
    assert code == 0 and out.strip() == "[]"


def test_a_group_buy_that_does_not_form_cancels_and_refunds(shop: Shop) -> None:
    s = shop
    s.put_product(
        {
            "sku": "gb",
            "name": "拼团水果",
            "community": "训练营",
            "price": 5000,
            "group_buy": {"min_buyers": 3, "hours": 24},
        }
    )
    a, b = s.buy("gb", "sandbox:g1"), s.buy("gb", "sandbox:g2")
    pay(s, a.order_id, 5000, "GB-1", "g1")
    assert [r["state"] for r in s.group_buy_check()] == ["open"]
    s.app.clock.advance(timedelta(hours=25))  # type: ignore[attr-defined]
    assert [r["state"] for r in s.group_buy_check()] == ["failed"]
    s.group_buy_check()  # again: nothing more
    status = {o.order_id: o.status for o in s.orders(sku="gb")}
    assert status == {a.order_id: "paid", b.order_id: "cancelled"}
    refunds = [p for _k, _s, p in actions(s.app, "open_staff_task") if p["policy"] == "group_buy"]
    assert len(refunds) == 1 and a.order_id in str(refunds[0]["title"])
