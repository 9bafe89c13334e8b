"""Moderation: detection, the ladder, no exemptions but the operators, paid ads, flooding, forbidden topics, labels."""

from __future__ import annotations

from datetime import timedelta
from zoneinfo import ZoneInfo

import pytest

from shequn.domain import ContentKind, UserError
from shequn.engine import build_community_config
from shequn.playbook import load_lexicon
from shequn.policies.moderation import Detector, Verdict
from shequn.policies.moderation import classifier as clf
from shequn.policies.moderation.detect import COMMON_WORDS
from shequn.policies.moderation.evidence import mask_contacts
from shequn.policies.moderation.policy import ModerationSettings, ad_rule
from tests.policies.harness import World, kinds, make_spec, of, texts

AD = "➕V：money20459，招代理，一件代发，日赚500"


def regular(w: World, who: str, n: int = 25, *, days: int = 20) -> None:
    """A member with history: joined ``days`` ago and has spoken ``n`` times."""
    w.join(who)
    w.wait(timedelta(days=days))
    for i in range(n):
        w.say(who, f"第{i}条正常发言，聊聊今天读的书")
        w.wait(timedelta(minutes=3))


def test_the_detector_reads_contact_details_in_their_evasive_forms() -> None:
    d = Detector(load_lexicon("cn_advertisement.bin"), common=COMMON_WORDS)

    def score(text: str, content: ContentKind = ContentKind.TEXT) -> Verdict:
        return Verdict(tuple(d.inspect(text, content)))

    for text in (
        "加我vx：abc_77215 免费领取面膜，仅限前50名",
        "薇信hao_18794，低价代购，全网最低",
        "点赞关注就能赚钱，电话 1 5 8 8 9 9 2 9 9 1 9",
        "免费领红包，先到先得 联系：１３９８７６２６４３３",
        "足不出户月入过万，+q 139-6405-0085",
        "兼职日赚300+，威❤：abc_77215",
    ):
        v = score(text)
        assert v.score >= 3.0, (text, v.describe())
        assert {"contact", "phone"} & set(v.kinds()) and "evasion" in v.kinds(), text
    assert "evasion" in score("我的微信是一三八一二三四五六七八").kinds()  # Chinese digits
    assert score("[二维码] 扫码领红包", ContentKind.IMAGE).kinds()[0] == "qr"
    assert score("", ContentKind.MINI_PROGRAM).kinds() == ["mini_program"]
    assert "homoglyph" in score("Пpeдлaгaeм coтpyдничecтвo").kinds()
    assert "shortener" in score("详情点 http://t.cn/DWeHAP").kinds()
    # Ordinary chat stays below the threshold: a link to share, a phone number to sign up, a date, 微信 mentioned.
    for text in (
        "一篇讲复盘的文章，推荐大家看看 https://www.zhihu.com/p/Q26pQqZuBE",
        "@群主 我报名，电话 18616982677，到时候联系",
        "会议时间 2024-11-23 20:30，地点另行通知",
        "这个功能微信里也有，我们公司网络支付也在用",
        "check the vision statement at example.com",
    ):
        assert score(text).score < 3.0, (text, score(text).describe())


def test_a_blatant_ad_from_a_newcomer_is_cleared_at_once() -> None:
    w = World(make_spec())
    w.join("spammer")
    out = w.say("spammer", AD)
    assert kinds(out)[:1] == ["delete_message"] and of(out, "ban") and of(out, "post", "moderation")
    assert "移出" in of(out, "post", "moderation")[0].text_or_empty
    assert not of(out, "post", "leaderboard")  # the event stopped: nothing after moderation ran
    assert w.member("spammer").points == 0 and w.member("spammer").status.value == "banned"
    entry = w.engine.state.workspace["blacklist"]["sandbox:spammer"]
    assert entry["community"] == "读书会" and entry["violation"] == "ad" and "m****" in entry["evidence"]
    assert "money20459" not in entry["evidence"]  # the blacklist keeps what was found, masked
    w.assert_replays()


def test_the_ladder_reminds_warns_publishes_and_removes() -> None:
    w = World(make_spec())
    regular(w, "u1")
    steps = []
    for _ in range(4):
        out = w.say("u1", "加我vx：abc_77215，低价代购，日赚500")
        steps.append([k for k in kinds(out) if k != "delete_message"])
        assert of(out, "delete_message")
        w.wait(timedelta(hours=1))
    assert steps[0] == ["post"] and "首次违规只提醒" in texts(of(w.sent, "post", "moderation"))[0]
    assert "先发¥100红包" in texts(of(w.sent, "post", "moderation"))[0]  # the rule for paid ads is quoted
    assert steps[1] == ["warn"] and not of(w.sent, "warn")[0].public  # type: ignore[attr-defined]
    public = of(w.sent, "warn")[1]
    assert steps[2] == ["warn"] and public.public and "a****" in public.evidence  # type: ignore[attr-defined]
    assert "ban" in steps[3] and w.member("u1").status.value == "banned"
    record = w.scope("moderation")["o:sandbox:u1"]
    assert record["n"] == 4 and [x[3] for x in record["log"]] == ["remind", "warn", "public", "remove"]
    w.assert_replays()


