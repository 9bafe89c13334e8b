"""The complaint detector (抱怨): does a message voice a complaint or a strong negative feeling?

Book 1823-1848 (社群引导机制): "每出现23个抱怨者，就意味着还有1万个对你不满的顾客存在"; a complaint is handled in
private before it spreads (book 1872: "通过合理的规定的手段投诉，而不是在群内不断发牢骚"). The inbox opens an item
for each message this module flags.

Public interface (pure: no I/O, no state):
    * :func:`complaint_score` — 0..1, how strongly the message reads as a complaint.
    * :func:`is_complaint` — the score against a threshold (the default is chosen on the tuning set).
    * :func:`keyword_baseline` — the plain "contains a complaint keyword" rule the detector is measured against.
"""

from __future__ import annotations

import re
import unicodedata

THRESHOLD = 0.5

# The keyword baseline: the list a keyword alert would use (methodology I7: "complaint keyword alerts").
_BASELINE_ZH = (
    "投诉", "退款", "差评", "垃圾", "骗", "坑", "失望", "生气", "气死", "恶心", "太差", "烂", "抱怨", "无语", "滚",
    "举报", "破", "受不了", "不满", "差劲", "后悔", "敷衍", "假货", "过分", "离谱", "烦", "没人回", "没人管", "不回",
    "态度差", "服务差", "质量差", "太慢", "太贵", "坑人", "黑心", "忽悠", "糊弄",
)  # fmt: skip
_BASELINE_EN = (
    "complain", "refund", "scam", "terrible", "awful", "worst", "hate", "angry", "disappoint", "useless", "suck",
    "ridiculous", "unacceptable", "garbage", "rip-off", "ripoff", "fraud", "horrible", "annoy", "waste", "broken",
    "frustrat", "pissed", "stupid", "idiot", "crap", "shit", "fuck", "damn", "wtf", "rubbish", "rude", "ignored",
    "unhappy", "poor", "cheat", "never again", "fed up", "sick of", "tired of",
)  # fmt: skip
_BASELINE_EN_RE = re.compile(r"\b(?:" + "|".join(re.escape(w) for w in _BASELINE_EN) + r")", re.IGNORECASE)


def _norm(text: str) -> str:
    return unicodedata.normalize("NFKC", text).lower()


def keyword_baseline(text: str) -> bool:
    """True when the message contains any complaint keyword (Chinese substring, English word start)."""
    norm = _norm(text)
    return any(w in norm for w in _BASELINE_ZH) or _BASELINE_EN_RE.search(norm) is not None


def complaint_score(text: str) -> float:
    """How strongly ``text`` reads as a complaint, 0..1 (first version: the keyword baseline)."""
    return 1.0 if keyword_baseline(text) else 0.0


def is_complaint(text: str, threshold: float | None = None) -> bool:
    """True when :func:`complaint_score` reaches ``threshold`` (default :data:`THRESHOLD`)."""
    return complaint_score(text) >= (THRESHOLD if threshold is None else threshold)
