"""The complaint detector (抱怨): does a message voice a complaint or a strong negative feeling?

Book 1823-1848 (社群引导机制): "每出现23个抱怨者，就意味着还有1万个对你不满的顾客存在"; a complaint is handled in
private before it spreads (book 1872: "通过合理的规定的手段投诉，而不是在群内不断发牢骚"). The inbox opens an item
for each message this module flags.

Public interface (pure functions of the text; the lexicon is read from the playbook's package data on first use):
    * :func:`complaint_score` — 0..1, how strongly the message reads as a complaint.
    * :func:`is_complaint` — the score against a threshold (the default is chosen on the tuning set).
    * :func:`evidence` — the cues found with their weights: what an operator reads to see why.
    * :func:`keyword_baseline` — the plain "contains a complaint keyword" rule the detector is measured against.

How it works:
    A weighted lexicon per language (``playbook/data/sentiment.yaml``): negative words (turned into a small minus by
    a negation just before them in the same clause, multiplied by an intensifier), complaint frames (regular
    expressions: promises not kept, waiting, rhetorical questions, sarcasm), targets (客服, refund…), shouting marks,
    and softeners (laughter, thanks, procedure questions) that count against. A learned part adds the naive Bayes
    log-odds of the message's tokens (Chinese characters and pairs, English words and pairs) trained on the tuning
    sets (``playbook/data/sentiment_model.json``), times a small weight. The summed evidence goes through a
    logistic. Each word of a section is found in one pass; a language whose script is absent is skipped.

Things to keep in mind:
    * Figures and the discipline (lexicon chosen on the tuning sets only) are in ``tests/data/sentiment/README.md``
      and ``shequn bench sentiment``; tests check that every word and pattern alternative matches at least one
      tuning message and that the learned file is what the tuning sets train (``shequn bench sentiment --train``).
    * Text is folded with NFKC and lower-cased before matching (full-width ！ is !), except for the CAPS cue.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cache
from itertools import pairwise
from typing import Any

from shequn.playbook.loader import load_sentiment_lexicon, load_sentiment_model

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


def normalize(text: str) -> str:
    """The text as matched: NFKC-folded (full-width ！ is !) and lower-cased."""
    return unicodedata.normalize("NFKC", text).lower()


def keyword_baseline(text: str) -> bool:
    """True when the message contains any complaint keyword (Chinese substring, English word start)."""
    norm = normalize(text)
    return any(w in norm for w in _BASELINE_ZH) or _BASELINE_EN_RE.search(norm) is not None


@dataclass(frozen=True, slots=True)
class Terms:
    """The literal words of one lexicon section, found in one pass (longest first) with each word's weight."""

    finder: re.Pattern[str]
    weights: Mapping[str, float]

    def find(self, norm: str) -> list[re.Match[str]]:
        """The first occurrence of each word in ``norm``; a word inside a longer one found there is not counted."""
        seen: dict[str, re.Match[str]] = {}
        for m in self.finder.finditer(norm):
            seen.setdefault(m.group(), m)
        return list(seen.values())


@dataclass(frozen=True, slots=True)
class Language:
    """One language's compiled lexicon: the sections, and the negation and intensity cues."""

    negative: Terms
    frames: tuple[tuple[re.Pattern[str], float], ...]
    targets: Terms
    soften: Terms
    negator: re.Pattern[str]
    not_negations: tuple[str, ...]
    intensifier: re.Pattern[str]
    window: int
    script: re.Pattern[str]  # a character of the language's words
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
    languages: tuple[Language, ...]


def alternation(terms: list[str], words: bool) -> str:
    """One pattern for many words, longest first; English words that start and end with a letter match whole."""
    terms = sorted(set(terms), key=lambda t: (-len(t), t))
    whole = [re.escape(t) for t in terms if words and t[:1].isalnum() and t[-1:].isalnum()]
    loose = [re.escape(t) for t in terms if not (words and t[:1].isalnum() and t[-1:].isalnum())]
    parts = ([rf"(?<![\w'])(?:{'|'.join(whole)})(?![\w'])"] if whole else []) + loose
    return "|".join(parts) or r"(?!)"


def _terms(section: Any, words: bool) -> Terms:
    weights = {normalize(str(word)): float(weight) for weight, entries in (section or {}).items() for word in entries}
    return Terms(re.compile(alternation(list(weights), words)), weights)


def _frames(section: Any, where: str) -> tuple[tuple[re.Pattern[str], float], ...]:
    out: list[tuple[re.Pattern[str], float]] = []
    for weight, entries in (section or {}).items():
        for entry in entries:
            try:
                out.append((re.compile(entry), float(weight)))
            except re.error as exc:
                raise RuntimeError(f"playbook file data/sentiment.yaml, {where}: bad pattern {entry!r}: {exc}") from exc
    return tuple(out)