def test_no_exemption_for_key_members_only_for_those_who_run_the_group() -> None:
    w = World(make_spec(roles={"architect": ["owner"], "storyteller": ["kol"]}))
    regular(w, "owner", 5)
    w.join("kol")
    assert not of(w.say("owner", "扫码加我vx：abc_77215 团购价日结"), "delete_message")
    assert of(w.say("kol", "扫码加我vx：abc_77215 团购价日结"), "delete_message")


def test_a_paid_ad_passes_with_a_red_packet_or_the_per_character_fee() -> None:
    w = World(make_spec())
    regular(w, "seller")
    w.say("seller", "", content=ContentKind.RED_PACKET, extra={"amount": 10000})
    out = w.say("seller", "加我vx：abc_77215，低价代购")
    assert not of(out, "delete_message") and "放行" in texts(out)[0]
    assert of(w.say("seller", "加我vx：abc_77215，低价代购还有"), "delete_message")  # the red packet was used
    text = "加我vx：abc_77215 代购"
    w.pay("seller", 100 * len(text), "ad_fee")
    assert not of(w.say("seller", text), "delete_message")
    w.say("seller", "", content=ContentKind.RED_PACKET, extra={"amount": 500})  # too little for the ad below
    assert of(w.say("seller", "加我vx：abc_77215，低价代购，欢迎咨询下单优惠多多"), "delete_message")
    w.assert_replays()


def test_the_weekly_ad_window_allows_ads_with_a_red_packet_per_member() -> None:
    # T0 is Monday 2026-11-02 16:00 in Shanghai; the window is Monday 14:00-18:00 (the rhythm's ad_window job, the
    # one the scheduler announces), 10 fen per member.
    spec = make_spec(
        rhythm={"jobs": {"ad_window": {"days": "monday", "at": "14:00", "until": "18:00"}}},
        policies={"moderation": {"ads": "window", "ad_fee_per_member_fen": 10}},
    )
    assert spec.rhythm.jobs["ad_window"].enabled  # ads: window turns the announcement on
    w = World(spec)
    regular(w, "seller", 3, days=0)
    w.wait(timedelta(days=7) - timedelta(minutes=9))
    first = w.say("seller", "加我vx：abc_77215 低价代购")  # no red packet yet
    assert of(first, "delete_message") and "广告时间（周一 14:00-18:00）" in texts(of(first, "post", "moderation"))[0]
    w.say("seller", "", content=ContentKind.RED_PACKET, extra={"amount": 10})
    assert not of(w.say("seller", "加我vx：abc_77215 低价代购"), "delete_message")
    w.wait(timedelta(hours=3))  # 19:00: the window is closed, and no red packet buys an ad outside it
    w.say("seller", "", content=ContentKind.RED_PACKET, extra={"amount": 10000})
    assert of(w.say("seller", "加我vx：abc_77215 低价代购"), "delete_message")
    w.assert_replays()


def test_the_ad_window_announced_for_a_money_group_is_the_one_enforced() -> None:
    # A 赚钱型 community's rhythm announces the Saturday 14:00-18:00 window by default (book 1858): moderation
    # enforces that same window, and the default rules say so.
    spec = make_spec(name="渠道群", type="money")
    assert ad_rule(ModerationSettings(), spec) == "window"
    assert (
        "广告时间以外发广告" in spec.rules.sections["prohibitions"]
        and "周六 14:00-18:00" in spec.rules.sections["prohibitions"]
    )
    w = World(spec)  # T0: Monday 16:00
    regular(w, "seller", 3, days=0)
    w.say("seller", "", content=ContentKind.RED_PACKET, extra={"amount": 10000})
    assert of(w.say("seller", "加我vx：abc_77215 低价代购"), "delete_message")  # ¥100 outside the window: removed
    w.wait(timedelta(days=5, hours=-1))  # Saturday 15:00
    w.say("seller", "", content=ContentKind.RED_PACKET, extra={"amount": 100})
    assert not of(w.say("seller", "加我vx：abc_77215 低价代购"), "delete_message")  # inside it: let through
    w.assert_replays()


