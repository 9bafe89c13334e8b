"""The complaint detector (policies/sentiment.py): interface, keyword baseline."""

from __future__ import annotations

from shequn.policies.sentiment import complaint_score, is_complaint, keyword_baseline


def test_keyword_baseline_matches_complaint_words_in_both_languages() -> None:
    assert keyword_baseline("客服太垃圾了")
    assert keyword_baseline("This is a SCAM, give me a refund")
    assert not keyword_baseline("今天天气不错")
    assert not keyword_baseline("see you tomorrow")


def test_score_is_bounded_and_threshold_applies() -> None:
    for text in ("退款呢？？", "hello", ""):
        assert 0.0 <= complaint_score(text) <= 1.0
    assert is_complaint("我要投诉你们客服", threshold=0.0)
    assert not is_complaint("", threshold=0.01)
