"""The plan: a spec that validates and applies for every type, the seven rule sections tailored to the answers, the
texts to post, threshold and size, the rhythm calendar, roles, KPIs, the first 90 days and monetization, every
item citing the playbook."""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime, timedelta

import pytest
import yaml

from shequn.app import App
from shequn.domain import Payment, VirtualClock
from shequn.engine import build_community_config
from shequn.planner import Plan, build_plan
from shequn.planner.plan import Item, Ref
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec, parse_spec
from shequn.policies.moderation.policy import ModerationSettings, ad_rule
from shequn.store import ActionStatus
from tests.conftest import T0
from tests.planner.support import EXAMPLES, TODAY, answers, from_file
from tests.support.builders import join

SEVEN = ["hard_requirements", "prohibitions", "removal", "tasks", "red_packets", "welfare", "activities"]


def plan_of(type_key: str, locale: str = "zh-CN", **changes: object) -> Plan:
    a = answers(type_key, **changes) if changes else from_file(type_key)
    return build_plan(a, locale=locale, today=TODAY)


def playbook_citations() -> set[tuple[str, str | None]]:
    return {(item.source, item.quote) for _, item in load_playbook().citations()}


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_each_types_plan_is_a_spec_that_validates_and_applies(type_key: str, db_url: str) -> None:
    plan = plan_of(type_key)
    text = plan.spec.to_yaml()
    again = parse_spec(text, source=f"{type_key}/spec.yaml")  # what `shequn community apply` reads
    assert again == plan.spec and again.type == type_key
    app = App(db_url, clock=VirtualClock(T0))
    try:
        assert app.apply_spec(again, source="plan") == "created"
        assert app.apply_spec(again, source="plan") == "unchanged"
        record = app.community(again.name)
        assert record.type == type_key and record.spec.policies["welcome"] == again.policies["welcome"]
    finally:
        app.close()


def test_the_planned_welcome_is_what_a_newcomer_sees(sqlite_url: str) -> None:
    plan = plan_of("growth")
    data = yaml.safe_load(plan.spec.to_yaml())
    data["groups"] = [{"platform": "sandbox", "id": "g1", "name": "读书会一群"}]
    app = App(sqlite_url, clock=VirtualClock(T0))
    spec = CommunitySpec.model_validate(data)
    app.apply_spec(spec)
    # A paid community (the threshold the plan chose): newcomers pay the fee, then join and are welcomed.
    fee = int(spec.threshold.params["fee"])
    paid = [
        Payment(
            id=f"pay-{who}",
            at=T0 - timedelta(hours=1),
            platform="sandbox",
            group="g1",
            actor=who,
            payment_id=f"pay-{who}",
            amount=fee,
            purpose="entry_fee",
        )
        for who in ("u1", "u2", "u3")
    ]
    joins = [join("u1", T0, name="小王"), join("u2", T0 + timedelta(minutes=1), inviter="u1", name="小李")]
    app.ingest([*paid, *joins, join("u3", T0 + timedelta(minutes=2), name="小张")])
    with app.store.transaction() as conn:
        items = app.store.actions.items(conn, app.ws.id, status=ActionStatus.PENDING)
        posts = [i.action.text_or_empty for i in items if i.action.policy == "welcome"]
        guides = [
            i.action.text_or_empty for i in items if i.action.policy == "onboarding" and i.action.key.endswith("guide")
        ]
    app.close()
    expected = "热烈欢迎小王加入读书会一群！你是职场成长读书会的第1位书友。"
    assert posts[0] == expected + "请先把群昵称改为「昵称-城市-职业」，再跟大家做个自我介绍。大家一起欢迎新朋友！"
    assert "感谢小王的邀请" in posts[1] and "第2位书友" in posts[1]
    assert guides == [plan.newcomer_guide.text]  # the plan's 新人必知必读, once the third newcomer is in (book 1661)


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_the_rules_have_the_seven_sections_of_the_book_in_order(type_key: str) -> None:
    plan = plan_of(type_key)
    assert [r.key for r in plan.rules] == SEVEN
    assert list(plan.spec.rules.sections) == SEVEN
    defaults = {s.key: s.default.zh for s in load_playbook().rules.sections}
    for r in plan.rules:
        assert r.text.startswith("【") and r.text == plan.spec.rules.sections[r.key]
        assert r.refs and r.refs[0].source.startswith(
            ("002_f229b143e7e75e03.txt:7", "002_f229b143e7e75e03.txt:8", "000_")
        )
    tailored = [r.key for r in plan.rules if r.text != defaults[r.key]]
    assert {"hard_requirements", "prohibitions", "welfare", "activities"} <= set(tailored)
    assert plan.spec.nickname_format in plan.rules[0].text