def test_ads_forbidden_means_no_red_packet_buys_one() -> None:
    # 792 禁止一切广告 is the alternative to 790's paid ads, not an addition.
    spec = make_spec(policies={"moderation": {"ads": "forbid"}})
    assert (
        "不管什么广告都禁止" in spec.rules.sections["prohibitions"]
        and "红包" not in spec.rules.sections["prohibitions"]
    )
    w = World(spec)
    regular(w, "seller")
    w.say("seller", "", content=ContentKind.RED_PACKET, extra={"amount": 10000})
    w.pay("seller", 10000, "ad_fee")
    out = w.say("seller", "加我vx：abc_77215，低价代购")
    assert of(out, "delete_message") and "红包" not in texts(of(out, "post", "moderation"))[0]
    assert "c:sandbox:seller" not in w.scope("moderation")
    w.assert_replays()


def test_the_ad_rule_and_the_ad_window_cannot_disagree() -> None:
    spec = make_spec(policies={"moderation": {"ads": "forbid"}}, rhythm={"jobs": {"ad_window": {"enabled": True}}})
    with pytest.raises(UserError, match=r"policies.moderation.ads: forbid, but rhythm.jobs.ad_window is on"):
        build_community_config(spec)
    spec = make_spec(policies={"moderation": {"ads": "window"}}, rhythm={"jobs": {"ad_window": {"enabled": False}}})
    with pytest.raises(UserError, match=r"policies.moderation.ads: window needs the ad window"):
        build_community_config(spec)


def test_flooding_and_repeating_are_offences() -> None:
    w = World(make_spec())
    regular(w, "u1", 3)
    outs = []
    for i in range(9):
        outs.append(w.say("u1", f"刷屏第{i}条"))
        w.wait(timedelta(seconds=3))
    assert [bool(of(o, "post", "moderation")) for o in outs] == [False] * 8 + [True]
    assert "刷屏" in texts(of(outs[-1], "post", "moderation"))[0]
    w.wait(timedelta(minutes=5))
    # The same text, again and again: the first message of a burst starts the count (nothing is kept for messages
    # with nothing before them), so the third repeat after it is flooding.
    again = [w.say("u1", "一模一样的话") for _ in range(4)]
    assert [bool(of(o, "warn")) for o in again] == [False, False, False, True]  # the second offence: a warning
    w.assert_replays()


def test_forbidden_topics_are_removed() -> None:
    w = World(make_spec(policies={"moderation": {"forbidden": ["某某事件", "政[治治]"]}}))
    regular(w, "u1", 3)
    out = w.say("u1", "大家怎么看某某事件？")
    assert of(out, "delete_message") and "讨论本群禁止的话题" in texts(out)[0]
    assert not of(w.say("u1", "大家怎么看今天的讲座？"), "delete_message")


def test_an_edit_that_turns_into_an_ad_is_caught() -> None:
    from shequn.domain import Edit, stable_id

    w = World(make_spec())
    w.join("u1")
    w.say("u1", "大家好")
    mid = w.last_message().message_id
    out = w.handle(
        Edit(id=stable_id("edit", mid), at=w.now, platform="sandbox", group="g1", actor="u1", message_id=mid, text=AD)
    )
    assert of(out, "delete_message") and of(out, "delete_message")[0].message_id == mid  # type: ignore[attr-defined]


def test_an_operator_label_withdraws_a_false_alarm_and_unlists() -> None:
    w = World(make_spec())
    w.join("u1")
    out = w.say("u1", "扫码加我vx：abc_77215，团购价日结，先到先得")
    wrong = w.last_message()
    assert of(out, "ban") and "sandbox:u1" in w.engine.state.workspace["blacklist"]
    out = w.label(wrong, "not_ad")
    assert of(out, "direct_message") and "撤销" in texts(out)[0]
    assert "sandbox:u1" not in w.engine.state.workspace.get("blacklist", {})
    assert "o:sandbox:u1" not in w.scope("moderation")
    assert w.label(wrong, "not_ad") == []  # labelled so already: nothing to learn
    w.assert_replays()


def test_a_missed_ad_labelled_by_the_operator_takes_the_ladder_step() -> None:
    w = World(make_spec())
    regular(w, "u1", 3)
    w.say("u1", "我这边有个副业项目，感兴趣的私聊")
    missed = w.last_message()
    assert w.scope("moderation").get("o:sandbox:u1") is None
    out = w.label(missed, "ad")
    assert of(out, "delete_message") and of(out, "post", "moderation")
    assert w.scope("moderation")["o:sandbox:u1"]["n"] == 1


