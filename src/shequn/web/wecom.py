"""``/wecom/callback``: WeCom's customer-group callbacks (企业微信回调), verified and decrypted per the callback spec.

Public by design: a request authenticates by its ``msg_signature`` over the encrypted body, made with the app's
token, and by the corp id inside the ciphertext (:mod:`shequn.connectors.wecom.crypto`). Settings from the
environment of ``shequn serve``: ``SHEQUN_WECOM_TOKEN``, ``SHEQUN_WECOM_AES_KEY`` (the 43-character EncodingAESKey),
``SHEQUN_WECOM_CORP_ID``. Without them the endpoint answers 404. Change events go through the pipeline like any
event (a repeated one has the same id and changes nothing).
"""

from __future__ import annotations

import os
import time

from fastapi import APIRouter, Request, Response

from shequn.web.deps import OpsDep
from shequn.web.security import read_at_most

router = APIRouter(tags=["wecom"])
PUBLIC = True  # authenticates by signature, not by login
_crypto: dict[tuple[str, str, str], object] = {}


def _settings() -> tuple[str, str, str] | None:
    token, key, corp = (
        os.environ.get(k, "") for k in ("SHEQUN_WECOM_TOKEN", "SHEQUN_WECOM_AES_KEY", "SHEQUN_WECOM_CORP_ID")
    )
    return (token, key, corp) if token and key and corp else None


async def _handle(request: Request, ops: OpsDep) -> Response:
    from shequn.connectors.wecom.connector import handle_callback
    from shequn.connectors.wecom.crypto import REPLAY_WINDOW_S, CallbackCrypto

    settings = _settings()
    if settings is None:
        return Response(status_code=404)
    crypto = _crypto.get(settings)
    if crypto is None:
        crypto = _crypto[settings] = CallbackCrypto(*settings)
    try:  # a stale or unsigned callback is refused before its body is read; the body is read up to 64 KiB
        stale = abs(time.time() - int(request.query_params.get("timestamp", ""))) > REPLAY_WINDOW_S
    except ValueError:
        stale = True
    if stale or not request.query_params.get("msg_signature"):
        return Response(content=b"refused", status_code=403, media_type="text/plain")
    body = await read_at_most(request, 64 * 1024)
    assert isinstance(crypto, CallbackCrypto)
    status, reply, events = handle_callback(crypto, request.method, dict(request.query_params), body)
    if events:
        with ops.write():  # one writer at a time, as for every pipeline write of the console
            ops.app.refresh()
            ops.app.ingest(events)
    return Response(content=reply, status_code=status, media_type="text/plain")


@router.get("/wecom/callback", include_in_schema=False)
async def verify(request: Request, ops: OpsDep) -> Response:
    """URL verification: the decrypted ``echostr``."""
    return await _handle(request, ops)


@router.post("/wecom/callback", include_in_schema=False)
async def receive(request: Request, ops: OpsDep) -> Response:
    """A change event: ``success``."""
    return await _handle(request, ops)
