"""Commissions, the value ladder and revenue by monetization mode (分销, 成交五步, 变现模式).

How it works:
    * :func:`commissions`: a paid order's commission for each level of the buyer's upline in the referral tree,
      ``amount × bp ÷ 10000`` rounded down to a fen (分销, book 1031, 360; "钱全归该成员", 1474: ``[10000]``).
    * :func:`stage` / :func:`next_stage`: the value ladder of book 2711-2719 (免费导流 → 低消转化 → 中消提升 → 高消激发
      → 利益分享): a member's stage is the highest step they bought (or claimed, for the free one); those at a stage
      are the segment for the next step's offer.
    * :func:`by_mode`: revenue kept (paid, not refunded) per monetization mode and currency.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from shequn.commerce.offers import LADDER


@dataclass(frozen=True, slots=True)
class Commission:
    beneficiary: str
    level: int  # 1: the referrer, 2: the referrer's referrer …
    amount: int
    currency: str


def commissions(amount: int, currency: str, bp: Sequence[int], upline: Sequence[str]) -> list[Commission]:
    return [
        Commission(who, i + 1, amount * rate // 10_000, currency)
        for i, (who, rate) in enumerate(zip(upline, bp, strict=False))
        if rate > 0 and amount * rate // 10_000 > 0
    ]


def stage(steps: Iterable[str | None]) -> str:
    """The highest step of the ladder among what a member bought ("" none)."""
    best = -1
    for s in steps:
        if s in LADDER:
            best = max(best, LADDER.index(s))
    return LADDER[best] if best >= 0 else ""


def next_stage(current: str) -> str:
    """The next step to offer ("free" for someone who has not started; "" after the last)."""
    if not current:
        return LADDER[0]
    i = LADDER.index(current)
    return LADDER[i + 1] if i + 1 < len(LADDER) else ""


def by_mode(rows: Iterable[tuple[str, str, str, int]]) -> dict[str, dict[str, int]]:
    """(mode, currency, status, amount) rows of orders in their latest status → mode → currency → revenue kept
    (paid orders; a refunded order, paid once, keeps nothing)."""
    out: dict[str, dict[str, int]] = {}
    for mode, currency, status, amount in rows:
        if status in ("paid", "refunded"):
            box = out.setdefault(mode, {})
            box[currency] = box.get(currency, 0) + (amount if status == "paid" else 0)
    return out