def test_the_classifier_learns_from_labels_and_is_replayed() -> None:
    w = World(make_spec())
    regular(w, "host", 3)
    regular(w, "u1", 25, days=0)
    ads = ["兄弟们来玩新出的传奇私服，充值返利", "传奇私服开新区，首充返利翻倍", "新开传奇私服，上线送装备返利"]
    hams = ["今天的共读章节写得真好", "周末的读书会大家记得来", "这本书的第三章很有启发"]
    for text in ads + hams:
        w.say("host", text)
        w.label(w.last_message(), "ad" if text in ads else "not_ad")
        w.wait(timedelta(minutes=1))
    learned = w.engine.state.workspace[clf.SCOPE]
    assert clf.counts(learned)[:2] == (3, 3)
    out = w.say("u1", "传奇私服今晚开新区，返利活动")
    assert of(out, "delete_message"), "a message like the labelled ads is now caught"
    reason = w.scope("moderation")["o:sandbox:u1"]["log"][-1][4]
    assert "learned" in reason
    assert not of(w.say("u1", "这本书的第四章也很有启发"), "delete_message")
    # Relabelling flips the counts instead of adding to them.
    first = next(e for e in w.log if getattr(e, "text", "") == ads[0])
    w.label(first, "not_ad")  # type: ignore[arg-type]
    assert clf.counts(w.engine.state.workspace[clf.SCOPE])[:2] == (2, 4)
    w.assert_replays()


def test_bad_moderation_settings_name_the_field() -> None:
    bad = {"weights": {"telepathy": 2}, "forbidden": ["(["], "exempt_roles": ["king"], "ladder": ["remind", "jail"]}
    with pytest.raises(UserError) as info:
        build_community_config(make_spec(policies={"moderation": bad}), source="s.yaml")
    text = str(info.value)
    assert "s.yaml: policies.moderation.weights: unknown evidence ['telepathy']" in text
    assert "policies.moderation.forbidden: '([' is not a valid pattern" in text
    assert "policies.moderation.ladder.1: Input should be" in text
    with pytest.raises(UserError, match=r"policies.moderation.exempt_roles.0: unknown role 'king'"):
        build_community_config(make_spec(policies={"moderation": {"exempt_roles": ["king"]}}))
    with pytest.raises(UserError, match=r"policies.moderation.ad_window: the weekly ad window is one setting"):
        build_community_config(
            make_spec(policies={"moderation": {"ad_window": {"weekday": 5, "start": "14:00", "end": "18:00"}}})
        )


@pytest.mark.parametrize(
    "first",
    ["薇 lily2023", "1 3 8 0 0 1 3 8 0 0 0", "加扣扣 ①②③④⑤⑥⑦⑧⑨"],
    ids=["bare-wei-handle", "digits-set-apart", "circled-qq"],
)
def test_an_ad_accounts_evasive_first_message_is_removed_not_reminded(first: str) -> None:
    # Book 1735 (破窗): a newcomer whose first word is an ad is the ad account; it is cleared at once.
    w = World(make_spec())
    w.join("acct")
    out = w.say("acct", first)
    assert of(out, "delete_message") and of(out, "ban"), (first, kinds(out))
    assert not [a for a in of(out, "post", "moderation") if "提醒" in a.text_or_empty]
    assert w.member("acct").status.value == "banned"
    w.assert_replays()


def test_an_established_members_plain_mention_of_a_name_is_not_evasion() -> None:
    d = Detector(load_lexicon("cn_advertisement.bin"), common=COMMON_WORDS)
    assert "evasion" not in Verdict(tuple(d.inspect("张薇abc组的报告写得好"))).kinds()


def test_the_public_notice_names_the_offence_and_its_time_never_the_ads_text() -> None:
    w = World(make_spec())
    regular(w, "u1")
    for _ in range(3):
        w.say("u1", "加我vx：abc_77215，低价代购，日赚500 电话 13800138000")
        w.wait(timedelta(hours=1))
    public = of(w.sent, "warn")[1]
    text = public.text_or_empty
    assert "【违规公示】" in text and "abc_77215" not in text and "13800138000" not in text
    assert "低价代购" not in text and "日赚500" not in text  # the ad is not reposted
    assert "联系方式" in text and "a****" in text  # the kind of evidence, the contact masked
    sent_at = w.now - timedelta(hours=1)
    assert sent_at.astimezone(ZoneInfo("Asia/Shanghai")).strftime("%m-%d %H:%M") in text


def test_mask_contacts_masks_every_form_of_contact_but_keeps_dates() -> None:
    assert mask_contacts("电话 1 3 8 0 0 1 3 8 0 0 0") == "电话 138****8000"
    assert mask_contacts("加扣扣 ①②③④⑤⑥⑦⑧⑨") == "加扣扣 123****6789"
    assert mask_contacts("薇 Lily2023") == "薇 L****"
    assert mask_contacts("邮箱 zhang.san@163.com 进群 https://t.me/+abcdef") == "邮箱 z***@163.com 进群 t.me/…"
    assert mask_contacts("会议 2024-11-23 20:30，11-02 16:01 见，群里 200 人") == (
        "会议 2024-11-23 20:30，11-02 16:01 见，群里 200 人"
    )


def test_mask_contacts_leaves_ordinary_words_alone() -> None:
    assert mask_contacts("the involvement of everyone, 张薇的报告") == "the involvement of everyone, 张薇的报告"
