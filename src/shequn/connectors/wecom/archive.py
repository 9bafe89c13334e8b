"""The chat archive's puller (会话内容存档): WeCom customer groups' messages, pulled by sequence number.

How it works:
    Each pass asks the Finance SDK (:mod:`.finance`) for the messages after the saved sequence number (cursor
    ``archive_seq``), at most 1000 a call (the documented maximum); while a call comes back full it asks again,
    ``archive_call_gap`` seconds apart, at most ``max_calls`` times, then waits ``archive_pull_every`` seconds
    (``platform_limits.yaml``; ``SHEQUN_WECOM_ARCHIVE_EVERY`` overrides). Each message's ``encrypt_random_key`` is
    base64, RSA-encrypted (PKCS#1 v1.5) to the public key registered under its ``publickey_ver``: the private key of
    that version (``SHEQUN_WECOM_ARCHIVE_KEYS``, ``VERSION=PATH,…``, PEM in PKCS#1 or PKCS#8) opens it, and
    ``DecryptData`` opens the message with it. Messages of rooms bound to a community become events
    (:mod:`.messages`); the others (single chats, groups of no community) are skipped. An image is fetched
    (``GetMediaData``) only when a policy needs its pixels: ``needs_media(room)`` says whether the room's community
    moderates (the QR-code check, :func:`qr_payloads`); else it stays a reference (``sdkfileid``).

Things to keep in mind:
    * The cursor moves only past messages the sink has taken; a message that cannot be opened (no key of its
      version, a wrong key) stops the pass *before* it, with an error naming ``SHEQUN_WECOM_ARCHIVE_KEYS``, so fixing
      the key and restarting loses nothing (the archive keeps messages for days, not forever: pull regularly).
    * Events are keyed by msgid, so what a killed run had already logged is not logged twice when it resumes.
    * A 群发 the owner confirmed shows up in the archive as the owner's message: it is logged under the id the 群发
      follow-up uses (``groupmsg``), from the bot, so it counts once whichever of the two sees it first.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import io
import logging
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from shequn.connectors.base import Cursors
from shequn.connectors.wecom.finance import FinanceError, FinanceSDK
from shequn.connectors.wecom.messages import PLATFORM, is_media, message_event
from shequn.domain import Event, Message, stable_id
from shequn.i18n import t

log = logging.getLogger("shequn.connectors.wecom.archive")

CURSOR = "archive_seq"
KEYS_SETTING = "SHEQUN_WECOM_ARCHIVE_KEYS"
MAX_MEDIA_BYTES = 20 * 1024 * 1024  # an image larger than this is not read for a QR code

Sink = Callable[[Event], Awaitable[None]]


@dataclass(frozen=True, slots=True)
class ArchiveKeys:
    """The private keys by ``publickey_ver`` (several during a key rotation) and the files they came from."""

    keys: Mapping[int, Any]  # RSAPrivateKey
    paths: Mapping[int, str]

    def random_key(self, version: int, encrypted: str) -> bytes:
        """A message's random key: ``encrypt_random_key`` base64-decoded, RSA-decrypted (PKCS#1 v1.5)."""
        from cryptography.hazmat.primitives.asymmetric import padding

        key = self.keys.get(version)
        if key is None:
            have = ", ".join(str(v) for v in sorted(self.keys)) or "-"
            raise FinanceError(t("archive.key_missing", None, version=version, have=have), setting=KEYS_SETTING)
        try:
            raw = base64.b64decode(encrypted, validate=True)
            out: bytes = key.decrypt(raw, padding.PKCS1v15())
        except (binascii.Error, ValueError):
            raise FinanceError(
                t("archive.key_wrong", None, version=version, path=self.paths.get(version, "?")), setting=KEYS_SETTING
            ) from None
        return out


def load_keys(spec: str) -> ArchiveKeys:
    """``VERSION=PATH,VERSION=PATH`` → the keys; an error names the item and what is wrong with it."""
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.serialization import load_pem_private_key

    keys: dict[int, Any] = {}
    paths: dict[int, str] = {}
    for n, item in enumerate((i.strip() for i in spec.split(",")), 1):
        if not item:
            continue
        version, sep, path = item.partition("=")
        if not sep or not version.strip().isdigit() or not path.strip():
            raise FinanceError(t("archive.keys_item", None, n=n, item=item[:80]), setting=KEYS_SETTING)
        ver, file = int(version), Path(path.strip()).expanduser()
        try:
            data = file.read_bytes()
        except OSError as exc:
            raise FinanceError(
                t("archive.key_unreadable", None, version=ver, path=str(file), why=exc.strerror or str(exc)),
                setting=KEYS_SETTING,
            ) from None
        try:
            key = load_pem_private_key(data, password=None)
        except (ValueError, TypeError):
            key = None
        if not isinstance(key, rsa.RSAPrivateKey):
            raise FinanceError(t("archive.key_not_rsa", None, version=ver, path=str(file)), setting=KEYS_SETTING)
        keys[ver], paths[ver] = key, str(file)
    if not keys:
        raise FinanceError(t("archive.settings_missing", None, names=KEYS_SETTING), setting=KEYS_SETTING)
    return ArchiveKeys(keys, paths)