def test_the_rules_follow_the_answers() -> None:
    money, industry, growth = plan_of("money"), plan_of("industry"), plan_of("growth")
    consumption, interest = plan_of("consumption"), plan_of("interest")
    section = {p.type: {r.key: r.text for r in p.rules} for p in (money, industry, growth, consumption, interest)}
    assert "先发¥100红包" in section["money"]["prohibitions"]  # ads: red_packet (book 790)
    assert "周六 14:00-18:00" in section["industry"]["prohibitions"]  # ads: window (book 1858), rhythm.yaml's day
    assert "不管什么广告都禁止" in section["growth"]["prohibitions"]  # ads: forbid (book 792)
    assert "本群是小群" in section["interest"]["red_packets"]  # 40 per group: 小群大红包 (book 796)
    assert "本群不发日常红包" in section["growth"]["red_packets"]  # 150 per group: 中群不发红包
    assert "本群人多" in section["consumption"]["red_packets"]  # 500 per group: 大群小红包
    assert "不需要做自我介绍" in section["consumption"]["hard_requirements"]  # 000:28
    assert "每周交一篇学习笔记" in section["growth"]["tasks"] and "三周没完成" in section["growth"]["tasks"]
    assert "没有必做的作业" in section["interest"]["tasks"]
    assert "日常闲聊也欢迎" in section["interest"]["prohibitions"]  # 000:112
    assert "渠道、人脉和资源对接" in section["money"]["welfare"]
    assert "每周日 20:30 嘉宾分享" in section["growth"]["activities"]


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_the_rules_are_rendered_from_the_settings_the_policies_read(type_key: str) -> None:
    """One source: the ad rule, the weekly task and the clean-up the rules announce are the ones switched on."""
    plan = plan_of(type_key)
    spec = plan.spec
    config = build_community_config(spec)
    section = {r.key: r.text for r in plan.rules}
    moderation = config.settings["moderation"]
    assert isinstance(moderation, ModerationSettings)
    rule = ad_rule(moderation, spec)
    assert rule == plan.answers.ads
    assert ("红包" in section["prohibitions"]) is (rule != "forbid")  # 792 forbids: no paid-ad pass announced
    assert ("广告时间" in section["prohibitions"]) is (rule == "window") is spec.rhythm.jobs["ad_window"].enabled
    homework = "每周的任务是" in section["tasks"]
    assert homework is config.settings["tasks"].enabled
    if homework:
        assert "#作业" in section["tasks"]
    cleanup = config.settings["cleanup"]
    assert ("定期清理" in section["removal"]) is cleanup.enabled
    if cleanup.enabled:
        assert f"{cleanup.silent_days}天" in section["removal"] and "每季度" in section["removal"]  # type: ignore[attr-defined]
    assert ("要进一个，就得出一个" in section["removal"]) is (spec.size.policy == "one_in_one_out")


def test_the_announcement_has_three_points_and_the_nickname_format() -> None:
    plan = plan_of("industry")
    lines = plan.announcement.text.splitlines()
    assert lines[0] == "【群公告】" and [line[:2] for line in lines[1:]] == ["1.", "2.", "3."]
    assert "定期的培训和干货分享" in lines[1] and "渠道、人脉和资源对接" in lines[1]
    assert "广告只在每周的广告时间发" in lines[2]
    assert "「公司-行业-姓名」" in lines[3]
    assert plan.announcement.refs[0] == Ref("002_f229b143e7e75e03.txt:1645", "来群里能获得什么；要遵守哪些基本规则")


