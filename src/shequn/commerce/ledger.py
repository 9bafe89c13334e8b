"""The order ledger's checks: what a shop's delivery may change (订单 / 支付回调).

How it works:
    Orders are created by shequn (a member buys an offer: the price is quoted, the order waits for its payment) or
    reported by a shop (``status: created``, from a webhook or an import). A payment or a status change is then
    checked against the order it names, and :func:`check_payment` / :func:`check_order` answer with a
    :class:`Verdict`: accepted (and whether it credits money), a duplicate of what was already recorded (changes
    nothing), or rejected with a reason:

    * ``unknown_order``: the order was never created;
    * ``wrong_amount`` / ``wrong_currency``: the money does not match what the order asks;
    * ``already_paid``: a second, different payment for a paid order (no double credit);
    * ``conflict``: a shop reports an existing order with another amount;
    * ``bad_transition``: e.g. paying a cancelled order, refunding an unpaid one.

Pure: the caller looks the order up and records the verdict (accepted ones become events in the log; rejected
ones are kept with their reason).
"""

from __future__ import annotations

from dataclasses import dataclass

REJECTIONS = ("unknown_order", "wrong_amount", "wrong_currency", "already_paid", "conflict", "bad_transition")


@dataclass(frozen=True, slots=True)
class OrderView:
    """What the checks need to know about an existing order."""

    order_id: str
    amount: int
    currency: str
    status: str  # created pending_group paid refunded cancelled
    payment_id: str = ""


@dataclass(frozen=True, slots=True)
class Verdict:
    ok: bool
    duplicate: bool = False
    reason: str = ""
    detail: str = ""
    credit: bool = False  # money is counted (a new, matching payment)

    @property
    def rejected(self) -> bool:
        return not self.ok and not self.duplicate


ACCEPT = Verdict(True)


def _reject(reason: str, detail: str = "") -> Verdict:
    return Verdict(False, reason=reason, detail=detail)


def check_payment(order: OrderView | None, *, payment_id: str, amount: int, currency: str) -> Verdict:
    """A payment naming ``order`` (None: it names an order nobody created)."""
    if order is None:
        return _reject("unknown_order")
    if order.payment_id == payment_id and order.status in ("paid", "refunded"):
        return Verdict(False, duplicate=True, reason="duplicate")
    if order.status in ("paid", "refunded"):
        return _reject("already_paid", f"paid by {order.payment_id}")
    if order.status == "cancelled":
        return _reject("bad_transition", "the order was cancelled")
    if currency != order.currency:
        return _reject("wrong_currency", f"expected {order.currency}, got {currency}")
    if amount != order.amount:
        return _reject("wrong_amount", f"expected {order.amount}, got {amount}")
    return Verdict(True, credit=True)


def check_order(order: OrderView | None, *, status: str, amount: int, currency: str) -> Verdict:
    """A shop's report of an order in ``status`` (created, paid, refunded, cancelled)."""
    if order is None:
        return ACCEPT if status == "created" else _reject("unknown_order")
    if status == "created":
        if amount != order.amount or currency != order.currency:
            return _reject("conflict", f"known as {order.amount} {order.currency}")
        return Verdict(False, duplicate=True, reason="duplicate")
    if currency != order.currency:
        return _reject("wrong_currency", f"expected {order.currency}, got {currency}")
    if amount != order.amount:
        return _reject("wrong_amount", f"expected {order.amount}, got {amount}")
    if status == order.status:
        return Verdict(False, duplicate=True, reason="duplicate")
    allowed = {
        "created": {"paid", "cancelled"},
        "pending_group": {"paid", "cancelled"},
        "paid": {"refunded"},
        "refunded": set(),
        "cancelled": set(),
    }
    if status not in allowed.get(order.status, set()):
        return _reject("bad_transition", f"{order.status} → {status}")
    return Verdict(True, credit=status == "paid")
