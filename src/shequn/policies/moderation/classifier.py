"""The classifier that learns from the operators' corrections (人工标注): "this was not an ad" / "this was".

How it works:
    A naive Bayes model over the words of labelled messages (Chinese as character pairs, other scripts as words,
    numbers and links by shape, plus the kinds of rule evidence found), kept as document counts in the
    workspace-wide policy state: every :class:`~shequn.domain.Label` event updates the counts through ``SetState``
    actions, so replaying the log rebuilds the model exactly. Scoring a message sums the log-likelihood ratios of
    its known tokens; :func:`weight` turns that into evidence bounded by ``±LIMIT``, added to the rules' score.

Things to keep in mind:
    * The model stays silent until the operators have labelled a few messages of each kind (``min_labels``).
    * A message labelled twice counts once, with its latest label (relabelling undoes the earlier counts).
    * Tokens are stored one state entry each (``t:<token>``), so a label changes only what it touches.
"""

from __future__ import annotations

import math
import re
import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

SCOPE = "moderation.learned"
LIMIT = 3.0  # the most the learned evidence adds to (or takes from) a message's score
_SCALE = 4.0
_CJK_RUN = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]+")
_WORDS = re.compile(r"[^\W\d_]{2,}")
_NUMBER = re.compile(r"\d+")
_DOMAIN = re.compile(r"(?:https?://)?(?:www\.)?([a-z0-9\-]+\.[a-z]{2,})")
_MAX_TOKENS = 200


def tokens(text: str, evidence: Iterable[str] = ()) -> list[str]:
    """The distinct tokens of a message (at most 200), in a stable order."""
    norm = unicodedata.normalize("NFKC", text).lower()
    out: dict[str, None] = {}
    for run in _CJK_RUN.findall(norm):
        if len(run) == 1:
            out[run] = None
        for i in range(len(run) - 1):
            out[run[i : i + 2]] = None
    for w in _WORDS.findall(_CJK_RUN.sub(" ", norm)):
        out[w[:24]] = None
    for n in _NUMBER.findall(norm):
        out[f"<num{min(len(n), 12)}>"] = None
    for d in _DOMAIN.findall(norm):
        out[f"<dom:{d}>"] = None
    for kind in evidence:
        out[f"<ev:{kind}>"] = None
    return list(out)[:_MAX_TOKENS]


def counts(state: Mapping[str, Any]) -> tuple[int, int, int, int, int]:
    """(ad documents, not-ad documents, ad token total, not-ad token total, vocabulary size)."""
    n = state.get("n")
    return (int(n[0]), int(n[1]), int(n[2]), int(n[3]), int(n[4])) if n else (0, 0, 0, 0, 0)


def log_odds(state: Mapping[str, Any], toks: Iterable[str]) -> float:
    """The log-likelihood ratio ad : not ad of a message's tokens (0 when nothing known)."""
    _, _, ta, th, vocab = counts(state)
    if not vocab:
        return 0.0
    da, dh = ta + vocab, th + vocab
    lo = 0.0
    get = state.get
    for t in toks:
        c = get("t:" + t)
        if c is not None:
            lo += math.log((c[0] + 1) / da) - math.log((c[1] + 1) / dh)
    return lo


def weight(lo: float) -> float:
    """Learned evidence in ``[-LIMIT, LIMIT]`` from a log-likelihood ratio."""
    return round(LIMIT * math.tanh(lo / _SCALE), 3)


def ready(state: Mapping[str, Any], min_labels: int) -> bool:
    ads, hams, *_ = counts(state)
    return ads >= min_labels and hams >= min_labels


def update(state: Mapping[str, Any], toks: list[str], *, add: bool, ad: bool) -> dict[str, Any]:
    """The state entries to write when a document with ``toks`` is added (or removed) as ad or not ad.

    Returns name → new value (``None`` deletes): the token counts touched and the totals ``n``.
    """
    da, dh, ta, th, vocab = counts(state)
    sign = 1 if add else -1
    i = 0 if ad else 1
    changes: dict[str, Any] = {}
    for t in toks:
        name = "t:" + t
        old = state.get(name)
        c = [int(old[0]), int(old[1])] if old is not None else [0, 0]
        if old is None and not add:
            continue
        c[i] = max(c[i] + sign, 0)
        if c == [0, 0]:
            changes[name] = None
            vocab -= 1
        else:
            if old is None:
                vocab += 1
            changes[name] = c
    n = len(toks)
    if ad:
        da, ta = max(da + sign, 0), max(ta + sign * n, 0)
    else:
        dh, th = max(dh + sign, 0), max(th + sign * n, 0)
    changes["n"] = [da, dh, ta, th, max(vocab, 0)]
    return changes
