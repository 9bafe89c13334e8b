"""Shop webhooks: signed with the shop's own secret over method, path and body, verified before the body is read,
deduplicated (across shops too), money as integer minor units."""

from __future__ import annotations

import time

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.web.security import sign, verify_signature
from tests.web.conftest import Site, asgi_post

ORDER = {
    "order_id": "A-1001",
    "status": "paid",
    "amount": 19900,
    "currency": "CNY",
    "product": "VR 眼镜",
    "buyer_platform": "sandbox",
    "buyer_id": "u1",
    "buyer_name": "成员1",
}


def _shop(path: str) -> str:
    return path.split("/")[4]  # /api/v1/webhooks/<shop>/orders


def post(site: Site, path: str, body: dict[str, object], *, secret: str | None = None, ts: int | None = None):  # type: ignore[no-untyped-def]
    raw = orjson.dumps(body)
    secret = secret or site.accounts.webhook_secret(_shop(path))
    header = sign(secret, "POST", path, raw, ts if ts is not None else int(time.time()))
    return site.client().post(
        path, content=raw, headers={"X-Shequn-Signature": header, "Content-Type": "application/json"}
    )


def orders(site: Site) -> list[dict[str, object]]:
    r = site.client().get("/api/v1/events", params={"kind": "order"}, headers=site.bearer("viewer"))
    return [e["event"] for e in r.json()]


def test_a_signed_order_is_logged_once(site: Site) -> None:
    r = post(site, "/api/v1/webhooks/youzan/orders", ORDER)
    assert r.status_code == 200 and r.json()["duplicate"] is False
    again = post(site, "/api/v1/webhooks/youzan/orders", ORDER)
    assert again.json() == {"event_id": r.json()["event_id"], "duplicate": True}
    logged = orders(site)
    assert len(logged) == 1
    assert logged[0]["amount"] == 19900 and logged[0]["currency"] == "CNY" and logged[0]["actor"] == "u1"
    # A new status of the same order is a new fact.
    assert post(site, "/api/v1/webhooks/youzan/orders", {**ORDER, "status": "refunded"}).json()["duplicate"] is False
    assert len(orders(site)) == 2
    audit = site.client().get("/api/v1/audit", headers=site.bearer("owner")).json()
    assert any(a["actor"] == "webhook:youzan" and a["verb"] == "webhook.order" for a in audit)


def test_payments(site: Site) -> None:
    created = {**ORDER, "status": "created", "amount": 990, "currency": "USD"}
    assert post(site, "/api/v1/webhooks/shop/orders", created).status_code == 200
    body = {"payment_id": "P-1", "amount": 990, "currency": "USD", "order_id": "A-1001", "buyer_id": "u2"}
    assert post(site, "/api/v1/webhooks/shop/payments", body).json()["duplicate"] is False
    r = site.client().get("/api/v1/events", params={"kind": "payment"}, headers=site.bearer("viewer"))
    [event] = [e["event"] for e in r.json()]
    assert event["amount"] == 990 and event["currency"] == "USD" and event["payment_id"] == "P-1"
    # A payment with no order (an entry fee, a membership) has nothing to check against; once only.
    fee = {"payment_id": "P-2", "amount": 9900, "currency": "CNY", "purpose": "entry_fee", "buyer_id": "u3"}
    assert post(site, "/api/v1/webhooks/shop/payments", fee).json()["duplicate"] is False
    assert post(site, "/api/v1/webhooks/shop/payments", fee).json()["duplicate"] is True


def rejections(site: Site) -> list[str]:
    from shequn.services.shop import Shop

    return [r["reason"] for r in Shop(site.app).rejections()]


def paid_total(site: Site) -> int:
    from shequn.services.shop import Shop

    return sum(o.amount for o in Shop(site.app).orders() if o.status == "paid")


