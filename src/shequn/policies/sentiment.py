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

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from typing import Any

from shequn.playbook.loader import load_sentiment_lexicon

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


@dataclass(frozen=True, slots=True)
class _Language:
    """One language's compiled lexicon: (pattern, weight) pairs and the negation and intensity cues."""

    negative: tuple[tuple[re.Pattern[str], float], ...]
    frames: tuple[tuple[re.Pattern[str], float], ...]
    targets: tuple[tuple[re.Pattern[str], float], ...]
    soften: tuple[tuple[re.Pattern[str], float], ...]
    negator: re.Pattern[str]
    not_negations: tuple[str, ...]
    intensifier: re.Pattern[str]
    window: int
    words: bool  # English: windows count words and terms match whole words


@dataclass(frozen=True, slots=True)
class Lexicon:
    """The detector's settings (``playbook/data/sentiment.yaml``), compiled."""

    threshold: float
    bias: float
    slope: float
    negated_weight: float
    intensity: float
    marks: tuple[tuple[str, float], ...]
    caps: float
    languages: tuple[_Language, ...]


def _term(word: str, words: bool) -> re.Pattern[str]:
    escaped = re.escape(_norm(word))
    if words and word[:1].isalnum() and word[-1:].isalnum():
        return re.compile(rf"(?<![\w']){escaped}(?![\w'])")
    return re.compile(escaped)


def _weighted(section: Any, words: bool, regex: bool, where: str) -> tuple[tuple[re.Pattern[str], float], ...]:
    out: list[tuple[re.Pattern[str], float]] = []
    for weight, entries in (section or {}).items():
        for entry in entries:
            try:
                out.append((re.compile(entry) if regex else _term(str(entry), words), float(weight)))
            except re.error as exc:
                raise RuntimeError(f"playbook file data/sentiment.yaml, {where}: bad pattern {entry!r}: {exc}") from exc
    return tuple(out)


def compile_lexicon(data: Mapping[str, Any]) -> Lexicon:
    """Check and compile the lexicon's YAML data; a bad entry is an error naming its section."""
    languages = []
    for lang in ("zh-CN", "en"):
        d = data[lang]
        words = lang == "en"
        alt = "|".join(re.escape(w) for w in d["negators"])
        negator = re.compile(rf"(?<![\w'])(?:{alt})(?![\w])" if words else f"(?:{alt})")
        intens = "|".join(re.escape(w) for w in d["intensifiers"])
        languages.append(
            _Language(
                negative=_weighted(d.get("negative"), words, False, f"{lang}.negative"),
                frames=_weighted(d.get("frames"), words, True, f"{lang}.frames"),
                targets=_weighted(d.get("targets"), words, False, f"{lang}.targets"),
                soften=_weighted(d.get("soften"), words, False, f"{lang}.soften"),
                negator=negator,
                not_negations=tuple(str(w) for w in d.get("not_negations", ())),
                intensifier=re.compile(rf"(?<![\w])(?:{intens})\s*$" if words else f"(?:{intens})$"),
                window=int(data["negation_window"][lang]),
                words=words,
            )
        )
    marks = dict(data["marks"])
    caps = float(marks.pop("caps", 0.0))
    return Lexicon(
        threshold=float(data["threshold"]),
        bias=float(data["bias"]),
        slope=float(data["slope"]),
        negated_weight=float(data["negated_weight"]),
        intensity=float(data["intensity"]),
        marks=tuple((m, float(w)) for m, w in marks.items()),
        caps=caps,
        languages=tuple(languages),
    )


@cache
def lexicon() -> Lexicon:
    """The shipped lexicon (read from the playbook on first use, then shared)."""
    return compile_lexicon(load_sentiment_lexicon())


_CLAUSE_END = re.compile(r"[.,;:!?…，。；：！？~]")


def _before(text: str, start: int, lang: _Language) -> str:
    """The negation window before position ``start``, within the same clause: a few characters, or a few words."""
    head = text[:start]
    cut = max((m.end() for m in _CLAUSE_END.finditer(head)), default=0)
    head = head[cut:]
    if not lang.words:
        for phrase in lang.not_negations:  # 有没有黑幕 asks; it does not deny
            if head.endswith(phrase):
                return ""
        return head[-lang.window :]
    return " ".join(head.split()[-lang.window :]) + " "


def _negative_evidence(norm: str, lang: _Language, lex: Lexicon) -> list[tuple[str, float]]:
    """The weight of each negative word found: negated words count against, intensified ones count more.

    A word inside a longer word already counted (烂 in 烂到家, broke in broken) is skipped.
    """
    found: list[tuple[str, float]] = []
    taken: list[tuple[int, int]] = []
    for pattern, weight in sorted(lang.negative, key=lambda pw: -len(pw[0].pattern)):
        m = pattern.search(norm)
        if m is None or any(a <= m.start() and m.end() <= b for a, b in taken):
            continue
        taken.append(m.span())
        before = _before(norm, m.start(), lang)
        if lang.negator.search(before):
            found.append((f"not {m.group()}", lex.negated_weight))
        elif lang.intensifier.search(before):
            found.append((f"very {m.group()}", weight * lex.intensity))
        else:
            found.append((m.group(), weight))
    return found


def evidence(text: str, lex: Lexicon | None = None) -> list[tuple[str, float]]:
    """What the detector saw in ``text``: (cue, weight) pairs, the explanation an operator reads beside an item."""
    lex = lex or lexicon()
    norm = _norm(text)
    found: list[tuple[str, float]] = []
    for lang in lex.languages:
        found += _negative_evidence(norm, lang, lex)
        frames: list[tuple[int, int]] = []
        for pattern, weight in lang.frames:
            m = pattern.search(norm)
            if m is not None:
                frames.append(m.span())
                found.append((m.group(), weight))
        for pattern, weight in lang.targets:
            m = pattern.search(norm)
            if m is not None:
                found.append((m.group(), weight))
        for pattern, weight in lang.soften:
            m = pattern.search(norm)
            # "thanks" inside "thanks for nothing" is part of the complaint, not a softener
            if m is not None and not any(a <= m.start() and m.end() <= b for a, b in frames):
                found.append((m.group(), weight))
    found += [(mark, w) for mark, w in lex.marks if mark in norm]
    if lex.caps and re.search(r"(?<![A-Za-z])[A-Z]{4,}(?![A-Za-z])", unicodedata.normalize("NFKC", text)):
        found.append(("CAPS", lex.caps))
    return found


def complaint_score(text: str) -> float:
    """How strongly ``text`` reads as a complaint, 0..1 (the logistic of the summed evidence, see the lexicon)."""
    lex = lexicon()
    if not text.strip():
        return 0.0
    total = sum(w for _, w in evidence(text, lex))
    return 1.0 / (1.0 + math.exp(-lex.slope * (total - lex.bias)))


def is_complaint(text: str, threshold: float | None = None) -> bool:
    """True when :func:`complaint_score` reaches ``threshold`` (default: the lexicon's, chosen on the tuning set)."""
    return complaint_score(text) >= (lexicon().threshold if threshold is None else threshold)
