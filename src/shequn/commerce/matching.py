"""Resource matching (资源对接) for 赚钱型 and 行业型 communities: members' offers and needs, suggested introductions.

How it works:
    Members state what they offer and what they need (text and tags). :func:`suggest` pairs each need with the
    offers of other members that share tags or words (Chinese character bigrams and Latin words, so "找投资" meets
    "天使投资"), best first. Introductions are then logged with their outcome (made, deal, no deal): the KPI of
    赚钱型 communities is resource matches (000_429f995354a731ff.txt).
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass

_WORD = re.compile(r"[A-Za-z0-9]+|[\u4e00-\u9fff]+")
OUTCOMES = ("suggested", "made", "deal", "no_deal")


@dataclass(frozen=True, slots=True)
class Resource:
    id: int
    member: str
    side: str  # offer | need
    text: str
    tags: frozenset[str] = frozenset()


def terms(text: str) -> set[str]:
    out: set[str] = set()
    for w in _WORD.findall(text.lower()):
        if w.isascii():
            if len(w) > 1:
                out.add(w)
        elif len(w) > 1:
            out.update(w[i : i + 2] for i in range(len(w) - 1))
        else:
            out.add(w)
    return out


@dataclass(frozen=True, slots=True)
class Suggestion:
    need: Resource
    offer: Resource
    score: float


def suggest(resources: Iterable[Resource], *, per_need: int = 3, min_score: float = 0.15) -> list[Suggestion]:
    items = list(resources)
    offers = [(r, terms(r.text), {t.lower() for t in r.tags}) for r in items if r.side == "offer"]
    out: list[Suggestion] = []
    for need in (r for r in items if r.side == "need"):
        nt, ntags = terms(need.text), {t.lower() for t in need.tags}
        scored = []
        for offer, ot, otags in offers:
            if offer.member == need.member:
                continue
            words = len(nt & ot) / len(nt | ot) if nt | ot else 0.0
            tags = len(ntags & otags) / len(ntags | otags) if ntags | otags else 0.0
            score = round(0.6 * tags + 0.4 * words if (ntags or otags) else words, 4)
            if score >= min_score:
                scored.append(Suggestion(need, offer, score))
        scored.sort(key=lambda s: (-s.score, s.offer.id))
        out += scored[:per_need]
    return out
