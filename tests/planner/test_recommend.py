"""The type recommendation: each type's example in 000_429f995354a731ff.txt is recommended as that type, from what
its answers say (not from its name), with reasons that cite the seed."""

from __future__ import annotations

import pytest

from shequn.planner import Facts, recommend
from shequn.planner.recommend import aliases, facts_from_answers
from shequn.playbook import load_playbook
from tests.planner.support import EXAMPLES, answers, from_file

NEUTRAL = "一个群"  # says nothing about any type


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_each_types_example_is_recommended_as_that_type(type_key: str) -> None:
    rec = recommend(facts_from_answers(from_file(type_key)))
    assert rec.type == type_key, [(s.type, s.score) for s in rec.scores]
    assert rec.best.score > rec.scores[1].score  # a clear first, not a tie broken by order
    assert rec.best.reasons, "a recommendation always says why"
    for reason in rec.best.reasons:
        assert reason.signal.scores[type_key] > 0
        assert reason.text("zh-CN") and reason.text("en")
        assert reason.source.split(":")[0] in {
            "000_429f995354a731ff.txt",
            "002_f229b143e7e75e03.txt",
            "003_8f3d0b9471bfba30.txt",
        }


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_the_recommendation_holds_without_the_examples_words(type_key: str) -> None:
    """Blank out every free-text answer: the structured answers alone still point to the type."""
    a = answers(
        type_key,
        name=NEUTRAL,
        what=NEUTRAL,
        why=NEUTRAL,
        together=NEUTRAL,
        tags=[],
        persona={"age": "30"},
        product="某产品" if from_file(type_key).product else "",
    )
    rec = recommend(facts_from_answers(a))
    assert rec.type == type_key, [(s.type, s.score) for s in rec.scores]
    assert not any(r.signal.when.keywords for r in rec.fired)


def test_the_same_name_with_other_answers_gets_another_type() -> None:
    """A 读书会 run by a hobbyist organiser, free, small and offline reads as an interest group: the content decides."""
    a = answers(
        "growth",
        purpose="人脉",
        value=["平台"],
        team={"leader": "组织者", "size": 1},
        charging={"model": "free"},
        expected_size=30,
        groups=1,
    )
    rec = recommend(facts_from_answers(a))
    assert rec.type == "interest"
    assert {r.signal.key for r in rec.best.reasons} >= {"leader_organizer", "small_groups", "charging_free"}


def test_keywords_match_whole_english_words_and_chinese_substrings() -> None:
    rec = recommend(Facts(words="We love brunch and trunks"))
    assert rec.best.score == 0  # "run" is a keyword; "brunch" and "trunks" must not match it
    rec = recommend(Facts(words="a running club"))
    assert rec.type == "interest" and rec.best.reasons[0].words == ("running",)
    rec = recommend(Facts(words="每周读书会"))
    assert rec.best.reasons[0].words == ("读书会",)  # the longer word is reported, not 读书 as well


def test_facts_that_are_unknown_fire_nothing() -> None:
    rec = recommend(Facts())
    assert rec.best.score == 0 and rec.fired == ()


def test_the_other_taxonomies_are_shown_as_aliases() -> None:
    names = {m.name.zh for m in aliases("growth")}
    assert names == {"知识服务型社群", "知识类社群"}
    assert {m.name.zh for m in aliases("money")} == {"资源类社群", "项目协作类社群"}
    assert {m.key for m in aliases("interest")} == {"interest", "fellowship"}
    for t in load_playbook().types:
        for m in aliases(t):
            assert t in m.maps_to


def test_every_signal_reason_cites_the_line_its_quote_is_from() -> None:
    pb = load_playbook()
    cited = {(path, item.source) for path, item in pb.citations() if path.startswith("planner.signals")}
    assert len(cited) == len(pb.planner.signals)
