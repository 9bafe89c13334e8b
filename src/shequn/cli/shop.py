"""``shequn shop …``: products and offers, orders and payments (and their import), coupons, commissions, resource
matching and the growth-and-commerce measures."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import orjson
import typer

from shequn.cli.common import console, open_app, print_json
from shequn.cli.growth import AT, COMMUNITY, JSON, parse_at, table
from shequn.domain import UserError

if TYPE_CHECKING:
    from shequn.services.shop import Shop

app = typer.Typer(help="社群电商 · selling: products, orders, coupons, commissions, measures", no_args_is_help=True)


@contextmanager
def shop(ctx: typer.Context, at: str | None = None) -> Iterator[Shop]:
    from shequn.services.shop import Shop

    with open_app(ctx, at=parse_at(at)) as app:
        yield Shop(app)


def _yaml(path: Path) -> Any:
    import yaml

    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}", exit_code=2) from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        line = f":{mark.line + 1}" if mark else ""
        raise UserError(f"{path}{line}: not valid YAML ({getattr(exc, 'problem', exc)})", exit_code=2) from None


def _money(amount: int, currency: str) -> str:
    from shequn.i18n import fmt

    return fmt.money(amount, currency)


@app.command("apply")
def apply(ctx: typer.Context, path: Path = typer.Argument(..., help="商品 YAML（一个或一组）· products YAML")) -> None:
    """上架/修改商品与报价 · create or update products and offers from YAML (one mapping or a list)."""
    from shequn.services.shop import product_from

    data = _yaml(path)
    items = data if isinstance(data, list) else [data]
    if not items or not all(isinstance(x, dict) for x in items):
        raise UserError(f"{path}: expected a product (a mapping) or a list of them", exit_code=2)
    # Check every product before writing any: a bad file writes nothing.
    for i, x in enumerate(items):
        product_from(x, where=f"{path}: product {i + 1} ({x.get('sku', '?')})")
    with shop(ctx) as s:
        for i, x in enumerate(items):
            p = s.put_product(x, where=f"{path}: product {i + 1}")
            console.print(f"{p.sku}  {p.name}  {_money(p.price, p.currency)}")


@app.command("list")
def list_(ctx: typer.Context, community: str = typer.Option(None, "--community", "-c"), as_json: bool = JSON) -> None:
    """商品 · the products, with what has sold and the next price."""
    with shop(ctx) as s:
        rows = [s.status(p.sku) for p in s.products(community)]
    if as_json:
        print_json(rows)
        return
    table(
        "products",
        ["sku", "name", "sold", "left", "next price", "tier", "revenue", "closed"],
        [
            [
                r["sku"],
                r["name"],
                r["sold"],
                "∞" if r["left"] is None else r["left"],
                "—" if r["next_price"] is None else _money(r["next_price"], r["currency"]),
                r["next_tier"],
                _money(r["revenue"], r["currency"]),
                r["closed"],
            ]
            for r in rows
        ],
    )


@app.command("status")
def status(ctx: typer.Context, sku: str = typer.Argument(...), at: str = AT) -> None:
    """一个商品的销售、剩余、下一个价格、拼团/众筹进度 · one product's standing."""
    with shop(ctx, at) as s:
        print_json(s.status(sku))


@app.command("quote")
def quote(
    ctx: typer.Context,
    sku: str = typer.Argument(...),
    member: str = typer.Option("", "--member", "-m"),
    quantity: int = typer.Option(1, "--quantity", "-q", min=1),
    reward: str = typer.Option("", "--reward"),
    at: str = AT,
) -> None:
    """报价：下一位买家的价格 · the price the next buyer pays (or why they cannot buy)."""
    from shequn.commerce.offers import Quote

    with shop(ctx, at) as s:
        q = s.quote(sku, member, quantity=quantity, reward=reward)
    if isinstance(q, Quote):
        print_json(
            {"amount": q.amount, "currency": q.currency, "unit": q.unit, "tier": q.tier, "group_buy": q.pending_group}
        )
    else:
        print_json({"refused": q.reason, "detail": q.detail})
        raise typer.Exit(1)


