"""The community spec: type-dependent defaults, complete export, and errors naming file, line and field."""

from __future__ import annotations

import pytest

from shequn.domain import UserError
from shequn.playbook import load_playbook
from shequn.playbook.spec import CommunitySpec, parse_spec


def test_type_names_in_both_languages_resolve_to_one_key() -> None:
    for name, key in [
        ("成长型", "growth"),
        ("growth", "growth"),
        ("消费型社群", "consumption"),
        ("IP型", "ip"),
        ("Industry", "industry"),
        ("兴趣型", "interest"),
        ("赚钱型", "money"),
    ]:
        assert CommunitySpec(name="x", type=name).type == key


def test_defaults_come_from_the_type_and_the_rule_book() -> None:
    pb = load_playbook()
    for t in pb.taxonomies.types:
        s = CommunitySpec(name="x", type=t.key)
        assert s.threshold.kind == t.recommended_threshold
        assert s.size.policy == t.recommended_size
        assert set(s.kpis) == {k.key for k in t.kpis if k.starting_target is not None}
        assert list(s.rules.sections) == [sec.key for sec in pb.rules.sections]
    en = CommunitySpec(name="x", type="growth", locale="en")
    assert en.rules.sections["prohibitions"] == next(s.default.en for s in pb.rules.sections if s.key == "prohibitions")


def test_overrides_win_and_export_round_trips_exactly() -> None:
    s = CommunitySpec.model_validate(
        {
            "name": "夜跑团",
            "type": "interest",
            "threshold": {"kind": "invitation"},
            "size": {"capacity": 40},
            "rules": {"version": 3, "sections": {"tasks": "每周至少跑三次并打卡"}},
            "groups": [{"platform": "telegram", "id": "-1001234567890123", "name": "夜跑一群"}],
        }
    )
    assert s.threshold.kind == "invitation" and s.size.capacity == 40
    assert s.rules.sections["tasks"] == "每周至少跑三次并打卡" and len(s.rules.sections) == 7
    again = parse_spec(s.to_yaml())
    assert again == s and again.to_yaml() == s.to_yaml()


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        ("name: x\ntype: 成长型\nthreshold:\n  kind: lottery\n", "spec.yaml:4: threshold.kind: unknown threshold"),
        ("name: x\ntype: 未知型\n", "spec.yaml:2: type: unknown community type '未知型'"),
        ("name: x\ntype: growth\ntimezone: Mars/Base\n", "spec.yaml:3: timezone: unknown time zone 'Mars/Base'"),
        ("name: x\ntype: growth\ngroups:\n  - platform: telegram\n    id: ''\n", "spec.yaml:5: groups.0.id:"),
        ("name: x\ntype: growth\nsize:\n  capacity: -5\n", "spec.yaml:4: size.capacity: Input should be greater"),
        ("name: x\ntype: growth\ncolour: red\n", "spec.yaml:3: colour: Extra inputs are not permitted"),
        ("name: x\n", "type: Field required"),
        ("name: [x\n", "spec.yaml:2: not valid YAML"),
        ("- a\n- b\n", "spec.yaml: a community spec must be a YAML mapping"),
        ("name: x\ntype: growth\nrules:\n  sections:\n    gossip: hi\n", "rules.sections: unknown section(s)"),
        ("name: x\ntype: consumption\nkpis:\n  renewal_rate: 0.5\n", "kpis: ['renewal_rate'] are not KPIs"),
    ],
)
def test_bad_specs_name_file_line_and_field(body: str, expected: str) -> None:
    with pytest.raises(UserError) as info:
        parse_spec(body, source="spec.yaml")
    assert expected in str(info.value)
    assert info.value.exit_code == 2


def test_the_default_rules_announce_only_what_is_enforced() -> None:
    """The weekly task's escalation (794) is announced only with the tasks policy on; the ad rule follows moderation."""
    off = CommunitySpec.model_validate({"name": "x", "type": "growth"})
    assert "没有必做的作业" in off.rules.sections["tasks"] and "三周没完成" not in off.rules.sections["tasks"]
    on = CommunitySpec.model_validate({"name": "x", "type": "growth", "policies": {"tasks": {"enabled": True}}})
    assert "三周没完成" in on.rules.sections["tasks"]
    assert "先发100元红包" in off.rules.sections["prohibitions"]  # growth: red packet (790) by default
    money = CommunitySpec.model_validate({"name": "x", "type": "money"})
    assert "周六 14:00-18:00" in money.rules.sections["prohibitions"]  # its rhythm announces the ad window (1858)


def test_the_default_removal_rules_name_the_policies_that_remove_people() -> None:
    club = CommunitySpec.model_validate(
        {"name": "x", "type": "industry", "size": {"policy": "one_in_one_out", "capacity": 5},
         "policies": {"cleanup": {"enabled": True, "every": "month"}}}
    )  # fmt: skip
    removal = club.rules.sections["removal"]
    assert "本群人数严格控制在5人，要进一个，就得出一个" in removal  # 003:497, as capacity enforces it
    assert "30天以上没有发言" in removal and "每月一次的定期清理" in removal and "20:00点名" in removal
    plain = CommunitySpec.model_validate({"name": "x", "type": "industry"}).rules.sections["removal"]
    assert "就得出一个" not in plain and "定期清理" not in plain
