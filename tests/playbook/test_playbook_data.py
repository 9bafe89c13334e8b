"""Facts the playbook's YAML files must state (the methodology of the seeds, as data).

These tests read only the packaged YAML. Checking each quote against the seed files needs the seeds, which CI may not
have; run ``verify_sources`` by hand for that.
"""

from __future__ import annotations

import string
import unicodedata
from collections import defaultdict

import pytest

from shequn.playbook import load_playbook
from shequn.playbook.loader import Playbook
from shequn.playbook.models import SEED_FILES, parse_source

SIX_TYPES = ["consumption", "growth", "ip", "money", "interest", "industry"]
SEVEN_SECTIONS = ["hard_requirements", "prohibitions", "removal", "tasks", "red_packets", "welfare", "activities"]
BOOK = "002_f229b143e7e75e03.txt"

# template key → the placeholders it must use, in both languages
TEMPLATE_PLACEHOLDERS = {
    "welcome": {"name", "number", "group", "community"},
    "welcome.invited": {"name", "number", "group", "community", "inviter"},
    "newcomer_guide": {"group", "community"},
    "self_intro": {"name"},
    "announcement": {"nickname_format"},
    "nickname_reminder": {"nickname_format"},
}


@pytest.fixture(scope="module")
def pb() -> Playbook:
    return load_playbook()


def _fold(name: str) -> str:
    """How the loader compares names: NFKC, lower case, no spaces."""
    return "".join(unicodedata.normalize("NFKC", name).lower().split())


def _placeholders(text: str) -> set[str]:
    return {field for _, field, _, _ in string.Formatter().parse(text) if field is not None}


# --- types ---------------------------------------------------------------------------------------------------------


def test_six_types_with_exact_keys(pb: Playbook) -> None:
    assert [t.key for t in pb.taxonomies.types] == SIX_TYPES
    assert {t.key: t.name.zh for t in pb.taxonomies.types}["growth"] == "成长型"


def test_consumption_activity_is_not_judged(pb: Playbook) -> None:
    assert pb.types["consumption"].activity_judged is False
    assert pb.types["growth"].activity_judged is True
    assert pb.types["interest"].activity_judged is True


def test_core_kpis_per_type(pb: Playbook) -> None:
    kpis = {t.key: {k.key for k in t.kpis} for t in pb.taxonomies.types}
    assert kpis["consumption"] == {"coupon_to_purchase"}
    assert {"renewal_rate", "cross_sell_rate"} <= kpis["growth"]
    assert {"big_names_present", "resource_matches"} <= kpis["money"]
    assert "active_organizer" in kpis["interest"]
    size = next(k for k in pb.types["interest"].kpis if k.key == "group_size")
    assert size.higher_is_better is False
    for t in pb.taxonomies.types:
        for k in t.kpis:
            assert k.unit in {"ratio", "count", "per_week", "per_month", "days", "boolean", "money"}, k.key
            assert k.starting_target is not None, k.key
            if k.unit == "ratio":
                assert 0 < k.starting_target <= 1, k.key


def test_core_view_comes_from_the_types_own_section(pb: Playbook) -> None:
    for t in pb.taxonomies.types:
        file, first, last = parse_source(t.source)
        view_file, view_first, _ = parse_source(t.core_view.source)
        assert file == view_file == "000_429f995354a731ff.txt"
        assert first <= view_first <= last, t.key
    assert pb.types["industry"].core_view.source == "000_429f995354a731ff.txt:130"


def test_type_recommendations(pb: Playbook) -> None:
    assert pb.types["growth"].recommended_threshold in {"paid", "tiered"}
    assert pb.types["interest"].recommended_size == "small"
    modes = {"product", "membership", "ecommerce", "project", "crowdfunding", "advertising", "resource"}
    for t in pb.taxonomies.types:
        assert t.monetization, t.key
        assert set(t.monetization) <= modes, t.key


