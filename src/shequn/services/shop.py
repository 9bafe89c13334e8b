"""Selling operations (成交运营): products, orders and payments, coupons, commissions, the value ladder, revenue,
resource matching, and the measures of issue 9 — what the command line, the console, the API and the shop webhooks
do, on top of the pure :mod:`shequn.commerce`.

How it works:
    * An order is created by shequn (``buy``: the offer's price for the next buyer, the coupon applied, the referrer
      remembered) or reported by a shop (a webhook or an import). Every payment or status change is checked against
      the order it names (:mod:`shequn.commerce.ledger`): an unknown order, a wrong amount or currency, a second
      payment for a paid order are refused, a repeated delivery is recognised, and each is recorded with its reason
      (``webhook_rejection``) without crediting anything.
    * An accepted change is logged as an :class:`~shequn.domain.Order` / :class:`~shequn.domain.Payment` event in
      the same transaction as the ledger's row, in the community's group on the buyer's platform, so the engine's
      policies see it: a paid entry fee admits (``admission``), a membership starts or renews (``membership``).
    * A paid order redeems its coupon, credits commissions up the referral tree (分销) and moves the buyer up the
      value ladder (a ``stage:<step>`` tag, as an operator action in the log, so segments can target the next
      offer); a refund voids the commissions.

Things to keep in mind:
    * Money is integer minor units with an ISO 4217 currency everywhere; amounts are never converted.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from pydantic import ValidationError

from shequn.app import App
from shequn.commerce import coupons, ledger, matching, offers, revenue
from shequn.domain import Event, OperatorAction, Order, OrderStatus, Payment, UserError, stable_id
from shequn.domain.state import CommunityState, MemberState
from shequn.growth import referral
from shequn.i18n import t
from shequn.playbook import load_playbook
from shequn.store import CommunityRecord, OrderRecord
from shequn.store._sql import from_ms, to_ms

SHEQUN = "shequn"  # the source of orders shequn creates itself


class RejectedError(UserError):
    """A shop delivery refused by the ledger's checks (logged with its reason; nothing credited)."""

    def __init__(self, reason: str, detail: str, ref: str) -> None:
        super().__init__(t("commerce.rejected", None, reason=reason, detail=detail or "—", ref=ref), exit_code=2)
        self.reason = reason
        self.detail = detail
        self.ref = ref


@dataclass(frozen=True, slots=True)
class Delivery:
    """The answer to one shop delivery."""

    event_id: str
    duplicate: bool
    order: OrderRecord | None = None


def product_from(data: Mapping[str, Any], *, where: str = "product") -> offers.Product:
    """Validate a product definition; a clear error naming the field otherwise."""
    try:
        return offers.Product.model_validate(dict(data))
    except ValidationError as exc:
        problems = "; ".join(f"{'.'.join(map(str, e['loc'])) or '(product)'}: {e['msg']}" for e in exc.errors())
        raise UserError(f"{where}: {problems}", exit_code=2) from None


def coupon_from(data: Mapping[str, Any]) -> coupons.Coupon:
    def when(v: Any) -> datetime | None:
        if v is None or isinstance(v, datetime):
            return v
        try:
            d = datetime.fromisoformat(str(v))
        except ValueError:
            raise UserError(f"coupon: {v!r} is not a date and time", exit_code=2) from None
        return d if d.tzinfo else d.replace(tzinfo=UTC)

    known = set(coupons.Coupon.__dataclass_fields__)
    unknown = set(data) - known
    if unknown:
        raise UserError(f"coupon: unknown field(s) {sorted(unknown)}; fields are {sorted(known)}", exit_code=2)
    for k in ("off", "off_bp", "min_amount"):
        v = data.get(k, 0)
        if not isinstance(v, int) or isinstance(v, bool) or v < 0:
            raise UserError(f"coupon: {k} must be a whole number ≥ 0 (minor units / basis points)", exit_code=2)
    if int(data.get("off_bp", 0)) > 10_000:
        raise UserError("coupon: off_bp is at most 10000 (100%)", exit_code=2)
    values = dict(data)
    values["starts"], values["ends"] = when(data.get("starts")), when(data.get("ends"))
    return coupons.Coupon(**values)


