"""The diagnosis rules: type-aware, cited, and never asking a consumption group to chat."""

from __future__ import annotations

from pathlib import Path

from shequn.analytics import diagnosis
from shequn.analytics.model import CommunityHealth, GroupHealth, Kpi
from shequn.playbook import load_playbook, verify_sources

SEEDS = Path(__file__).resolve().parents[3] / "shared" / "seeds"


def _community(ctype: str, kpis: list[Kpi]) -> CommunityHealth:
    ct = load_playbook().types[ctype]
    essentials = {"tags": True, "goal": True, "rules": True}
    return CommunityHealth(
        name="c", type=ctype, type_name=ct.name.zh, activity_judged=ct.activity_judged, groups=["x:1"], kpis=kpis,
        essentials=essentials,
    )  # fmt: skip


def test_growth_with_falling_renewals_and_no_guest_talk_gets_guest_talks() -> None:
    renewal = Kpi("renewal_rate", "续费率", 0.2, 0.5, "ratio", True, False)
    c = _community("growth", [renewal])
    g = GroupHealth(key="x:1", id=1, name="g", community="c", type="growth", role="main", members=120, messages=300,
                    speakers=40, key_discussants=6, guest_talks=0, stage="decline")  # fmt: skip
    g.kpis = [renewal]
    group = diagnosis.diagnose_group(g, c, "zh-CN")
    community = diagnosis.diagnose_community(c, [g], "zh-CN")
    guest = next(f for f in group if f.key == "growth_no_guests")
    assert "嘉宾的分享" in guest.prescription
    assert any(s["source"].startswith("000_429f995354a731ff.txt:54") for s in guest.sources)
    assert any(f.key == "growth_renewals_low" and "嘉宾" in f.prescription for f in community)
    en = diagnosis.diagnose_group(g, c, "en")
    assert any(f.key == "growth_no_guests" and "Guest talks" in f.prescription for f in en)


def test_a_consumption_group_is_judged_by_conversion_not_by_chat() -> None:
    conv = Kpi("coupon_to_purchase", "领券到消费转化率", 0.05, 0.2, "ratio", True, False)
    c = _community("consumption", [conv])
    g = GroupHealth(key="x:1", id=1, name="g", community="c", type="consumption", role="main", members=300,
                    messages=40, speakers=3, key_discussants=0, staff_share=0.9, activation_72h=0.0, joins=30,
                    stage="dormant")  # fmt: skip
    keys = {f.key for f in diagnosis.diagnose_group(g, c, "zh-CN")}
    judging = {r.key for r in load_playbook().diagnoses.rules if r.judges_activity}
    assert not keys & judging
    community = diagnosis.diagnose_community(c, [g], "zh-CN")
    assert [f.key for f in community] == ["consumption_conversion_low"]
    assert "不必做群活跃" in community[0].prescription


def test_no_finding_without_a_measured_signal() -> None:
    c = _community("interest", [])
    g = GroupHealth(key="x:1", id=1, name="g", community="c", type="interest", role="main")
    assert all(f.key != "unanswered_questions" for f in diagnosis.diagnose_group(g, c, "en"))


def test_every_rule_cites_seeds_that_say_it() -> None:
    pb = load_playbook()
    assert len(pb.diagnoses.rules) >= 15
    for r in pb.diagnoses.rules:
        assert r.prescription.quote and pb.diagnoses.cause(r.cause).quote
    if SEEDS.exists():
        assert verify_sources(SEEDS) == []


def test_each_lifecycle_prescription_carries_its_command_and_a_closed_group_gets_none() -> None:
    c = _community("growth", [])
    dead = GroupHealth(key="matrix:!old:hs", id=1, name="老群", community="读 书会", type="growth", role="main",
                       members=40, dead=True, stage="dead")  # fmt: skip
    alive = GroupHealth(key="matrix:!main:hs", id=2, name="主群", community="读 书会", type="growth", role="main",
                        members=180, messages=900, stage="mature")  # fmt: skip
    found = {f.key: f for f in diagnosis.diagnose_group(dead, c, "zh-CN", peers=[dead, alive])}
    assert found["dead_group"].commands == [
        "shequn group merge '读 书会' 'matrix:!old:hs' --into 'matrix:!main:hs'",
        "shequn group archive '读 书会' 'matrix:!old:hs'",
        "shequn group dissolve '读 书会' 'matrix:!old:hs'",
    ]
    crowded = {f.key: f for f in diagnosis.diagnose_group(alive, c, "zh-CN", peers=[dead, alive])}
    assert crowded["oversize"].commands == ["shequn group split '读 书会' 'matrix:!main:hs'"]
    dead.state = "archived"
    assert diagnosis.diagnose_group(dead, c, "zh-CN", peers=[dead, alive]) == []
