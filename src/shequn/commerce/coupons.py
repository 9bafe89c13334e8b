"""Coupons (优惠券): claim and redemption, the first steps of the 消费型 KPI (领券 → 购买).

How it works:
    A :class:`Coupon` takes an amount or a share off (minor units / basis points), on one product or any, above a
    minimum, within dates, for a limited number of claimers, optionally members only. :func:`can_claim` checks a
    claim; :func:`discount` what a claimed coupon takes off an order (never more than the order, never below
    zero).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime


@dataclass(frozen=True, slots=True)
class Coupon:
    code: str
    community: str = ""
    sku: str = ""  # "" any product of the community
    off: int = 0  # minor units off
    off_bp: int = 0  # or a share off, in basis points (1000 = 10%)
    min_amount: int = 0
    quantity: int | None = None  # how many may be claimed (None: no limit)
    starts: datetime | None = None
    ends: datetime | None = None
    members_only: bool = False
    currency: str = "CNY"


def can_claim(c: Coupon, *, claimed: int, already: bool, member: bool, now: datetime) -> str:
    """Why a claim is refused ("" when it may be claimed)."""
    if already:
        return "already_claimed"
    if c.starts is not None and now < c.starts:
        return "not_started"
    if c.ends is not None and now >= c.ends:
        return "ended"
    if c.quantity is not None and claimed >= c.quantity:
        return "all_claimed"
    if c.members_only and not member:
        return "members_only"
    return ""


def discount(c: Coupon, *, amount: int, currency: str, sku: str, now: datetime) -> tuple[int, str]:
    """(minor units off, why none) for an order of ``amount`` of ``sku``."""
    if c.sku and c.sku != sku:
        return 0, "other_product"
    if currency != c.currency:
        return 0, "currency"
    if c.ends is not None and now >= c.ends:
        return 0, "ended"
    if amount < c.min_amount:
        return 0, "below_minimum"
    off = c.off + amount * c.off_bp // 10_000
    return min(off, amount), ""
