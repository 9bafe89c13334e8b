"""Question, link and contact detection: the pure functions, and DuckDB reading the same patterns the same way."""

from __future__ import annotations

import duckdb
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from shequn.analytics import conversation as conv

QUESTIONS = ["周末有人一起跑步吗？", "请问作业在哪里交", "这个怎么用", "anyone tried 22.04?", "what is a PPA", "真的吗"]
NOT_QUESTIONS = ["今天天气不错", "谢谢老师", "哈哈哈", "打卡第12天", "收到", "I see"]
CONTACTS = [
    "加我vx：abc_123 兼职", "薇信lucky12，刷单", "刷单，电话 1 3 8 1 2 3 4 5 6 7 8", "联系：１３８１２３４５６７８",
    "[二维码] 扫码领", "➕V：vip_1234，招代理", "有意者私聊，V kefu_222", "+q 138-1234-5678",
]  # fmt: skip
CLEAN = ["vivo手机好用", "我买了2件", "第3期读书会 8点开始", "大家好，我是小王，来自上海"]


@pytest.mark.parametrize("text", QUESTIONS)
def test_questions(text: str) -> None:
    assert conv.is_question(text)


@pytest.mark.parametrize("text", NOT_QUESTIONS)
def test_not_questions(text: str) -> None:
    assert not conv.is_question(text)


@pytest.mark.parametrize("text", CONTACTS)
def test_contact_details_in_the_forms_ads_use(text: str) -> None:
    assert conv.has_contact(text)


@pytest.mark.parametrize("text", CLEAN)
def test_ordinary_chat_has_no_contact_details(text: str) -> None:
    assert not conv.promotes(text)


def test_links() -> None:
    assert conv.has_link("推荐 https://www.zhihu.com/p/1") and not conv.has_link("没有链接")


def test_duckdb_reads_the_patterns_as_python_does() -> None:
    con = duckdb.connect()
    samples = QUESTIONS + NOT_QUESTIONS + CONTACTS + CLEAN
    for text in samples:
        t = conv.normalize(text)
        q, c = con.execute(
            "SELECT regexp_matches(?, ?), regexp_matches(?, ?) OR regexp_matches(?, ?) OR regexp_matches(?, ?)",
            [t, conv.QUESTION_PATTERN, t, conv.PHONE_PATTERN, t, conv.HANDLE_PATTERN, t, conv.QR_PATTERN],
        ).fetchone() or (None, None)
        assert q == conv.is_question(text), text
        assert c == conv.has_contact(text), text


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_never_raises(text: str) -> None:
    assert isinstance(conv.is_question(text), bool)
    assert isinstance(conv.promotes(text), bool)
