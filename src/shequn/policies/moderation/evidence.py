"""What the bot may repeat of a message it acted on: contact details masked, evidence summarised.

How it works:
    :func:`mask_contacts` is the one function every text the bot posts about members' messages goes through (the
    public notice, the private warning's record, the blacklist entry, the digests' quotes): it folds the text as the
    detector does (NFKC, so circled and full-width digits become digits) and masks phone and QQ numbers, also with
    their digits set apart (``138****8000``), IM handles after a contact word (``薇 a****``), e-mail addresses and
    links (kept to their host). :func:`summary` is the evidence of an offence as it is posted (book 1874: 配有证据
    使其心服口服): the time of the message and the kinds of evidence found, with the contact detail masked — never
    the ad's text, which would republish what was just deleted (破窗, book 1735).
"""

from __future__ import annotations

import re
import unicodedata
from datetime import datetime

from shequn.i18n import t
from shequn.policies.moderation.detect import Verdict

# Digit runs a person can call or add: 5 digits or more, separators of up to 3 characters between them.
_NUMBER = re.compile(r"(?<![\w.])\d(?:[\s\-_.·•,，、/|*~+=#()]{0,3}\d){4,}(?![\w])")
_DATE_OR_TIME = re.compile(r"^(?:19|20)\d\d[-/.年]\d{1,2}(?:[-/.月]\d{1,2})?|^\d{1,2}[:：]\d{2}")
_HANDLE = re.compile(
    r"(?<![a-z0-9])(?P<word>(?:微信号?|weixin|wechat|wx|vx|v信|qq号?|扣扣|企鹅|q号|whats\s*app|telegram|tg|line\s*id|"
    r"[+➕]\s*[vq]|[薇威卫维]信?|v|q)\s*(?:[:：]|是|号|id)?\s*)"
    r"(?P<id>(?=[a-z0-9_\-]*[\d_])[a-z][a-z0-9_\-]{3,29})(?![a-z0-9_\-])",  # an id has a digit or an underscore
    re.IGNORECASE,
)
_EMAIL = re.compile(r"[\w.+-]+@[a-z0-9-]+(?:\.[a-z0-9-]+)*\.[a-z]{2,}", re.IGNORECASE)
_URL = re.compile(r"(?:https?://|www\.)(?P<host>[^\s/，。！？、]+)[^\s，。！？、]*")
# Full-width and circled digits and letters (what NFKC folds to ASCII that matters for a contact detail).
_FOLD = re.compile("[\uff10-\uff19\uff21-\uff3a\uff41-\uff5a\u2460-\u2473\u2776-\u277f\u24ea\u3220-\u3229]")
_KINDS = (
    "contact", "phone", "evasion", "qr", "mini_program", "contact_card", "invite", "shortener", "link", "homoglyph",
    "lexicon", "solicit", "money", "forbidden", "label",
)  # fmt: skip


def _mask_number(m: re.Match[str]) -> str:
    run = m.group(0)
    if _DATE_OR_TIME.match(run) or re.match(r"[:：]\d", m.string[m.end() : m.end() + 2]):
        return run  # a date, or a date and the hour of a clock time (11-02 16:01)
    digits = re.sub(r"\D", "", run)
    keep = 3 if len(digits) >= 9 else 1
    return digits[:keep] + "****" + digits[-2 if len(digits) < 9 else -4 :]


def mask_contacts(text: str) -> str:
    """``text`` folded (NFKC) with its contact details masked: what may be shown of a member's message."""
    s = _FOLD.sub(lambda m: unicodedata.normalize("NFKC", m.group(0)), text)  # ①② → 12; punctuation stays
    s = _URL.sub(lambda m: m.group("host") + "/…" if m.group(0) != m.group("host") else m.group(0), s)
    s = _EMAIL.sub(lambda m: m.group(0)[0] + "***@" + m.group(0).rpartition("@")[2], s)
    s = _HANDLE.sub(lambda m: m.group("word") + m.group("id")[0] + "****", s)
    return _NUMBER.sub(_mask_number, s)


def summary(verdict: Verdict | None, violation: str, at: datetime, locale: str) -> str:
    """The evidence of an offence as posted: when, and what was found (contact details masked)."""
    when = at.strftime("%m-%d %H:%M")
    found: list[str] = []
    detail = ""
    if verdict is not None:
        present = {e.kind for e in verdict.evidence if e.weight > 0 or e.kind in ("forbidden", "label")}
        found = [t(f"policies.moderation.evidence.{k}", locale) for k in _KINDS if k in present]
        contact = next((e for e in verdict.evidence if e.kind in ("contact", "phone")), None)
        if contact is not None:
            detail = mask_contacts(contact.detail)
    if not found:
        found = [t(f"policies.moderation.evidence.{violation}", locale)]
    sep = ", " if locale == "en" else "、"
    key = "policies.moderation.evidence.summary_detail" if detail else "policies.moderation.evidence.summary"
    return t(key, locale, time=when, found=sep.join(found), detail=detail)