def compile_lexicon(data: Mapping[str, Any]) -> Lexicon:
    """Check and compile the lexicon's YAML data; a bad entry is an error naming its section."""
    languages = []
    for lang in ("zh-CN", "en"):
        d = data[lang]
        words = lang == "en"
        intens = alternation([normalize(str(w)) for w in d["intensifiers"]], words)
        languages.append(
            Language(
                negative=_terms(d.get("negative"), words),
                frames=_frames(d.get("frames"), f"{lang}.frames"),
                targets=_terms(d.get("targets"), words),
                soften=_terms(d.get("soften"), words),
                negator=re.compile(alternation([normalize(str(w)) for w in d["negators"]], words)),
                not_negations=tuple(str(w) for w in d.get("not_negations", ())),
                intensifier=re.compile(rf"(?:{intens})\s*$"),
                window=int(data["negation_window"][lang]),
                script=_LATIN if words else _CJK,
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


@dataclass(frozen=True, slots=True)
class Learned:
    """Naive Bayes log-odds of tokens, per language, learned from the tuning sets (``data/sentiment_model.json``)."""

    weight: float
    tokens: Mapping[str, Mapping[str, float]]  # language → token → log-odds (complaint vs not)


def tokens(norm: str) -> set[str]:
    """The tokens the learned part counts: Chinese characters and character pairs, English words and word pairs."""
    out: set[str] = set()
    for run in _CJK_RUN.findall(norm):
        out.update(run)
        out.update(run[i : i + 2] for i in range(len(run) - 1))
    words = _WORD.findall(_CJK_RUN.sub(" ", norm))
    out.update(words)
    out.update(f"{a} {b}" for a, b in pairwise(words))
    return out


@cache
def learned() -> Learned:
    """The shipped learned part (read from the playbook on first use, then shared)."""
    data = load_sentiment_model()
    return Learned(float(data["weight"]), {lang: dict(t) for lang, t in data["tokens"].items()})


@cache
def lexicon() -> Lexicon:
    """The shipped lexicon (read from the playbook on first use, then shared)."""
    return compile_lexicon(load_sentiment_lexicon())


_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_WORD = re.compile(r"[a-z][a-z']*")
_LATIN = re.compile(r"[a-z]")
_CLAUSE_END = re.compile(r"[.,;:!?…，。；：！？~]")
_SHOUT = re.compile(r"(?<![A-Za-z])[A-Z]{4,}(?![A-Za-z])")


def _before(text: str, start: int, lang: Language) -> str:
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


def _negative_evidence(norm: str, lang: Language, lex: Lexicon) -> list[tuple[str, float]]:
    """The weight of each negative word found: negated words count against, intensified ones count more."""
    found: list[tuple[str, float]] = []
    for m in lang.negative.find(norm):
        word, weight = m.group(), lang.negative.weights[m.group()]
        before = _before(norm, m.start(), lang)
        if lang.negator.search(before):
            found.append((f"not {word}", lex.negated_weight))
        elif lang.intensifier.search(before):
            found.append((f"very {word}", weight * lex.intensity))
        else:
            found.append((word, weight))
    return found


def evidence(text: str, lex: Lexicon | None = None, model: Learned | None = None) -> list[tuple[str, float]]:
    """What the detector saw in ``text``: (cue, weight) pairs, the explanation an operator reads beside an item."""
    lex = lex or lexicon()
    norm = normalize(text)
    found: list[tuple[str, float]] = []
    for lang in lex.languages:
        if not (lang.script.search(norm) or lang.soften.finder.search(norm)):
            continue  # no word of this language: its frames cannot match (a smiley still softens)
        found += _negative_evidence(norm, lang, lex)
        frames: list[tuple[int, int]] = []
        for pattern, weight in lang.frames:
            m = pattern.search(norm)
            if m is not None:
                frames.append(m.span())
                found.append((m.group(), weight))
        found += [(m.group(), lang.targets.weights[m.group()]) for m in lang.targets.find(norm)]
        for m in lang.soften.find(norm):
            # "thanks" inside "thanks for nothing" is part of the complaint, not a softener
            if not any(a <= m.start() and m.end() <= b for a, b in frames):
                found.append((m.group(), lang.soften.weights[m.group()]))
    found += [(mark, w) for mark, w in lex.marks if mark in norm]
    if lex.caps and _SHOUT.search(unicodedata.normalize("NFKC", text)):
        found.append(("CAPS", lex.caps))
    model = learned() if model is None else model
    if model.weight:
        odds = model.tokens.get("zh-CN" if _CJK.search(norm) else "en", {})
        found.append(("learned", round(model.weight * sum(odds.get(t, 0.0) for t in tokens(norm)), 3)))
    return found


def complaint_score(text: str, *, lex: Lexicon | None = None) -> float:
    """How strongly ``text`` reads as a complaint, 0..1 (the logistic of the summed evidence, see the lexicon)."""
    lex = lex or lexicon()
    if not text.strip():
        return 0.0
    z = lex.slope * (sum(w for _, w in evidence(text, lex)) - lex.bias)
    # the logistic, written so that a long message's large evidence cannot overflow exp()
    return 1.0 / (1.0 + math.exp(-z)) if z >= 0 else math.exp(z) / (1.0 + math.exp(z))


def is_complaint(text: str, threshold: float | None = None, *, lex: Lexicon | None = None) -> bool:
    """True when :func:`complaint_score` reaches ``threshold`` (default: the lexicon's, chosen on the tuning set)."""
    lex = lex or lexicon()
    return complaint_score(text, lex=lex) >= (lex.threshold if threshold is None else threshold)
