"""Masking personal data on import (``--mask-pii``): phone numbers, WeChat ids, QQ numbers and e-mail addresses.

How it works:
    In text, each is replaced by a readable mask that keeps the shape (``138****5678``, ``z***@163.com``,
    ``wxid_****``), the convention Chinese operators know. Where such a value *is* an identity (a WhatsApp author
    known only by phone number, a WeChat id as a sender), it becomes a pseudonym ``masked:<12 hex>``: a keyed
    hash, so the same person gets the same pseudonym in every import and two people never share one.

Things to keep in mind:
    * The key comes from ``$SHEQUN_PII_KEY`` or, by default, a random key kept in the workspace's settings.
      A pseudonym resists reading, not someone who holds both the database and the key (phone numbers are few
      enough to try them all): keep the key elsewhere (the environment variable) when that matters.
    * Masking is applied before event ids are computed, so a masked and an unmasked import of one export are
      different records: choose one per workspace.
"""

from __future__ import annotations

import hashlib
import hmac
import re

# Mainland mobile numbers, landlines with an area code, and international numbers written with a "+".
_PHONE = re.compile(
    r"(?<![\w+])(?:"
    r"\+\d{1,3}(?:[ \-]?\(?\d{1,4}\)?){2,5}"  # +1-125-123-4567, +44-20-7946-0958, +86 138 1234 5678
    r"|(?:\(?0\d{2,3}\)?[ \-]?)\d{7,8}"  # 021-62345678, (0755) 12345678
    r"|1[3-9]\d(?:[ \-]?\d{4}){2}"  # 13812345678, 138-1234-5678
    r")(?!\w)"
)
_EMAIL = re.compile(r"(?<![\w.+-])[\w.+-]+@[A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,}(?![\w-])")
_WXID = re.compile(r"(?<![\w-])wxid_[a-z0-9]{6,32}(?![\w-])", re.IGNORECASE)
# A WeChat id given after a label: 微信号：abc_123, vx: abc123, wx abc123, V信 abc123
_WX_LABELLED = re.compile(
    r"(?P<label>(?:微信号?|威信|薇信|[vV]信|[vVwW][xX]|WeChat(?: ?ID)?)\s*[:：]?\s*)"
    r"(?P<id>[a-zA-Z][-_a-zA-Z0-9]{5,19})(?![\w-])"
)
# A QQ number given after a label: QQ：12345678, qq号 12345678, 扣扣 12345678, Q 12345678
_QQ_LABELLED = re.compile(r"(?P<label>(?:[Qq]{2}号?|扣扣|企鹅号?|\bQ)\s*[:：]?\s*)(?P<id>[1-9]\d{4,11})(?!\d)")
_DIGITS = re.compile(r"\d")


def _mask_phone(m: re.Match[str]) -> str:
    """Keep the shape, the last four digits and the first three (138****5678) or the country code (+44-**-…)."""
    s = m.group(0)
    positions = [i for i, c in enumerate(s) if c.isdigit()]
    if s.startswith("+"):
        code = re.match(r"\+\d+", s)
        head = [i for i in positions if code and i < code.end()]
        keep = set(head + positions[-4:])
    else:
        keep = set(positions[:3] + positions[-4:]) if len(positions) > 8 else set(positions[:2] + positions[-2:])
    return "".join("*" if c.isdigit() and i not in keep else c for i, c in enumerate(s))


def _mask_email(m: re.Match[str]) -> str:
    local, _, domain = m.group(0).rpartition("@")
    return f"{local[0]}***@{domain}"


def _mask_wx_labelled(m: re.Match[str]) -> str:
    return m.group("label") + m.group("id")[0] + "****"


def _mask_qq_labelled(m: re.Match[str]) -> str:
    """A QQ number keeps its first two and last two digits (12****78), as the QQ connector's reasons show it."""
    number = m.group("id")
    return m.group("label") + number[:2] + "*" * (len(number) - 4) + number[-2:]


class Masker:
    """Masks personal data in text and turns identities that are personal data into keyed pseudonyms."""

    def __init__(self, key: bytes) -> None:
        self._key = key

    def text(self, text: str) -> str:
        if "@" in text:
            text = _EMAIL.sub(_mask_email, text)
        if not _DIGITS.search(text) and "wx" not in text.lower() and "信" not in text:
            return text
        text = _WXID.sub("wxid_****", text)
        text = _WX_LABELLED.sub(_mask_wx_labelled, text)
        text = _QQ_LABELLED.sub(_mask_qq_labelled, text)
        return _PHONE.sub(_mask_phone, text)

    def is_personal(self, value: str) -> bool:
        """Whether an identity (a sender id or name) is itself a phone number, e-mail address or WeChat id."""
        v = value.strip()
        return bool(_PHONE.fullmatch(v) or _EMAIL.fullmatch(v) or _WXID.fullmatch(v))

    def pseudonym(self, value: str) -> str:
        digest = hmac.new(self._key, value.strip().encode(), hashlib.sha256).hexdigest()[:12]
        return f"masked:{digest}"

    def ident(self, value: str) -> str:
        """An identity as stored: a pseudonym when it is personal data, else unchanged."""
        return self.pseudonym(value) if self.is_personal(value) else value

    def name(self, value: str) -> str:
        """A display name as stored: masked like text (a name that is a phone number shows as ``138****5678``)."""
        return self.text(value)
