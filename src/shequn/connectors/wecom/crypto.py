"""WeCom (企业微信) callback crypto: ``msg_signature``, AES-256-CBC with the EncodingAESKey, PKCS#7 with 32-byte blocks,
the receive-id check, and a replay guard — the callback spec's WXBizMsgCrypt, written with ``cryptography``.

The plaintext of a callback is ``random(16) + len(msg) (4 bytes, network order) + msg + receive_id``; the key is the
43-character EncodingAESKey plus ``=``, base64-decoded (32 bytes); the IV is the key's first 16 bytes; the padding is
PKCS#7 to a multiple of 32 bytes (not AES's 16). The signature is the SHA-1 of token, timestamp, nonce and the
ciphertext, sorted and joined.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
import os
import struct
import time
from collections import OrderedDict

from shequn.domain import ShequnError

BLOCK = 32
REPLAY_WINDOW_S = 300


class CallbackError(ShequnError):
    """A callback that must be refused: bad signature, undecryptable, wrong receive id, stale or replayed."""


def signature(token: str, timestamp: str, nonce: str, encrypted: str) -> str:
    return hashlib.sha1("".join(sorted([token, timestamp, nonce, encrypted])).encode()).hexdigest()


def aes_key(encoding_aes_key: str) -> bytes:
    if len(encoding_aes_key) != 43:
        raise ValueError("EncodingAESKey: expected 43 characters")
    try:
        key = base64.b64decode(encoding_aes_key + "=", validate=True)
    except binascii.Error:
        raise ValueError("EncodingAESKey: not base64") from None
    if len(key) != 32:
        raise ValueError("EncodingAESKey: does not decode to 32 bytes")
    return key


def _pad(data: bytes) -> bytes:
    n = BLOCK - len(data) % BLOCK
    return data + bytes([n]) * n


def _unpad(data: bytes) -> bytes:
    if not data:
        raise CallbackError("empty plaintext")
    n = data[-1]
    if not 1 <= n <= BLOCK or data[-n:] != bytes([n]) * n:
        raise CallbackError("bad PKCS#7 padding")
    return data[:-n]


class CallbackCrypto:
    """Encrypts and verifies callbacks for one app (token, EncodingAESKey, receive id: the corp id)."""

    def __init__(self, token: str, encoding_aes_key: str, receive_id: str, *, clock: object = None) -> None:
        self.token = token
        self.key = aes_key(encoding_aes_key)
        self.receive_id = receive_id
        self._seen: OrderedDict[str, float] = OrderedDict()
        self._clock = clock

    def _now(self) -> float:
        return float(getattr(self._clock, "time", time.time)())

    def encrypt(self, message: bytes, *, random16: bytes | None = None) -> str:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        body = (random16 or os.urandom(16)) + struct.pack(">I", len(message)) + message + self.receive_id.encode()
        enc = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).encryptor()
        return base64.b64encode(enc.update(_pad(body)) + enc.finalize()).decode()

    def decrypt(self, encrypted: str) -> bytes:
        from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes

        try:
            raw = base64.b64decode(encrypted, validate=True)
        except binascii.Error:
            raise CallbackError("ciphertext is not base64") from None
        if not raw or len(raw) % 16:
            raise CallbackError("ciphertext is not whole AES blocks")
        dec = Cipher(algorithms.AES(self.key), modes.CBC(self.key[:16])).decryptor()
        body = _unpad(dec.update(raw) + dec.finalize())
        if len(body) < 20:
            raise CallbackError("plaintext too short")
        (length,) = struct.unpack(">I", body[16:20])
        message, receive_id = body[20 : 20 + length], body[20 + length :]
        if len(message) != length:
            raise CallbackError("message length does not match")
        if not hmac.compare_digest(receive_id, self.receive_id.encode()):
            raise CallbackError("receive id does not match this corp")
        return message

    def verify(self, msg_signature: str, timestamp: str, nonce: str, encrypted: str) -> bytes:
        """Check signature, freshness and replay; return the decrypted message. Raises :class:`CallbackError`."""
        expected = signature(self.token, timestamp, nonce, encrypted)
        if not hmac.compare_digest(expected.encode(), (msg_signature or "").encode("utf-8", "surrogateescape")):
            raise CallbackError("msg_signature does not match")
        try:
            ts = int(timestamp)
        except ValueError:
            raise CallbackError("timestamp is not a number") from None
        now = self._now()
        if abs(now - ts) > REPLAY_WINDOW_S:
            raise CallbackError("timestamp outside the 5-minute window")
        message = self.decrypt(encrypted)
        key = f"{timestamp}:{nonce}:{msg_signature}"
        if key in self._seen:
            raise CallbackError("replayed callback")
        self._seen[key] = now
        while self._seen and next(iter(self._seen.values())) < now - REPLAY_WINDOW_S:
            self._seen.popitem(last=False)
        return message

    def sign_reply(self, message: bytes, timestamp: str, nonce: str) -> tuple[str, str]:
        """(encrypted, msg_signature) for a passive reply."""
        encrypted = self.encrypt(message)
        return encrypted, signature(self.token, timestamp, nonce, encrypted)
