"""Bad and contradictory answers get a question back, never a crash: the field, the line, the question, exit 2."""

from __future__ import annotations

from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shequn.domain import UserError
from shequn.planner import OpenQuestionsError, build_plan, check_answers, recommend
from shequn.planner.answers import parse_answers, read_answers
from shequn.planner.recommend import facts_from_answers
from tests.planner.support import EXAMPLES, TODAY, answers, raw


def yaml_of(data: dict[str, Any]) -> str:
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False)


def open_questions(type_key: str, **changes: Any) -> dict[str, str]:
    """field → the question put back, for answers that cannot make a plan yet."""
    with pytest.raises(OpenQuestionsError) as exc:
        build_plan(answers(type_key, **changes), locale="zh-CN", today=TODAY)
    return {f.field: f.text("zh-CN") for f in exc.value.findings}


def test_a_missing_field_is_named_with_its_line_and_the_question() -> None:
    data = raw("growth")
    del data["goal"], data["value"]
    with pytest.raises(UserError) as exc:
        read_answers(yaml_of(data), source="a.yaml")
    assert exc.value.exit_code == 2
    lines = str(exc.value).splitlines()
    assert any(
        line.startswith("a.yaml:") and ": goal: 缺少这一项，请回答：社群的共同目标是什么" in line for line in lines
    )
    assert any(": value: 缺少这一项，请回答：社群给成员提供哪些价值" in line for line in lines)


def test_a_bad_choice_lists_the_choices_on_its_line() -> None:
    text = yaml_of(raw("growth")).replace("purpose: 成长", "purpose: 发财")
    with pytest.raises(UserError) as exc:
        read_answers(text, source="a.yaml", locale="en")
    line = next(i for i, s in enumerate(text.splitlines(), 1) if s.startswith("purpose:"))
    assert str(exc.value).startswith(f"a.yaml:{line}: purpose: ")
    assert "卖货 (selling)" in str(exc.value) and "发财" in str(exc.value)


def test_names_keys_and_aliases_are_all_accepted() -> None:
    a = answers("growth", purpose="learning", value="内容、platform", ads="红包")
    assert (a.purpose, a.value, a.ads) == ("growth", ["content", "platform"], "red_packet")
    assert answers("growth", team={"leader": "Teacher", "size": 2}).team.leader == "expert"
    assert answers("growth", tags="读书，职场, 北京").tags == ["读书", "职场", "北京"]


@pytest.mark.parametrize(
    "text",
    ["", "- a list\n", "name: [unclosed\n", "just words", "name: x\n  bad: indent\n"],
)
def test_not_a_mapping_or_not_yaml_exits_2(text: str) -> None:
    with pytest.raises(UserError) as exc:
        read_answers(text, source="a.yaml")
    assert exc.value.exit_code == 2 and str(exc.value).startswith("a.yaml")


def test_a_consumption_community_with_no_product_gets_a_question() -> None:
    asked = open_questions("consumption", product="")
    assert list(asked) == ["product"] and "群里卖什么产品、发什么福利" in asked["product"]


def test_a_selling_purpose_with_no_product_gets_a_question() -> None:
    asked = open_questions("growth", purpose="卖货", product="")
    assert "product" in asked


@pytest.mark.parametrize(
    ("goal", "field", "words"),
    [
        ({"text": "让大家都变瘦"}, "goal.target", "还没有数字"),
        ({"text": "读完24本书", "target": 24}, "goal.deadline", "哪天之前达成"),
        ({"text": "读完24本书", "target": 24, "deadline": "2020-01-01"}, "goal.deadline", "已经过去了"),
    ],
)
def test_a_goal_needs_a_number_and_a_date_to_come(goal: dict[str, Any], field: str, words: str) -> None:
    asked = open_questions("growth", goal=goal)
    assert words in asked[field]