class Shop:
    """Selling operations for one workspace of ``app``."""

    def __init__(self, app: App) -> None:
        self.app = app
        self.store = app.store
        self.ws = app.ws.id

    # -- helpers --------------------------------------------------------------------------------------------

    def _state(self, community: str) -> CommunityState:
        return self.app.saved_state().community(community)

    def _member(self, community: str, who: str) -> MemberState | None:
        members = self._state(community).members
        found = [m for m in members.values() if who in (m.key, m.name, m.key.partition(":")[2])]
        return found[0] if len(found) == 1 else None

    def _record(self, community_id: int | None) -> CommunityRecord | None:
        if community_id is None:
            return None
        return next((r for r in self.app.communities() if r.id == community_id), None)

    def _group_for(self, record: CommunityRecord | None, platform: str, preferred: str = "") -> str:
        """The group a commerce event is logged in: the product's group, else the community's first group on the
        buyer's platform (so the community's policies see it), else none."""
        if record is None:
            return ""
        with self.store.transaction() as conn:
            groups = [
                g for g in self.store.groups.list(conn, self.ws, community_id=record.id) if g.platform == platform
            ]
        if preferred and any(g.platform_id == preferred for g in groups):
            return preferred
        return groups[0].platform_id if groups else ""

    def _community_of_group(self, platform: str, group: str) -> CommunityRecord | None:
        if not group:
            return None
        with self.store.transaction() as conn:
            found = next(
                (g for g in self.store.groups.list(conn, self.ws) if g.platform == platform and g.platform_id == group),
                None,
            )
        return self.app.community(found.community) if found and found.community else None

    # -- products -------------------------------------------------------------------------------------------

    def put_product(self, data: Mapping[str, Any], *, where: str = "product", actor: str = "cli") -> offers.Product:
        p = product_from(data, where=where)
        record = self.app.community(p.community) if p.community else None
        now = self.app.now_ms()
        with self.app.transaction() as conn:
            new = self.store.commerce.put_product(
                conn,
                self.ws,
                sku=p.sku,
                community_id=record.id if record else None,
                spec=p.model_dump(mode="json"),
                now_ms=now,
            )
            self.store.audit.record(
                conn,
                self.ws,
                actor=actor,
                verb="product.create" if new else "product.update",
                object_type="product",
                object_id=p.sku,
                detail={"price": p.price, "currency": p.currency},
                now_ms=now,
            )
        return p

    def product(self, sku: str) -> offers.Product:
        with self.store.transaction() as conn:
            data = self.store.commerce.product(conn, self.ws, sku)
        if data is None:
            raise UserError(t("commerce.no_product", None, sku=sku), exit_code=2)
        return offers.Product.model_validate(data)

    def products(self, community: str | None = None) -> list[offers.Product]:
        cid = self.app.community(community).id if community else None
        with self.store.transaction() as conn:
            return [
                offers.Product.model_validate(d) for d in self.store.commerce.products(conn, self.ws, community_id=cid)
            ]

    def status(self, sku: str) -> dict[str, Any]:
        """Sold, places left, the next price; a group-buy's or a crowdfunding's standing."""
        p = self.product(sku)
        now = from_ms(self.app.now_ms())
        with self.store.transaction() as conn:
            sold, by_tier = self.store.commerce.sold(conn, self.ws, sku)
            paid = self.store.commerce.orders(conn, self.ws, sku=sku, status=["paid"])
        nxt = offers.quote(
            p, sold=sold, now=now, member=True, reward=p.rewards[0].key if p.rewards else "", reward_sold=by_tier
        )
        out: dict[str, Any] = {
            "sku": p.sku,
            "name": p.name,
            "community": p.community,
            "currency": p.currency,
            "sold": sold,
            "paid": len(paid),
            "revenue": sum(o.amount for o in paid),
            "left": None if p.stock is None else max(0, p.stock - sold),
            "next_price": nxt.unit if isinstance(nxt, offers.Quote) else None,
            "next_tier": nxt.tier if isinstance(nxt, offers.Quote) else "",
            "closed": nxt.reason if isinstance(nxt, offers.Refusal) else "",
        }
        if p.group_buy is not None and paid:
            opened = from_ms(min(o.created_ms for o in paid))
            out["group_buy"] = offers.group_buy_state(p, len({o.member for o in paid}), opened, now)
        if p.goal is not None:
            g = offers.goal_progress(
                p,
                raised=sum(o.amount for o in paid),
                units=sum(o.quantity for o in paid),
                backers=len({o.member for o in paid}),
                now=now,
            )
            out["goal"] = {
                "target": g.target,
                "share": g.share,
                "status": g.status,
                "backers": g.backers,
                "by_reward": by_tier,
            }
        return out

    def group_buy_check(self, communities: Collection[str | None] | None = None) -> list[dict[str, Any]]:
        """Every group-buy (成团) that failed to form in time: its unpaid orders are cancelled and each paid one
        becomes a staff task to refund it (the shop's refund then arrives as a webhook); once per order. With
        ``communities``, only the products of those (None among them: the workspace's own products)."""
        from shequn.domain import OpenStaffTask

        now_ms = self.app.now_ms()
        now = from_ms(now_ms)
        out: list[dict[str, Any]] = []
        for p in self.products():
            if p.group_buy is None or (communities is not None and p.community not in communities):
                continue
            with self.store.transaction() as conn:
                orders = self.store.commerce.orders(conn, self.ws, sku=p.sku, status=["created", "paid"])
            if not orders:
                continue
            opened = from_ms(min(o.created_ms for o in orders))
            paid = [o for o in orders if o.status == "paid"]
            state = offers.group_buy_state(p, len({o.member for o in paid}), opened, now)
            out.append(
                {
                    "sku": p.sku,
                    "state": state,
                    "buyers": len({o.member for o in paid}),
                    "needed": p.group_buy.min_buyers,
                }
            )
            if state != "failed":
                continue
            record = self.app.community(p.community) if p.community else None
            loc = record.spec.locale if record else None
            tasks = [
                OpenStaffTask(
                    key=f"group_buy:{p.sku}:refund:{o.order_id}",
                    at=now,
                    community=p.community,
                    platform=o.member.partition(":")[0],
                    target=o.member.partition(":")[2],
                    policy="group_buy",
                    title=t(
                        "commerce.refund_task",
                        loc,
                        order=o.order_id,
                        sku=p.sku,
                        amount=f"{o.amount / 100:.2f} {o.currency}",
                    ),
                )
                for o in paid
            ]
            with self.app.transaction() as conn:
                for o in orders:
                    if o.status == "created":
                        self.store.commerce.set_status(conn, o.id, "cancelled", now_ms=now_ms)
                        self.store.commerce.release(conn, o.id)
                self.app.enqueue_actions(conn, tasks)
        return out

    # -- buying ---------------------------------------------------------------------------------------------

    def quote(self, sku: str, who: str = "", *, quantity: int = 1, reward: str = "") -> offers.Quote | offers.Refusal:
        p = self.product(sku)
        member = self._member(p.community, who) if (p.community and who) else None
        with self.store.transaction() as conn:
            sold, by_tier = self.store.commerce.sold(conn, self.ws, sku)
        return offers.quote(
            p,
            sold=sold,
            now=from_ms(self.app.now_ms()),
            member=bool(member and member.active),
            quantity=quantity,
            reward=reward,
            reward_sold=by_tier,
        )

    def buy(
        self,
        sku: str,
        who: str,
        *,
        quantity: int = 1,
        coupon: str = "",
        reward: str = "",
        referrer: str = "",
        order_id: str = "",
    ) -> OrderRecord:
        """Create an order of ``sku`` for ``who`` (a member, or ``platform:id`` of someone not in yet), at the
        offer's price for the next buyer, with the coupon; it waits for its payment."""
        p = self.product(sku)
        record = self.app.community(p.community) if p.community else None
        member = self._member(p.community, who) if p.community else None
        key = member.key if member else who
        if ":" not in key:
            raise UserError(t("commerce.who", None, who=who), exit_code=2)
        now_ms = self.app.now_ms()
        now = from_ms(now_ms)
        with self.app.transaction() as conn:
            sold, by_tier = self.store.commerce.sold(conn, self.ws, sku)
            q = offers.quote(
                p,
                sold=sold,
                now=now,
                member=bool(member and member.active),
                quantity=quantity,
                reward=reward,
                reward_sold=by_tier,
            )
            if isinstance(q, offers.Refusal):
                raise UserError(t(f"commerce.refused.{q.reason}", None, sku=sku, detail=q.detail), exit_code=2)
            off, coupon_id = 0, None
            if coupon:
                found = self.store.commerce.coupon(conn, self.ws, coupon)
                if found is None:
                    raise UserError(t("commerce.no_coupon", None, code=coupon), exit_code=2)
                coupon_id, spec = found
                claim = self.store.commerce.claim(conn, coupon_id, key)
                if claim is None or claim[1] is not None:
                    raise UserError(t("commerce.coupon_not_claimed", None, code=coupon), exit_code=2)
                off, why = coupons.discount(coupon_from(spec), amount=q.amount, currency=q.currency, sku=sku, now=now)
                if why:
                    raise UserError(t("commerce.coupon_unusable", None, code=coupon, reason=why), exit_code=2)
            oid = order_id or f"SQ-{stable_id(str(self.ws), sku, key, str(now_ms), str(sold))[:12].upper()}"
            ref = referrer or (member.inviter if member else "")
            order = self.store.commerce.add_order(
                conn,
                self.ws,
                community_id=record.id if record else None,
                source=SHEQUN,
                order_id=oid,
                sku=sku,
                member=key,
                quantity=quantity,
                amount=q.amount - off,
                currency=q.currency,
                status="created",
                tier=q.tier,
                coupon=coupon,
                discount=off,
                referrer=ref,
                now_ms=now_ms,
            )
            if coupon_id is not None:
                self.store.commerce.redeem(conn, coupon_id, key, order.id, now_ms=now_ms)
            platform, _, pid = key.partition(":")
            event = Order(
                id=stable_id("order", SHEQUN, oid, "created"),
                at=now,
                platform=platform,
                group=self._group_for(record, platform, p.group),
                actor=pid,
                actor_name=member.name if member else "",
                order_id=oid,
                status=OrderStatus.CREATED,
                amount=order.amount,
                currency=order.currency,
                product=sku,
                quantity=quantity,
                extra={"source": SHEQUN, "tier": q.tier, "coupon": coupon},
            )
            self.app.ingest_in(conn, [event])
            self.store.audit.record(
                conn,
                self.ws,
                actor="shop",
                verb="order.create",
                object_type="order",
                object_id=oid,
                detail={
                    "amount": order.amount,
                    "currency": order.currency,
                    "sku": sku,
                    "tier": q.tier,
                    "discount": off,
                },
                now_ms=now_ms,
            )
        return order

    # -- coupons --------------------------------------------------------------------------------------------

    def put_coupon(self, data: Mapping[str, Any]) -> coupons.Coupon:
        c = coupon_from(data)
        record = self.app.community(c.community) if c.community else None
        if c.sku:
            self.product(c.sku)
        with self.app.transaction() as conn:
            spec = {k: (v.isoformat() if isinstance(v, datetime) else v) for k, v in data.items()}
            self.store.commerce.put_coupon(
                conn,
                self.ws,
                code=c.code,
                community_id=record.id if record else None,
                spec=spec,
                now_ms=self.app.now_ms(),
            )
        return c

    def claim(self, code: str, who: str) -> str:
        """A member claims a coupon (领券): logged as a ``coupon_claim`` event; returns the member key."""
        now_ms = self.app.now_ms()
        with self.store.transaction() as conn:
            found = self.store.commerce.coupon(conn, self.ws, code)
        if found is None:
            raise UserError(t("commerce.no_coupon", None, code=code), exit_code=2)
        cid, spec = found
        c = coupon_from(spec)
        member = self._member(c.community, who) if c.community else None
        key = member.key if member else who
        if ":" not in key:
            raise UserError(t("commerce.who", None, who=who), exit_code=2)
        from shequn.domain import CouponClaim

        record = self.app.community(c.community) if c.community else None
        platform, _, pid = key.partition(":")
        with self.app.transaction() as conn:
            why = coupons.can_claim(
                c,
                claimed=self.store.commerce.claims(conn, cid),
                already=self.store.commerce.claim(conn, cid, key) is not None,
                member=bool(member and member.active),
                now=from_ms(now_ms),
            )
            if why:
                raise UserError(t(f"commerce.claim.{why}", None, code=code), exit_code=2)
            self.store.commerce.add_claim(conn, cid, key, now_ms=now_ms)
            event = CouponClaim(
                id=stable_id("coupon", code, key),
                at=from_ms(now_ms),
                platform=platform,
                group=self._group_for(record, platform),
                actor=pid,
                coupon_id=code,
                campaign=c.sku,
            )
            self.app.ingest_in(conn, [event])
        return key

    # -- deliveries: webhooks and imports -------------------------------------------------------------------

    def deliver(self, kind: str, body: Mapping[str, Any], *, source: str) -> Delivery:
        """One shop delivery (an order's status or a payment), checked against the ledger; raises
        :class:`RejectedError` (after recording it) when refused."""
        at = body.get("at") or from_ms(self.app.now_ms())
        if isinstance(at, datetime) and at.tzinfo is None:
            at = at.replace(tzinfo=UTC)
        platform = str(body.get("buyer_platform") or "shop")
        buyer = str(body.get("buyer_id") or "")
        amount, currency = int(body["amount"]), str(body["currency"])
        now_ms = self.app.now_ms()
        with self.app.transaction() as conn:
            if kind == "order":
                oid, status = str(body["order_id"]), str(body["status"])
                order = self.store.commerce.order(conn, self.ws, oid, source=source)
                if order is None and source != SHEQUN:
                    order = self.store.commerce.order(conn, self.ws, oid, source=SHEQUN)
                view = _view(order)
                if order is None and status == "paid":
                    verdict = ledger.Verdict(True, credit=True)  # a shop's own order, reported once paid
                else:
                    verdict = ledger.check_order(view, status=status, amount=amount, currency=currency)
                # One order, one fact per status, whichever shop reports it: an order made here and reported by
                # two shops is credited once (its id is the order's own source, not the reporting shop).
                event_id = stable_id("webhook", order.source if order else source, "order", oid, status)
                ref = oid
            else:
                pid, oid = str(body["payment_id"]), str(body.get("order_id") or "")
                order = self.store.commerce.order(conn, self.ws, oid, source=source) if oid else None
                if oid and order is None and source != SHEQUN:
                    order = self.store.commerce.order(conn, self.ws, oid, source=SHEQUN)
                event_id = stable_id("webhook", source, "payment", pid)
                ref = pid
                if oid:
                    verdict = ledger.check_payment(_view(order), payment_id=pid, amount=amount, currency=currency)
                else:  # an entry fee, a membership, a tip: no order to check; a repeat is a duplicate by its id
                    seen = self.store.events.get(conn, self.ws, event_id) is not None
                    verdict = ledger.Verdict(False, duplicate=True, reason="duplicate") if seen else ledger.ACCEPT
            if not verdict.ok:
                self.store.commerce.reject(
                    conn,
                    self.ws,
                    source=source,
                    kind=kind,
                    ref=ref,
                    reason=verdict.reason,
                    detail=verdict.detail,
                    now_ms=now_ms,
                )
                if verdict.duplicate:
                    return Delivery(event_id, True, order)
        if not verdict.ok:
            raise RejectedError(verdict.reason, verdict.detail, ref)
        with self.app.transaction() as conn:
            record = self._record(order.community_id) if order else None
            if order is None and kind == "order":
                record = self._community_of_group(platform, str(body.get("group") or ""))
                order = self.store.commerce.add_order(
                    conn,
                    self.ws,
                    community_id=record.id if record else None,
                    source=source,
                    order_id=str(body["order_id"]),
                    sku=str(body.get("product") or ""),
                    member=f"{platform}:{buyer}" if buyer else "",
                    quantity=int(body.get("quantity") or 1),
                    amount=amount,
                    currency=currency,
                    status="created",
                    now_ms=now_ms,
                )
            events: list[Event] = []
            group = str(body.get("group") or "") or self._group_for(record, platform)
            if kind == "order":
                status = str(body["status"])
                events.append(
                    Order(
                        id=event_id,
                        at=at,
                        platform=platform,
                        group=group,
                        actor=buyer,
                        actor_name=str(body.get("buyer_name") or ""),
                        order_id=str(body["order_id"]),
                        status=OrderStatus(status),
                        amount=amount,
                        currency=currency,
                        product=str(body.get("product") or (order.sku if order else "")),
                        quantity=int(body.get("quantity") or 1),
                        extra={"source": source},
                    )
                )
            else:
                purpose = str(body.get("purpose") or "order")
                if order is not None and order.sku and purpose == "order":
                    purpose = self._purpose(order.sku)
                events.append(
                    Payment(
                        id=event_id,
                        at=at,
                        platform=platform,
                        group=group,
                        actor=buyer,
                        actor_name=str(body.get("buyer_name") or ""),
                        payment_id=str(body["payment_id"]),
                        amount=amount,
                        currency=currency,
                        order_id=str(body.get("order_id") or ""),
                        purpose=purpose,
                        extra={"source": source},
                    )
                )
                status = "paid" if order is not None else ""
            if order is not None and status and status != order.status:
                self.store.commerce.set_status(
                    conn,
                    order.id,
                    status,
                    now_ms=now_ms,
                    payment_id=str(body["payment_id"]) if kind == "payment" else None,
                )
                events += self._after(conn, order, status, at)
            report = self.app.ingest_in(conn, events)
            self.store.audit.record(
                conn,
                self.ws,
                actor=f"webhook:{source}",
                verb=f"webhook.{kind}",
                object_type=kind,
                object_id=ref,
                detail={"amount": amount, "currency": currency, "event": event_id},
                now_ms=now_ms,
            )
        return Delivery(event_id, report.added == 0, order)

    def _purpose(self, sku: str) -> str:
        try:
            return self.product(sku).purpose
        except UserError:
            return "order"

    def _after(self, conn: Any, order: OrderRecord, status: str, at: datetime) -> list[Event]:
        """What a paid or refunded order changes: commissions, the coupon, the buyer's stage on the value ladder."""
        if status in ("refunded", "cancelled"):
            self.store.commerce.void_commissions(conn, order.id)
            if status == "cancelled":
                self.store.commerce.release(conn, order.id)
            return []
        if status != "paid" or order.community_id is None:
            return []
        record = self._record(order.community_id)
        if record is None:
            return []
        try:
            p = self.product(order.sku)
        except UserError:
            return []
        upline: list[str] = []
        if order.referrer and order.referrer != order.member:
            upline = [order.referrer]
            if len(p.commission_bp) > 1:
                tree = self._tree(record.name)
                upline += [x for x in tree.upline(order.referrer, len(p.commission_bp) - 1) if x != order.member]
        bp = p.commission_bp or list(load_playbook().default("commerce", "commission_bp"))
        rows = revenue.commissions(order.amount, order.currency, bp, upline)
        self.store.commerce.add_commissions(
            conn,
            self.ws,
            order.id,
            [(c.beneficiary, c.level, c.amount, c.currency) for c in rows],
            now_ms=self.app.now_ms(),
        )
        if not p.ladder or not order.member:
            return []
        member = self._state(record.name).members.get(order.member)
        current = revenue.stage(
            tag.partition(":")[2] for tag in (member.tags if member else ()) if tag.startswith("stage:")
        )
        new = revenue.stage([current, p.ladder])
        if new == current:
            return []
        platform, _, pid = order.member.partition(":")

        def stage(op: str, value: str) -> Event:
            return OperatorAction(
                id=stable_id("ladder", order.order_id, op, value),
                at=at,
                platform=platform,
                community=record.name,
                op=op,
                target=pid,
                value=f"stage:{value}",
                by="shop",
            )

        return [*([stage("untag", current)] if current else []), stage("tag", new)]

    def _tree(self, community: str) -> referral.Tree:
        from shequn.services.growth import Growth

        return Growth(self.app).tree(community)

    def rejections(self, *, limit: int = 200) -> list[dict[str, Any]]:
        with self.store.transaction() as conn:
            rows = self.store.commerce.rejections(conn, self.ws, limit=limit)
        return [
            {
                "at": from_ms(r.at_ms).isoformat(),
                "source": r.source,
                "kind": r.kind,
                "ref": r.ref,
                "reason": r.reason,
                "detail": r.detail,
            }
            for r in rows
        ]

    def orders(self, *, community: str | None = None, sku: str | None = None, limit: int = 200) -> list[OrderRecord]:
        cid = self.app.community(community).id if community else None
        with self.store.transaction() as conn:
            return self.store.commerce.orders(conn, self.ws, community_id=cid, sku=sku, limit=limit)

    # -- resources and introductions ------------------------------------------------------------------------

    def resource(self, community: str, who: str, side: str, text: str, tags: Sequence[str] = ()) -> int:
        if side not in ("offer", "need"):
            raise UserError(t("commerce.bad_side", None, side=side), exit_code=2)
        record = self.app.community(community)
        m = self._member(record.name, who)
        if m is None:
            raise UserError(t("growth.no_member", None, member=who, community=record.name), exit_code=2)
        with self.app.transaction() as conn:
            return self.store.commerce.add_resource(
                conn,
                self.ws,
                community_id=record.id,
                member=m.key,
                side=side,
                text=text,
                tags=list(tags),
                now_ms=self.app.now_ms(),
            )

    def suggestions(self, community: str) -> list[matching.Suggestion]:
        record = self.app.community(community)
        with self.store.transaction() as conn:
            rows = self.store.commerce.resources(conn, self.ws, record.id)
        return matching.suggest(matching.Resource(i, m, s, tx, frozenset(tags)) for i, m, s, tx, tags in rows)

    def introduce(self, community: str, need_id: int, offer_id: int, *, by: str = "cli", note: str = "") -> int:
        record = self.app.community(community)
        with self.store.transaction() as conn:
            rows = {r[0]: r for r in self.store.commerce.resources(conn, self.ws, record.id)}
        need, offer = rows.get(need_id), rows.get(offer_id)
        if need is None or offer is None or need[2] != "need" or offer[2] != "offer":
            raise UserError(t("commerce.bad_intro", None, need=need_id, offer=offer_id), exit_code=2)
        with self.app.transaction() as conn:
            return self.store.commerce.add_intro(
                conn,
                self.ws,
                community_id=record.id,
                a=need[1],
                b=offer[1],
                need_id=need_id,
                offer_id=offer_id,
                status="made",
                by=by,
                note=note,
                now_ms=self.app.now_ms(),
            )

    def outcome(self, intro_id: int, status: str, *, value: int = 0, currency: str = "CNY", note: str = "") -> None:
        if status not in matching.OUTCOMES:
            raise UserError(
                t("commerce.bad_outcome", None, status=status, outcomes=", ".join(matching.OUTCOMES)), exit_code=2
            )
        with self.app.transaction() as conn:
            self.store.commerce.set_intro(
                conn,
                self.ws,
                intro_id,
                status=status,
                value=value,
                currency=currency,
                note=note,
                now_ms=self.app.now_ms(),
            )

    def report_measures(self, community: str | None = None) -> dict[str, Any]:
        """The measures for the report, per community; empty when the workspace sells nothing (no products,
        orders, coupons or introductions: the report then shows the funnels only)."""
        with self.store.transaction() as conn:
            if not self.store.commerce.any(conn, self.ws):
                return {}
        measures: dict[str, Any] = self.measures(community)["communities"]
        return measures

    # -- the measures ---------------------------------------------------------------------------------------

    def measures(self, community: str | None = None) -> dict[str, Any]:
        """Per community: revenue by mode, revenue per member, coupon claim → purchase, renewal rate, the value
        ladder's stages with the next offer, commissions, introductions; workspace-wide: rejected deliveries."""
        from shequn.policies.membership import renewal_rate

        records = [self.app.community(community)] if community else self.app.communities()
        state = self.app.saved_state()
        with self.store.transaction() as conn:
            all_orders = self.store.commerce.orders(conn, self.ws)
            coupon_rows = self.store.commerce.coupon_funnel(conn, self.ws)
            coupon_comm = {
                spec.get("code"): spec.get("community", "") for _i, spec in self.store.commerce.coupons(conn, self.ws)
            }
            products = {d["sku"]: d for d in self.store.commerce.products(conn, self.ws)}
            comm_rows = self.store.commerce.commissions(conn, self.ws)
            intros = self.store.commerce.intros(conn, self.ws)
            rejections = self.store.commerce.rejections(conn, self.ws, limit=10_000)
        out: dict[str, Any] = {}
        for r in records:
            cs = state.community(r.name)
            orders = [o for o in all_orders if o.community_id == r.id]
            rows = [(products.get(o.sku, {}).get("mode", "ecommerce"), o.currency, o.status, o.amount) for o in orders]
            by_mode = revenue.by_mode(rows)
            members = sum(1 for m in cs.members.values() if m.active)  # in a group now: the one member count
            totals: dict[str, int] = {}
            for per in by_mode.values():
                for cur, v in per.items():
                    totals[cur] = totals.get(cur, 0) + v
            buyers = {o.member for o in orders if o.status == "paid"}
            claims = {c: v for c, v in coupon_rows.items() if coupon_comm.get(c) == r.name}
            claimed = sum(v[0] for v in claims.values())
            purchased = sum(v[2] for v in claims.values())
            stages: dict[str, int] = {}
            for m in cs.members.values():
                s = revenue.stage(tg.partition(":")[2] for tg in m.tags if tg.startswith("stage:"))
                if m.active:
                    stages[s or "none"] = stages.get(s or "none", 0) + 1
            offers_by_step: dict[str, list[str]] = {}
            for d in products.values():
                if d.get("community") == r.name and d.get("ladder"):
                    offers_by_step.setdefault(d["ladder"], []).append(d["sku"])
            ladder = [
                {
                    "stage": s,
                    "members": stages.get(s, 0),
                    "next": revenue.next_stage("" if s == "none" else s),
                    "next_offers": offers_by_step.get(revenue.next_stage("" if s == "none" else s), []),
                }
                for s in ("none", *offers.LADDER)
            ]
            renew = renewal_rate(cs)
            ci = [i for i in intros if i.community_id == r.id]
            out[r.name] = {
                "type": r.type,
                "revenue": totals,
                "revenue_by_mode": by_mode,
                "members": members,
                "buyers": len(buyers),
                "revenue_per_member": {c: (v // members if members else 0) for c, v in totals.items()},
                "orders": {
                    s: sum(1 for o in orders if o.status == s) for s in ("created", "paid", "refunded", "cancelled")
                },
                "coupons": {
                    "claimed": claimed,
                    "purchased": purchased,
                    "rate": round(purchased / claimed, 4) if claimed else None,
                    "by_code": {c: {"claimed": a, "redeemed": b, "purchased": p} for c, (a, b, p) in claims.items()},
                },
                "renewal_rate": renew,
                "ladder": ladder,
                "introductions": {s: sum(1 for i in ci if i.status == s) for s in matching.OUTCOMES},
            }
        member_keys = {m for r in records for m in state.community(r.name).members}
        out_all: dict[str, Any] = {"communities": out}
        out_all["commissions"] = [
            {"beneficiary": b, "currency": c, "orders": n, "due": d, "void": v}
            for b, c, n, d, v in comm_rows
            if community is None or b in member_keys
        ]
        reasons: dict[str, int] = {}
        for x in rejections:
            reasons[x.reason] = reasons.get(x.reason, 0) + 1
        out_all["rejections"] = reasons
        return out_all


def _view(order: OrderRecord | None) -> ledger.OrderView | None:
    if order is None:
        return None
    return ledger.OrderView(order.order_id, order.amount, order.currency, order.status, order.payment_id)


def mask(key: str) -> str:
    """A member key for reports: the platform and the id's last four characters."""
    platform, _, pid = key.partition(":")
    return f"{platform}:…{pid[-4:]}" if len(pid) > 4 else key


__all__ = ["SHEQUN", "Delivery", "RejectedError", "Shop", "coupon_from", "mask", "product_from", "to_ms"]
