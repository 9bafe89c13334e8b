"""Conversation signals read from one message's text (对话信号): questions, links, contact details, QR codes.

Pure functions and the regular expressions behind them, shared by the DuckDB snapshot (the same patterns, written in
RE2 syntax that Python's ``re`` reads identically), the daily digest (早报/晚报), the inbox policy (a question left
unanswered) and the tests. Kept among the policies so that a policy may use them; ``shequn.analytics.conversation``
re-exports them. No I/O, no state. May import: the standard library only.

The signals are deliberately plain, the kind an operator reads in a chat and trusts:

* a **question** (提问) has a question mark (``?`` / ``？``), ends with a Chinese question particle (吗, 呢, 么, 嘛),
  holds an interrogative (怎么, 如何, 哪里, 有没有 …) or opens with an asking phrase (请问, 求助, how, what, anyone …);
* a **link** is ``http(s)://`` or ``www.``;
* **contact details** (联系方式) are a phone or QQ number (seven or more digits, full-width digits and separators
  allowed), or a WeChat/QQ handle after a marker (微信, vx, V, +q …) — the way ads dodge keyword filters;
* a **QR code** (二维码) is named in the text or caption (二维码, 扫码).
"""

from __future__ import annotations

import re
from typing import Final

FULLWIDTH_DIGITS: Final = "０１２３４５６７８９"
ASCII_DIGITS: Final = "0123456789"
_TO_ASCII: Final = str.maketrans(FULLWIDTH_DIGITS, ASCII_DIGITS)

# RE2-compatible patterns (DuckDB's regexp_matches uses RE2; Python's re reads them the same way).
QUESTION_PATTERN: Final = (
    r"(?i)(?:[?？]|[吗呢么嘛][\s~～。.!！…]*$|怎么|如何|为什么|为啥|哪里|哪儿|哪个|几点|多少钱|什么时候|有没有|"
    r"能不能|可不可以|是不是|要不要|^\s*(?:@\S+\s+)?(?:请问|求助|求问|求推荐|想问|问一下|提问\s*[:：]|q\s*[:：]|有没有|有谁|谁知道|谁有|"
    r"哪位|哪里|怎么|如何|为什么|为啥|能不能|可不可以|是不是|how\b|what\b|why\b|where\b|when\b|who\b|which\b|"
    r"anyone\b|does\b|is there\b|can (?:i|you|someone|anyone)\b))"
)
LINK_PATTERN: Final = r"(?i)(?:https?://|www\.)"
PHONE_PATTERN: Final = r"(?:\d[\s\-－·.]?){6,}\d"
HANDLE_PATTERN: Final = (
    r"(?i)(?:微信|薇信|威信|维信|v信|vx|wx|wechat|扣扣|qq|➕\s*v|[+＋]\s*[vq]|加\s*v|威\s*❤|(?:^|[^a-z])v)"
    r"\s*[:：]?\s*[a-z][a-z0-9_\-]{3,}"
)
QR_PATTERN: Final = r"二维码|扫码|扫一扫|(?i:\bqr\b)"
# Words that mark what a message is about, for the type KPIs (the operator's own vocabulary, zh-CN and en).
RENEWAL_PATTERN: Final = r"(?i)续费|续约|到期|renew"
OFFLINE_PATTERN: Final = r"(?i)线下|同城|见面会|聚会|沙龙|集合|报名|meet-?up|offline"
RESOURCE_PATTERN: Final = r"(?i)资源|对接|合作|需求|项目|渠道|供应|resource|partner"
GREETING_PATTERN: Final = r"(?i)欢迎|welcome"
LINK_DUMP_CHARS: Final = 8  # a link with fewer other characters than this is a dump (BK 2598: 直接丢进来一个链接)

_QUESTION: Final = re.compile(QUESTION_PATTERN)
_LINK: Final = re.compile(LINK_PATTERN)
_PHONE: Final = re.compile(PHONE_PATTERN)
_HANDLE: Final = re.compile(HANDLE_PATTERN)
_QR: Final = re.compile(QR_PATTERN)


def normalize(text: str) -> str:
    """Full-width digits as ASCII (ads write ｜１３８…｜ to slip past filters)."""
    return text.translate(_TO_ASCII)


TITLE_PATTERN: Final = r"《[^》]*》"
_TITLE: Final = re.compile(TITLE_PATTERN)


def is_question(text: str) -> bool:
    """Whether a message asks something (see the module docstring). Titles in 《》 are not read: 《如何阅读一本书》
    names a book, it asks nothing."""
    if not text:
        return False
    if "《" in text:
        text = _TITLE.sub("", text)
    return _QUESTION.search(text) is not None


def has_link(text: str) -> bool:
    return bool(text) and _LINK.search(text) is not None


def has_contact(text: str) -> bool:
    """Phone or QQ numbers, WeChat handles after a marker, or a QR code: ways to take members out of the group."""
    if not text:
        return False
    t = normalize(text)
    return _PHONE.search(t) is not None or _HANDLE.search(t) is not None or _QR.search(t) is not None


def promotes(text: str) -> bool:
    """Contact details or a link: what an ad needs, and what a member's ordinary chat rarely has."""
    return has_contact(text) or has_link(text)


__all__ = [
    "ASCII_DIGITS",
    "FULLWIDTH_DIGITS",
    "GREETING_PATTERN",
    "HANDLE_PATTERN",
    "LINK_DUMP_CHARS",
    "LINK_PATTERN",
    "OFFLINE_PATTERN",
    "PHONE_PATTERN",
    "QR_PATTERN",
    "QUESTION_PATTERN",
    "RENEWAL_PATTERN",
    "RESOURCE_PATTERN",
    "TITLE_PATTERN",
    "has_contact",
    "has_link",
    "is_question",
    "normalize",
    "promotes",
]