def qr_payloads(image: bytes) -> list[str]:
    """The QR codes an image shows (zxing-cpp on the decoded picture); none when it is no readable image."""
    import zxingcpp
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(io.BytesIO(image)) as picture:
            picture.load()
            qr = zxingcpp.BarcodeFormats(zxingcpp.BarcodeFormat.QRCode)
            found = zxingcpp.read_barcodes(picture.convert("L"), formats=qr)
    except (UnidentifiedImageError, OSError, ValueError):
        return []
    return [r.text for r in found if r.valid]


class ArchivePuller:
    """Pulls one corp's archive into a sink; see the module docstring."""

    def __init__(
        self,
        sdk: FinanceSDK,
        keys: ArchiveKeys,
        *,
        every: float = 5.0,
        call_gap: float = 1.0,
        limit: int = 1000,
        max_calls: int = 20,
    ) -> None:
        self.sdk = sdk
        self.keys = keys
        self.every = every
        self.call_gap = call_gap
        self.limit = limit
        self.max_calls = max_calls
        self.stats = {"calls": 0, "messages": 0, "events": 0, "skipped": 0, "media": 0, "qr": 0, "errors": 0}
        self._last_call = 0.0

    def close(self) -> None:
        self.sdk.close()

    async def pull(
        self,
        sink: Sink,
        cursors: Cursors,
        bound: frozenset[str] | None,
        needs_media: Callable[[str], bool] = lambda room: False,
    ) -> int:
        """One pass: every message after the saved sequence, to the end of the archive or ``max_calls`` calls.
        Returns how many events went to the sink."""
        sent = 0
        for _ in range(self.max_calls):
            seq = int(cursors.get(CURSOR) or 0)
            wait = self._last_call + self.call_gap - time.monotonic()
            if wait > 0:
                await asyncio.sleep(wait)
            rows = await asyncio.to_thread(self.sdk.chat_data, seq, self.limit)
            self._last_call = time.monotonic()
            self.stats["calls"] += 1
            if not rows:
                break
            done = seq
            try:
                for row in sorted(rows, key=lambda r: int(r.get("seq", 0))):
                    row_seq = int(row.get("seq", 0))
                    if row_seq <= done:
                        continue
                    event = await self._event(row, bound, needs_media, cursors)
                    if event is not None:
                        await sink(event)
                        sent += 1
                    done = row_seq
            finally:
                if done > seq:
                    cursors.put(CURSOR, str(done))
            if len(rows) < self.limit:
                break
        self.stats["events"] += sent
        return sent

    async def _event(
        self,
        row: Mapping[str, Any],
        bound: frozenset[str] | None,
        needs_media: Callable[[str], bool],
        cursors: Cursors,
    ) -> Event | None:
        self.stats["messages"] += 1
        version = int(row.get("publickey_ver", 0) or 0)
        random_key = self.keys.random_key(version, str(row.get("encrypt_random_key", "")))
        try:
            msg = self.sdk.decrypt(random_key, str(row.get("encrypt_chat_msg", "")))
        except FinanceError as exc:
            if exc.code not in (10006, 10008):
                raise
            # RSA with PKCS#1 v1.5 rejects a wrong key implicitly (a random result, no error): DecryptData tells
            path = self.keys.paths.get(version, "?")
            raise FinanceError(
                t("archive.key_wrong", None, version=version, path=path), code=exc.code, setting=KEYS_SETTING
            ) from None
        room = str(msg.get("roomid", ""))
        if not room or (bound is not None and room not in bound):
            self.stats["skipped"] += 1
            return None
        event = message_event(msg, int(row.get("seq", 0)))
        if event is None:
            self.stats["skipped"] += 1
            return None
        if isinstance(event, Message):
            event = mass_post_twin(event, cursors) or event
            if is_media(event) and needs_media(room):
                event = await self._with_qr(event)
        return event

    async def _with_qr(self, event: Message) -> Message:
        """The image fetched and read for QR codes; the event says what was found (``extra.qr``)."""
        from dataclasses import replace

        try:
            data = await asyncio.to_thread(self.sdk.media, str(event.extra["sdkfileid"]), max_bytes=MAX_MEDIA_BYTES)
        except FinanceError as exc:
            log.warning("wecom archive: media %s not fetched (%s)", event.message_id, exc)
            return event
        self.stats["media"] += 1
        codes = qr_payloads(data)
        if not codes:
            return replace(event, extra={**event.extra, "media_checked": True})
        self.stats["qr"] += 1
        text = " ".join([event.text, *codes]).strip()
        return replace(event, text=text, extra={**event.extra, "media_checked": True, "qr": True, "qr_text": codes})


def mass_post_twin(event: Message, cursors: Cursors) -> Message | None:
    """The archive's copy of a 群发 shequn asked the owner to send, as the follow-up logs it (same id), or None."""
    if not event.text:
        return None
    for msgid in orjson.loads(cursors.get("mass_recent") or "[]"):
        entry = orjson.loads(cursors.get(f"mass:{msgid}") or "{}")
        if entry.get("chat") != event.group or entry.get("owner") != event.actor:
            continue
        if str(entry.get("text", "")).strip() != event.text.strip()[:500].strip():
            continue
        from dataclasses import replace

        return replace(
            event,
            id=stable_id(PLATFORM, event.group, "groupmsg", str(msgid)),
            from_bot=True,
            extra={**event.extra, "wecom": "groupmsg_sent", "msgid": str(msgid), "action": entry.get("key", "")},
        )
    return None
