"""Offers and prices, the ledger's checks, coupons, commissions, the value ladder, revenue by mode, matching (pure)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from shequn.commerce import coupons, ledger, matching, offers, revenue
from shequn.commerce.offers import Product, Quote, Refusal, quote
from shequn.playbook import load_playbook
from shequn.services.shop import product_from

NOW = datetime(2026, 11, 2, 8, 0, tzinfo=UTC)


def cohort(**extra: object) -> Product:
    # Book 1549: 本社群只招募100位成员。前30位收费500元，后面70位收费1 000元 — the playbook's default cohort.
    base = load_playbook().default("commerce", "cohort")
    return Product.model_validate(
        {
            "sku": "camp-1",
            "name": "训练营第1期",
            "kind": "cohort",
            "mode": "membership",
            "price": 100000,
            **base,
            **extra,
        }
    )


def test_the_books_cohort_first_30_at_500_then_70_at_1000_and_no_101st() -> None:
    p = cohort()
    prices = []
    for sold in range(100):
        q = quote(p, sold=sold, now=NOW, member=False)
        assert isinstance(q, Quote)
        prices.append(q.amount)
    assert prices[:30] == [50000] * 30 and prices[30:] == [100000] * 70 and sum(prices) == 8_500_000
    assert quote(p, sold=100, now=NOW, member=False) == Refusal("sold_out", "0")
    # Two places across the step: one early-bird, one regular.
    q = quote(p, sold=29, now=NOW, member=False, quantity=2)
    assert isinstance(q, Quote) and q.amount == 150000 and q.tier == "early_bird"


def test_rising_prices_by_date_flash_sale_window_and_stock() -> None:
    p = Product(
        sku="late",
        name="x",
        price=30000,
        tiers=[{"until": NOW + timedelta(days=7), "price": 10000}, {"until": NOW + timedelta(days=14), "price": 20000}],
    )  # type: ignore[list-item]
    assert [quote(p, sold=0, now=NOW + timedelta(days=d), member=False).amount for d in (0, 8, 15)] == [  # type: ignore[union-attr]
        10000,
        20000,
        30000,
    ]
    flash = Product(sku="f", name="秒杀", price=990, stock=2, starts=NOW, ends=NOW + timedelta(hours=1))
    assert quote(flash, sold=0, now=NOW - timedelta(seconds=1), member=True).reason == "not_started"  # type: ignore[union-attr]
    assert isinstance(quote(flash, sold=1, now=NOW, member=True), Quote)
    assert quote(flash, sold=2, now=NOW, member=True).reason == "sold_out"  # type: ignore[union-attr]
    assert quote(flash, sold=0, now=NOW + timedelta(hours=1), member=True).reason == "ended"  # type: ignore[union-attr]


def test_member_only_first_batch_at_the_member_price() -> None:
    p = Product(sku="new", name="新品", price=19900, member_only_first=10, member_price=14900)
    assert quote(p, sold=0, now=NOW, member=False) == Refusal("members_only", "10")
    q = quote(p, sold=9, now=NOW, member=True)
    assert isinstance(q, Quote) and q.amount == 14900 and q.tier == "member_first"
    q = quote(p, sold=10, now=NOW, member=False)
    assert isinstance(q, Quote) and q.amount == 19900


def test_group_buy_and_crowdfunding_with_reward_tiers() -> None:
    gb = Product(sku="gb", name="拼团", price=5000, group_buy={"min_buyers": 3, "hours": 24})  # type: ignore[arg-type]
    assert quote(gb, sold=0, now=NOW, member=False).pending_group  # type: ignore[union-attr]
    assert offers.group_buy_state(gb, 2, NOW, NOW + timedelta(hours=23)) == "open"
    assert offers.group_buy_state(gb, 3, NOW, NOW + timedelta(hours=23)) == "formed"
    assert offers.group_buy_state(gb, 2, NOW, NOW + timedelta(hours=24)) == "failed"
    cf = Product.model_validate(
        {
            "sku": "egg",
            "name": "鸟蛋",
            "kind": "crowdfunding",
            "mode": "crowdfunding",
            "price": 4900,
            "goal": {"units": 10000, "deadline": (NOW + timedelta(days=30)).isoformat()},
            "rewards": [
                {"key": "gold", "name": "金蛋", "price": 49900, "limit": 100},
                {"key": "silver", "name": "银蛋", "price": 9900, "limit": 1000},
            ],
        }
    )
    assert quote(cf, sold=0, now=NOW, member=False, reward="bronze").reason == "unknown_reward"  # type: ignore[union-attr]
    assert quote(cf, sold=0, now=NOW, member=False, reward="gold", reward_sold={"gold": 100}).reason == (  # type: ignore[union-attr]
        "reward_sold_out"
    )
    q = quote(cf, sold=5, now=NOW, member=False, reward="silver", quantity=2)
    assert isinstance(q, Quote) and q.amount == 19800 and q.tier == "silver"
    assert offers.goal_progress(cf, raised=0, units=10000, backers=9000, now=NOW).status == "succeeded"
    assert offers.goal_progress(cf, raised=0, units=9999, backers=9000, now=NOW + timedelta(days=30)).status == "failed"
    assert quote(cf, sold=0, now=NOW + timedelta(days=30), member=False, reward="gold").reason == "ended"  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("extra", "field"),
    [
        ({"price": -1}, "price"),
        ({"price": 1.5}, "price"),
        ({"currency": "rmb"}, "currency"),
        ({"commission_bp": [8000, 3000]}, "commission_bp"),
        ({"kind": "crowdfunding"}, "goal"),
        ({"stock": 10, "tiers": [{"upto": 30, "price": 1}]}, "beyond the stock"),
        ({"starts": "2026-11-02T10:00:00"}, "time zone"),
        ({"colour": "red"}, "colour"),
    ],
)
def test_a_bad_product_is_named_with_its_field(extra: dict[str, object], field: str) -> None:
    from shequn.domain import UserError

    with pytest.raises(UserError) as err:
        product_from({"sku": "x", "name": "x", "price": 100, **extra}, where="products.yaml: product 1")
    assert "products.yaml: product 1" in str(err.value) and field in str(err.value)


def test_ledger_verdicts() -> None:
    o = ledger.OrderView("A", 19900, "CNY", "created")
    assert ledger.check_payment(None, payment_id="P", amount=1, currency="CNY").reason == "unknown_order"
    assert ledger.check_payment(o, payment_id="P", amount=19800, currency="CNY").reason == "wrong_amount"
    assert ledger.check_payment(o, payment_id="P", amount=19900, currency="USD").reason == "wrong_currency"
    ok = ledger.check_payment(o, payment_id="P", amount=19900, currency="CNY")
    assert ok.ok and ok.credit
    paid = ledger.OrderView("A", 19900, "CNY", "paid", "P")
    assert ledger.check_payment(paid, payment_id="P", amount=19900, currency="CNY").duplicate
    assert ledger.check_payment(paid, payment_id="Q", amount=19900, currency="CNY").reason == "already_paid"
    assert ledger.check_order(paid, status="refunded", amount=19900, currency="CNY").ok
    assert ledger.check_order(o, status="refunded", amount=19900, currency="CNY").reason == "bad_transition"
    cancelled = ledger.OrderView("A", 19900, "CNY", "cancelled")
    assert ledger.check_payment(cancelled, payment_id="P", amount=19900, currency="CNY").reason == "bad_transition"


def test_coupons_claims_and_discounts() -> None:
    c = coupons.Coupon("NEW10", off_bp=1000, min_amount=5000, quantity=2, members_only=True)
    assert coupons.can_claim(c, claimed=0, already=False, member=False, now=NOW) == "members_only"
    assert coupons.can_claim(c, claimed=2, already=False, member=True, now=NOW) == "all_claimed"
    assert coupons.can_claim(c, claimed=0, already=True, member=True, now=NOW) == "already_claimed"
    assert coupons.discount(c, amount=19900, currency="CNY", sku="x", now=NOW) == (1990, "")
    assert coupons.discount(c, amount=4000, currency="CNY", sku="x", now=NOW) == (0, "below_minimum")
    big = coupons.Coupon("BIG", off=100000)
    assert coupons.discount(big, amount=500, currency="CNY", sku="x", now=NOW) == (500, "")


def test_commissions_ladder_and_revenue_by_mode() -> None:
    rows = revenue.commissions(19999, "CNY", [1000, 300], ["s:a", "s:b", "s:c"])
    assert [(c.beneficiary, c.level, c.amount) for c in rows] == [("s:a", 1, 1999), ("s:b", 2, 599)]
    assert revenue.commissions(50000, "CNY", [10000], ["s:agent"])[0].amount == 50000  # 钱全归该成员 (book 1474)
    assert revenue.stage(["low", None, "mid", "free"]) == "mid" and revenue.stage([]) == ""
    assert [revenue.next_stage(s) for s in ("", "free", "high", "share")] == ["free", "low", "share", ""]
    got = revenue.by_mode(
        [
            ("membership", "CNY", "paid", 50000),
            ("membership", "CNY", "refunded", 50000),
            ("ecommerce", "CNY", "paid", 990),
            ("ecommerce", "USD", "created", 10),
        ]
    )
    assert got == {"membership": {"CNY": 50000}, "ecommerce": {"CNY": 990}}  # the refunded order keeps nothing


def test_resource_matching_pairs_needs_with_other_members_offers() -> None:
    rs = [
        matching.Resource(1, "s:a", "need", "找天使投资，做社区团购", frozenset({"投资"})),
        matching.Resource(2, "s:b", "offer", "天使投资人，关注社区电商", frozenset({"投资"})),
        matching.Resource(3, "s:c", "offer", "提供办公场地", frozenset({"场地"})),
        matching.Resource(4, "s:a", "offer", "我也能投资", frozenset({"投资"})),
    ]
    found = matching.suggest(rs)
    assert [(s.need.id, s.offer.id) for s in found] == [(1, 2)]