def test_the_ledger_refuses_unknown_orders_wrong_amounts_and_double_payments(site: Site) -> None:
    pay = {
        "payment_id": "P-9",
        "amount": 19900,
        "currency": "CNY",
        "order_id": "B-1",
        "buyer_id": "u1",
        "buyer_platform": "sandbox",
    }
    r = post(site, "/api/v1/webhooks/shop/payments", pay)
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "unknown_order"
    created = {**ORDER, "order_id": "B-1", "status": "created"}
    assert post(site, "/api/v1/webhooks/shop/orders", created).status_code == 200
    # The same order reported again with another amount is a conflict, not a new order.
    r = post(site, "/api/v1/webhooks/shop/orders", {**created, "amount": 100})
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "conflict"
    r = post(site, "/api/v1/webhooks/shop/payments", {**pay, "amount": 19800})
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "wrong_amount"
    r = post(site, "/api/v1/webhooks/shop/payments", {**pay, "currency": "USD"})
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "wrong_currency"
    assert paid_total(site) == 0
    assert post(site, "/api/v1/webhooks/shop/payments", pay).json()["duplicate"] is False
    assert paid_total(site) == 19900
    again = post(site, "/api/v1/webhooks/shop/payments", pay)
    assert again.status_code == 200 and again.json()["duplicate"] is True
    r = post(site, "/api/v1/webhooks/shop/payments", {**pay, "payment_id": "P-10"})
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "already_paid"
    # The shop's "paid" status for the order paid above adds nothing either.
    assert post(site, "/api/v1/webhooks/shop/orders", {**created, "status": "paid"}).json()["duplicate"] is True
    assert paid_total(site) == 19900
    r = post(site, "/api/v1/webhooks/shop/orders", {**created, "order_id": "never", "status": "refunded"})
    assert r.status_code == 409 and r.json()["detail"]["reason"] == "unknown_order"
    assert rejections(site) == [
        "unknown_order",
        "duplicate",
        "already_paid",
        "duplicate",
        "wrong_currency",
        "wrong_amount",
        "conflict",
        "unknown_order",
    ]
    payments = site.client().get("/api/v1/events", params={"kind": "payment"}, headers=site.bearer("viewer")).json()
    assert [e["event"]["payment_id"] for e in payments] == ["P-9"]


def test_unsigned_forged_stale_or_rotated_deliveries_are_refused(site: Site) -> None:
    c = site.client()
    assert c.post("/api/v1/webhooks/shop/orders", json=ORDER).status_code == 401
    assert post(site, "/api/v1/webhooks/shop/orders", ORDER, secret="whsec_guess").status_code == 401
    assert post(site, "/api/v1/webhooks/shop/orders", ORDER, ts=int(time.time()) - 3600).status_code == 401
    old = site.accounts.webhook_secret("shop")
    r = c.post("/api/v1/webhook-secret/rotate", params={"shop": "shop"}, headers=site.bearer("owner"))
    assert r.status_code == 200 and r.json()["secret"] != old
    assert post(site, "/api/v1/webhooks/shop/orders", ORDER, secret=old).status_code == 401
    assert orders(site) == []


def test_bad_money_is_refused_and_nothing_logged(site: Site) -> None:
    for bad in ({"amount": 199.5}, {"amount": -1}, {"currency": "cny"}, {"currency": "YUAN"}, {"status": "lost"}):
        r = post(site, "/api/v1/webhooks/shop/orders", {**ORDER, **bad})
        assert r.status_code == 422, bad
    r = post(site, "/api/v1/webhooks/shop/orders", {**ORDER, "extra_field": 1})
    assert r.status_code == 422
    raw = b"{not json"
    header = sign(site.accounts.webhook_secret("shop"), "POST", "/api/v1/webhooks/shop/orders", raw, int(time.time()))
    r = site.client().post("/api/v1/webhooks/shop/orders", content=raw, headers={"X-Shequn-Signature": header})
    assert r.status_code == 422
    assert orders(site) == []


@settings(max_examples=200, deadline=None)
@given(body=st.binary(max_size=200), flip=st.integers(min_value=0, max_value=199), header=st.text(max_size=80))
def test_signature_check_rejects_tampering_and_never_crashes(body: bytes, flip: int, header: str) -> None:
    now = 1_800_000_000
    path = "/api/v1/webhooks/a/orders"
    good = sign("s3cret", "POST", path, body, now)
    assert verify_signature("s3cret", good, "POST", path, body, now=now) is None
    if body:
        i = flip % len(body)
        tampered = body[:i] + bytes([body[i] ^ 1]) + body[i + 1 :]
        assert verify_signature("s3cret", good, "POST", path, tampered, now=now) is not None
    assert verify_signature("s3cret", good, "POST", "/api/v1/webhooks/b/orders", body, now=now) is not None
    assert verify_signature("s3cret", good, "POST", "/api/v1/webhooks/a/payments", body, now=now) is not None
    assert verify_signature("s3cret", good, "PUT", path, body, now=now) is not None
    assert isinstance(verify_signature("s3cret", header, "POST", path, body, now=now) or "", str)