def test_the_newcomer_guide_is_ready_to_post() -> None:
    guide = plan_of("growth").newcomer_guide.text
    assert guide.startswith("【职场成长读书会新人必知必读】")
    assert "{" not in guide  # nothing left for a policy to fill
    assert "一个每周共读一本职场和商业好书的读书会" in guide and "1. 【硬性指标】" in guide and "每周日 20:30" in guide


def test_threshold_and_size_follow_the_type_and_the_answers() -> None:
    growth, interest, money = plan_of("growth"), plan_of("interest"), plan_of("money")
    assert growth.spec.threshold.kind == "paid" and growth.spec.threshold.params["fee"] == 19900
    assert growth.spec.threshold.params["period"] == "year"
    assert interest.spec.threshold.kind == "task" and interest.spec.size.policy == "small"
    assert money.spec.threshold.kind == "paid" and money.spec.threshold.params["fee"] == 99900
    industry = plan_of("industry", charging={"model": "free"})
    assert industry.spec.threshold.kind == "tag_screening"
    asks = industry.spec.threshold.params["required_answers"]
    assert any("上海、江苏、浙江" in a for a in asks) and any("美容院老板和店长" in a for a in asks)
    free_growth = plan_of("growth", charging={"model": "free"})
    assert free_growth.spec.threshold.kind == "task"  # 000:60 要有门槛: a task when it does not charge
    assert "growth_free" in {w.key for w in free_growth.warnings}
    consumption = plan_of("consumption")
    assert consumption.spec.threshold.kind == "none" and consumption.spec.size.policy == "hard_cap_500"
    big = plan_of("industry", expected_size=900)
    assert "需要6个群" in big.size.text  # 900 at 150 a group


def test_the_calendar_has_daily_and_weekly_items_with_recurrence_rules() -> None:
    growth = {c.key: c for c in plan_of("growth").calendar}
    assert growth["check_in"].time == "07:30" and growth["check_in"].rrule == "FREQ=DAILY;BYHOUR=7;BYMINUTE=30"
    assert growth["guest_talk"].rrule == "FREQ=WEEKLY;BYDAY=SU;BYHOUR=20;BYMINUTE=30"
    assert growth["guest_talk"].duration_minutes == 90 and growth["guest_talk"].when == "每周日 20:30"
    assert growth["offline_meetup"].rrule == "FREQ=MONTHLY;BYDAY=1SA;BYHOUR=14;BYMINUTE=0"
    assert growth["cleanup"].rrule == "FREQ=MONTHLY;INTERVAL=3;BYMONTHDAY=1;BYHOUR=20;BYMINUTE=0"
    interest = {c.key: c for c in plan_of("interest").calendar}
    assert interest["games"].rrule == "FREQ=WEEKLY;BYDAY=MO,TU,WE,TH,FR;BYHOUR=14;BYMINUTE=0"  # book 1688
    consumption = {c.key for c in plan_of("consumption").calendar}
    assert consumption == {"daily_deals", "weekly_sale"}  # no check-in or digests: 没有必要浪费时间去做群活跃 (000:30)
    assert "ad_window" in {c.key for c in plan_of("industry").calendar}
    no_offline = {c.key for c in plan_of("growth", offline=False).calendar}
    assert "offline_meetup" not in no_offline


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_no_day_has_more_than_three_daily_posts(type_key: str) -> None:
    """Book 2210: 一天最多发文2~3则."""
    uncapped = {j.key for j in load_playbook().rhythm.jobs if not j.counts_toward_cap}  # check-in, bulletins
    daily = [c for c in plan_of(type_key).calendar if c.cadence == "daily" and c.job not in uncapped]
    for day in range(1, 8):
        assert sum(1 for c in daily if not c.weekdays or day in c.weekdays) <= 3


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_the_scheduler_runs_what_the_calendar_shows(type_key: str) -> None:
    """The spec the plan writes turns on exactly the rhythm jobs of its calendar, at the calendar's times, and the
    ad window the rules announce is the one moderation lets ads through in."""
    plan = plan_of(type_key)
    jobs = plan.spec.rhythm.jobs
    planned = {c.job: c for c in plan.calendar if c.job is not None}
    assert {k for k, j in jobs.items() if j.enabled} == set(planned)
    for key, entry in planned.items():
        assert jobs[key].at == entry.time
    window = planned.get("ad_window")
    saturday_3pm, friday_3pm = datetime(2026, 11, 28, 15, 0), datetime(2026, 11, 27, 15, 0)
    assert plan.spec.rhythm.ad_window_open(saturday_3pm) is (window is not None)
    assert not plan.spec.rhythm.ad_window_open(friday_3pm)
    if "guest_talk" in {c.key for c in plan.calendar}:
        assert (plan.spec.rhythm.guest_talk.weekday, plan.spec.rhythm.guest_talk.start) == ("sunday", "20:30")