def test_every_type_name_and_alias_resolves_to_its_type(pb: Playbook) -> None:
    for t in pb.taxonomies.types:
        for name in (t.key, t.name.zh, t.name.en, *t.aliases):
            resolved = pb.resolve_type(name)
            assert resolved is not None and resolved.key == t.key, name
    assert pb.resolve_type("成长型").key == "growth"
    assert pb.resolve_type("learning").key == "growth"
    assert pb.resolve_type("福利群").key == "consumption"
    assert pb.resolve_type("IP性").key == "ip"
    assert pb.resolve_type("资源型").key == "money"
    assert pb.resolve_type("hobby").key == "interest"
    assert pb.resolve_type("行业（身份）型").key == "industry"
    assert pb.resolve_type("身份型").key == "industry"
    assert pb.resolve_type("no such type") is None


def test_no_alias_names_two_types(pb: Playbook) -> None:
    owners: dict[str, set[str]] = defaultdict(set)
    for t in pb.taxonomies.types:
        for name in (t.key, t.name.zh, t.name.en, *t.aliases):
            owners[_fold(name)].add(t.key)
    clashes = {name: keys for name, keys in owners.items() if len(keys) > 1}
    assert not clashes


def test_other_taxonomies_map_onto_the_six(pb: Playbook) -> None:
    assert [m.key for m in pb.taxonomies.d1_types] == ["consumption", "knowledge_service", "interest"]
    assert len(pb.taxonomies.d3_categories) == 6
    d3 = {m.key: m.maps_to for m in pb.taxonomies.d3_categories}
    assert d3["knowledge"] == ["growth"]
    for m in [*pb.taxonomies.d1_types, *pb.taxonomies.d3_categories]:
        assert set(m.maps_to) <= set(SIX_TYPES)


# --- rules ---------------------------------------------------------------------------------------------------------


def test_seven_rule_sections_in_the_books_order(pb: Playbook) -> None:
    sections = pb.rules.sections
    assert [s.key for s in sections] == SEVEN_SECTIONS
    names = ["硬性指标", "令行禁止", "踢人方案", "任务方案", "红包方案", "福利方案", "活动方案"]
    assert [s.name.zh for s in sections] == names
    lines = [parse_source(s.source)[1] for s in sections]
    assert lines == sorted(lines)
    for section, line in zip(sections, lines, strict=True):
        assert parse_source(section.source)[0] == BOOK
        assert 786 <= line <= 800


def test_rule_defaults_carry_the_books_content(pb: Playbook) -> None:
    by_key = {s.key: s.default.zh for s in pb.rules.sections}
    for step in ("一周", "两周", "三周", "复活"):
        assert step in by_key["tasks"]
    for kind in ("新人红包", "群主红包", "传播分享红包"):
        assert kind in by_key["red_packets"]
    assert "100元红包" in by_key["prohibitions"]
    assert "首次提醒" in by_key["removal"]
    assert "昵称" in by_key["hard_requirements"]


def test_four_rule_writing_requirements(pb: Playbook) -> None:
    assert len(pb.rules.requirements) == 4
    assert [parse_source(r.source)[1] for r in pb.rules.requirements] == [778, 780, 782, 784]


# --- sizes ---------------------------------------------------------------------------------------------------------


def test_size_policies(pb: Playbook) -> None:
    policies = {p.key: p for p in pb.sizes.policies}
    assert policies["one_in_one_out"].capacity == 69
    assert policies["one_in_one_out"].mode == "one_in_one_out"
    assert policies["soft_cap"].capacity == 150
    assert policies["soft_cap"].mode == "soft_cap"
    assert policies["hard_cap_500"].capacity == 500
    assert policies["hard_cap_500"].mode == "hard_cap"
    assert policies["small"].capacity < policies["soft_cap"].capacity


def test_size_bands(pb: Playbook) -> None:
    members = [b.members for b in pb.sizes.bands]
    assert {30, 50, 80, 150, 500} <= set(members)
    assert members == sorted(members)


def test_platform_caps(pb: Playbook) -> None:
    caps = {c.platform: c.members for c in pb.sizes.platform_caps}
    assert caps["wechat"] == 500
    assert caps["qq"] == 2000


