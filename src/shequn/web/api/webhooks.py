"""``/api/v1/webhooks/{source}/orders|payments``: shops report orders and payments here.

These are platform callbacks: they answer without a login because they verify their own signature (HMAC-SHA256 with
the shop's own secret over ``"<t>.<METHOD>.<path>.<body>"``, see :mod:`shequn.web.security`). Before the body is
read, the declared length, the signature header's form and age, and that the shop has a secret are checked; the body
is then read up to 64 KiB, no further. A delivery repeated by the shop is recognised by its ids and changes nothing
(``duplicate: true``); an order made in shequn and reported paid by several shops is credited once. Every delivery
is checked against the order ledger (:mod:`shequn.services.shop`): an unknown order, a wrong amount or currency, a
second payment for a paid order answer 409 with the reason, which is recorded; nothing is credited.
"""

from __future__ import annotations

from typing import Literal

import orjson
from fastapi import APIRouter, Header, HTTPException, Path, Request
from pydantic import BaseModel, ValidationError

from shequn.web.deps import AccountsDep, OpsDep
from shequn.web.schemas import OrderIn, PaymentIn, WebhookOut
from shequn.web.security import (
    SIGNATURE_HEADER,
    WEBHOOK_MAX_BYTES,
    read_at_most,
    signature_timestamp,
    verify_signature,
)

router = APIRouter(tags=["webhooks"])
Source = Path(min_length=1, max_length=40, pattern=r"^[a-z0-9][a-z0-9_-]*$", description="the shop's name")
PUBLIC = True  # read by the route-table test: these routes authenticate by signature, not by login


async def _verified(
    request: Request, accounts: AccountsDep, source: str, signature: str | None, model: type[BaseModel]
) -> BaseModel:
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > WEBHOOK_MAX_BYTES:
        raise HTTPException(413, "a webhook body may have at most 64 KiB")
    _ts, problem = signature_timestamp(signature or "")
    secret = accounts.shop_secret(source) if problem is None else None
    if problem is None and secret is None:
        problem = f"no webhook secret for shop {source!r}: an owner creates one (GET /api/v1/webhook-secret?shop=...)"
    if problem or secret is None:
        raise HTTPException(401, problem)
    body = await read_at_most(request, WEBHOOK_MAX_BYTES)
    problem = verify_signature(secret, signature or "", request.method, request.url.path, body)
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
    data = await _verified(request, accounts, source, x_shequn_signature, OrderIn)
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
    data = await _verified(request, accounts, source, x_shequn_signature, PaymentIn)
    return _ingest(ops, "payment", data, source)