def test_a_paid_community_of_5000_in_one_group_gets_a_question() -> None:
    asked = open_questions("growth", expected_size=5000, groups=1)
    assert "groups" in asked and "wechat群的上限500人" in asked["groups"]  # WeChat caps a group at 500 (book 1231)
    asked = open_questions("growth", expected_size=5000, groups=1, platform="telegram")
    assert "500人的大群存活时间都非常短" in asked["groups"]  # no platform cap, but book 1787
    plan = build_plan(answers("growth", expected_size=5000, groups=40), locale="zh-CN", today=TODAY)
    assert plan.spec.size.policy == "soft_cap"


def test_an_interest_group_charging_a_high_fee_gets_a_question() -> None:
    asked = open_questions("interest", charging={"model": "membership", "amount": 999, "period": "year"})
    assert "只适合做系列课或等级课" in asked["charging.amount"]
    ok = build_plan(answers("interest", charging={"model": "courses", "amount": 199}), locale="zh-CN", today=TODAY)
    assert ok.type == "interest"  # a course series is how hobby groups charge (000:112)
    small = answers("interest", charging={"model": "entry_fee", "amount": 20})
    assert build_plan(small, locale="zh-CN", today=TODAY).spec.threshold.params["fee"] == 2000


def test_charging_needs_an_amount_and_a_membership_a_term() -> None:
    asked = open_questions("growth", charging={"model": "membership"})
    assert set(asked) == {"charging.amount", "charging.period"}


def test_no_value_and_everyone_get_questions() -> None:
    assert "value" in open_questions("growth", value=[])
    asked = open_questions("growth", persona={"occupation": "所有人"})
    assert "千万别说你的社群面向所有人" in asked["persona"]
    assert "persona" in open_questions("growth", persona={"interests": ["Everyone"]}, tags=[])
    fine = build_plan(answers("growth", persona={"age": "年龄不限", "occupation": "人人都是运营的读者"}), today=TODAY)
    assert fine.type == "growth"  # a narrow persona that happens to contain such words is not "everyone"


def test_warnings_do_not_stop_the_plan() -> None:
    a = answers("ip")
    findings = check_answers(a, recommend(facts_from_answers(a)), today=TODAY)
    assert [f.key for f in findings] == ["team_stretched"] and findings[0].severity == "warning"


def test_the_explicit_none_of_persona_and_goal_is_an_answer() -> None:
    a = answers("growth", persona="无", goal="none")
    assert a.persona is None and a.goal is None
    assert answers("growth", persona={"age": ""}).persona is None  # nothing in it is no persona


# -- fuzzing: whatever the file holds, the answer is a plan, a question or a one-line error -----------------------

SCALARS = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**12), max_value=10**12),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=30),
    st.dates().map(str),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=10), inner, max_size=4),
    max_leaves=12,
)
FIELDS = list(raw("growth"))


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    base=st.sampled_from(sorted(EXAMPLES)),
    changes=st.dictionaries(st.sampled_from([*FIELDS, "extra", "persona", "goal"]), VALUES, max_size=4),
    dropped=st.lists(st.sampled_from(FIELDS), max_size=3),
)
def test_fuzzed_answers_never_crash(base: str, changes: dict[str, Any], dropped: list[str]) -> None:
    data = raw(base)
    for key in dropped:
        data.pop(key, None)
    data.update(changes)
    try:
        text = yaml_of(data)
    except yaml.YAMLError:
        return
    try:
        a, _ = parse_answers(text, source="f.yaml")
    except UserError as exc:
        assert exc.exit_code == 2 and "Traceback" not in str(exc)
        assert all(line.startswith("f.yaml") for line in str(exc).splitlines())
        return
    try:
        plan = build_plan(a, locale="en", today=TODAY)
    except OpenQuestionsError as exc:
        assert exc.exit_code == 2 and exc.findings
        return
    assert [r.key for r in plan.rules] == [
        "hard_requirements",
        "prohibitions",
        "removal",
        "tasks",
        "red_packets",
        "welfare",
        "activities",
    ]


@settings(max_examples=200, deadline=None)
@given(st.text(max_size=200))
def test_fuzzed_text_never_crashes(text: str) -> None:
    try:
        read_answers(text, source="f.yaml")
    except UserError as exc:
        assert exc.exit_code == 2
