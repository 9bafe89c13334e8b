"""Recommending a community type (社群类型) from what the operator said, with the reasons and their seed lines.

How it works:
    The answers are reduced to :class:`Facts` (purpose, value kinds, who leads, how it charges, whether there is a
    product, offline events, members per group, and the operator's own words). Each signal of ``planner.yaml``
    whose single condition holds adds its scores to one or more of the six types of 000_429f995354a731ff.txt; the
    type with the highest total is recommended, and the signals that scored for it are its reasons, each citing
    the line of the seed that makes the connection. Nothing looks at example names: a 读书会 is recommended as
    成长型 because of what its answers say (a growth purpose, content, an expert leading, a fee, "读书").

Things to keep in mind:
    * A spec can be reviewed the same way (:func:`facts_from_spec`): what it does not record (who leads, a product,
      offline events) simply fires no signal.
    * Ties are broken by the number of signals, then by the playbook's order of the types, so the result is stable.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

from shequn.planner.answers import Answers, fold, resolve_option
from shequn.playbook import load_playbook
from shequn.playbook.models import TypeMapping
from shequn.playbook.planner import Signal
from shequn.playbook.spec import CommunitySpec

MAX_WORDS = 3  # words quoted in a keyword reason


@dataclass(frozen=True, slots=True)
class Facts:
    """What the recommendation looks at; None means "not known" (no signal fires)."""

    purpose: str | None = None
    values: tuple[str, ...] = ()
    leader: str | None = None
    charging: str | None = None
    product: bool | None = None
    offline: bool | None = None
    per_group: int | None = None
    words: str = ""


def facts_from_answers(a: Answers) -> Facts:
    return Facts(
        purpose=a.purpose,
        values=tuple(a.value),
        leader=a.team.leader,
        charging=a.charging.model,
        product=bool(a.product.strip()),
        offline=a.offline,
        per_group=a.per_group,
        words=a.own_words(),
    )


def facts_from_spec(spec: CommunitySpec) -> Facts:
    """What a spec tells about its community: its positioning, and its threshold as the charging model."""
    pb = load_playbook()
    p = spec.positioning
    size = {s.key: s for s in pb.sizes.policies}[spec.size.policy]
    persona = " ".join([p.persona.occupation, *p.persona.interests])
    return Facts(
        purpose=resolve_option("purposes", p.purpose) if p.purpose else None,
        values=tuple(p.value),
        charging="entry_fee" if spec.threshold.kind == "paid" else None,
        per_group=spec.size.capacity or size.capacity,
        words=" ".join([spec.name, p.what, p.why, p.together, *p.tags, persona]),
    )


@dataclass(frozen=True, slots=True)
class Reason:
    """A signal that fired: its scores, the words that matched (keyword signals), and where the seed says so."""

    signal: Signal
    words: tuple[str, ...] = ()

    def text(self, locale: str) -> str:
        sep = "、" if locale != "en" else ", "
        return self.signal.reason.get(locale).format(words=sep.join(self.words))

    @property
    def source(self) -> str:
        return self.signal.source

    @property
    def quote(self) -> str | None:
        return self.signal.quote


@dataclass(frozen=True, slots=True)
class TypeScore:
    type: str
    score: int
    reasons: tuple[Reason, ...]


@dataclass(frozen=True, slots=True)
class Recommendation:
    """The six types ranked, best first; ``type`` is the recommended one."""

    scores: tuple[TypeScore, ...]
    fired: tuple[Reason, ...] = field(default=())

    @property
    def type(self) -> str:
        return self.scores[0].type

    @property
    def best(self) -> TypeScore:
        return self.scores[0]

    def score_of(self, type_key: str) -> TypeScore:
        return next(s for s in self.scores if s.type == type_key)

    def close_runner_up(self) -> TypeScore | None:
        """The second type when it scores at least three quarters of the first (types overlap: book 2233)."""
        second = self.scores[1]
        return second if second.score > 0 and second.score * 4 >= self.best.score * 3 else None


def aliases(type_key: str) -> list[TypeMapping]:
    """The other taxonomies' names for a type (001's three types, 003's six categories)."""
    tax = load_playbook().taxonomies
    return [m for m in [*tax.d1_types, *tax.d3_categories] if type_key in m.maps_to]


def _matched_words(keywords: list[str], text: str) -> tuple[str, ...]:
    """The keywords found in ``text``: CJK words as substrings, Latin words as whole words."""
    folded = fold(text)
    spaced = " " + re.sub(r"[^0-9a-z]+", " ", text.lower()) + " "
    found = []
    for word in keywords:
        if re.search(r"[a-z]", word):
            if f" {word.lower()} " in spaced:
                found.append(word)
        elif fold(word) in folded:
            found.append(word)
    # a longer keyword that contains a shorter one found (读书会 ⊃ 读书) is reported once, the longer
    return tuple(w for w in found if not any(w != o and w in o for o in found))


def _fires(s: Signal, f: Facts) -> tuple[bool, tuple[str, ...]]:
    w = s.when
    if w.purpose is not None:
        return f.purpose in w.purpose, ()
    if w.value is not None:
        return bool(set(f.values) & set(w.value)), ()
    if w.leader is not None:
        return f.leader in w.leader, ()
    if w.charging is not None:
        return f.charging in w.charging, ()
    if w.product is not None:
        return f.product is not None and f.product == w.product, ()
    if w.offline is not None:
        return f.offline is not None and f.offline == w.offline, ()
    if w.size_at_most is not None:
        return f.per_group is not None and f.per_group <= w.size_at_most, ()
    if w.size_at_least is not None:
        return f.per_group is not None and f.per_group >= w.size_at_least, ()
    words = _matched_words(w.keywords or [], f.words)
    return bool(words), words[:MAX_WORDS]


def recommend(facts: Facts) -> Recommendation:
    """Rank the six types for ``facts``."""
    pb = load_playbook()
    fired: list[Reason] = []
    for s in pb.planner.signals:
        ok, words = _fires(s, facts)
        if ok:
            fired.append(Reason(s, words))
    order = list(pb.types)
    ranked = []
    for key in order:
        reasons = tuple(r for r in fired if r.signal.scores.get(key, 0) > 0)
        ranked.append(TypeScore(key, sum(r.signal.scores[key] for r in reasons), reasons))
    ranked.sort(key=lambda ts: (-ts.score, -len(ts.reasons), order.index(ts.type)))
    return Recommendation(tuple(ranked), tuple(fired))