def test_roles_are_filled_from_the_team() -> None:
    plan = plan_of("growth")
    who = {r.role: r.who for r in plan.roles}
    assert who["architect"] == ("林老师",) and who["decision_maker"] == ("林老师",)
    assert who["storyteller"] == ("小周",) and who["greeter"] == ("小吴",)
    assert who["scout"] == () and who["ambassador"] == ()  # to be found among the seed users
    assert plan.spec.roles["accountant"] == ["shequn", "小吴"]
    solo = plan_of("interest")
    assert {r.role: r.who for r in solo.roles}["greeter"] == ("大刘",)  # one person plays several roles (book 806)
    unnamed = plan_of("ip")
    assert {r.role: r.who for r in unnamed.roles}["storyteller"] == ("团队成员2",)
    architect = next(r for r in plan.roles if r.role == "architect")
    assert Ref("000_429f995354a731ff.txt:40", "也可以是一个有经验/权威的个人大咖组建") in architect.refs


def test_kpis_are_the_types_with_starting_targets() -> None:
    for type_key in EXAMPLES:
        plan = plan_of(type_key)
        keys = [k.key for k in load_playbook().types[type_key].kpis]
        assert [k.key for k in plan.kpis] == keys == list(plan.spec.kpis)
    interest = {k.key: k for k in plan_of("interest").kpis}
    assert interest["group_size"].target == 40 and not interest["group_size"].higher_is_better
    assert {k.key: k.shown for k in plan_of("growth").kpis}["renewal_rate"] == "50%"


def test_the_first_90_days_start_before_launch_and_cite_book_838() -> None:
    for type_key in EXAMPLES:
        plan = plan_of(type_key)
        phases = [phase for phase, _ in plan.first_90_days]
        assert phases[0] == "开群之前" and phases[-1] == "第三个月（第90天）"
        refs = {r.source for _, items in plan.first_90_days for i in items for r in i.refs}
        assert "002_f229b143e7e75e03.txt:838" in refs
    keys = {i.key for _, items in plan_of("consumption").first_90_days for i in items}
    assert "perks_check" in keys and "first_offline" not in keys


def test_monetization_fits_the_type_and_puts_the_planned_one_first() -> None:
    assert [i.key for i in plan_of("growth").monetization] == ["membership", "product"]
    assert [i.key for i in plan_of("consumption").monetization] == ["ecommerce", "product"]
    assert plan_of("money").monetization[0].key == "membership"
    interest = plan_of("interest", charging={"model": "courses", "amount": 49})
    assert interest.monetization[0].key == "product"


