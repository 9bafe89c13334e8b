"""What reads free text must take any text: the detector, the classifier's tokens, nickname checks, the FAQ."""

from __future__ import annotations

import math

from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.domain import ContentKind
from shequn.playbook import load_lexicon
from shequn.policies.moderation import Detector, Verdict
from shequn.policies.moderation import classifier as clf
from shequn.policies.moderation.detect import COMMON_WORDS
from shequn.policies.onboarding import nickname_fits

DETECTOR = Detector(load_lexicon("cn_advertisement.bin"), common=COMMON_WORDS)
# Text as chat has it: Chinese, Latin, Cyrillic, digits of every width, emoji, separators, URLs.
ALPHABET = (
    st.sampled_from(
        list("加我微信vx薇威❤➕V：:1234567890１２３一二三四五六七八九零 -_.·http://t.cn/ab免费日赚代理пишивлс@")
    )
    | st.characters()
)


@settings(max_examples=300, deadline=None)
@given(st.text(ALPHABET, max_size=200), st.sampled_from(list(ContentKind)), st.text(max_size=20))
def test_the_detector_takes_any_text(text: str, content: ContentKind, media: str) -> None:
    evidence = DETECTOR.inspect(text, content, media)
    verdict = Verdict(tuple(evidence))
    assert math.isfinite(verdict.score) and all(e.kind for e in evidence)
    assert DETECTOR.worth_a_closer_look(text) in (True, False)


@settings(max_examples=200, deadline=None)
@given(st.text(ALPHABET, max_size=300), st.lists(st.text(max_size=10), max_size=5))
def test_tokens_and_learning_take_any_text(text: str, kinds: list[str]) -> None:
    toks = clf.tokens(text, kinds)
    assert len(toks) == len(set(toks)) <= 200
    state = clf.update({}, toks, add=True, ad=True)
    assert state["n"][0] == 1 and math.isfinite(clf.log_odds(state, toks))
    # Removing what was added leaves nothing behind.
    undone = clf.update(state, toks, add=False, ad=True)
    assert all(v is None for k, v in undone.items() if k != "n") and undone["n"] == [0, 0, 0, 0, 0]


@given(st.text(max_size=40), st.text(max_size=40))
def test_nickname_checks_take_any_names(name: str, fmt: str) -> None:
    assert nickname_fits(name, fmt) in (True, False)