# --- thresholds and roles ------------------------------------------------------------------------------------------


def test_threshold_kinds(pb: Playbook) -> None:
    kinds = {k.key: k for k in pb.thresholds.kinds}
    assert set(kinds) == {"none", "invitation", "tiered", "paid", "task", "tag_screening"}
    assert len(kinds) - 1 == 5
    assert kinds["paid"].params == {"fee": 0, "currency": "CNY"}
    assert kinds["tiered"].params["min_level"] == 1
    assert kinds["task"].params["proof"] == "share"
    assert kinds["tag_screening"].params["required_answers"] == []
    assert len(pb.thresholds.theories) == 3


def test_nine_core_roles_and_two_extra_kinds(pb: Playbook) -> None:
    roles = pb.roles.roles
    core = [r.key for r in roles if r.core]
    assert core == [
        "architect",
        "decision_maker",
        "storyteller",
        "greeter",
        "scout",
        "promoter",
        "ambassador",
        "accountant",
        "follower",
    ]
    extra = [r for r in roles if not r.core]
    assert [r.name.zh for r in extra] == ["从众追随者", "沉默者"]
    inferable = {r.key for r in roles if r.inferable}
    assert {"greeter", "storyteller", "scout", "silent"} <= inferable


# --- templates -----------------------------------------------------------------------------------------------------


def test_required_templates_exist(pb: Playbook) -> None:
    assert set(TEMPLATE_PLACEHOLDERS) <= set(pb.templates)


@pytest.mark.parametrize("key", sorted(TEMPLATE_PLACEHOLDERS))
def test_template_formats_with_its_placeholders(pb: Playbook, key: str) -> None:
    tpl = pb.templates[key]
    expected = TEMPLATE_PLACEHOLDERS[key]
    values = {name: f"<{name}>" for name in expected}
    for locale in ("zh-CN", "en"):
        text = pb.template(key, locale)
        assert text.strip()
        assert _placeholders(text) == expected, (key, locale)
        rendered = text.format(**values)
        assert "{" not in rendered and "}" not in rendered
        for value in values.values():
            assert value in rendered
    assert tpl.text.zh != tpl.text.en


def test_plain_welcome_works_without_an_inviter(pb: Playbook) -> None:
    values = {"name": "小王", "number": 42, "group": "运营一群", "community": "运营人"}
    for locale in ("zh-CN", "en"):
        assert "小王" in pb.template("welcome", locale).format(**values)


# --- citations -----------------------------------------------------------------------------------------------------


def test_every_citation_is_inside_its_seed_file(pb: Playbook) -> None:
    items = list(pb.citations())
    assert len(items) > 80
    for path, item in items:
        file, first, last = parse_source(item.source)
        assert 1 <= first <= last <= SEED_FILES[file], path


def test_most_citations_carry_a_short_quote(pb: Playbook) -> None:
    items = list(pb.citations())
    quoted = [item for _, item in items if item.quote]
    assert len(quoted) >= 0.8 * len(items)
    for item in quoted:
        assert 5 <= len("".join(item.quote.split())) <= 30, item.quote


def test_every_text_has_both_languages(pb: Playbook) -> None:
    for path, item in pb.citations():
        for field in ("text", "name", "definition", "description", "purpose", "default", "meaning", "note", "duties"):
            value = getattr(item, field, None)
            if value is not None and hasattr(value, "en"):
                assert value.zh.strip() and value.en.strip(), (path, field)
                assert value.zh != value.en, (path, field)


def test_each_rhythm_job_is_on_by_default_for_the_types_whose_calendar_cites_it(pb: Playbook) -> None:
    """One rhythm: a default community of a type runs the jobs its planned calendar shows (book 2365, 2210)."""
    jobs = {j.key: j for j in pb.rhythm.jobs}
    for item in pb.planner.calendar:
        if item.job is not None and not item.when:
            assert sorted(item.types) == sorted(jobs[item.job].types), item.key
