"""``/api/v1/webhooks/{source}/orders|payments``: shops report orders and payments here.

These are platform callbacks: they answer without a login because they verify their own signature (HMAC-SHA256 with
the workspace's webhook secret over ``"<t>.<body>"``, see :mod:`shequn.web.security`). A delivery repeated by the
shop is recognised by its ids and changes nothing (``duplicate: true``). Every delivery is checked against the order
ledger (:mod:`shequn.services.shop`): an unknown order, a wrong amount or currency, a second payment for a paid order
answer 409 with the reason, which is recorded; nothing is credited.
"""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Header, HTTPException, Path, Request
from pydantic import BaseModel, ValidationError

from shequn.web.deps import AccountsDep, OpsDep
from shequn.web.schemas import OrderIn, PaymentIn, WebhookOut
from shequn.web.security import SIGNATURE_HEADER, verify_signature

router = APIRouter(tags=["webhooks"])
Source = Path(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the shop's name")
PUBLIC = True  # read by the route-table test: these routes authenticate by signature, not by login


async def _verified(
    request: Request, accounts: AccountsDep, signature: str | None, model: type[BaseModel]
) -> BaseModel:
    body = await request.body()
    if len(body) > 64 * 1024:
        raise HTTPException(413, "a webhook body may have at most 64 KiB")
    problem = verify_signature(accounts.webhook_secret(), signature or "", body)
    if problem:
        raise HTTPException(401, problem)
    try:
        return model.model_validate(orjson.loads(body))
    except orjson.JSONDecodeError as exc:
        raise HTTPException(422, f"body is not JSON: {exc}") from None
    except ValidationError as exc:
        raise HTTPException(
            422, "; ".join(f"{'.'.join(map(str, e['loc']))}: {e['msg']}" for e in exc.errors())
        ) from None


def _ingest(ops: OpsDep, kind: Literal["order", "payment"], data: BaseModel, source: str) -> WebhookOut:
    from shequn.services.shop import RejectedError

    try:
        event_id, added = ops.shop_event(kind, data.model_dump(), source=source)
    except RejectedError as exc:
        # Refused by the order ledger (unknown order, wrong amount …): recorded with the reason, nothing credited.
        raise HTTPException(409, {"reason": exc.reason, "detail": exc.detail, "ref": exc.ref}) from None
    return WebhookOut(event_id=event_id, duplicate=not added)


def _body(model: type[BaseModel]) -> dict[str, object]:
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": model.model_json_schema()}}}}


@router.post(
    "/webhooks/{source}/orders",
    response_model=WebhookOut,
    openapi_extra=_body(OrderIn),
)
async def order(
    request: Request,
    ops: OpsDep,
    accounts: AccountsDep,
    source: str = Source,
    x_shequn_signature: str | None = Header(None, alias=SIGNATURE_HEADER),
) -> WebhookOut:
    """An order was created, paid, refunded or cancelled (amount in minor units with its currency)."""
    data = await _verified(request, accounts, x_shequn_signature, OrderIn)
    return _ingest(ops, "order", data, source)


@router.post(
    "/webhooks/{source}/payments",
    response_model=WebhookOut,
    openapi_extra=_body(PaymentIn),
)
async def payment(
    request: Request,
    ops: OpsDep,
    accounts: AccountsDep,
    source: str = Source,
    x_shequn_signature: str | None = Header(None, alias=SIGNATURE_HEADER),
) -> WebhookOut:
    """Money was received (amount in minor units with its currency)."""
    data = await _verified(request, accounts, x_shequn_signature, PaymentIn)
    return _ingest(ops, "payment", data, source)
