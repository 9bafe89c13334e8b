"""Commerce tables: products, the order ledger, coupons and their claims, commissions, refused webhook deliveries,
resources and introductions. Money is integer minor units with an ISO 4217 currency."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, func, insert, select, update

from shequn.domain import UserError
from shequn.store._sql import dumps, insert_ignore, loads
from shequn.store.schema import (
    COMMISSION,
    COUPON,
    COUPON_CLAIM,
    INTRODUCTION,
    PRODUCT,
    RESOURCE,
    SHOP_ORDER,
    WEBHOOK_REJECTION,
)


@dataclass(frozen=True, slots=True)
class OrderRecord:
    id: int
    community_id: int | None
    source: str
    order_id: str
    sku: str
    member: str
    quantity: int
    amount: int
    currency: str
    status: str
    tier: str
    coupon: str
    discount: int
    referrer: str
    payment_id: str
    created_ms: int
    paid_ms: int | None


@dataclass(frozen=True, slots=True)
class Rejection:
    id: int
    source: str
    kind: str
    ref: str
    reason: str
    detail: str
    at_ms: int


@dataclass(frozen=True, slots=True)
class IntroRecord:
    id: int
    community_id: int
    need_id: int | None
    offer_id: int | None
    a: str
    b: str
    status: str
    value: int
    currency: str
    note: str
    by: str
    created_ms: int
    updated_ms: int


def _order(r: Any) -> OrderRecord:
    return OrderRecord(
        r.id,
        r.community_id,
        r.source,
        r.order_id,
        r.sku,
        r.member_key,
        r.quantity,
        r.amount,
        r.currency,
        r.status,
        r.tier,
        r.coupon,
        r.discount,
        r.referrer,
        r.payment_id,
        r.created_ms,
        r.paid_ms,
    )


class CommerceStore:
    # -- products -------------------------------------------------------------------------------------------

    def put_product(
        self, conn: Connection, ws_id: int, *, sku: str, community_id: int | None, spec: dict[str, Any], now_ms: int
    ) -> bool:
        """Create or update a product; True when it was new."""
        t = PRODUCT
        res = conn.execute(
            update(t)
            .where(t.c.workspace_id == ws_id, t.c.sku == sku)
            .values(spec=dumps(spec), community_id=community_id, updated_ms=now_ms)
        )
        if res.rowcount:
            return False
        conn.execute(
            insert(t).values(
                workspace_id=ws_id,
                sku=sku,
                community_id=community_id,
                spec=dumps(spec),
                created_ms=now_ms,
                updated_ms=now_ms,
            )
        )
        return True

    def product(self, conn: Connection, ws_id: int, sku: str) -> dict[str, Any] | None:
        t = PRODUCT
        r = conn.execute(select(t.c.spec).where(t.c.workspace_id == ws_id, t.c.sku == sku)).first()
        return loads(r.spec) if r else None

    def products(self, conn: Connection, ws_id: int, *, community_id: int | None = None) -> list[dict[str, Any]]:
        t = PRODUCT
        q = select(t.c.spec).where(t.c.workspace_id == ws_id)
        if community_id is not None:
            q = q.where(t.c.community_id == community_id)
        return [loads(r.spec) for r in conn.execute(q.order_by(t.c.id))]

    # -- orders ---------------------------------------------------------------------------------------------

    def add_order(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int | None,
        source: str,
        order_id: str,
        sku: str,
        member: str,
        quantity: int,
        amount: int,
        currency: str,
        status: str,
        tier: str = "",
        coupon: str = "",
        discount: int = 0,
        referrer: str = "",
        now_ms: int,
    ) -> OrderRecord:
        conn.execute(
            insert(SHOP_ORDER).values(
                workspace_id=ws_id,
                community_id=community_id,
                source=source,
                order_id=order_id,
                sku=sku,
                member_key=member,
                quantity=quantity,
                amount=amount,
                currency=currency,
                status=status,
                tier=tier,
                coupon=coupon,
                discount=discount,
                referrer=referrer,
                payment_id="",
                created_ms=now_ms,
                updated_ms=now_ms,
            )
        )
        found = self.order(conn, ws_id, order_id, source=source)
        assert found is not None
        return found

    def order(self, conn: Connection, ws_id: int, order_id: str, *, source: str | None = None) -> OrderRecord | None:
        """An order by its id (and source; without one, the order of any source with that id, shequn's first)."""
        t = SHOP_ORDER
        q = select(t).where(t.c.workspace_id == ws_id, t.c.order_id == order_id)
        if source is not None:
            q = q.where(t.c.source == source)
        r = conn.execute(q.order_by(t.c.id)).first()
        return _order(r) if r else None

    def set_status(
        self, conn: Connection, order_row: int, status: str, *, now_ms: int, payment_id: str | None = None
    ) -> None:
        values: dict[str, Any] = {"status": status, "updated_ms": now_ms}
        if payment_id is not None:
            values["payment_id"] = payment_id
        if status == "paid":
            values["paid_ms"] = now_ms
        conn.execute(update(SHOP_ORDER).where(SHOP_ORDER.c.id == order_row).values(**values))

    def orders(
        self,
        conn: Connection,
        ws_id: int,
        *,
        sku: str | None = None,
        community_id: int | None = None,
        member: str | None = None,
        status: Sequence[str] | None = None,
        limit: int | None = None,
    ) -> list[OrderRecord]:
        t = SHOP_ORDER
        q = select(t).where(t.c.workspace_id == ws_id)
        if sku is not None:
            q = q.where(t.c.sku == sku)
        if community_id is not None:
            q = q.where(t.c.community_id == community_id)
        if member is not None:
            q = q.where(t.c.member_key == member)
        if status:
            q = q.where(t.c.status.in_(list(status)))
        q = q.order_by(t.c.id.desc())
        if limit:
            q = q.limit(limit)
        return [_order(r) for r in conn.execute(q)]

    def sold(self, conn: Connection, ws_id: int, sku: str) -> tuple[int, dict[str, int]]:
        """Units sold or held by open orders of ``sku`` (created, waiting for the group, paid), and by reward tier."""
        t = SHOP_ORDER
        q = (
            select(t.c.tier, func.sum(t.c.quantity))
            .where(t.c.workspace_id == ws_id, t.c.sku == sku, t.c.status.in_(("created", "pending_group", "paid")))
            .group_by(t.c.tier)
        )
        by = {tier: int(n or 0) for tier, n in conn.execute(q)}
        return sum(by.values()), by

    # -- coupons --------------------------------------------------------------------------------------------

    def put_coupon(
        self, conn: Connection, ws_id: int, *, code: str, community_id: int | None, spec: dict[str, Any], now_ms: int
    ) -> None:
        t = COUPON
        res = conn.execute(update(t).where(t.c.workspace_id == ws_id, t.c.code == code).values(spec=dumps(spec)))
        if not res.rowcount:
            conn.execute(
                insert(t).values(
                    workspace_id=ws_id, code=code, community_id=community_id, spec=dumps(spec), created_ms=now_ms
                )
            )

    def coupon(self, conn: Connection, ws_id: int, code: str) -> tuple[int, dict[str, Any]] | None:
        t = COUPON
        r = conn.execute(select(t.c.id, t.c.spec).where(t.c.workspace_id == ws_id, t.c.code == code)).first()
        return (r.id, loads(r.spec)) if r else None

    def coupons(self, conn: Connection, ws_id: int) -> list[tuple[int, dict[str, Any]]]:
        t = COUPON
        return [(r.id, loads(r.spec)) for r in conn.execute(select(t.c.id, t.c.spec).where(t.c.workspace_id == ws_id))]

    def claims(self, conn: Connection, coupon_id: int) -> int:
        t = COUPON_CLAIM
        return int(conn.execute(select(func.count()).where(t.c.coupon_id == coupon_id)).scalar_one())

    def claim(self, conn: Connection, coupon_id: int, member: str) -> tuple[int, int | None] | None:
        """(claimed at, redeeming order row) of a member's claim, or None."""
        t = COUPON_CLAIM
        r = conn.execute(select(t).where(t.c.coupon_id == coupon_id, t.c.member_key == member)).first()
        return (r.claimed_ms, r.order_row_id) if r else None

    def add_claim(self, conn: Connection, coupon_id: int, member: str, *, now_ms: int) -> bool:
        res = conn.execute(
            insert_ignore(conn, COUPON_CLAIM, ["coupon_id", "member_key"]).values(
                coupon_id=coupon_id, member_key=member, claimed_ms=now_ms
            )
        )
        return bool(res.rowcount)

    def redeem(self, conn: Connection, coupon_id: int, member: str, order_row: int, *, now_ms: int) -> None:
        t = COUPON_CLAIM
        conn.execute(
            update(t)
            .where(t.c.coupon_id == coupon_id, t.c.member_key == member, t.c.order_row_id.is_(None))
            .values(order_row_id=order_row, redeemed_ms=now_ms)
        )

    def release(self, conn: Connection, order_row: int) -> None:
        """A cancelled order gives its coupon back."""
        t = COUPON_CLAIM
        conn.execute(update(t).where(t.c.order_row_id == order_row).values(order_row_id=None, redeemed_ms=None))

    def coupon_funnel(self, conn: Connection, ws_id: int) -> dict[str, tuple[int, int, int]]:
        """coupon code → (claimed, redeemed by an order, redeemed by a paid order)."""
        c, cc, o = COUPON, COUPON_CLAIM, SHOP_ORDER
        q = (
            select(
                c.c.code, func.count(), func.count(cc.c.order_row_id), func.count(o.c.id).filter(o.c.status == "paid")
            )
            .select_from(cc.join(c, c.c.id == cc.c.coupon_id).outerjoin(o, o.c.id == cc.c.order_row_id))
            .where(c.c.workspace_id == ws_id)
            .group_by(c.c.code)
        )
        return {code: (int(a), int(b), int(p)) for code, a, b, p in conn.execute(q)}

    # -- commissions ----------------------------------------------------------------------------------------

    def add_commissions(
        self, conn: Connection, ws_id: int, order_row: int, rows: Sequence[tuple[str, int, int, str]], *, now_ms: int
    ) -> int:
        n = 0
        for who, level, amount, currency in rows:
            res = conn.execute(
                insert_ignore(conn, COMMISSION, ["order_row_id", "beneficiary"]).values(
                    workspace_id=ws_id,
                    order_row_id=order_row,
                    beneficiary=who,
                    level=level,
                    amount=amount,
                    currency=currency,
                    status="due",
                    created_ms=now_ms,
                )
            )
            n += res.rowcount or 0
        return n

    def void_commissions(self, conn: Connection, order_row: int) -> None:
        conn.execute(update(COMMISSION).where(COMMISSION.c.order_row_id == order_row).values(status="void"))

    def commissions(self, conn: Connection, ws_id: int) -> list[tuple[str, str, int, int, int]]:
        """(beneficiary, currency, orders, amount due, amount void) per beneficiary."""
        t = COMMISSION
        q = (
            select(
                t.c.beneficiary,
                t.c.currency,
                func.count(),
                func.coalesce(func.sum(t.c.amount).filter(t.c.status == "due"), 0),
                func.coalesce(func.sum(t.c.amount).filter(t.c.status == "void"), 0),
            )
            .where(t.c.workspace_id == ws_id)
            .group_by(t.c.beneficiary, t.c.currency)
        )
        return [(b, c, int(n), int(d), int(v)) for b, c, n, d, v in conn.execute(q)]

    # -- refused deliveries ---------------------------------------------------------------------------------

    def reject(
        self, conn: Connection, ws_id: int, *, source: str, kind: str, ref: str, reason: str, detail: str, now_ms: int
    ) -> None:
        conn.execute(
            insert(WEBHOOK_REJECTION).values(
                workspace_id=ws_id, source=source, kind=kind, ref=ref[:200], reason=reason, detail=detail, at_ms=now_ms
            )
        )

    def rejections(self, conn: Connection, ws_id: int, *, limit: int = 200) -> list[Rejection]:
        t = WEBHOOK_REJECTION
        q = select(t).where(t.c.workspace_id == ws_id).order_by(t.c.id.desc()).limit(limit)
        return [Rejection(r.id, r.source, r.kind, r.ref, r.reason, r.detail, r.at_ms) for r in conn.execute(q)]

    # -- resources and introductions ------------------------------------------------------------------------

    def add_resource(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int,
        member: str,
        side: str,
        text: str,
        tags: Sequence[str],
        now_ms: int,
    ) -> int:
        res = conn.execute(
            insert(RESOURCE).values(
                workspace_id=ws_id,
                community_id=community_id,
                member_key=member,
                side=side,
                text=text,
                tags=dumps(list(tags)),
                created_ms=now_ms,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]

    def resources(self, conn: Connection, ws_id: int, community_id: int) -> list[tuple[int, str, str, str, list[str]]]:
        """(id, member, side, text, tags) of the open resources."""
        t = RESOURCE
        q = select(t).where(t.c.workspace_id == ws_id, t.c.community_id == community_id, t.c.closed_ms.is_(None))
        return [(r.id, r.member_key, r.side, r.text, loads(r.tags)) for r in conn.execute(q.order_by(t.c.id))]

    def close_resource(self, conn: Connection, ws_id: int, resource_id: int, *, now_ms: int) -> None:
        t = RESOURCE
        conn.execute(update(t).where(t.c.workspace_id == ws_id, t.c.id == resource_id).values(closed_ms=now_ms))

    def add_intro(
        self,
        conn: Connection,
        ws_id: int,
        *,
        community_id: int,
        a: str,
        b: str,
        need_id: int | None,
        offer_id: int | None,
        status: str,
        by: str,
        note: str,
        now_ms: int,
    ) -> int:
        res = conn.execute(
            insert(INTRODUCTION).values(
                workspace_id=ws_id,
                community_id=community_id,
                a_key=a,
                b_key=b,
                need_id=need_id,
                offer_id=offer_id,
                status=status,
                value=0,
                currency="CNY",
                note=note,
                by=by,
                created_ms=now_ms,
                updated_ms=now_ms,
            )
        )
        return int(res.inserted_primary_key[0])  # type: ignore[index]

    def set_intro(
        self,
        conn: Connection,
        ws_id: int,
        intro_id: int,
        *,
        status: str,
        value: int,
        currency: str,
        note: str,
        now_ms: int,
    ) -> None:
        t = INTRODUCTION
        res = conn.execute(
            update(t)
            .where(t.c.workspace_id == ws_id, t.c.id == intro_id)
            .values(status=status, value=value, currency=currency, note=note, updated_ms=now_ms)
        )
        if not res.rowcount:
            raise UserError(f"no introduction #{intro_id} in this workspace", exit_code=2)

    def intros(self, conn: Connection, ws_id: int, *, community_id: int | None = None) -> list[IntroRecord]:
        t = INTRODUCTION
        q = select(t).where(t.c.workspace_id == ws_id)
        if community_id is not None:
            q = q.where(t.c.community_id == community_id)
        return [
            IntroRecord(
                r.id,
                r.community_id,
                r.need_id,
                r.offer_id,
                r.a_key,
                r.b_key,
                r.status,
                r.value,
                r.currency,
                r.note,
                r.by,
                r.created_ms,
                r.updated_ms,
            )
            for r in conn.execute(q.order_by(t.c.id))
        ]

    def payers(self, conn: Connection, ws_id: int, community_id: int) -> set[str]:
        """Members with a paid order in the community."""
        t = SHOP_ORDER
        q = select(t.c.member_key).where(
            t.c.workspace_id == ws_id, t.c.community_id == community_id, t.c.status == "paid"
        )
        return {r[0] for r in conn.execute(q.distinct())}

    def any(self, conn: Connection, ws_id: int) -> bool:
        """Whether the workspace has any product, order, coupon or introduction."""
        for t in (PRODUCT, SHOP_ORDER, COUPON, INTRODUCTION):
            if conn.execute(select(t.c.id).where(t.c.workspace_id == ws_id).limit(1)).first() is not None:
                return True
        return False