@app.command("buy")
def buy(
    ctx: typer.Context,
    sku: str = typer.Argument(...),
    member: str = typer.Argument(..., help="成员或 平台:id · a member, or platform:id"),
    quantity: int = typer.Option(1, "--quantity", "-q", min=1),
    coupon: str = typer.Option("", "--coupon"),
    reward: str = typer.Option("", "--reward", help="众筹回报档位 · a crowdfunding reward tier"),
    referrer: str = typer.Option("", "--referrer", help="推荐人（平台:id）· the distributor, platform:id"),
    order_id: str = typer.Option("", "--order-id"),
    at: str = AT,
    as_json: bool = JSON,
) -> None:
    """下单：按当前报价生成订单，等待支付 · create an order at the current offer; it waits for its payment."""
    with shop(ctx, at) as s:
        o = s.buy(sku, member, quantity=quantity, coupon=coupon, reward=reward, referrer=referrer, order_id=order_id)
    out = {
        "order_id": o.order_id,
        "amount": o.amount,
        "currency": o.currency,
        "tier": o.tier,
        "discount": o.discount,
        "status": o.status,
    }
    if as_json:
        print_json(out)
    else:
        console.print(f"{o.order_id}  {_money(o.amount, o.currency)}  {o.tier}  {o.status}")


@app.command("pay")
def pay(
    ctx: typer.Context,
    order_id: str = typer.Argument(...),
    payment_id: str = typer.Option(..., "--payment-id"),
    amount: int = typer.Option(..., "--amount", help="分 · minor units"),
    currency: str = typer.Option("CNY", "--currency"),
    source: str = typer.Option("shequn", "--source"),
    at: str = AT,
) -> None:
    """记录一笔支付（与 webhook 同样校验）· record a payment, checked like a webhook's."""
    from shequn.services.shop import RejectedError

    with shop(ctx, at) as s:
        o = next((x for x in s.orders() if x.order_id == order_id), None)
        body = {
            "payment_id": payment_id,
            "amount": amount,
            "currency": currency,
            "order_id": order_id,
            "buyer_platform": o.member.partition(":")[0] if o and o.member else "shop",
            "buyer_id": o.member.partition(":")[2] if o and o.member else "",
        }
        try:
            d = s.deliver("payment", body, source=source)
        except RejectedError as exc:
            raise UserError(str(exc), exit_code=1) from None
    console.print(f"{payment_id}: {'duplicate' if d.duplicate else 'paid'}")


@app.command("import")
def import_(
    ctx: typer.Context,
    path: Path = typer.Argument(..., help="JSON Lines 或 CSV：kind=order|payment 与 webhook 字段"),
    source: str = typer.Option(..., "--source", help="店铺名 · the shop"),
    as_json: bool = JSON,
) -> None:
    """导入订单与支付（逐行按 webhook 规则校验）· import orders and payments, each line checked like a webhook."""
    from pydantic import ValidationError

    from shequn.services.shop import RejectedError
    from shequn.web.schemas import OrderIn, PaymentIn

    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise UserError(f"{path}: {exc.strerror}", exit_code=2) from None
    rows: list[tuple[int, dict[str, Any]]] = []
    if path.suffix.lower() == ".csv":
        for i, r in enumerate(csv.DictReader(io.StringIO(text)), start=2):
            rows.append((i, {k: v for k, v in r.items() if v not in (None, "")}))
    else:
        for i, line in enumerate(text.splitlines(), start=1):
            if line.strip():
                try:
                    rows.append((i, orjson.loads(line)))
                except orjson.JSONDecodeError as exc:
                    raise UserError(f"{path}:{i}: not JSON ({exc})", exit_code=2) from None
    parsed: list[tuple[int, str, dict[str, Any]]] = []
    for i, r in rows:
        kind = str(r.pop("kind", ""))
        if kind not in ("order", "payment"):
            raise UserError(f"{path}:{i}: kind: expected order or payment, got {kind!r}", exit_code=2)
        model = OrderIn if kind == "order" else PaymentIn
        try:
            parsed.append((i, kind, model.model_validate(r).model_dump()))
        except ValidationError as exc:
            problems = "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
            raise UserError(f"{path}:{i}: {problems}", exit_code=2) from None
    counts = {"accepted": 0, "duplicate": 0, "rejected": 0}
    refused = []
    with shop(ctx) as s:
        for i, kind, body in parsed:
            try:
                d = s.deliver(kind, body, source=source)
            except RejectedError as exc:
                counts["rejected"] += 1
                refused.append({"line": i, "reason": exc.reason, "detail": exc.detail})
                continue
            counts["duplicate" if d.duplicate else "accepted"] += 1
    if as_json:
        print_json({**counts, "refused": refused})
        return
    console.print(" ".join(f"{k}={v}" for k, v in counts.items()))
    for r in refused:
        console.print(f"{path}:{r['line']}: {r['reason']} {r['detail']}")


