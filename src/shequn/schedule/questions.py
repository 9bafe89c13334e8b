"""Is this message a question? A small heuristic, kept alone so the analytics' detector can replace it.

The digest asks it of every message; ``shequn.analytics`` (issue 4) will offer a measured detector, and swapping it
in is a one-line change of :data:`is_question` where the digest is computed.
"""

from __future__ import annotations

import re

_MARKS = re.compile(r"[?？]\s*$|[?？]")
_WORDS = re.compile(
    r"(请问|有没有人|有谁|谁知道|怎么办|怎么样|^怎么|^如何|为什么|为啥|吗[。！!～~]*$|呢[。！!～~]*$|能不能|可不可以|求助|求推荐"
    r"|^(how|what|why|when|where|who|which|can|could|does|do|is|are|should|anyone)\b)",
    re.IGNORECASE,
)
_QA_PREFIX = re.compile(r"^\s*(提问|问题|q\s*[:：]|question\s*[:：])", re.IGNORECASE)


def is_question(text: str) -> bool:
    """A question mark, or a question word of Chinese or English chat (请问, 怎么, 吗 at the end, how, why …)."""
    text = text.strip()
    if len(text) < 3:
        return False
    return bool(_MARKS.search(text) or _WORDS.search(text) or _QA_PREFIX.match(text))


def is_queued_question(text: str) -> bool:
    """A question put to a guest the way the Q&A asks for it: starting with 提问 / Q: (or plainly a question)."""
    return bool(_QA_PREFIX.match(text)) or is_question(text)
