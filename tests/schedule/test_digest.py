"""The digest of a group's day: counts, highlights by the replies they drew, questions answered or not, top
contributors, newcomers; bots and system messages left out."""

from __future__ import annotations

from datetime import timedelta

from hypothesis import given
from hypothesis import strategies as st

from shequn.analytics.conversation import is_question
from shequn.domain import Message, Reaction, stable_id
from shequn.schedule.digest import compute_digest
from tests.conftest import T0
from tests.support.builders import join, msg


def test_highlights_unanswered_questions_contributors_newcomers() -> None:
    q1 = msg("u1", T0 + timedelta(minutes=1), "请问大家用什么软件做读书笔记？")
    q2 = msg("u2", T0 + timedelta(minutes=2), "有没有人推荐一本入门书")
    q3 = msg("u3", T0 + timedelta(minutes=3), "How do you keep a reading streak?")
    answer = msg("u2", T0 + timedelta(minutes=4), "我用 Notion", reply_to=q1.message_id)
    by_mention = Message(
        id="m5",
        at=T0 + timedelta(minutes=5),
        platform="sandbox",
        group="g1",
        actor="u4",
        actor_name="u4",
        message_id="m5",
        text="推荐《如何阅读一本书》",
        mentions=("u2",),
    )
    reaction = Reaction(
        id="r1", at=T0 + timedelta(minutes=6), platform="sandbox", group="g1", actor="u3", message_id="m5", emoji="👍"
    )
    bot = Message(
        id="b1",
        at=T0 + timedelta(minutes=7),
        platform="sandbox",
        group="g1",
        actor="shequn",
        message_id="b1",
        text="早报",
        from_bot=True,
    )
    late = msg("u1", T0 + timedelta(days=1), "明天的消息不算")
    events = [join("u9", T0, name="新人小九"), q1, q2, q3, answer, by_mention, reaction, bot, late]
    d = compute_digest(events, T0, T0 + timedelta(days=1), bots=frozenset({"shequn"}))
    assert (d.messages, d.speakers, d.joins, d.questions) == (5, 4, 1, 3)
    assert [s.text for s in d.unanswered] == ["How do you keep a reading streak?"]
    assert [(s.message_id, s.score) for s in d.highlights] == [(q1.message_id, 1), ("m5", 1)]  # ties: longer first
    assert d.top[0] == ("u2", "u2", 2) and d.newcomers == [("u9", "新人小九")]


def test_a_quiet_day_is_quiet() -> None:
    d = compute_digest([], T0, T0 + timedelta(days=1))
    assert d.quiet and d.highlights == [] and d.unanswered == []


def test_the_digest_asks_the_analytics_detector_what_a_question_is() -> None:
    for text in ("请问怎么报名？", "这本书好看吗", "有谁知道地址", "how do I join", "提问：每天读多久", "求推荐一本书"):
        assert is_question(text), text
    for text in ("好的", "今天天气不错。", "谢谢大家", "ok"):
        assert not is_question(text), text


@given(
    st.lists(st.tuples(st.sampled_from(["u1", "u2", "u3"]), st.text(max_size=30), st.integers(0, 3000)), max_size=40)
)
def test_digest_never_fails_and_counts_add_up(rows: list[tuple[str, str, int]]) -> None:
    events = [
        Message(
            id=stable_id(str(i)),
            at=T0 + timedelta(seconds=s),
            platform="p",
            group="g",
            actor=a,
            message_id=str(i),
            text=t,
        )
        for i, (a, t, s) in enumerate(rows)
    ]
    d = compute_digest(events, T0, T0 + timedelta(hours=1))
    assert d.messages == len(rows) and d.speakers == len({a for a, _, _ in rows})
    assert sum(n for _, _, n in d.top) <= d.messages and len(d.unanswered) <= d.questions


def test_the_reports_republish_nothing_moderation_or_admission_took_back() -> None:
    # Book 1735 (破窗): the deleted ad is no unanswered question, its banned author no 活跃之星, the refused
    # applicant no newcomer — in the sandbox, where the platform reports the ban back.
    from shequn.connectors.sandbox import SandboxSession
    from shequn.engine import build_community_config
    from tests.support.builders import spec

    reports_on = {"jobs": {"morning_report": {"enabled": True}, "evening_report": {"enabled": True}}}
    community = build_community_config(
        spec(threshold={"kind": "invitation"}, roles={"architect": ["群主"]}, rhythm=reports_on)
    )
    s = SandboxSession(community, start=T0)
    script = [
        "/join 群主",
        "请问大家最近在读什么书？",
        "/join 老王 by 群主",
        "我在读《人类简史》，推荐！",
        "/join 广告号 by 老王",
        "请问有人需要代购吗？加我薇 lily2023 电话 13800138000",
        "/join 路人",  # no inviter: refused
        "/time 2026-11-03 08:05",
    ]
    out = s.run_script(script, source="t")
    reports = [o.text for o in out if o.kind == "post" and ("早报" in o.text or "晚报" in o.text)]
    assert len(reports) == 2
    for text in reports:
        assert "群主：请问大家最近在读什么书？" in text and "老王（1条）" in text
        assert "广告号" not in text and "lily2023" not in text and "13800138000" not in text and "代购" not in text
        assert "路人" not in text
        assert "2条消息" in text  # the ad is not counted either


def test_history_without_platform_feedback_still_leaves_out_what_was_taken_back() -> None:
    # Imported history: nothing was sent, no leave came back; the state's records say what moderation decided.
    from shequn.schedule.digest import withdrawn
    from tests.policies.harness import World, make_spec

    w = World(make_spec(), feedback=False)
    w.join("u1")
    w.say("u1", "请问大家最近在读什么书？")
    w.join("spam")
    w.say("spam", "加我薇 lily2023 有好货，请问谁要？")
    for i in range(4):
        w.say("spam", f"第{i}遍：还有人要吗？")
    state = w.engine.state.communities["读书会"]
    d = compute_digest(w.log, T0, T0 + timedelta(days=1), taken_back=withdrawn(state))
    assert [a for a, _, _ in d.top] == ["u1"] and [s.actor for s in d.unanswered] == ["u1"]
    assert [a for a, _ in d.newcomers] == ["u1"] and d.messages == 1


def test_quotes_have_contact_details_masked() -> None:
    q = msg("u1", T0 + timedelta(minutes=1), "请问谁知道报名电话？我的是 13800138000")
    d = compute_digest([q], T0, T0 + timedelta(days=1))
    assert d.unanswered[0].text == "请问谁知道报名电话？我的是 138****8000"