@app.command("orders")
def orders(
    ctx: typer.Context,
    community: str = typer.Option(None, "--community", "-c"),
    sku: str = typer.Option(None, "--sku"),
    limit: int = typer.Option(50, "--limit", min=1),
    as_json: bool = JSON,
) -> None:
    """订单 · orders, newest first."""
    from shequn.services.shop import mask

    with shop(ctx) as s:
        rows = s.orders(community=community, sku=sku, limit=limit)
    if as_json:
        print_json(
            [
                {
                    "order_id": o.order_id,
                    "source": o.source,
                    "sku": o.sku,
                    "member": o.member,
                    "amount": o.amount,
                    "currency": o.currency,
                    "status": o.status,
                    "tier": o.tier,
                    "coupon": o.coupon,
                    "discount": o.discount,
                    "referrer": o.referrer,
                }
                for o in rows
            ]
        )
        return
    table(
        "orders",
        ["order", "source", "sku", "member", "amount", "status", "tier", "coupon"],
        [
            [o.order_id, o.source, o.sku, mask(o.member), _money(o.amount, o.currency), o.status, o.tier, o.coupon]
            for o in rows
        ],
    )


@app.command("rejections")
def rejections(ctx: typer.Context, as_json: bool = JSON) -> None:
    """拒收与去重的投递及原因 · refused and deduplicated deliveries, with the reason."""
    with shop(ctx) as s:
        rows = s.rejections()
    if as_json:
        print_json(rows)
    else:
        table(
            "rejections",
            ["at", "source", "kind", "ref", "reason", "detail"],
            [[r["at"], r["source"], r["kind"], r["ref"], r["reason"], r["detail"]] for r in rows],
        )


@app.command("coupon")
def coupon(
    ctx: typer.Context,
    code: str = typer.Argument(...),
    community: str = typer.Option("", "--community", "-c"),
    sku: str = typer.Option("", "--sku"),
    off: int = typer.Option(0, "--off", min=0, help="减多少分 · minor units off"),
    off_bp: int = typer.Option(0, "--off-bp", min=0, max=10_000, help="折扣基点（1000=九折）· basis points off"),
    min_amount: int = typer.Option(0, "--min-amount", min=0),
    quantity: int = typer.Option(None, "--quantity", min=1),
    members_only: bool = typer.Option(False, "--members-only"),
    starts: str = typer.Option(None, "--starts"),
    ends: str = typer.Option(None, "--ends"),
    currency: str = typer.Option("CNY", "--currency"),
) -> None:
    """创建/修改优惠券 · create or change a coupon."""
    data: dict[str, Any] = {
        "code": code,
        "community": community,
        "sku": sku,
        "off": off,
        "off_bp": off_bp,
        "min_amount": min_amount,
        "quantity": quantity,
        "members_only": members_only,
        "starts": starts,
        "ends": ends,
        "currency": currency,
    }
    with shop(ctx) as s:
        c = s.put_coupon(data)
    console.print(f"{c.code}: -{_money(c.off, c.currency)} -{c.off_bp / 100:g}%")


@app.command("claim")
def claim(ctx: typer.Context, code: str = typer.Argument(...), member: str = typer.Argument(...), at: str = AT) -> None:
    """领券 · a member claims a coupon."""
    with shop(ctx, at) as s:
        key = s.claim(code, member)
    console.print(f"{code}: {key}")


@app.command("commissions")
def commissions(ctx: typer.Context, as_json: bool = JSON) -> None:
    """分销佣金 · commissions due per distributor (voided by refunds)."""
    with shop(ctx) as s:
        rows = s.measures()["commissions"]
    if as_json:
        print_json(rows)
    else:
        table(
            "commissions",
            ["beneficiary", "orders", "due", "void"],
            [
                [r["beneficiary"], r["orders"], _money(r["due"], r["currency"]), _money(r["void"], r["currency"])]
                for r in rows
            ],
        )