@pytest.mark.parametrize("type_key", sorted(EXAMPLES))
def test_every_choice_cites_the_playbook(type_key: str) -> None:
    plan = plan_of(type_key)
    known = playbook_citations()
    items: list[Item] = [
        plan.core_view,
        *plan.reasons,
        *plan.positioning,
        *plan.rules,
        plan.announcement,
        plan.welcome,
        plan.welcome_invited,
        plan.newcomer_guide,
        plan.nickname,
        plan.threshold,
        plan.size,
        *plan.monetization,
        plan.monetization_timing,
        *(i for _, group in plan.first_90_days for i in group),
    ]
    refs = [r for i in items for r in i.refs]
    refs += [r for c in plan.calendar for r in c.refs] + [r for ra in plan.roles for r in ra.refs]
    refs += [r for k in plan.kpis for r in k.refs]
    assert all(i.refs for i in items)
    unknown = {(r.source, r.quote) for r in refs} - known
    assert not unknown, unknown
    assert {(r.source, r.quote) for r in plan.sources()} <= known


def test_an_english_plan_posts_english_rules() -> None:
    plan = plan_of("interest", locale="en")
    assert plan.spec.locale == "en" and plan.rules[0].text.startswith("[Must-dos]")
    assert plan.spec.nickname_format == "nickname-city-hobby"
    assert plan.type_name == "Interest" and plan.welcome.text.startswith("A warm welcome to {name}")
    zh_doc = build_plan(answers("interest", locale="en"), locale="zh-CN", today=TODAY)
    assert zh_doc.type_name == "兴趣型" and zh_doc.rules[0].text.startswith("[Must-dos]")  # posted texts: community's


def test_a_plan_without_shared_attributes_or_goal_is_a_maintenance_group() -> None:
    plan = plan_of("consumption", persona="none", tags=[], goal="none")
    assert plan.is_maintenance_group
    assert [e.key for e in plan.maintenance] == ["shared_attributes", "shared_goal"]
    assert plan.maintenance_note is not None and "用户维护群" in plan.maintenance_note.text
    assert plan.maintenance_note.refs[0].source == "002_f229b143e7e75e03.txt:648-652"
    no_rules = plan_of("growth", accept_rules=False)
    assert [e.key for e in no_rules.maintenance] == ["own_rules"]
    assert not plan_of("growth").is_maintenance_group


def test_a_chosen_type_is_followed_and_the_difference_noted() -> None:
    plan = plan_of("growth", type="IP型")
    assert plan.type == "ip" and plan.spec.type == "ip" and plan.chosen_by_operator
    assert plan.recommendation.type == "growth"
    differs = next(w for w in plan.warnings if w.key == "type_differs")
    assert "成长型" in differs.text("zh-CN") and "IP型" in differs.text("zh-CN")
    assert [k.key for k in plan.kpis] == ["content_cadence", "offline_events", "member_content_share"]


def test_the_plan_is_the_same_for_the_same_answers() -> None:
    a, b = plan_of("ip"), plan_of("ip")
    assert a.spec == b.spec and a.rules == b.rules and a.calendar == b.calendar
    assert replace(a.rules[0], text="x") != b.rules[0]


def test_every_message_the_plan_composes_exists_in_both_languages() -> None:
    """Keys built at run time (units, cadences, weekdays, phases, labels) are all in the catalogue."""
    from shequn.i18n import catalogue
    from shequn.planner.render import LABELS, RAW_LABELS

    keys = catalogue()
    units = {k.unit for t in load_playbook().taxonomies.types for k in t.kpis} - {"ratio", "boolean"}
    cadences = {c.cadence for c in load_playbook().planner.calendar}
    needed = {f"planner.unit.{u}" for u in units} | {f"planner.cal.{c}" for c in cadences - {"daily"}}
    needed |= {f"planner.weekday.{d}" for d in range(1, 8)} | {f"planner.doc.{k}" for k in (*LABELS, *RAW_LABELS)}
    needed |= {f"planner.phase.{p}" for p in ("before_launch", "week_1", "weeks_2_4", "month_2", "month_3")}
    needed |= {f"planner.group.{g}" for g in ("persona", "goal", "team", "charging")}
    needed |= {f"planner.cli.status.{s}" for s in ("ok", "missing", "warning")}
    assert needed <= set(keys), sorted(needed - set(keys))
