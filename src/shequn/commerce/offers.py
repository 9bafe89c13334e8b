"""Products and offers (产品, 报价): what a community sells and at what price for the next buyer.

How it works:
    A :class:`Product` is what an operator defines (YAML or JSON, validated here): its kind, the monetization mode it
    earns under (the book's seven, 969: 产品式、会员式、电商式、项目式、众筹式、广告式、资源式), its step on the value
    ladder (2711-2719), its price in minor units with a currency, and the mechanics that change the price or who may
    buy:

    * ``stock``: places or units (a paid cohort's 100 places, book 1549; a flash sale's stock);
    * ``tiers``: early-bird and rising prices, by units sold (the first 30 at ¥500, the other 70 at ¥1,000, book 1549)
      or by date (入群时间越晚费用越高, book 1478);
    * ``starts`` / ``ends``: a flash sale's window (限时限量, book 2436), a presale's deadline;
    * ``member_only_first``: the first batch is for community members only, at ``member_price`` (首批仅限社群, 1024);
    * ``group_buy``: an order only stands once ``min_buyers`` bought within ``hours`` (成团);
    * ``goal`` and ``rewards``: presale and crowdfunding with a goal and reward tiers (众筹, 1208-1243; 鸟蛋's
      gold / silver tiers, 1236);
    * ``commission_bp``: the distributors' commission per level of the referral tree, in basis points (分销, 1031;
      "钱全归该成员", 1474, is ``[10000]``).

    :func:`quote` prices the next purchase or refuses it with a reason; :func:`group_buy_state` and
    :func:`goal_progress` say where a group-buy and a crowdfunding campaign stand.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

KINDS = ("product", "membership", "cohort", "course", "ticket", "presale", "crowdfunding", "service", "sponsorship")
MODES = ("product", "membership", "ecommerce", "project", "crowdfunding", "advertising", "resource")
MODE_NAMES = {
    "product": ("产品式", "product"),
    "membership": ("会员式", "membership"),
    "ecommerce": ("电商式", "e-commerce"),
    "project": ("项目式", "project"),
    "crowdfunding": ("众筹式", "crowdfunding"),
    "advertising": ("广告式", "advertising"),
    "resource": ("资源式", "resources"),
}
LADDER = ("free", "low", "mid", "high", "share")  # 免费导流 → 低消 → 中消 → 高消 → 利益分享
LADDER_NAMES = {
    "free": ("免费导流", "free entry"),
    "low": ("低消转化", "low-price conversion"),
    "mid": ("中消提升", "mid-price step-up"),
    "high": ("高消激发", "high-value offer"),
    "share": ("利益分享", "profit sharing"),
}


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class PriceTier(_Model):
    """A price for units up to ``upto`` sold (cumulative), or until a date; the first tier that applies wins."""

    price: int = Field(ge=0)
    upto: int | None = Field(default=None, ge=1)
    until: datetime | None = None
    label: str = ""


class GroupBuy(_Model):
    min_buyers: int = Field(ge=2)
    hours: int = Field(default=24, ge=1)


class Goal(_Model):
    """A presale's or crowdfunding's goal: an amount (minor units) or a number of units, by a deadline."""

    amount: int | None = Field(default=None, ge=1)
    units: int | None = Field(default=None, ge=1)
    deadline: datetime
    delivery: datetime | None = None  # 远期交付 (book 2535)

    @model_validator(mode="after")
    def _one(self) -> Goal:
        if (self.amount is None) == (self.units is None):
            raise ValueError("a goal has either amount or units")
        return self


class Reward(_Model):
    """A crowdfunding reward tier (回报档位): its price and how many there are."""

    key: str = Field(pattern=r"^[a-z0-9_-]+$")
    name: str
    price: int = Field(ge=0)
    limit: int | None = Field(default=None, ge=1)


class Product(_Model):
    """A product or offer of a community (see the module's docstring)."""

    sku: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")
    name: str = Field(min_length=1, max_length=200)
    community: str = ""
    kind: Literal[
        "product", "membership", "cohort", "course", "ticket", "presale", "crowdfunding", "service", "sponsorship"
    ] = "product"
    mode: Literal["product", "membership", "ecommerce", "project", "crowdfunding", "advertising", "resource"] = (
        "ecommerce"
    )
    ladder: Literal["free", "low", "mid", "high", "share"] | None = None
    price: int = Field(ge=0)
    currency: str = Field(default="CNY", pattern=r"^[A-Z]{3}$")
    stock: int | None = Field(default=None, ge=0)
    tiers: list[PriceTier] = Field(default_factory=list)
    starts: datetime | None = None
    ends: datetime | None = None
    member_only_first: int = Field(default=0, ge=0)
    member_price: int | None = Field(default=None, ge=0)
    group_buy: GroupBuy | None = None
    goal: Goal | None = None
    rewards: list[Reward] = Field(default_factory=list)
    commission_bp: list[int] = Field(default_factory=list)
    purpose: str = Field(default="order", pattern=r"^[a-z_]+(:[a-z0-9_]+)?$")
    group: str = ""  # the group a buyer is admitted to (a paid cohort), platform id
    active: bool = True

    @field_validator("commission_bp")
    @classmethod
    def _bp(cls, v: list[int]) -> list[int]:
        if any(x < 0 for x in v) or sum(v) > 10_000:
            raise ValueError("commissions are basis points ≥ 0 adding up to at most 10000 (100%)")
        return v

    @model_validator(mode="after")
    def _consistent(self) -> Product:
        for dt in (self.starts, self.ends):
            if dt is not None and dt.tzinfo is None:
                raise ValueError("starts and ends need a time zone (e.g. 2026-12-01T10:00:00+08:00)")
        if self.starts and self.ends and self.ends <= self.starts:
            raise ValueError("ends must come after starts")
        last = 0
        for t in self.tiers:
            if t.upto is not None:
                if t.upto <= last:
                    raise ValueError("tiers' upto must grow")
                last = t.upto
                if self.stock is not None and t.upto > self.stock:
                    raise ValueError(f"a tier up to {t.upto} is beyond the stock of {self.stock}")
        if self.kind == "crowdfunding" and self.goal is None:
            raise ValueError("a crowdfunding campaign needs a goal")
        keys = [r.key for r in self.rewards]
        if len(set(keys)) != len(keys):
            raise ValueError("reward keys must be unique")
        return self


@dataclass(frozen=True, slots=True)
class Quote:
    """The price of one purchase: unit prices summed over the units (tiers may change within one order)."""

    amount: int
    currency: str
    unit: int
    tier: str = ""
    pending_group: bool = False  # a group-buy order stands only once the group forms


@dataclass(frozen=True, slots=True)
class Refusal:
    reason: str  # not_started ended sold_out members_only unknown_reward reward_sold_out inactive quantity
    detail: str = ""


def unit_price(p: Product, n: int, now: datetime, *, member: bool) -> tuple[int, str]:
    """The price of the ``n``-th unit sold (0-based) at ``now``, and the tier's label."""
    if member and p.member_price is not None and n < max(p.member_only_first, 0):
        return p.member_price, "member_first"
    for i, t in enumerate(p.tiers):
        if t.upto is not None and n >= t.upto:
            continue
        if t.until is not None and now >= t.until:
            continue
        return t.price, t.label or f"tier{i + 1}"
    return p.price, ""


def quote(
    p: Product,
    *,
    sold: int,
    now: datetime,
    member: bool,
    quantity: int = 1,
    reward: str = "",
    reward_sold: Mapping[str, int] | None = None,
) -> Quote | Refusal:
    """Price the next purchase of ``quantity`` units after ``sold``, or refuse it with a reason."""
    if not p.active:
        return Refusal("inactive")
    if quantity < 1:
        return Refusal("quantity", str(quantity))
    if p.starts is not None and now < p.starts:
        return Refusal("not_started", p.starts.isoformat())
    end = p.goal.deadline if p.goal is not None and p.ends is None else p.ends
    if end is not None and now >= end:
        return Refusal("ended", end.isoformat())
    if p.stock is not None and sold + quantity > p.stock:
        return Refusal("sold_out", str(max(0, p.stock - sold)))
    if sold < p.member_only_first and not member:
        return Refusal("members_only", str(p.member_only_first))
    if p.rewards:
        r = next((x for x in p.rewards if x.key == reward), None)
        if r is None:
            return Refusal("unknown_reward", ", ".join(x.key for x in p.rewards))
        taken = (reward_sold or {}).get(r.key, 0)
        if r.limit is not None and taken + quantity > r.limit:
            return Refusal("reward_sold_out", str(max(0, r.limit - taken)))
        return Quote(r.price * quantity, p.currency, r.price, r.key, p.group_buy is not None)
    total, first_label = 0, ""
    for i in range(quantity):
        price, label = unit_price(p, sold + i, now, member=member)
        total += price
        if i == 0:
            first_label = label
    first, _ = unit_price(p, sold, now, member=member)
    return Quote(total, p.currency, first, first_label, p.group_buy is not None)


def group_buy_state(p: Product, buyers: int, opened: datetime, now: datetime) -> Literal["open", "formed", "failed"]:
    """A group-buy (成团) forms when ``min_buyers`` bought within ``hours`` of the first order; else it fails."""
    assert p.group_buy is not None
    if buyers >= p.group_buy.min_buyers:
        return "formed"
    if (now - opened).total_seconds() >= p.group_buy.hours * 3600:
        return "failed"
    return "open"


@dataclass(frozen=True, slots=True)
class Progress:
    raised: int
    units: int
    backers: int
    target: int
    share: float
    status: Literal["running", "succeeded", "failed"]


def goal_progress(p: Product, *, raised: int, units: int, backers: int, now: datetime) -> Progress:
    """Where a presale or crowdfunding campaign stands against its goal (by amount or by units)."""
    assert p.goal is not None
    target = p.goal.amount if p.goal.amount is not None else p.goal.units or 1
    got = raised if p.goal.amount is not None else units
    share = round(got / target, 4)
    status: Literal["running", "succeeded", "failed"] = "running"
    if got >= target:
        status = "succeeded"
    elif now >= p.goal.deadline:
        status = "failed"
    return Progress(raised, units, backers, target, share, status)