@app.command("resource")
def resource(
    ctx: typer.Context,
    member: str = typer.Argument(...),
    side: str = typer.Argument(..., help="offer 或 need"),
    text: str = typer.Argument(...),
    community: str = COMMUNITY,
    tag: list[str] = typer.Option([], "--tag"),
) -> None:
    """登记成员的资源或需求 · record what a member offers or needs (resource matching)."""
    with shop(ctx) as s:
        rid = s.resource(community, member, side, text, tag)
    console.print(f"#{rid}")


@app.command("match")
def match(ctx: typer.Context, community: str = COMMUNITY, as_json: bool = JSON) -> None:
    """资源对接建议 · suggested introductions: each need with the best offers of other members."""
    with shop(ctx) as s:
        found = s.suggestions(community)
    rows = [
        {"need": x.need.id, "need_text": x.need.text, "offer": x.offer.id, "offer_text": x.offer.text, "score": x.score}
        for x in found
    ]
    if as_json:
        print_json(rows)
    else:
        table(
            community,
            ["need", "offer", "score"],
            [[f"#{r['need']} {r['need_text']}", f"#{r['offer']} {r['offer_text']}", r["score"]] for r in rows],
        )


@app.command("introduce")
def introduce(
    ctx: typer.Context,
    need: int = typer.Argument(...),
    offer: int = typer.Argument(...),
    community: str = COMMUNITY,
    note: str = typer.Option("", "--note"),
) -> None:
    """记录一次对接 · log an introduction between a need and an offer."""
    with shop(ctx) as s:
        iid = s.introduce(community, need, offer, note=note)
    console.print(f"#{iid}")


@app.command("outcome")
def outcome(
    ctx: typer.Context,
    intro: int = typer.Argument(...),
    status: str = typer.Argument(..., help="made deal no_deal"),
    value: int = typer.Option(0, "--value", min=0, help="成交额，分 · the deal's value, minor units"),
    currency: str = typer.Option("CNY", "--currency"),
    note: str = typer.Option("", "--note"),
) -> None:
    """记录对接结果 · record an introduction's outcome."""
    with shop(ctx) as s:
        s.outcome(intro, status, value=value, currency=currency, note=note)
    console.print(f"#{intro}: {status}")


@app.command("measures")
def measures(
    ctx: typer.Context, community: str = typer.Option(None, "--community", "-c"), as_json: bool = JSON
) -> None:
    """变现指标：收入、付费成员、领券→购买、续费率、价值阶梯 · the commerce measures per community (the same lines
    as the report and the console's growth page; --json: the shop ledger's measures)."""
    from shequn.analytics.apart import analyze_apart
    from shequn.i18n import system_locale, t
    from shequn.reports.growth import commerce_lines

    loc = system_locale()
    with shop(ctx) as s:
        m = s.measures(community)
        report = None if as_json else analyze_apart(s.app.store.db.url, s.app.ws, community=community, locale=loc)
    if as_json or report is None:
        print_json(m)
        return
    for name, c in m["communities"].items():
        health = report.communities.get(name)
        if health is None:
            continue
        console.print(f"[bold]{name}[/bold]", markup=True)
        for label, value in commerce_lines(health, c, loc, report.days):
            console.print(f"  {label}：{value}" if loc != "en" else f"  {label}: {value}", markup=False)
    if m["rejections"]:
        console.print(t("growth.cli.rejections", loc, n=sum(m["rejections"].values())), markup=False)


@app.command("groupbuy-check")
def groupbuy_check(ctx: typer.Context, at: str = AT, as_json: bool = JSON) -> None:
    """拼团检查：未成团则取消未付订单并交办退款 · failed group-buys: unpaid orders cancelled, refunds to staff."""
    with shop(ctx, at) as s:
        rows = s.group_buy_check()
    if as_json:
        print_json(rows)
    else:
        table(
            "group-buys",
            ["sku", "state", "buyers", "needed"],
            [[r["sku"], r["state"], r["buyers"], r["needed"]] for r in rows],
        )