def revenue(site: Site) -> int:
    return sum(int(e["amount"]) for e in orders(site) if e["status"] == "paid")


def test_a_captured_delivery_replayed_to_other_shops_is_refused(site: Site) -> None:
    raw = orjson.dumps({**ORDER, "amount": 88800})
    path = "/api/v1/webhooks/shopa/orders"
    header = {"X-Shequn-Signature": sign(site.accounts.webhook_secret("shopa"), "POST", path, raw, int(time.time()))}
    c = site.client()
    assert c.post(path, content=raw, headers=header).status_code == 200
    for shop in ("shopb", "shopc"):
        site.accounts.webhook_secret(shop)  # the other shops exist and have secrets of their own
        r = c.post(f"/api/v1/webhooks/{shop}/orders", content=raw, headers=header)
        assert r.status_code == 401 and "does not match" in r.json()["detail"], r.text
    r = c.post("/api/v1/webhooks/shopa/payments", content=raw, headers=header)
    assert r.status_code == 401
    assert revenue(site) == 88800
    # A header with characters no signature has is refused, not a crash.
    odd = f"t={int(time.time())},v2=\xe9\xe9"
    assert c.post(path, content=raw, headers={"X-Shequn-Signature": odd.encode("latin-1")}).status_code == 401
    # v1 (the body alone) is refused outright.
    v1 = header["X-Shequn-Signature"].replace("v2=", "v1=")
    assert c.post(path, content=raw, headers={"X-Shequn-Signature": v1}).status_code == 401
    # A shop without a secret has nothing to verify with (and none is made by a delivery).
    assert post(site, "/api/v1/webhooks/nosuch/orders", ORDER, secret="x").status_code == 401
    assert site.accounts.shop_secret("nosuch") is None


def test_an_order_made_in_shequn_is_credited_once_whichever_shop_reports_it(site: Site) -> None:
    from shequn.services.shop import SHEQUN

    # the order is made by shequn (a quote bought in the console), then reported paid by two shops
    with site.app.transaction() as conn:
        site.app.store.commerce.add_order(
            conn, site.app.ws.id, community_id=None, source=SHEQUN, order_id="Q-1", sku="", member="sandbox:u1",
            quantity=1, amount=19900, currency="CNY", status="created", now_ms=site.app.now_ms(),
        )  # fmt: skip
    paid = {**ORDER, "order_id": "Q-1"}
    assert post(site, "/api/v1/webhooks/shopa/orders", paid).json()["duplicate"] is False
    again = post(site, "/api/v1/webhooks/shopb/orders", paid)
    assert again.status_code == 200 and again.json()["duplicate"] is True, again.text
    assert revenue(site) == 19900


def test_limits_and_signature_come_before_the_body(site: Site) -> None:
    c = site.client()
    path = "/api/v1/webhooks/shop/orders"
    secret = site.accounts.webhook_secret("shop")
    big = b"{" + b" " * (64 * 1024) + b"}"
    header = {"X-Shequn-Signature": sign(secret, "POST", path, big, int(time.time()))}
    assert c.post(path, content=big, headers=header).status_code == 413  # declared length
    status, pulled = asgi_post(site, path, header, chunks=1000)  # 64 MiB if read whole, sent without a length
    assert status == 413 and pulled <= 2
    status, pulled = asgi_post(site, path, {"X-Shequn-Signature": "t=1,v2=00"}, chunks=1000)
    assert status == 401 and pulled == 0  # refused on its header: not a byte of the body was read


def test_the_settings_page_shows_and_rotates_a_shops_secret(site: Site) -> None:
    c = site.client()
    h = site.session("owner")
    page = c.get("/settings?shop=shopa&lang=en", headers=h)
    secret = site.accounts.webhook_secret("shopa")
    assert page.status_code == 200 and secret in page.text and 'name="shop" value="shopa"' in page.text
    assert site.accounts.webhook_secret("shopb") not in c.get("/settings?shop=shopa", headers=h).text
    r = c.post("/settings/webhook-secret", data={"csrf": h["X-CSRF-Token"], "shop": "shopa"}, headers=h)
    assert r.status_code == 303 and r.headers["location"] == "/settings?shop=shopa"
    assert site.accounts.webhook_secret("shopa") != secret
    assert c.get("/settings?shop=shopa", headers=site.session("viewer")).text.count("whsec_") == 0
