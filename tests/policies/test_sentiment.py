"""The complaint detector (policies/sentiment.py): negation, hard negatives, the held-out F1 against keywords."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from typer.testing import CliRunner

from shequn.bench import sentiment as bench
from shequn.cli.main import app
from shequn.playbook.loader import load_sentiment_lexicon
from shequn.policies.sentiment import (
    _norm,
    compile_lexicon,
    complaint_score,
    evidence,
    is_complaint,
    keyword_baseline,
    lexicon,
)


def test_keyword_baseline_matches_complaint_words_in_both_languages() -> None:
    assert keyword_baseline("客服太垃圾了")
    assert keyword_baseline("This is a SCAM, give me a refund")
    assert not keyword_baseline("今天天气不错")
    assert not keyword_baseline("see you tomorrow")


def test_score_is_bounded_and_empty_text_is_no_complaint() -> None:
    for text in ("退款呢？？", "hello", "", "   ", "IT was FUCKING BROKEN!!!"):
        assert 0.0 <= complaint_score(text) <= 1.0
    assert complaint_score("") == 0.0
    assert not is_complaint("")
    assert is_complaint("我要投诉你们客服", threshold=0.0)
    assert not is_complaint("我要投诉你们客服", threshold=1.01)


@pytest.mark.parametrize(
    ("complaint", "negated"),
    [
        ("这服务太敷衍了", "服务一点都不敷衍"),
        ("太失望了", "没有失望，比预期还好"),
        ("The service is terrible", "The service is not terrible"),
        ("Honestly the workshop was a waste of money", "Honestly the workshop was never a waste of money"),
    ],
)
def test_a_negation_before_a_negative_word_turns_it_around(complaint: str, negated: str) -> None:
    assert is_complaint(complaint)
    assert not is_complaint(negated)
    assert any(cue.startswith("not ") and w < 0 for cue, w in evidence(negated))


def test_a_question_word_is_not_a_negation() -> None:
    # 有没有黑幕 asks whether there is foul play: the 没 does not deny 黑幕
    assert is_complaint("每次活动都是那几个人中奖，有没有黑幕")
    assert not is_complaint("没有黑幕")


@pytest.mark.parametrize(
    "text",
    [
        "请问退款怎么申请？买错尺码了",  # a question about refunds
        "How do I ask for a refund if I bought the wrong size?",
        "笑死，这表情包太绝了",  # laughter
        "气死我了哈哈哈，又被我家猫抢了座位",  # a joke with a negative word
        "lol that meme is terrible, I love it",
        "I hate Mondays haha, coffee time ☕",
        "No complaints here, everything arrived on time.",
        "Not bad at all, the new layout is much cleaner.",
        "没毛病，就按这个来",
    ],
)
def test_hard_negatives_the_keywords_flag_are_not_complaints(text: str) -> None:
    assert not is_complaint(text)


def test_hard_negatives_without_keywords_stay_clear() -> None:
    assert not is_complaint("Thanks for the quick reply, problem solved!")
    assert not is_complaint("不要担心，链接明天会修好的")


@pytest.mark.parametrize(
    "text",
    [
        "说好的三天发货，现在都一个星期了，到底什么时候发？",  # a promise not kept, no keyword
        "问了三遍了，没有一个人理我",
        "Why does nobody from the team ever answer in this group?",
        "Paid for premium, got the same content as the free tier. Thanks for nothing.",  # sarcasm
    ],
)
def test_complaints_without_keywords_are_found(text: str) -> None:
    assert not keyword_baseline(text)
    assert is_complaint(text)


def test_evidence_names_the_cues_with_their_weights() -> None:
    cues = dict(evidence("说好的三天发货，现在都一个星期了"))
    assert cues["说好的"] > 0 and cues["发货"] > 0


def test_a_bad_pattern_in_the_lexicon_is_an_error_naming_its_section() -> None:
    data = json.loads(json.dumps(load_sentiment_lexicon()))
    data["en"]["frames"] = {2.0: ["(unclosed"]}
    with pytest.raises(RuntimeError, match=r"en\.frames.*\(unclosed"):
        compile_lexicon(data)


def test_every_lexicon_entry_was_chosen_on_the_tuning_set() -> None:
    """The discipline: each word and pattern matches at least one tuning message (none comes from the test set)."""
    lex = lexicon()
    for lang, compiled in zip(("zh-CN", "en"), lex.languages, strict=True):
        tune = [_norm(s.text) for s in bench.load(lang, "tune")]
        for section in (compiled.negative, compiled.frames, compiled.targets, compiled.soften):
            unused = [p.pattern for p, _ in section if not any(p.search(t) for t in tune)]
            assert not unused, f"{lang}: {unused}"


def test_held_out_sets_are_large_apart_from_tuning_and_both_classes_present() -> None:
    for lang in bench.LANGS:
        tune, test = bench.load(lang, "tune"), bench.load(lang, "test")
        assert len(tune) >= 300 and len(test) >= 300
        assert not {s.text for s in tune} & {s.text for s in test}
        assert 0.2 < sum(s.label for s in test) / len(test) < 0.5


@pytest.mark.parametrize("lang", bench.LANGS)
def test_detector_f1_beats_the_keyword_baseline_on_held_out_messages(lang: str) -> None:
    scores = {s.detector: s for s in bench.run("test", langs=[lang])}
    assert scores["detector"].f1 > scores["keywords"].f1
    assert scores["detector"].precision > scores["keywords"].precision


def test_bench_command_prints_both_detectors_per_language() -> None:
    result = CliRunner().invoke(app, ["bench", "sentiment", "--json"])
    assert result.exit_code == 0, result.output
    rows = json.loads(result.output)
    assert {(r["lang"], r["detector"]) for r in rows} == {(lang, d) for lang in bench.LANGS for d in bench.DETECTORS}
    bad = CliRunner().invoke(app, ["bench", "sentiment", "--split", "train"])
    assert bad.exit_code == 2 and "tune" in bad.output


def test_a_malformed_data_line_names_its_file_and_line(tmp_path: Path) -> None:
    (tmp_path / "en.test.jsonl").write_text('# header\n{"text": "ok", "label": 0}\n{"text": "x"}\n', encoding="utf-8")
    with pytest.raises(ValueError, match=r"en\.test\.jsonl:3"):
        bench.load("en", "test", tmp_path)
