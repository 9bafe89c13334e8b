"""Feishu's HTTP event callback (事件订阅 · 请求地址): signature, decryption, token and the URL challenge.

How it works:
    With an encrypt key, Feishu posts ``{"encrypt": base64(iv + AES-256-CBC(event))}`` whose key is SHA-256 of the
    encrypt key, and signs every delivery: ``X-Lark-Signature`` = hex SHA-256 of timestamp + nonce + encrypt key +
    the raw body (``X-Lark-Request-Timestamp``, ``X-Lark-Request-Nonce``). :func:`open_delivery` checks the
    signature (and that the timestamp is within :data:`FRESH` of now: an old delivery replayed is refused) before it
    decrypts (only the URL challenge may come unsigned), then the verification token every event carries
    (``header.token``, or ``token`` for the v1 envelope and the challenge). The ``url_verification`` challenge Feishu
    sends when the request URL is saved is answered with its ``challenge``. Decryption is the SDK's
    :class:`lark_oapi.core.utils.decryptor.AESCipher`.

Things to keep in mind:
    * With an encrypt key configured, a plain (unencrypted) delivery is refused: nothing downgrades the check.
    * Comparisons are constant-time; neither the key nor the token reaches a log line or an error.
"""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import orjson

FRESH = 300.0  # seconds a signed delivery's timestamp may be away from now
MAX_BODY = 1 << 20  # Feishu's events are a few KB; the declared length is checked before the body is read


class RefusedError(Exception):
    """A delivery that does not come from Feishu (bad signature, token, or stale); the HTTP status to answer."""

    def __init__(self, status: int, why: str) -> None:
        super().__init__(why)
        self.status = status


@dataclass(frozen=True, slots=True)
class Delivery:
    """An opened delivery: the event, or the challenge to echo back."""

    event: Mapping[str, Any]
    challenge: str | None = None


def signature(timestamp: str, nonce: str, encrypt_key: str, body: bytes) -> str:
    """``X-Lark-Signature`` of a delivery."""
    return hashlib.sha256((timestamp + nonce + encrypt_key).encode() + body).hexdigest()


def encrypt(plaintext: bytes, encrypt_key: str, iv: bytes) -> str:
    """What Feishu puts in ``encrypt`` (tests and the fake platform build deliveries with it)."""
    import base64

    from Crypto.Cipher import AES
    from Crypto.Util.Padding import pad

    key = hashlib.sha256(encrypt_key.encode()).digest()
    return base64.b64encode(iv + AES.new(key, AES.MODE_CBC, iv).encrypt(pad(plaintext, 16))).decode()


def _json(data: bytes | str) -> Mapping[str, Any]:
    try:
        value = orjson.loads(data)
    except orjson.JSONDecodeError:
        raise RefusedError(400, "not JSON") from None
    if not isinstance(value, Mapping):
        raise RefusedError(400, "not a JSON object")
    return value


def open_delivery(
    headers: Mapping[str, str],
    body: bytes,
    *,
    verification_token: str,
    encrypt_key: str,
    now: float | None = None,
) -> Delivery:
    """The event a callback delivery carries, after every check (:class:`RefusedError` when one fails)."""
    outer = _json(body)
    signed = False
    if encrypt_key:
        if not isinstance(outer.get("encrypt"), str):
            raise RefusedError(401, "a plain delivery where an encrypted one is expected")
        sign = headers.get("X-Lark-Signature", "")
        if sign:  # every event is signed; only the URL challenge may come without
            ts, nonce = headers.get("X-Lark-Request-Timestamp", ""), headers.get("X-Lark-Request-Nonce", "")
            if not hmac.compare_digest(sign.encode(), signature(ts, nonce, encrypt_key, body).encode()):
                raise RefusedError(401, "wrong signature")
            if not ts.isdigit() or abs((time.time() if now is None else now) - int(ts)) > FRESH:
                raise RefusedError(401, "stale timestamp")
            signed = True
        from lark_oapi.core.utils.decryptor import AESCipher

        try:
            inner = _json(AESCipher(encrypt_key).decrypt_str(outer["encrypt"]))
        except (ValueError, UnicodeDecodeError):
            raise RefusedError(401, "cannot decrypt") from None
    else:
        inner = outer
    token = str((inner.get("header") or {}).get("token") or inner.get("token") or "")
    if not verification_token or not hmac.compare_digest(token.encode(), verification_token.encode()):
        raise RefusedError(401, "wrong verification token")
    if inner.get("type") == "url_verification":
        return Delivery(inner, challenge=str(inner.get("challenge", "")))
    if encrypt_key and not signed:
        raise RefusedError(401, "no signature")
    return Delivery(inner)
