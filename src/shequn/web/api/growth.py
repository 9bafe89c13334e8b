"""``/api/v1/growth`` and ``/api/v1/commerce``: referral contests and their leaderboards and settlement, live-code
routing; the commerce measures, products, orders, refused shop deliveries (issue 9). Thin: each route calls
:mod:`shequn.services.growth` or :mod:`shequn.services.shop` under the workspace's write lock when it changes
something."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict, Field

from shequn.web.deps import OpsDep, Reader, Writer

router = APIRouter(tags=["growth and commerce"])
Key = Path(min_length=1, max_length=100)


class OrderRequest(BaseModel):
    """Create an order at the offer's current price for ``member`` (a member, or ``platform:id``)."""

    model_config = ConfigDict(extra="forbid")

    sku: str = Field(min_length=1, max_length=64)
    member: str = Field(min_length=1, max_length=300)
    quantity: int = Field(default=1, ge=1, le=10_000)
    coupon: str = Field(default="", max_length=64)
    reward: str = Field(default="", max_length=64)
    referrer: str = Field(default="", max_length=300)


@router.get("/growth/contests", response_model=list[dict[str, Any]])
def contests(principal: Reader, ops: OpsDep) -> list[dict[str, Any]]:
    from shequn.services.growth import Growth

    return [
        {"key": c.key, "params": c.params, "start_ms": c.start_ms, "closed": c.closed_ms is not None}
        for c in Growth(ops.app).contests()
    ]


@router.get("/growth/contests/{key}/board", response_model=dict[str, Any])
def board(principal: Reader, ops: OpsDep, key: str = Key, limit: int = Query(20, ge=1, le=1000)) -> dict[str, Any]:
    """The running period's leaderboard: confirmed invites, pending ones (younger than 24 h), rejected by reason."""
    from shequn.services.growth import Growth

    return Growth(ops.app).leaderboard(key, limit=limit).to_dict()


@router.get("/growth/contests/{key}/settlements", response_model=list[dict[str, Any]])
def settlements(principal: Reader, ops: OpsDep, key: str = Key) -> list[dict[str, Any]]:
    from shequn.services.growth import Growth

    return Growth(ops.app).settlements(key)


@router.post("/growth/settle", response_model=list[dict[str, Any]])
def settle(principal: Writer, ops: OpsDep) -> list[dict[str, Any]]:
    """Settle every period that has ended (idempotent: a period is settled once)."""
    from shequn.services.growth import Growth

    with ops.write():
        ops.app.refresh()
        done = Growth(ops.app).settle()
    return done


@router.post("/growth/livecodes/{code}/route", response_model=dict[str, Any])
def route(principal: Writer, ops: OpsDep, code: str = Key) -> dict[str, Any]:
    """Where the live code sends the next newcomer (a new group, or a staff task, when all are full)."""
    from shequn.services.growth import Growth

    with ops.write():
        ops.app.refresh()
        return Growth(ops.app).route(code)


@router.get("/commerce/measures", response_model=dict[str, Any])
def measures(principal: Reader, ops: OpsDep, community: str | None = None) -> dict[str, Any]:
    """Revenue (by mode, per member), coupon claim → purchase, renewal rate, value ladder, commissions, refusals."""
    from shequn.services.shop import Shop

    return Shop(ops.app).measures(community)


@router.get("/commerce/products", response_model=list[dict[str, Any]])
def products(principal: Reader, ops: OpsDep, community: str | None = None) -> list[dict[str, Any]]:
    from shequn.services.shop import Shop

    shop = Shop(ops.app)
    return [shop.status(p.sku) for p in shop.products(community)]


@router.post("/commerce/orders", response_model=dict[str, Any])
def order(principal: Writer, ops: OpsDep, body: OrderRequest) -> dict[str, Any]:
    from shequn.services.shop import Shop

    with ops.write():
        ops.app.refresh()
        o = Shop(ops.app).buy(
            body.sku,
            body.member,
            quantity=body.quantity,
            coupon=body.coupon,
            reward=body.reward,
            referrer=body.referrer,
        )
    return {
        "order_id": o.order_id,
        "amount": o.amount,
        "currency": o.currency,
        "tier": o.tier,
        "discount": o.discount,
        "status": o.status,
        "created": datetime.fromtimestamp(o.created_ms / 1000).isoformat(),
    }


@router.get("/commerce/rejections", response_model=list[dict[str, Any]])
def rejections(principal: Reader, ops: OpsDep, limit: int = Query(200, ge=1, le=5000)) -> list[dict[str, Any]]:
    """Shop deliveries refused or deduplicated, with the reason (nothing was credited for them)."""
    from shequn.services.shop import Shop

    return Shop(ops.app).rejections(limit=limit)
