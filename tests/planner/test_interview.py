"""The interview, driven through its input function: every question asked once, bad answers asked again, and
contradictions, missing essentials and the type put back to the operator."""

from __future__ import annotations

from collections.abc import Iterable

import pytest

from shequn.planner import Answers, build_plan, interview
from tests.planner.support import TODAY, from_file

GROWTH = [
    "职场成长读书会",
    "一个每周共读一本职场和商业好书的读书会",
    "一个人读书很难坚持，学习需要同伴效应，一起读才能读完、读懂",
    "每天打卡读书，每周拆解一个书中的案例，每月请作者来分享",
    "3",  # 成长
    "读书, 职场",
    "25-40岁",
    "",
    "北京",
    "互联网和金融行业的白领",
    "读书、写作",
    "1,2",  # 内容价值, 平台价值
    "读书会年度会员",
    "一年内每位书友读完24本书",
    "人均读完的书",
    "24本",
    "2030-12-31",
    "老师",
    "3",
    "林老师, 小周, 小吴",
    "林老师的公众号3万粉丝, 出版社的作者资源",
    "公众号文章, 书友推荐",
    "3",  # 会员费
    "199元",
    "一年",
    "300",
    "2",
    "",  # wechat (default)
    "是",
    "",  # 禁止一切广告 (default)
    "",  # accept the rules (default yes)
    "书友",
]


class Script:
    """Plays the operator: answers prompts in order, records what was asked and said."""

    def __init__(self, lines: Iterable[str]) -> None:
        self.lines = list(lines)
        self.prompts: list[str] = []
        self.said: list[str] = []

    def ask(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.lines:
            raise EOFError
        return self.lines.pop(0)

    def say(self, line: str) -> None:
        self.said.append(line)

    @property
    def transcript(self) -> str:
        return "\n".join(self.said + self.prompts)


def run(lines: Iterable[str], locale: str = "zh-CN") -> tuple[Script, Answers]:
    s = Script(lines)
    answers = interview(s.ask, s.say, locale=locale, today=TODAY)
    return s, answers


def test_a_full_interview_gives_the_same_answers_as_the_file() -> None:
    s, answers = run([*GROWTH, ""])  # Enter keeps the recommended type
    expected = from_file("growth").model_dump()
    got = answers.model_dump()
    assert got.pop("type") is None and got.pop("locale") == "zh-CN"  # kept the recommendation: no choice recorded
    expected.pop("type"), expected.pop("locale")
    assert got == expected
    assert len(s.prompts) == len(GROWTH) + 1 and not s.lines
    assert s.prompts[0].startswith("1. 社群叫什么名字？")
    assert "你想要建一个什么样的群？" in s.said[1]  # the book's three questions open the interview
    assert any("推荐的社群类型：成长型" in line for line in s.said)
    build_plan(answers, locale="zh-CN", today=TODAY)


def test_answers_that_cannot_be_read_are_asked_again() -> None:
    lines = list(GROWTH)
    i = lines.index("3")  # the purpose
    lines[i : i + 1] = ["9", "发财", "成长"]
    j = lines.index("24本")
    lines[j : j + 1] = ["很多", "24"]
    k = lines.index("2030-12-31")
    lines[k : k + 1] = ["明年", "2030/12/31"]
    s, answers = run([*lines, ""])
    assert answers.purpose == "growth" and answers.goal.target == 24
    assert answers.goal.deadline.isoformat() == "2030-12-31"
    errors = [line for line in s.said if "✗" in line]
    assert len(errors) == 4 and "请输入 1-6 的编号或名称" in errors[0] and "请输入一个数字" in errors[2]


def test_a_contradiction_puts_its_question_back() -> None:
    """A 消费型 community with nothing to buy: the planner asks what members buy, then goes on."""
    lines = list(GROWTH)
    lines[4] = "1"  # 卖货
    lines[11] = "5"  # 福利
    lines[12] = ""  # no product
    lines[17] = "商家"
    lines[22] = "1"  # free: charging.amount and .period are not asked
    del lines[23:25]
    s, answers = run([*lines, "读书会会员专享的图书折扣券", ""])
    assert any("群里卖什么产品、发什么福利" in line for line in s.said)
    assert answers.product == "读书会会员专享的图书折扣券"
    assert any("推荐的社群类型：消费型" in line for line in s.said)
    assert build_plan(answers, locale="zh-CN", today=TODAY).type == "consumption"


def test_missing_essentials_are_named_and_can_be_left_out() -> None:
    lines = list(GROWTH)
    lines[5:11] = ["", "", "", "", "", ""]  # no tags, no persona
    g = lines.index("一年内每位书友读完24本书")
    lines[g : g + 4] = ["无"]  # no goal: metric, target and date are not asked
    s, answers = run([*lines, "n", ""])
    assert any("这不是社群，而是用户维护群" in line for line in s.said)
    assert any("相同的属性标签" in line for line in s.said) and any("相同的目标" in line for line in s.said)
    assert answers.goal is None and answers.persona is None
    plan = build_plan(answers, locale="zh-CN", today=TODAY)
    assert plan.is_maintenance_group


def test_missing_essentials_can_be_added_when_offered() -> None:
    lines = list(GROWTH)
    g = lines.index("一年内每位书友读完24本书")
    lines[g : g + 4] = ["无"]
    _, answers = run([*lines, "y", "一年读完24本书", "人均读完的书", "24", "2030-12-31", ""])
    assert answers.goal is not None and answers.goal.target == 24


def test_the_operator_may_choose_another_type() -> None:
    _, answers = run([*GROWTH, "IP型"])
    assert answers.type == "ip"
    plan = build_plan(answers, locale="zh-CN", today=TODAY)
    assert plan.type == "ip" and "type_differs" in {w.key for w in plan.warnings}


def test_end_of_input_stops_the_interview() -> None:
    with pytest.raises(EOFError):
        run(GROWTH[:5])


def test_the_interview_speaks_english() -> None:
    lines = list(GROWTH)
    s, answers = run([*lines, ""], locale="en")
    assert s.prompts[0].startswith("1. What is the community called?")
    assert any("Recommended type: Growth" in line for line in s.said)
    assert answers.locale == "en"
